"""A small study for the tests that run the whole pipeline: three demo transcripts, their
reference coding and participants.csv in a temporary folder, and `qualcode run` there."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from qualcode.cli import app
from qualcode.paths import RAW_DIR, REFERENCE_DIR

SMALL = ("interview_01.txt", "interview_02.txt", "interview_05.srt")


def make_study(root: Path, transcripts: tuple[str, ...] = SMALL) -> Path:
    """Copy some demo transcripts, participants.csv and their reference coding under root/data."""
    raw = root / "data" / "raw"
    reference = root / "data" / "reference"
    raw.mkdir(parents=True)
    reference.mkdir(parents=True)
    for name in transcripts:
        shutil.copy(RAW_DIR / name, raw / name)
        coded = REFERENCE_DIR / f"{Path(name).stem}.csv"
        if coded.exists():
            shutil.copy(coded, reference / coded.name)
    shutil.copy(RAW_DIR / "participants.csv", raw / "participants.csv")
    return root


def run_study(root: Path) -> object:
    """`qualcode run` on root/data/raw, the report in root/reports. RETURNS: the CLI result."""
    data = root / "data"
    return CliRunner().invoke(
        app,
        [
            "run",
            "--raw",
            str(data / "raw"),
            "--processed",
            str(data / "processed"),
            "--out",
            str(root / "reports"),
        ],
    )
