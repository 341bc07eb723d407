"""Tests for the simulated review loop (qualcode.learned.simulate): passages from sentence coding,
the simulated person's answers, the held-out kappa, and the loop itself on the synthetic study of
test_learned."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_learned import _params, _study

from qualcode import schema
from qualcode.human.csv_import import import_csv
from qualcode.learned.data import read_sources
from qualcode.learned.simulate import (
    LoopStudy,
    answer,
    every_code,
    held_out_scores,
    random_sentences,
    review_loop,
    sentence_yes,
    widen_to_turns,
)


def _sentences() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transcript_id": ["a", "a", "a", "a", "b"],
            "turn_id": [1, 1, 1, 3, 1],
            "sentence_id": [0, 1, 2, 0, 0],
            "start_char": [0, 10, 20, 0, 0],
            "end_char": [9, 19, 29, 9, 9],
            "text": ["one two x", "three fou", "five six ", "seven eig", "nine ten "],
        }
    )


def _coding(rows: list[tuple[str, str, int, int, str]]) -> pd.DataFrame:
    """Human coding rows (coder, transcript, turn, sentence, code) on `_sentences`."""
    sentences = _sentences().set_index(["transcript_id", "turn_id", "sentence_id"])
    frame = pd.DataFrame(
        [
            {
                "transcript_id": t,
                "turn_id": k,
                "sentence_id": s,
                "code_id": c,
                "start_char": int(sentences.loc[(t, k, s), "start_char"]),
                "end_char": int(sentences.loc[(t, k, s), "end_char"]),
                "text": sentences.loc[(t, k, s), "text"],
                "coder": coder,
                "rule_id": None,
                "score": np.nan,
                "codebook_version": 1,
                "selection_id": f"{t}{k}{s}{c}",
                "source": "x.csv",
            }
            for coder, t, k, s, c in rows
        ]
    )
    return schema.typed_codings(frame, schema.HUMAN_EXTRA_COLUMNS, human=True)


def test_widen_to_turns_codes_every_sentence_of_a_coded_turn() -> None:
    human = _coding(
        [("human:ann", "a", 1, 1, "X"), ("human:ann", "a", 1, 2, "X"), ("human:bo", "a", 3, 0, "Y")]
    )
    wide = widen_to_turns(human, _sentences())
    ann = sentence_yes(wide, _sentences(), "human:ann")
    # two sentences of turn 1 coded X: the whole turn (3 sentences) carries it, as one selection
    assert ann == {("a", 1, 0, "X"), ("a", 1, 1, "X"), ("a", 1, 2, "X")}
    assert wide.loc[wide["coder"] == "human:ann", "selection_id"].nunique() == 1
    assert sentence_yes(wide, _sentences(), "human:bo") == {("a", 3, 0, "Y")}
    first = wide[(wide["coder"] == "human:ann") & (wide["sentence_id"] == 0)].iloc[0]
    assert (first["start_char"], first["end_char"], first["text"]) == (0, 9, "one two x")
    assert first["source"] == "x.csv"


def test_the_simulated_person_answers_from_their_coding() -> None:
    yes = {("a", 1, 0, "X")}
    batch = pd.DataFrame(
        {"decision": "", "transcript_id": ["a", "a", "b"], "turn_id": [1, 1, 1],
         "sentence_id": [0, 0, 0], "code_id": ["X", "Y", "X"], "text": "t"}
    )  # fmt: skip
    assert answer(batch, yes)["decision"].tolist() == ["accept", "reject", "reject"]
    full = every_code(batch, ["X", "Y", "Z"])
    # two sentences, every code of each
    assert len(full) == 6 and full["code_id"].tolist() == ["X", "Y", "Z"] * 2


def test_random_sentences_never_offer_a_decided_sentence_twice() -> None:
    pool = _sentences()
    decided = {("a", 1, 0), ("a", 1, 1), ("a", 1, 2)}
    rng = np.random.default_rng(0)
    drawn = random_sentences(pool, decided, 5, rng, codes=["X", "Y"], codes_per_sentence=1)
    keys = set(zip(drawn["transcript_id"], drawn["turn_id"], drawn["sentence_id"], strict=True))
    assert keys == {("a", 3, 0), ("b", 1, 0)} and len(drawn) == 2
    every = random_sentences(pool, decided, 1, rng, codes=["X", "Y"], codes_per_sentence=None)
    assert len(every) == 2 and set(every["code_id"]) == {"X", "Y"}


def _turns() -> pd.DataFrame:
    """Turns of `_sentences`, an interviewer turn before each participant turn."""
    texts: dict[tuple[str, int], list[str]] = {}
    for row in _sentences().itertuples(index=False):
        buffer = texts.setdefault((row.transcript_id, row.turn_id), [" "] * 30)
        buffer[row.start_char : row.end_char] = list(row.text)
    rows = []
    for t, k in (("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 0), ("b", 1)):
        participant = k % 2 == 1
        rows.append(
            {"transcript_id": t, "turn_id": k, "speaker": "P" if participant else "I",
             "role": "participant" if participant else "interviewer", "section": None,
             "start_s": np.nan, "end_s": np.nan, "text_raw": "x",
             "text": "".join(texts.get((t, k), ["x"]))}
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_held_out_scores_pool_the_focus_codes_at_sentence_and_participant_unit() -> None:
    human = _coding(
        [
            ("human:ref", "a", 1, 0, "X"),
            ("human:ref", "a", 3, 0, "Y"),
            ("human:ref", "b", 1, 0, "Z"),
        ]
    )
    same = human.assign(coder="model", negated=False)
    perfect = held_out_scores(
        human, same, _turns(), _sentences(), person="human:ref", focus=["X", "Y"]
    )
    assert perfect["kappa_sentence"] == pytest.approx(1.0)
    assert perfect["mean_kappa"] == pytest.approx(1.0)
    # participants a and b, codes X and Y: only a voiced them
    assert (perfect["participant_decisions"], perfect["participant_voiced"]) == (4, 2)
    assert perfect["kappa_participant"] == pytest.approx(1.0)
    # X coded everywhere, Y also in b: each participant "voices" both, kappa 0 at that unit
    everywhere = _coding(
        [("model", t, k, s, "X") for t, k, s in (("a", 1, 0), ("a", 1, 1), ("a", 1, 2),
         ("a", 3, 0), ("b", 1, 0))] + [("model", "a", 3, 0, "Y"), ("model", "b", 1, 0, "Y")]
    )  # fmt: skip
    loose = held_out_scores(
        human, everywhere, _turns(), _sentences(), person="human:ref", focus=["X", "Y"]
    )
    assert loose["participant_coded"] == 4 and loose["kappa_participant"] == pytest.approx(0.0)
    # sentences: 2 both, 5 the model only, 3 neither: (0.5 - 0.38) / (1 - 0.38)
    assert loose["kappa_sentence"] == pytest.approx(0.12 / 0.62)
    # the focus decides the codes: Z, coded by the person only, does not enter it
    assert loose["kappa_sentence"] == pytest.approx(
        held_out_scores(
            human, everywhere, _turns(), _sentences(), person="human:ref", focus=["X", "Y", "W"]
        )["kappa_sentence"]
    )
    nothing = held_out_scores(
        human, everywhere.iloc[:0], _turns(), _sentences(), person="human:ref", focus=["X", "Y"]
    )
    assert nothing["participant_coded"] == 0 and nothing["kappa_sentence"] == pytest.approx(0.0)


def _two_coder_study(folder: Path) -> Path:
    """The synthetic study of test_learned: human:alice codes study_00..03, human:bob
    study_04..05."""
    processed = folder / "processed"
    turns, sentences, coding = _study()
    schema.write_table(turns, processed / "turns.parquet", columns=schema.TURNS_COLUMNS)
    schema.write_table(sentences, processed / "sentences.parquet", columns=schema.SENTENCES_COLUMNS)
    for coder, keep in (("alice", range(4)), ("bob", range(4, 6))):
        path = folder / f"{coder}.csv"
        ids = {f"study_{t:02d}" for t in keep}
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["transcript_id", "turn_id", "code", "quote"]
            )
            writer.writeheader()
            writer.writerows(row for row in coding if row["transcript_id"] in ids)
        import_csv(path, processed, coder=coder)
    return processed


def test_review_loop_reviews_new_sentences_each_round_and_measures_on_held_out(
    tmp_path: Path,
) -> None:
    processed = _two_coder_study(tmp_path)
    params = _params(min_examples=2)
    sources = read_sources(processed, coders=["human:alice"], params=params, every_transcript=True)
    work = tmp_path / "work"
    work.mkdir()
    for table in ("turns", "sentences"):
        name = schema.TABLE_FILES[table]
        (work / name).write_bytes((processed / name).read_bytes())
    study = LoopStudy(
        work=work, sources=sources, turns=schema.read_table(processed, "turns"),
        person="human:alice", reference="human:bob", focus=["PRICING_RATES", "PLANS"],
        rules=schema.empty_codings(extra=["negated"]),
    )  # fmt: skip
    assert study.focus[0] in set(sources.human["code_id"])
    runs = {}
    for strategy, codes in (("active", None), ("random", None), ("active", 2)):
        curve = review_loop(
            study, strategy=strategy, start=["study_00", "study_01"], rounds=2, n=4, seed=1,
            settings=params.learned, codes_per_sentence=codes, name=f"{strategy}{codes}",
        )  # fmt: skip
        runs[(strategy, codes)] = curve
        assert [r["round"] for r in curve] == [0, 1, 2]
        assert [r["sentences"] for r in curve] == [0, 4, 8]
        # the pool: alice's transcripts the start leaves out (2 x 8 turns of 2 sentences)
        assert {r["pool"] for r in curve} == {32}
        for row in curve:
            assert -1 <= row["model_kappa_sentence"] <= 1
            assert row["model_participant_decisions"] == 4  # bob's 2 participants x 2 codes
    # every code decided of each reviewed sentence, or 2 of them
    codes_learnt = len(set(sources.human["code_id"]))
    assert runs[("active", None)][2]["decisions"] >= 8 * codes_learnt
    assert runs[("active", 2)][2]["decisions"] == 16
    decisions = pd.read_parquet(work / "activeNone_1" / schema.TABLE_FILES["review_decisions"])
    sentences = set(
        zip(decisions["transcript_id"], decisions["turn_id"], decisions["sentence_id"], strict=True)
    )
    assert len(sentences) == 8
    assert set(decisions["transcript_id"]) <= {"study_02", "study_03"}
