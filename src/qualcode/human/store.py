"""People's coding as rows of human_codings.parquet: coder names, codes resolved against the
codebook, coded pieces of turns turned into rows (the overlap rule), and the writer of the table.

The overlap rule (sentence unit)
--------------------------------
A piece of a selection codes a sentence when it covers at least `MIN_WORDS` (3) whole words of that
sentence, or every word of a shorter sentence. A selection that meets this nowhere (a highlighted
pair of words) codes the one sentence it overlaps most. So a selection that spills a word or two
into the next sentence does not code it, and a short highlight still codes its sentence.
human_codings.parquet holds one row per (selection, coded sentence, code): start_char and end_char
are the part of the selection inside that sentence (offsets into turns.text), `selection_id` ties
the rows of one selection together. A turn counts as coded when one of its sentences is.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qualcode import schema
from qualcode.coding.codebook import Codebook, load_codebook
from qualcode.human.align import _QUOTE_CHARS, _WORD_RE, Corpus

logger = logging.getLogger(__name__)


HUMAN_PREFIX = "human:"


MACHINE_CODERS = ("rules", "model")


# One coded span of a turn, as read from a coding file, before it becomes human_codings rows.
PIECE_COLUMNS = ["transcript_id", "turn_id", "start_char", "end_char", "code_id", "coder",
                 *schema.HUMAN_EXTRA_COLUMNS]  # fmt: skip


MIN_WORDS = 3


def coder_name(name: str) -> str:
    """Turn a person's name into a coder name: `human:<name>`, unless it already is a coder name.

    RETURNS (str): `rules`, `model`, or `human:<name>`.
    """
    name = " ".join(str(name).split())
    if not name:
        raise ValueError("a coder needs a name")
    if name in MACHINE_CODERS or name.startswith(HUMAN_PREFIX):
        return name
    return HUMAN_PREFIX + name


def code_slug(name: str) -> str:
    """The id a code unknown to the codebook gets: its name in UPPER_SNAKE ASCII.

    RETURNS (str): e.g. "Pricing & rates" -> "PRICING_RATES".
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^0-9A-Za-z]+", "_", ascii_name).strip("_").upper()
    if not slug:
        return "CODE"
    if slug[0].isdigit():
        slug = "CODE_" + slug
    return slug


def _name_key(text: str) -> str:
    return " ".join(str(text).translate(_QUOTE_CHARS).casefold().split())


class CodeResolver:
    """Finds our code id for a code named by id or by label (case and spacing do not matter).

    A label that several codes share is told apart by the names of the parents it comes with.
    Codes not in the codebook get the slug of their name (`code_slug`) and are listed in
    `unknown` (id -> the name as given), with what the source says of them in `described`
    (id -> (description, parent id or None)).
    """

    def __init__(self, codebook: Codebook | None) -> None:
        self.codebook = codebook
        self.unknown: dict[str, str] = {}
        self.described: dict[str, tuple[str, str | None]] = {}
        self._ids: dict[str, str] = {}
        self._labels: dict[str, list[str]] = {}
        if codebook is None:
            return
        for code in codebook:
            self._ids.setdefault(code.id.casefold(), code.id)
            self._labels.setdefault(_name_key(code.label), []).append(code.id)

    def _parent_keys(self, code_id: str) -> set[str]:
        parent = self.codebook.parent(code_id) if self.codebook is not None else None
        if parent is None:
            return {""}
        return {_name_key(parent), _name_key(self.codebook[parent].label)}

    def known(self, name: str, parents: Sequence[str] = ()) -> str | None:
        """Find the codebook id a name stands for.

        parents: names of the code's ancestors in the source, top first (for shared labels).
        RETURNS (str | None): the codebook id, or None.
        """
        name = str(name).strip()
        if self.codebook is not None and name in self.codebook:
            return name
        # "Label (ID)": how `export qdpx` keeps sibling names unique.
        match = re.search(r"\(([^()]+)\)\s*$", name)
        if match and match.group(1).strip().casefold() in self._ids:
            return self._ids[match.group(1).strip().casefold()]
        candidates = self._labels.get(_name_key(name), [])
        if len(candidates) > 1:
            parent = _name_key(parents[-1]) if parents else ""
            fitting = [c for c in candidates if parent in self._parent_keys(c)]
            return (fitting or candidates)[0]
        if candidates:
            return candidates[0]
        if _name_key(name) in self._ids:
            return self._ids[_name_key(name)]
        slug = code_slug(name)
        if self.codebook is not None and slug in self.codebook:
            return slug
        return None

    def resolve(
        self,
        name: str,
        parents: Sequence[str] = (),
        *,
        description: str = "",
        parent_id: str | None = None,
    ) -> str:
        """Find our id for a code.

        description, parent_id: what the source says of the code (kept for an unknown code).
        RETURNS (str): the codebook id, or the slug of an unknown code (which is recorded).
        """
        found = self.known(name, parents)
        if found is not None:
            return found
        slug = code_slug(name)
        self.unknown.setdefault(slug, str(name).strip())
        if slug not in self.described or (description and not self.described[slug][0]):
            self.described[slug] = (" ".join(str(description or "").split()), parent_id)
        return slug

    def imported_codes(self, source: str) -> pd.DataFrame:
        """RETURNS (DataFrame): the unknown codes met, as rows of imported_codes.parquet
        (schema.IMPORTED_CODES_COLUMNS), by code id."""
        rows = [
            (code_id, name, *self.described.get(code_id, ("", None)), source)
            for code_id, name in sorted(self.unknown.items())
        ]
        return pd.DataFrame(rows, columns=schema.IMPORTED_CODES_COLUMNS)


