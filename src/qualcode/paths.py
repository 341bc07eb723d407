"""Project paths, built once from the package location (never relative to the working directory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A study's files, in its config folder (the folder of its params.yml) and its data folder.
CODEBOOK_FILE = "codebook.yml"
PARAMS_FILE = "params.yml"
GUIDE_FILE = "interview_guide.yml"
STUDY_FILE = "study.yml"

PROJ_ROOT = Path(__file__).resolve().parents[2]

CONFIG_DIR = PROJ_ROOT / "config"
CODEBOOK_PATH = CONFIG_DIR / CODEBOOK_FILE
PARAMS_PATH = CONFIG_DIR / PARAMS_FILE
GUIDE_PATH = CONFIG_DIR / GUIDE_FILE
STUDY_PATH = CONFIG_DIR / STUDY_FILE

DATA_DIR = PROJ_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
PROCESSED_DIR = DATA_DIR / "processed"
REFERENCE_DIR = DATA_DIR / "reference"
# People's coding beside the raw folder that `qualcode run` learns from: (folder name, coder).
HUMAN_CODING_FOLDERS = (("reference", "human:reference"), ("human_coding", "human:researcher"))
KEYS_DIR = DATA_DIR / "keys"

NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
REPORTS_DIR = PROJ_ROOT / "reports"
BENCHMARKS_DIR = PROJ_ROOT / "benchmarks"


def keys_dir(raw_dir: Path | None, keys: Path | None = None) -> Path:
    """Where the re-identification key (and ingest's cache) of a study lives: `keys` when given,
    else the `keys` folder beside the raw folder (data/keys for data/raw).

    RETURNS (Path): the folder.
    """
    if keys is not None:
        return Path(keys)
    if raw_dir is not None:
        return Path(raw_dir).parent / "keys"
    return KEYS_DIR


def guide_path(params_path: Path | str) -> Path:
    """RETURNS (Path): the study's interview guide: interview_guide.yml beside its parameters
    (it may be absent: a study without a guide has no sections)."""
    return Path(params_path).parent / GUIDE_FILE


def study_path(params_path: Path | str) -> Path:
    """RETURNS (Path): the study file: study.yml beside the parameters (it may be absent)."""
    return Path(params_path).parent / STUDY_FILE


@dataclass(frozen=True)
class Project:
    """A study folder: config/ (codebook, params, study file, optional guide), data/raw,
    data/reference, data/human_coding, data/processed, data/keys, reports/. The project's own
    root holds the demo study."""

    root: Path

    @property
    def raw(self) -> Path:
        """RETURNS (Path): the raw transcripts and participants.csv."""
        return self.root / "data" / "raw"

    @property
    def processed(self) -> Path:
        """RETURNS (Path): the tables the pipeline writes."""
        return self.root / "data" / "processed"

    @property
    def reports(self) -> Path:
        """RETURNS (Path): the HTML report."""
        return self.root / "reports"

    @property
    def config(self) -> Path:
        """RETURNS (Path): the study's configuration folder."""
        return self.root / "config"

    @property
    def codebook(self) -> Path:
        """RETURNS (Path): the codebook."""
        return self.config / CODEBOOK_FILE

    @property
    def params(self) -> Path:
        """RETURNS (Path): the pipeline parameters."""
        return self.config / PARAMS_FILE
