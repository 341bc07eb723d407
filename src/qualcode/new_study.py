"""`qualcode init DIR`: a new study folder for a researcher to fill.

It holds config/ (a starter codebook with two example codes and how to write one, the parameters,
a study file; no interview guide: add config/interview_guide.yml to get sections), data/raw/
with a participants.csv of one example row, and empty data/reference/ and data/human_coding/ for
people's coding, so that a new study never inherits another study's coding.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from qualcode.errors import QualcodeInputError
from qualcode.participants import PARTICIPANTS_FILE
from qualcode.paths import CODEBOOK_FILE, HUMAN_CODING_FOLDERS, PARAMS_FILE, STUDY_FILE, Project


def init_study(root: Path | str) -> Project:
    """Make the folders and starter files of a new study at `root` (new or empty).

    RETURNS (Project): the study folder.
    """
    project = Project(Path(root))
    if project.root.exists() and (not project.root.is_dir() or any(project.root.iterdir())):
        raise QualcodeInputError(
            "already exists and is not an empty folder; expected a new or empty folder",
            path=project.root,
        )
    starter = resources.files("qualcode") / "starter"
    targets = {
        CODEBOOK_FILE: project.codebook,
        PARAMS_FILE: project.params,
        STUDY_FILE: project.config / STUDY_FILE,
        PARTICIPANTS_FILE: project.raw / PARTICIPANTS_FILE,
    }
    coding = [project.raw.parent / name for name, _coder in HUMAN_CODING_FOLDERS]
    for folder in (project.config, project.raw, *coding):
        folder.mkdir(parents=True, exist_ok=True)
    for name, target in targets.items():
        target.write_text((starter / name).read_text(encoding="utf-8"), encoding="utf-8")
    return project
