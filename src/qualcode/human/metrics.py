"""Agreement metrics from 2x2 tables (one per code: both coded the unit, only the first, only the
second, neither), vectorised over codes and bootstrap replicates.

- Cohen's kappa: (p_o - p_e) / (1 - p_e), undefined (NaN) when p_e = 1 (neither coder varies).
- Krippendorff's alpha (nominal), from the `krippendorff` package; for bootstrap replicates the
  same value comes from the 2x2 table in closed form, 1 - (2n - 1)(b + c) / (n_0 n_1), where n_0
  and n_1 count the pairable values 0 and 1 (a test checks both give the same number).
- precision = both / second, recall = both / first, F1 = 2 both / (first + second).
"""

from __future__ import annotations

import logging

import krippendorff
import numpy as np

logger = logging.getLogger(__name__)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def table_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Agreement metrics from 2x2 schema.

    counts: array [..., 4] of (both, first only, second only, neither).
    RETURNS (dict[str, ndarray]): percent_agreement, percent_agreement_coded, kappa, alpha
        (closed form), precision, recall, f1; NaN where undefined.
    """
    counts = np.asarray(counts, dtype=float)
    a, b, c, d = (counts[..., k] for k in range(4))
    n = a + b + c + d
    p_o = _divide(a + d, n)
    p_e = _divide((a + b) * (a + c) + (c + d) * (b + d), n * n)
    kappa = _divide(p_o - p_e, 1 - np.where(np.isnan(p_e), 1.0, p_e))
    n1 = 2 * a + b + c
    n0 = 2 * d + b + c
    alpha = 1 - _divide((2 * n - 1) * (b + c), n0 * n1)
    return {
        "percent_agreement": p_o,
        "percent_agreement_coded": _divide(a, a + b + c),
        "kappa": kappa,
        "alpha": alpha,
        "precision": _divide(a, a + c),
        "recall": _divide(a, a + b),
        "f1": _divide(2 * a, 2 * a + b + c),
    }


def cohen_kappa(first: np.ndarray, second: np.ndarray) -> float:
    """Cohen's kappa of two yes/no codings of the same units.

    RETURNS (float): kappa, NaN when chance agreement is 1.
    """
    return float(table_metrics(two_by_two(first, second))["kappa"])


def two_by_two(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """RETURNS (ndarray): (both, first only, second only, neither) counts of two boolean vectors."""
    x = np.asarray(first, dtype=bool)
    y = np.asarray(second, dtype=bool)
    return np.array([(x & y).sum(), (x & ~y).sum(), (~x & y).sum(), (~x & ~y).sum()])


def krippendorff_alpha(first: np.ndarray, second: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) of two codings, from the `krippendorff` package.

    RETURNS (float): alpha, NaN when the units hold a single value (no variation to agree on).
    """
    data = np.vstack([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    if data.size == 0 or len(np.unique(data[~np.isnan(data)])) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
