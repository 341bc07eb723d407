"""What the learning step wrote, read back and summarised: the evaluation tables and the review
candidates for notebook 02, and the evaluation as plain text for the terminal. Nothing here
reads sentences with spaCy or writes a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.learned.evaluate import Evaluation
from qualcode.learned.review import REVIEW_COLUMNS
from qualcode.learned.scores import ALL, EVAL_CODERS


def evaluation_by_code(table: pd.DataFrame) -> pd.DataFrame:
    """Per code, pooled over the held-out transcripts: the model's F1 against the rules'.

    table: the evaluation table (evaluation.csv).
    RETURNS (DataFrame): code_id, n_human, learned (in every fold), model_f1 (with _lo, _hi),
        rules_f1 (with _lo, _hi), both_f1, gain (model - rules), better ("model", "rules" or
        "tie"); codes people used, in table order.
    """
    pooled = table[(table["fold"] == ALL) & (table["code_id"] != ALL)]
    wide = {coder: pooled[pooled["coder"] == coder].set_index("code_id") for coder in EVAL_CODERS}
    model = wide["model"]
    out = pd.DataFrame(
        {
            "code_id": model.index,
            "n_human": model["n_human"].to_numpy(),
            "learned": model["learned"].to_numpy(),
            "n_train_examples": model["n_train_examples"].to_numpy(),
            "model_f1": model["f1"].to_numpy(),
            "model_f1_lo": model["f1_lo"].to_numpy(),
            "model_f1_hi": model["f1_hi"].to_numpy(),
            "model_precision": model["precision"].to_numpy(),
            "model_recall": model["recall"].to_numpy(),
            "rules_f1": wide["rules"].loc[model.index, "f1"].to_numpy(),
            "rules_f1_lo": wide["rules"].loc[model.index, "f1_lo"].to_numpy(),
            "rules_f1_hi": wide["rules"].loc[model.index, "f1_hi"].to_numpy(),
            "both_f1": wide["both"].loc[model.index, "f1"].to_numpy(),
        }
    )
    out = out[out["n_human"] > 0].reset_index(drop=True)
    model_f1 = out["model_f1"].fillna(0.0)
    rules_f1 = out["rules_f1"].fillna(0.0)
    out["gain"] = model_f1 - rules_f1
    out["better"] = np.where(
        np.isclose(model_f1, rules_f1), "tie", np.where(model_f1 > rules_f1, "model", "rules")
    )
    return out


def learning_curve_summary(curve: pd.DataFrame | None) -> pd.DataFrame:
    """RETURNS (DataFrame): per number of training transcripts: the mean, lowest and highest
    micro F1 (and mean macro F1) over the random draws of training transcripts."""
    if curve is None or curve.empty:
        return pd.DataFrame(
            columns=["n_train_transcripts", "n_draws", "micro_f1", "micro_f1_min",
                     "micro_f1_max", "macro_f1", "n_codes_learned"]
        )  # fmt: skip
    grouped = curve.groupby("n_train_transcripts", sort=True)
    return pd.DataFrame(
        {
            "n_train_transcripts": list(grouped.groups),
            "n_draws": grouped.size().to_numpy(),
            "micro_f1": grouped["micro_f1"].mean().to_numpy(),
            "micro_f1_min": grouped["micro_f1"].min().to_numpy(),
            "micro_f1_max": grouped["micro_f1"].max().to_numpy(),
            "macro_f1": grouped["macro_f1"].mean().to_numpy(),
            "n_codes_learned": grouped["n_codes_learned"].mean().to_numpy(),
        }
    )


# ---------------------------------------------------------------------------------------------
# For notebook 02: the tables the learning step wrote


def _read_csv(processed_dir: Path, name: str) -> pd.DataFrame | None:
    path = Path(processed_dir) / name
    return pd.read_csv(path) if path.exists() else None


def evaluation_summary(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): per coder (model, rules, both) the micro and macro F1 with
    95% intervals, precision and recall on held-out transcripts (evaluation_summary.csv);
    None before `qualcode evaluate` ran."""
    return _read_csv(processed_dir, schema.EVALUATION_SUMMARY_FILE)


def evaluation_codes(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): per code the model's F1 against the rules' on held-out
    transcripts (see `evaluation_by_code`); None before `qualcode evaluate` ran."""
    table = _read_csv(processed_dir, schema.EVALUATION_FILE)
    return None if table is None else evaluation_by_code(table)


def learning_curve_table(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): micro F1 against the number of training transcripts (see
    `learning_curve_summary`); None when no learning curve was made."""
    curve = _read_csv(processed_dir, schema.EVALUATION_LEARNING_CURVE_FILE)
    return None if curve is None else learning_curve_summary(curve)


