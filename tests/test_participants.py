"""participants.csv: the one reader, its errors, and the participants the report counts."""

from __future__ import annotations

import pandas as pd
import pytest

from qualcode.errors import QualcodeInputError
from qualcode.participants import (
    NAME_COLUMNS,
    UNKNOWN,
    participant_names,
    read_participants,
    rows_by_transcript,
    study_participants,
)

CSV = (
    "transcript_id,pseudonym,participant_label,interviewer_label,background\n"
    "t1,P01, Ada Lovelace ,Jordan Avery,Physics; MBA\n"
    "t2,P02,Alan Turing,Jordan Avery,\n"
)
TRANSCRIPTS = pd.DataFrame({"transcript_id": ["t1", "t2", "t3"]})
TURNS = pd.DataFrame(
    {
        "transcript_id": ["t3", "t3", "t3"],
        "turn_id": [0, 1, 2],
        "speaker": ["Interviewer", "P03", "P03"],
        "role": ["interviewer", "participant", "participant"],
    }
)


def write(tmp_path, text: str | bytes) -> object:
    path = tmp_path / "participants.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_read_participants_without_names_unless_asked(tmp_path) -> None:
    path = write(tmp_path, CSV)
    table = read_participants(path)
    assert list(table.columns) == ["transcript_id", "pseudonym", "background"]
    assert table["background"].tolist() == ["Physics; MBA", ""]
    named = read_participants(path, names=True)
    assert set(NAME_COLUMNS) <= set(named.columns)
    assert named.loc[0, "participant_label"] == "Ada Lovelace"  # stripped
    assert read_participants(tmp_path / "nowhere.csv") is None
    assert read_participants(None) is None


def test_rows_by_transcript_and_names(tmp_path) -> None:
    path = write(tmp_path, "\ufeff" + CSV)  # a byte order mark is not part of the header
    rows = rows_by_transcript(path)
    assert list(rows) == ["t1", "t2"]
    assert rows["t1"]["interviewer_label"] == "Jordan Avery"
    assert rows["t2"]["transcript_id"] == "t2"
    assert participant_names(path) == {"Ada Lovelace", "Alan Turing", "Jordan Avery"}
    assert rows_by_transcript(tmp_path / "nowhere.csv") == {}


def test_role_labels_are_no_names(tmp_path) -> None:
    """A study whose transcripts label speakers by role has no names in participants.csv."""
    path = write(
        tmp_path,
        "transcript_id,pseudonym,participant_label,interviewer_label\n"
        "t1,P01,interviewee,Interviewer 1; Sam Okoro\nt2,P02,Speaker 2,host\n",
    )
    assert participant_names(path) == {"Sam Okoro"}


def test_missing_transcript_id_column_is_rejected(tmp_path) -> None:
    path = write(tmp_path, "transcript,pseudonym\nt1,P01\n")
    with pytest.raises(QualcodeInputError, match="transcript_id column") as err:
        read_participants(path)
    assert err.value.path == path and err.value.line == 1


def test_participants_csv_without_pseudonym_is_rejected(tmp_path) -> None:
    path = write(tmp_path, "transcript_id,background\nt1,Physics\n")
    with pytest.raises(QualcodeInputError, match="pseudonym") as err:
        study_participants(tmp_path, transcripts=TRANSCRIPTS)
    assert err.value.path == path and err.value.line == 1


def test_participants_csv_with_duplicate_transcript_is_rejected(tmp_path) -> None:
    path = write(tmp_path, "transcript_id,pseudonym\nt1,P01\nt2,P02\nt1,P03\n")
    for read in (read_participants, rows_by_transcript):
        with pytest.raises(QualcodeInputError, match="t1 is listed twice") as err:
            read(path)
        assert err.value.line == 4
        assert "first on line 2" in str(err.value)
    with pytest.raises(QualcodeInputError, match="t1 is listed twice"):
        study_participants(tmp_path, transcripts=TRANSCRIPTS)


def test_row_without_transcript_id_is_rejected(tmp_path) -> None:
    path = write(tmp_path, "transcript_id,pseudonym\nt1,P01\n,P02\n")
    with pytest.raises(QualcodeInputError, match="expected a transcript_id") as err:
        read_participants(path)
    assert err.value.line == 3


def test_participants_csv_in_another_encoding_is_rejected(tmp_path) -> None:
    path = write(tmp_path, "transcript_id,pseudonym\nt1,P01\nt2,Zoë\n".encode("latin-1"))
    with pytest.raises(QualcodeInputError, match="expected UTF-8") as err:
        read_participants(path)
    assert err.value.path == path and err.value.line == 3
    assert "participants.csv, line 3" in str(err.value)


def test_study_participants_fill_in_unlisted_transcripts(tmp_path) -> None:
    write(tmp_path, CSV + "t9,P09,Nobody Here,Jordan Avery,Math\n")
    people = study_participants(tmp_path, transcripts=TRANSCRIPTS, turns=TURNS)
    assert list(people["transcript_id"]) == ["t1", "t2", "t3"]  # t9 was not ingested
    assert list(people["pseudonym"]) == ["P01", "P02", "P03"]  # t3 from its speaker
    assert list(people["background"]) == ["Physics; MBA", UNKNOWN, UNKNOWN]
    assert not set(NAME_COLUMNS) & set(people.columns)


def test_missing_participants_csv_names_participants_after_speakers(tmp_path) -> None:
    people = study_participants(tmp_path, transcripts=TRANSCRIPTS, turns=TURNS)
    assert list(people["pseudonym"]) == ["t1", "t2", "P03"]
    assert list(people.columns) == ["transcript_id", "pseudonym"]


def test_tables_list_participants_by_pseudonym_numbers_in_order() -> None:
    from qualcode.participants import participant_order, sort_by_participant

    frame = pd.DataFrame(
        {
            "transcript_id": ["Interview 12", "Interview 2", "Interview 9"],
            "pseudonym": ["P12", "P2", "P9"],
        }
    )
    assert sort_by_participant(frame)["pseudonym"].tolist() == ["P2", "P9", "P12"]
    assert participant_order(["P10", "P2", "P2", "P1"]) == ["P1", "P2", "P10"]
