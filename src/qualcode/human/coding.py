"""Human coding brought in from people: quotes and offsets found in our transcripts, mapped onto
turns and sentences, and written to human_codings.parquet.

Where a human coding lands
--------------------------
People code a text that is rarely byte-for-byte our `turns.text`: a raw transcript hard-wrapped at
80 columns, with speaker labels, "um"s and real names; a file with Windows line ends; or the text
that `qualcode export qdpx` wrote. `OffsetMapper` aligns the words of such a source text with the
words of our transcript document (`transcript_doc`: each turn as "speaker: text", turns separated by
a blank line) and maps every character offset across. Where the two texts agree, offsets map
character for character (punctuation included); where they differ (a removed "um", a pseudonym in
place of a name, a line break in place of a space) a selection snaps to the nearest words both
texts share. A selection spanning several turns becomes one piece per turn.

The overlap rule (sentence unit)
--------------------------------
A piece of a selection codes a sentence when it covers at least `MIN_WORDS` (3) whole words of that
sentence, or every word of a shorter sentence. A selection that meets this nowhere (a highlighted
pair of words) codes the one sentence it overlaps most. So a selection that spills a word or two
into the next sentence does not code it, and a short highlight still codes its sentence.
human_codings.parquet holds one row per (selection, coded sentence, code): start_char and end_char
are the part of the selection inside that sentence (offsets into turns.text), `selection_id` ties
the rows of one selection together. A turn counts as coded when one of its sentences is.

CSV format
----------
Columns `transcript_id`, `code` (or `code_id`; a code id or label) and either `quote` or `start`
and `end`. A quote is found in the transcript insensitive to whitespace, case and quote style
(straight or curly quotes, dashes); it may span several turns and then codes each of them. Quotes
are looked for in the cleaned text, then in the words as spoken (`text_raw`), then in the raw file
(plain text transcripts), first as characters, then as words ignoring punctuation. An optional
`turn_id` column narrows the search (or, with offsets, says which turn `start` and `end` count in;
without it they count in the transcript document that `qualcode export qdpx` writes). Missing and
ambiguous quotes are reported by line and skipped; broken rows (unknown transcript, bad offsets,
missing columns) stop the import and nothing is written.
"""

from __future__ import annotations

import bisect
import csv
import io
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
from rapidfuzz.distance import Levenshtein

from qualcode import schema
from qualcode.coding.codebook import Codebook, load_codebook
from qualcode.errors import ManyInputErrors, QualcodeInputError

logger = logging.getLogger(__name__)

HUMAN_PREFIX = "human:"
MACHINE_CODERS = ("rules", "model")
# One coded span of a turn, as read from a coding file, before it becomes human_codings rows.
PIECE_COLUMNS = ["transcript_id", "turn_id", "start_char", "end_char", "code_id", "coder",
                 *schema.HUMAN_EXTRA_COLUMNS]  # fmt: skip
MIN_WORDS = 3
SPEAKER_SEP = ": "
TURN_SEP = "\n\n"
TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown")

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_QUOTE_CHARS = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "`": "'",
        "´": "'",
        "′": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "«": '"',
        "»": '"',
        "″": '"',
        "–": "-",
        "—": "-",
        "‐": "-",
        "‑": "-",
        "\u00a0": " ",
    }
)


