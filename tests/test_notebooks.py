"""The four notebooks: their contract, and the whole pipeline run on a small study.

The slow tests read the executed notebooks and the HTML report of the small study (three demo
transcripts, two with reference coding; see small_study.py), which `qualcode run` builds once per
session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from cli_helper import run_cli
from small_study import CODED, SMALL, Study

from qualcode.paths import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
NAMES = ["01_clean_transcripts", "02_code_themes", "03_analyze_themes", "04_key_takeaways"]
PARAMETERS = {
    "processed_dir": "data/processed",
    "raw_dir": "data/raw",
    "codebook_path": "config/codebook.yml",
    "params_path": "config/params.yml",
    "reference_dir": "data/reference",
}


def outputs(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    """RETURNS (list[str]): every output of a MIME type, in cell order."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if mime in data:
                found.append(data[mime])
    return found


def participant_names(study: Study) -> list[str]:
    table = pd.read_csv(study.raw / "participants.csv", dtype=str)
    return sorted(set(table["participant_label"]) | set(table["interviewer_label"]))


# --------------------------------------------------------------------------- the contract


def test_four_notebooks_in_order():
    assert [nb.stem for nb in NOTEBOOKS] == NAMES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_contract(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first, params = nb.cells[0], nb.cells[1]
    lines = first.source.splitlines()
    assert first.cell_type == "markdown"
    assert lines[0].startswith("# ") and len(lines[0]) > 3
    assert lines[1].startswith("Reads ") and lines[1].endswith(".")
    assert params.cell_type == "code"
    assert params.metadata.get("tags") == ["parameters"]
    values: dict[str, object] = {}
    exec(params.source, {}, values)  # plain values only: no imports, no calls
    assert {k: values[k] for k in PARAMETERS} == PARAMETERS
    assert all(isinstance(v, str | int | float | bool | list) for v in values.values())
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [], "notebooks are committed without outputs"
        assert cell.execution_count is None
        assert not re.search(r"^\s*def ", cell.source, re.M), "a def belongs in src/qualcode"
        assert "participant_label" not in cell.source
    assert "raise" in code[-1].source or "check_" in code[-1].source, "ends with checks"
    assert nb.cells[-2].source == "## Checks"


def test_notebooks_hard_code_no_code_ids_but_their_parameters():
    """Code ids come from the codebook; only the parameter cells name parents."""
    ids = re.compile(r"\b(?:ACQ|MODEL|NICHE|FUTURE)_[A-Z_]+\b|\bREPUTATION_REFERRALS\b")
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells[2:]:
            if cell.cell_type == "code":
                assert not ids.findall(cell.source), f"{path.name}: {ids.findall(cell.source)}"


def test_narrative_numbers_are_computed():
    """Markdown cells hold headings and prose without numbers; numbers come from f-strings."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells[2:]:
            if cell.cell_type == "markdown":
                assert not re.search(r"\d", cell.source), f"{path.name}: {cell.source!r}"


# ------------------------------------------------------------------------- the pipeline


@pytest.mark.slow
def test_run_learns_from_the_reference_coding(small_study_run):
    _, result = small_study_run
    assert result.exit_code == 0, result.output
    n = len(CODED)
    assert f"learned coder, leave one transcript out over {n} transcripts" in result.output


@pytest.mark.slow
def test_report_pages_and_manifest(small_study):
    reports = small_study.reports
    for name in NAMES:
        assert (reports / f"{name}.html").exists()
        assert (reports / f"{name}.ipynb").exists()
    assert (reports / "index.html").exists()
    manifest = json.loads((reports / "manifest.json").read_text())
    raw = small_study.raw
    expected = {
        Path(name).stem: hashlib.sha256((raw / name).read_bytes()).hexdigest() for name in SMALL
    }
    assert {t["transcript_id"]: t["sha256"] for t in manifest["transcripts"]} == expected
    index = (reports / "index.html").read_text()
    for transcript_id, sha in expected.items():  # the index shortens the hash
        assert transcript_id in index and sha[:12] in index and sha not in index
    assert "<title>Freelance data scientists</title>" in index  # the study file's title


@pytest.mark.slow
def test_executed_notebooks_narrate_the_data(small_study):
    reports = small_study.reports
    executed = {name: nbformat.read(reports / f"{name}.ipynb", as_version=4) for name in NAMES}
    for name, nb in executed.items():
        errors = [
            o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        assert not errors, name
        markdown = outputs(nb, "text/markdown")
        assert markdown[-1].startswith("Checks passed"), name
        pngs = outputs(nb, "image/png")
        assert pngs, f"{name} shows no figure"
        for png in pngs:
            assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    intro = outputs(executed["01_clean_transcripts"], "text/markdown")[0]
    assert intro.startswith("3 transcripts from 3 participants came in")
    heading, takeaways = outputs(executed["04_key_takeaways"], "text/markdown")[:2]
    assert heading == "## Four takeaways for someone starting out, ranked"
    assert "of the 3 participants voiced them" in takeaways
    assert re.search(r"\d of 3 participants", takeaways)
    agreement = "\n".join(outputs(executed["02_code_themes"], "text/markdown"))
    assert "The reference coding (`human:reference`) covers 2 transcripts" in agreement
    # `qualcode run` learned from the reference coding: its evaluation and the review table
    assert "Leave one transcript out over 2 human-coded transcripts" in agreement
    assert "sentence-code disagreements on the codes the model learned" in agreement


@pytest.mark.slow
def test_report_shows_no_names(small_study):
    names = participant_names(small_study)
    assert names
    for page in small_study.reports.glob("*.html"):
        text = page.read_text()
        for name in names:
            assert name.lower() not in text.lower(), f"{page.name} shows a name"


@pytest.mark.slow
def test_checks_fail_loudly_when_a_premise_breaks(small_study, tmp_path):
    processed = tmp_path / "processed"
    shutil.copytree(small_study.processed, processed)
    codings = pd.read_parquet(processed / "codings.parquet")
    codings["end_char"] = codings["end_char"] + 1
    codings.to_parquet(processed / "codings.parquet")
    out = tmp_path / "reports"
    result = run_cli(
        "report",
        "--processed", processed,
        "--raw", small_study.raw,
        "--codebook", small_study.codebook,
        "--params", small_study.params,
        "--out", out,
        exit_code=1,
    )  # fmt: skip
    assert "02_code_themes.ipynb" in result.output
    assert "do not slice their text" in result.output
    assert not (out / "index.html").exists()
