"""Quantities stated in the interviews: hours per week, number of clients, rates and years.

A spaCy Matcher finds number expressions ("ten", "thirty-five", "a hundred and forty", "5-20",
"2 or 3", "three and a half", "10hr"); text2num turns number words into values; the words around
each number give its kind and unit:

- `hours_per_client` (h/week per client) and `hours_per_week` (h/week, all client work): "ten
  hours a week", "10 hr/week per client", "each one gets roughly ten hours";
- `clients` (clients at a time): "three clients at a time", "2 or 3 clients";
- `rate` (USD/h, EUR/h, GBP/h, or per day): "$140/hour", "a hundred and forty dollars an hour",
  "a hundred and thirty an hour";
- `years` (years): "six years", "three and a half years" (column `about` says "freelancing" when
  the sentence is about freelancing).

A range ("5-20 hr/week", "two or three clients") gives one row: value is the midpoint, low and
high the ends. The analysis computes its summaries ("about 10 h/week per client") from these rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from spacy.attrs import LIKE_NUM, LOWER, SHAPE
from spacy.matcher import Matcher
from spacy.strings import get_string_id
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans
from spacy.vocab import Vocab
from text_to_num import text2num

KINDS = ("hours_per_client", "hours_per_week", "clients", "rate", "years")
UNITS = {
    "hours_per_client": "h/week per client",
    "hours_per_week": "h/week",
    "clients": "clients",
    "years": "years",
}
HOUR_WORDS = {"hour", "hours", "hr", "hrs", "h"}
CLIENT_WORDS = {"client", "clients", "customer", "customers"}
YEAR_WORDS = {"year", "years", "yrs"}
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
CURRENCY_WORDS = {
    "dollar": "USD",
    "dollars": "USD",
    "buck": "USD",
    "bucks": "USD",
    "usd": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "eur": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "gbp": "GBP",
}
RANGE_LINKS = {"to", "or", "-", "–", "—", ","}
PER_CLIENT_AFTER = (
    ("each",),
    ("per", "client"),
    ("a", "client"),
    ("per", "project"),
    ("per", "contract"),
    ("per", "customer"),
    ("for", "each"),
    ("apiece",),
)
PER_CLIENT_BEFORE = (
    ("each", "one"),
    ("each", "client"),
    ("every", "client"),
    ("per", "client"),
    ("each", "of", "them"),
    ("each", "contract"),
    ("each", "project"),
    ("each", "gets"),
)
FREELANCE_WORDS = {"freelance", "freelancing", "freelancer", "upwork", "independent", "consulting"}
_DIGITS = re.compile(r"^\d+(?:[.,]\d+)*$")
_DIGIT_RANGE = re.compile(r"^(\d+(?:\.\d+)?)[–—-](\d+(?:\.\d+)?)$")
_DIGIT_UNIT = re.compile(r"^(\d+(?:\.\d+)?)(h|hr|hrs|k)$", re.IGNORECASE)
_SKIP_BETWEEN = {"-", "ish", "or", "so", "of", "extra", "more", "billable", "actual", "real"}


@dataclass(frozen=True)
class Quantity:
    """One stated quantity, with character offsets into the doc's text."""

    kind: str
    value: float
    low: float
    high: float
    unit: str
    text: str
    start_char: int
    end_char: int
    about: str | None = None


_BIG_NUMBER_WORDS = frozenset({"hundred", "thousand"})


@lru_cache(maxsize=8)
def _number_matcher(vocab: Vocab, *, digits: bool) -> Matcher:
    """RETURNS (Matcher): the number patterns of words and numerals, or (digits) those of
    digits with a range or a unit in one token ("10-15", "10hr"), which only a doc with a digit
    can match."""
    matcher = Matcher(vocab, validate=True)
    if digits:
        matcher.add(
            "NUMBER",
            [
                [{"TEXT": {"REGEX": _DIGIT_RANGE.pattern}}],
                [{"TEXT": {"REGEX": _DIGIT_UNIT.pattern}}],
            ],
        )
        return matcher
    num = {"LIKE_NUM": True}
    matcher.add(
        "NUMBER",
        [
            [num, {"LIKE_NUM": True, "OP": "*"}],
            [num, {"ORTH": "-"}, num],
            [{"LOWER": {"IN": ["a", "one"]}}, {"LOWER": {"IN": ["hundred", "thousand"]}}],
            [
                {"LOWER": {"IN": ["a", "one"]}, "OP": "?"},
                {"LOWER": {"IN": ["hundred", "thousand"]}},
                {"LOWER": "and"},
                num,
                {"ORTH": "-", "OP": "?"},
                {"LIKE_NUM": True, "OP": "?"},
            ],
            [
                num,
                {"LIKE_NUM": True, "OP": "*"},
                {"LOWER": "and"},
                {"LOWER": "a"},
                {"LOWER": "half"},
            ],
        ],
    )
    return matcher


