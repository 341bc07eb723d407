"""Transcript readers: one per format, each returning the speaker turns as found in the file.

Formats (`detect_format` picks one from the extension and the content):

- ``text``: plain text with speaker labels: ``Name: text``, ``NAME: text``,
  ``Name (00:12:03): text``, ``[00:12:03] Name: text``, labels padded with spaces or tabs, turns
  hard-wrapped over several lines;
- ``markdown``: the same with Markdown bold labels (``**Name:** text``) and escaped brackets
  (``\\[08:12\\]``);
- ``otter``: an Otter-style export: a ``Name  0:03`` line, the turn's text below it;
- ``vtt``: WebVTT from Zoom or Teams (``<v Name>`` voice tags or ``Name: `` prefixes);
  consecutive cues of one speaker merge into one turn that keeps the first start and last end;
- ``srt``: SubRip, speakers as ``Name: `` prefixes, merged like WebVTT;
- ``docx``: Word, the speaker as a bold run at the start of a paragraph or a ``Name:`` prefix;
- ``json``: a list of ``{"speaker", "text", "start"?, "end"?}`` (or an object holding it under
  ``turns``, ``segments`` or ``utterances``).

Every reader decodes the text first (`fix_text`): HTML entities (``&#39;``, ``&amp;``) and
mojibake (UTF-8 read as cp1252: ``Ã©``) are undone by ftfy, so that nothing downstream sees them.
A label that marks a moment rather than a speaker (``Break:``, ``Pause:``, ``[Break]``) opens no
turn: it becomes a bracketed annotation of the turn before it.
Otherwise a reader keeps the words as they are (line breaks included); `qualcode.ingest.cleaning`
cleans them. Bad input raises `QualcodeInputError` naming the file, the line (paragraph or item)
and what was expected.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import ftfy
from rapidfuzz import fuzz

from qualcode.config import LimitsParams
from qualcode.errors import QualcodeInputError

log = logging.getLogger(__name__)

FORMATS = ("text", "markdown", "otter", "vtt", "srt", "docx", "json")
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".vtt": "vtt",
    ".srt": "srt",
    ".docx": "docx",
    ".json": "json",
}

TIMESTAMP = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_TS_RE = re.compile(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?")
_NAME = r"[^\W\d_][\w.'’\-]*(?:[ \t][\w.'’\-]+){0,4}"
_LABEL_RE = re.compile(
    rf"""^[ \t]*
    (?:[\[(](?P<ts_before>{TIMESTAMP})[\])][ \t]*)?
    (?P<name>{_NAME})
    [ \t]*(?:[\[(](?P<ts_in>{TIMESTAMP})[\])])?
    [ \t]*:(?=\s|$)[ \t]*
    (?:[\[(](?P<ts_after>{TIMESTAMP})[\])][ \t]*)?
    (?P<text>.*)$""",
    re.X,
)
_OTTER_HEADER_RE = re.compile(rf"^(?P<name>{_NAME})[ \t]+(?P<ts>{TIMESTAMP})[ \t]*$")
_TIMESTAMP_LINE_RE = re.compile(rf"^[ \t]*[\[(]?(?P<ts>{TIMESTAMP})[\])]?[ \t]*$")
_OTTER_FOOTER_RE = re.compile(r"^\s*transcribed by\b", re.I)
_VTT_TS = r"(?:\d{1,2}:)?\d{2}:\d{2}\.\d{3}"
_SRT_TS = r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
_VTT_TIMING_RE = re.compile(rf"^\s*(?P<start>{_VTT_TS})\s+-->\s+(?P<end>{_VTT_TS})(?:\s+.*)?$")
_SRT_TIMING_RE = re.compile(rf"^\s*(?P<start>{_SRT_TS})\s*-->\s*(?P<end>{_SRT_TS})(?:\s+.*)?$")
_MD_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_MD_STRONG_RE = re.compile(r"(\*\*|__)(.+?)\1")
_MD_EM_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_MD_SKIP_RE = re.compile(r"^\s*(#{1,6}\s|(?:-{3,}|\*{3,}|_{3,})\s*$)")
# Labels that mark a moment of the recording, not a speaker ("Break: 10 minutes").
MARKER_LABELS = re.compile(
    r"^(?:break|short break|coffee break|pause|recording (?:paused|resumed|stopped|started)|"
    r"end(?: of (?:recording|interview|transcript))?|start of recording|silence|"
    r"transcriber(?:'s)? note|note to transcriber|interruption)$",
    re.I,
)
# ftfy: fix mojibake and odd characters, but keep quotes and line breaks as written; HTML
# entities are decoded by `html.unescape` (ftfy leaves them alone in text that holds tags).
_FTFY = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False, normalization="NFC")


@dataclass(frozen=True)
class RawTurn:
    """One speaker turn as found in a file: the label, times and words before any cleaning."""

    speaker: str
    text: str
    start_s: float | None = None
    end_s: float | None = None
    line: int | None = None


@dataclass(frozen=True)
class Transcript:
    """A transcript read from a file: its format, its turns and what the reader noticed."""

    format: str
    turns: list[RawTurn]
    warnings: list[str] = field(default_factory=list)
    encoding: str = "utf-8"


def parse_timestamp(value: str) -> float:
    """Seconds from ``h:mm:ss``, ``mm:ss`` or either with ``.mmm``/``,mmm``.

    RETURNS (float): the time in seconds.
    """
    match = _TS_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a timestamp: {value!r}")
    hours, minutes, seconds, millis = match.groups()
    total = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    if millis:
        total += int(millis.ljust(3, "0")) / 1000
    return round(float(total), 3)


# ---------------------------------------------------------------------------------------------
# bytes -> text


def fix_text(text: str, *, entities: bool = True) -> str:
    """Decode what a transcript's text should not hold: mojibake (ftfy) and, with `entities`,
    HTML entities (``I&#39;m`` -> ``I'm``, ``R&amp;D`` -> ``R&D``).

    RETURNS (str): the text.
    """
    text = ftfy.fix_text(text, _FTFY)
    if entities and "&" in text:
        text = html.unescape(text)
    return text


def decode_bytes(data: bytes, *, path: Path | str) -> tuple[str, str, list[str]]:
    """Decode a text file: UTF-8, then UTF-8 with a byte-order mark, then cp1252 (with a warning);
    UTF-16 when it starts with a UTF-16 byte-order mark.

    Empty and binary files are bad input.
    RETURNS (tuple): the text, the encoding used and the warnings.
    """
    if not data.strip():
        raise QualcodeInputError("empty file; expected a transcript", path=path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as err:
            raise QualcodeInputError(
                f"bytes that are not UTF-16 after a UTF-16 byte-order mark (byte {err.start})",
                path=path,
            ) from None
    if b"\x00" in data[:8192]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise QualcodeInputError(
            "binary data (NUL bytes); expected a text transcript", path=path, line=line
        )
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig", []
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise QualcodeInputError(
                "bytes that are not UTF-8 after a UTF-8 byte-order mark", path=path, line=line
            ) from None
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        first_bad = err.start
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as err:
        bad_line = data[: err.start].count(b"\n") + 1
        raise QualcodeInputError(
            "bytes that are neither UTF-8 nor cp1252; expected a text transcript",
            path=path,
            line=bad_line,
        ) from None
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if control > max(4, len(text) // 100):
        raise QualcodeInputError("binary data; expected a text transcript", path=path, line=line)
    warning = f"{path}, line {line}: not UTF-8 (byte {first_bad}); read as cp1252"
    return text, "cp1252", [warning]


# ---------------------------------------------------------------------------------------------
# detection


def detect_format(path: Path | str, text: str | None = None) -> str:
    """The transcript format from the extension, refined by the content.

    RETURNS (str): one of FORMATS.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise QualcodeInputError(
            f"unknown extension {ext or '(none)'!r}; "
            f"expected one of {', '.join(sorted(EXTENSIONS))}",
            path=path,
        )
    fmt = EXTENSIONS[ext]
    if fmt == "docx" or text is None:
        return fmt
    return detect_text_format(text, default=fmt)


def detect_text_format(text: str, *, default: str = "text") -> str:
    """The format of a transcript given as text (WebVTT, SubRip, JSON, Otter, Markdown or plain).

    RETURNS (str): one of FORMATS other than docx.
    """
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    lines = text.splitlines()
    if default == "srt" or (
        head[:1].isdigit() and any(_SRT_TIMING_RE.match(line) for line in lines[:5])
    ):
        return "srt"
    if default == "vtt":
        return "vtt"
    if default == "json" or (head[:1] in "[{" and _is_json(head)):
        return "json"
    otter = sum(1 for line in lines if _OTTER_HEADER_RE.match(line))
    labels = sum(1 for line in lines if _LABEL_RE.match(line))
    if otter >= 2 and otter > labels:
        return "otter"
    if default == "markdown" or re.search(r"^\s*(\*\*|__)[^*_\n]+?:?(\*\*|__)", text, re.M):
        return "markdown"
    return "text"


def _is_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list | dict)
    except (ValueError, RecursionError):
        return False


