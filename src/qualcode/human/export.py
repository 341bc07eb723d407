"""`qualcode export`: the project as REFI-QDA (qdpx), the codebook (qdc), or a tidy quote table
(csv) for a spreadsheet.

The quote table has one row per coded passage (the sentences one human selection coded in one turn
are joined back into one quote): the transcript, the participant's pseudonym and attributes from
participants.csv (never a name), speaker, role, section, the code (id, label and path in the
hierarchy; a code outside the codebook is labelled with the name it was imported with), the coder,
the quote, its offsets in turns.text, and the turns just before and after it ("speaker: text")
for context.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.errors import QualcodeInputError
from qualcode.human.refi_export import write_qdc, write_qdpx
from qualcode.human.store import read_imported_codes
from qualcode.participants import read_participants
from qualcode.study_ids import apply_study_ids, study_id_map

KINDS = ("qdpx", "qdc", "csv")
CONTEXT_COLUMNS = ["speaker", "role", "section"]


def _codings(processed_dir: Path) -> pd.DataFrame:
    parts = []
    for name in ("codings", "human_codings"):
        frame = schema.read_table(processed_dir, name, required=False)
        if frame is not None and len(frame):
            keep = [*schema.CODINGS_COLUMNS, "selection_id"]
            parts.append(frame[[c for c in keep if c in frame.columns]])
    if not parts:
        return pd.DataFrame(columns=[*schema.CODINGS_COLUMNS, "selection_id"])
    frame = pd.concat(parts, ignore_index=True)
    if "selection_id" not in frame.columns:
        frame["selection_id"] = None
    return frame


def _join_selections(codings: pd.DataFrame, turns: pd.DataFrame) -> pd.DataFrame:
    """One row per selection, turn, code and coder: sentences of one selection joined again."""
    with_id = codings[codings["selection_id"].notna()]
    without = codings[codings["selection_id"].isna()]
    if with_id.empty:
        return codings
    grouped = (
        with_id.groupby(
            ["transcript_id", "turn_id", "code_id", "coder", "selection_id"], dropna=False
        )
        .agg(
            sentence_id=("sentence_id", "min"),
            start_char=("start_char", "min"),
            end_char=("end_char", "max"),
            rule_id=("rule_id", "first"),
            score=("score", "first"),
            codebook_version=("codebook_version", "first"),
        )
        .reset_index()
    )
    texts = turns.set_index(["transcript_id", "turn_id"])["text"]
    grouped["text"] = [
        texts.get((t, k), "")[int(a) : int(b)]
        for t, k, a, b in zip(
            grouped["transcript_id"],
            grouped["turn_id"],
            grouped["start_char"],
            grouped["end_char"],
            strict=True,
        )
    ]
    return pd.concat([without, grouped[codings.columns]], ignore_index=True)


def quote_table(
    processed_dir: Path,
    *,
    codebook: Codebook | None,
    participants_path: Path | None = None,
    study_ids: bool = False,
) -> pd.DataFrame:
    """Every coding (rules, model, human) as a quote with its context.

    study_ids: transcript ids replaced by T01, T02, ... (`qualcode.study_ids`).

    RETURNS (DataFrame): transcript_id, pseudonym, the participant attributes, turn_id,
        sentence_id, speaker, role, section, code_id, code_label, code_path, coder, quote,
        start_char, end_char, turn_before, turn_after; sorted by transcript, turn and offsets.
    """
    processed_dir = Path(processed_dir)
    turns = schema.read_table(processed_dir, "turns")
    codings = _join_selections(_codings(processed_dir), turns)
    turns = turns.sort_values(["transcript_id", "turn_id"]).reset_index(drop=True)
    said = turns["speaker"].fillna(turns["role"]).astype(str) + ": " + turns["text"].fillna("")
    turns = turns.assign(
        turn_before=said.groupby(turns["transcript_id"]).shift(1),
        turn_after=said.groupby(turns["transcript_id"]).shift(-1),
    )
    frame = codings.merge(
        turns[["transcript_id", "turn_id", *CONTEXT_COLUMNS, "turn_before", "turn_after"]],
        on=["transcript_id", "turn_id"],
        how="left",
    )
    imported = read_imported_codes(processed_dir)
    labels = dict(zip(imported["code_id"], imported["name"], strict=True))
    labels.update({c.id: c.label for c in codebook} if codebook is not None else {})
    frame["code_label"] = frame["code_id"].map(labels)
    frame["code_path"] = [
        codebook.path(c) if codebook is not None and c in codebook else c for c in frame["code_id"]
    ]
    frame = frame.rename(columns={"text": "quote"})
    participants = read_participants(participants_path)
    attributes: list[str] = []
    if participants is not None:
        attributes = [c for c in participants.columns if c != "transcript_id"]
        frame = frame.merge(participants, on="transcript_id", how="left")
    columns = [
        "transcript_id",
        *attributes,
        "turn_id",
        "sentence_id",
        *CONTEXT_COLUMNS,
        "code_id",
        "code_label",
        "code_path",
        "coder",
        "quote",
        "start_char",
        "end_char",
        "turn_before",
        "turn_after",
    ]
    frame = frame.sort_values(
        ["transcript_id", "turn_id", "start_char", "end_char", "code_id", "coder"]
    )
    frame = frame[columns].reset_index(drop=True)
    if study_ids:
        frame = apply_study_ids(frame, study_id_map(turns["transcript_id"]))
    return frame


def export(
    kind: str,
    out: Path,
    processed_dir: Path,
    *,
    codebook: Codebook | None,
    participants_path: Path | None = None,
    study_ids: bool = False,
) -> str:
    """`qualcode export KIND OUT`: write the project, the codebook or the quote table.

    study_ids: transcript ids (file names) replaced by T01, T02, ... in what is written.

    RETURNS (str): a one-line description of what was written.
    """
    out = Path(out)
    if kind == "qdpx":
        counts = write_qdpx(
            out,
            processed_dir,
            codebook=codebook,
            participants_path=participants_path,
            study_ids=study_ids,
        )
        return (
            f"{out}: {counts.get('sources', 0)} transcripts, {counts.get('selections', 0)} "
            f"selections, {counts.get('codings', 0)} codings, {counts.get('cases', 0)} cases"
        )
    if kind == "qdc":
        if codebook is None:
            raise QualcodeInputError("export qdc needs a codebook", element="--codebook")
        write_qdc(out, codebook)
        return f"{out}: {len(codebook)} codes"
    if kind == "csv":
        table = quote_table(
            processed_dir,
            codebook=codebook,
            participants_path=participants_path,
            study_ids=study_ids,
        )
        schema.write_text(out, schema.csv_for_people(table))
        return f"{out}: {len(table)} quotes"
    raise QualcodeInputError(f"expected one of {', '.join(KINDS)}, got {kind!r}", element="KIND")
