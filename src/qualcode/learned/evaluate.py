"""Leave-one-transcript-out evaluation of the learned coder (`qualcode evaluate`): each coded
transcript held out in turn, the model, the rules and both scored against people's coding, with
bootstrap intervals over transcripts; optionally a learning curve and an ablation of the context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.config import FEATURE_BLOCKS, LearnedParams, Params
from qualcode.learned.data import TrainingData, load_training_data
from qualcode.learned.folds import (
    FoldCache,
    FoldResult,
    learning_curve_tasks,
    loto_tasks,
    run_folds,
)
from qualcode.learned.scores import ALL, SUMMARY_METRICS, fold_predictions, micro_macro, score_folds
from qualcode.learned.train import MODEL_CODER, confusion_counts

FOLDS = ("transcript",)
ABLATION = (
    ("sentence only", ("sentence",)),
    ("+ question", ("sentence", "question")),
    ("+ turn", ("sentence", "question", "turn")),
    ("+ section/position", ("sentence", "question", "turn", "position")),
    ("+ rule matches", ("sentence", "question", "turn", "position", "rules")),
)


# ---------------------------------------------------------------------------------------------
# Learning curve and ablation


def _learning_curve(
    data: TrainingData,
    settings: LearnedParams,
    seed: int,
    results: list[FoldResult],
    *,
    sizes: Sequence[int] | None,
    draws: int,
    jobs: int,
    progress: Callable[[int], None] | None,
    cache: FoldCache | None = None,
) -> pd.DataFrame:
    """RETURNS (DataFrame): per number of training transcripts and draw, micro and macro F1
    over the held-out transcripts (the trainings on all others are those of `results`)."""
    transcripts = data.full_transcripts
    tasks = learning_curve_tasks(
        transcripts, sizes=sizes, draws=draws, seed=seed, folds=[r.fold for r in results]
    )
    done = {(r.fold, r.train_transcripts): r for r in results}
    todo = [(fold, train) for _, _, fold, train in tasks if (fold, train) not in done]
    for r in run_folds(data, settings, seed, todo, jobs=jobs, progress=progress, cache=cache):
        done[(r.fold, r.train_transcripts)] = r
    support = np.zeros(len(data.labels.codes), dtype=bool)
    for res in results:
        support |= (data.labels.y[res.rows] & data.labels.known[res.rows]).any(axis=0)
    rows = []
    frame = pd.DataFrame(tasks, columns=["n", "d", "fold", "train"])
    for (n, d), group in frame.groupby(["n", "d"], sort=True):
        fits = [done[(f, tr)] for f, tr in zip(group["fold"], group["train"], strict=True)]
        counts = np.stack(
            [
                confusion_counts(r.coded, data.labels.y[r.rows], data.labels.known[r.rows])
                for r in fits
            ]
        )
        micro, macro = micro_macro(counts.sum(axis=0), support)
        rows.append(
            {
                "n_train_transcripts": int(n),
                "draw": int(d),
                "n_folds": len(group),
                "micro_f1": float(micro),
                "macro_f1": float(macro),
                "n_codes_learned": float(np.mean([r.learned.sum() for r in fits])),
                "all_others": bool(n == len(transcripts) - 1),
            }
        )
    return pd.DataFrame(rows)


def _ablation(
    data: TrainingData,
    settings: LearnedParams,
    seed: int,
    results: list[FoldResult],
    *,
    n_boot: int,
    jobs: int,
    progress: Callable[[int], None] | None,
    cache: FoldCache | None = None,
) -> pd.DataFrame:
    """RETURNS (DataFrame): the model's micro and macro F1 (with intervals) with each kind of
    context added in turn (the variant with the evaluated features reuses `results`)."""
    tasks = [(r.fold, r.train_transcripts) for r in results]
    rows = []
    for name, blocks in ABLATION:
        if blocks == settings.features:
            variant = results
        else:
            changed = dataclasses.replace(settings, features=blocks)
            variant = run_folds(
                data, changed, seed, tasks, jobs=jobs, progress=progress, cache=cache
            )
        _, summary = score_folds(data, variant, n_boot=n_boot, seed=seed)
        model = summary[summary["coder"] == MODEL_CODER].iloc[0]
        rows.append({"features": name, "blocks": " ".join(blocks), **model[list(SUMMARY_METRICS)]})
    table = pd.DataFrame(rows)
    table["micro_f1_gain"] = table["micro_f1"].diff()
    return table


@dataclass
class Evaluation:
    """The leave-one-transcript-out evaluation of the learned coder, with the rule coder and
    their union (`both`) measured on the same held-out transcripts.

    table: evaluation.csv: per fold (held-out transcript, or ALL pooled) and code (or ALL,
        micro-pooled) and coder: counts, precision, recall, F1, kappa; for fold ALL the 95%
        bootstrap interval of F1 over transcripts.
    summary: per coder: micro and macro F1 with 95% intervals, precision, recall.
    predictions: the model's held-out codings (codings.parquet columns).
    learning_curve: micro and macro F1 against the number of training transcripts.
    ablation: micro and macro F1 with each kind of context added in turn.
    settings, seed: how each fold's coder was trained.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    predictions: pd.DataFrame
    learning_curve: pd.DataFrame | None
    ablation: pd.DataFrame | None
    transcripts: list[str]
    coders: list[str]
    settings: LearnedParams
    seed: int
    too_few: list[str] = field(default_factory=list)

    @property
    def folds(self) -> list[str]:
        """RETURNS (list[str]): the transcripts held out in turn."""
        return sorted(set(self.table["fold"]) - {ALL})


