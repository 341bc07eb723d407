"""The numbers behind the notebooks: tables computed from the processed data and the codebook.

Every figure and every number in the report's narrative comes from a function here, so adding a
transcript changes the report. The functions take the tables of data/processed (see the design's
table contracts), participants.csv without its name columns, and the codebook as a frame
(`codebook_frame`). Participants are counted by pseudonym; a code is "voiced" by a participant when
at least one of their sentences carries it and the coding is not negated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qualcode.codebook import load_codebook
from qualcode.config import Params, load_params
from qualcode.errors import QualcodeInputError
from qualcode.study_ids import for_sharing
from qualcode.tables import CODINGS_COLUMNS, QUANTITIES_COLUMNS, read_table

log = logging.getLogger(__name__)

# Columns of participants.csv that hold names: never read into the analysis, never shown.
NAME_COLUMNS = ("participant_label", "interviewer_label")
UNKNOWN = "unknown"
NO_SECTION = "unassigned"
# Pseudonym placeholders written by de-identification: [PERSON_4], [ORG_1] ...
PSEUDONYM_PATTERN = r"\[[A-Z][A-Z]*_\d+\]"
# Annotations a transcriber adds: [laughs], (inaudible), [crosstalk 00:12:03] ... (not pseudonyms)
ANNOTATION_PATTERN = (
    r"\[(?![A-Z]+_\d+\])[^\]\n]{1,60}\]"
    r"|\((?:inaudible|crosstalk|laughs?|laughter|pause|silence|coughs?|unintelligible|indistinct)"
    r"[^)\n]{0,40}\)"
)
# Words that qualify a statement: a coded sentence holding one is possible counter-evidence.
QUALIFIERS = (
    "but",
    "although",
    "though",
    "however",
    "except",
    "unless",
    "depends",
    "not always",
    "not really",
    "sometimes",
    "hardly",
    "rarely",
)

# A sentence with a negation word or a question is not a plain statement of a theme.
NOT_PLAIN = re.compile(r"\?|\b(?:not|never|no|nobody|nothing)\b|n't\b", re.IGNORECASE)


class PremiseError(ValueError):
    """A premise of the report's narrative does not hold for the data (raised by the checks)."""


# ---------------------------------------------------------------------------------------------
# Loading


def codebook_frame(codebook_path: Path | str) -> pd.DataFrame:
    """The codebook's codes as a frame, in codebook order, with their place in the hierarchy.

    The codebook is loaded and validated by qualcode.codebook; frame.attrs holds its version and
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


def load_participants(
    raw_dir: Path | str, *, transcripts: pd.DataFrame, turns: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per ingested transcript: its participant's pseudonym and attributes, no names.

    participants.csv in raw_dir supplies pseudonym and attributes; its name columns are never read.
    A transcript it does not list gets the participant speaker's pseudonym from turns (or its id)
    and "unknown" attributes, so a newly added transcript still counts.
    RETURNS (DataFrame): transcript_id, pseudonym and the attribute columns of participants.csv.
    """
    path = Path(raw_dir) / "participants.csv"
    if path.exists():
        header = pd.read_csv(path, nrows=0).columns
        keep = [c for c in header if c not in NAME_COLUMNS]
        table = pd.read_csv(path, usecols=keep, dtype=str, keep_default_na=False)
        for needed in ("transcript_id", "pseudonym"):
            if needed not in table.columns:
                raise QualcodeInputError(f"expected a `{needed}` column", path=path, line=1)
        duplicated = table["transcript_id"][table["transcript_id"].duplicated()]
        if len(duplicated):
            raise QualcodeInputError(
                f"transcript {duplicated.iloc[0]} is listed twice",
                path=path,
                element="transcript_id",
            )
    else:
        log.warning("%s not found; participants are named after their transcripts", path)
        table = pd.DataFrame(
            {"transcript_id": pd.Series(dtype=str), "pseudonym": pd.Series(dtype=str)}
        )
    ids = sorted(transcripts["transcript_id"].astype(str))
    table = table[table["transcript_id"].isin(ids)]
    missing = [t for t in ids if t not in set(table["transcript_id"])]
    if missing:
        fallback = {}
        if turns is not None:
            speakers = turns[turns["role"] == "participant"].sort_values(
                ["transcript_id", "turn_id"]
            )
            fallback = speakers.groupby("transcript_id")["speaker"].first().to_dict()
        extra = pd.DataFrame(
            {"transcript_id": missing, "pseudonym": [fallback.get(t) or t for t in missing]}
        )
        table = pd.concat([table, extra], ignore_index=True)
    attributes = [c for c in table.columns if c not in ("transcript_id", "pseudonym")]
    table[attributes] = table[attributes].replace("", np.nan).fillna(UNKNOWN)
    table["pseudonym"] = table["pseudonym"].replace("", np.nan).fillna(table["transcript_id"])
    return table.sort_values("transcript_id").reset_index(drop=True)


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
    participants = load_participants(raw_dir, transcripts=transcripts, turns=turns)
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


