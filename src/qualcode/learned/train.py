"""Training a coder: which codes are learned, each code's threshold chosen on held-out folds of
whole transcripts, the final model on all units; and `qualcode train`, which also writes the
model folder with its card.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualcode.coding.codebook import Codebook
from qualcode.config import LearnedParams, Params
from qualcode.learned.data import TrainingData, load_training_data
from qualcode.learned.features import Units, concat_units, rule_matrix
from qualcode.learned.labels import Labels, example_labels
from qualcode.learned.models import make_model

MODEL_CODER = "model"
DEFAULT_SETTINGS = LearnedParams()


def threshold_grid(settings: LearnedParams) -> np.ndarray:
    """RETURNS (ndarray): the candidate thresholds, threshold_min to threshold_max."""
    stop = settings.threshold_max + settings.threshold_step / 2
    return np.round(np.arange(settings.threshold_min, stop, settings.threshold_step), 3)


def choose_thresholds(
    probs: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    *,
    settings: LearnedParams = DEFAULT_SETTINGS,
) -> np.ndarray:
    """Per code, the threshold on held-out probabilities that gives the best F1.

    The candidates are those of `threshold_grid`; where several give the best F1 the middle one
    is taken. A code without a held-out positive keeps `settings.default_threshold`.
    RETURNS (ndarray): one threshold per code.
    """
    grid = threshold_grid(settings)
    out = np.full(probs.shape[1], settings.default_threshold, dtype=float)
    for j in range(probs.shape[1]):
        rows = known[:, j]
        truth = y[rows, j]
        if not truth.any():
            continue
        p = probs[rows, j][:, None] >= grid[None, :]
        tp = (p & truth[:, None]).sum(axis=0)
        f1 = 2 * tp / (p.sum(axis=0) + truth.sum())
        best = np.flatnonzero(np.isclose(f1, f1.max()))
        out[j] = float(grid[best[len(best) // 2]])
    return out


def confusion_counts(coded: np.ndarray, y: np.ndarray, known: np.ndarray) -> np.ndarray:
    """RETURNS (ndarray): per code (both, human only, coder only, neither) [..., n_codes, 4],
    counting only the known labels."""
    return np.stack(
        [
            (coded & y & known).sum(-2),
            (~coded & y & known).sum(-2),
            (coded & ~y & known).sum(-2),
            (~coded & ~y & known).sum(-2),
        ],
        axis=-1,
    )


def code_scores(coded: np.ndarray, y: np.ndarray, known: np.ndarray) -> dict[str, np.ndarray]:
    """RETURNS (dict[str, ndarray]): per code, the agreement metrics of the coding with the
    known labels (precision, recall, F1, kappa, ...)."""
    from qualcode.human.metrics import table_metrics

    return table_metrics(confusion_counts(coded, y, known))


@dataclass
class FittedCoder:
    """A trained coder: the model, the codes it learned and their thresholds.

    counts: per code of the labels: n_examples, n_transcripts, trained (bool).
    held_out: per trained code, precision/recall/F1 at the chosen threshold on the inner
        held-out folds (the thresholds were chosen on the same predictions, so these are
        somewhat optimistic; `evaluate` gives the honest figure).
    """

    kind: str
    blocks: tuple[str, ...]
    codes: list[str]
    thresholds: np.ndarray
    model: Any
    counts: pd.DataFrame
    held_out: pd.DataFrame
    below: dict[str, list[str]] = field(default_factory=dict)
    seed: int = 0

    def predict_proba(self, units: Units) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes] (codes in `self.codes`)."""
        if not self.codes or not len(units):
            return np.zeros((len(units), len(self.codes)))
        return self.model.predict_proba(units)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Codings from probabilities: at or above the code's threshold, and a parent code
        left out where one of its children is coded (as the codebook asks of people).

        RETURNS (ndarray): booleans [n_units, n_codes].
        """
        coded = probs >= self.thresholds[None, :]
        column = {c: j for j, c in enumerate(self.codes)}
        out = coded.copy()
        for code, below in self.below.items():
            cols = [column[c] for c in below if c in column]
            if cols and code in column:
                out[:, column[code]] &= ~coded[:, cols].any(axis=1)
        return out


def _held_out(
    oof: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    units: Units,
    y: np.ndarray,
    known: np.ndarray,
    *,
    codes: list[str],
    settings: LearnedParams,
) -> tuple[np.ndarray, pd.DataFrame]:
    """The thresholds chosen on the out-of-fold probabilities, and per code the scores at them.

    RETURNS (tuple[ndarray, DataFrame]): the thresholds and the `FittedCoder.held_out` table.
    """
    thresholds = choose_thresholds(oof, y, known, settings=settings)
    coded = oof >= thresholds[None, :]
    scores = code_scores(coded, y, known)
    # A fairer F1 to compare with the rules: each fold coded with thresholds chosen on the
    # other folds' held-out scores.
    crossfit = np.zeros_like(coded)
    for train, test in splits:
        fold_thresholds = choose_thresholds(oof[train], y[train], known[train], settings=settings)
        crossfit[test] = oof[test] >= fold_thresholds[None, :]
    fair = code_scores(crossfit, y, known)["f1"]
    rules = code_scores(rule_matrix(units, codes), y, known)["f1"]
    fair0, rules0 = np.nan_to_num(fair), np.nan_to_num(rules)
    table = pd.DataFrame(
        {
            "code_id": codes,
            "threshold": thresholds,
            "n_true": (y & known).sum(axis=0),
            "n_coded": (coded & known).sum(axis=0),
            "n_both": (coded & y & known).sum(axis=0),
            "precision": scores["precision"],
            "recall": scores["recall"],
            "f1": scores["f1"],
            "f1_crossfit": fair,
            "rules_f1": rules,
            "prefer": np.where(fair0 >= rules0, MODEL_CODER, "rules"),
        }
    )
    return thresholds, table


def _below(codebook: Codebook | None, codes: Sequence[str]) -> dict[str, list[str]]:
    """RETURNS (dict): per learned code, its learned descendants in the codebook."""
    below = {}
    if codebook is not None:
        for code in codes:
            if code in codebook:
                found = [d for d in codebook.descendants(code) if d in codes]
                if found:
                    below[code] = found
    return below


def fit_coder(
    units: Units,
    labels: Labels,
    *,
    settings: LearnedParams = DEFAULT_SETTINGS,
    seed: int = 0,
    codebook: Codebook | None = None,
    examples: Units | None = None,
) -> FittedCoder:
    """Train a coder on labelled units, with thresholds chosen on held-out transcripts.

    Codes with fewer than `settings.min_examples` coded sentences, or coded in fewer than
    `settings.min_transcripts` transcripts, are not learned (they are reported in `counts`).
    The training transcripts are split into `settings.inner_folds` folds of whole transcripts
    (scikit-learn's GroupKFold); a model trained on the other folds scores each fold, and each
    code's threshold is the one that gives the best F1 on those held-out scores. The final
    model is then trained on all units.

    Thresholds are chosen here rather than with scikit-learn's TunedThresholdClassifierCV: one
    model per fold scores every code at once (TunedThresholdClassifierCV tunes one binary
    classifier, so it would fit the features and folds again for each code), the labels are
    partial (`labels.known`), and the same held-out scores give the card's cross-fitted F1.
    RETURNS (FittedCoder): the trained coder.
    """
    from sklearn.model_selection import GroupKFold

    if len(units) != len(labels.y):
        raise ValueError("units and labels differ in length")
    groups = units.frame["transcript_id"].to_numpy()
    counts = labels.counts(groups)
    counts["trained"] = (counts["n_examples"] >= settings.min_examples) & (
        counts["n_transcripts"] >= settings.min_transcripts
    )
    cols = np.flatnonzero(counts["trained"].to_numpy())
    codes = [labels.codes[j] for j in cols]
    y, known = labels.y[:, cols], labels.known[:, cols]
    extra = None
    if examples is not None and len(examples):
        extra_labels = example_labels(examples, codes)
        if extra_labels.y.any():
            extra = (examples, extra_labels)

    def train_on(rows: np.ndarray | None) -> Any:
        part = units if rows is None else units.subset(rows)
        part_y = y if rows is None else y[rows]
        part_known = known if rows is None else known[rows]
        if extra is not None:
            part = concat_units(part, extra[0])
            part_y = np.vstack([part_y, extra[1].y])
            part_known = np.vstack([part_known, extra[1].known])
        return make_model(settings, seed=seed).fit(part, part_y, part_known)

    thresholds = np.full(len(codes), settings.default_threshold)
    held_out = pd.DataFrame(columns=["code_id", "threshold", "precision", "recall", "f1"])
    n_groups = len(set(groups))
    if codes and n_groups >= 2:
        folds = GroupKFold(n_splits=min(settings.inner_folds, n_groups))
        splits = list(folds.split(np.zeros((len(groups), 1)), groups=groups))
        oof = np.zeros(y.shape)
        for train, test in splits:
            oof[test] = train_on(train).predict_proba(units.subset(test))
        thresholds, held_out = _held_out(
            oof, splits, units, y, known, codes=codes, settings=settings
        )
    model = train_on(None) if codes else make_model(settings, seed=seed)
    return FittedCoder(
        kind=settings.kind,
        blocks=tuple(model.blocks),
        codes=codes,
        thresholds=thresholds,
        model=model,
        counts=counts,
        held_out=held_out,
        below=_below(codebook, codes),
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# `qualcode train`


@dataclass
class TrainResult:
    """What `train` wrote."""

    out_dir: Path
    card: dict[str, Any]
    coder: FittedCoder
    data: TrainingData

    @property
    def model_id(self) -> str:
        """RETURNS (str): the id of the model (kind and a hash of the model file)."""
        return str(self.card["model_id"])


def train_data(data: TrainingData, out_dir: Path, *, params: Params, seed: int) -> TrainResult:
    """Train a coder on labelled data (settings: `params.learned`) and write it to out_dir with
    its card.

    RETURNS (TrainResult): the card, the coder and the data it was trained on.
    """
    from qualcode.learned.card import build_card
    from qualcode.learned.store import save_model

    coder = fit_coder(
        data.units,
        data.labels,
        settings=params.learned,
        seed=seed,
        codebook=data.codebook,
        examples=data.examples,
    )
    card = save_model(
        coder,
        Path(out_dir),
        codebook=data.codebook,
        card_for=lambda model_id: build_card(coder, data, model_id=model_id, params=params),
    )
    return TrainResult(out_dir=Path(out_dir), card=card, coder=coder, data=data)


def train(
    processed_dir: Path,
    out_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    codebook_path: Path | None = None,
    params: Params | None = None,
    seed: int | None = None,
    use_examples: bool = True,
    use_reviews: bool = True,
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """`qualcode train`: train a coder on the human coding of processed_dir and write it to
    out_dir with its card.

    params: the parameters (config/params.yml when None); `params.learned` says how to train.
    seed: the random seed (`params.report.seed` when None).
    RETURNS (TrainResult): the card, the coder and the data it was trained on.
    """
    from qualcode.coding.codebook import load_codebook
    from qualcode.config import load_params
    from qualcode.learned.store import check_out_dir

    params = params if params is not None else load_params()
    check_out_dir(Path(out_dir))
    codebook = load_codebook(codebook_path) if codebook_path is not None else None
    data = load_training_data(
        processed_dir,
        coders=coders,
        codebook=codebook,
        params=params,
        use_examples=use_examples,
        use_reviews=use_reviews,
        progress=progress,
    )
    return train_data(
        data, out_dir, params=params, seed=params.report.seed if seed is None else seed
    )