# ---------------------------------------------------------------------------------------------
# Coders and codes


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
    `unknown` (id -> the name as given).
    """

    def __init__(self, codebook: Codebook | None) -> None:
        self.codebook = codebook
        self.unknown: dict[str, str] = {}
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

    def resolve(self, name: str, parents: Sequence[str] = ()) -> str:
        """RETURNS (str): the codebook id, or the slug of an unknown code (which is recorded)."""
        found = self.known(name, parents)
        if found is not None:
            return found
        slug = code_slug(name)
        self.unknown.setdefault(slug, str(name).strip())
        return slug


# ---------------------------------------------------------------------------------------------
# The transcript document: what people see and code


@dataclass(frozen=True)
class TranscriptDoc:
    """One transcript as one text: each turn as "speaker: text", turns separated by a blank line.

    `starts[k]` is where the text of turn `turn_ids[k]` begins in `text`.
    """

    transcript_id: str
    text: str
    turn_ids: tuple[int, ...]
    starts: tuple[int, ...]
    texts: tuple[str, ...]

    def offset(self, turn_id: int, char: int) -> int:
        """RETURNS (int): the offset in `text` of character `char` of turn `turn_id`."""
        k = self.turn_ids.index(int(turn_id))
        return self.starts[k] + int(char)

    def turn_spans(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Cut a span of `text` into one piece per turn, without speaker labels and spaces at
        either end.

        RETURNS (list[tuple[int, int, int]]): (turn_id, start_char, end_char) into turns.text.
        """
        pieces = []
        k = max(bisect.bisect_right(self.starts, start) - 1, 0)
        while k < len(self.starts) and self.starts[k] < end:
            base = self.starts[k]
            text = self.texts[k]
            lo = max(start - base, 0)
            hi = min(end - base, len(text))
            while lo < hi and text[lo].isspace():
                lo += 1
            while hi > lo and text[hi - 1].isspace():
                hi -= 1
            if lo < hi:
                pieces.append((self.turn_ids[k], lo, hi))
            k += 1
        return pieces


def _speaker(row: pd.Series) -> str:
    speaker = row.get("speaker")
    if speaker is None or (isinstance(speaker, float) and pd.isna(speaker)) or not str(speaker):
        role = row.get("role")
        return str(role).capitalize() if isinstance(role, str) and role else "Speaker"
    return str(speaker)


def transcript_doc(turns: pd.DataFrame, transcript_id: str) -> TranscriptDoc:
    """Build the document of one transcript from turns.parquet rows.

    RETURNS (TranscriptDoc): the text and where each turn's text sits in it.
    """
    rows = turns[turns["transcript_id"] == transcript_id].sort_values("turn_id")
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for _, row in rows.iterrows():
        if parts:
            parts.append(TURN_SEP)
            pos += len(TURN_SEP)
        label = _speaker(row) + SPEAKER_SEP
        parts.append(label)
        pos += len(label)
        starts.append(pos)
        text = str(row["text"]) if isinstance(row["text"], str) else ""
        parts.append(text)
        pos += len(text)
    return TranscriptDoc(
        transcript_id=transcript_id,
        text="".join(parts),
        turn_ids=tuple(int(t) for t in rows["turn_id"]),
        starts=tuple(starts),
        texts=tuple(str(t) if isinstance(t, str) else "" for t in rows["text"]),
    )


# ---------------------------------------------------------------------------------------------
# Mapping offsets of one text onto another


def _words(text: str) -> tuple[list[int], list[int], list[str]]:
    starts, ends, norms = [], [], []
    for match in _WORD_RE.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
        norms.append(match.group().lower().replace("’", "'"))
    return starts, ends, norms


def _nonspace_positions(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if not ch.isspace()]


