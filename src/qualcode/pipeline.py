"""The steps of `qualcode run`, each naming what it reads and writes, and the runner that skips
the steps whose inputs are unchanged.

`qualcode run` is: ingest (raw folder -> transcripts, turns, sentences), code (the codebook's rules
-> codings, quantities), import (people's coding in the folders beside the raw folder ->
human_codings), agreement (every pair of coders -> agreement.csv, agreement_pairs.csv,
disagreements.parquet), learn (with --learn: the learned coder's evaluation and model) and report
(the notebooks -> the HTML report).

A step's fingerprint is the sha256 of the content of every file it reads (a folder: every file
in it; of a table, only the rows it reads when it reads only some: the import step reads only the
transcripts the coding files name), its settings, the package version and the digest of the
package's own files. After a step succeeds, its fingerprint and the outputs it wrote are recorded
in `pipeline_state.json` in the processed folder (written last, and atomically, so a step that did
not finish is run again). The next run skips a step whose fingerprint is the recorded one and
whose recorded outputs all exist. Ingest and code are incremental inside the step too: only new
or changed transcripts are read and coded again.

A run holds the processed folder's lock (`schema.processed_lock`) from start to end, and first
removes what a killed run left there. Ingest writes its record (`schema.INGEST_RECORD_FILE`) last;
a record that says the tables are incomplete makes the ingest step run again whatever its
fingerprint, and stops `code` with a request to ingest again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualcode import __version__, paths, schema
from qualcode.config import Params, load_params

log = logging.getLogger(__name__)

# What a long step is given to show its progress: progress(description, unit) opens a bar and
# yields the function that advances it.
Progress = Callable[[str, str], AbstractContextManager[Callable[[int], None]]]


def no_progress(_desc: str, _unit: str) -> AbstractContextManager[Callable[[int], None]]:
    """RETURNS (context manager): one that yields a function doing nothing."""
    return nullcontext(lambda _n: None)


@dataclass
class Outcome:
    """What a step did.

    lines: what to tell the user; warnings: problems met and left (the step still succeeded);
    written: the files it wrote (the runner checks they still exist before skipping the step);
    failed: the bad inputs a step that went on past them found (the command exits 1).
    """

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    failed: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class Step:
    """One step: what it reads (files and folders, and settings), what it writes, how it runs."""

    name: str
    reads: tuple[Path, ...]
    settings: dict[str, Any]
    run: Callable[[Progress], Outcome]
    # False when the step's outputs are known to be incomplete (run it again whatever the record)
    whole: Callable[[], bool] = lambda: True
    # what it reads that is not whole files (the rows of some transcripts in a table), as
    # name -> digest, asked for when the step's turn comes (after the steps before it ran)
    parts: Callable[[], dict[str, str]] = dict


# ---------------------------------------------------------------------------------------------
# The runner


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and p.name != schema.PIPELINE_STATE_FILE
    )


@functools.cache
def package_digest() -> str:
    """The sha256 of the package's own files (modules, templates, schemas), so that a step reruns
    when the code that makes its outputs changed, even under the same version number.

    RETURNS (str): the hex digest.
    """
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(schema.file_sha256(path).encode())
    return digest.hexdigest()


def fingerprint(step: Step) -> str:
    """The sha256 of what a step reads: its files' content, the digests of the parts of files it
    reads (`Step.parts`), its settings, the package version.

    RETURNS (str): the hex digest.
    """
    inputs = {}
    for path in step.reads:
        files = _files(Path(path))
        inputs[str(path)] = {
            (f.relative_to(path).as_posix() if f != path else ""): schema.file_sha256(f)
            for f in files
        }
    blob = json.dumps(
        {
            "step": step.name,
            "version": __version__,
            "code": package_digest(),
            "settings": step.settings,
            "reads": inputs,
            "parts": step.parts(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def read_state(path: Path) -> dict[str, Any]:
    """RETURNS (dict): the record of the last run's steps (empty when there is none)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("steps", {}) if isinstance(data, dict) else {}


def is_current(step: Step, record: dict[str, Any] | None, digest: str) -> bool:
    """RETURNS (bool): whether the step can be skipped: same fingerprint, every output there."""
    if not record or record.get("fingerprint") != digest:
        return False
    return all(Path(p).exists() for p in record.get("written", []))