def _word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD_RE.finditer(text, start, end)]


def pieces_to_rows(
    pieces: pd.DataFrame, corpus: Corpus, *, min_words: int = MIN_WORDS
) -> pd.DataFrame:
    """Cut coded pieces of turns into one row per coded sentence (the overlap rule, see above).

    pieces: transcript_id, turn_id, start_char, end_char, code_id, coder, selection_id, source.
    RETURNS (DataFrame): codings rows (CODINGS_COLUMNS + HUMAN_EXTRA_COLUMNS) without
        codebook_version.
    """
    sentences = corpus.sentences
    by_turn: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for t, k, s, a, b in zip(
        sentences["transcript_id"],
        sentences["turn_id"],
        sentences["sentence_id"],
        sentences["start_char"],
        sentences["end_char"],
        strict=True,
    ):
        by_turn.setdefault((str(t), int(k)), []).append((int(s), int(a), int(b)))
    rows = []
    for piece in pieces.itertuples(index=False):
        key = (str(piece.transcript_id), int(piece.turn_id))
        text = corpus.turn_text(*key) or ""
        lo, hi = int(piece.start_char), int(piece.end_char)
        overlaps = []
        for sentence_id, s_lo, s_hi in by_turn.get(key, []):
            o_lo, o_hi = max(lo, s_lo), min(hi, s_hi)
            while o_lo < o_hi and text[o_lo].isspace():
                o_lo += 1
            while o_hi > o_lo and text[o_hi - 1].isspace():
                o_hi -= 1
            if o_hi <= o_lo:
                continue
            words = _word_spans(text, s_lo, s_hi)
            covered = sum(1 for w_lo, w_hi in words if w_lo >= o_lo and w_hi <= o_hi)
            needed = max(1, min(min_words, len(words)))
            overlaps.append((sentence_id, o_lo, o_hi, covered >= needed))
        kept = [o for o in overlaps if o[3]]
        if not kept and overlaps:
            kept = [max(overlaps, key=lambda o: (o[2] - o[1], -o[0]))]
        if not overlaps:
            # a turn without sentences (or a piece outside them): keep it at turn level
            kept = [(None, lo, hi, True)]
        for sentence_id, o_lo, o_hi, _ in kept:
            rows.append(
                {
                    "transcript_id": key[0],
                    "turn_id": key[1],
                    "sentence_id": sentence_id,
                    "code_id": piece.code_id,
                    "start_char": o_lo,
                    "end_char": o_hi,
                    "text": text[o_lo:o_hi],
                    "coder": piece.coder,
                    "rule_id": None,
                    "score": float("nan"),
                    "selection_id": piece.selection_id,
                    "source": piece.source,
                }
            )
    return pd.DataFrame(rows, columns=[*schema.CODINGS_COLUMNS, *schema.HUMAN_EXTRA_COLUMNS])


def finish_rows(rows: pd.DataFrame, *, codebook_version: int | None) -> pd.DataFrame:
    """Give coding rows their final types and order, and drop exact repeats.

    RETURNS (DataFrame): CODINGS_COLUMNS + HUMAN_EXTRA_COLUMNS, sorted.
    """
    frame = rows.copy()
    if "codebook_version" not in frame.columns or frame["codebook_version"].isna().all():
        frame["codebook_version"] = codebook_version
    for column in schema.HUMAN_EXTRA_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = schema.typed_codings(frame, schema.HUMAN_EXTRA_COLUMNS, human=True)
    frame = frame.drop_duplicates(
        ["transcript_id", "turn_id", "sentence_id", "code_id", "start_char", "end_char", "coder"]
    )
    order = ["transcript_id", "coder", "turn_id", "sentence_id", "start_char", "end_char"]
    return frame.sort_values([*order, "code_id", "selection_id"], na_position="first").reset_index(
        drop=True
    )


