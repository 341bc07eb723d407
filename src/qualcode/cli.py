"""The `qualcode` command line: the options of each command, and one call into the package.

Exit codes: 0 done; 1 bad input (a one-line message naming the file, line or element and what was
expected; no traceback); 2 usage error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qualcode import paths
from qualcode.errors import QualcodeInputError

if TYPE_CHECKING:
    from qualcode.config import Params
    from qualcode.pipeline import Outcome

app = typer.Typer(
    name="qualcode",
    help="Reproducible qualitative coding of interview transcripts, "
    "from raw files to an HTML report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProcessedOpt = Annotated[
    Path, typer.Option("--processed", help="Folder of the processed tables (parquet).")
]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help="The codebook (YAML).")]
ParamsOpt = Annotated[Path, typer.Option("--params", help="Pipeline parameters (YAML).")]


def _outside_raw(path: Path, raw: Path, hint: str) -> None:
    """Refuse an output inside the raw folder: raw data is never written (usage error)."""
    if Path(path).resolve().is_relative_to(Path(raw).resolve()):
        raise typer.BadParameter(
            f"{path} is inside the raw folder {raw}, which is never written; expected a path "
            "outside it",
            param_hint=hint,
        )


def _processed_outside_raw(processed: Path, raw: Path = paths.RAW_DIR) -> None:
    """Refuse a processed folder inside the raw folder (usage error): every command may write it."""
    _outside_raw(processed, raw, "--processed")


def _locked(processed: Path) -> Any:
    """RETURNS (context manager): the processed folder's lock, held while a command reads and
    writes it (a second command on the same folder waits)."""
    from qualcode import schema

    return schema.processed_lock(processed)


def _check_coder(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("expected a name, got an empty one", param_hint="--coder")
    return value


def _fail(err: QualcodeInputError) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=1)


@contextmanager
def _bad_input() -> Iterator[None]:
    """Bad input met in a command exits 1 with its one-line message, without a traceback."""
    try:
        yield
    except QualcodeInputError as err:
        raise _fail(err) from None


@contextmanager
def _progress(desc: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A progress bar (hidden when the output is not a terminal) for a long step; bad input met
    in the step exits 1 with its message.

    YIELDS: the function that advances the bar.
    """
    from tqdm import tqdm

    with _bad_input(), tqdm(desc=desc, unit=unit, disable=None, leave=False) as bar:
        yield bar.update


def _show(outcome: Outcome) -> None:
    """Tell what a step did; a step that went past bad inputs exits 1 after listing them."""
    for line in outcome.lines:
        typer.echo(line)
    for warning in outcome.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if outcome.failed:
        typer.echo(f"error: {outcome.failed}", err=True)
        raise typer.Exit(code=1)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Reproducible qualitative coding of interview transcripts."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def ingest(
    raw: Annotated[Path, typer.Option("--raw", help="Folder of raw transcripts.")] = paths.RAW_DIR,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the processed tables.")
    ] = paths.PROCESSED_DIR,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Process the good files, list the bad ones.")
    ] = False,
    params: ParamsOpt = paths.PARAMS_PATH,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys", help="Folder for the re-identification key [default: beside --raw]."
        ),
    ] = None,
) -> None:
    """Read every transcript in --raw into transcripts, turns and sentences tables."""
    from qualcode import pipeline
    from qualcode.config import load_params

    _outside_raw(out, raw, "--out")
    with _bad_input():
        outcome = pipeline.ingest(
            raw,
            out,
            params=load_params(params),
            keys=keys,
            guide=paths.guide_path(params),
            keep_going=keep_going,
        )
    _show(outcome)


@app.command()
def code(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    coder: Annotated[
        str,
        typer.Option(
            "--coder",
            help="rules (the codebook's patterns), model (a model from `qualcode train`), or "
            "both (rule and model codings side by side; `coder` says which made each).",
        ),
    ] = "rules",
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model folder written by `qualcode train` (model, both)."),
    ] = None,
) -> None:
    """Apply the codebook to participant sentences and write codings.parquet."""
    from qualcode import pipeline
    from qualcode.config import load_params

    if coder not in ("rules", "model", "both"):
        raise typer.BadParameter("expected rules, model or both", param_hint="--coder")
    if coder != "rules" and model is None:
        raise typer.BadParameter(f"--coder {coder} needs --model DIR", param_hint="--model")
    _processed_outside_raw(processed)
    with _bad_input():
        outcome = pipeline.code(
            processed,
            codebook=codebook,
            params=load_params(params),
            coder=coder,
            model=model,
            progress=_progress,
        )
    _show(outcome)