def _parse_number(tokens: list[Token]) -> float | None:
    """RETURNS (float | None): the value of a number expression, or None if it is not one."""
    words = [t.lower_ for t in tokens]
    half = 0.0
    if words[-3:] == ["and", "a", "half"]:
        half, words = 0.5, words[:-3]
    if len(words) == 1:
        word = words[0].replace(",", "")
        if _DIGITS.match(words[0]):
            try:
                return float(word) + half
            except ValueError:
                return None
        match = _DIGIT_UNIT.match(words[0])
        if match:
            scale = 1000.0 if match.group(2).lower() == "k" else 1.0
            return float(match.group(1)) * scale + half
    if words and words[0] == "a":
        words[0] = "one"
    text = " ".join(w for w in words if w != "-")
    if all(_DIGITS.match(w) for w in text.split()) and len(text.split()) > 1:
        return None  # "2 3": two numbers, not one
    try:
        return float(text2num(text, "en")) + half
    except ValueError:
        return None


_BIG_NUMBER_HASHES = frozenset(get_string_id(w) for w in _BIG_NUMBER_WORDS)
# Every quantity has a unit word after its number, or one of these to make it a rate ("an hour",
# "a day"), or digits with a glued unit ("10hr"): a doc without them has no quantity.
_UNIT_HASHES = frozenset(
    get_string_id(w)
    for w in HOUR_WORDS | CLIENT_WORDS | YEAR_WORDS | {"hourly", "/hr", "/hour", "day"}
)
# shape (hash) -> whether it holds a digit ("d")
_DIGIT_SHAPES: dict[int, bool] = {}


def _has_digit(doc: Doc | Span, shapes: set[int]) -> bool:
    """RETURNS (bool): whether one of these token shapes holds a digit."""
    for shape in shapes:
        found = _DIGIT_SHAPES.get(shape)
        if found is None:
            found = _DIGIT_SHAPES[shape] = "d" in doc.vocab.strings[shape]
        if found:
            return True
    return False


@dataclass(frozen=True)
class _Signs:
    """What a doc's words say of the numbers and quantities it may hold.

    number: a token holds a digit, is like a number, or is "hundred" or "thousand" (every
        number pattern needs one); digit: a token holds a digit (the digit patterns need one);
    unit: a token is a word a quantity needs (`_UNIT_HASHES`).
    """

    number: bool
    digit: bool
    unit: bool


def _signs(doc: Doc | Span) -> _Signs:
    """RETURNS (_Signs): the doc's signs of numbers, read from its tokens' attributes at once."""
    if not len(doc):
        return _Signs(False, False, False)
    values = doc.to_array([LIKE_NUM, LOWER, SHAPE])
    lowers = values[:, 1].tolist()
    digit = _has_digit(doc, set(values[:, 2].tolist()))
    number = digit or bool(values[:, 0].any()) or not _BIG_NUMBER_HASHES.isdisjoint(lowers)
    return _Signs(number, digit, not _UNIT_HASHES.isdisjoint(lowers))


@dataclass
class _Number:
    start: int
    end: int
    low: float
    high: float
    unit_hint: str | None = None  # "h" or "k" glued to digits ("10hr")