def evaluate_data(
    data: TrainingData,
    *,
    settings: LearnedParams,
    seed: int,
    held_out: Sequence[str] | None = None,
    n_boot: int = 1000,
    learning_curve: bool = True,
    curve_sizes: Sequence[int] | None = None,
    curve_draws: int = 2,
    ablation: bool = True,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    cache: FoldCache | None = None,
) -> Evaluation:
    """Leave-one-transcript-out evaluation on labelled data (labelled without review
    decisions: every unit belongs to a transcript coded in full); see `evaluate`.

    cache: the folds already run (`FoldCache`): a fold whose inputs are unchanged is read
        from it, not trained again.

    RETURNS (Evaluation): the tables (see `Evaluation`).
    """
    settings = dataclasses.replace(
        settings, features=tuple(b for b in FEATURE_BLOCKS if b in settings.features)
    )
    loto = loto_tasks(data, held_out)
    results = run_folds(data, settings, seed, loto, jobs=jobs, progress=progress, cache=cache)
    table, summary = score_folds(data, results, n_boot=n_boot, seed=seed)
    version = data.codebook.version if data.codebook is not None else None
    curve = None
    if learning_curve:
        curve = _learning_curve(
            data, settings, seed, results, sizes=curve_sizes, draws=curve_draws, jobs=jobs,
            progress=progress, cache=cache,
        )  # fmt: skip
    ablation_table = None
    if ablation and settings.kind == "logreg":
        ablation_table = _ablation(
            data, settings, seed, results, n_boot=n_boot, jobs=jobs, progress=progress,
            cache=cache,
        )  # fmt: skip
    not_learned = {
        c for r in results for c, ok in zip(data.labels.codes, r.learned, strict=True) if not ok
    }
    return Evaluation(
        table=table,
        summary=summary,
        predictions=fold_predictions(data, results, codebook_version=version),
        learning_curve=curve,
        ablation=ablation_table,
        transcripts=data.full_transcripts,
        coders=data.coders,
        settings=settings,
        seed=seed,
        too_few=[c for c in data.labels.codes if c in not_learned],
    )


def evaluate(
    processed_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    held_out: Sequence[str] | None = None,
    codebook_path: Path | None = None,
    params: Params | None = None,
    seed: int | None = None,
    use_examples: bool = True,
    n_boot: int = 1000,
    learning_curve: bool = True,
    curve_sizes: Sequence[int] | None = None,
    curve_draws: int = 2,
    ablation: bool = True,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """`qualcode evaluate`: leave-one-transcript-out evaluation on the human coding.

    For each transcript coded in full by one of `coders`, a coder is trained on the other
    transcripts' coding (thresholds chosen on their held-out folds; settings:
    `params.learned`) and codes it; its codings are compared with the transcript's own human
    coding, and so are the rule coder's and the union of both. With `held_out`, only the
    transcripts of these coders are held out in turn (for instance the reference transcripts
    that the codebook's patterns were never tuned on); every other coded transcript still
    trains. With `learning_curve`, the same with fewer training transcripts; with `ablation`,
    the same with each kind of context added in turn. Review decisions are left out.
    seed: the random seed (`params.report.seed` when None).
    RETURNS (Evaluation): the tables (see `Evaluation`).
    """
    from qualcode.coding.codebook import load_codebook
    from qualcode.config import load_params

    params = params if params is not None else load_params()
    codebook = load_codebook(codebook_path) if codebook_path is not None else None
    data = load_training_data(
        processed_dir, coders=coders, codebook=codebook, params=params,
        use_examples=use_examples, use_reviews=False,
    )  # fmt: skip
    return evaluate_data(
        data,
        settings=params.learned,
        seed=params.report.seed if seed is None else seed,
        held_out=held_out,
        n_boot=n_boot,
        learning_curve=learning_curve,
        curve_sizes=curve_sizes,
        curve_draws=curve_draws,
        ablation=ablation,
        jobs=jobs,
        progress=progress,
    )


def write_evaluation(evaluation: Evaluation, processed_dir: Path) -> list[Path]:
    """Write evaluation.csv, evaluation_predictions.parquet, evaluation_summary.csv and, when
    made, evaluation_learning_curve.csv and evaluation_ablation.csv, atomically.

    RETURNS (list[Path]): the files written.
    """
    processed_dir = Path(processed_dir)

    def csv(frame: pd.DataFrame, name: str) -> Path:
        text = frame.to_csv(index=False, float_format="%.4f", lineterminator="\n")
        return schema.write_text(processed_dir / name, text)

    written = [
        csv(evaluation.table, schema.EVALUATION_FILE),
        schema.write_table(
            evaluation.predictions,
            processed_dir / schema.TABLE_FILES["evaluation_predictions"],
            columns=schema.CODINGS_COLUMNS,
        ),
        csv(evaluation.summary, schema.EVALUATION_SUMMARY_FILE),
    ]
    # A learning curve or ablation of an earlier evaluation would no longer match this one.
    for frame, name in (
        (evaluation.learning_curve, schema.EVALUATION_LEARNING_CURVE_FILE),
        (evaluation.ablation, schema.EVALUATION_ABLATION_FILE),
    ):
        if frame is not None:
            written.append(csv(frame, name))
        else:
            (processed_dir / name).unlink(missing_ok=True)
    return written