class OffsetMapper:
    """Maps character offsets of a source text onto a target text through a word alignment.

    Words are aligned with a Levenshtein alignment of the two word sequences (rapidfuzz). Inside
    a word that both texts share, and in the punctuation between two such neighbouring words,
    offsets map character for character (line breaks and runs of spaces count as one gap).
    Elsewhere a start snaps to the next shared word and an end to the end of the previous one.
    """

    def __init__(self, source: str, target: str) -> None:
        self.source = source
        self.target = target
        self.identity = source == target
        if self.identity:
            return
        self.s_start, self.s_end, s_norm = _words(source)
        self.t_start, self.t_end, t_norm = _words(target)
        n = len(s_norm)
        self.align = [-1] * n
        self.exact = [False] * n
        for op in Levenshtein.opcodes(s_norm, t_norm):
            if op.tag == "equal" or op.tag == "replace":
                size_s = op.src_end - op.src_start
                size_t = op.dest_end - op.dest_start
                for k in range(size_s):
                    i = op.src_start + k
                    j = op.dest_start + (k if size_s == size_t else k * size_t // size_s)
                    self.align[i] = j
                    self.exact[i] = s_norm[i] == t_norm[j] and (
                        self.s_end[i] - self.s_start[i] == self.t_end[j] - self.t_start[j]
                    )
        # nearest aligned word at or after / at or before each source word
        self.next_aligned = [n] * (n + 1)
        for i in range(n - 1, -1, -1):
            self.next_aligned[i] = i if self.align[i] >= 0 else self.next_aligned[i + 1]
        self.prev_aligned = [-1] * n
        last = -1
        for i in range(n):
            if self.align[i] >= 0:
                last = i
            self.prev_aligned[i] = last

    # sentinels: source word -1 <-> target word -1 (text start), n <-> m (text end)
    def _a(self, i: int) -> int:
        if i < 0:
            return -1
        if i >= len(self.align):
            return len(self.t_start)
        return self.align[i]

    def _t_start(self, j: int) -> int:
        return self.t_start[j] if j < len(self.t_start) else len(self.target)

    def _t_end(self, j: int) -> int:
        return self.t_end[j] if j >= 0 else 0

    def _s_start(self, i: int) -> int:
        return self.s_start[i] if i < len(self.s_start) else len(self.source)

    def _s_end(self, i: int) -> int:
        return self.s_end[i] if i >= 0 else 0

    def _gap(self, p: int, left: int, *, side: str) -> int:
        right = left + 1
        n = len(self.align)
        left_ok = left < 0 or self.align[left] >= 0
        right_ok = right >= n or self.align[right] >= 0
        if left_ok and right_ok and self._a(right) == self._a(left) + 1:
            gs_start = self._s_end(left)
            gap_s = self.source[gs_start : self._s_start(right)]
            gt_start = self._t_end(self._a(left))
            gap_t = self.target[gt_start : self._t_start(self._a(right))]
            marks_s = _nonspace_positions(gap_s)
            marks_t = _nonspace_positions(gap_t)
            if [gap_s[i] for i in marks_s] == [gap_t[i] for i in marks_t]:
                k = sum(1 for i in marks_s if i < p - gs_start)
                if side == "start":
                    return gt_start + (marks_t[k] if k < len(marks_t) else len(gap_t))
                return gt_start + (marks_t[k - 1] + 1 if k > 0 else 0)
        if side == "start":
            i = self.next_aligned[right] if right < n else n
            return self._t_start(self._a(i))
        i = self.prev_aligned[left] if left >= 0 else -1
        return self._t_end(self._a(i))

    def map_start(self, p: int) -> int:
        """RETURNS (int): where a selection starting at source offset p starts in the target."""
        if self.identity:
            return p
        i = bisect.bisect_right(self.s_end, p)
        if i < len(self.s_start) and self.s_start[i] <= p:
            if self.align[i] >= 0:
                j = self.align[i]
                return self.t_start[j] + (p - self.s_start[i] if self.exact[i] else 0)
            return self._t_start(self._a(self.next_aligned[i]))
        return self._gap(p, i - 1, side="start")

    def map_end(self, p: int) -> int:
        """RETURNS (int): where a selection ending at source offset p ends in the target."""
        if self.identity:
            return p
        i = bisect.bisect_left(self.s_start, p) - 1
        if i >= 0 and p <= self.s_end[i]:
            if self.align[i] >= 0:
                j = self.align[i]
                return self.t_start[j] + (p - self.s_start[i]) if self.exact[i] else self.t_end[j]
            return self._t_end(self._a(self.prev_aligned[i]))
        return self._gap(p, i, side="end")

    def map_span(self, start: int, end: int) -> tuple[int, int] | None:
        """RETURNS (tuple[int, int] | None): the target span, or None when nothing maps."""
        lo, hi = self.map_start(start), self.map_end(end)
        if hi <= lo:
            return None
        return lo, hi


# ---------------------------------------------------------------------------------------------
# The processed tables a coding is mapped onto


@dataclass
class Corpus:
    """turns, sentences and transcripts of data/processed, with per-transcript documents."""

    turns: pd.DataFrame
    sentences: pd.DataFrame
    transcripts: pd.DataFrame | None = None
    raw_dir: Path | None = None
    _docs: dict[str, TranscriptDoc] = field(default_factory=dict, repr=False)
    _mappers: dict[tuple[str, str], OffsetMapper] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, processed_dir: Path, *, raw_dir: Path | None = None) -> Corpus:
        """RETURNS (Corpus): the tables of processed_dir (turns and sentences required)."""
        turns = schema.read_table(processed_dir, "turns")
        sentences = schema.read_table(processed_dir, "sentences")
        transcripts = schema.read_table(processed_dir, "transcripts", required=False)
        return cls(turns=turns, sentences=sentences, transcripts=transcripts, raw_dir=raw_dir)

    @cached_property
    def transcript_ids(self) -> list[str]:
        """RETURNS (list[str]): the transcripts that have turns, sorted."""
        return sorted(self.turns["transcript_id"].astype(str).unique())

    @cached_property
    def _turn_text(self) -> dict[tuple[str, int], str]:
        return {
            (str(t), int(k)): (v if isinstance(v, str) else "")
            for t, k, v in zip(
                self.turns["transcript_id"], self.turns["turn_id"], self.turns["text"], strict=True
            )
        }

    def turn_text(self, transcript_id: str, turn_id: int) -> str | None:
        """RETURNS (str | None): turns.text of one turn, None if there is no such turn."""
        return self._turn_text.get((transcript_id, int(turn_id)))

    def doc(self, transcript_id: str) -> TranscriptDoc:
        """RETURNS (TranscriptDoc): the transcript document (built once)."""
        if transcript_id not in self._docs:
            self._docs[transcript_id] = transcript_doc(self.turns, transcript_id)
        return self._docs[transcript_id]

    def mapper(self, transcript_id: str, source: str, *, key: str | None = None) -> OffsetMapper:
        """RETURNS (OffsetMapper): source text -> the transcript document (cached under key)."""
        if key is None:
            return OffsetMapper(source, self.doc(transcript_id).text)
        if (transcript_id, key) not in self._mappers:
            self._mappers[(transcript_id, key)] = OffsetMapper(source, self.doc(transcript_id).text)
        return self._mappers[(transcript_id, key)]

    def map_source_span(
        self, transcript_id: str, mapper: OffsetMapper, start: int, end: int
    ) -> list[tuple[int, int, int]]:
        """RETURNS (list): (turn_id, start_char, end_char) pieces of a source span."""
        span = mapper.map_span(start, end)
        if span is None:
            return []
        return self.doc(transcript_id).turn_spans(*span)

    def raw_text(self, transcript_id: str) -> str | None:
        """RETURNS (str | None): the raw transcript when it is a plain text file we can read."""
        if self.transcripts is None or "source_path" not in self.transcripts.columns:
            return None
        rows = self.transcripts[self.transcripts["transcript_id"] == transcript_id]
        if rows.empty or not isinstance(rows.iloc[0]["source_path"], str):
            return None
        recorded = Path(rows.iloc[0]["source_path"])
        candidates = [recorded] if recorded.is_absolute() else []
        if self.raw_dir is not None:
            candidates += [Path(self.raw_dir) / recorded, Path(self.raw_dir) / recorded.name]
        for path in candidates:
            if path.suffix.lower() in TEXT_SUFFIXES and path.is_file():
                return path.read_text(encoding="utf-8-sig", errors="replace")
        return None


