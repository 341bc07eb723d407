"""Page 03 and 04: the quantities participants stated (hours per client, clients at once ...),
per participant, and one sentence on each.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from qualcode.analysis.text import count_phrase, number


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
        to 12; stated values from 8 to 15).", or "None of the 10 participants stated ...".
    """
    stats = describe_values(values["value"])
    if stats["n"] == 0:
        return f"None of the {total} participants stated {what}."
    return (
        f"{count_phrase(stats['n'], total)} stated {what}: a median of "
        f"{number(stats['median'])}{unit} (middle half {number(stats['q1'])} to "
        f"{number(stats['q3'])}; stated values from {number(values['low'].min())} to "
        f"{number(values['high'].max())})."
    )