def run_steps(
    steps: Iterable[Step],
    *,
    state_path: Path,
    progress: Progress = no_progress,
    on_outcome: Callable[[Step, Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the steps in order, skipping those whose inputs are unchanged since they last ran.

    A step that raises stops the run; the record of the steps before it is kept, its own is not.
    on_outcome: called after each step, with what it did (skipped steps too).
    RETURNS (list[Outcome]): what each step did.
    """
    state = read_state(state_path)
    outcomes = []
    for step in steps:
        digest = fingerprint(step)
        if step.whole() and is_current(step, state.get(step.name), digest):
            log.info("%s: inputs unchanged, skipped", step.name)
            outcome = Outcome(lines=[f"{step.name}: unchanged, skipped"], skipped=True)
        else:
            state.pop(step.name, None)
            started = time.perf_counter()
            outcome = step.run(progress)
            log.info("%s: done in %.1f s", step.name, time.perf_counter() - started)
            if outcome.failed:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(step, outcome)
                break
            state[step.name] = {
                "fingerprint": digest,
                "written": sorted(str(p) for p in outcome.written),
            }
            schema.write_json(state_path, {"version": __version__, "steps": state})
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(step, outcome)
    return outcomes


def sweep_processed(processed: Path) -> list[Path]:
    """Remove what a killed run left in the processed folder: temporary files of atomic writes
    and half-written model folders. Call it holding the folder's lock.

    RETURNS (list[Path]): what was removed.
    """
    model = schema.MODEL_DIR
    return schema.sweep_leftovers(processed, patterns=(".*.tmp", f".{model}.*"))


# ---------------------------------------------------------------------------------------------
# The steps


def ingest(
    raw: Path,
    out: Path,
    *,
    params: Params,
    keys: Path | None = None,
    guide: Path | None = None,
    keep_going: bool = False,
    progress: Progress = no_progress,
    client: Any = None,
) -> Outcome:
    """Read, clean and de-identify every transcript of `raw` into the tables of `out`.

    guide: the interview guide; without one (or when the file is absent) turns have no section.
    client: a `distributed.Client` whose workers read the turns with spaCy (`qualcode.cluster`).
    RETURNS (Outcome): the counts; `failed` lists the bad files when `keep_going` went past them.
    """
    from qualcode.ingest.corpus import format_errors, ingest_corpus
    from qualcode.ingest.deid import KEY_FILE

    keys_dir = paths.keys_dir(raw, keys)
    with schema.processed_lock(out, create=True):
        sweep_processed(out)
        result = ingest_corpus(
            raw, out, params=params, keys_dir=keys_dir, keep_going=keep_going, guide_path=guide,
            client=client,
        )  # fmt: skip
    outcome = Outcome(
        lines=[
            f"ingest: {len(result.processed)} processed, {len(result.skipped)} unchanged, "
            f"{len(result.removed)} removed -> {out}"
        ],
        written=[*result.tables.values(), keys_dir / KEY_FILE],
    )
    if result.kept:
        outcome.warnings.append(
            f"kept the previous rows of {', '.join(result.kept)} (unreadable now, listed below); "
            "fix or remove the file(s)"
        )
    if result.errors:
        outcome.failed = f"{len(result.errors)} bad input(s):\n{format_errors(result.errors)}"
    return outcome


def code(
    processed: Path,
    *,
    codebook: Path,
    params: Params,
    coder: str = "rules",
    model: Path | None = None,
    progress: Progress = no_progress,
    client: Any = None,
) -> Outcome:
    """Code the participant sentences with the rules, a trained model, or both.

    client: a `distributed.Client` whose workers code with the rules (`qualcode.cluster`).
    RETURNS (Outcome): the counts and the tables written.
    """
    with schema.processed_lock(processed):
        schema.check_ingest_record(processed)
        return _code(processed, codebook=codebook, params=params, coder=coder, model=model,
                     progress=progress, client=client)  # fmt: skip


def _code(
    processed: Path,
    *,
    codebook: Path,
    params: Params,
    coder: str,
    model: Path | None,
    progress: Progress,
    client: Any = None,
) -> Outcome:
    if coder != "rules":
        from qualcode.learned.predict import code_with_model

        with progress("coding", " units") as advance:
            done = code_with_model(
                processed, model, coder=coder, codebook_path=codebook, params=params,
                progress=advance,
            )  # fmt: skip
        rules = f", {done.n_rules} rule codings" if coder == "both" else ""
        return Outcome(
            lines=[
                f"coded {done.n_units} sentences with model {done.model_id}: {done.n_model} "
                f"model codings{rules} -> {done.codings_path}"
            ],
            written=[done.codings_path],
        )
    from qualcode.coding.rules import code_corpus

    with progress("coding", " units") as advance:
        result = code_corpus(processed, codebook, params=params, progress=advance, client=client)
    return Outcome(
        lines=[
            f"coded {len(result.coded)} transcript(s), {len(result.cached)} unchanged; "
            f"{result.n_codings} codings, {result.n_quantities} quantities "
            f"(codebook v{result.codebook_version}, unit {result.unit}) -> {result.codings_path}"
        ],
        written=[
            result.codings_path,
            result.quantities_path,
            Path(processed) / schema.CODINGS_MANIFEST_FILE,
        ],
    )


def coding_folders(raw: Path) -> list[tuple[Path, str]]:
    """RETURNS (list): the folders of people's coding beside the raw folder, with their coder."""
    return [(Path(raw).parent / folder, coder) for folder, coder in paths.HUMAN_CODING_FOLDERS]


def coding_inputs(raw: Path, processed: Path) -> dict[str, str]:
    """What importing the coding folders beside `raw` reads of the study's tables and raw files:
    the digests of the transcripts their files name (`csv_import.import_inputs`).

    RETURNS (dict[str, str]): name -> sha256.
    """
    from qualcode.human.csv_import import import_inputs

    folders = [folder for folder, _ in coding_folders(raw)]
    return import_inputs(folders, processed, raw_dir=raw)


def import_coding_folders(
    raw: Path, processed: Path, *, codebook: Path, skip_other_coding: bool = False
) -> Outcome:
    """Import the CSVs of each coding folder beside `raw` as its coder (replacing that coder's
    earlier rows).

    skip_other_coding: leave out (with one warning per file) the rows coding transcripts that are
        not in the study, instead of stopping.

    RETURNS (Outcome): the rows imported per coder.
    """
    from qualcode.human.csv_import import import_csv_folder

    outcome = Outcome()
    for folder, coder in coding_folders(raw):
        result = import_csv_folder(
            folder,
            processed,
            coder=coder,
            codebook_path=codebook,
            raw_dir=raw,
            skip_other_transcripts=skip_other_coding,
        )
        if result is None:
            continue
        outcome.warnings.extend(result.problems)
        outcome.lines.append(
            f"{coder}: {len(result.codings)} coded sentence(s) from {folder} "
            f"({len(result.transcripts)} transcript(s))"
        )
        # per file, how its quotes were found, where not every one was found as written
        outcome.lines.extend(
            f"  {line}"
            for line in result.quote_lines()
            if "0 after normalising, 0 fuzzily, 0 not found" not in line
        )
        outcome.written = [result.written]
    if not outcome.lines:
        outcome.lines.append("people's coding: none beside the raw folder")
    return outcome


def agreement(
    raw: Path, processed: Path, *, codebook: Path, params: Params, reference: Path | None = None
) -> Outcome:
    """Agreement between every pair of coders in codings and human_codings, per code, written to
    agreement.csv, agreement_pairs.csv and disagreements.parquet (with no rows when there is no
    pair to compare).

    reference: a folder of reference coding to import afresh first (`qualcode report` alone).
    RETURNS (Outcome): the files written.
    """
    from qualcode.human import agreement as measures

    measures.agreement_step(
        processed, codebook_path=codebook, params=params, reference_dir=reference, raw_dir=raw
    )
    files = measures.read_agreement(processed)
    written = [
        Path(processed) / name
        for name in (
            schema.AGREEMENT_FILE,
            schema.AGREEMENT_PAIRS_FILE,
            schema.TABLE_FILES["disagreements"],
        )
    ]
    n_pairs = 0 if files is None else len(files.pairs)
    return Outcome(
        lines=[f"agreement: {n_pairs} pair(s) of coders compared -> {written[0]}"],
        written=written,
    )


def learn(
    raw: Path,
    processed: Path,
    *,
    codebook: Path,
    params: Params,
    progress: Progress = no_progress,
) -> Outcome:
    """Evaluate the learned coder on people's coding (leave one transcript out) and train it on
    all of it into PROCESSED/model: the coding the import step brought in from the coding
    folders beside `raw`, read from human_codings.parquet.

    RETURNS (Outcome): the evaluation's micro F1 per coder, or why the step had nothing to do.
    """
    from qualcode.learned.step import learn_step

    with progress("learning", " folds") as advance:
        step = learn_step(
            processed,
            [coder for _folder, coder in coding_folders(raw)],
            codebook_path=codebook,
            params=params,
            progress=advance,
        )
    if step.skipped:
        return Outcome(lines=[f"learned coder: skipped ({step.skipped})"])
    summary = step.evaluation.summary.set_index("coder")
    processed = Path(processed)
    written = [
        processed / name
        for name in (
            schema.EVALUATION_FILE,
            schema.EVALUATION_SUMMARY_FILE,
            schema.TABLE_FILES["evaluation_predictions"],
            schema.TABLE_FILES["review_candidates"],
        )
    ]
    return Outcome(
        lines=[
            "learned coder, leave one transcript out over "
            f"{len(step.evaluation.folds)} transcripts: micro F1 "
            + ", ".join(f"{c} {summary.loc[c, 'micro_f1']:.2f}" for c in summary.index)
            + f"; model trained on all of them -> {step.model_dir}"
        ],
        written=[*written, step.model_dir],
    )


def report_inputs(folders: dict[str, Path]) -> dict[str, str]:
    """The digest of every file the notebooks may read, by name: `<what>/<path in it>` for a
    folder (`processed/turns.parquet`), `<what>` for a file, as `build_report` compares them to
    keep a notebook whose inputs did not change; with the package's version and code.

    folders: what -> file or folder.
    RETURNS (dict[str, str]): name -> sha256.
    """
    inputs = {"qualcode/version": __version__, "qualcode/code": package_digest()}
    for what, path in folders.items():
        path = Path(path)
        for f in _files(path):
            name = what if f == path else f"{what}/{f.relative_to(path).as_posix()}"
            inputs[name] = schema.file_sha256(f)
    return inputs


def report(
    processed: Path,
    out: Path,
    *,
    codebook: Path,
    params: Path,
    raw: Path,
    notebooks: Path,
) -> Outcome:
    """Execute the ordered notebooks and render them, with the run manifest, to HTML in `out`:
    `processes` of the parameters at a time, a notebook whose inputs are those of its executed
    copy in `out` kept rather than executed again.

    RETURNS (Outcome): the index page written.
    """
    from qualcode.report.manifest import build_manifest, study_root
    from qualcode.report.render import build_report, discover_notebooks
    from qualcode.study_file import load_study_file
    from qualcode.workers import processes_for

    # folders of a report cut short hold executed notebooks, with data
    schema.sweep_leftovers(out, patterns=(".staging-*",))
    n_notebooks = len(discover_notebooks(notebooks))
    study, guide = paths.study_path(params), paths.guide_path(params)
    reference = raw.resolve().parent / "reference"
    parameters = {
        "processed_dir": str(processed.resolve()),
        "raw_dir": str(raw.resolve()),
        "codebook_path": str(codebook.resolve()),
        "params_path": str(params.resolve()),
        "study_path": str(study.resolve()),
        "guide_path": str(guide.resolve()),
        "reference_dir": str(reference),
    }
    manifest = build_manifest(
        processed_dir=processed,
        codebook_path=codebook,
        params_path=params,
        raw_dir=raw,
        parameters=parameters,
    )
    title = load_study_file(study).title or study_root(params).name
    inputs = report_inputs(
        {
            "processed": processed,
            "raw": raw,
            "reference": reference,
            "codebook": codebook,
            "params": params,
            "study": study,
            "guide": guide,
        }
    )
    jobs = processes_for(load_params(params).processes, n_notebooks, min_words=0)
    result = build_report(
        notebooks_dir=notebooks,
        out_dir=out,
        parameters=parameters,
        manifest=manifest,
        title=title,
        inputs=inputs,
        jobs=min(n_notebooks, jobs),
    )
    return Outcome(
        lines=[f"report written: {result.index}"],
        written=[result.index, result.study_report],
    )


def agreement_and_report(
    processed: Path,
    out: Path,
    *,
    codebook: Path,
    params: Path,
    raw: Path,
    notebooks: Path,
) -> Outcome:
    """`qualcode report`: the agreement of every pair of coders (the reference folder beside `raw`
    imported afresh), then the report, both run whatever changed.

    RETURNS (Outcome): what both did.
    """
    from qualcode.report.render import discover_notebooks

    discover_notebooks(notebooks)
    with schema.processed_lock(processed):
        return _agreement_and_report(
            processed, out, codebook=codebook, params=params, raw=raw, notebooks=notebooks
        )


def _agreement_and_report(
    processed: Path, out: Path, *, codebook: Path, params: Path, raw: Path, notebooks: Path
) -> Outcome:
    measured = agreement(
        raw,
        processed,
        codebook=codebook,
        params=load_params(params),
        reference=Path(raw).parent / "reference",
    )
    rendered = report(
        processed, out, codebook=codebook, params=params, raw=raw, notebooks=notebooks
    )
    return Outcome(
        lines=[*measured.lines, *rendered.lines],
        warnings=[*measured.warnings, *rendered.warnings],
        written=[*measured.written, *rendered.written],
    )


# ---------------------------------------------------------------------------------------------
# The study


def study_steps(
    *,
    raw: Path,
    processed: Path,
    out: Path,
    codebook: Path,
    params_path: Path,
    notebooks: Path,
    learn_from_people: bool = True,
    skip_other_coding: bool = False,
    client: Any = None,
) -> list[Step]:
    """The steps of `qualcode run`, in order, with what each reads.

    client: a `distributed.Client` for the per-transcript work of ingest and code.

    RETURNS (list[Step]): ingest, code, import, agreement, (learn,) report.
    """
    params = load_params(params_path)
    settings = params.to_dict()
    reference = Path(raw).parent / "reference"
    guide = paths.guide_path(params_path)
    ingested = [schema.table_path(processed, n) for n in ("transcripts", "turns", "sentences")]
    codings = schema.table_path(processed, "codings")
    human_codings = schema.table_path(processed, "human_codings")
    steps = [
        Step(
            "ingest",
            reads=(Path(raw), guide),
            settings={"spacy_model": params.spacy_model, "ingest": settings["ingest"]},
            run=lambda progress: ingest(
                raw, processed, params=params, guide=guide, progress=progress, client=client
            ),
            whole=lambda: schema.ingest_is_whole(processed),
        ),
        Step(
            "code",
            reads=(*ingested[1:], Path(codebook)),
            settings={"spacy_model": params.spacy_model, "coding": settings["coding"]},
            run=lambda progress: code(
                processed, codebook=codebook, params=params, progress=progress, client=client
            ),
        ),
    ]
    folders = tuple(folder for folder, _ in coding_folders(raw))
    steps.append(
        Step(
            "import",
            # of the study, only the transcripts the coding files name: one nobody coded,
            # added or changed, leaves the import as it was
            reads=(*folders, Path(codebook)),
            parts=lambda: coding_inputs(raw, processed),
            settings={"skip_other_coding": skip_other_coding},
            run=lambda _progress: import_coding_folders(
                raw, processed, codebook=codebook, skip_other_coding=skip_other_coding
            ),
        )
    )
    steps.append(
        Step(
            "agreement",
            reads=(human_codings, *ingested, codings, Path(codebook)),
            settings={"coding": settings["coding"], "seed": params.report.seed},
            run=lambda _progress: agreement(raw, processed, codebook=codebook, params=params),
        )
    )
    if learn_from_people:
        steps.append(
            Step(
                "learn",
                reads=(human_codings, *ingested, codings, Path(codebook)),
                settings={k: v for k, v in settings.items() if k != "processes"},
                run=lambda progress: learn(
                    raw, processed, codebook=codebook, params=params, progress=progress
                ),
            )
        )
    steps.append(
        Step(
            "report",
            reads=(
                Path(processed),
                Path(notebooks),
                Path(codebook),
                Path(params_path),
                guide,
                paths.study_path(params_path),
                Path(raw),
                reference,
            ),
            settings={},
            run=lambda _progress: report(
                processed, out, codebook=codebook, params=params_path, raw=raw, notebooks=notebooks
            ),
        )
    )
    return steps


def run_study(
    *,
    raw: Path,
    processed: Path,
    out: Path,
    codebook: Path,
    params_path: Path,
    notebooks: Path = paths.NOTEBOOKS_DIR,
    learn_from_people: bool = True,
    skip_other_coding: bool = False,
    progress: Progress = no_progress,
    on_outcome: Callable[[Step, Outcome], None] | None = None,
    client: Any = None,
) -> list[Outcome]:
    """`qualcode run`: the study's steps (`study_steps`), skipping those with unchanged inputs.

    client: a `distributed.Client` for the per-transcript work of ingest and code
        (`qualcode.cluster`); the tables are the same as without.

    RETURNS (list[Outcome]): what each step did.
    """
    steps = study_steps(
        raw=raw,
        processed=processed,
        out=out,
        codebook=codebook,
        params_path=params_path,
        notebooks=notebooks,
        learn_from_people=learn_from_people,
        skip_other_coding=skip_other_coding,
        client=client,
    )
    with schema.processed_lock(processed, create=True):
        sweep_processed(processed)
        return run_steps(
            steps,
            state_path=Path(processed) / schema.PIPELINE_STATE_FILE,
            progress=progress,
            on_outcome=on_outcome,
        )
