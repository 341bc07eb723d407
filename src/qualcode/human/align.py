"""Where a human coding lands: quotes and selections made on other texts, found in our transcripts.

People code a text that is rarely byte-for-byte our `turns.text`: a raw transcript hard-wrapped at
80 columns, with speaker labels, "um"s and real names; a file with Windows line ends; or the text
that `qualcode export qdpx` wrote. `OffsetMapper` aligns the words of such a source text with the
words of our transcript document (`transcript_doc`: each turn as "speaker: text", turns separated by
a blank line) and maps every character offset across. Where the two texts agree, offsets map
character for character (punctuation included); where they differ (a removed "um", a pseudonym in
place of a name, a line break in place of a space) a selection snaps to the nearest words both
texts share. A selection spanning several turns becomes one piece per turn.

`find_quote` and `locate_quote` find a quoted passage insensitive to whitespace, case and quote
style (straight or curly quotes, dashes), first as characters, then as words ignoring punctuation.
A passage exported by a QDA tool often runs across turns with the tool's own speaker labels and
timestamps inside ("Maria (00:01:02): ..."), and with the tool's small changes: an ellipsis for
words left out, a dropped "um", a name where our text has a pseudonym. `match_quote` tries the
passage as it is, then without such labels (`strip_export_labels`), and last aligns its words with
the transcript's (`fuzzy_find`: anchored on shared runs of three words, then a longest common
subsequence of words, rapidfuzz); a passage found this way carries the share of its words found
in order (the score, 0-100).
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
from rapidfuzz.distance import Indel, Levenshtein

from qualcode import schema
from qualcode.ingest.deid import PSEUDONYM_RE
from qualcode.ingest.readers import TIMESTAMP

logger = logging.getLogger(__name__)


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
        either end; a piece that begins or ends inside a pseudonym (`[ORG_10]`) takes all of it.

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
            lo, hi = snap_to_pseudonyms(text, lo, hi)
            if lo < hi:
                pieces.append((self.turn_ids[k], lo, hi))
            k += 1
        return pieces


def snap_to_pseudonyms(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span of text that begins or ends inside a pseudonym to the whole pseudonym.

    RETURNS (tuple[int, int]): the span.
    """
    for match in PSEUDONYM_RE.finditer(text, max(0, start - 40), min(len(text), end + 40)):
        if match.start() < start < match.end():
            start = match.start()
        if match.start() < end < match.end():
            end = match.end()
    return start, end


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


def _words(text: str) -> tuple[list[int], list[int], list[str]]:
    starts, ends, norms = [], [], []
    for match in _WORD_RE.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
        norms.append(match.group().lower().replace("’", "'"))
    return starts, ends, norms


def _nonspace_positions(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if not ch.isspace()]


ANCHOR_WORDS = 3


# a run of three words that occurs more often than this in a transcript anchors nothing
MAX_ANCHOR_HITS = 50


@dataclass(frozen=True)
class WordSeq:
    """The words of a text (lower case, straight apostrophes), where each sits, and where each
    run of `ANCHOR_WORDS` words occurs."""

    text: str
    starts: list[int]
    ends: list[int]
    norms: list[str]
    runs: dict[tuple[str, ...], list[int]]

    @classmethod
    def of(cls, text: str) -> WordSeq:
        """RETURNS (WordSeq): the words of text and the index of their runs."""
        starts, ends, norms = _words(text)
        runs: dict[tuple[str, ...], list[int]] = {}
        for j in range(len(norms) - ANCHOR_WORDS + 1):
            runs.setdefault(tuple(norms[j : j + ANCHOR_WORDS]), []).append(j)
        return cls(text=text, starts=starts, ends=ends, norms=norms, runs=runs)

    def turn_break(self, j: int) -> bool:
        """RETURNS (bool): whether a blank line (a turn break) lies between words j-1 and j."""
        return "\n\n" in self.text[self.ends[j - 1] : self.starts[j]].replace("\r", "")


