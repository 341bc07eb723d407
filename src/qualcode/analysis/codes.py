"""Pages 02 to 04: how often each code fired and who voiced it.

A parent code counts what the codes below it caught (`rolled_up`); a code is voiced by a
participant when at least one of their sentences carries it and the coding is not negated
(`voiced_codings`). Coverage is the share of participant sentences (`qualcode.units`) that some
code caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from qualcode.analysis.study import code_labels, descendants, leaf_codes
from qualcode.analysis.support import is_supported
from qualcode.analysis.text import word_count
from qualcode.participants import participant_order, sort_by_participant
from qualcode.units import participant_units, sentence_key


def codebook_table(codebook: pd.DataFrame) -> pd.DataFrame:
    """The codebook for reading: labels indented by depth, with ids and definitions.

    RETURNS (DataFrame): code (indented label), code_id, parent, definition.
    """
    indent = "\u2003"  # an em space survives HTML rendering, where plain spaces collapse
    return pd.DataFrame(
        {
            "code": [
                indent * d + label
                for d, label in zip(codebook["depth"], codebook["label"], strict=True)
            ],
            "code_id": codebook["code_id"],
            "parent": codebook["parent"].fillna(""),
            "definition": codebook["definition"],
        }
    ).reset_index(drop=True)


def rolled_up(codings: pd.DataFrame, codebook: pd.DataFrame) -> pd.DataFrame:
    """Codings repeated under every ancestor code, so a parent counts what its children caught."""
    parts = []
    for code_id in codebook["code_id"]:
        below = descendants(codebook, code_id)
        part = codings[codings["code_id"].isin(below)]
        if len(part):
            parts.append(part.assign(code_id=code_id))
    if not parts:
        return codings.iloc[0:0]
    return pd.concat(parts, ignore_index=True)


def voiced_codings(codings: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    """RETURNS (DataFrame): the codings that are not negated, with their participant's pseudonym."""
    frame = codings[~codings["negated"].astype(bool)] if len(codings) else codings
    return frame.merge(
        participants[["transcript_id", "pseudonym"]], on="transcript_id", how="inner"
    )


def code_frequencies(
    codings: pd.DataFrame, codebook: pd.DataFrame, participants: pd.DataFrame
) -> pd.DataFrame:
    """How often each code fired, in how many sentences, transcripts and participants.

    A parent code counts its own codings and those of every code below it.
    RETURNS (DataFrame): code_id, label, depth, n_codings, n_sentences, n_transcripts,
        n_participants, n_negated; one row per codebook code, in codebook order.
    """
    rolled = rolled_up(codings, codebook)
    rolled = rolled.assign(
        sentence=sentence_key(rolled) if len(rolled) else pd.Series(dtype=str),
    ).merge(participants[["transcript_id", "pseudonym"]], on="transcript_id", how="left")
    voiced = rolled[~rolled["negated"].astype(bool)] if len(rolled) else rolled
    grouped = rolled.groupby("code_id")
    table = codebook[["code_id", "label", "depth"]].copy()
    table["n_codings"] = table["code_id"].map(grouped.size())
    table["n_sentences"] = table["code_id"].map(grouped["sentence"].nunique())
    table["n_transcripts"] = table["code_id"].map(grouped["transcript_id"].nunique())
    table["n_participants"] = table["code_id"].map(voiced.groupby("code_id")["pseudonym"].nunique())
    table["n_negated"] = table["code_id"].map(
        rolled[rolled["negated"].astype(bool)].groupby("code_id").size()
    )
    counts = ["n_codings", "n_sentences", "n_transcripts", "n_participants", "n_negated"]
    table[counts] = table[counts].fillna(0).astype(int)
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class Firing:
    """How the leaf codes fired: which most, which never."""

    leaves: pd.DataFrame  # the code_frequencies rows of the leaf codes, in codebook order
    top: pd.Series  # the leaf that fired in the most sentences (ties: the first code id)
    never: pd.DataFrame  # the leaves that fired in no sentence
    n_coded_sentences: int  # distinct sentences carrying at least one coding


