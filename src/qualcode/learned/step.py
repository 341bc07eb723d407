"""The learning step of `qualcode run`: import people's coding, evaluate the learned coder leave
one transcript out, train it on all of it, and write the review candidates, reading the
sentences with spaCy once for all three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qualcode import schema
from qualcode.config import Params
from qualcode.learned.data import read_sources, training_data
from qualcode.learned.evaluate import Evaluation, evaluate_data, write_evaluation
from qualcode.learned.folds import FoldCache
from qualcode.learned.readings import READINGS_FOLDER, ReadingCache
from qualcode.learned.review import review_candidates
from qualcode.learned.store import check_out_dir
from qualcode.learned.train import train_data
from qualcode.workers import processes_for

STUDY_MODEL_FOLDER = "model"
# the folds of the evaluation already run, by the digest of their inputs (hidden: not a table)
FOLD_CACHE_FOLDER = ".evaluation_folds"


def study_model_dir(processed_dir: Path) -> Path:
    """RETURNS (Path): where `qualcode run` keeps the model trained on all the human coding."""
    return Path(processed_dir) / STUDY_MODEL_FOLDER


@dataclass
class LearnStep:
    """What the learning step of `qualcode run` did.

    imported: per coder, the rows of human coding learned from.
    evaluation: the leave-one-transcript-out evaluation (None when skipped).
    model_dir: the model trained on all the human coding (None when skipped).
    review_path: the review candidates written (None when skipped).
    skipped: why the step was skipped, or "".
    """

    imported: dict[str, int]
    evaluation: Evaluation | None = None
    model_dir: Path | None = None
    card: dict[str, Any] | None = None
    review_path: Path | None = None
    skipped: str = ""


def learn_step(
    processed_dir: Path,
    coders: Sequence[str],
    *,
    codebook_path: Path | None,
    params: Params,
    jobs: int | None = None,
    curve_sizes: Sequence[int] = (),
    progress: Callable[[int], None] | None = None,
) -> LearnStep:
    """From the coding of `coders` in human_codings.parquet (imported before, by the import
    step of `qualcode run` or `qualcode import-coding`), evaluate the learned coder
    leave-one-transcript-out (with `curve_sizes`, also a learning curve over those numbers of
    training transcripts and all of the others; the ablation of the context is left to
    `qualcode evaluate`, and an earlier one is removed with the earlier evaluation), train it on
    all of it into processed_dir/model (settings: `params.learned`, seed `params.report.seed`), and
    write the sentences where it and the rules disagree to review_candidates.parquet, so that
    the report shows how far automatic coding agrees with people without reading a sentence
    itself.

    The sentences are read with spaCy once: the evaluation leaves the review decisions out,
    the training uses them; a transcript (or the codebook's examples) whose inputs did not
    change since an earlier run is not read again but taken from processed_dir/
    .sentence_readings (`readings.ReadingCache`), and the spaCy model is loaded only when
    something is to be read. The evaluation's folds run `jobs` at a time (`processes` of the
    parameters when None); a fold whose inputs did not change since an earlier run is read
    from processed_dir/.evaluation_folds instead of being trained again.
    Skipped, with the reason in `skipped`, when none of the coders coded anything or fewer than
    two transcripts are coded in full.
    RETURNS (LearnStep): the rows learned from, the evaluation, the model and the review file.
    """
    from qualcode.coding.codebook import load_codebook

    processed_dir = Path(processed_dir)
    human = schema.read_table(processed_dir, "human_codings", required=False)
    imported: dict[str, int] = {}
    coded: set[str] = set()
    for coder in coders:
        rows = human[human["coder"] == coder] if human is not None else ()
        if len(rows):
            imported[coder] = len(rows)
            coded.update(rows["transcript_id"].astype(str))
    if not imported:
        return LearnStep(
            imported, skipped="no human coding in human_codings.parquet by " + ", ".join(coders)
        )
    n_coded = len(coded)
    if n_coded < 2:
        return LearnStep(
            imported,
            skipped=f"{n_coded} transcript(s) coded by people; the learned coder needs two or more",
        )
    model_dir = study_model_dir(processed_dir)
    check_out_dir(model_dir)
    codebook = load_codebook(codebook_path) if codebook_path is not None else None
    seed = params.report.seed
    readings = ReadingCache(processed_dir / READINGS_FOLDER)
    read = read_sources(
        processed_dir, coders=list(imported), codebook=codebook, params=params,
        every_transcript=True, cache=readings,
    )  # fmt: skip
    readings.prune()
    if jobs is None:
        jobs = processes_for(params.processes, len(read.units), min_words=0)
    cache = FoldCache(processed_dir / FOLD_CACHE_FOLDER)
    evaluation = evaluate_data(
        training_data(read, use_reviews=False),
        settings=params.learned,
        seed=seed,
        learning_curve=bool(curve_sizes),
        curve_sizes=[*(n for n in curve_sizes if n < n_coded - 1), n_coded - 1],
        curve_draws=1,
        # what each kind of context adds costs an evaluation per kind (five times this one):
        # `qualcode evaluate` measures it, not every run
        ablation=False,
        jobs=jobs,
        progress=progress,
        cache=cache,
    )
    cache.prune()
    write_evaluation(evaluation, processed_dir)
    trained = train_data(training_data(read, use_reviews=True), model_dir, params=params, seed=seed)
    review = review_candidates(
        read.units,
        trained.coder.predict_proba(read.units),
        coder=trained.coder,
        model_id=trained.model_id,
        codebook_version=None if codebook is None else codebook.version,
        human=read.human,
        sentences=read.sentences,
    )
    review_path = schema.write_table(
        review, processed_dir / schema.TABLE_FILES["review_candidates"]
    )
    return LearnStep(
        imported,
        evaluation=evaluation,
        model_dir=model_dir,
        card=trained.card,
        review_path=review_path,
    )
