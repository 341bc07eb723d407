"""Turn text cleaning: `text_raw` keeps the words as spoken, `text` is what gets coded.

`text_raw`: Unicode NFC, line-wrap hyphens rejoined (``slow-\\nish`` -> ``slow-ish``), whitespace
collapsed, timestamps moved out of the text. Nothing else changes.

`text` goes further:

- curly quotes become straight quotes, dashes become ``-`` (inside words and number ranges) or
  `` -- `` (between words), ``…`` becomes ``...``;
- transcription annotations are removed and counted: everything in square brackets (``[laughs]``,
  ``[inaudible 00:03:12]``, ``[crosstalk]``) and parenthesised notes that start with an annotation
  word (``(unintelligible)``, ``(laughs)``); a transcriber's redaction (``[redacted]``, ``[name]``:
  `qualcode.ingest.name_rules.PLACEHOLDER_RE`) is no annotation and stays;
- disfluencies are removed and counted: the words and phrases of the configured list (``um``,
  ``uh``; drawn out too: ``ummm``, ``Mmmmm``), immediate repeats of one to three words
  (``the the``, ``it's a, it's a``, ``I -- I``), and false-start fragments (``wa-- wanted``).
  Only a repeated copy is dropped, so a content word is never lost: its other copy stays.

Every removed word is listed in `CleanedText.removed`, so that ``words(text_raw)`` minus
``removed`` is exactly ``words(text)``, in order (the property tests check this).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qualcode.ingest.name_rules import PLACEHOLDER_RE
from qualcode.ingest.readers import TIMESTAMP, parse_timestamp

# Words that a speaker may legitimately say twice in a row ("had had", "that that").
REPEAT_EXCEPTIONS = frozenset({"had", "that"})

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u200a": " ",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\u2060": "",
        "\ufeff": "",
        "\u00ad": "",
    }
)
_WRAP_HYPHEN_RE = re.compile(r"(?<=\w)-[ \t]*\r?\n[ \t]*(?=\w)")
_TIMESTAMP_RE = re.compile(
    rf"[\[(]\s*(?P<b>{TIMESTAMP})\s*[\])]|(?<![\w:.])(?P<u>\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d{{1,3}})?)(?![\w:])"
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*")
_WORD = r"\w+(?:'\w+)*"


@dataclass(frozen=True)
class CleanedText:
    """One turn's text after cleaning, with counts of what was removed."""

    text_raw: str
    text: str
    start_s: float | None
    n_annotations: int
    n_disfluencies: int
    removed: tuple[str, ...]


def words(text: str) -> list[str]:
    """The words of a text, case-folded, curly apostrophes straightened (for comparisons).

    RETURNS (list[str]): the words in order.
    """
    return [w.casefold().replace("’", "'") for w in _WORD_RE.findall(text)]


def strip_timestamps(text: str) -> tuple[str, float | None]:
    """Remove bracketed timestamps (``[00:12:03]``, ``(12:03)``) and bare ``h:mm:ss`` ones.

    RETURNS (tuple): the text without them, and the first timestamp if the text started with it.
    """
    first: float | None = None
    match = _TIMESTAMP_RE.search(text)
    if match and not text[: match.start()].strip():
        first = parse_timestamp(match["b"] or match["u"])
    return _TIMESTAMP_RE.sub(" ", text), first


def normalise_raw(text: str) -> str:
    """NFC, line-wrap hyphens rejoined, whitespace collapsed (the `text_raw` form).

    RETURNS (str): the text.
    """
    text = _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", text))
    text = _WRAP_HYPHEN_RE.sub("-", text)
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\ufeff", "")
    return re.sub(r"\s+", " ", text).strip()


def normalise(text: str) -> str:
    """NFC, straight quotes, one form of dash, no special spaces, whitespace collapsed.

    RETURNS (str): the text.
    """
    text = _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", text)).translate(_QUOTES)
    text = _WRAP_HYPHEN_RE.sub("-", text)
    text = re.sub(r"(?<=\d)\s*[\u2012\u2013]\s*(?=\d)", "-", text)  # 2019–2020
    text = re.sub(r"[\u2012\u2013\u2014\u2015\u2e3a\u2e3b]+|-{2,}", "--", text)
    # "wa-- wanted" keeps its dash on the cut-off word; any other dash stands between spaces.
    text = re.sub(r"(?<=\w)--(?=\s)", "\x00", text)
    text = re.sub(r"\s*--\s*", " -- ", text).replace("\x00", "--")
    return re.sub(r"\s+", " ", text).strip()


def annotation_re(annotation_words: Iterable[str]) -> re.Pattern[str]:
    """A transcriber's annotation: any [bracketed] note, or a (parenthesised) one that starts with
    one of the annotation words (`ingest.annotation_words` in config/params.yml).

    RETURNS (Pattern): the compiled, case-insensitive pattern.
    """
    alternatives = "|".join(
        re.escape(w).replace(r"\ ", r"\s+") for w in sorted(annotation_words, key=len, reverse=True)
    )
    paren = rf"\((?:{alternatives})\b[^()]{{0,60}}\)" if alternatives else r"(?!x)x"
    return re.compile(rf"\[[^\[\]]{{1,80}}\]|{paren}", re.I)


def _drawn_out(phrase: str) -> str:
    """A pattern for a filler said long: each letter may repeat (``um`` matches ``ummm``)."""
    return "".join(
        rf"{re.escape(c)}+" if c.isalpha() else (r"\s+" if c == " " else re.escape(c))
        for c in phrase
    )


