"""`qualcode ingest`: tables, roles, sections, de-identification, incremental runs, bad input."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_study import FIXTURE
from typer.testing import CliRunner

from qualcode.cli import app
from qualcode.config import load_params
from qualcode.errors import QualcodeInputError
from qualcode.ingest.corpus import ingest_corpus, ingest_text
from qualcode.ingest.guide import match_section
from qualcode.schema import SENTENCES_COLUMNS, TRANSCRIPTS_COLUMNS, TURNS_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
PARAMS = load_params()

PARTICIPANTS = """\
transcript_id,pseudonym,participant_label,interviewer_label,background,main_niche
interview_a,P01,PRIYA RAMAN,Jordan Avery,Industrial Engineering,energy
interview_b,P02,Marcus Bell,Jordan Avery,EE,crypto
interview_c,P03,Elif Demir,Jordan Avery,Mathematics,llm_applications
"""
EXTRA = """\
Jordan Avery: Thanks, Daniel. How did you get into data science?

Daniel Okafor: Through OCR work at Bayfront Clinical Research in Baltimore, with
Margaret Lindqvist. Reach me at daniel.okafor@example.com or 410-555-0187.

Jordan Avery: How do you get new clients?

Daniel Okafor: Referrals. Margaret's team still sends me work.
"""
PLANTED = [
    "Priya",
    "Raman",
    "Alan Matsuda",
    "Marcus",
    "Bell",
    "Elif",
    "Demir",
    "Jordan",
    "Avery",
    "Izmir",
    "Rotterdam",
    "elif.demir@example.com",
    "013-9921",
]


def make_raw(root: Path) -> Path:
    raw = root / "raw"
    raw.mkdir(parents=True)
    shutil.copy(FIXTURES / "caps_timestamps.txt", raw / "interview_a.txt")
    shutil.copy(FIXTURES / "zoom_voice.vtt", raw / "interview_b.vtt")
    shutil.copy(FIXTURES / "markdown_labels.md", raw / "interview_c.md")
    (raw / "participants.csv").write_text(PARTICIPANTS, encoding="utf-8")
    (raw / "README.md").write_text("Not a transcript.\n", encoding="utf-8")
    return raw


# The demo's interview guide, from the tests' copy of the demo study.
GUIDE = FIXTURE / "config" / "interview_guide.yml"


def run(root: Path, **kwargs):
    return ingest_corpus(
        root / "raw",
        root / "processed",
        params=PARAMS,
        keys_dir=root / "keys",
        guide_path=GUIDE,
        progress=False,
        **kwargs,
    )


def tables(root: Path) -> dict[str, pd.DataFrame]:
    return {
        path.stem: pd.read_parquet(path) for path in sorted((root / "processed").glob("*.parquet"))
    }


def all_text(frames: dict[str, pd.DataFrame]) -> str:
    return "\n".join(df.astype(str).to_csv(index=False) for df in frames.values())


def survivors(text: str, planted: list[str]) -> list[str]:
    return [p for p in planted if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text)]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    make_raw(root)
    before = tree_digest(root / "raw")
    result = run(root)
    return root, result, tables(root), before


def test_tables_follow_the_contract(corpus):
    root, result, frames, _ = corpus
    assert result.processed == ["interview_a", "interview_b", "interview_c"]
    assert result.errors == [] and result.removed == []
    assert list(frames["transcripts"].columns) == TRANSCRIPTS_COLUMNS
    assert list(frames["turns"].columns)[: len(TURNS_COLUMNS)] == TURNS_COLUMNS
    assert list(frames["turns"].columns)[len(TURNS_COLUMNS) :] == [
        "n_annotations",
        "n_disfluencies",
        "n_pseudonyms",
    ]
    assert list(frames["sentences"].columns) == SENTENCES_COLUMNS
    transcripts = frames["transcripts"].set_index("transcript_id")
    assert transcripts["source_path"].to_dict() == {
        "interview_a": "interview_a.txt",
        "interview_b": "interview_b.vtt",
        "interview_c": "interview_c.md",
    }
    assert transcripts["format"].tolist() == ["text", "vtt", "markdown"]
    raw = root / "raw" / "interview_b.vtt"
    assert (
        transcripts.loc["interview_b", "source_sha256"]
        == hashlib.sha256(raw.read_bytes()).hexdigest()
    )
    turns = frames["turns"]
    assert turns.groupby("transcript_id").size().to_dict() == transcripts["n_turns"].to_dict()
    for name, keys in [
        ("turns", ["transcript_id", "turn_id"]),
        ("sentences", ["transcript_id", "turn_id", "sentence_id"]),
    ]:
        df = frames[name]
        assert df.equals(df.sort_values(keys).reset_index(drop=True))
    # sentence_id is 0-based within each turn
    first_ids = frames["sentences"].groupby(["transcript_id", "turn_id"])["sentence_id"].min()
    assert set(first_ids) == {0}


def test_speakers_roles_sections_times(corpus):
    _root, _result, frames, _ = corpus
    turns = frames["turns"]
    a = turns[turns.transcript_id == "interview_a"]
    assert a["speaker"].tolist() == ["Interviewer", "P01", "Interviewer", "P01"]
    assert a["role"].tolist() == ["interviewer", "participant"] * 2
    assert a["section"].tolist() == [None, None, "past", "past"]
    assert a["start_s"].tolist() == [2.0, 5.0, 14.0, 78.0]
    b = turns[turns.transcript_id == "interview_b"]
    assert b["speaker"].tolist() == ["Interviewer", "P02", "Interviewer", "P02"]
    assert b["section"].tolist() == ["past", "past", "present", "present"]
    assert b.iloc[1][["start_s", "end_s"]].tolist() == [8.262, 21.5]
    assert b.iloc[1]["n_disfluencies"] == 1
    assert a.iloc[2]["n_annotations"] == 1
    assert a.iloc[2]["text_raw"].startswith("[laughs] No problem.")
    assert a.iloc[2]["text"].startswith("No problem.")


def test_sentences_slice_the_turn_text(corpus):
    _root, _result, frames, _ = corpus
    turns = frames["turns"].set_index(["transcript_id", "turn_id"])["text"]
    for row in frames["sentences"].itertuples():
        assert turns[(row.transcript_id, row.turn_id)][row.start_char : row.end_char] == row.text
    assert len(frames["sentences"]) > len(frames["turns"])


def test_no_planted_name_survives_in_any_processed_table(corpus):
    root, _result, frames, _ = corpus
    assert set(frames) == {"transcripts", "turns", "sentences", "deid_summary", "deid_report"}
    text = all_text(frames)
    assert survivors(text, PLANTED) == []
    assert "[PERSON_" in text and "[EMAIL_1]" in text and "[PHONE_1]" in text
    summary = frames["deid_summary"]
    assert list(summary.columns) == ["transcript_id", "entity_type", "n_replaced", "n_distinct"]
    c = summary[summary.transcript_id == "interview_c"].set_index("entity_type")
    assert c.loc["EMAIL", "n_replaced"] == 1
    # the key and the cache (text before de-identification) live in the keys folder only
    assert (root / "keys" / "pseudonym_key.csv").exists()
    assert not any(p.name.startswith(".") or p.is_dir() for p in (root / "processed").iterdir())
    key = (root / "keys" / "pseudonym_key.csv").read_text()
    assert "Alan Matsuda" in key and "elif.demir@example.com" in key


def test_raw_folder_is_never_modified(corpus):
    root, _result, _frames, before = corpus
    assert tree_digest(root / "raw") == before


def test_same_inputs_give_the_same_bytes(corpus, tmp_path):
    root, _result, _frames, _ = corpus
    shutil.copytree(root / "keys", tmp_path / "keys")
    shutil.rmtree(tmp_path / "keys" / "ingest_cache")
    shutil.copytree(root / "raw", tmp_path / "raw")
    run(tmp_path)
    assert tree_digest(tmp_path / "processed") == tree_digest(root / "processed")


def test_incremental_runs(tmp_path):
    make_raw(tmp_path)
    first = run(tmp_path)
    assert len(first.processed) == 3
    text_before = tables(tmp_path)["turns"].set_index(["transcript_id", "turn_id"])["text"]

    again = run(tmp_path)
    assert again.processed == [] and again.skipped == ["interview_a", "interview_b", "interview_c"]

    (tmp_path / "raw" / "interview_d.txt").write_text(EXTRA, encoding="utf-8")
    added = run(tmp_path)
    assert added.processed == ["interview_d"]
    assert len(added.skipped) == 3
    frames = tables(tmp_path)
    d = frames["turns"][frames["turns"].transcript_id == "interview_d"]
    assert d["speaker"].iloc[0] == "Interviewer" and d["role"].iloc[1] == "participant"
    assert re.fullmatch(r"PERSON_\d+", d["speaker"].iloc[1])
    assert (
        survivors(all_text(frames), [*PLANTED, "Daniel", "Okafor", "Margaret", "Lindqvist", "0187"])
        == []
    )
    # earlier transcripts keep their pseudonyms
    now = frames["turns"].set_index(["transcript_id", "turn_id"])["text"]
    assert now.loc[text_before.index].equals(text_before)

    (tmp_path / "raw" / "interview_b.vtt").unlink()
    removed = run(tmp_path)
    assert removed.removed == ["interview_b"] and removed.processed == []
    frames = tables(tmp_path)
    for df in frames.values():
        assert "interview_b" not in set(df["transcript_id"])
    assert not (tmp_path / "keys" / "ingest_cache" / "interview_b.json").exists()

    # changed content is processed again
    path = tmp_path / "raw" / "interview_a.txt"
    path.write_text(path.read_text() + "\nJORDAN AVERY (00:02:00): Where is this going?\n")
    changed = run(tmp_path)
    assert changed.processed == ["interview_a"]
    turns = tables(tmp_path)["turns"]
    assert turns[turns.transcript_id == "interview_a"]["section"].iloc[-1] == "future"


def add_bad_files(raw: Path) -> None:
    for name in ["empty.txt", "truncated.vtt", "no_turns.txt", "notes.xyz"]:
        shutil.copy(FIXTURES / "bad" / name, raw / name)
    (raw / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00")


def test_bad_input_stops_everything_by_default(tmp_path):
    raw = make_raw(tmp_path)
    add_bad_files(raw)
    with pytest.raises(QualcodeInputError) as info:
        run(tmp_path)
    message = str(info.value)
    for name in ["empty.txt", "truncated.vtt", "no_turns.txt", "notes.xyz", "blob.txt"]:
        assert name in message
    assert "truncated.vtt, line 8" in message and "expected" in message
    assert not (tmp_path / "processed").exists() and not (tmp_path / "keys").exists()


def test_keep_going_processes_the_good_files(tmp_path):
    raw = make_raw(tmp_path)
    add_bad_files(raw)
    result = run(tmp_path, keep_going=True)
    assert result.processed == ["interview_a", "interview_b", "interview_c"]
    assert sorted(e.path.name for e in result.errors) == [
        "blob.txt",
        "empty.txt",
        "no_turns.txt",
        "notes.xyz",
        "truncated.vtt",
    ]
    assert set(tables(tmp_path)["transcripts"]["transcript_id"]) == {
        "interview_a",
        "interview_b",
        "interview_c",
    }


def test_cli_exit_codes_and_messages(tmp_path):
    raw = make_raw(tmp_path)
    args = [
        "ingest",
        "--raw",
        str(raw),
        "--out",
        str(tmp_path / "processed"),
        "--keys",
        str(tmp_path / "keys"),
    ]
    runner = CliRunner()
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "3 processed" in ok.output
    shutil.copy(FIXTURES / "bad" / "truncated.vtt", raw / "truncated.vtt")
    before = tree_digest(tmp_path / "processed")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1
    assert "truncated.vtt, line 8" in bad.output and "Traceback" not in bad.output
    assert tree_digest(tmp_path / "processed") == before
    going = runner.invoke(app, [*args, "--keep-going"])
    assert going.exit_code == 1
    assert "0 processed, 3 unchanged" in going.output and "truncated.vtt" in going.output


def test_roles_from_questions_without_participants_csv(tmp_path, caplog):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "chat.txt").write_text(
        "Sam: Hi! How did you get into data science?\n"
        "Alex: Long story. I was a chemist, and then I moved into analytics at a startup.\n"
        "Sam: How do you get new clients?\n"
        "Alex: Mostly referrals from old colleagues, and some conference talks.\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.INFO, logger="qualcode.ingest"):
        result = run(tmp_path)
    assert result.warnings == []
    turns = tables(tmp_path)["turns"]
    assert turns["role"].tolist() == ["interviewer", "participant"] * 2
    assert turns["speaker"].iloc[0] == "Interviewer"
    assert re.fullmatch(r"PERSON_\d+", turns["speaker"].iloc[1])
    assert "'Sam' is the interviewer" in caplog.text


def test_near_duplicate_speaker_is_merged_with_a_warning(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(FIXTURES / "plain_labels.txt", raw / "interview_x.txt")
    result = run(tmp_path)
    assert any("'Particpant' merged into 'Participant'" in w for w in result.warnings)
    turns = tables(tmp_path)["turns"]
    assert turns["role"].tolist() == ["interviewer", "participant"] * 4
    assert turns["section"].tolist()[-2:] == ["future", "future"]
    assert "Northwind Analytics" not in all_text(tables(tmp_path))


def test_ingest_text_adds_one_transcript(corpus, tmp_path):
    root, _result, _frames, _ = corpus
    shutil.copytree(root / "processed", tmp_path / "processed")
    shutil.copytree(root / "keys", tmp_path / "keys")
    result = ingest_text(
        "refi_source_1",
        EXTRA,
        out_dir=tmp_path / "processed",
        params=PARAMS,
        keys_dir=tmp_path / "keys",
        participants={
            "pseudonym": "P11",
            "participant_label": "Daniel Okafor",
            "interviewer_label": "Jordan Avery",
        },
    )
    assert result.processed == ["refi_source_1"]
    frames = tables(tmp_path)
    assert sorted(set(frames["transcripts"]["transcript_id"])) == [
        "interview_a",
        "interview_b",
        "interview_c",
        "refi_source_1",
    ]
    turns = frames["turns"][frames["turns"].transcript_id == "refi_source_1"]
    assert turns["speaker"].tolist() == ["Interviewer", "P11"] * 2
    assert (
        survivors(all_text(frames), [*PLANTED, "Daniel", "Okafor", "Margaret", "Lindqvist"]) == []
    )
    # the key only grows: every earlier assignment is kept
    old_key = (root / "keys" / "pseudonym_key.csv").read_text().splitlines()
    new_key = (tmp_path / "keys" / "pseudonym_key.csv").read_text().splitlines()
    assert new_key[: len(old_key)] == old_key and len(new_key) > len(old_key)


def test_match_section_is_fuzzy(demo_files):
    from qualcode.ingest.guide import load_guide

    questions = load_guide(demo_files.guide)
    assert (
        match_section("Great. So, to kick off: how did you get into data science?", questions, 70)
        == "past"
    )
    assert (
        match_section("And how do you get your new clients these days?", questions, 70) == "present"
    )
    assert match_section("So where do you see yourself in a few years?", questions, 70) == "future"
    assert match_section("Any funny client stories?", questions, 70) is None
    assert match_section("Where is this going.", questions, 70) is None  # not a question


NAMES = st.sampled_from(["Alan Matsuda", "Greg", "Columbus", "Ohio", "Meridian Logistics"])
WORDS = st.sampled_from(
    [
        "so",
        "I",
        "um",
        "the",
        "model",
        "was",
        "good.",
        "clients",
        "came",
        "--",
        "came",
        "in,",
        "uh,",
        "slowly?",
        "yes!",
        "[laughs]",
    ]
)


@st.composite
def turn_texts(draw) -> str:
    return " ".join(draw(st.lists(st.one_of(WORDS, WORDS, WORDS, NAMES), min_size=1, max_size=40)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(turn_texts(), min_size=1, max_size=3))
def test_sentence_offsets_slice_exactly_property(texts):
    body = "\n".join(f"{'Sam' if i % 2 == 0 else 'Alex'}: {text}" for i, text in enumerate(texts))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ingest_text(
            "t", body, out_dir=root / "out", params=PARAMS, keys_dir=root / "keys", guide_path=None
        )
        turns = pd.read_parquet(root / "out" / "turns.parquet").set_index("turn_id")["text"]
        sentences = pd.read_parquet(root / "out" / "sentences.parquet")
    for row in sentences.itertuples():
        assert turns[row.turn_id][row.start_char : row.end_char] == row.text
        assert row.text.strip() == row.text and row.text


@pytest.mark.slow
def test_demo_corpus(tmp_path, demo_files):
    """The demo transcripts (the tests' copy) are read without warnings and no planted
    identifier survives."""
    raw = demo_files.raw
    before = tree_digest(raw)
    result = ingest_corpus(
        raw,
        tmp_path / "processed",
        params=PARAMS,
        keys_dir=tmp_path / "keys",
        guide_path=demo_files.guide,
        progress=False,
    )
    assert tree_digest(raw) == before
    assert result.errors == [] and result.warnings == []
    assert len(result.processed) == 3
    frames = tables(tmp_path)
    people = pd.read_csv(raw / "participants.csv")
    planted = set()
    for label in [*people["participant_label"], *people["interviewer_label"]]:
        planted.update(label.split())
    raw_text = "\n".join(
        p.read_text(errors="ignore")
        for p in raw.iterdir()
        if p.suffix in {".txt", ".md", ".vtt", ".srt"}
    )
    planted.update(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", raw_text))
    planted.update(re.findall(r"\(?\d{3}\)?[ -]\d{3}[ -]\d{4}", raw_text))
    text = all_text(frames)
    assert survivors(text, sorted(planted)) == []
    turns = frames["turns"]
    assert set(turns["speaker"]) == {"Interviewer", "P01", "P02", "P05"}
    assert set(turns["section"].dropna()) == {"past", "present", "future"}
    assert turns.groupby("transcript_id")["section"].apply(lambda s: s.notna().mean()).min() > 0.9


def test_docx_and_cp1252_files_are_ingested(tmp_path):
    import docx

    raw = tmp_path / "raw"
    raw.mkdir()
    document = docx.Document()
    for speaker, text in [
        ("Jordan Avery:", " How did you get into data science?"),
        ("Sofia Marquez:", " Computer science, then a PhD with Helen Achterberg."),
    ]:
        paragraph = document.add_paragraph()
        paragraph.add_run(speaker).bold = True
        paragraph.add_run(text)
    document.save(raw / "interview_w.docx")
    text = (
        "Jordan Avery: Tea or coffee?\n\n"
        "Lena Fischer: I said \u201cblack coffee\u201d \u2013 thanks.\n"
    )
    (raw / "interview_x.txt").write_bytes(text.encode("cp1252"))
    result = run(tmp_path)
    assert result.processed == ["interview_w", "interview_x"]
    assert len(result.warnings) == 1 and "cp1252" in result.warnings[0]
    frames = tables(tmp_path)
    assert frames["transcripts"]["format"].tolist() == ["docx", "text"]
    turns = frames["turns"]
    assert turns["text"].iloc[3] == 'I said "black coffee" -- thanks.'
    assert turns["text_raw"].iloc[3] == "I said \u201cblack coffee\u201d \u2013 thanks."
    assert survivors(all_text(frames), ["Sofia", "Marquez", "Helen", "Achterberg", "Lena"]) == []


# ---------------------------------------------------------------------------------------------
# silent miscoding


def test_interviewer_and_one_unnamed_speaker_makes_that_speaker_the_participant(tmp_path, caplog):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "solo.txt").write_text(
        "Interviewer: How did you get into data science?\n"
        "Alex: I was a chemist, and then I moved into analytics at a startup.\n"
        "Interviewer: How do you get new clients?\n"
        "Alex: Mostly referrals from old colleagues.\n",
        encoding="utf-8",
    )
    (raw / "participants.csv").write_text(
        "transcript_id,pseudonym,participant_label,interviewer_label\n"
        "solo,P09,Someone Else,Interviewer\n",
        encoding="utf-8",
    )
    result = run(tmp_path)
    turns = tables(tmp_path)["turns"]
    assert turns["role"].tolist() == ["interviewer", "participant"] * 2
    assert set(turns.loc[turns["role"] == "participant", "speaker"]) == {"P09"}
    assert any(
        "'Alex' taken as the participant" in w and "Someone Else" in w for w in result.warnings
    )
    # without a participants.csv row: the same roles, the decision logged
    (raw / "participants.csv").unlink()
    with caplog.at_level(logging.INFO, logger="qualcode.ingest"):
        run(tmp_path)
    assert tables(tmp_path)["turns"]["role"].tolist() == ["interviewer", "participant"] * 2
    assert "'Alex' taken as the participant" in caplog.text


def test_interviewer_and_interviewee_are_two_speakers(tmp_path):
    """Labels alike in spelling but both frequent are two people, and each gets its own role,
    whether participants.csv names them in another case or not at all."""
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = []
    for i in range(4):
        lines += [f"Interviewer 1: What went wrong, part {i}?", f"Interviewee: A broken feed {i}."]
    (raw / "pair.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (raw / "participants.csv").write_text(
        "transcript_id,pseudonym,participant_label,interviewer_label\n"
        "pair,P03,interviewee,interviewer\n",
        encoding="utf-8",
    )
    result = run(tmp_path)
    assert not any("merged" in w or "no speaker" in w for w in result.warnings)
    turns = tables(tmp_path)["turns"]
    assert turns["role"].tolist() == ["interviewer", "participant"] * 4
    assert set(turns.loc[turns["role"] == "participant", "speaker"]) == {"P03"}
    (raw / "participants.csv").unlink()
    run(tmp_path)
    assert tables(tmp_path)["turns"]["role"].tolist() == ["interviewer", "participant"] * 4


def test_no_participant_found_is_a_warning(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "panel.txt").write_text(
        "Interviewer: How did you start?\nAlex: Chemistry.\nBo: Physics.\n"
        "Interviewer: And now?\nAlex: Analytics.\nBo: Forecasting.\n",
        encoding="utf-8",
    )
    result = run(tmp_path)
    assert any("no speaker is the participant" in w for w in result.warnings)


def test_keep_going_keeps_a_previously_good_transcript_that_became_unreadable(tmp_path):
    raw = make_raw(tmp_path)
    run(tmp_path)
    before = tables(tmp_path)["turns"]
    (raw / "interview_a.txt").write_bytes(b"")
    runner = CliRunner()
    args = ["ingest", "--raw", str(raw), "--out", str(tmp_path / "processed")]
    going = runner.invoke(app, [*args, "--keys", str(tmp_path / "keys"), "--keep-going"])
    assert going.exit_code == 1
    assert "kept the previous rows of interview_a" in going.output
    assert "interview_a.txt" in going.output and "Traceback" not in going.output
    after = tables(tmp_path)["turns"]
    pd.testing.assert_frame_equal(before, after)


# ---------------------------------------------------------------------------------------------
# raw data stays raw


def test_a_symlink_out_of_the_raw_folder_is_refused(tmp_path):
    raw = make_raw(tmp_path)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("Interviewer: Secret?\n\nParticipant: TOPSECRET.\n", encoding="utf-8")
    (raw / "linked.txt").symlink_to(outside)
    with pytest.raises(QualcodeInputError, match="symbolic link.*outside the raw folder") as info:
        run(tmp_path)
    assert "linked.txt" in str(info.value)
    assert not (tmp_path / "processed").exists()


def test_outputs_inside_the_raw_folder_are_refused(tmp_path):
    raw = make_raw(tmp_path)
    before = tree_digest(raw)
    runner = CliRunner()
    ingest = runner.invoke(app, ["ingest", "--raw", str(raw), "--out", str(raw / "processed")])
    assert ingest.exit_code == 2 and "inside the raw folder" in ingest.output
    export = runner.invoke(app, ["export", "csv", str(raw / "participants.csv"), "--raw", str(raw)])
    assert export.exit_code == 2 and "inside the raw folder" in export.output
    assert tree_digest(raw) == before


def test_a_blank_coder_name_is_a_usage_error(tmp_path):
    quotes = tmp_path / "quotes.csv"
    quotes.write_text("transcript_id,code,quote\nx,A,hello\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import-coding", str(quotes), "--coder", " "])
    assert result.exit_code == 2
    assert "expected a name" in result.output and "Traceback" not in result.output


def test_keys_folder_is_owner_only_and_tables_are_not(corpus):
    import stat

    root, _result, frames, _ = corpus
    keys = root / "keys"
    paths = [keys, *keys.rglob("*")]
    assert (keys / "ingest_cache").is_dir() and (keys / "deid_review.csv").is_file()
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    table = root / "processed" / "turns.parquet"
    assert stat.S_IMODE(table.stat().st_mode) == 0o644
    report = frames["deid_report"]
    assert list(report.columns[:7]) == [
        "transcript_id", "pseudonym", "entity_type", "found_by", "n_replaced", "n_left",
        "common_word",
    ]  # fmt: skip
    assert not report.astype(str).apply(lambda c: c.str.contains("Matsuda")).any().any()