def firing(frequencies: pd.DataFrame, codebook: pd.DataFrame, codings: pd.DataFrame) -> Firing:
    """Which leaf code fired most and which never did.

    frequencies: `code_frequencies`.
    RETURNS (Firing): the leaves' rows, the top one, those that never fired, and the number of
        coded sentences.
    """
    leaves = frequencies[frequencies["code_id"].isin(leaf_codes(codebook))]
    ranked = leaves.sort_values(["n_sentences", "code_id"], ascending=[False, True])
    return Firing(
        leaves=leaves,
        top=ranked.iloc[0],
        never=leaves[leaves["n_sentences"] == 0],
        n_coded_sentences=int(sentence_key(codings).nunique()),
    )


def coverage(sentences: pd.DataFrame, turns: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Share of participant sentences that at least one code caught, per transcript.

    RETURNS (DataFrame): transcript_id, n_sentences, n_coded, share; a last row `all` sums them.
    """
    spoken = participant_units(turns, sentences)
    coded = set(sentence_key(codings)) if len(codings) else set()
    spoken = spoken.assign(coded=sentence_key(spoken).isin(coded) if len(spoken) else False)
    table = spoken.groupby("transcript_id").agg(
        n_sentences=("coded", "size"), n_coded=("coded", "sum")
    )
    table = table.reset_index()
    total = pd.DataFrame(
        {
            "transcript_id": ["all"],
            "n_sentences": [int(table["n_sentences"].sum())],
            "n_coded": [int(table["n_coded"].sum())],
        }
    )
    table = pd.concat([table, total], ignore_index=True)
    table["n_coded"] = table["n_coded"].astype(int)
    table["share"] = table["n_coded"] / table["n_sentences"].where(table["n_sentences"] > 0)
    return table


@dataclass(frozen=True)
class CoverageSummary:
    """Coverage over all participant sentences and per transcript."""

    overall: pd.Series  # the `all` row of `coverage`
    per_transcript: pd.DataFrame  # the other rows, with the participant's pseudonym
    lowest: pd.Series  # the transcript with the smallest share
    highest: pd.Series  # the transcript with the largest share


def coverage_summary(covered: pd.DataFrame, participants: pd.DataFrame) -> CoverageSummary:
    """Coverage split into the overall row and the transcripts, with the ends of the range.

    covered: `coverage`.
    RETURNS (CoverageSummary): overall, per transcript (with pseudonym), lowest and highest.
    """
    per_transcript = sort_by_participant(
        covered[covered["transcript_id"] != "all"].merge(
            participants[["transcript_id", "pseudonym"]], on="transcript_id"
        )
    )
    return CoverageSummary(
        overall=covered[covered["transcript_id"] == "all"].iloc[0],
        per_transcript=per_transcript,
        lowest=per_transcript.loc[per_transcript["share"].idxmin()],
        highest=per_transcript.loc[per_transcript["share"].idxmax()],
    )


def uncoded_sentences(
    sentences: pd.DataFrame,
    turns: pd.DataFrame,
    codings: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    n: int = 10,
) -> pd.DataFrame:
    """The longest participant sentences that no code caught: candidates for new patterns.

    RETURNS (DataFrame): pseudonym, transcript_id, turn_id, sentence_id, n_words, text.
    """
    spoken = participant_units(turns, sentences)
    coded = set(sentence_key(codings)) if len(codings) else set()
    left = spoken[~sentence_key(spoken).isin(coded)] if len(spoken) else spoken
    left = left.assign(n_words=word_count(left["text"]))
    left = left.merge(participants[["transcript_id", "pseudonym"]], on="transcript_id", how="left")
    left = left.sort_values(
        ["n_words", "transcript_id", "turn_id", "sentence_id"], ascending=[False, True, True, True]
    )
    columns = ["pseudonym", "transcript_id", "turn_id", "sentence_id", "n_words", "text"]
    return left[columns].head(n).reset_index(drop=True)


def code_matrix(
    codings: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    codes: Sequence[str] | None = None,
    presence: bool = False,
    rollup: bool = False,
) -> pd.DataFrame:
    """Participants x codes: coded sentences (or presence 0/1), negated codings left out.

    codes: the columns, in this order (default: every codebook code that was voiced at all).
    rollup: count each code's descendants too.
    RETURNS (DataFrame): index pseudonym (every participant, in pseudonym order), columns code ids.
    """
    frame = rolled_up(codings, codebook) if rollup else codings
    voiced = voiced_codings(frame, participants)
    voiced = voiced.assign(sentence=sentence_key(voiced) if len(voiced) else pd.Series(dtype=str))
    counts = voiced.groupby(["pseudonym", "code_id"])["sentence"].nunique().unstack(fill_value=0)
    if codes is None:
        codes = [c for c in codebook["code_id"] if c in counts.columns]
    people = participant_order(participants["pseudonym"])
    matrix = counts.reindex(index=people, columns=list(codes), fill_value=0).fillna(0).astype(int)
    matrix.index.name = "pseudonym"
    matrix.columns.name = "code_id"
    return (matrix > 0).astype(int) if presence else matrix


def participants_per_code(
    codings: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    codes: Sequence[str],
) -> pd.DataFrame:
    """How many participants voiced each code (a code counts the codes below it), most first.

    RETURNS (DataFrame): code_id, label, n_participants, share, n_sentences, strength (sentences per
        voicing participant), n_negated, pseudonyms (comma-separated); sorted by n_participants,
        then n_sentences, then codebook order.
    """
    total = participants["pseudonym"].nunique()
    matrix = code_matrix(codings, participants, codebook, codes=codes, rollup=True)
    labels = code_labels(codebook)
    rolled = rolled_up(codings, codebook)
    negated = (
        rolled[rolled["negated"].astype(bool)].groupby("code_id").size() if len(rolled) else {}
    )
    rows = []
    for code_id in codes:
        column = matrix[code_id]
        voicing = column[column > 0]
        rows.append(
            {
                "code_id": code_id,
                "label": labels.get(code_id, code_id),
                "n_participants": int(voicing.size),
                "share": voicing.size / total if total else float("nan"),
                "n_sentences": int(column.sum()),
                "strength": float(voicing.mean()) if voicing.size else 0.0,
                "n_negated": int(negated.get(code_id, 0)) if len(negated) else 0,
                "pseudonyms": ", ".join(voicing.index),
                "order": list(codes).index(code_id),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values(
        ["n_participants", "n_sentences", "order"], ascending=[False, False, True]
    )
    return table.drop(columns="order").reset_index(drop=True)


def participants_voicing_several(
    codings: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    codes: Sequence[str],
) -> int:
    """RETURNS (int): how many participants voiced two or more of the given codes."""
    presence = code_matrix(codings, participants, codebook, codes=codes, presence=True)
    return int((presence.sum(axis=1) >= 2).sum())


def top_labels(
    table: pd.DataFrame, *, column: str, label: str = "label", supported_only: bool = False
) -> list[str]:
    """The labels of every row that shares the highest value of `column` (ties included).

    supported_only: consider only the rows with the support for a "most" (`is_supported` of their
        n_sentences and n_participants); none supported, no leader.
    RETURNS (list[str]): the leaders, in table order (empty for an empty table).
    """
    if supported_only:
        pairs = zip(table["n_sentences"], table["n_participants"], strict=True)
        table = table[[is_supported(s, p) for s, p in pairs]]
    if table.empty:
        return []
    best = table[column].max()
    return table.loc[table[column] == best, label].astype(str).tolist()
