"""participants.csv: one row per transcript, naming its participant by pseudonym, with attributes.

The one reader of the file. Columns: `transcript_id` (the transcript's file name without
extension, required), `pseudonym` (how the participant appears in tables and pages), the speaker
labels of the participant and the interviewer (NAME_COLUMNS: real names, read only by ingest to
assign roles and de-identify, and by the report's check that no name got through), and any
attributes (background, working model ...). Values are read as text, stripped of surrounding
white space.

- `read_participants`: the validated file as a frame (name columns only on request).
- `rows_by_transcript`: each transcript's row as a mapping, names included (for ingest).
- `participant_names`: the names in the name columns (for the checks).
- `study_participants`: one row per ingested transcript, no names, for the report.
- `participant_order`, `sort_by_participant`: participants in the order tables list them, by
  pseudonym with numbers in numeric order (P2 before P10), then transcript id.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from qualcode.errors import QualcodeInputError
from qualcode.ingest.name_rules import is_generic_label

log = logging.getLogger(__name__)

PARTICIPANTS_FILE = "participants.csv"
# Columns that hold names: never read into the analysis, never shown, never exported.
NAME_COLUMNS = ("participant_label", "interviewer_label")
ID_COLUMN = "transcript_id"
PSEUDONYM_COLUMN = "pseudonym"
# The value of an attribute that participants.csv does not give.
UNKNOWN = "unknown"


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise QualcodeInputError(
            f"expected UTF-8 text, found byte 0x{data[err.start]:02x}; save the file as UTF-8 CSV",
            path=path,
            line=line,
        ) from None


def read_participants(path: Path | str | None, *, names: bool = False) -> pd.DataFrame | None:
    """Read and check participants.csv.

    Bad input raises QualcodeInputError naming the file, the line and what was expected: text
    that is not UTF-8, a header without `transcript_id`, a row without one, a transcript listed
    twice.
    names: keep the name columns (NAME_COLUMNS); only ingest needs them.
    RETURNS (DataFrame | None): one row per transcript, in file order, every column text; None
        without a path or when the file does not exist.
    """
    if path is None or not Path(path).is_file():
        return None
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_decode(path)))
    header = [name.strip() for name in reader.fieldnames or []]
    if ID_COLUMN not in header:
        raise QualcodeInputError(f"expected a header with a {ID_COLUMN} column", path=path, line=1)
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        transcript_id = values[ID_COLUMN]
        if not transcript_id:
            raise QualcodeInputError(f"expected a {ID_COLUMN}", path=path, line=line)
        if transcript_id in first_line:
            raise QualcodeInputError(
                f"transcript {transcript_id} is listed twice (first on line "
                f"{first_line[transcript_id]}); expected one row per transcript",
                path=path,
                line=line,
            )
        first_line[transcript_id] = line
        rows.append(values)
    columns = [c for c in header if names or c not in NAME_COLUMNS]
    return pd.DataFrame(rows, columns=header, dtype=object)[columns]


def rows_by_transcript(path: Path | str) -> dict[str, dict[str, str]]:
    """Each transcript's row of participants.csv, names included (ingest assigns roles with them).

    RETURNS (dict[str, dict[str, str]]): transcript_id -> column -> value; empty without a file.
    """
    frame = read_participants(path, names=True)
    if frame is None:
        return {}
    return {row[ID_COLUMN]: row for row in frame.to_dict("records")}


def participant_names(path: Path | str) -> set[str]:
    """The names in the name columns of participants.csv, longer than two characters.

    A cell may list several (`;`); a role such as `Interviewer` or `interviewee` is no name.
    RETURNS (set[str]): the names (empty without a file or name columns).
    """
    frame = read_participants(path, names=True)
    if frame is None:
        return set()
    present = [c for c in NAME_COLUMNS if c in frame.columns]
    cells = (cell for column in present for cell in frame[column])
    names = (name.strip() for cell in cells for name in cell.split(";"))
    return {name for name in names if len(name) > 2 and not is_generic_label(name)}


def study_participants(
    raw_dir: Path | str, *, transcripts: pd.DataFrame, turns: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per ingested transcript: its participant's pseudonym and attributes, no names.

    participants.csv in raw_dir supplies pseudonym and attributes (it must have a `pseudonym`
    column). A transcript it does not list gets the participant speaker's pseudonym from turns (or
    its id) and "unknown" attributes, so a newly added transcript still counts; rows of
    transcripts that were not ingested are left out.
    RETURNS (DataFrame): transcript_id, pseudonym and the attribute columns, by transcript_id.
    """
    path = Path(raw_dir) / PARTICIPANTS_FILE
    table = read_participants(path)
    if table is None:
        log.warning("%s not found; participants are named after their transcripts", path)
        table = pd.DataFrame({ID_COLUMN: [], PSEUDONYM_COLUMN: []}, dtype=object)
    elif PSEUDONYM_COLUMN not in table.columns:
        raise QualcodeInputError(f"expected a `{PSEUDONYM_COLUMN}` column", path=path, line=1)
    ids = sorted(transcripts[ID_COLUMN].astype(str))
    table = table[table[ID_COLUMN].isin(ids)]
    missing = [t for t in ids if t not in set(table[ID_COLUMN])]
    if missing:
        fallback = {}
        if turns is not None:
            speakers = turns[turns["role"] == "participant"].sort_values([ID_COLUMN, "turn_id"])
            fallback = speakers.groupby(ID_COLUMN)["speaker"].first().to_dict()
        extra = pd.DataFrame(
            {ID_COLUMN: missing, PSEUDONYM_COLUMN: [fallback.get(t) or t for t in missing]}
        )
        table = pd.concat([table, extra], ignore_index=True)
    table = table.mask(table == "")
    attributes = [c for c in table.columns if c not in (ID_COLUMN, PSEUDONYM_COLUMN)]
    table[attributes] = table[attributes].fillna(UNKNOWN)
    table[PSEUDONYM_COLUMN] = table[PSEUDONYM_COLUMN].fillna(table[ID_COLUMN])
    return table.sort_values(ID_COLUMN).reset_index(drop=True)


def natural_key(text: str) -> str:
    """RETURNS (str): a sort key where the numbers in a text sort by value (P2 before P10)."""
    return re.sub(r"\d+", lambda m: m.group().zfill(12), str(text).casefold())


def participant_order(pseudonyms: Iterable[str]) -> list[str]:
    """RETURNS (list[str]): the distinct pseudonyms in the order tables list participants."""
    return sorted(set(pseudonyms), key=lambda p: (natural_key(p), p))


def sort_by_participant(frame: pd.DataFrame) -> pd.DataFrame:
    """A table that lists participants or transcripts, by pseudonym, then transcript id.

    RETURNS (DataFrame): the rows sorted, index reset.
    """
    keys = [c for c in (PSEUDONYM_COLUMN, ID_COLUMN) if c in frame.columns]
    return frame.sort_values(
        keys, key=lambda column: column.map(natural_key), kind="stable"
    ).reset_index(drop=True)
