"""De-identification: stable pseudonyms for names, organisations, places, emails, phones and URLs.

The re-identification key (`PseudonymKey`, a CSV under data/keys/, git-ignored) is the source of
truth: a name that is already in it keeps its pseudonym on every run; a new name gets the next free
number of its type (``PERSON_4``). In the text a pseudonym is written in brackets: ``[PERSON_4]``.

`Pseudonymiser.replace` substitutes every name in the key at once:

- longest names first (``Daniel Okafor`` before ``Daniel``), possessives included
  (``Daniel's`` -> ``[PERSON_1]'s``);
- names of several words, emails, phones and URLs match case-insensitively; a single-word name
  (a first or last name taken from a full name) matches when written with a capital
  (``Bell`` and ``BELL``, not ``bell``), so common words that are also surnames survive;
- emails, URLs and phone numbers are found by pattern and added to the key as they are met.

A single-word name that `is_rare` calls rare in English (``Corvane``) matches in every case
(``corvane``), as every name of several words does; a common one (``Rose``, ``Frank``) matches with
its capital only, and where a sentence starts only when spaCy tagged it as a name in that text
(`replace(confirmed=...)`): ``Grace`` in ``Grace under pressure`` stays.

Words in `keep` (the study's allow list: public platforms and tools such as ``Upwork`` or
``Python``) are never replaced. Names added with ``any_case=True`` (the study's deny list) are
replaced in every case (``acme``, ``ACME's``). Only the names added in this run are replaced
(`activate_key` adds the key's other names), so a word that an earlier run took for a name and
this run does not is left alone, while keeping its number in the key.

Which spaCy entities are names at all is decided in `qualcode.ingest.name_rules`.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qualcode.errors import QualcodeInputError
from qualcode.ingest.name_rules import is_placeholder
from qualcode.schema import PRIVATE_FILE_MODE, write_text

ENTITY_TYPES = ("PERSON", "ORG", "GPE", "EMAIL", "PHONE", "URL")
KEY_COLUMNS = ["pseudonym", "entity_type", "original", "source"]
KEY_FILE = "pseudonym_key.csv"
# What comes before a word that opens a sentence (or a turn).
SENTENCE_START_RE = re.compile(r"(?:^|[.!?…]\s+|[.!?…][\"'”’)]\s+|^[\"'“‘(]|\s[\"'“‘(])\s*$")
PSEUDONYM_RE = re.compile(r"\[(?:PERSON|ORG|GPE|EMAIL|PHONE|URL)_\d+\]")

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
# An address spoken or typed to dodge scrapers: "ruth dot kowalczyk at gmail dot com",
# "ruth [at] example [dot] org".
_DOT = r"\s*(?:\bdot\b|\[dot\]|\(dot\))\s*"
_AT = r"\s*(?:\bat\b|\[at\]|\(at\))\s*"
SPELLED_EMAIL_RE = re.compile(
    rf"(?<![\w.])[\w+-]+(?:{_DOT}[\w+-]+)*{_AT}(?!(?:the|a|an|this|that|my|your|our)\b)"
    rf"[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[A-Za-z]{{2,6}}\b",
    re.I,
)
# A social-media handle ("@ruthkowalczyk"): an address of a person, replaced as a URL is.
HANDLE_RE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])(?![\w@])")
URL_RE = re.compile(
    r"(?<![\w@])(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]"
    r"|(?<![\w@/.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|ai|co|dev|app|me|info|biz|"
    r"uk|eu|de|nl|be|fr|it|es|se|ie|ch|at|ca|au|nz|us|news|scot|eus|fm|tv)"
    r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?(?![\w@-])",
    re.I,
)
PHONE_RE = re.compile(
    r"(?<![\w+\-./:])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{1,5}(?:[\s.-]\d{2,5}){1,4}(?![\w\-/:]|\.\d)"
)


def _fold(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"\s+", " ", text).strip().casefold()
    text = re.sub(r"'s?$", "", text)
    return re.sub(r"^the ", "", text)


def looks_like_phone(text: str) -> bool:
    """A phone number: 7 to 15 digits with separators, not years or a list of numbers.

    RETURNS (bool): whether it looks like a phone number.
    """
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        return False
    groups = re.findall(r"\d+", text)
    if all(len(g) == 4 and g[:2] in {"19", "20"} for g in groups):
        return False  # 2019-2020
    if "+" in text or "(" in text:
        return True
    if not re.search(
        r"[.-]", text
    ):  # groups split by spaces only: "555 014 7789", not "10 100 1000"
        return len(digits) >= 10 and len(groups[0]) >= 3
    return True


@dataclass
class PseudonymKey:
    """Original text -> pseudonym assignments (the re-identification key)."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_fold: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()
        for row in self.rows:
            self._index(row)

    def _index(self, row: dict[str, str]) -> None:
        kind = _kind(row["entity_type"])
        self._by_fold.setdefault((kind, _fold(row["original"])), row["pseudonym"])
        prefix, _, number = row["pseudonym"].rpartition("_")
        if number.isdigit():
            self._next[prefix] = max(self._next[prefix], int(number))

    def get(self, original: str, entity_type: str) -> str | None:
        """RETURNS (str | None): the pseudonym of `original`, if it has one."""
        return self._by_fold.get((_kind(entity_type), _fold(original)))

    def assign(
        self, original: str, entity_type: str, *, source: str = "", pseudonym: str | None = None
    ) -> str:
        """The pseudonym of `original`; a new one (next number) if it has none yet.

        pseudonym: make `original` an alias of this existing pseudonym instead.
        RETURNS (str): the pseudonym, such as ``PERSON_3``.
        """
        found = self.get(original, entity_type)
        if found is not None:
            return found
        if pseudonym is None:
            self._next[entity_type] += 1
            pseudonym = f"{entity_type}_{self._next[entity_type]}"
        row = {
            "pseudonym": pseudonym,
            "entity_type": entity_type,
            "original": original.strip(),
            "source": source,
        }
        self.rows.append(row)
        self._index(row)
        return pseudonym

    def is_part_of_another(self, word: str, entity_type: str, pseudonym: str) -> bool:
        """RETURNS (bool): whether `word` stands, as an alias, for another pseudonym's longer
        name (the surname of someone else)."""
        other = self.get(word, entity_type)
        if other is None or other == pseudonym:
            return False
        return any(
            p == other and " " in o.strip() and _fold(word) != _fold(o)
            for o, _t, p in self.originals()
        )

    def reassign(self, original: str, entity_type: str, *, source: str = "") -> str:
        """Give `original` a pseudonym of its own, in place of the alias it had.

        RETURNS (str): the new pseudonym.
        """
        folded = (_kind(entity_type), _fold(original))
        self.rows = [
            r for r in self.rows if (_kind(r["entity_type"]), _fold(r["original"])) != folded
        ]
        self._by_fold.pop(folded, None)
        return self.assign(original, entity_type, source=source)

    def originals(self) -> list[tuple[str, str, str]]:
        """RETURNS (list): (original, entity_type, pseudonym) for every row."""
        return [(r["original"], r["entity_type"], r["pseudonym"]) for r in self.rows]

    @classmethod
    def load(cls, path: Path) -> PseudonymKey:
        """Read the key (an absent file is an empty key).

        RETURNS (PseudonymKey): the key.
        """
        if not path.exists():
            return cls()
        text = path.read_text(encoding="utf-8")
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or [f for f in KEY_COLUMNS if f not in reader.fieldnames]:
            raise QualcodeInputError(
                f"expected the columns {', '.join(KEY_COLUMNS)}", path=path, line=1
            )
        rows = []
        for i, row in enumerate(reader, start=2):
            if (
                not row.get("pseudonym")
                or not row.get("original")
                or row.get("entity_type") not in ENTITY_TYPES
            ):
                raise QualcodeInputError(
                    "expected a pseudonym, an original and an entity_type in "
                    + ", ".join(ENTITY_TYPES),
                    path=path,
                    line=i,
                )
            rows.append({k: row.get(k) or "" for k in KEY_COLUMNS})
        return cls(rows)

    def save(self, path: Path) -> Path:
        """Write the key as CSV, atomically. RETURNS (Path): the path written."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=KEY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return write_text(path, buffer.getvalue(), mode=PRIVATE_FILE_MODE)


def _names_pattern(names: list[str]) -> re.Pattern[str]:
    """One case-insensitive pattern for names (longest first), possessives allowed after them."""
    alternatives = (
        "|".join(re.escape(n).replace(r"\ ", r"\s+").replace("'", "['’]") for n in names)
        or r"(?!x)x"
    )
    return re.compile(rf"(?<![\w@\[])(?:{alternatives})(?=['’]s\b|['’](?!\w)|(?![\w@]))", re.I)


def _kind(entity_type: str) -> str:
    """Names of people, organisations and places share one namespace (a name is one thing)."""
    return "NAME" if entity_type in {"PERSON", "ORG", "GPE"} else entity_type


@dataclass(frozen=True)
class Replacement:
    """A text after pseudonymisation, and where each substitution happened."""

    text: str
    spans: list[
        tuple[int, int, int, int, str, str]
    ]  # old start, old end, new start, new end, type, pseudonym

    def map_offset(self, offset: int, *, end: bool = False) -> int:
        """Map a character offset of the original text to the pseudonymised text.

        An offset inside a replaced name moves to the end (``end=True``) or start of its pseudonym.
        RETURNS (int): the offset in `text`.
        """
        shift = 0
        for old_start, old_end, new_start, new_end, _type, _pseudonym in self.spans:
            if offset <= old_start:
                break
            if offset >= old_end:
                shift = new_end - old_end
                continue
            return new_end if end else new_start
        return offset + shift


class Pseudonymiser:
    """Replaces the names of a key (and emails, phones, URLs found on the way) by pseudonyms."""

    def __init__(
        self,
        key: PseudonymKey,
        *,
        keep: Iterable[str] = (),
        common_words: Iterable[str] = (),
        is_rare: Callable[[str], bool] | None = None,
    ) -> None:
        self.key = key
        self.is_rare = is_rare
        self.keep = {_fold(k) for k in keep}
        self.common_words = {w.casefold() for w in common_words}
        self._pattern: re.Pattern[str] | None = None
        self._any_pattern: re.Pattern[str] | None = None
        self._single: set[str] = set()
        self._active: set[str] = set()  # folded names added in this run
        self._any_case: set[str] = set()  # folded names replaced in any case (deny list)
        # pseudonym -> how its names were found ("participants", "speaker label", "deny list",
        # "spaCy PERSON", "pattern"), for the de-identification report
        self.found_by: dict[str, set[str]] = {}

    def activate_key(self, accept: Callable[[str, str], bool] | None = None) -> None:
        """Replace the names already in the key too (those `accept(original, entity_type)` takes).

        For a run over part of the corpus (one transcript added), so that names found in the
        other transcripts are replaced in it as well.
        """
        for original, entity_type, pseudonym in self.key.originals():
            if _kind(entity_type) != "NAME" or _fold(original) in self.keep:
                continue
            if accept is None or accept(original, entity_type):
                self._active.add(_fold(original))
                self.found_by.setdefault(pseudonym, set()).add("key")
        self._pattern = self._any_pattern = None

    def add_name(
        self,
        name: str,
        entity_type: str,
        *,
        source: str = "",
        parts: bool = False,
        common_parts: bool = False,
        any_case: bool = False,
        how: str = "",
        is_alias: Callable[[str], bool] | None = None,
    ) -> str | None:
        """Add a name to the key and replace it from now on; with `parts`, the first and last word
        of a person's name and the first of an organisation's too, as aliases.

        A part that is a common word (`common_words`: ``Solar`` of ``Sunward Solar``; or one
        `is_alias` refuses) is no alias, unless `common_parts` (for names known to be people's:
        participants, speaker labels).
        any_case: replace it in lower case too (the deny list).
        how: how the name was found, for the report.

        RETURNS (str | None): the pseudonym, or None when the name is kept or not a name.
        """
        name = re.sub(r"\s+", " ", name).strip().strip(".,;:!?\"'()[]")
        name = re.sub(r"['’]s$", "", name)
        name = re.sub(r"^(?:the|The|THE) ", "", name)
        if (
            len(name) < 2
            or _fold(name) in self.keep
            or not re.search(r"[^\W\d_]", name)
            or PSEUDONYM_RE.search(f"[{name}]")
            or "@" in name
            or is_placeholder(name)
        ):
            return None
        n_active = len(self._active), len(self._any_case)
        pseudonym = self.key.assign(name, entity_type, source=source)
        self._active.add(_fold(name))
        if any_case:
            self._any_case.add(_fold(name))
        if how:
            self.found_by.setdefault(pseudonym, set()).add(how)
        if parts and entity_type in {"PERSON", "ORG"}:
            tokens = name.split(" ")
            words = [w for w in tokens if len(w.strip(".")) >= 3 and w[:1].isupper()]
            if entity_type == "PERSON":
                ends = [words[0], words[-1]] if len(words) >= 2 else []
            else:  # an organisation: its first word, if a name's ("Fernhill" Software)
                ends = tokens[:1] if len(tokens) >= 2 and words[:1] == tokens[:1] else []
            for word in dict.fromkeys(ends):
                eligible = _fold(word) not in self.keep and (
                    common_parts
                    or (
                        word.casefold() not in self.common_words
                        and (is_alias is None or is_alias(word))
                    )
                )
                existing = self.key.get(word, entity_type)
                if not eligible:
                    continue
                if existing in (None, pseudonym):
                    self.key.assign(word, entity_type, source=source, pseudonym=pseudonym)
                elif entity_type != "PERSON":
                    continue
                elif self.key.is_part_of_another(word, entity_type, pseudonym):
                    # a surname two people share stands for neither of them on its own
                    self.key.reassign(word, entity_type, source=source)
                self._active.add(_fold(word))
        if (len(self._active), len(self._any_case)) != n_active:
            self._pattern = self._any_pattern = None  # recompile with the new names
        return pseudonym

    def _names(self) -> list[str]:
        """The originals replaced in this run, longest first."""
        return sorted(
            {
                o
                for o, t, _p in self.key.originals()
                if _kind(t) == "NAME" and _fold(o) in self._active and _fold(o) not in self.keep
            },
            key=lambda s: (-len(s), s),
        )

    def _compile(self) -> re.Pattern[str]:
        if self._pattern is None:
            names = self._names()
            self._single = {_fold(n) for n in names if " " not in n.strip()}
            self._pattern = _names_pattern(names)
        return self._pattern

    def leftovers(self, text: str) -> Counter[str]:
        """Names of this run still in a pseudonymised text, in any case (``bell`` when ``Bell``
        was replaced): a sign that a name was replaced only sometimes, or is a common word.

        RETURNS (Counter[str]): pseudonym -> how often one of its names is left.
        """
        if self._any_pattern is None:
            self._any_pattern = _names_pattern(self._names())
        left: Counter[str] = Counter()
        for match in self._any_pattern.finditer(text):
            hit = self.key.get(match.group(0), "PERSON")
            if hit is not None:
                left[hit] += 1
        return left

    def replace(self, text: str, *, source: str = "", confirmed: Iterable[str] = ()) -> Replacement:
        """Pseudonymise one text: emails, URLs and phones first, then every name of the key.

        confirmed: words spaCy tagged as part of a name in this text (a common single-word name
            opening a sentence is replaced only when confirmed).
        RETURNS (Replacement): the new text and the substitutions made.
        """
        confirmed = {w.casefold() for w in confirmed}
        found: list[tuple[int, int, str, str]] = []
        taken: list[tuple[int, int]] = []

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e in taken)

        for entity_type, pattern in (
            ("EMAIL", EMAIL_RE),
            ("EMAIL", SPELLED_EMAIL_RE),
            ("URL", URL_RE),
            ("URL", HANDLE_RE),
            ("PHONE", PHONE_RE),
        ):
            for match in pattern.finditer(text):
                if not free(match.start(), match.end()):
                    continue
                if entity_type == "PHONE" and not looks_like_phone(match.group(0)):
                    continue
                if entity_type == "URL" and _fold(match.group(0)) in self.keep:
                    continue
                pseudonym = self.key.assign(match.group(0), entity_type, source=source)
                self.found_by.setdefault(pseudonym, set()).add("pattern")
                found.append((match.start(), match.end(), entity_type, pseudonym))
                taken.append((match.start(), match.end()))
        pattern = self._compile()
        for match in pattern.finditer(text):
            value = match.group(0)
            if not free(match.start(), match.end()):
                continue
            folded = _fold(value)
            if folded in self._single and folded not in self._any_case:
                rare = self.is_rare is not None and self.is_rare(re.sub(r"['’]s?$", "", value))
                if not rare and not value[:1].isupper():
                    continue
                if (
                    not rare
                    and self.is_rare is not None
                    and SENTENCE_START_RE.search(text[: match.start()])
                    and folded not in confirmed
                ):
                    continue
            hit = self.key.get(
                value, "PERSON"
            )  # people, organisations and places share one namespace
            if hit is None:
                continue
            found.append((match.start(), match.end(), hit.rpartition("_")[0], hit))
            taken.append((match.start(), match.end()))
        found.sort()
        pieces, spans, cursor, length = [], [], 0, 0
        for start, end, entity_type, pseudonym in found:
            pieces.append(text[cursor:start])
            length += start - cursor
            token = f"[{pseudonym}]"
            spans.append((start, end, length, length + len(token), entity_type, pseudonym))
            pieces.append(token)
            length += len(token)
            cursor = end
        pieces.append(text[cursor:])
        return Replacement("".join(pieces), spans)
