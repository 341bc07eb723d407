"""The tables in data/processed/: their columns, and atomic, deterministic reading and writing.

Every table is written to a temporary file in the same folder and renamed into place, so a crash
never leaves half a table, and the same frame always gives the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from qualcode.errors import QualcodeInputError

TRANSCRIPTS_COLUMNS = [
    "transcript_id",
    "source_path",
    "source_sha256",
    "format",
    "n_turns",
    "n_words",
]
TURNS_COLUMNS = [
    "transcript_id",
    "turn_id",
    "speaker",
    "role",
    "section",
    "start_s",
    "end_s",
    "text_raw",
    "text",
]
SENTENCES_COLUMNS = ["transcript_id", "turn_id", "sentence_id", "start_char", "end_char", "text"]
CODINGS_COLUMNS = [
    "transcript_id",
    "turn_id",
    "sentence_id",
    "code_id",
    "start_char",
    "end_char",
    "text",
    "coder",
    "rule_id",
    "score",
    "codebook_version",
]
QUANTITIES_COLUMNS = ["transcript_id", "turn_id", "sentence_id", "kind", "value", "unit", "text"]

TABLE_FILES = {
    "transcripts": "transcripts.parquet",
    "turns": "turns.parquet",
    "sentences": "sentences.parquet",
    "codings": "codings.parquet",
    "human_codings": "human_codings.parquet",
    "quantities": "quantities.parquet",
}


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def atomic_write(path: Path, write: Callable[[Path], None], *, mode: int = 0o644) -> Path:
    """Write a file through `write(tmp_path)` into a temporary sibling, then rename it into place.

    mode: the file's permissions (0o644: readable by all; `PRIVATE_FILE_MODE` for the key folder).
        The temporary file is owner-only until it is complete.
    RETURNS (Path): the final path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(path: Path, text: str, *, mode: int = 0o644) -> Path:
    """Write UTF-8 text atomically. RETURNS (Path): the path written."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode)


def write_json(path: Path, data: object, *, mode: int = 0o644) -> Path:
    """Write JSON (sorted keys, indented) atomically. RETURNS (Path): the path written."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    return write_text(path, text, mode=mode)


def private_dir(path: Path) -> Path:
    """Create a folder only its owner can enter (0700), and make everything already under it
    owner-only: folders 0700, files 0600 (the key folder: the key, the cache of raw text).

    RETURNS (Path): the folder.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(Path(root) / name, PRIVATE_DIR_MODE)
        for name in files:
            os.chmod(Path(root) / name, PRIVATE_FILE_MODE)
    return path


def write_table(df: pd.DataFrame, path: Path, *, columns: list[str] | None = None) -> Path:
    """Write a frame as parquet, atomically and byte-for-byte deterministically.

    columns: when given, the frame must hold them; they come first, in this order (extras follow).
    RETURNS (Path): the path written.
    """
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"table {Path(path).name} lacks columns {missing}")
        extra = [c for c in df.columns if c not in columns]
        df = df[columns + extra]
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    # pandas metadata embeds library versions; drop it so identical data gives identical bytes.
    table = table.replace_schema_metadata(None)
    return atomic_write(
        path,
        lambda tmp: pq.write_table(table, tmp, compression="zstd", write_statistics=False),
    )


def read_table(processed_dir: Path, name: str, *, required: bool = True) -> pd.DataFrame | None:
    """Read one table of data/processed by name (`turns`, `codings`, ...).

    RETURNS (DataFrame | None): the table, or None when it is missing and not required.
    """
    path = Path(processed_dir) / TABLE_FILES.get(name, f"{name}.parquet")
    if not path.exists():
        if required:
            raise QualcodeInputError(
                "table not found; run `qualcode ingest` (and `qualcode code`) first", path=path
            )
        return None
    return pd.read_parquet(path)
