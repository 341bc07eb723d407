"""Page 01: what came in (transcripts, formats, who spoke how much) and what cleaning and
de-identification changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from qualcode.analysis.checks import PremiseError
from qualcode.analysis.text import word_count
from qualcode.participants import sort_by_participant

# Pseudonym placeholders written by de-identification: [PERSON_4], [ORG_1] ...
PSEUDONYM_PATTERN = r"\[[A-Z][A-Z]*_\d+\]"
# Annotations a transcriber adds: [laughs], (inaudible), [crosstalk 00:12:03] ... (not pseudonyms)
ANNOTATION_PATTERN = (
    r"\[(?![A-Z]+_\d+\])[^\]\n]{1,60}\]"
    r"|\((?:inaudible|crosstalk|laughs?|laughter|pause|silence|coughs?|unintelligible|indistinct)"
    r"[^)\n]{0,40}\)"
)
# Counts of what cleaning removed, per turn, as ingest writes them into turns.parquet.
INGEST_COUNTS = ("n_annotations", "n_disfluencies", "n_pseudonyms")


def transcript_overview(
    transcripts: pd.DataFrame, turns: pd.DataFrame, participants: pd.DataFrame
) -> pd.DataFrame:
    """Per transcript: format, turns, words, speakers and the interviewer's share of the talk.

    Words are counted in the spoken text (turns.text_raw).
    RETURNS (DataFrame): transcript_id, pseudonym, format, n_turns, n_words, n_speakers,
        participant_words, interviewer_words, interviewer_share; one row per transcript.
    """
    words = turns.assign(words=word_count(turns["text_raw"]))
    by_role = words.pivot_table(
        index="transcript_id", columns="role", values="words", aggfunc="sum", fill_value=0
    )
    speakers = turns.groupby("transcript_id")["speaker"].nunique()
    table = transcripts[["transcript_id", "format", "n_turns", "n_words"]].merge(
        participants[["transcript_id", "pseudonym"]], on="transcript_id", how="left"
    )
    table["n_speakers"] = table["transcript_id"].map(speakers).fillna(0).astype(int)
    for role in ("participant", "interviewer"):
        column = by_role[role] if role in by_role.columns else pd.Series(dtype=int)
        table[f"{role}_words"] = table["transcript_id"].map(column).fillna(0).astype(int)
    spoken = table["participant_words"] + table["interviewer_words"]
    table["interviewer_share"] = (table["interviewer_words"] / spoken.where(spoken > 0)).astype(
        float
    )
    columns = [
        "transcript_id",
        "pseudonym",
        "format",
        "n_turns",
        "n_words",
        "n_speakers",
        "participant_words",
        "interviewer_words",
        "interviewer_share",
    ]
    return sort_by_participant(table[columns])


@dataclass(frozen=True)
class TalkShare:
    """How much of the spoken words the interviewer said, over all interviews and per interview."""

    share: float  # the interviewer's share of all spoken words
    lowest: pd.Series  # the overview row of the interview where the interviewer said least
    highest: pd.Series  # ... and where the interviewer said most


def talk_share(overview: pd.DataFrame) -> TalkShare:
    """The interviewer's share of the spoken words, pooled, and the interviews at both ends.

    overview: `transcript_overview`.
    RETURNS (TalkShare): the pooled share and the overview rows with the lowest and highest share.
    """
    interviewer = overview["interviewer_words"].sum()
    spoken = overview["participant_words"].sum() + interviewer
    return TalkShare(
        share=interviewer / spoken,
        lowest=overview.loc[overview["interviewer_share"].idxmin()],
        highest=overview.loc[overview["interviewer_share"].idxmax()],
    )


def _count(pattern: re.Pattern[str], texts: pd.Series) -> pd.Series:
    return texts.fillna("").map(lambda text: len(pattern.findall(text))).astype(int)


def cleaning_summary(
    turns: pd.DataFrame,
    *,
    disfluencies: Sequence[str] = (),
    pseudonym_pattern: str = PSEUDONYM_PATTERN,
) -> pd.DataFrame:
    """Per transcript: what cleaning removed between the spoken and the cleaned text.

    The counts come from the turns table (n_annotations, n_disfluencies, n_pseudonyms, as ingest
    writes them); a turns table without them is counted here instead: annotations and
    disfluencies that text_raw holds and text does not, and pseudonym placeholders in text.
    words_removed is the drop in word count from text_raw to text.
    RETURNS (DataFrame): transcript_id, annotations, disfluencies, pseudonyms, words_raw,
        words_clean, words_removed.
    """
    raw = turns["text_raw"].fillna("")
    clean = turns["text"].fillna("")
    per_turn = pd.DataFrame(
        {
            "transcript_id": turns["transcript_id"],
            "words_raw": word_count(raw),
            "words_clean": word_count(clean),
        }
    )
    if all(c in turns.columns for c in INGEST_COUNTS):
        for name in INGEST_COUNTS:
            per_turn[name.removeprefix("n_")] = turns[name].fillna(0).astype(int)
    else:
        annotation = re.compile(ANNOTATION_PATTERN, re.IGNORECASE)
        placeholder = re.compile(pseudonym_pattern)
        # Annotations are removed first, so fillers inside them are not counted twice.
        raw_no_notes = raw.str.replace(annotation, " ", regex=True)
        clean_no_notes = clean.str.replace(annotation, " ", regex=True)
        per_turn["annotations"] = (_count(annotation, raw) - _count(annotation, clean)).clip(
            lower=0
        )
        words = sorted({w.strip() for w in disfluencies if w.strip()}, key=len, reverse=True)
        per_turn["disfluencies"] = 0
        if words:
            alternatives = "|".join(re.escape(w) for w in words)
            filler = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
            removed = _count(filler, raw_no_notes) - _count(filler, clean_no_notes)
            per_turn["disfluencies"] = removed.clip(lower=0)
        per_turn["pseudonyms"] = _count(placeholder, clean)
    table = per_turn.groupby("transcript_id", as_index=False).sum()
    table["words_removed"] = table["words_raw"] - table["words_clean"]
    columns = [
        "transcript_id",
        "annotations",
        "disfluencies",
        "pseudonyms",
        "words_raw",
        "words_clean",
        "words_removed",
    ]
    return table[columns].sort_values("transcript_id").reset_index(drop=True)


def pseudonyms_by_type(deid_summary: pd.DataFrame | None) -> pd.DataFrame:
    """Names replaced by de-identification, per entity type (PERSON, ORG, GPE, EMAIL ...).

    deid_summary: deid_summary.parquet (transcript_id, entity_type, n_replaced, n_distinct).
    RETURNS (DataFrame): entity_type, n_replaced, n_transcripts; most replaced first (empty when
        the table is missing).
    """
    columns = ["entity_type", "n_replaced", "n_transcripts"]
    if deid_summary is None or deid_summary.empty:
        return pd.DataFrame(columns=columns)
    present = deid_summary[deid_summary["n_replaced"] > 0]
    table = present.groupby("entity_type").agg(
        n_replaced=("n_replaced", "sum"), n_transcripts=("transcript_id", "nunique")
    )
    table = table.reset_index().sort_values(["n_replaced", "entity_type"], ascending=[False, True])
    return table[columns].reset_index(drop=True)


def cleaning_example(turns: pd.DataFrame, *, max_chars: int = 600) -> pd.Series:
    """The participant turn that cleaning changed most (among turns short enough to read).

    RETURNS (Series): transcript_id, turn_id, speaker, text_raw, text, words_removed.
    """
    candidates = turns[
        (turns["role"] == "participant") & (turns["text_raw"].str.len() <= max_chars)
    ]
    if candidates.empty:
        candidates = turns[turns["role"] == "participant"]
    if candidates.empty:
        raise PremiseError("no participant turn to show")
    removed = word_count(candidates["text_raw"]) - word_count(candidates["text"])
    ranked = candidates.assign(words_removed=removed).sort_values(
        ["words_removed", "transcript_id", "turn_id"], ascending=[False, True, True]
    )
    row = ranked.iloc[0]
    return row[["transcript_id", "turn_id", "speaker", "text_raw", "text", "words_removed"]]
