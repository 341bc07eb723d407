"""The folds of the leave-one-transcript-out evaluation: which transcripts train and which is
held out (leave one out, or fewer training transcripts for the learning curve), and a coder
trained and scored on each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qualcode.config import LearnedParams
from qualcode.errors import QualcodeInputError
from qualcode.learned.data import TrainingData
from qualcode.learned.train import fit_coder

Task = tuple[str, tuple[str, ...]]  # (held-out transcript, training transcripts)


@dataclass
class FoldResult:
    """The held-out predictions of one fold."""

    fold: str
    train_transcripts: tuple[str, ...]
    rows: np.ndarray
    probs: np.ndarray
    coded: np.ndarray
    learned: np.ndarray
    n_train_examples: np.ndarray


def run_fold(
    data: TrainingData, settings: LearnedParams, seed: int, fold: str, train: Sequence[str]
) -> FoldResult:
    transcripts = data.units.frame["transcript_id"].to_numpy()
    test = np.flatnonzero(transcripts == fold)
    rows = np.flatnonzero(np.isin(transcripts, list(train)) & (transcripts != fold))
    fitted = fit_coder(
        data.units.subset(rows),
        data.labels.subset(rows),
        settings=settings,
        seed=seed,
        codebook=data.codebook,
        examples=data.examples,
    )
    n_codes = len(data.labels.codes)
    column = {c: j for j, c in enumerate(data.labels.codes)}
    probs = np.full((len(test), n_codes), np.nan)
    coded = np.zeros((len(test), n_codes), dtype=bool)
    learned = np.zeros(n_codes, dtype=bool)
    n_train = np.zeros(n_codes, dtype=int)
    for row in fitted.counts.itertuples(index=False):
        n_train[column[row.code_id]] = int(row.n_examples)
    if fitted.codes:
        p = fitted.predict_proba(data.units.subset(test))
        cols = [column[c] for c in fitted.codes]
        probs[:, cols] = p
        coded[:, cols] = fitted.decide(p)
        learned[cols] = True
    return FoldResult(fold, tuple(train), test, probs, coded, learned, n_train)


def run_folds(
    data: TrainingData,
    settings: LearnedParams,
    seed: int,
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[FoldResult]:
    if jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(run_fold)(data, settings, seed, fold, train) for fold, train in tasks
        )
    else:
        results = (run_fold(data, settings, seed, fold, train) for fold, train in tasks)
    out = []
    for result in results:
        out.append(result)
        if progress is not None:
            progress(1)
    return out


def loto_tasks(data: TrainingData, held_out: Sequence[str] | None) -> list[Task]:
    """Leave one transcript out (scikit-learn's LeaveOneGroupOut over the transcripts): each
    transcript coded in full (or only those of the `held_out` coders) trained on all the others.

    RETURNS (list): (held-out transcript, training transcripts) per fold.
    """
    from sklearn.model_selection import LeaveOneGroupOut

    from qualcode.human.store import coder_name

    transcripts = data.full_transcripts
    if len(transcripts) < 2:
        raise QualcodeInputError(
            f"leave-one-transcript-out needs at least two coded transcripts, found "
            f"{len(transcripts)} ({', '.join(transcripts) or 'none'})",
            element="--from",
        )
    wanted = {coder_name(c) for c in held_out} if held_out else None
    if wanted and not any(data.labels.owners[t] in wanted for t in transcripts):
        raise QualcodeInputError(
            f"none of the coded transcripts is coded by {', '.join(sorted(wanted))}",
            element="--held-out",
        )
    groups = np.asarray(transcripts)
    tasks = []
    for train, (test,) in LeaveOneGroupOut().split(groups, groups=groups):
        if wanted is None or data.labels.owners[groups[test]] in wanted:
            tasks.append((str(groups[test]), tuple(groups[train].tolist())))
    return tasks


def learning_curve_tasks(
    transcripts: Sequence[str],
    *,
    sizes: Sequence[int] | None,
    draws: int,
    seed: int,
    folds: Sequence[str] | None = None,
) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """The trainings of the learning curve: for each held-out transcript and each number n of
    training transcripts, `draws` random sets of n of the other transcripts (one when n is all
    of them), seeded.

    RETURNS (list): (n, draw, held-out transcript, training transcripts).
    """
    transcripts = sorted(transcripts)
    n_max = len(transcripts) - 1
    sizes = sorted({n for n in (sizes or range(1, n_max + 1)) if 1 <= n <= n_max})
    tasks = []
    for k, fold in enumerate(transcripts):
        if folds is not None and fold not in folds:
            continue
        others = [t for t in transcripts if t != fold]
        for n in sizes:
            for d in range(1 if n == n_max else draws):
                rng = np.random.default_rng([seed, n, d, k])
                chosen = tuple(sorted(rng.choice(others, size=n, replace=False).tolist()))
                tasks.append((n, d, fold, chosen))
    return tasks