# ---------------------------------------------------------------------------------------------
# Narrative helpers


def count_phrase(n: int, total: int, noun: str = "participants") -> str:
    """RETURNS (str): "7 of 10 participants"."""
    return f"{n} of {total} {noun}"


def listing(items: Iterable[object], *, conjunction: str = "and") -> str:
    """RETURNS (str): "a, b and c" (empty text for no items)."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def percent(share: float, digits: int = 0) -> str:
    """RETURNS (str): a share (0..1) as a percentage, "n/a" when undefined."""
    if share is None or pd.isna(share):
        return "n/a"
    return f"{100 * share:.{digits}f}%"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """RETURNS (str): "1 code", "3 codes"."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"


def _labels(codebook: pd.DataFrame) -> dict[str, str]:
    return dict(zip(codebook["code_id"], codebook["label"], strict=True))


# ---------------------------------------------------------------------------------------------
# 01: what came in and what cleaning removed


def _word_count(text: pd.Series) -> pd.Series:
    return text.fillna("").str.split().str.len().astype(int)


def transcript_overview(
    transcripts: pd.DataFrame, turns: pd.DataFrame, participants: pd.DataFrame
) -> pd.DataFrame:
    """Per transcript: format, turns, words, speakers and the interviewer's share of the talk.

    Words are counted in the spoken text (turns.text_raw).
    RETURNS (DataFrame): transcript_id, pseudonym, format, n_turns, n_words, n_speakers,
        participant_words, interviewer_words, interviewer_share; one row per transcript.
    """
    words = turns.assign(words=_word_count(turns["text_raw"]))
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
    return table[columns].sort_values("transcript_id").reset_index(drop=True)


def _count(pattern: re.Pattern[str], texts: pd.Series) -> pd.Series:
    return texts.fillna("").map(lambda text: len(pattern.findall(text))).astype(int)


INGEST_COUNTS = ("n_annotations", "n_disfluencies", "n_pseudonyms")


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
            "words_raw": _word_count(raw),
            "words_clean": _word_count(clean),
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
    removed = _word_count(candidates["text_raw"]) - _word_count(candidates["text"])
    ranked = candidates.assign(words_removed=removed).sort_values(
        ["words_removed", "transcript_id", "turn_id"], ascending=[False, True, True]
    )
    row = ranked.iloc[0]
    return row[["transcript_id", "turn_id", "speaker", "text_raw", "text", "words_removed"]]


# ---------------------------------------------------------------------------------------------
# 02: the codebook at work


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


def sentence_key(frame: pd.DataFrame) -> pd.Series:
    """RETURNS (Series): "transcript_id/turn_id/sentence_id" per row, to match sentences."""
    return (
        frame["transcript_id"].astype(str)
        + "/"
        + frame["turn_id"].astype(str)
        + "/"
        + frame["sentence_id"].astype(str)
    )


def _rolled_up(codings: pd.DataFrame, codebook: pd.DataFrame) -> pd.DataFrame:
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


def code_frequencies(
    codings: pd.DataFrame, codebook: pd.DataFrame, participants: pd.DataFrame
) -> pd.DataFrame:
    """How often each code fired, in how many sentences, transcripts and participants.

    A parent code counts its own codings and those of every code below it.
    RETURNS (DataFrame): code_id, label, depth, n_codings, n_sentences, n_transcripts,
        n_participants, n_negated; one row per codebook code, in codebook order.
    """
    rolled = _rolled_up(codings, codebook)
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


def participant_sentences(
    sentences: pd.DataFrame, turns: pd.DataFrame, *, roles: Sequence[str] = ("participant",)
) -> pd.DataFrame:
    """RETURNS (DataFrame): the sentences spoken in turns of the given roles, with speaker."""
    spoken = turns.loc[
        turns["role"].isin(roles), ["transcript_id", "turn_id", "speaker", "section"]
    ]
    return sentences.merge(spoken, on=["transcript_id", "turn_id"], how="inner")