def write_human_codings(
    new: pd.DataFrame,
    processed_dir: Path,
    *,
    replace: Iterable[tuple[str, str]] = (),
    replace_coders: Iterable[str] = (),
    codes: pd.DataFrame | None = None,
) -> Path:
    """Merge new human codings into human_codings.parquet, atomically, and keep
    imported_codes.parquet in step (`write_imported_codes`).

    replace: (coder, transcript_id) pairs whose old rows the new ones replace (a re-import of the
        same coder's work on a transcript replaces it instead of doubling it).
    replace_coders: coders whose old rows all go.
    codes: the codes outside the codebook that the new rows use (`CodeResolver.imported_codes`).
    RETURNS (Path): the table written.
    """
    path = schema.table_path(processed_dir, "human_codings")
    old = schema.read_table(processed_dir, "human_codings", required=False)
    pairs = set(replace) | {
        (str(c), str(t)) for c, t in zip(new["coder"], new["transcript_id"], strict=True)
    }
    coders = set(replace_coders)
    parts = []
    if old is not None and len(old):
        keep = [
            (str(c), str(t)) not in pairs and str(c) not in coders
            for c, t in zip(old["coder"], old["transcript_id"], strict=True)
        ]
        parts.append(old[keep])
    parts.append(new)
    parts = [p for p in parts if len(p)]
    merged = pd.concat(parts, ignore_index=True) if parts else new.iloc[0:0]
    merged = finish_rows(merged, codebook_version=None)
    written = schema.write_table(merged, path, columns=schema.CODINGS_COLUMNS)
    write_imported_codes(codes, processed_dir, used=set(merged["code_id"].astype(str)))
    return written


def read_imported_codes(processed_dir: Path) -> pd.DataFrame:
    """RETURNS (DataFrame): imported_codes.parquet (schema.IMPORTED_CODES_COLUMNS); no rows when
    it is missing."""
    frame = schema.read_table(processed_dir, "imported_codes", required=False)
    if frame is None:
        return pd.DataFrame(columns=schema.IMPORTED_CODES_COLUMNS)
    return frame


def write_imported_codes(
    new: pd.DataFrame | None, processed_dir: Path, *, used: set[str]
) -> Path | None:
    """Merge the codes of an import into imported_codes.parquet: a code imported again takes its
    new name, description and parent; codes no human coding uses any more drop out, except the
    parents of those that stay (a grouping code of the source's tree).

    RETURNS (Path | None): the table written; None when there is nothing to keep and no table.
    """
    path = schema.table_path(processed_dir, "imported_codes")
    old = read_imported_codes(processed_dir)
    parts = [f for f in (new, old) if f is not None and len(f)]
    if not parts:
        return None
    merged = pd.concat(parts, ignore_index=True).drop_duplicates("code_id", keep="first")
    parents = dict(zip(merged["code_id"], merged["parent_id"], strict=True))
    keep = set()
    for code_id in sorted(used & set(parents)):
        while isinstance(code_id, str) and code_id not in keep:
            keep.add(code_id)
            code_id = parents.get(code_id)
    merged = merged[merged["code_id"].isin(keep)].sort_values("code_id")
    if merged.empty and not path.exists():
        return None
    frame = merged[schema.IMPORTED_CODES_COLUMNS].astype(
        {c: "string" for c in schema.IMPORTED_CODES_COLUMNS}
    )
    return schema.write_table(frame, path, columns=schema.IMPORTED_CODES_COLUMNS)


@dataclass(frozen=True)
class QuoteOutcome:
    """How the quote of one row of a coding file was found: `how` is `exact`, `normalised`,
    `fuzzy` (with its score, 0-100) or "" (not found)."""

    file: str
    line: int
    how: str
    score: float = 0.0