@app.command()
def report(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the HTML report.")
    ] = paths.REPORTS_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    raw: Annotated[
        Path, typer.Option("--raw", help="Folder of raw transcripts (for participants.csv).")
    ] = paths.RAW_DIR,
    notebooks: Annotated[
        Path, typer.Option("--notebooks", help="Folder of the ordered notebooks.")
    ] = paths.NOTEBOOKS_DIR,
) -> None:
    """Measure agreement between every pair of coders (importing the reference folder beside --raw
    afresh), then execute the notebooks in order and render them to HTML in --out."""
    from qualcode import pipeline

    _processed_outside_raw(processed, raw)
    _outside_raw(out, raw, "--out")
    with _bad_input():
        outcome = pipeline.agreement_and_report(
            processed, out, codebook=codebook, params=params, raw=raw, notebooks=notebooks
        )
    _show(outcome)


@app.command()
def run(
    raw: Annotated[Path, typer.Option("--raw", help="Folder of raw transcripts.")] = paths.RAW_DIR,
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the HTML report.")
    ] = paths.REPORTS_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    learn: Annotated[
        bool,
        typer.Option(
            "--learn/--no-learn",
            help="When people's coding sits beside the raw folder (reference/ as human:reference, "
            "human_coding/ as human:researcher): import it, evaluate the learned coder leave one "
            "transcript out and train it into PROCESSED/model, for notebook 02.",
        ),
    ] = True,
    skip_other_coding: Annotated[
        bool,
        typer.Option(
            "--skip-other-coding",
            help="Leave out (one warning per file) the rows of people's coding that code "
            "transcripts not in the study, instead of stopping.",
        ),
    ] = False,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            help="A study folder (made by `qualcode init`): its data/raw, data/processed, "
            "config/ and reports/ in place of --raw, --processed, --codebook, --params, --out.",
            file_okay=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Start a dask LocalCluster of N worker processes for the spaCy work of ingest "
            "and code (the text travels to them, never the key).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Send the spaCy work of ingest and code to the workers of the dask cluster at "
            "ADDRESS (tcp://host:8786) instead.",
        ),
    ] = None,
) -> None:
    """Run the whole study: ingest, code, learn from people's coding, report."""
    from qualcode import pipeline
    from qualcode.cluster import dask_client

    if workers is not None and scheduler is not None:
        raise typer.BadParameter("give --workers or --scheduler, not both", param_hint="--workers")

    if project is not None:
        study = paths.Project(project)
        if not study.params.is_file():
            raise typer.BadParameter(
                f"{study.params} not found; expected a study folder made by `qualcode init`",
                param_hint="--project",
            )
        raw, processed, out = study.raw, study.processed, study.reports
        codebook, params = study.codebook, study.params
    _processed_outside_raw(processed, raw)
    _outside_raw(out, raw, "--out")
    with _bad_input(), dask_client(workers=workers, scheduler=scheduler) as client:
        pipeline.run_study(
            raw=raw,
            processed=processed,
            out=out,
            codebook=codebook,
            params_path=params,
            learn_from_people=learn,
            skip_other_coding=skip_other_coding,
            progress=_progress,
            on_outcome=lambda _step, outcome: _show(outcome),
            client=client,
        )


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="The new study folder (new or empty).")],
) -> None:
    """Make a new study folder to fill: config/ (starter codebook, parameters, study file),
    data/raw/participants.csv with an example row, empty folders for people's coding."""
    from qualcode.new_study import init_study

    with _bad_input():
        project = init_study(folder)
    typer.echo(
        f"new study in {project.root}: put the transcripts in {project.raw}, a row per "
        f"transcript in {project.raw / 'participants.csv'}, your codes in {project.codebook}; "
        f"then `qualcode run --project {project.root}` (or `make report PROJECT={project.root}`)"
    )