def _chain(anchors: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of (target word, quote word) anchors increasing in both (patience
    sorting on the quote word, anchors sorted by target word)."""
    anchors = sorted(anchors, key=lambda a: (a[0], -a[1]))
    tails: list[int] = []  # quote word of the last anchor of the best chain of each length
    tail_at: list[int] = []  # index into anchors of that anchor
    back = [-1] * len(anchors)
    for n, (_, i) in enumerate(anchors):
        k = bisect.bisect_left(tails, i)
        back[n] = tail_at[k - 1] if k else -1
        if k == len(tails):
            tails.append(i)
            tail_at.append(n)
        else:
            tails[k] = i
            tail_at[k] = n
    chain = []
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        chain.append(anchors[n])
        n = back[n]
    return chain[::-1]


def fuzzy_find(
    quote: str, seq: WordSeq, *, max_gap: int = 400
) -> tuple[tuple[int, int], float] | None:
    """Align the words of a quote with the words of a text, allowing words left out on either
    side (an ellipsis, a dropped filler) and words changed (a pseudonym for a name).

    The quote is anchored on the runs of `ANCHOR_WORDS` words it shares with the text (the
    longest chain in order, cut where more than `max_gap` words of text lie between two
    anchors), then its words are aligned with that stretch of text by a longest common
    subsequence (rapidfuzz Indel). A lone word or two matched far from the rest at either end is
    dropped; words of the quote left unmatched at either end (a name for our pseudonym) take as
    many words of the same turn with them, at most two.
    RETURNS (tuple | None): the (start, end) span in the text and the score (the share of the
        quote's words found in order, 0-100), or None when no run of words is shared.
    """
    _, _, q = _words(quote)
    m = len(q)
    if m < ANCHOR_WORDS + 1:
        return None
    anchors = []
    for i in range(m - ANCHOR_WORDS + 1):
        hits = seq.runs.get(tuple(q[i : i + ANCHOR_WORDS]), ())
        if len(hits) <= MAX_ANCHOR_HITS:
            anchors.extend((j, i) for j in hits)
    chain = _chain(anchors)
    if not chain:
        return None
    # cut the chain where it jumps, keep the piece with most anchors
    pieces, current = [], [chain[0]]
    for prev, nxt in zip(chain, chain[1:], strict=False):
        if nxt[0] - prev[0] > (nxt[1] - prev[1]) + max_gap:
            pieces.append(current)
            current = []
        current.append(nxt)
    pieces.append(current)
    best = max(pieces, key=len)
    n = len(seq.norms)
    lo = max(0, best[0][0] - best[0][1] - 5)
    hi = min(n, best[-1][0] + (m - best[-1][1]) + 5)
    blocks = [
        (op.src_start, op.src_end, lo + op.dest_start, lo + op.dest_end)
        for op in Indel.opcodes(q, seq.norms[lo:hi])
        if op.tag == "equal"
    ]
    while len(blocks) > 1 and blocks[0][1] - blocks[0][0] < ANCHOR_WORDS:
        if blocks[1][2] - blocks[0][3] <= (blocks[1][0] - blocks[0][1]) + 2:
            break
        blocks.pop(0)
    while len(blocks) > 1 and blocks[-1][1] - blocks[-1][0] < ANCHOR_WORDS:
        if blocks[-1][2] - blocks[-2][3] <= (blocks[-1][0] - blocks[-2][1]) + 2:
            break
        blocks.pop()
    if not blocks:
        return None
    first, last = blocks[0][2], blocks[-1][3] - 1
    for _ in range(min(blocks[0][0], 2)):
        if first == 0 or seq.turn_break(first):
            break
        first -= 1
    for _ in range(min(m - blocks[-1][1], 2)):
        if last + 1 >= n or seq.turn_break(last + 1):
            break
        last += 1
    score = round(100.0 * sum(b[1] - b[0] for b in blocks) / m, 1)
    return (seq.starts[first], seq.ends[last]), score


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


@dataclass
class Corpus:
    """turns, sentences and transcripts of data/processed, with per-transcript documents."""

    turns: pd.DataFrame
    sentences: pd.DataFrame
    transcripts: pd.DataFrame | None = None
    raw_dir: Path | None = None
    _docs: dict[str, TranscriptDoc] = field(default_factory=dict, repr=False)
    _word_seqs: dict[tuple[str, str], WordSeq] = field(default_factory=dict, repr=False)
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

    def word_seq(self, transcript_id: str, source: str, *, key: str) -> WordSeq:
        """RETURNS (WordSeq): the words of a source text with their index (cached under key)."""
        if (transcript_id, key) not in self._word_seqs:
            self._word_seqs[(transcript_id, key)] = WordSeq.of(source)
        return self._word_seqs[(transcript_id, key)]

    def map_source_span(
        self, transcript_id: str, mapper: OffsetMapper, start: int, end: int
    ) -> list[tuple[int, int, int]]:
        """RETURNS (list): (turn_id, start_char, end_char) pieces of a source span."""
        span = mapper.map_span(start, end)
        if span is None:
            return []
        return self.doc(transcript_id).turn_spans(*span)

    def raw_path(self, transcript_id: str) -> Path | None:
        """RETURNS (Path | None): the raw transcript's file when it is a plain text file there."""
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
                return path
        return None

    def raw_text(self, transcript_id: str) -> str | None:
        """RETURNS (str | None): the raw transcript when it is a plain text file we can read."""
        path = self.raw_path(transcript_id)
        return None if path is None else path.read_text(encoding="utf-8-sig", errors="replace")


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


_TS_BLOCK = rf"[\[(]{TIMESTAMP}[\])]"
# A speaker label as QDA tools export it at the start of a line: "Maria (00:01:02):",
# "[00:01:02] Maria:", "Maria:", or a timestamp alone.
_EXPORT_LABEL_RE = re.compile(
    rf"""^[ \t]*(?P<before>{_TS_BLOCK}[ \t]*)?
    (?:(?P<name>[^\W\d_][\w.'’\-]*(?:[ \t][\w.'’\-]+){{0,3}})[ \t]*(?P<within>{_TS_BLOCK})?
    [ \t]*:(?=\s|$))?
    [ \t]*(?P<after>{_TS_BLOCK})?[ \t]*""",
    re.X,
)
_TIMESTAMP_ONLY_RE = re.compile(rf"^[ \t]*[\[(]?{TIMESTAMP}[\])]?[ \t]*$")


def strip_export_labels(quote: str) -> str:
    """Take out the speaker labels and timestamps a QDA tool puts into a passage spanning turns.

    A "Name:" opening a line counts as a label when a timestamp goes with it or when it opens a
    paragraph (the quote's first line or a line after a blank one): a line of a hard-wrapped
    turn that happens to hold a colon keeps its words.
    RETURNS (str): the quote without labels (line breaks kept).
    """
    lines = quote.splitlines()
    out = []
    paragraph_start = True
    for line in lines:
        if not line.strip():
            out.append(line)
            paragraph_start = True
            continue
        if _TIMESTAMP_ONLY_RE.match(line):
            out.append("")
            continue
        match = _EXPORT_LABEL_RE.match(line)
        timed = match is not None and any(match.group(g) for g in ("before", "within", "after"))
        if match is not None and (timed or (match.group("name") and paragraph_start)):
            line = line[match.end() :]
        out.append(line)
        paragraph_start = False
    return "\n".join(out)


FUZZY_MIN_SCORE = 75.0


@dataclass(frozen=True)
class QuoteMatch:
    """Where a quote was found: per occurrence its (turn_id, start_char, end_char) pieces; in
    which text (`text`, `text_raw`, `raw file`); how (`exact`: character for character,
    `normalised`: up to whitespace, case, quote style, punctuation and export labels, `fuzzy`:
    with words left out or changed, or "" when not found); and the score (100 unless fuzzy)."""

    occurrences: list[list[tuple[int, int, int]]]
    where: str = ""
    how: str = ""
    score: float = 0.0
    words_only: bool = False


def match_quote(
    corpus: Corpus,
    transcript_id: str,
    quote: str,
    *,
    turn_id: int | None = None,
    min_score: float = FUZZY_MIN_SCORE,
) -> QuoteMatch:
    """Find a quote in a transcript and map each occurrence onto turn pieces.

    Looked for in the cleaned text (with and without speaker labels), the words as spoken
    (text_raw) and the raw plain-text file: first as characters, then as words ignoring
    punctuation, each as written and then without export labels; the first text where it is
    found decides. Failing that, its words are aligned with each text (`fuzzy_find`) and the best
    alignment scoring at least `min_score` is taken. turn_id: keep only occurrences that touch
    this turn.
    RETURNS (QuoteMatch): the occurrences and how they were found.
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

    def pieces_of(i: int, source: str, spans: list[tuple[int, int]]) -> list:
        mapper = corpus.mapper(transcript_id, source, key=f"quote:{i}")
        occurrences = []
        for start, end in spans:
            pieces = corpus.map_source_span(transcript_id, mapper, start, end)
            touches = turn_id is None or any(p[0] == turn_id for p in pieces)
            if pieces and touches and pieces not in occurrences:
                occurrences.append(pieces)
        return occurrences

    stripped = strip_export_labels(quote)
    variants = [quote] if stripped == quote else [quote, stripped]
    for variant in variants:
        for pass_kind in ("text", "words"):
            for i, (where, source) in enumerate(candidates):
                spans, how = find_quote(variant, source)
                if how != pass_kind:
                    continue
                occurrences = pieces_of(i, source, spans)
                if occurrences:
                    exact = variant is quote and all(source[a:b] == quote.strip() for a, b in spans)
                    return QuoteMatch(
                        occurrences,
                        where=where,
                        how="exact" if exact else "normalised",
                        score=100.0,
                        words_only=pass_kind == "words",
                    )
    best: QuoteMatch | None = None
    for i, (where, source) in enumerate(candidates):
        found = fuzzy_find(stripped, corpus.word_seq(transcript_id, source, key=f"quote:{i}"))
        if found is None or found[1] < min_score or (best is not None and found[1] <= best.score):
            continue
        occurrences = pieces_of(i, source, [found[0]])
        if occurrences:
            best = QuoteMatch(occurrences, where=where, how="fuzzy", score=found[1])
    return best if best is not None else QuoteMatch([])


def locate_quote(
    corpus: Corpus, transcript_id: str, quote: str, *, turn_id: int | None = None
) -> tuple[list[list[tuple[int, int, int]]], str]:
    """Find a quote in a transcript (see `match_quote`).

    RETURNS (tuple[list, str]): per occurrence a list of (turn_id, start_char, end_char), and
        where it was found ("text", "text_raw", "raw file"; "+words" when punctuation was
        ignored, "+fuzzy" when words were left out or changed).
    """
    found = match_quote(corpus, transcript_id, quote, turn_id=turn_id)
    suffix = "+fuzzy" if found.how == "fuzzy" else "+words" if found.words_only else ""
    return found.occurrences, (found.where + suffix if found.occurrences else "")