@dataclass
class ImportResult:
    """What an import found and kept."""

    source: Path
    codings: pd.DataFrame
    n_selections: int = 0
    n_uncoded_selections: int = 0
    n_source_codings: int = 0
    n_machine_codings: int = 0
    n_unmapped: int = 0
    unknown_codes: dict[str, str] = field(default_factory=dict)
    imported_codes: pd.DataFrame | None = None  # the unknown codes with name and description
    problems: list[str] = field(default_factory=list)
    ingested: list[str] = field(default_factory=list)
    matches: Counter = field(default_factory=Counter)
    quotes: list[QuoteOutcome] = field(default_factory=list)
    cases: pd.DataFrame | None = None
    written: Path | None = None

    def quote_lines(self) -> list[str]:
        """One line per file of quotes: how many were found exactly, after normalising, fuzzily
        (with the lowest scores and their lines) and not at all (with the line of each miss).

        RETURNS (list[str]): the lines, in file order; none when no row held a quote.
        """
        by_file: dict[str, list[QuoteOutcome]] = {}
        for outcome in self.quotes:
            by_file.setdefault(outcome.file, []).append(outcome)
        lines = []
        for file, outcomes in by_file.items():
            count = Counter(o.how for o in outcomes)
            fuzzy = sorted((o.score, o.line) for o in outcomes if o.how == "fuzzy")
            missed = [o.line for o in outcomes if o.how == ""]
            parts = [
                f"{count['exact']} exactly",
                f"{count['normalised']} after normalising",
                f"{count['fuzzy']} fuzzily"
                + (
                    " (lowest scores: "
                    + ", ".join(f"{score:g} on line {line}" for score, line in fuzzy[:5])
                    + (" ..." if len(fuzzy) > 5 else "")
                    + ")"
                    if fuzzy
                    else ""
                ),
                f"{len(missed)} not found"
                + (f" (line {', '.join(str(line) for line in missed)})" if missed else ""),
            ]
            lines.append(f"{file}: {len(outcomes)} quote(s): {', '.join(parts)}")
        return lines

    @property
    def coders(self) -> list[str]:
        """RETURNS (list[str]): the coders of the imported codings."""
        return sorted(self.codings["coder"].astype(str).unique()) if len(self.codings) else []

    @property
    def transcripts(self) -> list[str]:
        """RETURNS (list[str]): the transcripts the imported codings fall in."""
        if not len(self.codings):
            return []
        return sorted(self.codings["transcript_id"].astype(str).unique())


def load_codebook_or_none(path: Path | None) -> Codebook | None:
    """RETURNS (Codebook | None): the codebook at path, None when no path is given."""
    if path is None:
        return None
    return load_codebook(path)


def unit_keys(codings: pd.DataFrame, corpus_sentences: pd.DataFrame, *, unit: str) -> pd.DataFrame:
    """The units (sentences or turns) each coding row codes.

    Rows with a sentence_id code that sentence; rows without one (turn-level coding) code every
    sentence of their turn that their span overlaps.
    RETURNS (DataFrame): transcript_id, turn_id, (sentence_id,) code_id, coder; unique rows.
    """
    if unit not in ("sentence", "turn"):
        raise ValueError(f"unit must be sentence or turn, got {unit!r}")
    base = codings[["transcript_id", "turn_id", "sentence_id", "code_id", "coder"]].copy()
    if unit == "turn":
        keys = base.drop(columns="sentence_id")
    else:
        has = base["sentence_id"].notna()
        keys = base[has]
        loose = codings[~has]
        if len(loose):
            merged = loose[
                ["transcript_id", "turn_id", "code_id", "coder", "start_char", "end_char"]
            ].merge(
                corpus_sentences[
                    ["transcript_id", "turn_id", "sentence_id", "start_char", "end_char"]
                ],
                on=["transcript_id", "turn_id"],
                suffixes=("", "_s"),
            )
            merged = merged[
                (merged["start_char"] < merged["end_char_s"])
                & (merged["end_char"] > merged["start_char_s"])
            ]
            keys = pd.concat(
                [keys, merged[["transcript_id", "turn_id", "sentence_id", "code_id", "coder"]]],
                ignore_index=True,
            )
    keys = keys.astype({"transcript_id": str, "turn_id": "int64", "code_id": str, "coder": str})
    if unit == "sentence":
        keys = keys.astype({"sentence_id": "int64"})
    return keys.drop_duplicates().reset_index(drop=True)


def coded_sentences(codings: pd.DataFrame, corpus_sentences: pd.DataFrame) -> set[tuple]:
    """RETURNS (set): the (transcript_id, turn_id, sentence_id, code_id) the rows code, by
    `unit_keys` at the sentence unit (empty for no rows)."""
    if codings.empty:
        return set()
    keys = unit_keys(codings, corpus_sentences, unit="sentence")
    return set(
        zip(keys["transcript_id"], keys["turn_id"], keys["sentence_id"], keys["code_id"],
            strict=True)
    )  # fmt: skip