@app.command("import-coding")
def import_coding(
    file: Annotated[Path, typer.Argument(help="A REFI-QDA project (.qdpx) or a CSV of quotes.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    coder: Annotated[
        str | None,
        typer.Option(
            "--coder",
            help="Coder name (human:<name>): for a CSV [default: the file name]; for a qdpx, "
            "for codings whose user the project does not name.",
            callback=_check_coder,
        ),
    ] = None,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    raw: Annotated[
        Path,
        typer.Option("--raw", help="Folder of raw transcripts (participants.csv, raw texts)."),
    ] = paths.RAW_DIR,
    params: ParamsOpt = paths.PARAMS_PATH,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="Folder of the re-identification key [default: beside --raw, data/keys].",
        ),
    ] = None,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources",
            help="Folder holding a .qdpx's source files that are not inside the archive "
            "[default: none: sources are read from the archive only].",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Import human coding from REFI-QDA or CSV into human_codings.parquet."""
    from qualcode.human.csv_import import import_csv
    from qualcode.human.refi_import import import_qdpx

    suffix = file.suffix.lower()
    _processed_outside_raw(processed, raw)
    with _bad_input(), _locked(processed):
        if suffix in (".qdpx", ".zip"):
            result = import_qdpx(
                file,
                processed,
                codebook_path=codebook,
                coder=coder,
                raw_dir=raw,
                params_path=params,
                keys_dir=keys,
                sources_dir=sources,
            )
        elif suffix == ".csv":
            result = import_csv(file, processed, coder=coder, codebook_path=codebook, raw_dir=raw)
        else:
            raise QualcodeInputError("expected a .qdpx project or a .csv file", path=file)
    for problem in result.problems:
        typer.echo(f"warning: {problem}", err=True)
    for line in result.quote_lines():
        typer.echo(line)
    by_coder = result.codings.groupby("coder").size() if len(result.codings) else {}
    coders = ", ".join(f"{c} ({n})" for c, n in by_coder.items()) or "none"
    typer.echo(
        f"{file.name}: {len(result.codings)} coded sentence(s) in "
        f"{len(result.transcripts)} transcript(s) by {coders} -> {result.written}"
    )
    if result.ingested:
        typer.echo(f"ingested from the project: {', '.join(result.ingested)}")
        typer.echo(
            f"warning: {', '.join(result.ingested)} not in {raw}: `qualcode ingest` (and "
            "`make report`) reads that folder and will drop them; save their text there "
            "(one file each, named by transcript id) to keep them in the study",
            err=True,
        )
    if result.n_uncoded_selections:
        typer.echo(f"selections without a coding (left out): {result.n_uncoded_selections}")
    if result.n_source_codings:
        typer.echo(f"codings of a whole source (left out): {result.n_source_codings}")
    if result.n_machine_codings:
        typer.echo(
            f"codings by rules/model (left out; `qualcode code` makes them): "
            f"{result.n_machine_codings}"
        )
    if result.n_unmapped:
        typer.echo(f"selections over text our transcripts do not have: {result.n_unmapped}")
    if result.problems:
        typer.echo(f"rows reported and skipped: {len(result.problems)}")
    if result.unknown_codes:
        listed = ", ".join(f"{k} ({v!r})" for k, v in sorted(result.unknown_codes.items()))
        typer.echo(f"codes not in the codebook, kept under their own ids: {listed}")
    if result.cases is not None and len(result.cases):
        typer.echo(f"cases in the project: {len(result.cases)} (attributes: participants.csv)")


@app.command()
def agreement(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    unit: Annotated[
        str, typer.Option("--unit", help="sentence, turn or participant.")
    ] = "sentence",
    between: Annotated[
        tuple[str, str],
        typer.Option(
            "--between",
            help="Two coders: the reference first (rules, model, human:<name>).",
        ),
    ] = ("human:reference", "rules"),
    reference: Annotated[
        Path,
        typer.Option(
            "--reference",
            help="Folder of reference CSVs, imported afresh as human:reference when compared.",
        ),
    ] = paths.REFERENCE_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    raw: Annotated[
        Path, typer.Option("--raw", help="Folder of raw transcripts (to find quotes).")
    ] = paths.RAW_DIR,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples for the 95% intervals.")
    ] = 1000,
    rollup: Annotated[
        bool, typer.Option("--rollup", help="Also rows for parents with their children rolled up.")
    ] = False,
) -> None:
    """Agreement between two coders per code (default: reference coding vs the rules)."""
    from qualcode.config import load_params
    from qualcode.human import agreement as agreement_module
    from qualcode.human.store import coder_name
    from qualcode.units import AGREEMENT_UNITS

    if unit not in AGREEMENT_UNITS:
        raise typer.BadParameter(
            f"expected one of {', '.join(AGREEMENT_UNITS)}", param_hint="--unit"
        )
    _processed_outside_raw(processed, raw)
    with _bad_input(), _locked(processed):
        settings = load_params(params)
        coders = [coder_name(c) for c in between]
        if agreement_module.REFERENCE_CODER in coders:
            imported = agreement_module.refresh_reference(
                reference, processed, codebook_path=codebook, raw_dir=raw
            )
            if imported is not None:
                for problem in imported.problems:
                    typer.echo(f"warning: {problem}", err=True)
                for line in imported.quote_lines():
                    typer.echo(line)
                typer.echo(
                    f"reference: {len(imported.codings)} coded sentence(s) from {reference} "
                    f"({len(imported.transcripts)} transcript(s))"
                )
        result = agreement_module.measure_agreement(
            processed,
            coder_a=coders[0],
            coder_b=coders[1],
            unit=unit,
            codebook_path=codebook,
            roles=settings.coding.roles,
            n_boot=bootstrap,
            seed=settings.report.seed,
            rollup=rollup,
        )
        written = agreement_module.write_agreement(result, processed)
    typer.echo(agreement_module.format_agreement(result))
    typer.echo(f"written: {written[0]}, {written[1]}")


FromOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--from",
        help="A person's coding to learn from (human:NAME or NAME); repeat to pool several: a "
        "transcript counts when any of them coded it (the first named wins where two did) "
        "[default: every person's imported coding].",
    ),
]
KindOpt = Annotated[
    str | None,
    typer.Option(
        "--kind",
        help="logreg (scikit-learn logistic regression on spaCy lemmas and context) or textcat "
        "(spaCy textcat_multilabel on the text) [default: learned.kind in --params, logreg].",
    ),
]
FeaturesOpt = Annotated[
    str | None,
    typer.Option(
        "--features",
        help="Comma-separated feature blocks: sentence, question (the interviewer's question "
        "before), turn (the rest of the turn), position (section, place in the interview), "
        "rules (the rule coder's matches), tok2vec [default: learned.features in --params, "
        "sentence,question,turn,position].",
    ),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Random seed [default: report.seed in --params].")
]
MinExamplesOpt = Annotated[
    int | None,
    typer.Option(
        "--min-examples",
        help="Codes with fewer coded sentences (or coded in fewer than two transcripts) are "
        "not learned and left to the rules [default: learned.min_examples in --params, 8].",
    ),
]
ExamplesOpt = Annotated[
    bool,
    typer.Option("--examples/--no-examples", help="Also learn from the codebook's examples."),
]


def _learned_options(
    *, kind: str | None, features: str | None, min_examples: int | None
) -> dict[str, Any]:
    """The learned coder's settings given on the command line, checked (a bad --kind or
    --features is a usage error). RETURNS (dict): the settings to change in `learned:`."""
    from qualcode.config import FEATURE_BLOCKS, LEARNED_KINDS

    options: dict[str, Any] = {}
    if kind is not None:
        if kind not in LEARNED_KINDS:
            raise typer.BadParameter(
                f"expected one of {', '.join(LEARNED_KINDS)}", param_hint="--kind"
            )
        options["kind"] = kind
    if features is not None:
        blocks = tuple(b.strip() for b in features.split(",") if b.strip())
        if not blocks or any(b not in FEATURE_BLOCKS for b in blocks):
            raise typer.BadParameter(
                f"expected some of {', '.join(FEATURE_BLOCKS)}", param_hint="--features"
            )
        options["features"] = blocks
    if min_examples is not None:
        options["min_examples"] = min_examples
    return options


def _learned_params(path: Path, options: dict[str, Any]) -> Params:
    """RETURNS (Params): the parameters of --params with the command's `learned:` settings."""
    import dataclasses

    from qualcode.config import load_params

    params = load_params(path)
    return dataclasses.replace(params, learned=dataclasses.replace(params.learned, **options))


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="Folder for the model and its card.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    from_: FromOpt = None,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    kind: KindOpt = None,
    features: FeaturesOpt = None,
    seed: SeedOpt = None,
    min_examples: MinExamplesOpt = None,
    examples: ExamplesOpt = True,
    reviews: Annotated[
        bool,
        typer.Option(
            "--reviews/--no-reviews",
            help="Also learn from accept/reject decisions of `qualcode review import`.",
        ),
    ] = True,
) -> None:
    """Train a coder on human coding (sentences in context) and write it with its card."""
    import time

    from qualcode.learned.train import train as train_model

    options = _learned_options(kind=kind, features=features, min_examples=min_examples)
    _processed_outside_raw(processed)
    _outside_raw(out, paths.RAW_DIR, "--out")
    with _progress("reading", " sentences") as progress, _locked(processed):
        settings = _learned_params(params, options)
        started = time.perf_counter()
        result = train_model(
            processed,
            out,
            coders=from_,
            codebook_path=codebook,
            params=settings,
            seed=seed,
            use_examples=examples,
            use_reviews=reviews,
            progress=progress,
        )
        seconds = time.perf_counter() - started
    card = result.card
    data = card["training_data"]
    typer.echo(
        f"trained {card['model_id']} on {data['n_sentences']} sentences of "
        f"{data['n_transcripts']} transcript(s) ({', '.join(data['coders'])}) in {seconds:.1f} s: "
        f"{len(card['codes_learned'])} code(s) learned, held-out micro F1 "
        f"{card['held_out_micro_f1']} (optimistic; see `qualcode evaluate`)"
    )
    if card["codes_left_to_rules"]:
        counts = {c["code_id"]: c for c in card["codes"]}
        listed = ", ".join(
            f"{c} ({counts[c]['n_examples']} in {counts[c]['n_transcripts']})"
            for c in card["codes_left_to_rules"]
        )
        typer.echo(f"too few examples, left to the rules: {listed}")
    typer.echo(f"written: {result.out_dir} (model, card.json, card.md)")


