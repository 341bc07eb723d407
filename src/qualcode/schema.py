"""The tables in data/processed/: their file names, columns and dtypes, and how they are read and
written.

Every table is written to a temporary file in the same folder and renamed into place, so a crash
never leaves half a table, and the same frame always gives the same bytes. A table's columns are
its base columns (the design's contract) followed by the extra columns of the step that writes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qualcode.errors import QualcodeInputError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# File names

TABLE_FILES = {
    "transcripts": "transcripts.parquet",
    "turns": "turns.parquet",
    "sentences": "sentences.parquet",
    "codings": "codings.parquet",
    "human_codings": "human_codings.parquet",
    "imported_codes": "imported_codes.parquet",
    "quantities": "quantities.parquet",
    "deid_summary": "deid_summary.parquet",
    "deid_report": "deid_report.parquet",
    "disagreements": "disagreements.parquet",
    "evaluation_predictions": "evaluation_predictions.parquet",
    "review_decisions": "review_decisions.parquet",
    "review_candidates": "review_candidates.parquet",
}
# The tables the run manifest lists with their sha256, in this order.
MANIFEST_TABLES = ("transcripts", "turns", "sentences", "codings", "human_codings", "quantities")
CODINGS_MANIFEST_FILE = "codings.manifest.json"
AGREEMENT_FILE = "agreement.csv"
AGREEMENT_PAIRS_FILE = "agreement_pairs.csv"
EVALUATION_FILE = "evaluation.csv"
EVALUATION_SUMMARY_FILE = "evaluation_summary.csv"
EVALUATION_ABLATION_FILE = "evaluation_ablation.csv"
EVALUATION_LEARNING_CURVE_FILE = "evaluation_learning_curve.csv"
MODEL_DIR = "model"
PIPELINE_STATE_FILE = "pipeline_state.json"
# written last by ingest: the transcripts and the hash of each table it wrote
INGEST_RECORD_FILE = "ingest_record.json"
# every command that writes the processed folder holds its lock, `.qualcode.lock` (hidden: no
# step's input)
PROCESSED_LOCK = ".qualcode"

# ---------------------------------------------------------------------------------------------
# Columns

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
# What cleaning removed and de-identification replaced, per turn.
TURN_EXTRA_COLUMNS = ["n_annotations", "n_disfluencies", "n_pseudonyms"]
SENTENCES_COLUMNS = ["transcript_id", "turn_id", "sentence_id", "start_char", "end_char", "text"]
DEID_SUMMARY_COLUMNS = ["transcript_id", "entity_type", "n_replaced", "n_distinct"]
DEID_REPORT_COLUMNS = [
    "transcript_id", "pseudonym", "entity_type", "found_by", "n_replaced", "n_left", "common_word",
]  # fmt: skip
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
# codings.parquet (rules and model): the match inside the unit and its negation.
EXTRA_CODING_COLUMNS = ["negated", "matched", "cue", "match_start", "match_end"]
# human_codings.parquet: which selection of which file a row comes from.
HUMAN_EXTRA_COLUMNS = ["selection_id", "source"]
# imported_codes.parquet: the codes of people's coding that are not in the codebook, with the
# name, description and parent they came with (so that `qualcode export qdpx` gives them back).
IMPORTED_CODES_COLUMNS = ["code_id", "name", "description", "parent_id", "source"]
QUANTITIES_COLUMNS = ["transcript_id", "turn_id", "sentence_id", "kind", "value", "unit", "text"]
EXTRA_QUANTITY_COLUMNS = ["low", "high", "start_char", "end_char", "about"]
AGREEMENT_COLUMNS = [
    "code_id",
    "scope",
    "n_transcripts",
    "n_units",
    "n_first",
    "n_second",
    "n_both",
    "n_neither",
    "percent_agreement",
    "percent_agreement_coded",
    "kappa",
    "kappa_lo",
    "kappa_hi",
    "alpha",
    "alpha_lo",
    "alpha_hi",
    "precision",
    "precision_lo",
    "precision_hi",
    "recall",
    "recall_lo",
    "recall_hi",
    "f1",
    "f1_lo",
    "f1_hi",
    "coder_a",
    "coder_b",
    "unit",
]
# agreement_pairs.csv: one row per pair of coders (`Agreement.summary`).
AGREEMENT_PAIR_COLUMNS = [
    "coder_a",
    "coder_b",
    "unit",
    "n_transcripts",
    "n_units",
    "n_uncoded_units",
    "n_codes_used",
    "kappa",
    "kappa_lo",
    "kappa_hi",
    "alpha",
    "f1",
    "f1_lo",
    "f1_hi",
    "mean_kappa",
]
DISAGREEMENT_COLUMNS = [
    "coder_a",
    "coder_b",
    "unit",
    "transcript_id",
    "turn_id",
    "sentence_id",
    "speaker",
    "section",
    "code_id",
    "coded_by",
    "text",
    "codes_a",
    "codes_b",
]
EVALUATION_COLUMNS = [
    "fold",
    "code_id",
    "coder",
    "learned",
    "n_train_examples",
    "n_units",
    "n_human",
    "n_coded",
    "n_both",
    "precision",
    "recall",
    "f1",
    "kappa",
    "f1_lo",
    "f1_hi",
]

# ---------------------------------------------------------------------------------------------
# Dtypes

CODINGS_DTYPES = {
    "transcript_id": "object",
    "turn_id": "int64",
    "sentence_id": "Int64",
    "code_id": "object",
    "start_char": "int64",
    "end_char": "int64",
    "text": "object",
    "coder": "object",
    "rule_id": "object",
    "score": "float64",
    "codebook_version": "Int64",
    "negated": "bool",
    "matched": "object",
    "cue": "object",
    "match_start": "int64",
    "match_end": "int64",
    "selection_id": "object",
    "source": "object",
}
# human_codings.parquet keeps its text columns as pandas strings, so that a column no row fills
# (rule_id) is still written as text.
HUMAN_CODINGS_DTYPES = {c: "string" if d == "object" else d for c, d in CODINGS_DTYPES.items()}
QUANTITIES_DTYPES = {
    "transcript_id": "object",
    "turn_id": "int64",
    "sentence_id": "Int64",
    "kind": "object",
    "value": "float64",
    "unit": "object",
    "text": "object",
    "low": "float64",
    "high": "float64",
    "start_char": "int64",
    "end_char": "int64",
    "about": "object",
}


TRANSCRIPTS_DTYPES = {
    "transcript_id": "object",
    "source_path": "object",
    "source_sha256": "object",
    "format": "object",
    "n_turns": "int64",
    "n_words": "int64",
}
TURNS_DTYPES = {
    "transcript_id": "object",
    "turn_id": "int64",
    "speaker": "object",
    "role": "object",
    "section": "object",
    "start_s": "float64",
    "end_s": "float64",
    "text_raw": "object",
    "text": "object",
    "n_annotations": "int64",
    "n_disfluencies": "int64",
    "n_pseudonyms": "int64",
}
SENTENCES_DTYPES = {
    "transcript_id": "object",
    "turn_id": "int64",
    "sentence_id": "int64",
    "start_char": "int64",
    "end_char": "int64",
    "text": "object",
}
DEID_SUMMARY_DTYPES = {
    "transcript_id": "object",
    "entity_type": "object",
    "n_replaced": "int64",
    "n_distinct": "int64",
}


def empty_frame(columns: Sequence[str], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """RETURNS (DataFrame): no rows, the columns in order, each with its dtype."""
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "object")) for c in columns})


def typed(frame: pd.DataFrame, columns: Sequence[str], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """The columns of a frame, in order and with their dtypes (an empty frame gets them all).

    RETURNS (DataFrame): the typed frame.
    """
    if frame.empty:
        return empty_frame(columns, dtypes)
    frame = frame[list(columns)]
    return frame.astype({c: dtypes.get(c, "object") for c in columns})


def empty_codings(extra: Sequence[str] | None = None) -> pd.DataFrame:
    """An empty codings table.

    extra: the columns after the base ones (default: those of the rule coder).
    RETURNS (DataFrame): no rows, the columns typed.
    """
    extra = EXTRA_CODING_COLUMNS if extra is None else list(extra)
    return empty_frame([*CODINGS_COLUMNS, *extra], CODINGS_DTYPES)


def typed_codings(
    frame: pd.DataFrame, extra: Sequence[str] | None = None, *, human: bool = False
) -> pd.DataFrame:
    """Coding rows with the codings columns and their dtypes.

    extra: the columns after the base ones (default: those of the rule coder).
    human: the dtypes of human_codings.parquet (HUMAN_CODINGS_DTYPES).
    RETURNS (DataFrame): the typed rows.
    """
    extra = EXTRA_CODING_COLUMNS if extra is None else list(extra)
    dtypes = HUMAN_CODINGS_DTYPES if human else CODINGS_DTYPES
    return typed(frame, [*CODINGS_COLUMNS, *extra], dtypes)


def read_codings(
    processed_dir: Path,
    *,
    names: tuple[str, ...] = ("codings", "human_codings"),
    negated: bool = False,
) -> pd.DataFrame:
    """Every coding of processed_dir: codings.parquet (rules, model) and human_codings.parquet
    (people), those that exist, in that order.

    negated: add the `negated` column (False where a table has none: people's coding).
    RETURNS (DataFrame): CODINGS_COLUMNS (and negated), typed; no rows when neither table exists.
    """
    extra = ["negated"] if negated else []
    parts = []
    for name in names:
        frame = read_table(processed_dir, name, required=False)
        if frame is not None and len(frame):
            if negated:
                flags = frame["negated"] if "negated" in frame.columns else False
                frame = frame.assign(negated=pd.Series(flags, index=frame.index).fillna(False))
            parts.append(typed_codings(frame, extra=extra))
    if not parts:
        return empty_codings(extra=extra)
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Reading and writing


def file_sha256(path: Path | str) -> str:
    """RETURNS (str): the hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def read_csv_text(path: Path) -> str:
    """The text of a CSV people made or edited: UTF-8, a byte-order mark dropped.

    RETURNS (str): the text; a missing file or other encoding is bad input naming the file.
    """
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QualcodeInputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise QualcodeInputError("expected UTF-8 text", path=path) from None


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


# A table written in parts (`TableWriter`) is cut into row groups of this many rows, wherever the
# parts end, so its bytes do not depend on how it was cut; a table of fewer rows is one row
# group, as `write_table` writes it.
ROW_GROUP_ROWS = 65_536

_ARROW_TYPES = {
    "object": pa.string(),
    "string": pa.string(),
    "int64": pa.int64(),
    "Int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}


def arrow_schema(columns: Sequence[str], dtypes: Mapping[str, str]) -> pa.Schema:
    """RETURNS (pa.Schema): the parquet columns of a table whose pandas dtypes are `dtypes`
    (text columns, "object", are strings)."""
    return pa.schema([pa.field(c, _ARROW_TYPES[dtypes.get(c, "object")]) for c in columns])


class TableWriter:
    """A table written part by part into a temporary file beside `path` (`write` a frame at a
    time: only the rows of the current row group are held), then renamed into place by
    `commit`; a writer given up (`discard`, or an error in its `with` block) leaves the table
    that was there before as it was.

    columns: the table's columns, in order; each part must hold them (extras are dropped).
    dtypes: their pandas dtypes (`arrow_schema`); every part is written with these types.
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        dtypes: Mapping[str, str],
        *,
        mode: int = 0o644,
    ) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.schema = arrow_schema(self.columns, dtypes)
        self.mode = mode
        self.n_rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp_name)
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self._tmp, self.schema, compression="zstd", write_statistics=False
        )
        self._pending: list[pa.Table] = []
        self._n_pending = 0

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        """Append the rows of a frame, or of an Arrow table read from such a table (in their
        order)."""
        if self._writer is None:
            raise ValueError(f"{self.path.name}: written already")
        names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise ValueError(f"table {self.path.name} lacks columns {missing}")
        if not len(frame):
            return
        if isinstance(frame, pa.Table):
            part = frame.select(self.columns).cast(self.schema)
        else:
            part = pa.Table.from_pandas(
                frame[self.columns].reset_index(drop=True),
                schema=self.schema,
                preserve_index=False,
            )
        part = part.replace_schema_metadata(None)
        self._pending.append(part)
        self._n_pending += part.num_rows
        self.n_rows += part.num_rows
        if self._n_pending >= ROW_GROUP_ROWS:
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        assert self._writer is not None
        pending = pa.concat_tables(self._pending) if self._pending else self.schema.empty_table()
        start = 0
        while pending.num_rows - start >= ROW_GROUP_ROWS:
            self._writer.write_table(pending.slice(start, ROW_GROUP_ROWS))
            start += ROW_GROUP_ROWS
        rest = pending.slice(start)
        if final and (rest.num_rows or self.n_rows == 0):
            self._writer.write_table(rest)  # an empty table is one empty row group
            rest = rest.slice(0, 0)
        self._pending = [rest] if rest.num_rows else []
        self._n_pending = rest.num_rows

    def commit(self) -> Path:
        """Write the last rows and rename the file into place. RETURNS (Path): the table's path."""
        if self._writer is None:
            raise ValueError(f"{self.path.name}: written already")
        self._flush(final=True)
        self._writer.close()
        self._writer = None
        os.chmod(self._tmp, self.mode)
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Give the table up: the temporary file goes, the table in place stays as it was."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is not None or self._writer is not None:
            self.discard()


class TranscriptReader:
    """The rows of a table sorted by transcript_id (as every table of ingest and coding is),
    read part by part: `until(last)` gives the rows of the transcripts up to `last` not given
    yet, reading only as far as it needs. A table out of that order is read whole and sorted
    (stably) by transcript_id.

    columns: the columns to read (all when None).
    """

    def __init__(
        self, path: Path, *, columns: Sequence[str] | None = None, batch_rows: int = 16_384
    ) -> None:
        self.path = Path(path)
        ids = pq.read_table(self.path, columns=["transcript_id"]).column(0)
        self._ids = ids
        ordered = len(ids) < 2 or pc.all(pc.greater_equal(ids[1:], ids[:-1])).as_py()
        columns = list(columns) if columns is not None else None
        if ordered:
            self._batches: Iterator[Any] = iter(
                pq.ParquetFile(self.path).iter_batches(batch_size=batch_rows, columns=columns)
            )
        else:
            table = pq.read_table(self.path, columns=columns)
            order = pc.sort_indices(table, sort_keys=[("transcript_id", "ascending")])
            self._batches = iter(table.take(order).to_batches(max_chunksize=batch_rows))
        self._buffer = pa.Table.from_batches([], schema=self._schema(columns))

    def _schema(self, columns: list[str] | None) -> pa.Schema:
        schema = pq.read_schema(self.path).remove_metadata()
        if columns is None:
            return schema
        return pa.schema([schema.field(c) for c in columns])

    def transcript_ids(self) -> list[str]:
        """RETURNS (list[str]): the table's transcript ids, sorted, each once."""
        return sorted(pc.unique(self._ids).to_pylist())

    def until(self, last: str) -> pd.DataFrame:
        """RETURNS (DataFrame): the rows not given yet of the transcripts up to `last`
        (`transcript_id <= last`), in the table's order."""
        return self.until_table(last).to_pandas()

    def until_table(self, last: str) -> pa.Table:
        """RETURNS (pa.Table): `until` as an Arrow table (no conversion to pandas)."""
        parts = [self._buffer]
        tail = self._buffer.column("transcript_id")
        while not len(tail) or tail[-1].as_py() <= last:
            batch = next(self._batches, None)
            if batch is None:
                break
            parts.append(pa.Table.from_batches([batch]).replace_schema_metadata(None))
            tail = batch.column("transcript_id")
        table = pa.concat_tables(parts)
        n = pc.sum(pc.less_equal(table.column("transcript_id"), last)).as_py() or 0
        self._buffer = table.slice(n)
        return table.slice(0, n)

    def rest(self) -> pd.DataFrame:
        """RETURNS (DataFrame): every row not given yet, in the table's order."""
        parts = [self._buffer, *(pa.Table.from_batches([b]) for b in self._batches)]
        self._buffer = self._buffer.slice(0, 0)
        return pa.concat_tables([t.replace_schema_metadata(None) for t in parts]).to_pandas()


def table_path(processed_dir: Path, name: str) -> Path:
    """RETURNS (Path): the file of the table `name` in processed_dir (ValueError for a name that
    is not one of TABLE_FILES)."""
    if name not in TABLE_FILES:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(TABLE_FILES)}")
    return Path(processed_dir) / TABLE_FILES[name]


def read_table(processed_dir: Path, name: str, *, required: bool = True) -> pd.DataFrame | None:
    """Read one table of data/processed by name (`turns`, `codings`, ...; see TABLE_FILES).

    RETURNS (DataFrame | None): the table, or None when it is missing and not required.
    """
    path = table_path(processed_dir, name)
    if not path.exists():
        if required:
            required_table(processed_dir, name)
        return None
    return pd.read_parquet(path)


def required_table(processed_dir: Path, name: str) -> Path:
    """RETURNS (Path): the file of the table `name` in processed_dir; a missing one is bad input
    (run ingest first)."""
    path = table_path(processed_dir, name)
    if not path.exists():
        raise QualcodeInputError(
            "table not found; run `qualcode ingest` (and `qualcode code`) first", path=path
        )
    return path


# ---------------------------------------------------------------------------------------------
# Locks: one writer at a time


def file_lock(path: Path, *, mode: int = 0o644) -> Any:
    """The lock of a file shared by runs (`<path>.lock`, filelock): one process at a time holds
    it, and a process may take it again while holding it.

    mode: the lock file's permissions (PRIVATE_FILE_MODE in the key folder).
    RETURNS (filelock.FileLock): the lock, not yet taken.
    """
    from filelock import FileLock

    return FileLock(f"{path}.lock", mode=mode, is_singleton=True)


@contextmanager
def locked(lock: Any) -> Iterator[None]:
    """Hold a lock of `file_lock` for the block, waiting (and saying so in the log) while
    another run holds it. YIELDS: nothing."""
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("waiting for another qualcode run to finish (it holds %s)", lock.lock_file)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def processed_lock(processed_dir: Path, *, create: bool = False) -> AbstractContextManager[None]:
    """The lock every command that writes the processed folder holds for its whole run, so two
    runs at once never interleave their reads and writes (the second waits).

    create: create the folder if it is missing (ingest); otherwise a missing folder is not
        locked (the command reports it).
    RETURNS (context manager): holds the lock while open.
    """
    processed_dir = Path(processed_dir)
    if not processed_dir.is_dir():
        if not create:
            return nullcontext()
        processed_dir.mkdir(parents=True, exist_ok=True)
    return locked(file_lock(processed_dir / PROCESSED_LOCK))


# ---------------------------------------------------------------------------------------------
# Leftovers of runs that were killed


def sweep_leftovers(folder: Path, *, patterns: Iterable[str] = (".*.tmp",)) -> list[Path]:
    """Remove what a killed run left in a folder: the temporary files of atomic writes (and the
    other given glob patterns, files or folders). Call it while holding the folder's lock.

    RETURNS (list[Path]): what was removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d leftover(s) of an earlier run in %s", len(removed), folder)
    return removed


# ---------------------------------------------------------------------------------------------
# The ingest record: the tables of one ingest, whole


def write_ingest_record(
    processed_dir: Path, *, tables: Mapping[str, Path] | None, transcripts: Iterable[str] = ()
) -> Path:
    """Write the ingest record: before the tables (`tables` None: "being written") and after
    them (the transcripts and the sha256 of each table written), so a reader can tell a whole
    ingest from one cut short.

    RETURNS (Path): the record's path.
    """
    path = Path(processed_dir) / INGEST_RECORD_FILE
    if tables is None:
        return write_json(path, {"complete": False})
    return write_json(
        path,
        {
            "complete": True,
            "transcripts": sorted(set(transcripts)),
            "tables": {Path(p).name: file_sha256(p) for _, p in sorted(tables.items())},
        },
    )


def check_ingest_record(processed_dir: Path) -> None:
    """Raise QualcodeInputError when the last ingest into processed_dir did not finish (its
    record says so, or a table differs from the one it wrote). A folder without a record (made
    by hand, or by an earlier version) passes.

    RETURNS (None).
    """
    path = Path(processed_dir) / INGEST_RECORD_FILE
    if not path.exists():
        return
    redo = "run `qualcode ingest` (or `qualcode run`) again"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or not record.get("complete"):
        raise QualcodeInputError(
            f"the last ingest did not finish (its tables may disagree); {redo}", path=path
        )
    for name, digest in sorted(record.get("tables", {}).items()):
        table = Path(processed_dir) / name
        if not table.is_file() or file_sha256(table) != digest:
            raise QualcodeInputError(
                f"{name} is not the table the last ingest wrote (an ingest cut short, or the "
                f"file was changed); {redo}",
                path=table,
            )


def ingest_is_whole(processed_dir: Path) -> bool:
    """RETURNS (bool): whether `check_ingest_record` passes."""
    try:
        check_ingest_record(processed_dir)
    except QualcodeInputError:
        return False
    return True