# ---------------------------------------------------------------------------------------------
# From turn pieces to sentence rows


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
) -> Path:
    """Merge new human codings into human_codings.parquet, atomically.

    replace: (coder, transcript_id) pairs whose old rows the new ones replace (a re-import of the
        same coder's work on a transcript replaces it instead of doubling it).
    replace_coders: coders whose old rows all go.
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
    return schema.write_table(merged, path, columns=schema.CODINGS_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Import result


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
    problems: list[str] = field(default_factory=list)
    ingested: list[str] = field(default_factory=list)
    matches: Counter = field(default_factory=Counter)
    cases: pd.DataFrame | None = None
    written: Path | None = None

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


# ---------------------------------------------------------------------------------------------
# Finding quotes


def search_key(text: str) -> tuple[str, list[int]]:
    """Normalise a text for quote search: one space for any whitespace run, lower case, straight
    quotes and hyphens; with the original index of every character.

    RETURNS (tuple[str, list[int]]): the key and, per key character, its index in text.
    """
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text.translate(_QUOTE_CHARS)):
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                index.append(i)
            continue
        if ch == "…":
            out.extend("...")
            index.extend([i, i, i])
            continue
        low = ch.lower()
        out.extend(low)
        index.extend([i] * len(low))
    return "".join(out), index


def _find_all(haystack: str, needle: str) -> list[int]:
    found, pos = [], haystack.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = haystack.find(needle, pos + 1)
    return found


def find_quote(quote: str, text: str) -> tuple[list[tuple[int, int]], str]:
    """Find every occurrence of a quote in a text: as characters (insensitive to whitespace, case
    and quote style), else as a run of words (punctuation ignored).

    RETURNS (tuple[list[tuple[int, int]], str]): the (start, end) spans in text and how they
        were found ("text", "words" or "" when not at all).
    """
    q_key, _ = search_key(quote)
    q_key = q_key.strip()
    if not q_key:
        return [], ""
    t_key, t_index = search_key(text)
    # whole words only: a quote "I" is not the i of "in"
    hits = [
        h
        for h in _find_all(t_key, q_key)
        if (h == 0 or not (t_key[h - 1].isalnum() and q_key[0].isalnum()))
        and (
            h + len(q_key) == len(t_key)
            or not (t_key[h + len(q_key)].isalnum() and q_key[-1].isalnum())
        )
    ]
    if hits:
        return [(t_index[h], t_index[h + len(q_key) - 1] + 1) for h in hits], "text"
    _, _, q_words = _words(quote)
    if not q_words:
        return [], ""
    t_starts, t_ends, t_words = _words(text)
    joined = " " + " ".join(t_words) + " "
    offsets = []
    pos = 1
    for word in t_words:
        offsets.append(pos)
        pos += len(word) + 1
    spans = []
    for hit in _find_all(joined, " " + " ".join(q_words) + " "):
        first = bisect.bisect_left(offsets, hit + 1)
        last = first + len(q_words) - 1
        spans.append((t_starts[first], t_ends[last]))
    return spans, ("words" if spans else "")


def _plain_doc(turns: pd.DataFrame, transcript_id: str, column: str) -> str:
    rows = turns[turns["transcript_id"] == transcript_id].sort_values("turn_id")
    return "\n\n".join(v if isinstance(v, str) else "" for v in rows[column])


def locate_quote(
    corpus: Corpus, transcript_id: str, quote: str, *, turn_id: int | None = None
) -> tuple[list[list[tuple[int, int, int]]], str]:
    """Find a quote in a transcript and map each occurrence onto turn pieces.

    Looked for in the cleaned text (with and without speaker labels), the words as spoken
    (text_raw) and the raw plain-text file, in that order; the first text where it is found
    decides. turn_id: keep only occurrences that touch this turn.
    RETURNS (tuple[list, str]): per occurrence a list of (turn_id, start_char, end_char), and
        where it was found ("text", "text_raw", "raw file"; "+words" when punctuation was ignored).
    """
    turns = corpus.turns
    candidates: list[tuple[str, str]] = [
        ("text", corpus.doc(transcript_id).text),
        ("text", _plain_doc(turns, transcript_id, "text")),
    ]
    if "text_raw" in turns.columns:
        candidates.append(("text_raw", _plain_doc(turns, transcript_id, "text_raw")))
    raw = corpus.raw_text(transcript_id)
    if raw is not None:
        candidates.append(("raw file", raw))
    for pass_kind in ("text", "words"):
        for i, (where, source) in enumerate(candidates):
            spans, how = find_quote(quote, source)
            if how != pass_kind:
                continue
            mapper = corpus.mapper(transcript_id, source, key=f"quote:{i}")
            occurrences = []
            for start, end in spans:
                pieces = corpus.map_source_span(transcript_id, mapper, start, end)
                touches = turn_id is None or any(p[0] == turn_id for p in pieces)
                if pieces and touches and pieces not in occurrences:
                    occurrences.append(pieces)
            if occurrences:
                return occurrences, where + ("+words" if pass_kind == "words" else "")
    return [], ""


# ---------------------------------------------------------------------------------------------
# CSV import

CSV_REQUIRED = "transcript_id, code (or code_id), and quote or start and end"


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QualcodeInputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise QualcodeInputError("expected UTF-8 text", path=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise QualcodeInputError(
            f"empty file; expected a header with {CSV_REQUIRED}", path=path
        ) from None
    except csv.Error as err:
        raise QualcodeInputError(f"expected CSV ({err})", path=path, line=1) from None
    header = [h.strip().lower() for h in header]
    rows = []
    line = reader.line_num + 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                # cells our CSV exports neutralised for spreadsheets ('=...) come back as they were
                record = [schema.restore_cell(cell) for cell in record]
                padded = record + [""] * (len(header) - len(record))
                rows.append((line, dict(zip(header, padded, strict=False))))
            line = reader.line_num + 1
    except csv.Error as err:
        raise QualcodeInputError(f"expected CSV ({err})", path=path, line=line) from None
    return header, rows


def _check_csv_columns(header: list[str], path: Path) -> tuple[str, str]:
    missing = []
    if "transcript_id" not in header:
        missing.append("transcript_id")
    code_column = "code" if "code" in header else "code_id" if "code_id" in header else None
    if code_column is None:
        missing.append("code (or code_id)")
    has_quote = "quote" in header
    has_offsets = "start" in header and "end" in header
    if not has_quote and not has_offsets:
        missing.append("quote (or start and end)")
    if missing:
        raise QualcodeInputError(
            f"missing column(s) {', '.join(missing)}; expected {CSV_REQUIRED} "
            f"(found: {', '.join(header) or 'none'})",
            path=path,
            line=1,
        )
    return code_column, ("quote" if has_quote else "offsets")


def _int_cell(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number == int(number) else None


def read_coding_csv(
    path: Path,
    corpus: Corpus,
    *,
    coder: str,
    codebook: Codebook | None,
) -> ImportResult:
    """Read a CSV of human coding and map every row onto turns and sentences.

    RETURNS (ImportResult): the coding rows (not yet written) and what was reported.
    """
    path = Path(path)
    coder = coder_name(coder)
    header, rows = _csv_rows(path)
    code_column, mode = _check_csv_columns(header, path)
    resolver = CodeResolver(codebook)
    known = set(corpus.transcript_ids)
    errors: list[QualcodeInputError] = []
    problems: list[str] = []
    matches: Counter = Counter()
    pieces = []
    for line, row in rows:
        transcript_id = row.get("transcript_id", "").strip()
        code = row.get(code_column, "").strip()
        if not transcript_id:
            errors.append(QualcodeInputError("empty transcript_id", path=path, line=line))
            continue
        if transcript_id not in known:
            errors.append(
                QualcodeInputError(
                    f"transcript {transcript_id!r} is not in data/processed "
                    "(run `qualcode ingest` on it first)",
                    path=path,
                    line=line,
                )
            )
            continue
        if not code:
            errors.append(QualcodeInputError(f"empty {code_column}", path=path, line=line))
            continue
        turn_id = None
        if row.get("turn_id", "").strip():
            turn_id = _int_cell(row["turn_id"])
            if turn_id is None or corpus.turn_text(transcript_id, turn_id) is None:
                errors.append(
                    QualcodeInputError(
                        f"turn_id {row['turn_id']!r} is not a turn of {transcript_id}",
                        path=path,
                        line=line,
                    )
                )
                continue
        found: list[tuple[int, int, int]]
        if mode == "quote" and row.get("quote", "").strip():
            occurrences, where = locate_quote(corpus, transcript_id, row["quote"], turn_id=turn_id)
            if not occurrences:
                problems.append(f"{path.name}, line {line}: quote not found in {transcript_id}")
                continue
            if len(occurrences) > 1:
                turns_listed = ", ".join(str(o[0][0]) for o in occurrences[:5])
                problems.append(
                    f"{path.name}, line {line}: quote found {len(occurrences)} times in "
                    f"{transcript_id} (turns {turns_listed}); add a turn_id column to choose"
                )
                continue
            found = occurrences[0]
            matches[where] += 1
        elif "start" in header and "end" in header:
            start, end = _int_cell(row.get("start", "")), _int_cell(row.get("end", ""))
            if start is None or end is None or start < 0 or end <= start:
                errors.append(
                    QualcodeInputError(
                        f"start and end must be whole numbers with 0 <= start < end, got "
                        f"{row.get('start')!r} and {row.get('end')!r}",
                        path=path,
                        line=line,
                    )
                )
                continue
            if turn_id is not None:
                limit = len(corpus.turn_text(transcript_id, turn_id) or "")
                what = f"turn {turn_id} of {transcript_id}"
            else:
                limit = len(corpus.doc(transcript_id).text)
                what = f"the text of {transcript_id}"
            if end > limit:
                errors.append(
                    QualcodeInputError(
                        f"end {end} is beyond {what} ({limit} characters)", path=path, line=line
                    )
                )
                continue
            if turn_id is not None:
                found = [(turn_id, start, end)]
            else:
                found = corpus.doc(transcript_id).turn_spans(start, end)
            matches["offsets"] += 1
        else:
            problems.append(f"{path.name}, line {line}: empty quote")
            continue
        code_id = resolver.resolve(code)
        for turn, lo, hi in found:
            pieces.append(
                {
                    "transcript_id": transcript_id,
                    "turn_id": turn,
                    "start_char": lo,
                    "end_char": hi,
                    "code_id": code_id,
                    "coder": coder,
                    "selection_id": f"{path.name}:{line}",
                    "source": path.name,
                }
            )
    if errors:
        raise errors[0] if len(errors) == 1 else ManyInputErrors(errors)
    piece_frame = pd.DataFrame(pieces, columns=PIECE_COLUMNS)
    version = codebook.version if codebook is not None else None
    codings = finish_rows(pieces_to_rows(piece_frame, corpus), codebook_version=version)
    for problem in problems:
        logger.info(problem)
    return ImportResult(
        source=path,
        codings=codings,
        n_selections=len(rows),
        unknown_codes=dict(resolver.unknown),
        problems=problems,
        matches=matches,
    )


def import_csv(
    path: Path,
    processed_dir: Path,
    *,
    coder: str | None = None,
    codebook_path: Path | None = None,
    raw_dir: Path | None = None,
) -> ImportResult:
    """`qualcode import-coding FILE.csv`: read, map and merge into human_codings.parquet.

    coder: the coder name (default `human:<file stem>`).
    RETURNS (ImportResult): what was imported; `written` is the table path.
    """
    path = Path(path)
    corpus = Corpus.load(processed_dir, raw_dir=raw_dir)
    codebook = load_codebook_or_none(codebook_path)
    result = read_coding_csv(path, corpus, coder=coder or path.stem, codebook=codebook)
    replace = {(coder_name(coder or path.stem), t) for t in result.transcripts}
    result.written = write_human_codings(result.codings, processed_dir, replace=replace)
    return result


def import_csv_folder(
    folder: Path,
    processed_dir: Path,
    *,
    coder: str,
    codebook_path: Path | None = None,
    raw_dir: Path | None = None,
) -> ImportResult | None:
    """Import every CSV of a folder as one coder, replacing all earlier rows of that coder.

    RETURNS (ImportResult | None): the combined result, None when the folder holds no CSV.
    """
    files = sorted(Path(folder).glob("*.csv")) if Path(folder).is_dir() else []
    if not files:
        return None
    corpus = Corpus.load(processed_dir, raw_dir=raw_dir)
    codebook = load_codebook_or_none(codebook_path)
    results = [read_coding_csv(f, corpus, coder=coder, codebook=codebook) for f in files]
    codings = finish_rows(
        pd.concat([r.codings for r in results], ignore_index=True),
        codebook_version=codebook.version if codebook is not None else None,
    )
    combined = ImportResult(
        source=Path(folder),
        codings=codings,
        n_selections=sum(r.n_selections for r in results),
        unknown_codes={k: v for r in results for k, v in r.unknown_codes.items()},
        problems=[p for r in results for p in r.problems],
        matches=sum((r.matches for r in results), Counter()),
    )
    combined.written = write_human_codings(
        codings, processed_dir, replace_coders=[coder_name(coder)]
    )
    return combined


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


__all__ = [
    "CodeResolver",
    "Corpus",
    "ImportResult",
    "OffsetMapper",
    "TranscriptDoc",
    "code_slug",
    "coder_name",
    "find_quote",
    "import_csv",
    "import_csv_folder",
    "locate_quote",
    "pieces_to_rows",
    "read_coding_csv",
    "search_key",
    "transcript_doc",
    "unit_keys",
    "write_human_codings",
]
