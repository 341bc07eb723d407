"""Study ids (T01, T02, ...) in place of transcript ids in what leaves the machine."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fixtures.refi.corpus import write_project

from qualcode.coding.codebook import load_codebook
from qualcode.human.export import export, quote_table
from qualcode.study_ids import apply_study_ids, for_sharing, manifest_rows, study_id_map


def test_map_is_sorted_and_stable():
    assert study_id_map(["zoe_smith", "adam_jones", "mia_lee", "adam_jones"]) == {
        "adam_jones": "T01",
        "mia_lee": "T02",
        "zoe_smith": "T03",
    }
    assert study_id_map(f"t{i:03d}" for i in range(120))["t119"] == "T120"


def test_apply_replaces_ids_and_file_names():
    frame = pd.DataFrame(
        {"transcript_id": ["priya_raman", "all"], "source_path": ["priya_raman.docx", "x"]}
    )
    out = apply_study_ids(frame, {"priya_raman": "T01"})
    assert out["transcript_id"].tolist() == ["T01", "all"]
    assert out["source_path"].tolist() == ["T01.docx", "x"]
    assert frame["transcript_id"].tolist() == ["priya_raman", "all"]  # a copy


def test_for_sharing_maps_every_table_of_a_study():
    @dataclass(frozen=True)
    class Small:
        transcripts: pd.DataFrame
        turns: pd.DataFrame
        label: str = "x"

    study = Small(
        pd.DataFrame({"transcript_id": ["b_name", "a_name"]}),
        pd.DataFrame({"transcript_id": ["a_name", "b_name"], "turn_id": [0, 0]}),
    )
    assert for_sharing(study, enabled=False) is study
    shared = for_sharing(study, enabled=True)
    assert shared.transcripts["transcript_id"].tolist() == ["T02", "T01"]
    assert shared.turns["transcript_id"].tolist() == ["T01", "T02"]


def test_manifest_rows():
    rows = [
        {"transcript_id": "b", "source_path": "b.vtt"},
        {"transcript_id": "a", "source_path": "a.txt"},
    ]
    assert manifest_rows(rows, enabled=True) == [
        {"transcript_id": "T01", "source_path": "T01.txt"},
        {"transcript_id": "T02", "source_path": "T02.vtt"},
    ]
    assert manifest_rows(rows, enabled=False) is rows


@pytest.fixture()
def project(tmp_path: Path) -> dict[str, Path]:
    return write_project(tmp_path)


@pytest.mark.parametrize("study_ids", [False, True])
def test_exports_use_study_ids_when_asked(project, study_ids):
    codebook = load_codebook(project["codebook"])
    participants = project["raw"] / "participants.csv"
    table = quote_table(
        project["processed"], codebook=codebook, participants_path=participants, study_ids=study_ids
    )
    ids = set(table["transcript_id"])
    assert ids == ({"T01", "T02"} if study_ids else {"interview_a", "interview_b"})
    out = project["root"] / "p.qdpx"
    export(
        "qdpx",
        out,
        project["processed"],
        codebook=codebook,
        participants_path=participants,
        study_ids=study_ids,
    )
    with zipfile.ZipFile(out) as archive:
        blob = b"".join(archive.read(n) for n in archive.namelist())
    assert (b"interview_a" in blob) is not study_ids
    assert (b'name="T01"' in blob) is study_ids
