"""Readers: every transcript format -> raw speaker turns; bad files -> one clear error."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest

from qualcode.errors import QualcodeInputError
from qualcode.ingest.readers import (
    decode_bytes,
    detect_format,
    parse_text,
    parse_timestamp,
    read_docx,
    read_transcript,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
BAD = FIXTURES / "bad"


def speakers(turns):
    return [t.speaker for t in turns]


def make_docx(paragraphs: list[list[tuple[str, bool]]]) -> bytes:
    """A .docx whose paragraphs are lists of (run text, bold)."""
    document = docx.Document()
    document.add_heading("Interview 04", level=1)
    for runs in paragraphs:
        paragraph = document.add_paragraph()
        for text, bold in runs:
            paragraph.add_run(text).bold = bold
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:12:03", 723.0),
        ("0:03", 3.0),
        ("12:03", 723.0),
        ("1:02:03.500", 3723.5),
        ("00:00:01,25", 1.25),
    ],
)
def test_parse_timestamp(value, seconds):
    assert parse_timestamp(value) == seconds


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("plain_labels.txt", "text"),
        ("caps_timestamps.txt", "text"),
        ("bracket_timestamps.txt", "text"),
        ("padded_labels.txt", "text"),
        ("markdown_labels.md", "markdown"),
        ("otter_export.txt", "otter"),
        ("zoom_voice.vtt", "vtt"),
        ("teams_prefix.vtt", "vtt"),
        ("subrip.srt", "srt"),
        ("segments.json", "json"),
    ],
)
def test_detect_format(name, fmt):
    path = FIXTURES / name
    assert detect_format(path, path.read_text(encoding="utf-8")) == fmt


def test_detect_format_from_content_not_only_extension():
    vtt = (FIXTURES / "zoom_voice.vtt").read_text()
    assert detect_format("export.txt", vtt) == "vtt"
    assert detect_format("export.txt", (FIXTURES / "segments.json").read_text()) == "json"
    # a timestamp in brackets at the start is not JSON
    assert detect_format("x.txt", (FIXTURES / "bracket_timestamps.txt").read_text()) == "text"


def test_plain_labels_wrapped_turns_preamble_and_near_duplicate():
    transcript = read_transcript(FIXTURES / "plain_labels.txt")
    assert transcript.format == "text"
    turns = transcript.turns
    # the title and "Date:" preamble are skipped; "Particpant" merges into "Participant"
    assert speakers(turns) == ["Interviewer", "Participant"] * 4
    assert "spreadsheets, so I learned Python" in turns[1].text.replace("\n", " ")
    # "Note:" inside a turn is not a speaker
    assert "Note: the lab was small." in turns[1].text
    assert turns[3].text.startswith("A friend at Northwind")
    assert turns[3].line == 12
    assert len(transcript.warnings) == 1
    warning = transcript.warnings[0]
    assert "'Particpant'" in warning and "'Participant'" in warning and "line 12" in warning


def test_caps_labels_with_timestamps():
    turns = read_transcript(FIXTURES / "caps_timestamps.txt").turns
    assert speakers(turns) == ["JORDAN AVERY", "PRIYA RAMAN"] * 2
    assert [t.start_s for t in turns] == [2.0, 5.0, 14.0, 78.0]
    assert turns[0].text == "Hi, can you hear me okay?"
    assert all(t.end_s is None for t in turns)


def test_bracket_timestamp_labels_and_wrapped_continuation():
    turns = read_transcript(FIXTURES / "bracket_timestamps.txt").turns
    assert speakers(turns) == ["Jordan Avery", "Kwame Asante"] * 2
    assert [t.start_s for t in turns] == [2.0, 9.0, 31.0, 35.0]
    assert turns[1].text.split() == [
        "Through",
        "accounting,",
        "honestly.",
        "It",
        "was",
        "a",
        "slow",
        "move",
        "over",
        "several",
        "years.",
    ]


def test_labels_padded_with_spaces_and_tabs():
    turns = read_transcript(FIXTURES / "padded_labels.txt").turns
    assert speakers(turns) == ["Jordan Avery", "Lena Fischer"] * 2
    assert turns[1].text == "Physics, then data."


def test_markdown_bold_labels_and_escaped_timestamps():
    transcript = read_transcript(FIXTURES / "markdown_labels.md")
    turns = transcript.turns
    assert transcript.format == "markdown"
    assert speakers(turns) == ["Jordan Avery", "Elif Demir"] * 2
    assert [t.start_s for t in turns] == [5.0, 11.0, 100.0, 112.0]
    assert "*" not in turns[1].text and "\\" not in turns[1].text
    assert turns[1].text.split()[:5] == ["I'm", "a", "mathematician", "by", "training."]


def test_otter_export():
    transcript = read_transcript(FIXTURES / "otter_export.txt")
    assert transcript.format == "otter"
    turns = transcript.turns
    assert speakers(turns) == ["Jordan Avery", "Lena Fischer"] * 2
    assert [t.start_s for t in turns] == [3.0, 9.0, 75.0, 80.0]
    assert "Heidelberg" in turns[1].text
    assert "otter.ai" not in turns[-1].text


def test_zoom_vtt_voice_tags_merge_consecutive_cues():
    turns = read_transcript(FIXTURES / "zoom_voice.vtt").turns
    assert speakers(turns) == ["Jordan Avery", "Marcus Bell", "Jordan Avery", "Marcus Bell"]
    merged = turns[1]
    assert (merged.start_s, merged.end_s) == (8.262, 21.5)
    assert "engineer by training" in merged.text and "signal processing" in merged.text
    assert "<v" not in merged.text
    assert merged.line == 8


def test_teams_vtt_name_prefixes():
    turns = read_transcript(FIXTURES / "teams_prefix.vtt").turns
    assert speakers(turns) == ["Jordan Avery", "Hannah Cole"]
    assert turns[1].text.split("\n") == [
        "Marketing first, then a bootcamp.",
        "I liked the numbers more than the slogans.",
    ]
    assert (turns[1].start_s, turns[1].end_s) == (9.0, 15.0)


def test_subrip():
    turns = read_transcript(FIXTURES / "subrip.srt").turns
    assert speakers(turns) == ["Jordan Avery", "Tom Hendricks"]
    assert (turns[1].start_s, turns[1].end_s) == (6.1, 12.0)


def test_json_segments():
    turns = read_transcript(FIXTURES / "segments.json").turns
    assert speakers(turns) == ["Jordan Avery", "Raj Patel", "Jordan Avery"]
    assert (turns[1].start_s, turns[1].end_s) == (4.0, 8.25)
    assert turns[2].start_s is None


def test_docx_bold_run_speakers():
    data = make_docx(
        [
            [("Jordan Avery:", True), (" How did you get into data science?", False)],
            [("Sofia Marquez", True), (": Computer science, then a PhD.", False)],
            [("It was natural language processing.", False)],
            [("Jordan Avery: ", True), ("How do you get new clients?", False)],
        ]
    )
    turns = read_docx(data, path="x.docx")
    assert speakers(turns) == ["Jordan Avery", "Sofia Marquez", "Jordan Avery"]
    assert turns[1].text.split() == [
        "Computer",
        "science,",
        "then",
        "a",
        "PhD.",
        "It",
        "was",
        "natural",
        "language",
        "processing.",
    ]
    assert turns[1].line == 3  # paragraph number (the heading is paragraph 1)


def test_docx_name_prefix_speakers(tmp_path):
    data = make_docx(
        [
            [("Jordan Avery: How did you get into data science?", False)],
            [("Raj Patel: Economics.", False)],
            [("Jordan Avery: Thanks.", False)],
        ]
    )
    path = tmp_path / "interview.docx"
    path.write_bytes(data)
    transcript = read_transcript(path)
    assert transcript.format == "docx"
    assert speakers(transcript.turns) == ["Jordan Avery", "Raj Patel", "Jordan Avery"]


def test_decode_utf8_sig_and_cp1252_with_warning():
    text, encoding, warnings = decode_bytes("\ufeffA: hi\n".encode(), path="a.txt")
    assert (text, encoding, warnings) == ("A: hi\n", "utf-8-sig", [])
    data = "Interviewer: hi\nParticipant: caf\u00e9 \u201cquoted\u201d\n".encode("cp1252")
    text, encoding, warnings = decode_bytes(data, path="a.txt")
    assert encoding == "cp1252"
    assert "caf\u00e9 \u201cquoted\u201d" in text
    assert len(warnings) == 1 and "line 2" in warnings[0] and "cp1252" in warnings[0]


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        ("empty.txt", None, "empty file"),
        ("no_turns.txt", 1, "no speaker turns found; expected lines such as 'Name: text'"),
        ("truncated.vtt", 8, "truncated file"),
        ("bad_timing.vtt", 8, "malformed cue timing"),
        ("notes.xyz", None, "unknown extension '.xyz'"),
    ],
)
def test_bad_files_name_file_line_and_expectation(name, line, expected):
    with pytest.raises(QualcodeInputError) as info:
        read_transcript(BAD / name)
    err = info.value
    assert err.path is not None and err.path.name == name
    assert err.line == line
    assert expected in str(err)
    assert str(err).startswith(str(BAD / name))


def test_binary_file_is_bad_input(tmp_path):
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(QualcodeInputError, match="binary"):
        read_transcript(path)


def test_docx_that_is_not_a_zip(tmp_path):
    path = tmp_path / "fake.docx"
    path.write_text("Interviewer: hi")
    with pytest.raises(QualcodeInputError, match=r"not a Word \.docx"):
        read_transcript(path)


def test_vtt_without_header_and_cue_without_speaker():
    with pytest.raises(QualcodeInputError, match="WEBVTT header") as info:
        parse_text("1\n00:00:01.000 --> 00:00:02.000\nhi\n", fmt="vtt", path="a.vtt")
    assert info.value.line == 1
    with pytest.raises(QualcodeInputError, match="cue has no speaker") as info:
        parse_text(
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello there\n", fmt="vtt", path="a.vtt"
        )
    assert info.value.line == 3


def test_json_bad_item_names_the_item():
    with pytest.raises(QualcodeInputError, match="speaker") as info:
        parse_text(
            '[{"speaker": "A", "text": "hi"}, {"text": "no speaker"}]', fmt="json", path="a.json"
        )
    assert info.value.element == "item 1"
    with pytest.raises(QualcodeInputError, match="invalid JSON") as info:
        parse_text('[{"speaker": "A",\n "text": }]', fmt="json", path="a.json")
    assert info.value.line == 2


def test_speaker_numbers_are_different_people():
    text = "Speaker 1: Hello?\nSpeaker 2: Hi.\nSpeaker 1: How are you?\nSpeaker 2: Fine.\n"
    turns, warnings = parse_text(text)
    assert speakers(turns) == ["Speaker 1", "Speaker 2"] * 2
    assert warnings == []


def test_labels_differing_in_case_are_one_speaker():
    text = "Jordan: Hi?\nDANIEL: Hello.\nJordan: How?\nDaniel: Fine.\nJordan: Good.\nDaniel: Yes.\n"
    turns, _warnings = parse_text(text)
    assert speakers(turns) == ["Jordan", "Daniel"] * 3


# ---------------------------------------------------------------------------------------------
# hostile sizes and shapes


def test_a_turn_over_the_limit_names_file_and_turn(tmp_path: Path) -> None:
    from qualcode.config import LimitsParams

    path = tmp_path / "long.txt"
    path.write_text("Ann: Hello?\n\nBob: " + "word " * 300_000 + "\n", encoding="utf-8")
    with pytest.raises(QualcodeInputError, match=r"turn 2 .*max_turn_chars") as info:
        read_transcript(path)
    assert str(path) in str(info.value) and "line 3" in str(info.value)
    # a tighter limit from params.yml applies too
    with pytest.raises(QualcodeInputError, match="max_turn_chars"):
        parse_text("A: hello there\n", path="x.txt", limits=LimitsParams(max_turn_chars=5))


def test_a_file_over_the_limit_is_not_read(tmp_path: Path) -> None:
    from qualcode.config import LimitsParams

    path = tmp_path / "big.txt"
    path.write_bytes(b"A: hi\n" * 400_000)
    with pytest.raises(QualcodeInputError, match=r"max_file_mb \(1 MB\)"):
        read_transcript(path, limits=LimitsParams(max_file_mb=1))


def test_deeply_nested_json_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 1_000_000 + "]" * 1_000_000, encoding="utf-8")
    with pytest.raises(QualcodeInputError, match="nested too deeply") as info:
        read_transcript(path)
    assert str(path) in str(info.value)
    # a .txt that looks like deep JSON is not JSON, and no RecursionError escapes
    text = tmp_path / "deep.txt"
    text.write_text("[" * 1_000_000, encoding="utf-8")
    with pytest.raises(QualcodeInputError, match="no speaker turns"):
        read_transcript(text)


def test_too_many_speaker_labels_are_refused_quickly(tmp_path: Path) -> None:
    import time

    def name(i: int) -> str:
        return "".join(chr(ord("a") + (i // 26**k) % 26) for k in range(4)).title()

    path = tmp_path / "crowd.txt"
    path.write_text("".join(f"\n{name(i)}: words\n" for i in range(100_000)), encoding="utf-8")
    started = time.process_time()
    with pytest.raises(QualcodeInputError, match=r"99,999 different speaker labels.*max_speakers"):
        read_transcript(path)
    assert time.process_time() - started < 30


def test_docx_member_that_inflates_past_the_limit(tmp_path: Path) -> None:
    import zipfile

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b" " * (3 * 1024 * 1024))
    with pytest.raises(QualcodeInputError, match="word/document.xml.*max_file_mb"):
        read_docx(data.getvalue(), path="bomb.docx", max_bytes=1024 * 1024)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_decoded(tmp_path: Path, encoding: str) -> None:
    text = "Interviewer: How did you start?\n\nParticipant: Café work, then data.\n"
    path = tmp_path / "utf16.txt"
    path.write_bytes("\ufeff".encode(encoding) + text.encode(encoding))
    transcript = read_transcript(path)
    assert transcript.encoding == "utf-16"
    assert [t.text for t in transcript.turns][-1].startswith("Café work")


# decoding and marker lines


def test_entities_and_mojibake_are_decoded_in_every_reader():
    from qualcode.ingest.readers import fix_text, parse_text

    assert fix_text("I&#39;m at R&amp;D, cafÃ© owners") == "I'm at R&D, café owners"
    md, _ = parse_text("**Ann Lee:** I&#39;m fine &amp; you?\n\n**Bo:** ok\n", fmt="markdown")
    assert md[0].text == "I'm fine & you?"
    plain, _ = parse_text("Ann: It&#8217;s cafÃ© time\nBo: ok\nAnn: yes\nBo: no\n", fmt="text")
    assert plain[0].text == "It\u2019s café time"
    vtt, _ = parse_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ann>I&#39;m here\n", fmt="vtt")
    assert vtt[0].text == "I'm here"
    js, _ = parse_text('[{"speaker": "Ann", "text": "I&#39;m &quot;in&quot;"}]', fmt="json")
    assert js[0].text == 'I\'m "in"'


def test_a_break_marker_is_no_speaker():
    from qualcode.ingest.readers import parse_text

    text = "Ann: Hello there.\n\nBo: Hi.\n\nBreak: ten minutes\n\nAnn: We are back.\n"
    turns, _ = parse_text(text, fmt="text")
    assert [t.speaker for t in turns] == ["Ann", "Bo", "Ann"]
    assert turns[1].text.endswith("[Break: ten minutes]")
