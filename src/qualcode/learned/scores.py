"""Scores of the held-out folds: per fold, code and coder (model, rules, both) the counts and
metrics against people's coding, pooled over the folds with bootstrap intervals over
transcripts (evaluation.csv, evaluation_summary.csv), and the model's held-out codings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.learned.data import TrainingData
from qualcode.learned.features import rule_matrix
from qualcode.learned.folds import FoldResult
from qualcode.learned.predict import model_codings, typed_codings
from qualcode.learned.train import MODEL_CODER, confusion_counts

EVAL_CODERS = ("model", "rules", "both")
ALL = "ALL"
SUMMARY_METRICS = (
    "micro_f1", "micro_f1_lo", "micro_f1_hi", "macro_f1", "macro_f1_lo", "macro_f1_hi",
    "precision", "recall",
)  # fmt: skip


def micro_macro(counts: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Micro F1 (pooled over codes) and macro F1 (mean over the codes in `support`).

    counts: [..., n_codes, 4].
    RETURNS (tuple[ndarray, ndarray]): micro and macro F1 over the leading dimensions.
    """
    from qualcode.human.metrics import table_metrics

    micro = table_metrics(counts.sum(axis=-2))["f1"]
    per_code = table_metrics(counts[..., support, :])["f1"]
    if not per_code.shape[-1]:
        return micro, np.full(np.shape(micro), np.nan)
    # NaN only where a resample holds neither a human coding nor a coding of the code
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        macro = np.nanmean(per_code, axis=-1)
    return micro, macro


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if len(values) < 10:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _rows(
    fold: str,
    coder: str,
    codes: Sequence[str],
    counts: np.ndarray,
    *,
    learned: Sequence[bool] | None,
    n_train: Sequence[int] | None,
    intervals: Sequence[tuple[float, float]] | None = None,
) -> list[dict]:
    """The evaluation.csv rows of one fold (or ALL) and coder: one per code, then the codes
    pooled (code ALL, micro).

    counts: [n_codes, 4]; learned, n_train: per code (None: not shown); intervals: the F1
        interval per code and of ALL (None: not measured).
    RETURNS (list[dict]): rows with schema.EVALUATION_COLUMNS.
    """
    from qualcode.human.metrics import table_metrics

    stacked = np.vstack([counts, counts.sum(axis=0, keepdims=True)])
    metrics = table_metrics(stacked)
    nan = (float("nan"), float("nan"))
    rows = []
    for j, code in enumerate([*codes, ALL]):
        c = stacked[j]
        per_code = code != ALL
        rows.append(
            {
                "fold": fold,
                "code_id": code,
                "coder": coder,
                "learned": bool(learned[j]) if learned is not None and per_code else None,
                "n_train_examples": int(n_train[j]) if n_train is not None and per_code else None,
                "n_units": int(c.sum()),
                "n_human": int(c[0] + c[1]),
                "n_coded": int(c[0] + c[2]),
                "n_both": int(c[0]),
                **{m: float(metrics[m][j]) for m in ("precision", "recall", "f1", "kappa")},
                "f1_lo": (intervals[j] if intervals is not None else nan)[0],
                "f1_hi": (intervals[j] if intervals is not None else nan)[1],
            }
        )
    return rows


def score_folds(
    data: TrainingData, results: list[FoldResult], *, n_boot: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per fold, code and coder counts and metrics; the pooled rows (fold ALL) with bootstrap
    intervals over the held-out transcripts; per coder the summary.

    RETURNS (tuple[DataFrame, DataFrame]): evaluation.csv and evaluation_summary.csv.
    """
    from qualcode.human.metrics import table_metrics

    codes = data.labels.codes
    rules = rule_matrix(data.units, codes)
    coded_by = {
        "model": lambda res: res.coded,
        "rules": lambda res: rules[res.rows],
        "both": lambda res: res.coded | rules[res.rows],
    }
    per_coder = {  # [n_folds, n_codes, 4]
        coder: np.stack(
            [
                confusion_counts(
                    coded_by[coder](res), data.labels.y[res.rows], data.labels.known[res.rows]
                )
                for res in results
            ]
        )
        for coder in EVAL_CODERS
    }
    support = per_coder["rules"].sum(axis=0)[:, :2].sum(axis=1) > 0  # codes people used
    n_folds = len(results)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_folds, size=(n_boot, n_folds)) if n_folds >= 2 else None
    learned = np.stack([r.learned for r in results])
    n_train = [int(np.mean([r.n_train_examples[j] for r in results])) for j in range(len(codes))]
    rows, summary = [], []
    for coder, counts in per_coder.items():
        model = coder == MODEL_CODER
        for k, res in enumerate(results):
            shown = res.learned if model else None
            rows += _rows(
                res.fold, coder, codes, counts[k], learned=shown, n_train=res.n_train_examples
            )
        total = counts.sum(axis=0)
        micro, macro = micro_macro(total, support)
        micro_ci = macro_ci = (float("nan"), float("nan"))
        intervals = [micro_ci] * (len(codes) + 1)
        if draws is not None:
            boot = counts[draws].sum(axis=1)  # [n_boot, n_codes, 4]
            intervals = [_interval(table_metrics(boot[:, j])["f1"]) for j in range(len(codes))]
            b_micro, b_macro = micro_macro(boot, support)
            micro_ci, macro_ci = _interval(b_micro), _interval(b_macro)
            intervals.append(micro_ci)
        rows += _rows(
            ALL, coder, codes, total, learned=learned.all(axis=0) if model else None,
            n_train=n_train, intervals=intervals,
        )  # fmt: skip
        pooled = table_metrics(total.sum(axis=0))
        summary.append(
            {
                "coder": coder,
                "n_transcripts": n_folds,
                "n_codes": int(support.sum()),
                "micro_f1": float(micro),
                "micro_f1_lo": micro_ci[0],
                "micro_f1_hi": micro_ci[1],
                "macro_f1": float(macro),
                "macro_f1_lo": macro_ci[0],
                "macro_f1_hi": macro_ci[1],
                "precision": float(pooled["precision"]),
                "recall": float(pooled["recall"]),
            }
        )
    return pd.DataFrame(rows, columns=schema.EVALUATION_COLUMNS), pd.DataFrame(summary)


def fold_predictions(
    data: TrainingData, results: list[FoldResult], *, codebook_version: int | None
) -> pd.DataFrame:
    parts = [
        model_codings(
            data.units.frame.iloc[res.rows].reset_index(drop=True),
            res.coded,
            np.nan_to_num(res.probs, nan=0.0),
            data.labels.codes,
            rule_id=f"{MODEL_CODER}:loto:{res.fold}",
            codebook_version=codebook_version,
        )
        for res in results
    ]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else typed_codings([])
