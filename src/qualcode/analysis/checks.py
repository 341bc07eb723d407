"""Checks that close each notebook: they fail loudly (PremiseError) when the data is not what the
narrative claims, so a page never shows a story its data does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from qualcode.participants import NAME_COLUMNS, PARTICIPANTS_FILE, participant_names
from qualcode.units import sentence_key

if TYPE_CHECKING:
    from qualcode.analysis.quotes import Evidence


class PremiseError(ValueError):
    """A premise of the report's narrative does not hold for the data (raised by the checks)."""


def require(condition: bool, message: str) -> None:
    """Raise PremiseError(message) unless condition holds."""
    if not condition:
        raise PremiseError(message)


def check_offsets(spans: pd.DataFrame, turns: pd.DataFrame, *, what: str = "coding") -> int:
    """Every row's start_char:end_char must slice its own text out of turns.text.

    spans: codings or sentences (transcript_id, turn_id, start_char, end_char, text).
    what: the name of a row, for the message.
    RETURNS (int): the number of rows checked.
    """
    if spans.empty:
        return 0
    texts = turns.set_index(["transcript_id", "turn_id"])["text"]
    bad = []
    for row in spans.itertuples(index=False):
        text = texts.get((row.transcript_id, row.turn_id))
        if text is None or text[int(row.start_char) : int(row.end_char)] != row.text:
            code = getattr(row, "code_id", "")
            bad.append(
                f"{row.transcript_id} turn {row.turn_id} [{row.start_char}:{row.end_char}] {code}"
            )
    if bad:
        raise PremiseError(
            f"{len(bad)} {what}(s) do not slice their text from turns.text, e.g. {bad[0].strip()}"
        )
    return len(spans)


def check_codes_in_codebook(codings: pd.DataFrame, codebook: pd.DataFrame) -> None:
    """Every coded code_id must be a codebook code."""
    unknown = sorted(set(codings["code_id"]) - set(codebook["code_id"]))
    if unknown:
        raise PremiseError(f"codes not in the codebook: {', '.join(unknown)}")


def check_codebook_version(codings: pd.DataFrame, codebook: pd.DataFrame) -> None:
    """The codings must come from the codebook version being reported."""
    version = codebook.attrs.get("version")
    if codings.empty or version is None or "codebook_version" not in codings.columns:
        return
    used = sorted({str(v) for v in codings["codebook_version"].dropna()})
    if used and used != [str(version)]:
        raise PremiseError(
            f"codings were made with codebook version(s) {', '.join(used)}, the codebook is "
            f"version {version}: run `qualcode code` again"
        )


def check_participants(participants: pd.DataFrame, transcripts: pd.DataFrame) -> None:
    """Participants exist, one per transcript, without names."""
    if participants.empty:
        raise PremiseError("no participants: ingest at least one transcript")
    leaked = [c for c in NAME_COLUMNS if c in participants.columns]
    if leaked:
        raise PremiseError(f"participant table holds name columns: {', '.join(leaked)}")
    if set(participants["transcript_id"]) != set(transcripts["transcript_id"]):
        raise PremiseError("participants and transcripts list different transcripts")


def check_no_names(frames: dict[str, pd.DataFrame], raw_dir: Path | str) -> int:
    """No name from participants.csv (participant_label, interviewer_label) may appear in the text.

    frames: tables to search, by name (e.g. {"turns": turns, "codings": codings}); every text
        column of each is searched, case-insensitively. The error names the table, transcript and
        turn, never the name itself.
    RETURNS (int): the number of names checked (0 without participants.csv).
    """
    found = participant_names(Path(raw_dir) / PARTICIPANTS_FILE)
    if not found:
        return 0
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(n) for n in sorted(found, key=len, reverse=True)) + r")\b",
        re.IGNORECASE,
    )
    for table_name, frame in frames.items():
        for column in ("text_raw", "text", "quote", "speaker", "pseudonym"):
            if column not in frame.columns:
                continue
            hits = frame[column].fillna("").astype(str).str.contains(pattern)
            if hits.any():
                row = frame[hits].iloc[0]
                where = f"{row.get('transcript_id', '?')} turn {row.get('turn_id', '?')}"
                raise PremiseError(
                    f"a name from participants.csv appears in {table_name}.{column} ({where}): "
                    "de-identification missed it"
                )
    return len(found)


def check_turn_counts(transcripts: pd.DataFrame, turns: pd.DataFrame) -> None:
    """transcripts.n_turns must match the number of rows of each transcript in turns."""
    counted = turns.groupby("transcript_id").size()
    declared = transcripts.set_index("transcript_id")["n_turns"]
    if not declared.sort_index().equals(counted.reindex(declared.index).sort_index()):
        raise PremiseError("transcripts.n_turns does not match the turns table")


def check_participant_turns(transcripts: pd.DataFrame, turns: pd.DataFrame) -> None:
    """Every transcript must hold at least one participant turn."""
    speaking = set(turns.loc[turns["role"] == "participant", "transcript_id"])
    silent = sorted(set(transcripts["transcript_id"]) - speaking)
    if silent:
        raise PremiseError(f"transcripts without a participant turn: {', '.join(silent)}")


def check_coded_roles(codings: pd.DataFrame, turns: pd.DataFrame, roles: Iterable[str]) -> None:
    """Codings may only sit in turns whose role is coded (params `coding.roles`)."""
    coded_roles = codings.merge(turns, on=["transcript_id", "turn_id"])["role"]
    if not coded_roles.isin(list(roles)).all():
        raise PremiseError("codings found in turns whose role is not coded")


def check_similarity(similarity: pd.DataFrame) -> None:
    """A co-occurrence matrix must be symmetric with every value within [0, 1]."""
    values = similarity.to_numpy()
    if not ((values >= 0) & (values <= 1)).all():
        raise PremiseError("a Jaccard index outside [0, 1]")
    if not (values == values.T).all():
        raise PremiseError("the co-occurrence matrix is not symmetric")


def check_parents(codebook: pd.DataFrame, parents: Sequence[str]) -> None:
    """Each of the parents must be a codebook code with codes below it."""
    for parent in parents:
        if parent not in set(codebook["code_id"]):
            raise PremiseError(f"code {parent} is not in the codebook")
        if not (codebook["parent"] == parent).any():
            raise PremiseError(f"{parent} has no codes below it in the codebook")


def check_quotes(
    evidence: Mapping[str, Evidence], sentences: pd.DataFrame, raw_dir: Path | str
) -> int:
    """Per code: its quotes come from different participants and point at sentences, and neither
    its quotes nor its counter-evidence hold a name from participants.csv.

    RETURNS (int): the number of quotes checked.
    """
    keys = set(sentence_key(sentences))
    for code_id, found in evidence.items():
        if found.quotes["pseudonym"].duplicated().any():
            raise PremiseError(f"two quotes for {code_id} come from the same participant")
        if not set(sentence_key(found.quotes)) <= keys:
            raise PremiseError(f"a quote for {code_id} does not point at a sentence")
        check_no_names(
            {f"quotes of {code_id}": found.quotes, f"counter-evidence of {code_id}": found.against},
            raw_dir,
        )
    return sum(len(found.quotes) for found in evidence.values())
