"""Participant units: the one builder of the sentences (or turns) that get coded."""

from __future__ import annotations

import pandas as pd
import pytest

from qualcode.errors import QualcodeInputError
from qualcode.units import UNIT_COLUMNS, participant_units, sentence_key

TURNS = pd.DataFrame(
    {
        "transcript_id": ["t2", "t1", "t1", "t1", "t2"],
        "turn_id": [0, 0, 1, 2, 1],
        "speaker": ["I", "I", "P01", "P01", "P02"],
        "role": ["interviewer", "interviewer", "participant", "participant", "participant"],
        "section": ["past", "past", "past", "future", None],
        "text": ["Why?", "How?", "I found a niche. Energy only.", "  ", "Products."],
    }
)
SENTENCES = pd.DataFrame(
    [
        ("t2", 0, 0, 0, 4, "Why?"),
        ("t1", 1, 1, 17, 29, "Energy only."),
        ("t1", 1, 0, 0, 16, "I found a niche."),
        ("t1", 2, 0, 0, 2, "  "),
        ("t2", 1, 0, 0, 9, "Products."),
    ],
    columns=["transcript_id", "turn_id", "sentence_id", "start_char", "end_char", "text"],
)


def test_sentences_of_participant_turns_sorted_with_speaker_and_section() -> None:
    units = participant_units(TURNS, SENTENCES)
    assert list(units.columns) == UNIT_COLUMNS
    assert sentence_key(units).tolist() == ["t1/1/0", "t1/1/1", "t2/1/0"]  # blank sentence left out
    assert units["speaker"].tolist() == ["P01", "P01", "P02"]
    assert units.loc[0, "section"] == "past"
    assert str(units["sentence_id"].dtype) == "Int64"
    assert str(units["turn_id"].dtype) == "int64"


def test_turns_as_units_roles_and_transcripts() -> None:
    units = participant_units(TURNS, SENTENCES, unit="turn", roles=("interviewer",))
    assert units[["transcript_id", "turn_id"]].values.tolist() == [["t1", 0], ["t2", 0]]
    assert units["sentence_id"].isna().all()
    assert units["end_char"].tolist() == [4, 4]
    only = participant_units(TURNS, SENTENCES, transcripts=["t2"])
    assert sentence_key(only).tolist() == ["t2/1/0"]


def test_participants_as_units_one_per_transcript() -> None:
    units = participant_units(TURNS, SENTENCES, unit="participant")
    assert list(units.columns) == UNIT_COLUMNS
    assert units[["transcript_id", "turn_id", "speaker"]].values.tolist() == [
        ["t1", 1, "P01"],
        ["t2", 1, "P02"],
    ]
    assert units["text"].tolist() == ["I found a niche. Energy only.", "Products."]
    assert units["sentence_id"].isna().all()


def test_sentence_that_does_not_slice_its_turn_is_rejected(tmp_path) -> None:
    shifted = SENTENCES.assign(start_char=SENTENCES["start_char"] + 1)
    with pytest.raises(QualcodeInputError, match="not turns.text") as err:
        participant_units(TURNS, shifted, processed_dir=tmp_path)
    assert err.value.path == tmp_path / "sentences.parquet"


def test_missing_columns_and_unknown_unit_are_rejected(tmp_path) -> None:
    with pytest.raises(QualcodeInputError, match="role") as err:
        participant_units(TURNS.drop(columns="role"), SENTENCES, processed_dir=tmp_path)
    assert err.value.path == tmp_path / "turns.parquet"
    with pytest.raises(QualcodeInputError, match="sentence, turn, participant"):
        participant_units(TURNS, SENTENCES, unit="paragraph")
