"""Project paths, built once from the package location (never relative to the working directory)."""

from __future__ import annotations

from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[2]

CONFIG_DIR = PROJ_ROOT / "config"
CODEBOOK_PATH = CONFIG_DIR / "codebook.yml"
PARAMS_PATH = CONFIG_DIR / "params.yml"
GUIDE_PATH = CONFIG_DIR / "interview_guide.yml"

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
