"""The small study for the tests that run the whole pipeline.

tests/fixtures/small_study/ holds three of the demo transcripts (raw/, with the demo's
participants.csv), the reference coding of two of them (reference/: enough for the learned coder,
which needs two coded transcripts) and the demo codebook and parameters (config/). The tests copy
it to a temporary folder and run `qualcode run` there, so they never read what a researcher has
put in data/raw, data/reference or config/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_helper import run_cli
from click.testing import Result

FIXTURE = Path(__file__).parent / "fixtures" / "small_study"
SMALL = ("interview_01.txt", "interview_02.txt", "interview_05.srt")
CODED = ("interview_02", "interview_05")


class Study:
    """A study folder: data/raw, data/reference, data/processed, config/ and reports/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = root / "data" / "raw"
        self.processed = root / "data" / "processed"
        self.reports = root / "reports"
        self.codebook = root / "config" / "codebook.yml"
        self.params = root / "config" / "params.yml"
        self.guide = root / "config" / "interview_guide.yml"

    def run(self) -> Result:
        """`qualcode run` on this study; it must succeed. RETURNS: the CLI result."""
        return run_cli(
            "run",
            "--raw", self.raw,
            "--processed", self.processed,
            "--out", self.reports,
            "--codebook", self.codebook,
            "--params", self.params,
        )  # fmt: skip

    def copy(self, root: Path) -> Study:
        """RETURNS: a copy of the whole study (its tables and report too) at root."""
        shutil.copytree(self.root, root)
        return Study(root)


def make_study(root: Path) -> Study:
    """Copy the small study's transcripts, coding and configuration under root."""
    shutil.copytree(FIXTURE / "raw", root / "data" / "raw")
    shutil.copytree(FIXTURE / "reference", root / "data" / "reference")
    shutil.copytree(FIXTURE / "config", root / "config")
    return Study(root)


OTHER_FIXTURE = Path(__file__).parent / "fixtures" / "other_study"


def make_other_study(root: Path) -> Study:
    """Copy the second small study (not the demo: its own codebook, no interview guide, no study
    file, other participant columns) under root."""
    shutil.copytree(OTHER_FIXTURE / "raw", root / "data" / "raw")
    shutil.copytree(OTHER_FIXTURE / "config", root / "config")
    return Study(root)