def ablation_table(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): micro and macro F1 (with intervals) with each kind of context
    added in turn (evaluation_ablation.csv); None when no ablation was made."""
    return _read_csv(processed_dir, schema.EVALUATION_ABLATION_FILE)


def read_review_candidates(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): the sentences where the model trained by `qualcode run` and
    the rules disagree, most confident first (review_candidates.parquet, the columns of
    `review_table`); None when the learning step trained no model."""
    path = Path(processed_dir) / schema.TABLE_FILES["review_candidates"]
    return pd.read_parquet(path)[REVIEW_COLUMNS] if path.exists() else None


# ---------------------------------------------------------------------------------------------
# For the terminal


def _fmt(value: Any, digits: int = 2) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _with_ci(value: Any, lo: Any, hi: Any) -> str:
    return f"{_fmt(value)} [{_fmt(lo)}..{_fmt(hi)}]"


def _ci_column(frame: pd.DataFrame, metric: str) -> list[str]:
    return [
        _with_ci(v, lo, hi)
        for v, lo, hi in zip(
            frame[metric], frame[f"{metric}_lo"], frame[f"{metric}_hi"], strict=True
        )
    ]


def format_evaluation(evaluation: Evaluation) -> str:
    """A plain-text report of an evaluation, for the terminal.

    RETURNS (str): summary, per code against the rules, ablation, learning curve.
    """
    s = evaluation.settings
    folds = evaluation.folds
    lines = [
        f"Leave-one-transcript-out: {len(folds)} of {len(evaluation.transcripts)} transcripts "
        f"coded by {', '.join(evaluation.coders)} held out in turn ({', '.join(folds)}); model "
        f"{s.kind} on {', '.join(s.features)}, seed {evaluation.seed}. Sentence level; 95% "
        "intervals: bootstrap over the held-out transcripts.",
        "",
    ]
    summary = evaluation.summary
    shown = pd.DataFrame(
        {
            "coder": summary["coder"],
            "micro F1 [95% CI]": _ci_column(summary, "micro_f1"),
            "macro F1 [95% CI]": _ci_column(summary, "macro_f1"),
            "precision": summary["precision"].map(_fmt),
            "recall": summary["recall"].map(_fmt),
        }
    )
    lines += [shown.to_string(index=False), ""]
    by_code = evaluation_by_code(evaluation.table)
    if len(by_code):
        shown = pd.DataFrame(
            {
                "code": by_code["code_id"],
                "human": by_code["n_human"],
                "learned": by_code["learned"].map({True: "yes", False: "no"}).fillna("-"),
                "model F1 [95% CI]": _ci_column(by_code, "model_f1"),
                "rules F1 [95% CI]": _ci_column(by_code, "rules_f1"),
                "better": by_code["better"],
            }
        )
        lines += [
            "Per code, pooled over the held-out transcripts:",
            shown.to_string(index=False),
            "",
        ]
    if evaluation.ablation is not None:
        ab = evaluation.ablation
        shown = pd.DataFrame(
            {
                "features": ab["features"],
                "micro F1 [95% CI]": _ci_column(ab, "micro_f1"),
                "gain": ab["micro_f1_gain"].map(lambda v: "" if pd.isna(v) else f"{v:+.3f}"),
                "macro F1": ab["macro_f1"].map(_fmt),
            }
        )
        lines += ["What each kind of context adds (model):", shown.to_string(index=False), ""]
    if evaluation.learning_curve is not None:
        curve = learning_curve_summary(evaluation.learning_curve)
        shown = pd.DataFrame(
            {
                "training transcripts": curve["n_train_transcripts"],
                "micro F1 (mean)": curve["micro_f1"].map(_fmt),
                "lowest..highest draw": [
                    f"{_fmt(a)}..{_fmt(b)}"
                    for a, b in zip(curve["micro_f1_min"], curve["micro_f1_max"], strict=True)
                ],
                "macro F1": curve["macro_f1"].map(_fmt),
                "codes learned": curve["n_codes_learned"].map(lambda v: f"{v:.1f}"),
            }
        )
        lines += ["Learning curve (model, held-out transcripts):", shown.to_string(index=False), ""]
    if evaluation.too_few:
        lines.append(
            "Not learned in at least one fold (too few coded sentences or transcripts; left to "
            f"the rules): {', '.join(evaluation.too_few)}"
        )
    return "\n".join(lines).rstrip()
