"""The folds of the leave-one-transcript-out evaluation: which transcripts train and which is
held out (leave one out, or fewer training transcripts for the learning curve), and a coder
trained and scored on each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qualcode import __version__, schema
from qualcode.config import LearnedParams
from qualcode.errors import QualcodeInputError
from qualcode.learned.data import TrainingData
from qualcode.learned.features import with_counts
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


@dataclass
class FoldCache:
    """The results of folds already run, kept in a folder by the digest of everything a fold
    depends on (see `fold_digest`), so that a fold whose inputs did not change is not trained
    again. Each result is an .npz of numbers (nothing pickled).

    used: the digests read or written since the cache was opened (`prune` keeps only those).
    """

    folder: Path
    used: set[str] = field(default_factory=set)

    def _path(self, digest: str) -> Path:
        return self.folder / f"{digest}.npz"

    def get(self, digest: str, data: TrainingData, task: Task) -> FoldResult | None:
        """RETURNS (FoldResult | None): the cached result of the task, None when there is none."""
        try:
            with np.load(self._path(digest), allow_pickle=False) as saved:
                arrays = {k: saved[k] for k in ("probs", "coded", "learned", "n_train_examples")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            # missing, cut short or not an .npz: the fold is trained again
            return None
        self.used.add(digest)
        fold, train = task
        return FoldResult(fold, tuple(train), _test_rows(data, fold), **arrays)

    def put(self, digest: str, result: FoldResult) -> None:
        """Keep a fold's result (atomically)."""

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(
                    handle,
                    probs=result.probs,
                    coded=result.coded,
                    learned=result.learned,
                    n_train_examples=result.n_train_examples,
                )

        schema.atomic_write(self._path(digest), write)
        self.used.add(digest)

    def prune(self) -> None:
        """Remove the results not used since the cache was opened."""
        if self.folder.is_dir():
            for path in self.folder.glob("*.npz"):
                if path.stem not in self.used:
                    path.unlink()


def _test_rows(data: TrainingData, fold: str) -> np.ndarray:
    return np.flatnonzero(data.units.frame["transcript_id"].to_numpy() == fold)


def _transcript_digests(data: TrainingData) -> dict[str, str]:
    """RETURNS (dict): per transcript, the sha256 of its units (text, context, rule matches,
    spaCy vectors) and labels."""
    frame = data.units.frame
    transcripts = frame["transcript_id"].to_numpy()
    digests = {}
    for tid in sorted(set(transcripts)):
        rows = np.flatnonzero(transcripts == tid)
        h = hashlib.sha256()
        h.update(frame.iloc[rows].to_json(orient="split", index=False).encode())
        for array in (data.units.tok2vec[rows], data.labels.y[rows], data.labels.known[rows]):
            h.update(np.ascontiguousarray(array).tobytes())
        digests[str(tid)] = h.hexdigest()
    return digests


def _common_digest(data: TrainingData, settings: LearnedParams, seed: int) -> str:
    """RETURNS (str): the sha256 of what every fold depends on besides its transcripts."""
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "version": __version__,
                "settings": dataclasses.asdict(settings),
                "seed": seed,
                "codes": data.labels.codes,
                "owners": data.labels.owners,
                "codebook": None if data.codebook is None else data.codebook.sha256,
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    if data.examples is not None:
        h.update(data.examples.frame.to_json(orient="split", index=False).encode())
        h.update(np.ascontiguousarray(data.examples.tok2vec).tobytes())
    return h.hexdigest()


def run_folds(
    data: TrainingData,
    settings: LearnedParams,
    seed: int,
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    cache: FoldCache | None = None,
) -> list[FoldResult]:
    """Train and score each fold, `jobs` at a time (joblib); with a `cache`, a fold whose
    inputs are unchanged since it was cached is read from it instead.

    RETURNS (list[FoldResult]): the results, in the order of `tasks`.
    """
    done: dict[int, FoldResult] = {}
    digests: dict[int, str] = {}
    if cache is not None:
        per_transcript = _transcript_digests(data)
        common = _common_digest(data, settings, seed)
        for i, (fold, train) in enumerate(tasks):
            parts = [common, fold, per_transcript.get(fold, "")]
            parts += [f"{t}:{per_transcript.get(t, '')}" for t in sorted(train)]
            digests[i] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
            found = cache.get(digests[i], data, (fold, train))
            if found is not None:
                done[i] = found
                if progress is not None:
                    progress(1)
    todo = [i for i in range(len(tasks)) if i not in done]
    if todo and settings.kind == "logreg" and data.units.counts is None:
        # every fold fits TF-IDF on a subset of the same texts: count them once
        units, examples = with_counts(data.units, data.examples)
        data = dataclasses.replace(data, units=units, examples=examples)
    if jobs > 1 and len(todo) > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(run_fold)(data, settings, seed, *tasks[i]) for i in todo
        )
    else:
        results = (run_fold(data, settings, seed, *tasks[i]) for i in todo)
    for i, result in zip(todo, results, strict=True):
        done[i] = result
        if cache is not None:
            cache.put(digests[i], result)
        if progress is not None:
            progress(1)
    return [done[i] for i in range(len(tasks))]


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
