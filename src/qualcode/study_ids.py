"""Study ids: ``T01``, ``T02``, ... for transcript ids in everything that leaves the machine.

A transcript id is its file name, and file names often carry a participant's name
(``2023-05-02_priya_raman.docx``). With ``deid.study_ids: true`` in config/params.yml, the report
pages (through `for_sharing` in `qualcode.analysis.load_study`), the run manifest and
`qualcode export` (quote table and REFI-QDA project) show study ids instead: ``T01`` for the first
transcript id in sorted order, and so on (three digits from 100 transcripts). The processed
tables keep the transcript ids, so the mapping is rebuilt the same way on every run; adding a
transcript whose id sorts before others renumbers those after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

COLUMN = "transcript_id"


def study_id_map(transcript_ids: Iterable[object]) -> dict[str, str]:
    """Transcript id -> study id (``T01``, ...), in sorted order of transcript id.

    RETURNS (dict[str, str]): the mapping.
    """
    ids = sorted({str(t) for t in transcript_ids if t is not None and not pd.isna(t)})
    width = max(2, len(str(len(ids))))
    return {tid: f"T{i:0{width}d}" for i, tid in enumerate(ids, start=1)}


def apply_study_ids(frame: pd.DataFrame | None, mapping: dict[str, str]) -> pd.DataFrame | None:
    """A copy of `frame` with its transcript ids replaced by study ids (ids not in `mapping`, such
    as an ``all`` row, stay), and its `source_path` by the study id and the file's extension.

    RETURNS (DataFrame | None): the frame (None stays None).
    """
    if frame is None or COLUMN not in frame.columns:
        return frame
    frame = frame.copy()
    old = frame[COLUMN].astype(str)
    frame[COLUMN] = old.map(lambda t: mapping.get(t, t))
    if "source_path" in frame.columns:
        frame["source_path"] = [
            mapping[t] + PurePosixPath(str(p)).suffix if t in mapping else p
            for t, p in zip(old, frame["source_path"], strict=True)
        ]
    return frame


def for_sharing(study: Any, *, enabled: bool) -> Any:
    """The study's tables with study ids in place of transcript ids (when `enabled`).

    study: a `qualcode.analysis.Study` (any dataclass whose frames have a transcript_id column).
    RETURNS: the same kind of object.
    """
    if not enabled:
        return study
    mapping = study_id_map(study.transcripts[COLUMN])
    changes = {
        f.name: apply_study_ids(getattr(study, f.name), mapping)
        for f in dataclasses.fields(study)
        if isinstance(getattr(study, f.name), pd.DataFrame)
    }
    return dataclasses.replace(study, **changes)


def manifest_rows(rows: list[dict[str, Any]], *, enabled: bool) -> list[dict[str, Any]]:
    """The manifest's transcript rows with study ids (and source paths named by them).

    RETURNS (list[dict]): the rows, sorted by (study) id.
    """
    if not enabled:
        return rows
    frame = apply_study_ids(pd.DataFrame(rows), study_id_map(r[COLUMN] for r in rows))
    return sorted(frame.to_dict("records"), key=lambda r: r[COLUMN])
