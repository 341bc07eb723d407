"""The rule coder: matching, one coding per unit and code, negation, units, cache, bad inputs."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from qualcode.cli import app
from qualcode.coding.codebook import load_codebook
from qualcode.coding.rules import build_coder, code_corpus, code_texts
from qualcode.config import CodingParams, Params
from qualcode.errors import QualcodeInputError
from qualcode.schema import (
    CODINGS_COLUMNS,
    CODINGS_MANIFEST_FILE,
    EXTRA_CODING_COLUMNS,
    SENTENCES_COLUMNS,
    TRANSCRIPTS_COLUMNS,
    TURNS_COLUMNS,
    write_table,
)

CODEBOOK = """\
version: 4
codes:
  - id: KEY_TAKEAWAYS
    label: Key takeaways
    definition: Advice.
    patterns:
      phrases: [my advice]
  - id: NICHE
    label: Find a niche
    parent: KEY_TAKEAWAYS
    definition: Specialising.
    patterns:
      phrases: [niche, specialize]
      tokens:
        - [{LEMMA: Focus}, {LOWER: "ON"}]
  - id: NICHE_AREAS
    label: Niche areas
    definition: Industries.
  - id: NICHE_ENERGY
    label: Energy
    parent: NICHE_AREAS
    definition: Energy clients.
    patterns:
      phrases: [energy, solar]
  - id: ACQ_REFERRALS
    label: Referrals
    definition: Referrals.
    patterns:
      phrases: [referral, word of mouth]