@app.command()
def evaluate(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    from_: FromOpt = None,
    folds: Annotated[
        str, typer.Option("--folds", help="transcript: leave one transcript out.")
    ] = "transcript",
    held_out: Annotated[
        list[str] | None,
        typer.Option(
            "--held-out",
            help="Hold out only the transcripts of this coder (repeat for several), e.g. "
            "human:reference, which the codebook's patterns were never tuned on [default: all].",
        ),
    ] = None,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    kind: KindOpt = None,
    features: FeaturesOpt = None,
    seed: SeedOpt = None,
    min_examples: MinExamplesOpt = None,
    examples: ExamplesOpt = True,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples for the 95% intervals.")
    ] = 1000,
    learning_curve: Annotated[
        bool,
        typer.Option(
            "--learning-curve/--no-learning-curve",
            help="Also train on fewer transcripts (F1 against the number of training transcripts).",
        ),
    ] = True,
    curve_draws: Annotated[
        int,
        typer.Option("--curve-draws", help="Random sets of training transcripts per size."),
    ] = 2,
    ablation: Annotated[
        bool,
        typer.Option(
            "--ablation/--no-ablation",
            help="Also measure sentence only, + question, + turn, + section/position, + rules.",
        ),
    ] = True,
    jobs: Annotated[int, typer.Option("--jobs", help="Folds trained in parallel.")] = 1,
) -> None:
    """Leave-one-transcript-out evaluation of the learned coder against human coding."""
    from qualcode.learned import evaluate as evaluation
    from qualcode.learned.results import format_evaluation

    options = _learned_options(kind=kind, features=features, min_examples=min_examples)
    if folds not in evaluation.FOLDS:
        raise typer.BadParameter(
            f"expected one of {', '.join(evaluation.FOLDS)}", param_hint="--folds"
        )
    _processed_outside_raw(processed)
    with _progress("training folds", " folds") as progress, _locked(processed):
        settings = _learned_params(params, options)
        result = evaluation.evaluate(
            processed,
            coders=from_,
            held_out=held_out,
            codebook_path=codebook,
            params=settings,
            seed=seed,
            use_examples=examples,
            n_boot=bootstrap,
            learning_curve=learning_curve,
            curve_draws=curve_draws,
            ablation=ablation,
            jobs=jobs,
            progress=progress,
        )
        written = evaluation.write_evaluation(result, processed)
    typer.echo(format_evaluation(result))
    typer.echo("written: " + ", ".join(str(p) for p in written))