def find_numbers(doc: Doc | Span, signs: _Signs | None = None) -> list[_Number]:
    """Number expressions and ranges in a doc or span, in order.

    RETURNS (list): start and end token index (relative to the doc), low and high value.
    """
    doc_obj = doc.doc if isinstance(doc, Span) else doc
    offset = doc.start if isinstance(doc, Span) else 0
    # Every number pattern needs a digit, a number-like word, or "hundred"/"thousand": most
    # sentences have none, and are spared the matcher.
    signs = signs if signs is not None else _signs(doc)
    if not signs.number:
        return []
    matches = _number_matcher(doc_obj.vocab, digits=False)(doc)
    if signs.digit:
        matches += _number_matcher(doc_obj.vocab, digits=True)(doc)
    spans = filter_spans([Span(doc_obj, s + offset, e + offset) for _, s, e in matches])
    numbers: list[_Number] = []
    for span in spans:
        tokens = list(span)
        hint = None
        if len(tokens) == 1 and (m := _DIGIT_RANGE.match(tokens[0].text)):
            low, high = float(m.group(1)), float(m.group(2))
        elif (
            len(tokens) == 3
            and tokens[1].text == "-"
            and all(_DIGITS.match(t.text) for t in (tokens[0], tokens[2]))
        ):
            low, high = float(tokens[0].text), float(tokens[2].text)
        else:
            if len(tokens) == 1 and (m := _DIGIT_UNIT.match(tokens[0].text)):
                hint = "k" if m.group(2).lower() == "k" else "h"
            value = _parse_number(tokens)
            if value is None:
                continue
            low = high = value
        numbers.append(_Number(span.start, span.end, low, high, hint))
    # "two or three", "10 to 15", "ten, fifteen": one range
    merged: list[_Number] = []
    for number in numbers:
        if merged:
            prev = merged[-1]
            gap = doc_obj[prev.end : number.start]
            if (
                len(gap) == 1
                and gap[0].lower_ in RANGE_LINKS
                and prev.unit_hint is None
                and prev.low == prev.high
                and number.low > prev.high
                and (prev.high <= 0 or number.low <= 5 * prev.high)
            ):
                merged[-1] = _Number(
                    prev.start, number.end, prev.low, number.high, number.unit_hint
                )
                continue
        merged.append(number)
    return merged


# Words the English pipeline's attribute ruler makes adverbs from the parse ("but" labelled
# `advmod`); its other rules that read the parse make no adjective or adverb, and the parser
# labels as auxiliaries (which become AUX) only verbs and "to".
PARSE_ADVERBS = frozenset({"but"})


def reads_parse(doc: Doc | Span) -> bool:
    """Whether the quantities of a doc could depend on its dependency parse: `_classify` skips
    adjectives and adverbs after a number, and one of `PARSE_ADVERBS` comes after a number.

    RETURNS (bool): True when the doc needs the parse for its quantities.
    """
    if not any(t.lower_ in PARSE_ADVERBS for t in doc):
        return False
    numbers = find_numbers(doc)
    if not numbers:
        return False
    end = doc.end if isinstance(doc, Span) else len(doc)
    doc_obj = doc.doc if isinstance(doc, Span) else doc
    return any(t.lower_ in PARSE_ADVERBS for t in doc_obj[numbers[0].end : end])


def _next_words(doc: Doc, start: int, end: int, n: int) -> list[Token]:
    return list(doc[start : min(end, start + n)])


def _follows(tokens: list[Token], seqs: tuple[tuple[str, ...], ...]) -> bool:
    words = [t.lower_ for t in tokens]
    return any(words[i : i + len(seq)] == list(seq) for seq in seqs for i in range(len(words)))


def extract_quantities(doc: Doc | Span) -> list[Quantity]:
    """Find hours per week, client counts, rates and years in a doc or a span (a sentence).

    RETURNS (list[Quantity]): the quantities, with offsets relative to the doc or span's text.
    """
    doc_obj = doc.doc if isinstance(doc, Span) else doc
    lo = doc.start if isinstance(doc, Span) else 0
    hi = doc.end if isinstance(doc, Span) else len(doc)
    base = doc.start_char if isinstance(doc, Span) else 0
    # a doc without a unit word or a digit has no quantity, whatever its numbers
    signs = _signs(doc)
    numbers = find_numbers(doc, signs) if signs.unit or signs.digit else []
    if not numbers:
        return []
    words = {t.lower_ for t in doc}
    out: list[Quantity] = []
    for number in numbers:
        result = _classify(doc_obj, number, lo=lo, hi=hi, sentence_words=words)
        if result is None:
            continue
        kind, unit, end = result
        start = number.start
        if kind == "rate" and start > lo and doc_obj[start - 1].text in CURRENCY_SYMBOLS:
            start -= 1
        span = doc_obj[start:end]
        about = None
        if kind == "years" and words & FREELANCE_WORDS:
            about = "freelancing"
        out.append(
            Quantity(
                kind=kind,
                value=(number.low + number.high) / 2,
                low=number.low,
                high=number.high,
                unit=unit,
                text=span.text,
                start_char=span.start_char - base,
                end_char=span.end_char - base,
                about=about,
            )
        )
    return out