def _phrase_re(phrases: Iterable[str], *, drawn_out: bool = False) -> re.Pattern[str] | None:
    items = sorted({p.strip() for p in phrases if p.strip()}, key=len, reverse=True)
    if not items:
        return None
    if drawn_out:
        alternatives = "|".join(_drawn_out(p) for p in items)
    else:
        alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in items)
    return re.compile(
        rf"(?P<lead>,\s*)?(?<![\w'-])(?P<word>{alternatives})(?![\w'-])(?P<trail>\s*,)?", re.I
    )


_REPEAT_RE = re.compile(
    rf"(?<![\w'-])(?P<phrase>{_WORD}(?:\s+{_WORD}){{0,2}})(?P<sep>\s*,\s*|\s*--\s*|\s+)(?=(?P=phrase)(?![\w'-]))",
    re.I,
)
_FRAGMENT_RE = re.compile(r"(?<![\w'-])(?P<frag>\w+)-{1,2}\s+(?=(?P<next>\w+))")


class _Remover:
    """Deletes spans from a text and remembers the words it deleted."""

    def __init__(self) -> None:
        self.removed: list[str] = []
        self.count = 0

    def sub(
        self,
        pattern: re.Pattern[str],
        text: str,
        keep: Callable[[re.Match[str]], bool] | None = None,
    ) -> str:
        def repl(match: re.Match[str]) -> str:
            if keep is not None and keep(match):
                return match.group(0)
            self.count += 1
            self.removed.extend(_WORD_RE.findall(match.group(0)))
            return _gap(match)

        return pattern.sub(repl, text)


def _gap(match: re.Match[str]) -> str:
    """What replaces a removed span: a space, marked when it removed a sentence's capital."""
    groups = match.groupdict()
    lead = groups.get("lead")
    keep_comma = "," if lead and not groups.get("trail") else ""  # "and, uh." -> "and,." -> "and."
    word = groups.get("word") or match.group(0)
    # the last non-space character before the match, found without copying the text before it
    # (a copy per removed span made a long single-line turn quadratic)
    text, i = match.string, match.start()
    while i > 0 and text[i - 1].isspace():
        i -= 1
    opens_sentence = i == 0 or text[i - 1] in '.!?"\x01'
    return keep_comma + (" \x01" if opens_sentence and word[:1].isupper() else " ")


def _carry_capitals(text: str) -> str:
    text = re.sub(r"\x01[\s\x01,;:\-]*([^\W\d_])", lambda m: m.group(1).upper(), text)
    return text.replace("\x01", "")


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(?<=[.!?])(?:\s+[,.;:!?]+)+(?=\s|$)", "", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(
        r",(\s*[,.;:!?])+", lambda m: m.group(0)[-1] if m.group(0)[-1] != "," else ",", text
    )
    text = re.sub(r"([.!?])\s*,", r"\1", text)
    text = re.sub(r"^[\s,;:]+", "", text)
    text = re.sub(r"(?:\s*--)+\s*$", " --", text) if text.rstrip().endswith("--") else text
    text = re.sub(r"(--\s*)+--", "--", text)
    text = re.sub(r"^\s*--\s*", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if _WORD_RE.search(text) else ""


def clean_text(
    text: str,
    *,
    disfluencies: Iterable[str],
    annotation_words: Iterable[str],
    drop_repeats: bool = True,
    drop_false_starts: bool = True,
) -> CleanedText:
    """Clean one turn's text (see the module docstring for what each step does).

    disfluencies, annotation_words: the word lists of `ingest` in config/params.yml.

    RETURNS (CleanedText): text_raw, text, the leading timestamp and what was removed.
    """
    stripped, start_s = strip_timestamps(text)
    text_raw = normalise_raw(stripped)
    cleaned = normalise(text_raw)
    annotations = _Remover()
    cleaned = annotations.sub(
        annotation_re(annotation_words),
        cleaned,
        keep=lambda match: PLACEHOLDER_RE.fullmatch(match.group(0)) is not None,
    )
    fillers = _Remover()
    pattern = _phrase_re(disfluencies, drawn_out=True)
    if pattern is not None:
        cleaned = fillers.sub(pattern, cleaned)
    cleaned = _tidy(cleaned)
    if drop_false_starts:
        cleaned = _drop_fragments(cleaned, fillers)
    if drop_repeats:
        cleaned = _drop_repeats(cleaned, fillers)
    cleaned = _tidy(_carry_capitals(cleaned))
    return CleanedText(
        text_raw=text_raw,
        text=cleaned,
        start_s=start_s,
        n_annotations=annotations.count,
        n_disfluencies=fillers.count,
        removed=tuple(annotations.removed + fillers.removed),
    )


def _drop_repeats(text: str, remover: _Remover) -> str:
    """Drop the first copy of an immediately repeated phrase of one to three words.

    RETURNS (str): the text.
    """
    for _ in range(10):  # "I I I" needs two passes
        changed = False

        def repl(match: re.Match[str]) -> str:
            nonlocal changed
            phrase = match["phrase"]
            if phrase.casefold() in REPEAT_EXCEPTIONS:
                return match.group(0)
            changed = True
            remover.count += 1
            remover.removed.extend(_WORD_RE.findall(phrase))
            return _gap(match).strip()

        text = _REPEAT_RE.sub(repl, text)
        if not changed:
            break
    return text


def _drop_fragments(text: str, remover: _Remover) -> str:
    """Drop a cut-off word before a dash when the next word completes it (``wa-- wanted``).

    The cut-off has two letters or more (``I--`` is a word, not a fragment).

    RETURNS (str): the text.
    """

    def repl(match: re.Match[str]) -> str:
        frag, following = match["frag"], match["next"]
        if (
            len(frag) >= 2
            and len(following) > len(frag)
            and following.casefold().startswith(frag.casefold())
        ):
            remover.count += 1
            remover.removed.append(frag)
            return ""
        return match.group(0)

    return _FRAGMENT_RE.sub(repl, text)