def coverage(sentences: pd.DataFrame, turns: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Share of participant sentences that at least one code caught, per transcript.

    RETURNS (DataFrame): transcript_id, n_sentences, n_coded, share; a last row `all` sums them.
    """
    spoken = participant_sentences(sentences, turns)
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
    spoken = participant_sentences(sentences, turns)
    coded = set(sentence_key(codings)) if len(codings) else set()
    left = spoken[~sentence_key(spoken).isin(coded)] if len(spoken) else spoken
    left = left.assign(n_words=_word_count(left["text"]))
    left = left.merge(participants[["transcript_id", "pseudonym"]], on="transcript_id", how="left")
    left = left.sort_values(
        ["n_words", "transcript_id", "turn_id", "sentence_id"], ascending=[False, True, True, True]
    )
    columns = ["pseudonym", "transcript_id", "turn_id", "sentence_id", "n_words", "text"]
    return left[columns].head(n).reset_index(drop=True)


def read_agreement(processed_dir: Path | str) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): agreement.csv of processed_dir (None before it is made)."""
    path = Path(processed_dir) / "agreement.csv"
    if not path.exists():
        return None
    return pd.read_csv(path)


MACHINE_CODERS = ("rules", "model")


def main_pair(agreement: pd.DataFrame) -> tuple[str, str] | None:
    """The pair of coders to report: a person (the reference first) against the machine.

    RETURNS (tuple[str, str] | None): (coder_a, coder_b): the first pair in the frame whose first
        coder is a person (human:...) and whose second is rules or model; else the first pair;
        None for a frame without coder columns or rows.
    """
    if agreement.empty or not {"coder_a", "coder_b"} <= set(agreement.columns):
        return None
    pairs = list(dict.fromkeys(zip(agreement["coder_a"], agreement["coder_b"], strict=True)))
    for first, second in pairs:
        if str(first).startswith("human:") and second in MACHINE_CODERS:
            return str(first), str(second)
    return str(pairs[0][0]), str(pairs[0][1])


def agreement_table(
    agreement: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    metric: str = "kappa",
    pair: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Per-code agreement of one pair of coders, best first, the pooled rows last.

    agreement: agreement.csv or qualcode.agreement's per-code frame (one row per code, scope and
        pair of coders). The rows of `pair` (default: `main_pair`) are kept, but not the
        parents' roll-up rows (scope "rollup"); and
        codes that neither coder used (n_first + n_second == 0) are left out (their number is in
        attrs["unused"]). Rows whose code_id is not a codebook code (e.g. "ALL") come last.
    RETURNS (DataFrame): code_id, label, then the agreement frame's columns.
    """
    if metric not in agreement.columns:
        raise PremiseError(
            f"agreement has no `{metric}` column (has {', '.join(agreement.columns)})"
        )
    table = agreement.copy()
    if "scope" in table.columns:
        table = table[table["scope"] != "rollup"]
    pair = pair or main_pair(table)
    if pair is not None:
        table = table[(table["coder_a"] == pair[0]) & (table["coder_b"] == pair[1])]
    unused = 0
    if {"n_first", "n_second"} <= set(table.columns):
        used = (table["n_first"] + table["n_second"]) > 0
        unused = int((~used).sum())
        table = table[used]
    labels = _labels(codebook)
    table.insert(1, "label", table["code_id"].map(labels))
    in_book = table["code_id"].isin(labels)
    ranked = table[in_book].sort_values(
        [metric, "code_id"], ascending=[False, True], na_position="last"
    )
    result = pd.concat([ranked, table[~in_book]], ignore_index=True)
    result.attrs["unused"] = unused
    result.attrs["pair"] = pair
    return result


# ---------------------------------------------------------------------------------------------
# 03: themes across participants


def _voiced(codings: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    frame = codings[~codings["negated"].astype(bool)] if len(codings) else codings
    return frame.merge(
        participants[["transcript_id", "pseudonym"]], on="transcript_id", how="inner"
    )


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
    frame = _rolled_up(codings, codebook) if rollup else codings
    voiced = _voiced(frame, participants)
    voiced = voiced.assign(sentence=sentence_key(voiced) if len(voiced) else pd.Series(dtype=str))
    counts = voiced.groupby(["pseudonym", "code_id"])["sentence"].nunique().unstack(fill_value=0)
    if codes is None:
        codes = [c for c in codebook["code_id"] if c in counts.columns]
    people = sorted(participants["pseudonym"].unique())
    matrix = counts.reindex(index=people, columns=list(codes), fill_value=0).fillna(0).astype(int)
    matrix.index.name = "pseudonym"
    matrix.columns.name = "code_id"
    return (matrix > 0).astype(int) if presence else matrix


def leaf_codes(codebook: pd.DataFrame) -> list[str]:
    """RETURNS (list[str]): codes with no code below them, in codebook order."""
    parents = set(codebook["parent"].dropna())
    return [c for c in codebook["code_id"] if c not in parents]


def cooccurrence(
    codings: pd.DataFrame, *, unit: str = "turn", codes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Jaccard similarity of codes over units: |both| / |either|, negated codings left out.

    unit: "turn" or "sentence".
    RETURNS (DataFrame): a symmetric codes x codes frame (diagonal 1 for codes that occur).
    """
    if unit not in ("turn", "sentence"):
        raise ValueError(f"unit must be turn or sentence, not {unit!r}")
    frame = codings[~codings["negated"].astype(bool)] if len(codings) else codings
    keys = ["transcript_id", "turn_id"] + (["sentence_id"] if unit == "sentence" else [])
    if codes is None:
        codes = sorted(frame["code_id"].unique())
    frame = frame[frame["code_id"].isin(codes)]
    units = frame.assign(unit=frame[keys].astype(str).agg("/".join, axis=1) if len(frame) else [])
    incidence = pd.crosstab(units["unit"], units["code_id"]).clip(upper=1) if len(units) else None
    if incidence is None:
        return pd.DataFrame(0.0, index=list(codes), columns=list(codes))
    incidence = incidence.reindex(columns=list(codes), fill_value=0)
    values = incidence.to_numpy()
    both = values.T @ values
    size = np.diag(both)
    either = size[:, None] + size[None, :] - both
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.where(either > 0, both / either, 0.0)
    return pd.DataFrame(jaccard, index=list(codes), columns=list(codes))


def top_pairs(similarity: pd.DataFrame, *, n: int = 5) -> pd.DataFrame:
    """RETURNS (DataFrame): code_a, code_b, jaccard for the n most similar distinct pairs (> 0)."""
    rows = [
        (a, b, float(similarity.loc[a, b]))
        for i, a in enumerate(similarity.index)
        for b in similarity.columns[i + 1 :]
        if similarity.loc[a, b] > 0
    ]
    table = pd.DataFrame(rows, columns=["code_a", "code_b", "jaccard"])
    return table.sort_values(["jaccard", "code_a", "code_b"], ascending=[False, True, True]).head(n)


def section_order(turns: pd.DataFrame) -> list[str]:
    """Interview sections in the order they come up (by mean relative position of their turns).

    RETURNS (list[str]): section names; turns without a section come last as "unassigned".
    """
    frame = turns.assign(section=turns["section"].fillna(NO_SECTION))
    length = frame.groupby("transcript_id")["turn_id"].transform("max").replace(0, 1)
    frame = frame.assign(position=frame["turn_id"] / length)
    order = frame.groupby("section")["position"].mean().sort_values()
    names = [s for s in order.index if s != NO_SECTION]
    return names + ([NO_SECTION] if NO_SECTION in order.index else [])


def codes_by_section(
    codings: pd.DataFrame,
    turns: pd.DataFrame,
    *,
    codes: Sequence[str],
    codebook: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Coded sentences per code and interview section (past, present, future ...).

    codebook: when given, a code counts the sentences of the codes below it too.
    RETURNS (DataFrame): index code_id (in the given order), columns sections in interview order.
    """
    frame = _rolled_up(codings, codebook) if codebook is not None else codings
    frame = frame[~frame["negated"].astype(bool)] if len(frame) else frame
    frame = frame[frame["code_id"].isin(codes)].merge(
        turns[["transcript_id", "turn_id", "section"]], on=["transcript_id", "turn_id"], how="left"
    )
    frame = frame.assign(
        section=frame["section"].fillna(NO_SECTION),
        sentence=sentence_key(frame) if len(frame) else pd.Series(dtype=str),
    )
    counts = frame.groupby(["code_id", "section"])["sentence"].nunique().unstack(fill_value=0)
    return (
        counts.reindex(index=list(codes), columns=section_order(turns), fill_value=0)
        .fillna(0)
        .astype(int)
    )


def codes_by_attribute(
    codings: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    attribute: str,
    codes: Sequence[str],
    split: str | None = None,
) -> pd.DataFrame:
    """Share of the participants in each attribute group who voiced each code.

    split: a separator for multi-valued attributes ("Physics; MBA"), each value its own group.
    RETURNS (DataFrame): index code_id, columns "value (n=k)" sorted by group size; attrs["sizes"].
    """
    if attribute not in participants.columns:
        raise PremiseError(f"participants.csv has no `{attribute}` column")
    people = participants[["pseudonym", attribute]].drop_duplicates("pseudonym")
    if split:
        people = people.assign(**{attribute: people[attribute].str.split(split)}).explode(attribute)
        people[attribute] = people[attribute].str.strip()
    sizes = (
        people.groupby(attribute)["pseudonym"].nunique().sort_values(ascending=False, kind="stable")
    )
    presence = code_matrix(codings, participants, _codes_frame(codes), codes=codes, presence=True)
    joined = people.merge(presence.reset_index(), on="pseudonym", how="left").fillna(0)
    shares = joined.groupby(attribute)[list(codes)].mean().T
    shares = shares.reindex(columns=sizes.index)
    shares.columns = [f"{value} (n={sizes[value]})" for value in sizes.index]
    shares.index.name = "code_id"
    shares.attrs["sizes"] = sizes.to_dict()
    return shares


def _codes_frame(codes: Sequence[str]) -> pd.DataFrame:
    """A flat codebook of the given codes (for code_matrix without roll-up)."""
    return pd.DataFrame(
        {
            "code_id": list(codes),
            "label": list(codes),
            "parent": [None] * len(codes),
            "path": list(codes),
        }
    )


def quantity_values(
    quantities: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    kind: str,
    codings: pd.DataFrame | None = None,
    codes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each participant's stated values of one quantity (hours per client, clients at once ...).

    codings, codes: when given, only quantities in sentences coded (not negated) with one of these
        codes count, e.g. the sentences about time per client.
    A stated range ("two or three clients") counts at its midpoint (value) and widens the
    participant's range with its ends (low, high columns, when the table has them).
    RETURNS (DataFrame): pseudonym, n_mentions, value (their median), low, high (their range),
        unit; sorted by value.
    """
    frame = quantities[quantities["kind"] == kind]
    if codes is not None:
        if codings is None:
            raise ValueError("codes needs codings")
        keys = ["transcript_id", "turn_id", "sentence_id"]
        coded = codings[codings["code_id"].isin(codes) & ~codings["negated"].astype(bool)]
        frame = frame.merge(coded[keys].drop_duplicates(), on=keys, how="inner")
    frame = frame.merge(
        participants[["transcript_id", "pseudonym"]], on="transcript_id", how="inner"
    )
    value = pd.to_numeric(frame["value"], errors="coerce")
    low = pd.to_numeric(frame["low"], errors="coerce") if "low" in frame else value
    high = pd.to_numeric(frame["high"], errors="coerce") if "high" in frame else value
    frame = frame.assign(value=value, low=low.fillna(value), high=high.fillna(value))
    frame = frame.dropna(subset=["value"])
    table = frame.groupby("pseudonym").agg(
        n_mentions=("value", "size"),
        value=("value", "median"),
        low=("low", "min"),
        high=("high", "max"),
        unit=("unit", lambda s: s.mode().iloc[0] if len(s.mode()) else ""),
    )
    columns = ["pseudonym", "n_mentions", "value", "low", "high", "unit"]
    table = table.reset_index().sort_values(["value", "pseudonym"]).reset_index(drop=True)
    return table[columns]


def describe_values(values: pd.Series) -> dict[str, float]:
    """RETURNS (dict): n, median, q1, q3, min, max of a numeric series (NaN when empty)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return {k: float("nan") for k in ("median", "q1", "q3", "min", "max")} | {"n": 0}
    return {
        "n": int(values.size),
        "median": float(values.median()),
        "q1": float(values.quantile(0.25)),
        "q3": float(values.quantile(0.75)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def quantity_phrase(values: pd.DataFrame, *, total: int, what: str, unit: str = "") -> str:
    """One sentence on a quantity that participants stated (from `quantity_values`).

    what: what they stated ("the hours a client gets"); unit: appended to the median.
    RETURNS (str): "7 of 10 participants stated ...: a median of 10 hours a week (middle half 10
        to 12; stated values from 8 to 15)", or "None of the 10 participants stated ...".
    """
    stats = describe_values(values["value"])
    if stats["n"] == 0:
        return f"None of the {total} participants stated {what}."
    return (
        f"{count_phrase(stats['n'], total)} stated {what}: a median of "
        f"{number(stats['median'])}{unit} (middle half {number(stats['q1'])} to "
        f"{number(stats['q3'])}; stated values from {number(values['low'].min())} to "
        f"{number(values['high'].max())})"
    )


def decimal(value: float, digits: int = 2) -> str:
    """RETURNS (str): the value with `digits` decimals, never "-0.00"; "n/a" for NaN."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def number(value: float) -> str:
    """RETURNS (str): 10 for 10.0, 2.5 for 2.5, "n/a" for NaN."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


# ---------------------------------------------------------------------------------------------
# Saturation (Guest, Namey and Chen 2020)


@dataclass(frozen=True)
class Saturation:
    """New codes per added interview over random orders of the interviews."""

    curves: pd.DataFrame  # order, position (1..n), new_codes, cumulative_codes
    summary: pd.DataFrame  # position, mean/low/high of new_codes and cumulative_codes
    points: pd.Series  # per order: interviews until saturation (NaN when never reached)
    n_codes: int
    base_size: int
    run_length: int
    threshold: float


def saturation(
    codings: pd.DataFrame,
    transcripts: Sequence[str],
    *,
    orders: int,
    seed: int,
    codes: Sequence[str] | None = None,
    base_size: int = 4,
    run_length: int = 2,
    threshold: float = 0.05,
    band: tuple[float, float] = (0.1, 0.9),
) -> Saturation:
    """Code saturation over `orders` random orders of the interviews (seeded, reproducible).

    Following Guest, Namey and Chen (2020), the new-information ratio after a run of `run_length`
    interviews is the number of codes first seen in the run divided by the codes in the first
    `base_size` interviews; saturation is reached at the first run whose ratio is <= threshold.
    transcripts: every interview, coded or not (an interview that adds nothing still counts).
    RETURNS (Saturation): curves per order, a summary with a band (quantiles `band`), the
        saturation point per order.
    """
    if orders < 1:
        raise ValueError("orders must be at least 1")
    frame = codings[~codings["negated"].astype(bool)] if len(codings) else codings
    if codes is not None:
        frame = frame[frame["code_id"].isin(codes)]
    found = frame.groupby("transcript_id")["code_id"].agg(set).to_dict()
    ids = sorted(set(transcripts))
    sets = [found.get(t, set()) for t in ids]
    n = len(ids)
    rng = np.random.default_rng(seed)
    rows = []
    points = []
    for order in range(orders):
        perm = rng.permutation(n)
        seen: set[str] = set()
        new_counts = []
        for position, index in enumerate(perm, start=1):
            new = sets[index] - seen
            seen |= new
            new_counts.append(len(new))
            rows.append((order, position, len(new), len(seen)))
        points.append(_saturation_point(new_counts, base_size, run_length, threshold))
    curves = pd.DataFrame(rows, columns=["order", "position", "new_codes", "cumulative_codes"])
    low, high = band
    grouped = curves.groupby("position")
    summary = pd.DataFrame(
        {
            "new_mean": grouped["new_codes"].mean(),
            "new_low": grouped["new_codes"].quantile(low),
            "new_high": grouped["new_codes"].quantile(high),
            "cumulative_mean": grouped["cumulative_codes"].mean(),
            "cumulative_low": grouped["cumulative_codes"].quantile(low),
            "cumulative_high": grouped["cumulative_codes"].quantile(high),
        }
    ).reset_index()
    return Saturation(
        curves=curves,
        summary=summary,
        points=pd.Series(points, name="saturation_at", dtype=float),
        n_codes=len(set().union(*sets)) if sets else 0,
        base_size=base_size,
        run_length=run_length,
        threshold=threshold,
    )


def _saturation_point(
    new_counts: list[int], base_size: int, run_length: int, threshold: float
) -> float:
    """Interviews needed until a run adds <= threshold of the base's codes (NaN if never)."""
    base = sum(new_counts[:base_size])
    if base == 0 or len(new_counts) < base_size + run_length:
        return float("nan")
    for end in range(base_size + run_length, len(new_counts) + 1):
        run = sum(new_counts[end - run_length : end])
        if run / base <= threshold:
            return float(end - run_length)
    return float("nan")


# ---------------------------------------------------------------------------------------------
# 04: key takeaways


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
    labels = _labels(codebook)
    rolled = _rolled_up(codings, codebook)
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


def _quote_text(sentences: pd.DataFrame, row: pd.Series, *, min_chars: int, max_chars: int) -> str:
    """The coded sentence, widened to neighbouring sentences of its turn when it is too short."""
    turn = sentences[
        (sentences["transcript_id"] == row["transcript_id"])
        & (sentences["turn_id"] == row["turn_id"])
    ].sort_values("sentence_id")
    ids = turn["sentence_id"].tolist()
    texts = dict(zip(ids, turn["text"], strict=True))
    if row["sentence_id"] not in texts:
        return _shorten(str(row["text"]), max_chars)
    lo = hi = ids.index(row["sentence_id"])
    text = texts[ids[lo]]
    while len(text) < min_chars:
        if hi + 1 < len(ids) and len(text) + len(texts[ids[hi + 1]]) < max_chars:
            hi += 1
        elif lo > 0 and len(text) + len(texts[ids[lo - 1]]) < max_chars:
            lo -= 1
        else:
            break
        text = " ".join(texts[i] for i in ids[lo : hi + 1])
    return _shorten(text, max_chars)


def _shorten(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    return cut + "\u2026"


def _qualifier_pattern(qualifiers: Sequence[str]) -> re.Pattern[str]:
    words = sorted(qualifiers, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def exemplar_quotes(
    codings: pd.DataFrame,
    sentences: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    code_id: str,
    n: int = 3,
    min_chars: int = 40,
    max_chars: int = 400,
) -> pd.DataFrame:
    """Up to n quotes for a code (or its descendants), each from a different participant.

    A good exemplar states the theme plainly and specifically. Per participant, sentences come
    first that hold no qualifier (QUALIFIERS: "but", "sometimes" ...), negation word or question
    mark; then those of min_chars to max_chars; then more matches of the code, a higher score,
    a longer matched phrase ("pick a niche" says more than "niche"); then the longer text. A
    sentence shorter than min_chars is widened to its neighbours. Participants are ranked by
    their best sentence, then by how many sentences they gave the code. Negated codings are
    skipped.
    RETURNS (DataFrame): pseudonym, transcript_id, turn_id, sentence_id, code_id, quote.
    """
    below = descendants(codebook, code_id)
    voiced = _voiced(codings[codings["code_id"].isin(below)], participants)
    columns = ["pseudonym", "transcript_id", "turn_id", "sentence_id", "code_id", "quote"]
    if voiced.empty:
        return pd.DataFrame(columns=columns)
    keys = ["pseudonym", "transcript_id", "turn_id", "sentence_id"]
    score = pd.to_numeric(voiced["score"], errors="coerce").fillna(0.0)
    voiced = voiced.assign(score=score)
    matched = voiced["matched"] if "matched" in voiced.columns else voiced["text"]
    voiced = voiced.assign(specific=matched.fillna("").astype(str).str.split().str.len())
    candidates = voiced.groupby(keys, as_index=False).agg(
        matches=("code_id", "size"),
        score=("score", "max"),
        specific=("specific", "max"),
        code_id=("code_id", "first"),
    )
    texts = sentences.set_index(["transcript_id", "turn_id", "sentence_id"])["text"]
    candidates["text"] = [
        texts.get((t, u, s), "")
        for t, u, s in zip(
            candidates["transcript_id"],
            candidates["turn_id"],
            candidates["sentence_id"],
            strict=True,
        )
    ]
    candidates["length"] = candidates["text"].str.len()
    candidates["fits"] = candidates["length"].between(min_chars, max_chars)
    candidates["qualified"] = candidates["text"].str.contains(
        _qualifier_pattern(QUALIFIERS)
    ) | candidates["text"].str.contains(NOT_PLAIN)
    candidates["given"] = candidates.groupby("pseudonym")["text"].transform("size")
    order = [
        ("qualified", True),
        ("fits", False),
        ("matches", False),
        ("score", False),
        ("specific", False),
        ("given", False),
        ("length", False),
        ("transcript_id", True),
        ("turn_id", True),
        ("sentence_id", True),
    ]
    candidates = candidates.sort_values(
        [c for c, _ in order], ascending=[a for _, a in order], kind="stable"
    )
    best = candidates.drop_duplicates("pseudonym").head(n)
    best = best.assign(
        quote=[
            _quote_text(sentences, row, min_chars=min_chars, max_chars=max_chars)
            for _, row in best.iterrows()
        ]
    )
    return best[columns].reset_index(drop=True)


def counter_evidence(
    codings: pd.DataFrame,
    sentences: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    code_id: str,
    qualifiers: Sequence[str] = QUALIFIERS,
    max_chars: int = 400,
) -> pd.DataFrame:
    """Mentions of a code that cut against it: negated codings, and coded sentences that qualify.

    RETURNS (DataFrame): kind ("negated" or "qualified"), pseudonym, transcript_id, turn_id,
        sentence_id, quote; one row per sentence, negated first.
    """
    below = descendants(codebook, code_id)
    frame = codings[codings["code_id"].isin(below)].merge(
        participants[["transcript_id", "pseudonym"]], on="transcript_id", how="inner"
    )
    keys = ["transcript_id", "turn_id", "sentence_id"]
    columns = ["kind", "pseudonym", *keys, "quote"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    per_sentence = frame.groupby(["pseudonym", *keys], as_index=False).agg(
        negated=("negated", "any"), text=("text", "first")
    )
    texts = sentences.set_index(keys)["text"]
    per_sentence["quote"] = [
        _shorten(str(texts.get((t, u, s), fallback)), max_chars)
        for t, u, s, fallback in zip(
            per_sentence["transcript_id"],
            per_sentence["turn_id"],
            per_sentence["sentence_id"],
            per_sentence["text"],
            strict=True,
        )
    ]
    qualified = per_sentence["quote"].str.contains(_qualifier_pattern(qualifiers))
    per_sentence["kind"] = np.where(
        per_sentence["negated"], "negated", np.where(qualified, "qualified", "")
    )
    table = per_sentence[per_sentence["kind"] != ""]
    table = table.sort_values(["kind", "transcript_id", "turn_id", "sentence_id"])
    return table[columns].reset_index(drop=True)


def attribute_counts(
    participants: pd.DataFrame, attribute: str, *, split: str | None = None
) -> pd.DataFrame:
    """How many participants hold each value of an attribute (each value of a multi-valued one).

    RETURNS (DataFrame): value, n_participants, pseudonyms; most common first, then by value.
    """
    if attribute not in participants.columns:
        raise PremiseError(f"participants.csv has no `{attribute}` column")
    people = participants[["pseudonym", attribute]].drop_duplicates("pseudonym")
    if split:
        people = people.assign(**{attribute: people[attribute].str.split(split)}).explode(attribute)
    people = people.assign(value=people[attribute].astype(str).str.strip())
    people = people[people["value"] != ""]
    table = people.groupby("value").agg(
        n_participants=("pseudonym", "nunique"),
        pseudonyms=("pseudonym", lambda s: ", ".join(sorted(set(s)))),
    )
    table = table.reset_index().sort_values(["n_participants", "value"], ascending=[False, True])
    return table.reset_index(drop=True)


def md_escape(text: str) -> str:
    """Escape a participant's words for Markdown, so `$`, `*`, `_` or `[` show as typed.

    RETURNS (str): the escaped text, on one line.
    """
    text = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]<>()#+|$~])", r"\\\1", text)


def top_labels(table: pd.DataFrame, *, column: str, label: str = "label") -> list[str]:
    """The labels of every row that shares the highest value of `column` (ties included).

    RETURNS (list[str]): the leaders, in table order (empty for an empty table).
    """
    if table.empty:
        return []
    best = table[column].max()
    return table.loc[table[column] == best, label].astype(str).tolist()


def humanise(value: str) -> str:
    """RETURNS (str): "full time freelance" for "full_time_freelance"."""
    return str(value).replace("_", " ")


# ---------------------------------------------------------------------------------------------
# Checks: fail loudly when the narrative's premises do not hold


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
    path = Path(raw_dir) / "participants.csv"
    if not path.exists():
        return 0
    header = pd.read_csv(path, nrows=0).columns
    present = [c for c in NAME_COLUMNS if c in header]
    if not present:
        return 0
    names = pd.read_csv(path, usecols=present, dtype=str, keep_default_na=False)
    found = {n.strip() for column in present for n in names[column] if len(n.strip()) > 2}
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