"""

SENTENCE_RE = re.compile(r"[^.?!]+[.?!]?")


def make_processed(folder: Path, transcripts: dict[str, list[tuple[str, str]]]) -> Path:
    """Write transcripts, turns and sentences tables for (role, text) turns."""
    folder.mkdir(parents=True, exist_ok=True)
    turns, sentences, meta = [], [], []
    for tid, items in transcripts.items():
        for turn_id, (role, text) in enumerate(items):
            turns.append(
                {
                    "transcript_id": tid,
                    "turn_id": turn_id,
                    "speaker": "P" if role == "participant" else "I",
                    "role": role,
                    "section": None,
                    "start_s": None,
                    "end_s": None,
                    "text_raw": text,
                    "text": text,
                }
            )
            sid = 0
            for m in SENTENCE_RE.finditer(text):
                start = m.start() + len(m.group()) - len(m.group().lstrip())
                end = m.end()
                if not text[start:end].strip():
                    continue
                sentences.append(
                    {
                        "transcript_id": tid,
                        "turn_id": turn_id,
                        "sentence_id": sid,
                        "start_char": start,
                        "end_char": end,
                        "text": text[start:end],
                    }
                )
                sid += 1
        meta.append(
            {
                "transcript_id": tid,
                "source_path": f"{tid}.txt",
                "source_sha256": "0" * 64,
                "format": "txt",
                "n_turns": len(items),
                "n_words": sum(len(t.split()) for _, t in items),
            }
        )
    write_table(pd.DataFrame(meta), folder / "transcripts.parquet", columns=TRANSCRIPTS_COLUMNS)
    write_table(pd.DataFrame(turns), folder / "turns.parquet", columns=TURNS_COLUMNS)
    write_table(pd.DataFrame(sentences), folder / "sentences.parquet", columns=SENTENCES_COLUMNS)
    return folder


CORPUS = {
    "t1": [
        ("interviewer", "Do you have a niche? Tell me about energy."),
        (
            "participant",
            "I specialize in energy. My niche is solar, a niche I love. "
            "I never had a niche before. Referrals bring the rest.",
        ),
    ],
    "t2": [
        ("interviewer", "How do you get clients?"),
        ("participant", "Word of mouth, mostly. My advice is simple. My advice: find a niche."),
    ],
}


@pytest.fixture(scope="module")
def codebook_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cb") / "codebook.yml"
    path.write_text(CODEBOOK, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def coder(codebook_path):
    return build_coder(load_codebook(codebook_path))


@pytest.fixture()
def processed(tmp_path) -> Path:
    return make_processed(tmp_path / "processed", CORPUS)


def run(processed, codebook_path, coder=None, **coding):
    params = Params(coding=replace(CodingParams(), **coding))
    return code_corpus(processed, codebook_path, params=params, nlp=coder)


def test_codings_table_contract(processed, codebook_path, coder):
    result = run(processed, codebook_path, coder)
    codings = pd.read_parquet(result.codings_path)
    assert list(codings.columns) == CODINGS_COLUMNS + EXTRA_CODING_COLUMNS
    assert set(codings["coder"]) == {"rules"}
    assert set(codings["codebook_version"]) == {4}
    assert set(codings["score"]) == {1.0}
    turns = pd.read_parquet(processed / "turns.parquet").set_index(["transcript_id", "turn_id"])
    for row in codings.itertuples():
        turn_text = turns.loc[(row.transcript_id, row.turn_id), "text"]
        assert turn_text[row.start_char : row.end_char] == row.text
        assert turn_text[row.match_start : row.match_end] == row.matched
        assert row.matched.lower() in row.text.lower()
        assert row.rule_id.startswith(f"{row.code_id}:")


def test_interviewer_turns_are_not_coded(processed, codebook_path, coder):
    codings = run(processed, codebook_path, coder).codings
    roles = pd.read_parquet(processed / "turns.parquet").set_index(["transcript_id", "turn_id"])
    assert len(codings)
    for row in codings.itertuples():
        assert roles.loc[(row.transcript_id, row.turn_id), "role"] == "participant"


def test_one_coding_per_sentence_and_code(processed, codebook_path, coder):
    codings = run(processed, codebook_path, coder).codings
    assert not codings.duplicated(["transcript_id", "turn_id", "sentence_id", "code_id"]).any()
    # "My niche is solar, a niche I love.": NICHE once, from the first match
    row = codings[(codings.transcript_id == "t1") & (codings.sentence_id == 1)]
    niche = row[row.code_id == "NICHE"].iloc[0]
    assert niche.matched == "niche"
    assert niche.rule_id == "NICHE:phrase:niche"
    assert niche.match_start == niche.start_char + niche.text.index("niche")
    assert set(row.code_id) == {"NICHE", "NICHE_ENERGY"}


def test_lemma_and_case_insensitive_matching(codebook_path, coder):
    codebook = load_codebook(codebook_path)
    texts = [
        "Niches are everything, a NICHE is all.",
        "I specialized early.",
        "We are Focusing on batteries.",
        "Most came through Word Of Mouth.",
        "I like cheese.",
    ]
    codings = code_texts(texts, coder, codebook)
    got = {i: set(codings.loc[codings.turn_id == i, "code_id"]) for i in range(len(texts))}
    assert got == {0: {"NICHE"}, 1: {"NICHE"}, 2: {"NICHE"}, 3: {"ACQ_REFERRALS"}, 4: set()}
    focus = codings[codings.turn_id == 2].iloc[0]
    assert focus.rule_id == "NICHE:tokens[0]"
    assert focus.matched == "Focusing on"


def test_negated_and_hypothetical_mentions_are_flagged_not_dropped(codebook_path, coder):
    codebook = load_codebook(codebook_path)
    texts = [
        "I never had a niche.",
        "I don't have a niche.",
        "If I had a niche, I would charge more.",
        "I have a niche.",
        "There was no referral at all.",
    ]
    codings = code_texts(texts, coder, codebook).set_index("turn_id")
    assert list(codings.index) == [0, 1, 2, 3, 4]
    assert list(codings["negated"]) == [True, True, True, False, True]
    assert list(codings["cue"]) == ["never", "n't", "If", None, "no"]


def test_parent_left_out_when_a_child_is_coded(processed, codebook_path, coder):
    codings = run(processed, codebook_path, coder).codings
    t2 = codings[codings.transcript_id == "t2"].set_index("sentence_id")
    # "My advice is simple." -> the parent; "My advice: find a niche." -> only the child
    assert t2.loc[1, "code_id"] == "KEY_TAKEAWAYS"
    assert list(codings[(codings.transcript_id == "t2") & (codings.sentence_id == 2)].code_id) == [
        "NICHE"
    ]


def test_unit_turn(processed, codebook_path, coder):
    result = run(processed, codebook_path, coder, unit="turn")
    codings = result.codings
    assert result.unit == "turn"
    assert codings["sentence_id"].isna().all()
    assert not codings.duplicated(["transcript_id", "turn_id", "code_id"]).any()
    turns = pd.read_parquet(processed / "turns.parquet").set_index(["transcript_id", "turn_id"])
    for row in codings.itertuples():
        text = turns.loc[(row.transcript_id, row.turn_id), "text"]
        assert (row.start_char, row.end_char, row.text) == (0, len(text), text)
    t1 = codings[codings.transcript_id == "t1"]
    assert set(t1.code_id) == {"NICHE", "NICHE_ENERGY", "ACQ_REFERRALS"}


def test_incremental_cache(tmp_path, codebook_path, coder):
    processed = make_processed(tmp_path / "p", CORPUS)
    first = run(processed, codebook_path, coder)
    assert first.coded == ["t1", "t2"] and first.cached == []
    codings_bytes = first.codings_path.read_bytes()
    assert (processed / CODINGS_MANIFEST_FILE).exists()

    again = run(processed, codebook_path, coder)
    assert again.coded == [] and again.cached == ["t1", "t2"]
    assert again.codings_path.read_bytes() == codings_bytes

    # adding a transcript codes that transcript only
    bigger = dict(CORPUS, t3=[("participant", "Energy is my niche.")])
    make_processed(processed, bigger)
    added = run(processed, codebook_path, coder)
    assert added.coded == ["t3"] and added.cached == ["t1", "t2"]
    assert set(added.codings.transcript_id) == {"t1", "t2", "t3"}

    # a changed transcript is recoded, the others are kept
    changed = dict(bigger, t2=[("participant", "No clients from referrals yet.")])
    make_processed(processed, changed)
    result = run(processed, codebook_path, coder)
    assert result.coded == ["t2"]
    assert list(result.codings[result.codings.transcript_id == "t2"].code_id) == ["ACQ_REFERRALS"]

    # a changed codebook recodes everything
    other = tmp_path / "codebook.yml"
    other.write_text(CODEBOOK.replace("version: 4", "version: 5"), encoding="utf-8")
    recoded = run(processed, other, build_coder(load_codebook(other)))
    assert recoded.coded == ["t1", "t2", "t3"]
    assert set(recoded.codings.codebook_version) == {5}

    # a changed unit of coding recodes everything
    assert run(processed, other, None, unit="turn").coded == ["t1", "t2", "t3"]


def test_cache_not_trusted_when_outputs_were_touched(tmp_path, codebook_path, coder):
    processed = make_processed(tmp_path / "p", CORPUS)
    run(processed, codebook_path, coder)
    (processed / "codings.parquet").unlink()
    assert run(processed, codebook_path, coder).coded == ["t1", "t2"]


def test_same_inputs_same_bytes(tmp_path, codebook_path, coder):
    a = run(make_processed(tmp_path / "a", CORPUS), codebook_path, coder)
    b = run(make_processed(tmp_path / "b", CORPUS), codebook_path, coder)
    assert a.codings_path.read_bytes() == b.codings_path.read_bytes()
    assert a.quantities_path.read_bytes() == b.quantities_path.read_bytes()


def test_empty_corpus_writes_empty_tables(tmp_path, codebook_path, coder):
    processed = make_processed(tmp_path / "p", {"t1": [("interviewer", "Any niche?")]})
    result = run(processed, codebook_path, coder)
    codings = pd.read_parquet(result.codings_path)
    assert codings.empty
    assert list(codings.columns) == CODINGS_COLUMNS + EXTRA_CODING_COLUMNS


def test_sentence_offsets_are_checked(processed, codebook_path, coder):
    sentences = pd.read_parquet(processed / "sentences.parquet")
    sentences.loc[3, "start_char"] += 2
    write_table(sentences, processed / "sentences.parquet", columns=SENTENCES_COLUMNS)
    with pytest.raises(QualcodeInputError, match=r"sentences.parquet.*turns.text\[start_char"):
        run(processed, codebook_path, coder)


def test_missing_tables_and_columns(tmp_path, processed, codebook_path, coder):
    with pytest.raises(QualcodeInputError, match="turns.parquet: table not found"):
        run(tmp_path / "empty", codebook_path, coder)
    turns = pd.read_parquet(processed / "turns.parquet").drop(columns=["role"])
    write_table(turns, processed / "turns.parquet")
    with pytest.raises(QualcodeInputError, match="turns.parquet: expected columns role"):
        run(processed, codebook_path, coder)


def test_failed_run_keeps_previous_outputs(processed, codebook_path, coder, tmp_path):
    result = run(processed, codebook_path, coder)
    before = result.codings_path.read_bytes()
    bad = tmp_path / "bad.yml"
    bad.write_text(CODEBOOK.replace("parent: NICHE_AREAS", "parent: NOPE"), encoding="utf-8")
    with pytest.raises(QualcodeInputError, match="code NICHE_ENERGY"):
        run(processed, bad, None)
    assert result.codings_path.read_bytes() == before


def test_cli_code(processed, codebook_path, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        app, ["code", "--processed", str(processed), "--codebook", str(codebook_path)]
    )
    assert ok.exit_code == 0, ok.output
    assert "coded 2 transcript(s), 0 unchanged" in ok.output
    assert (processed / "codings.parquet").exists()
    bad = tmp_path / "bad.yml"
    bad.write_text(textwrap.dedent(CODEBOOK).replace("id: ACQ_REFERRALS", "id: NICHE"))
    out = runner.invoke(app, ["code", "--processed", str(processed), "--codebook", str(bad)])
    assert out.exit_code == 1
    assert "code NICHE" in out.output and "duplicate id" in out.output
    assert "Traceback" not in out.output


# ---------------------------------------------------------------- the demo codebook


@pytest.fixture(scope="module")
def demo_codebook(demo_files):
    return load_codebook(demo_files.codebook)


@pytest.fixture(scope="module")
def demo_coder(demo_codebook):
    return build_coder(demo_codebook)


def test_demo_codebook_codes_its_own_examples(demo_coder, demo_codebook):
    """Every example in the codebook gets its code (or a code below it) from the rules."""
    codebook = demo_codebook
    for code in codebook:
        codings = code_texts(list(code.examples), demo_coder, codebook)
        for i, example in enumerate(code.examples):
            got = set(codings.loc[codings.turn_id == i, "code_id"])
            assert any(c == code.id or code.id in codebook.ancestors(c) for c in got), (
                code.id,
                example,
                got,
            )


def test_demo_codebook_negation(demo_coder, demo_codebook):
    codebook = demo_codebook
    codings = code_texts(
        ["I never had a niche.", "I don't post on LinkedIn.", "I post on LinkedIn."],
        demo_coder,
        codebook,
    )
    flags = codings.groupby("turn_id")["negated"].all().to_dict()
    assert flags == {0: True, 1: True, 2: False}


# ---------------------------------------------------------------- the anchored matcher

ANCHOR_PATTERNS = [
    [{"LEMMA": "referral"}],
    [{"LOWER": {"NOT_IN": ["of"]}}, {"LOWER": {"IN": ["course", "courses"]}}],
    [{"LOWER": "i"}, {"IS_ALPHA": True, "OP": "?"}, {"LEMMA": "post"}],
    [{"LEMMA": "client", "OP": "?"}, {"LOWER": "work"}],
    [{"LIKE_NUM": True}, {"LOWER": {"IN": ["hours", "hrs"]}}],
    [{"IS_ALPHA": True, "OP": "+"}, {"LEMMA": {"NOT_IN": ["be"]}}],
    [{"LEMMA": {"IN": ["niche", "specialty"]}, "OP": "!"}, {"LOWER": "only"}],
]
ANCHOR_TEXTS = [
    "Most of my work comes from referrals.",
    "I sell courses now, and a course of mine did well.",
    "I post every week. I usually post on weekends.",
    "Client work is ten hours a week, 10 hrs at most.",
    "Energy only, that is my niche only.",
    "",
]


def test_anchored_matcher_finds_what_spacy_matcher_finds(nlp):
    from spacy.matcher import Matcher

    from qualcode.coding.matcher import AnchoredMatcher

    plain, anchored = Matcher(nlp.vocab), AnchoredMatcher(nlp.vocab)
    for i, pattern in enumerate(ANCHOR_PATTERNS):
        plain.add(f"P{i % 3}", [pattern])
        anchored.add(f"P{i % 3}", [pattern])
    assert AnchoredMatcher.anchors(ANCHOR_PATTERNS[0]) == {("LEMMA", "referral")}
    # a stop word is a poorer anchor than a content word; an optional token is none
    assert AnchoredMatcher.anchors(ANCHOR_PATTERNS[2]) == {("LEMMA", "post")}
    assert AnchoredMatcher.anchors(ANCHOR_PATTERNS[3]) == {("LOWER", "work")}
    assert AnchoredMatcher.anchors(ANCHOR_PATTERNS[5]) is None
    for doc in nlp.pipe(ANCHOR_TEXTS):
        assert sorted(anchored(doc)) == sorted(set(plain(doc))), doc.text
    assert len(anchored) == 3 and "P1" in anchored
    anchored.remove("P1")
    plain.remove("P1")
    assert "P1" not in anchored
    for doc in nlp.pipe(ANCHOR_TEXTS):
        assert sorted(anchored(doc)) == sorted(set(plain(doc))), doc.text
