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


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write a file through `write(tmp_path)` into a temporary sibling, then rename it into place.

    RETURNS (Path): the final path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically. RETURNS (Path): the path written."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(value: str) -> bool:
    return value.lstrip("'").startswith(FORMULA_START)


def neutralise_cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with a single quote.

    Texts that already start with quotes before such a character get one more, so that
    `restore_cell` gives back exactly the original.
    RETURNS (object): the value, prefixed when it is such a text.
    """
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """Undo `neutralise_cell` on a cell read from a CSV.

    RETURNS (str): the text without the quote that `neutralise_cell` added.
    """
    if value.startswith("'") and _needs_quote(value[1:]):
        return value[1:]
    return value


def csv_for_people(frame: pd.DataFrame, **to_csv: object) -> str:
    """A frame as CSV text for people to open in a spreadsheet: formula-like text cells neutralised.

    to_csv: passed on to `DataFrame.to_csv` (index=False and "\n" line ends by default).
    RETURNS (str): the CSV text.
    """
    texts = [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]
    safe = frame.assign(**{c: frame[c].map(neutralise_cell) for c in texts}) if texts else frame
    options = {"index": False, "lineterminator": "\n", **to_csv}
    return safe.to_csv(**options)


def write_json(path: Path, data: object) -> Path:
    """Write JSON (sorted keys, indented) atomically. RETURNS (Path): the path written."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


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
