"""Page 03 (and 04): themes compared across turns, interview sections and participant attributes.

Co-occurrence is the Jaccard index of two codes over participant turns (or sentences); sections
come from the interview guide, in the order they come up; attributes are the columns of
participants.csv, a multi-valued one ("Physics; MBA") split into its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qualcode.analysis.checks import PremiseError
from qualcode.analysis.codes import code_matrix, rolled_up
from qualcode.analysis.support import is_supported
from qualcode.units import sentence_key

# The section of turns that fall before the interview guide's first question.
NO_SECTION = "unassigned"


@dataclass(frozen=True)
class Voicing:
    """Who voiced which codes, from a participants x codes matrix."""

    voiced_by: pd.Series  # per code: participants who voiced it, most first (ties: matrix order)
    breadth: pd.Series  # per participant: codes they voiced, most first (ties: matrix order)
    by_everyone: list[str]  # codes every participant voiced, most voiced first
    by_one: list[str]  # codes a single participant voiced
    voiced_codes: list[str]  # codes someone voiced, in matrix order


def voicing(counts: pd.DataFrame) -> Voicing:
    """Summarise a participants x codes matrix (`code_matrix`): who voiced what, how widely.

    RETURNS (Voicing): per code and per participant counts, and the codes voiced by everyone,
        by one participant, and at all.
    """
    presence = (counts > 0).astype(int)
    voiced_by = presence.sum(axis=0).sort_values(ascending=False, kind="stable")
    n = len(counts.index)
    return Voicing(
        voiced_by=voiced_by,
        breadth=presence.sum(axis=1).sort_values(ascending=False, kind="stable"),
        by_everyone=[c for c in voiced_by.index if voiced_by[c] == n],
        by_one=[c for c in voiced_by.index if voiced_by[c] == 1],
        voiced_codes=[c for c in counts.columns if voiced_by.get(c, 0) > 0],
    )


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


def top_pairs(
    similarity: pd.DataFrame,
    *,
    codings: pd.DataFrame | None = None,
    unit: str = "turn",
    n: int = 5,
) -> pd.DataFrame:
    """The most similar distinct pairs of codes (Jaccard > 0), those with the support for a "most"
    first (`is_supported`: the units holding both, from how many participants).

    codings: the codings `similarity` was computed from (with `unit`); without them no pair is
        counted as supported.
    RETURNS (DataFrame): code_a, code_b, jaccard, n_both (units holding both), n_participants
        (transcripts with such a unit), supported; the n first.
    """
    both: dict[tuple[str, str], set] = {}
    if codings is not None and len(codings):
        frame = codings[~codings["negated"].astype(bool)]
        keys = ["transcript_id", "turn_id"] + (["sentence_id"] if unit == "sentence" else [])
        frame = frame[frame["code_id"].isin(similarity.index)]
        for key, group in frame.groupby(keys, sort=False)["code_id"]:
            held = sorted(set(group), key=list(similarity.index).index)
            for i, a in enumerate(held):
                for b in held[i + 1 :]:
                    both.setdefault((a, b), set()).add(key)
    rows = []
    for i, a in enumerate(similarity.index):
        for b in similarity.columns[i + 1 :]:
            if similarity.loc[a, b] > 0:
                units = both.get((a, b), set())
                n_people = len({u[0] for u in units})
                rows.append(
                    (a, b, float(similarity.loc[a, b]), len(units), n_people,
                     is_supported(len(units), n_people))
                )  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=["code_a", "code_b", "jaccard", "n_both", "n_participants", "supported"],
    )
    table = table.sort_values(
        ["supported", "jaccard", "code_a", "code_b"], ascending=[False, False, True, True]
    )
    return table.head(n).reset_index(drop=True)


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
    frame = rolled_up(codings, codebook) if codebook is not None else codings
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


@dataclass(frozen=True)
class SectionPeaks:
    """Where each code came up most, by interview section."""

    peaks: pd.DataFrame  # code_id, n_sentences, section, share, supported; codes without
    # sentences in a guide section left out
    most_tied: pd.Series | None  # the supported row with the largest share (ties: the first)


def section_peaks(
    sections: pd.DataFrame, *, n_participants: dict[str, int] | pd.Series | None = None
) -> SectionPeaks:
    """Per code, the guide section holding the largest share of its sentences, and the code most
    tied to one section among those with the support for it (`is_supported`).

    sections: `codes_by_section`; turns outside every guide section count in a code's total but
        are never its peak.
    n_participants: per code, the participants who voiced it (without it no code is supported).
    RETURNS (SectionPeaks): one row per code with sentences in a guide section, in the order of
        `sections`, and the most tied supported one (None when no code has the support).
    """
    totals = sections.sum(axis=1)
    named = sections.drop(columns=[NO_SECTION], errors="ignore")
    used = named.sum(axis=1) > 0
    shares = named[used].div(totals[used], axis=0)
    people = dict(n_participants) if n_participants is not None else {}
    peaks = pd.DataFrame(
        {
            "code_id": sections.index[used],
            "n_sentences": totals[used].to_numpy(),
            "section": shares.idxmax(axis=1).to_numpy() if used.any() else [],
            "share": shares.max(axis=1).to_numpy() if used.any() else [],
        }
    )
    peaks["supported"] = [
        is_supported(n, people.get(c, 0))
        for c, n in zip(peaks["code_id"], peaks["n_sentences"], strict=True)
    ]
    backed = peaks[peaks["supported"]]
    most_tied = backed.loc[backed["share"].idxmax()] if len(backed) else None
    return SectionPeaks(peaks=peaks, most_tied=most_tied)


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


@dataclass(frozen=True)
class AttributeGap:
    """The code whose share of voicing participants differs most between attribute groups."""

    code_id: str
    high_group: str  # column of `codes_by_attribute` with the largest share
    high_share: float
    low_group: str  # ... and with the smallest
    low_share: float


def attribute_gap(table: pd.DataFrame, *, min_size: int = 2) -> AttributeGap | None:
    """The widest gap between attribute groups of at least min_size participants.

    table: `codes_by_attribute` (its attrs["sizes"] gives the group sizes).
    RETURNS (AttributeGap | None): the code and the groups at both ends; None with fewer than two
        such groups or no difference between them.
    """
    sizes = table.attrs["sizes"]
    groups = [c for c, n in zip(table.columns, sizes.values(), strict=True) if n >= min_size]
    if len(groups) < 2:
        return None
    shares = table[groups]
    spread = shares.max(axis=1) - shares.min(axis=1)
    if not spread.max() > 0:
        return None
    widest = spread.idxmax()
    return AttributeGap(
        code_id=widest,
        high_group=shares.loc[widest].idxmax(),
        high_share=float(shares.loc[widest].max()),
        low_group=shares.loc[widest].idxmin(),
        low_share=float(shares.loc[widest].min()),
    )


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


@dataclass(frozen=True)
class AttributeSpread:
    """How the participants spread over the values of a multi-valued attribute."""

    values: pd.DataFrame  # `attribute_counts`
    n_people: int  # participants
    n_multi: int  # participants holding more than one value
    n_distinct: int  # distinct entries (a combination of values counts once)
    shared: pd.DataFrame  # the values held by more than one participant


def attribute_spread(participants: pd.DataFrame, attribute: str, *, split: str) -> AttributeSpread:
    """Values of a multi-valued attribute (e.g. a background "Physics; MBA") over participants.

    RETURNS (AttributeSpread): the values with their counts, how many hold several, how many
        entries are distinct, and the values that recur.
    """
    values = attribute_counts(participants, attribute, split=split)
    people = participants.drop_duplicates("pseudonym")
    return AttributeSpread(
        values=values,
        n_people=len(people),
        n_multi=int(people[attribute].str.contains(split, regex=False).sum()),
        n_distinct=int(people[attribute].nunique()),
        shared=values[values["n_participants"] > 1],
    )