def _classify(
    doc: Doc, number: _Number, *, lo: int, hi: int, sentence_words: set[str]
) -> tuple[str, str, int] | None:
    """RETURNS (tuple | None): kind, unit and the end token of the quantity, or None."""
    i = number.end
    # skip "-ish", "or so", "billable", adjectives between the number and its unit
    while (
        i < hi
        and i < number.end + 3
        and (doc[i].lower_ in _SKIP_BETWEEN or doc[i].pos_ in ("ADJ", "ADV"))
    ):
        if doc[i].lower_ in HOUR_WORDS | CLIENT_WORDS | YEAR_WORDS:
            break
        i += 1
    unit_token = doc[i] if i < hi else None
    word = unit_token.lower_ if unit_token is not None else ""
    before = doc[number.start - 1] if number.start > lo else None
    currency = None
    if before is not None and before.text in CURRENCY_SYMBOLS:
        currency = CURRENCY_SYMBOLS[before.text]
    if word in CURRENCY_WORDS:
        currency = CURRENCY_WORDS[word]
        i += 1
    after = _next_words(doc, i, hi, 3)
    after_words = [t.lower_ for t in after]
    per_hour = after_words[:2] in (["an", "hour"], ["per", "hour"], ["a", "hour"], ["/", "hour"])
    per_hour = per_hour or after_words[:2] in (["/", "hr"], ["/", "h"], ["per", "hr"])
    per_hour = per_hour or after_words[:1] in (["hourly"], ["/hr"], ["/hour"])
    per_day = after_words[:2] in (["a", "day"], ["per", "day"], ["/", "day"])
    # rates: "$140/hour", "forty dollars an hour", "a hundred and thirty an hour"
    if (currency or word in ("an", "per", "/")) and (per_hour or per_day):
        if currency is None and number.low < 10:
            return None
        cur = currency or "USD"
        end = i + (1 if after_words[:1] in (["hourly"], ["/hr"], ["/hour"]) else 2)
        return "rate", f"{cur}/{'h' if per_hour else 'day'}", end
    if currency is None and word in ("an", "per") and not per_hour and not per_day:
        return None
    # hours: "ten hours a week", "10 hr/week", "10hr", "ten hours each"
    if number.unit_hint == "h" or word in HOUR_WORDS:
        end = number.end if number.unit_hint == "h" else i + 1
        window = _next_words(doc, end, hi, 4)
        window_words = [t.lower_ for t in window]
        per_week = any(w in ("week", "weekly", "wk", "/week", "/wk") for w in window_words)
        per_other = any(w in ("day", "month", "year", "daily", "monthly") for w in window_words[:3])
        if per_other and not per_week:
            return None
        if not per_week and "week" not in sentence_words:
            return None
        if per_week:
            last = max(
                j
                for j, w in enumerate(window_words)
                if w in ("week", "weekly", "wk", "/week", "/wk")
            )
            end = end + last + 1
        before_words = doc[max(lo, number.start - 6) : number.start]
        per_client = _follows(window, PER_CLIENT_AFTER) or _follows(
            list(before_words), PER_CLIENT_BEFORE
        )
        kind = "hours_per_client" if per_client else "hours_per_week"
        return kind, UNITS[kind], end
    # clients: "three clients at a time", "2 or 3 clients"
    if word in CLIENT_WORDS:
        if number.high > 50 or number.low < 1:
            return None
        return "clients", UNITS["clients"], i + 1
    # years: "six years", "three and a half years"
    if word in YEAR_WORDS:
        nxt = doc[i + 1].lower_ if i + 1 < hi else ""
        if nxt == "old" or number.high > 60:
            return None
        return "years", UNITS["years"], i + 1
    return None
