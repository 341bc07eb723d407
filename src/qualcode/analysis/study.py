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

from qualcode import paths
from qualcode.analysis.checks import PremiseError
from qualcode.coding.codebook import load_codebook
from qualcode.config import Params, load_params
from qualcode.participants import study_participants
from qualcode.schema import CODINGS_COLUMNS, QUANTITIES_COLUMNS, read_table
from qualcode.study_file import Quantity, StudyFile, load_study_file
from qualcode.study_ids import for_sharing

# An attribute column is a default breakdown when its values make groups: 2 to 12 of them.
ATTRIBUTE_GROUPS = (2, 12)


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
class StudyDesign:
    """What the report shows for this study: the study file's choices, its defaults filled from
    the data (see qualcode.study_file), every code and column checked to exist."""

    title: str
    research_questions: tuple[str, ...]
    takeaways_code: str | None
    takeaways_heading: str
    findings: tuple[str, ...]
    attributes: tuple[str, ...]
    attribute_separator: str
    attribute_codes: tuple[str, ...]
    quantities: tuple[Quantity, ...]
    has_guide: bool


def default_attributes(participants: pd.DataFrame, *, separator: str = ";") -> list[str]:
    """The participants.csv columns with 2 to 12 distinct values (each value of a cell that holds
    several, split by `separator`, counted apart), in file order.

    RETURNS (list[str]): the column names.
    """
    low, high = ATTRIBUTE_GROUPS
    found = []
    for column in participants.columns:
        if column in ("transcript_id", "pseudonym"):
            continue
        values = participants[column].dropna().astype(str).str.split(separator).explode()
        values = values.str.strip()
        if low <= values[values != ""].nunique() <= high:
            found.append(column)
    return found


def study_design(
    study_file: StudyFile,
    *,
    codebook: pd.DataFrame,
    participants: pd.DataFrame,
    has_guide: bool,
    default_title: str = "",
) -> StudyDesign:
    """Fill what the study file leaves open from the data, and check what it names.

    RETURNS (StudyDesign): the design; a code not in the codebook or a column not in
        participants.csv raises PremiseError naming the study file and what to change.
    """
    where = study_file.path or "the study file"
    codes = set(codebook["code_id"])
    named = [
        *(() if study_file.takeaways_code is None else (study_file.takeaways_code,)),
        *(study_file.findings or ()),
        *(study_file.attribute_codes or ()),
        *(q.code for q in study_file.quantities if q.code),
    ]
    for code in named:
        if code not in codes:
            raise PremiseError(
                f"{where}: code {code} is not in the codebook; change it to a codebook code id"
            )
    columns = [c for c in participants.columns if c not in ("transcript_id", "pseudonym")]
    for column in study_file.attributes or ():
        if column not in columns:
            raise PremiseError(
                f"{where}: attributes names `{column}`, which participants.csv does not have; "
                f"expected one of: {', '.join(columns) or '(no attribute column)'}"
            )
    parents = set(codebook["parent"].dropna())
    takeaways = study_file.takeaways_code
    if study_file.findings is not None:
        findings = study_file.findings
    else:
        findings = tuple(c for c in top_level_codes(codebook) if c in parents and c != takeaways)
    separator = study_file.attribute_separator
    attributes = (
        study_file.attributes
        if study_file.attributes is not None
        else tuple(default_attributes(participants, separator=separator))
    )
    if study_file.attribute_codes is not None:
        attribute_codes = tuple(
            c for parent in study_file.attribute_codes for c in descendants(codebook, parent)
            if c not in parents
        )  # fmt: skip
    else:
        attribute_codes = tuple(leaf_codes(codebook))
    heading = study_file.takeaways_heading
    if heading is None and takeaways is not None:
        heading = code_labels(codebook)[takeaways]
    return StudyDesign(
        title=study_file.title or default_title,
        research_questions=study_file.research_questions,
        takeaways_code=takeaways,
        takeaways_heading=heading or "",
        findings=findings,
        attributes=attributes,
        attribute_separator=separator,
        attribute_codes=attribute_codes,
        quantities=study_file.quantities,
        has_guide=has_guide,
    )


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
    design: StudyDesign | None = None

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
    study_path: Path | str | None = None,
    guide_path: Path | str | None = None,
    require_codings: bool = True,
) -> Study:
    """Load the processed tables, participants.csv (no names), the codebook and the study's design.

    study_path, guide_path: the study file and the interview guide (default: beside the
        parameters; either may be absent).
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
    codebook = codebook_frame(codebook_path)
    study_path = paths.study_path(params_path) if study_path is None else Path(study_path)
    guide_path = paths.guide_path(params_path) if guide_path is None else Path(guide_path)
    design = study_design(
        load_study_file(study_path),
        codebook=codebook,
        participants=participants,
        has_guide=Path(guide_path).is_file(),
        default_title=Path(raw_dir).resolve().parent.parent.name,
    )
    study = Study(
        transcripts=transcripts,
        turns=turns,
        sentences=sentences,
        codings=codings,
        quantities=quantities,
        participants=participants,
        codebook=codebook,
        params=params,
        deid_summary=read_table(processed_dir, "deid_summary", required=False),
        design=design,
    )
    return for_sharing(study, enabled=params.deid.study_ids)  # T01, ... for file names
