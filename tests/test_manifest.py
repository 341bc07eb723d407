"""The run manifest: inputs with hashes, codebook, params, versions, date."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from qualcode.coding.codebook import load_codebook
from qualcode.errors import QualcodeInputError
from qualcode.nlp import model_info
from qualcode.report.manifest import build_manifest, write_manifest
from qualcode.schema import CODINGS_COLUMNS, TRANSCRIPTS_COLUMNS, file_sha256, write_table

CODEBOOK = """version: 7
codes:
  - id: NICHE
    label: Find a niche
    definition: Specialising.
"""


@pytest.fixture()
def study(tmp_path):
    processed = tmp_path / "processed"
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "participants.csv").write_text("transcript_id,pseudonym\ninterview_01,P01\n")
    transcripts = pd.DataFrame(
        {
            "transcript_id": ["interview_02", "interview_01"],
            "source_path": ["data/raw/interview_02.vtt", "data/raw/interview_01.txt"],
            "source_sha256": ["b" * 64, "a" * 64],
            "format": ["vtt", "txt"],
            "n_turns": [12, 30],
            "n_words": [900, 2500],
        }
    )
    write_table(transcripts, processed / "transcripts.parquet", columns=TRANSCRIPTS_COLUMNS)
    codings = pd.DataFrame(
        [["interview_01", 1, 0, "NICHE", 0, 5, "niche", "rules", "r1", 1.0, "7"]],
        columns=CODINGS_COLUMNS,
    )
    write_table(codings, processed / "codings.parquet", columns=CODINGS_COLUMNS)
    codebook = tmp_path / "codebook.yml"
    codebook.write_text(CODEBOOK)
    params = tmp_path / "params.yml"
    params.write_text("report:\n  seed: 5\n")
    return {"processed": processed, "raw": raw, "codebook": codebook, "params": params}


def test_manifest_lists_inputs_with_hashes(study):
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    manifest = build_manifest(
        processed_dir=study["processed"],
        codebook_path=study["codebook"],
        params_path=study["params"],
        raw_dir=study["raw"],
        now=when,
    )
    assert manifest["created"] == "2024-05-01T12:00:00+00:00"
    assert [t["transcript_id"] for t in manifest["transcripts"]] == ["interview_01", "interview_02"]
    assert manifest["transcripts"][0]["sha256"] == "a" * 64
    assert manifest["transcripts"][1]["format"] == "vtt"
    expected = hashlib.sha256(CODEBOOK.encode()).hexdigest()
    assert manifest["codebook"]["path"] == str(study["codebook"])
    assert manifest["codebook"]["version"] == 7
    assert manifest["codebook"]["sha256"] == expected
    assert manifest["codebook"]["content_sha256"] == load_codebook(study["codebook"]).sha256
    assert manifest["codebook"]["n_codes"] == 1
    assert manifest["params"]["values"]["report"]["seed"] == 5
    assert manifest["params"]["sha256"] == file_sha256(study["params"])
    assert manifest["participants"]["sha256"] == file_sha256(study["raw"] / "participants.csv")
    assert {t["name"] for t in manifest["tables"]} == {"transcripts", "codings"}
    assert manifest["codings_codebook_versions"] == ["7"]
    software = manifest["software"]
    assert software["python"].count(".") == 2
    assert software["spacy"].startswith("3.8")
    assert software["spacy_model_version"] == "3.8.0"


def test_manifest_lists_transcripts_with_numbers_in_order(study):
    """p2 comes before p10, as every table of the report lists them."""
    ids = ["p10", "p2", "P1", "p1b"]
    transcripts = pd.DataFrame(
        {
            "transcript_id": ids,
            "source_path": [f"data/raw/{i}.txt" for i in ids],
            "source_sha256": ["a" * 64] * 4,
            "format": ["txt"] * 4,
            "n_turns": [1] * 4,
            "n_words": [10] * 4,
        }
    )
    write_table(
        transcripts, study["processed"] / "transcripts.parquet", columns=TRANSCRIPTS_COLUMNS
    )
    manifest = build_manifest(
        processed_dir=study["processed"],
        codebook_path=study["codebook"],
        params_path=study["params"],
        raw_dir=study["raw"],
    )
    assert [t["transcript_id"] for t in manifest["transcripts"]] == ["P1", "p1b", "p2", "p10"]


def test_manifest_is_json_and_written_atomically(study, tmp_path):
    manifest = build_manifest(
        processed_dir=study["processed"],
        codebook_path=study["codebook"],
        params_path=study["params"],
    )
    assert manifest["participants"] is None
    out = write_manifest(manifest, tmp_path / "reports" / "manifest.json")
    assert json.loads(out.read_text()) == json.loads(json.dumps(manifest))


def test_manifest_date_follows_source_date_epoch(study, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    manifest = build_manifest(
        processed_dir=study["processed"],
        codebook_path=study["codebook"],
        params_path=study["params"],
    )
    assert manifest["created"] == "1970-01-01T00:00:00+00:00"


def test_manifest_needs_transcripts_table(study, tmp_path):
    with pytest.raises(QualcodeInputError, match="transcripts.parquet"):
        build_manifest(
            processed_dir=tmp_path / "empty",
            codebook_path=study["codebook"],
            params_path=study["params"],
        )


def test_manifest_rejects_invalid_codebook(study):
    study["codebook"].write_text(CODEBOOK + "  - id: NICHE\n    label: Again\n    definition: x\n")
    with pytest.raises(QualcodeInputError, match="NICHE"):
        build_manifest(
            processed_dir=study["processed"],
            codebook_path=study["codebook"],
            params_path=study["params"],
        )


def test_model_info_reads_installed_model_without_loading():
    meta = model_info("en_core_web_sm")
    assert meta["model_version"] == "3.8.0"
    assert meta["model"].startswith("en_core_web_sm")
    assert model_info("xx_no_such_model")["model_version"] == "not installed"


def test_manifest_hides_the_deny_list_and_can_use_study_ids(tmp_path, demo_files):
    import pandas as pd

    from qualcode import schema
    from qualcode.report.manifest import build_manifest

    processed = tmp_path / "processed"
    frame = pd.DataFrame(
        {
            "transcript_id": ["zed_doe", "ann_roe"],
            "source_path": ["zed_doe.txt", "ann_roe.vtt"],
            "source_sha256": ["0" * 64, "1" * 64],
            "format": ["text", "vtt"],
            "n_turns": [2, 2],
            "n_words": [10, 10],
        }
    )
    schema.write_table(frame, processed / "transcripts.parquet")

    codebook = demo_files.codebook
    params = tmp_path / "params.yml"
    params.write_text(
        "deid:\n  study_ids: true\n  deny:\n    ORG: [Acme Secret Labs]\n", encoding="utf-8"
    )
    manifest = build_manifest(processed_dir=processed, codebook_path=codebook, params_path=params)
    text = str(manifest)
    assert "Acme Secret Labs" not in text and "zed_doe" not in text and "ann_roe" not in text
    assert [r["transcript_id"] for r in manifest["transcripts"]] == ["T01", "T02"]
    assert manifest["transcripts"][0]["source_path"] == "T01.vtt"


def test_manifest_paths_are_relative_to_the_study_folder(study, tmp_path):
    """A study folder elsewhere on the disk: the shared manifest never shows where it sits."""
    config = tmp_path / "my_study" / "config"
    config.mkdir(parents=True)
    params = config / "params.yml"
    params.write_text(study["params"].read_text())
    codebook = config / "codebook.yml"
    codebook.write_text(CODEBOOK)
    manifest = build_manifest(
        processed_dir=study["processed"],
        codebook_path=codebook,
        params_path=params,
        parameters={"codebook_path": str(codebook), "seed": 3},
    )
    assert manifest["codebook"]["path"] == "config/codebook.yml"
    assert manifest["params"]["path"] == "config/params.yml"
    assert manifest["notebook_parameters"] == {"codebook_path": "config/codebook.yml", "seed": 3}
    assert str(tmp_path) not in json.dumps(manifest)


def test_index_shows_the_manifest_as_tables_with_a_download_link(study):
    from qualcode.report.render import render_index

    manifest = build_manifest(
        processed_dir=study["processed"],
        codebook_path=study["codebook"],
        params_path=study["params"],
        raw_dir=study["raw"],
        parameters={"seed": 3},
    )
    page = render_index([], generated_at="now", manifest=manifest)
    assert '<a href="manifest.json" download>manifest.json</a>' in page
    assert "<pre>" not in page and "{" not in page.split("<body>")[1]
    assert "a" * 12 + "…" in page and "a" * 13 not in page  # hashes shortened
    for heading in ("Input transcripts (2)", "Codebook", "Interview guide", "Study file"):
        assert f"<h3>{heading}</h3>" in page
    assert "<th>report.seed</th><td>5</td>" in page  # parameters as dotted keys
    assert "<th>spacy</th>" in page and "<th>version</th><td>7</td>" in page
    assert "<h3>Interview guide</h3><p>none</p>" in page
