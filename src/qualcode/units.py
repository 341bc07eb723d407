"""Participant units: the sentences (or turns) that get coded, and over which coders are compared
(also per participant: whether they voiced a code at all).

A unit is a sentence of sentences.parquet (or a whole turn of turns.parquet) spoken in a turn
whose role is coded (params `coding.roles`, by default the participant's). Units whose text is
empty carry no code and are left out. The rule coder codes these units, the learned coder learns
from and codes them, agreement compares coders over them, and the report counts how many of them
a code caught.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from qualcode.errors import QualcodeInputError
from qualcode.schema import SENTENCES_COLUMNS, TABLE_FILES

UNITS = ("sentence", "turn")
# Agreement is also measured per participant: did they voice the code at all (one unit per
# transcript, its participant's turns together; see `participant_units`).
PARTICIPANT_UNIT = "participant"
AGREEMENT_UNITS = (*UNITS, PARTICIPANT_UNIT)
UNIT_KEYS = ["transcript_id", "turn_id", "sentence_id"]
UNIT_COLUMNS = [*UNIT_KEYS, "start_char", "end_char", "speaker", "section", "text"]
# The columns of turns.parquet that units are built from.
TURN_COLUMNS = ["transcript_id", "turn_id", "speaker", "role", "section", "text"]


def _check_columns(frame: pd.DataFrame, columns: list[str], name: str, processed: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise QualcodeInputError(
            f"expected columns {', '.join(missing)}; rerun `qualcode ingest`",
            path=processed / TABLE_FILES[name],
        )


def _check_offsets(frame: pd.DataFrame, processed: Path) -> None:
    columns = ["turn_text", "start_char", "end_char", "text"]
    bad = [
        i
        for i, (turn_text, start, end, text) in enumerate(
            zip(*(frame[c].tolist() for c in columns), strict=True)
        )
        if str(turn_text)[int(start) : int(end)] != text
    ]
    if bad:
        tid, turn, sid = frame[["transcript_id", "turn_id", "sentence_id"]].iloc[bad[0]]
        raise QualcodeInputError(
            f"{len(bad)} sentence(s) whose text is not turns.text[start_char:end_char], "
            f"first transcript {tid}, turn {turn}, sentence {sid}; rerun `qualcode ingest`",
            path=processed / TABLE_FILES["sentences"],
        )


def participant_units(
    turns: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    unit: str = "sentence",
    roles: Iterable[str] = ("participant",),
    transcripts: Iterable[str] | None = None,
    processed_dir: Path | str = Path("."),
) -> pd.DataFrame:
    """The units of the turns whose role is in `roles`: their sentences, or the turns themselves.

    Checks that the tables have their columns and that every sentence's text is
    turns.text[start_char:end_char]; bad tables raise QualcodeInputError naming the table file
    in processed_dir.
    unit: "sentence", "turn", or "participant" (one unit per transcript: its participant's
        turns together; turn_id is the first of them, speaker its speaker, and text the turns'
        texts joined by a blank line).
    transcripts: only these transcripts (all when None).
    RETURNS (DataFrame): UNIT_COLUMNS: transcript_id (str), turn_id (int64), sentence_id (Int64,
        null for turns and participants), start_char, end_char (into turns.text), speaker,
        section, text; sorted by transcript, turn and sentence.
    """
    if unit == PARTICIPANT_UNIT:
        turn_units = participant_units(
            turns,
            sentences,
            unit="turn",
            roles=roles,
            transcripts=transcripts,
            processed_dir=processed_dir,
        )
        return per_participant(turn_units)
    if unit not in UNITS:
        raise QualcodeInputError(
            f"unit must be one of {', '.join(AGREEMENT_UNITS)}, got {unit!r}", element="--unit"
        )
    processed_dir = Path(processed_dir)
    _check_columns(turns, TURN_COLUMNS, "turns", processed_dir)
    _check_columns(sentences, SENTENCES_COLUMNS, "sentences", processed_dir)
    spoken = turns[turns["role"].isin(list(roles))]
    if transcripts is not None:
        spoken = spoken[spoken["transcript_id"].astype(str).isin(set(transcripts))]
    keys = ["transcript_id", "turn_id"]
    spoken = spoken[[*keys, "speaker", "section", "text"]]
    if unit == "turn":
        frame = spoken.assign(
            text=spoken["text"].fillna("").astype(str),
            sentence_id=pd.array([pd.NA] * len(spoken), dtype="Int64"),
            start_char=0,
        )
        frame["end_char"] = frame["text"].str.len()
    else:
        frame = sentences[SENTENCES_COLUMNS].merge(
            spoken.rename(columns={"text": "turn_text"}), on=keys, how="inner"
        )
        _check_offsets(frame, processed_dir)
        frame["sentence_id"] = frame["sentence_id"].astype("Int64")
    frame = frame.astype({"transcript_id": str, "turn_id": "int64"})
    frame = frame.loc[frame["text"].str.strip() != "", UNIT_COLUMNS]
    return frame.sort_values(UNIT_KEYS, kind="stable").reset_index(drop=True)


def per_participant(turn_units: pd.DataFrame) -> pd.DataFrame:
    """The participant units of a transcript's turn units (`participant_units(unit="turn")`).

    RETURNS (DataFrame): UNIT_COLUMNS, one row per transcript: its first turn and speaker, no
        section, the turns' texts joined by a blank line (start_char 0, end_char its length).
    """
    grouped = turn_units.groupby("transcript_id", sort=True)
    frame = grouped.agg(
        turn_id=("turn_id", "first"),
        speaker=("speaker", "first"),
        text=("text", "\n\n".join),
    ).reset_index()
    frame["sentence_id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame["section"] = None
    frame["start_char"] = 0
    frame["end_char"] = frame["text"].str.len()
    frame = frame.astype({"transcript_id": str, "turn_id": "int64"})
    return frame[UNIT_COLUMNS].reset_index(drop=True)


def sentence_key(frame: pd.DataFrame) -> pd.Series:
    """RETURNS (Series): "transcript_id/turn_id/sentence_id" per row, to match sentences."""
    return (
        frame["transcript_id"].astype(str)
        + "/"
        + frame["turn_id"].astype(str)
        + "/"
        + frame["sentence_id"].astype(str)
    )
