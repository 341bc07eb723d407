"""Page 03: code saturation (Guest, Namey and Chen 2020): how many new codes each added
interview brings, over random orders of the interviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


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

    @property
    def reached(self) -> pd.Series:
        """RETURNS (Series): the saturation point of each order that reached saturation."""
        return self.points.dropna()

    def found_after(self, share: float = 0.9) -> int:
        """RETURNS (int): interviews after which, on average, `share` of the codes are found."""
        found = self.summary["cumulative_mean"] >= share * self.n_codes
        return int(self.summary.loc[found.idxmax(), "position"])


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
