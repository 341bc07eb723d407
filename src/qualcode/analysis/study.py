"""The study as the notebooks load it: the processed tables, participants and the codebook.

`load_study` reads everything once per notebook into a `Study`. The codebook comes as a frame
(`codebook_frame`) with its hierarchy; `children`, `descendants`, `leaf_codes`, `top_level_codes`
and `code_labels` answer questions about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qualcode.analysis.checks import PremiseError
from qualcode.coding.codebook import load_codebook
from qualcode.config import Params, load_params
from qualcode.participants import study_participants
from qualcode.schema import CODINGS_COLUMNS, QUANTITIES_COLUMNS, read_table
from qualcode.study_ids import for_sharing


def codebook_frame(codebook_path: Path | str) -> pd.DataFrame:
    """The codebook's codes as a frame, in codebook order, with their place in the hierarchy.

    The codebook is loaded and validated by coding.codebook; frame.attrs holds its version and
    sha256.
    RETURNS (DataFrame): code_id, label, parent (None at the top), path (ids from the top, joined
        by " > "), depth (0 at the top), definition, order (position in the codebook).
    """
    book = load_codebook(Path(codebook_path))
    frame = book.to_frame()[["code_id", "label", "parent", "path", "depth", "definition"]].copy()
    frame["parent"] = frame["parent"].astype(object).where(frame["parent"].notna(), None)
    frame["definition"] = frame["definition"].fillna("").astype(str).str.strip()
    frame["order"] = range(len(frame))
    frame.attrs["version"] = str(book.version)
    frame.attrs["sha256"] = book.sha256
    return frame


def children(codebook: pd.DataFrame, parent_id: str) -> list[str]:
    """RETURNS (list[str]): the ids of the codes directly under `parent_id`, in codebook order."""
    if parent_id not in set(codebook["code_id"]):
        raise PremiseError(f"code {parent_id} is not in the codebook")
    return codebook.loc[codebook["parent"] == parent_id, "code_id"].tolist()


def descendants(codebook: pd.DataFrame, code_id: str) -> list[str]:
    """RETURNS (list[str]): the code itself and every code below it, in codebook order."""
    below = {code_id}
    for path, other in zip(codebook["path"], codebook["code_id"], strict=True):
        if code_id in path.split(" > "):
            below.add(other)
    return [c for c in codebook["code_id"] if c in below]


def leaf_codes(codebook: pd.DataFrame) -> list[str]:
    """RETURNS (list[str]): codes with no code below them, in codebook order."""
    parents = set(codebook["parent"].dropna())
    return [c for c in codebook["code_id"] if c not in parents]


def top_level_codes(codebook: pd.DataFrame) -> list[str]:
    """RETURNS (list[str]): the codes with no parent (the themes), in codebook order."""
    return codebook.loc[codebook["parent"].isna(), "code_id"].tolist()


def code_labels(codebook: pd.DataFrame) -> dict[str, str]:
    """RETURNS (dict[str, str]): each code's label by code id."""
    return dict(zip(codebook["code_id"], codebook["label"], strict=True))


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class Study:
    """The tables of one study, loaded once per notebook."""

    transcripts: pd.DataFrame
    turns: pd.DataFrame
    sentences: pd.DataFrame
    codings: pd.DataFrame
    quantities: pd.DataFrame
    participants: pd.DataFrame
    codebook: pd.DataFrame
    params: Params
    deid_summary: pd.DataFrame | None = None

    @property
    def n_participants(self) -> int:
        """RETURNS (int): distinct participants (pseudonyms) with an ingested transcript."""
        return int(self.participants["pseudonym"].nunique())


def load_study(
    *,
    processed_dir: Path | str,
    raw_dir: Path | str,
    codebook_path: Path | str,
    params_path: Path | str,
    require_codings: bool = True,
) -> Study:
    """Load the processed tables, participants.csv (no names) and the codebook.

    require_codings: fail when codings.parquet is missing (notebook 01 runs without it).
    RETURNS (Study): the tables; codings gain a boolean `negated` column when they lack one;
        transcript ids are study ids (T01, ...) when the parameters say `deid.study_ids`.
    """
    processed_dir = Path(processed_dir)
    transcripts = read_table(processed_dir, "transcripts")
    turns = read_table(processed_dir, "turns")
    sentences = read_table(processed_dir, "sentences")
    codings = read_table(processed_dir, "codings", required=require_codings)
    if codings is None:
        codings = _empty(CODINGS_COLUMNS)
    codings = codings.copy()
    if "negated" not in codings.columns:
        codings["negated"] = False
    codings["negated"] = codings["negated"].fillna(False).astype(bool)
    quantities = read_table(processed_dir, "quantities", required=False)
    if quantities is None:
        quantities = _empty(QUANTITIES_COLUMNS)
    participants = study_participants(raw_dir, transcripts=transcripts, turns=turns)
    params = load_params(params_path)
    study = Study(
        transcripts=transcripts,
        turns=turns,
        sentences=sentences,
        codings=codings,
        quantities=quantities,
        participants=participants,
        codebook=codebook_frame(codebook_path),
        params=params,
        deid_summary=read_table(processed_dir, "deid_summary", required=False),
    )
    return for_sharing(study, enabled=params.deid.study_ids)  # T01, ... for file names