review_app = typer.Typer(
    help="Review where the model and the rules disagree (export) or where it is least sure "
    "(next): a CSV to mark accept/reject, imported as human coding.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    out: Annotated[Path, typer.Argument(help="The CSV to write.")],
    model: Annotated[Path, typer.Option("--model", help="Model folder from `qualcode train`.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    params: ParamsOpt = paths.PARAMS_PATH,
    transcript: Annotated[
        list[str] | None,
        typer.Option("--transcript", help="Only this transcript (repeat for several)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the N most confident disagreements.")
    ] = None,
) -> None:
    """Write the sentences where model and rules disagree, most confident first, to mark in the
    `decision` column (accept: the sentence carries the code; reject: it does not)."""
    from qualcode.config import load_params
    from qualcode.learned.review import export_review, review_table

    _outside_raw(out, paths.RAW_DIR, "OUT")
    _processed_outside_raw(processed)
    try:
        table = review_table(processed, model, params=load_params(params), transcripts=transcript)
        written = export_review(table, out, limit=limit)
    except QualcodeInputError as err:
        raise _fail(err) from None
    shown = len(table) if limit is None else min(limit, len(table))
    by = table.head(shown)["proposed_by"].value_counts().to_dict()
    typer.echo(
        f"{shown} disagreement(s) ({by.get('model', 0)} proposed by the model, "
        f"{by.get('rules', 0)} by the rules) -> {written}; mark `decision` accept or reject, "
        "then `qualcode review import`"
    )


@review_app.command("next")
def review_next(
    out: Annotated[Path, typer.Argument(help="The CSV to write.")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many sentences.")] = 30,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model folder (default: the one `qualcode run` trains)."),
    ] = None,
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    params: ParamsOpt = paths.PARAMS_PATH,
    per_transcript: Annotated[
        int | None,
        typer.Option("--per-transcript", min=1, help="At most this many from one transcript."),
    ] = None,
    codes: Annotated[
        int, typer.Option("--codes", min=1, help="Codes to decide per sentence, least sure first.")
    ] = 2,
) -> None:
    """Write the sentences whose labels would teach the model most (the least certain, spread
    over transcripts and codes; never one already decided or coded in full) to mark in the
    `decision` column, then `qualcode review import` and `qualcode train`."""
    from qualcode.config import load_params
    from qualcode.learned.review import export_review, next_table
    from qualcode.learned.step import study_model_dir

    _outside_raw(out, paths.RAW_DIR, "OUT")
    _processed_outside_raw(processed)
    try:
        table = next_table(
            processed,
            model if model is not None else study_model_dir(processed),
            n=n,
            per_transcript=per_transcript,
            codes_per_sentence=codes,
            params=load_params(params),
        )
        written = export_review(table, out)
    except QualcodeInputError as err:
        raise _fail(err) from None
    typer.echo(
        f"{table['rank'].nunique()} sentence(s), {len(table)} code decision(s) in "
        f"{table['transcript_id'].nunique()} transcript(s) -> {written}; mark `decision` accept "
        "or reject, then `qualcode review import` and `qualcode train`"
    )


@review_app.command("import")
def review_import(
    file: Annotated[Path, typer.Argument(help="A review CSV with the decision column marked.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    coder: Annotated[
        str,
        typer.Option("--coder", help="Who reviewed (coder human:<name>).", callback=_check_coder),
    ] = "review",
) -> None:
    """Add the accepted rows of a marked review file as human coding (rejected rows remove that
    coder's coding); keep every decision for `qualcode train`."""
    from qualcode.learned.review import import_review

    _processed_outside_raw(processed)
    with _bad_input(), _locked(processed):
        result = import_review(file, processed, coder=coder)
    typer.echo(
        f"{file.name}: {result.accepted} accepted, {result.rejected} rejected, "
        f"{result.undecided} undecided, in {len(result.transcripts)} transcript(s), as "
        f"{result.coder}"
        + (f" -> {result.codings_path}, {result.decisions_path}" if result.codings_path else "")
    )


@app.command()
def export(
    kind: Annotated[str, typer.Argument(help="qdpx, qdc or csv.")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    raw: Annotated[
        Path, typer.Option("--raw", help="Folder of raw transcripts (for participants.csv).")
    ] = paths.RAW_DIR,
    params: ParamsOpt = paths.PARAMS_PATH,
) -> None:
    """Export the project as REFI-QDA (qdpx), the codebook (qdc) or a quote table (csv).

    With `deid.study_ids: true` in the parameters, transcripts are named T01, T02, ..."""
    from qualcode.coding.codebook import load_codebook
    from qualcode.config import load_params
    from qualcode.human.export import KINDS
    from qualcode.human.export import export as export_project

    if kind not in KINDS:
        raise typer.BadParameter(f"expected one of {', '.join(KINDS)}", param_hint="KIND")
    _outside_raw(out, raw, "OUT")
    _processed_outside_raw(processed, raw)
    with _bad_input():
        message = export_project(
            kind,
            out,
            processed,
            codebook=load_codebook(codebook),
            participants_path=raw / "participants.csv",
            study_ids=load_params(params).deid.study_ids,
        )
    typer.echo(message)


if __name__ == "__main__":  # pragma: no cover
    app()