# ---------------------------------------------------------------------------------------------
# readers


def check_limits(turns: list[RawTurn], *, path: Path | str, limits: LimitsParams) -> None:
    """Refuse a turn longer than limits.max_turn_chars and more than limits.max_speakers labels.

    A longer turn would stop spaCy (nlp.max_length) or the cleaning far from the file's name;
    more labels would make comparing them pairwise slow.
    """
    for i, turn in enumerate(turns):
        if len(turn.text) > limits.max_turn_chars:
            raise QualcodeInputError(
                f"turn {i + 1} (speaker {turn.speaker[:40]!r}) has {len(turn.text):,} characters; "
                f"expected at most limits.max_turn_chars ({limits.max_turn_chars:,}): "
                "are the speaker labels missing?",
                path=path,
                line=turn.line,
            )
    speakers = {turn.speaker for turn in turns}
    if len(speakers) > limits.max_speakers:
        raise QualcodeInputError(
            f"{len(speakers):,} different speaker labels; expected at most "
            f"limits.max_speakers ({limits.max_speakers:,})",
            path=path,
        )


def read_file_bytes(path: Path, *, limits: LimitsParams) -> bytes:
    """RETURNS (bytes): the file, refused unread when larger than limits.max_file_mb."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise QualcodeInputError(
            f"file of {size:,} bytes; expected at most limits.max_file_mb "
            f"({limits.max_file_mb} MB)",
            path=path,
        )
    return path.read_bytes()


def read_transcript(
    path: Path | str,
    *,
    data: bytes | None = None,
    merge_threshold: int = 85,
    limits: LimitsParams | None = None,
) -> Transcript:
    """Read one transcript file (format detected from the extension and the content).

    limits: size limits (default: LimitsParams()); a file over limits.max_file_mb is not read.
    RETURNS (Transcript): the format, the raw turns and the warnings.
    """
    path = Path(path)
    limits = limits or LimitsParams()
    fmt = detect_format(path)
    if data is None:
        data = read_file_bytes(path, limits=limits)
    if fmt == "docx":
        turns = read_docx(data, path=path, max_bytes=limits.max_file_bytes)
        if not turns:
            raise QualcodeInputError(
                f"no speaker turns found; expected {_EXPECTED['docx']}", path=path
            )
        check_limits(turns, path=path, limits=limits)
        turns, warnings = merge_near_duplicate_speakers(turns, path=path, threshold=merge_threshold)
        return Transcript(format="docx", turns=turns, warnings=warnings)
    text, encoding, warnings = decode_bytes(data, path=path)
    fmt = detect_format(path, text)
    turns, more = parse_text(
        text, fmt=fmt, path=path, merge_threshold=merge_threshold, limits=limits
    )
    return Transcript(format=fmt, turns=turns, warnings=warnings + more, encoding=encoding)


def parse_text(
    text: str,
    *,
    fmt: str | None = None,
    path: Path | str = "<text>",
    merge_threshold: int = 85,
    limits: LimitsParams | None = None,
) -> tuple[list[RawTurn], list[str]]:
    """Parse a transcript given as text in any text format (detected when `fmt` is None).

    limits: size limits of a turn and of the number of speakers (default: LimitsParams()).
    RETURNS (tuple): the raw turns and the warnings (such as merged near-duplicate speakers).
    """
    fmt = fmt or detect_text_format(text)
    if fmt == "docx" or fmt not in FORMATS:
        raise QualcodeInputError(f"cannot parse {fmt!r} from text", path=path)
    text = text.lstrip("\ufeff")
    # Entities are decoded before parsing in line formats; in WebVTT, SubRip and JSON they are
    # part of the syntax (a cue's ``&lt;`` or a JSON string's ``&quot;``), decoded per turn after.
    in_syntax = fmt in {"vtt", "srt", "json"}
    text = fix_text(text, entities=not in_syntax)
    reader = {
        "text": read_labelled_lines,
        "markdown": read_markdown,
        "otter": read_otter,
        "vtt": read_vtt,
        "srt": read_srt,
        "json": read_json,
    }[fmt]
    turns = reader(text, path=path)
    if in_syntax:
        turns = [replace(t, speaker=fix_text(t.speaker), text=fix_text(t.text)) for t in turns]
    turns = fold_markers(turns, path=path)
    if not turns:
        raise QualcodeInputError(
            f"no speaker turns found; expected {_EXPECTED[fmt]}", path=path, line=1
        )
    check_limits(turns, path=path, limits=limits or LimitsParams())
    return merge_near_duplicate_speakers(turns, path=path, threshold=merge_threshold)


def fold_markers(turns: list[RawTurn], *, path: Path | str = "<text>") -> list[RawTurn]:
    """Turns whose label marks a moment (``Break``, ``Pause``; `MARKER_LABELS`) are no speakers:
    each becomes a bracketed annotation (``[Break: 10 minutes]``) at the end of the turn before,
    which cleaning removes from `text` and counts; one before any speaker is dropped.

    RETURNS (list[RawTurn]): the turns of real speakers.
    """
    out: list[RawTurn] = []
    for turn in turns:
        if not MARKER_LABELS.match(turn.speaker.strip()):
            out.append(turn)
            continue
        note = " ".join(f"{turn.speaker.strip()}: {turn.text.strip()}".split()).rstrip(": ")
        note = note.replace("[", "(").replace("]", ")")
        if out:
            out[-1] = replace(out[-1], text=f"{out[-1].text}\n[{note}]")
        else:
            log.debug("%s, line %s: marker %r before any speaker dropped", path, turn.line, note)
    return out


_EXPECTED = {
    "text": "lines such as 'Name: text' or '[00:12:03] Name: text'",
    "markdown": "lines such as '**Name:** text'",
    "otter": "a 'Name  0:03' line followed by the text",
    "vtt": "cues with '<v Name>' voice tags or 'Name: ' prefixes",
    "srt": "cues whose text starts with 'Name: '",
    "docx": "paragraphs starting with a bold speaker name or 'Name:'",
    "json": "a list of objects with 'speaker' and 'text'",
}


def _label_match(line: str) -> re.Match[str] | None:
    match = _LABEL_RE.match(line)
    if match is None:
        return None
    name = match["name"].strip()
    if name.lower() in {"http", "https", "note", "ps", "re"} or len(name) > 60:
        return None
    return match


def _first_time(match: re.Match[str]) -> float | None:
    for key in ("ts_before", "ts_in", "ts_after"):
        if match[key]:
            return parse_timestamp(match[key])
    return None


def read_labelled_lines(
    text: str | Sequence[str], *, path: Path | str = "<text>", unit: str = "line"
) -> list[RawTurn]:
    """Read ``Name: text`` transcripts (optionally timestamped), turns wrapped over several lines.

    A label opens a new turn when it starts a block (after a blank line), when it is used two
    times or more in the file, or when it is a near-duplicate of such a label. Lines before the
    first such label (a title, a date line) are a preamble and are skipped.
    RETURNS (list[RawTurn]): the turns in order.
    """
    lines = text.splitlines() if isinstance(text, str) else list(text)
    matches = [_label_match(line) for line in lines]
    counts = Counter(m["name"].strip().casefold() for m in matches if m is not None)
    confirmed = {name for name, n in counts.items() if n >= 2}
    if not confirmed:
        confirmed = {
            m["name"].strip().casefold()
            for i, m in enumerate(matches)
            if m is not None and (i == 0 or not lines[i - 1].strip())
        }

    def opens_turn(i: int, match: re.Match[str]) -> bool:
        name = match["name"].strip().casefold()
        if name in confirmed:
            return True
        near = any(_similar(name, other) for other in confirmed)
        block_start = i == 0 or not lines[i - 1].strip()
        return near or (block_start and started)

    turns: list[RawTurn] = []
    speaker: str | None = None
    start: float | None = None
    pending_start: float | None = None
    first_line = 0
    body: list[str] = []
    started = False

    def flush() -> None:
        if speaker is not None:
            turns.append(RawTurn(speaker, "\n".join(body).strip(), start, None, first_line))

    for i, (line, match) in enumerate(zip(lines, matches, strict=True)):
        if match is not None and opens_turn(i, match):
            flush()
            started = True
            speaker = match["name"].strip()
            start = _first_time(match)
            if start is None:
                start = pending_start
            pending_start = None
            first_line = i + 1
            body = [match["text"]]
            continue
        ts_only = _TIMESTAMP_LINE_RE.match(line)
        if ts_only:
            pending_start = parse_timestamp(ts_only["ts"])
            continue
        if speaker is None:
            if line.strip():
                log.debug("%s, %s %d: preamble skipped", path, unit, i + 1)
            continue
        body.append(line)
    flush()
    return turns


def markdown_to_lines(text: str) -> list[str]:
    """Plain lines from Markdown: escapes undone, bold/italic markers and headings removed.

    One output line per input line, so line numbers still point into the file.
    RETURNS (list[str]): the lines.
    """
    out = []
    for line in text.splitlines():
        if _MD_SKIP_RE.match(line):
            out.append("")
            continue
        line = re.sub(r"^\s*>\s?", "", line)
        line = _MD_ESCAPE_RE.sub(r"\1", line)
        line = _MD_STRONG_RE.sub(r"\2", line)
        line = _MD_EM_RE.sub(r"\1", line)
        line = re.sub(r"  +$", "", line)
        out.append(line)
    return out


def read_markdown(text: str, *, path: Path | str = "<text>") -> list[RawTurn]:
    """Read a Markdown transcript (``**Name:** text``, ``\\[08:12\\]`` timestamps).

    RETURNS (list[RawTurn]): the turns in order.
    """
    return read_labelled_lines(markdown_to_lines(text), path=path)


def read_otter(text: str, *, path: Path | str = "<text>") -> list[RawTurn]:
    """Read an Otter-style export: a ``Name  0:03`` line, then the turn's text below it.

    RETURNS (list[RawTurn]): the turns in order.
    """
    turns: list[RawTurn] = []
    speaker: str | None = None
    start: float | None = None
    first_line = 0
    body: list[str] = []
    for i, line in enumerate(text.splitlines()):
        header = _OTTER_HEADER_RE.match(line)
        if header:
            if speaker is not None:
                turns.append(RawTurn(speaker, "\n".join(body).strip(), start, None, first_line))
            speaker, start, first_line, body = (
                header["name"].strip(),
                parse_timestamp(header["ts"]),
                i + 1,
                [],
            )
        elif _OTTER_FOOTER_RE.match(line):
            continue
        elif speaker is not None:
            body.append(line)
    if speaker is not None:
        turns.append(RawTurn(speaker, "\n".join(body).strip(), start, None, first_line))
    return turns


def _check_cue_timings(
    lines: Sequence[str], *, pattern: re.Pattern[str], path: Path | str, expected: str
) -> list[tuple[int, float, float]]:
    """Every line with ``-->`` must be a cue timing; a timing must be followed by text.

    RETURNS (list): (1-based line, start, end) of each cue.
    """
    cues = []
    for i, line in enumerate(lines):
        if "-->" not in line:
            continue
        match = pattern.match(line)
        if match is None:
            raise QualcodeInputError(
                f"malformed cue timing {line.strip()!r}; expected {expected}", path=path, line=i + 1
            )
        start, end = parse_timestamp(match["start"]), parse_timestamp(match["end"])
        if end < start:
            raise QualcodeInputError("cue ends before it starts", path=path, line=i + 1)
        cues.append((i + 1, start, end))
    if cues:
        last = cues[-1][0]
        if not any(line.strip() for line in lines[last:]):
            raise QualcodeInputError(
                "truncated file: the last cue has no text; "
                "expected the cue's text after its timing",
                path=path,
                line=last,
            )
    return cues


def _speaker_prefix(text: str) -> tuple[str | None, str]:
    match = re.match(
        r"^\s*-?\s*(?:\[(?P<b>[^\]\d][^\]]{0,60})\]\s*|(?P<n>" + _NAME + r")[ \t]*:\s+)", text
    )
    if match is None:
        return None, text
    name = (match["b"] or match["n"]).strip()
    if name.lower() in {"http", "https", "laughs", "laughter", "inaudible", "crosstalk", "music"}:
        return None, text
    return name, text[match.end() :]


def _merge_cues(
    cues: Iterable[tuple[str | None, str, float, float, int]], *, path: Path | str, fmt: str
) -> list[RawTurn]:
    turns: list[RawTurn] = []
    for speaker, text, start, end, line in cues:
        if not text.strip():
            continue
        if speaker is None:
            if not turns:
                raise QualcodeInputError(
                    f"cue has no speaker; expected {_EXPECTED[fmt]}", path=path, line=line
                )
            speaker = turns[-1].speaker
        if turns and turns[-1].speaker == speaker:
            last = turns[-1]
            turns[-1] = replace(last, text=f"{last.text}\n{text.strip()}", end_s=end)
        else:
            turns.append(RawTurn(speaker, text.strip(), start, end, line))
    return turns


def read_vtt(text: str, *, path: Path | str = "<text>") -> list[RawTurn]:
    """Read WebVTT (Zoom, Teams): speakers from ``<v Name>`` voice tags or ``Name: `` prefixes.

    Consecutive cues of one speaker become one turn (first start, last end).
    RETURNS (list[RawTurn]): the turns in order.
    """
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    lines = text.splitlines()
    if not lines or not lines[0].startswith("WEBVTT"):
        raise QualcodeInputError("expected the WEBVTT header on the first line", path=path, line=1)
    timings = _check_cue_timings(
        lines, pattern=_VTT_TIMING_RE, path=path, expected="'00:00:01.000 --> 00:00:04.000'"
    )
    try:
        captions = webvtt.WebVTT.from_string(text).captions
    except (MalformedCaptionError, MalformedFileError) as err:
        raise QualcodeInputError(f"malformed WebVTT ({err})", path=path) from None
    if len(captions) != len(timings):
        raise QualcodeInputError(
            f"{len(timings)} cue timings but {len(captions)} readable cues; "
            "expected blank lines between cues",
            path=path,
        )

    def cues() -> Iterable[tuple[str | None, str, float, float, int]]:
        for caption, (line, start, end) in zip(captions, timings, strict=True):
            body = caption.text
            speaker = caption.voice
            if speaker is None:
                speaker, body = _speaker_prefix(body)
            yield speaker, body, start, end, line

    return _merge_cues(cues(), path=path, fmt="vtt")


def read_srt(text: str, *, path: Path | str = "<text>") -> list[RawTurn]:
    """Read SubRip: speakers from ``Name: `` (or ``[Name]``) prefixes; one speaker's cues merge.

    RETURNS (list[RawTurn]): the turns in order.
    """
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    lines = text.splitlines()
    timings = _check_cue_timings(
        lines, pattern=_SRT_TIMING_RE, path=path, expected="'00:00:01,000 --> 00:00:04,000'"
    )
    if not timings:
        raise QualcodeInputError("no cues; expected SubRip cue timings", path=path, line=1)
    try:
        captions = webvtt.WebVTT.from_buffer(io.StringIO(text), format="srt").captions
    except (MalformedCaptionError, MalformedFileError) as err:
        raise QualcodeInputError(f"malformed SubRip ({err})", path=path) from None
    if len(captions) != len(timings):
        raise QualcodeInputError(
            f"{len(timings)} cue timings but {len(captions)} readable cues; expected "
            "'index, timing, text' blocks separated by blank lines",
            path=path,
        )

    def cues() -> Iterable[tuple[str | None, str, float, float, int]]:
        for caption, (line, start, end) in zip(captions, timings, strict=True):
            speaker, body = _speaker_prefix(caption.text)
            yield speaker, body, start, end, line

    return _merge_cues(cues(), path=path, fmt="srt")


def read_json(text: str, *, path: Path | str = "<text>") -> list[RawTurn]:
    """Read JSON: a list of ``{"speaker", "text", "start"?, "end"?}`` (times in seconds or h:mm:ss).

    Consecutive items of one speaker become one turn.
    RETURNS (list[RawTurn]): the turns in order.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise QualcodeInputError(f"invalid JSON ({err.msg})", path=path, line=err.lineno) from None
    except RecursionError:
        raise QualcodeInputError(
            f"JSON nested too deeply; expected {_EXPECTED['json']}", path=path
        ) from None
    if isinstance(data, dict):
        for key in ("turns", "segments", "utterances"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise QualcodeInputError(f"expected {_EXPECTED['json']}", path=path, element="top level")

    def seconds(value: object, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise QualcodeInputError(
                "expected a time in seconds or 'h:mm:ss'", path=path, element=where
            )
        if isinstance(value, str):
            try:
                return parse_timestamp(value)
            except ValueError:
                raise QualcodeInputError(
                    f"expected a time in seconds or 'h:mm:ss', got {value!r}",
                    path=path,
                    element=where,
                ) from None
        return float(value)

    def cues() -> Iterable[tuple[str | None, str, float | None, float | None, int]]:
        for i, item in enumerate(data):
            where = f"item {i}"
            if not isinstance(item, dict):
                raise QualcodeInputError(
                    "expected an object with 'speaker' and 'text'", path=path, element=where
                )
            speaker, body = item.get("speaker"), item.get("text")
            if not isinstance(speaker, str) or not speaker.strip():
                raise QualcodeInputError(
                    "expected a non-empty 'speaker' text", path=path, element=where
                )
            if not isinstance(body, str):
                raise QualcodeInputError("expected a 'text' string", path=path, element=where)
            yield (
                speaker.strip(),
                body,
                seconds(item.get("start"), f"{where}.start"),
                seconds(item.get("end"), f"{where}.end"),
                i,
            )

    return _merge_cues(cues(), path=path, fmt="json")  # type: ignore[arg-type]


def read_docx(
    data: bytes, *, path: Path | str = "<docx>", max_bytes: int | None = None
) -> list[RawTurn]:
    """Read a Word transcript: the speaker as a bold run opening a paragraph, or a ``Name:`` prefix.

    `RawTurn.line` is the 1-based paragraph number. max_bytes: the most a member of the .docx (a
    zip) may hold once decompressed (default: limits.max_file_mb of LimitsParams()).
    RETURNS (list[RawTurn]): the turns in order.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if not data.strip():
        raise QualcodeInputError("empty file; expected a Word .docx transcript", path=path)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise QualcodeInputError(
            "not a Word .docx (zip) file; expected a .docx transcript", path=path
        )
    max_bytes = max_bytes or LimitsParams().max_file_bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.file_size > max_bytes:
                raise QualcodeInputError(
                    f"member of {info.file_size:,} bytes once decompressed; expected at most "
                    f"limits.max_file_mb ({max_bytes // (1024 * 1024)} MB)",
                    path=path,
                    element=info.filename,
                )
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise QualcodeInputError(
            f"unreadable .docx ({err}); expected a Word document", path=path
        ) from None
    lines: list[str] = []
    for paragraph in document.paragraphs:
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        if style.startswith(("Heading", "Title")):
            lines.append("")
            continue
        bold, rest, in_bold = [], [], True
        for run in paragraph.runs:
            if in_bold and (run.bold or (not run.text.strip() and bold)):
                bold.append(run.text)
            else:
                in_bold = False
                rest.append(run.text)
        label = "".join(bold).strip()
        body = "".join(rest) if label else paragraph.text
        if label and len(label.split()) <= 6:
            label = label.rstrip(":").rstrip()
            line = f"{label}: {body.lstrip().removeprefix(':').lstrip()}"
        else:
            line = paragraph.text
        # each paragraph is its own block: a blank line before it
        lines.append(line)
    with_blanks = []
    for line in lines:
        with_blanks.extend(["", line])
    fixed = [fix_text(line) for line in with_blanks]
    turns = read_labelled_lines(fixed, path=path, unit="paragraph")
    turns = fold_markers(turns, path=path)
    return [replace(t, line=t.line // 2 if t.line else None) for t in turns]


# ---------------------------------------------------------------------------------------------
# speakers


def _similar(a: str, b: str, threshold: int = 85) -> bool:
    a, b = a.casefold(), b.casefold()
    if a == b:
        return False
    if re.sub(r"\D", "", a) != re.sub(r"\D", "", b):
        return False  # "Speaker 1" and "Speaker 2" are two people
    return fuzz.ratio(a, b) >= threshold


def merge_near_duplicate_speakers(
    turns: list[RawTurn], *, path: Path | str = "<text>", threshold: int = 85
) -> tuple[list[RawTurn], list[str]]:
    """Merge a rare speaker label into a near-identical frequent one (``Particpant``).

    The rarer label joins the more frequent one (``Participant``) when it has at most a fifth of
    its turns (or at most two): two frequent labels are two speakers, however alike.

    Labels that differ only in case are the same speaker (the most frequent spelling is kept).
    RETURNS (tuple): the turns with merged labels, and one warning per merge.
    """
    counts = Counter(t.speaker for t in turns)
    by_fold: dict[str, str] = {}
    for label, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        by_fold.setdefault(label.casefold(), label)
    mapping = {label: by_fold[label.casefold()] for label in counts}
    fold_counts: Counter[str] = Counter()
    for label, n in counts.items():
        fold_counts[mapping[label]] += n
    ordered = sorted(fold_counts, key=lambda k: (-fold_counts[k], k))
    warnings = []
    for i, label in enumerate(ordered):
        for target in ordered[:i]:
            if mapping.get(target, target) != target:
                continue
            # only a rare label is a misspelling: "Interviewer" and "Interviewee", both
            # frequent, are two people
            rare = fold_counts[label] <= max(2, fold_counts[target] // 5)
            if rare and _similar(label, target, threshold):
                first = next(t.line for t in turns if t.speaker.casefold() == label.casefold())
                warnings.append(
                    f"{path}, line {first}: speaker label {label!r} merged into {target!r} "
                    "(near-duplicate)"
                )
                for key, value in mapping.items():
                    if value == label:
                        mapping[key] = target
                break
    merged = [replace(t, speaker=mapping[t.speaker]) for t in turns]
    return merged, warnings
