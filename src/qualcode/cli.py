"""The `qualcode` command line.

Exit codes: 0 done; 1 bad input (a one-line message naming the file, line or element and what was
expected; no traceback); 2 usage error or a step that is not implemented yet.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from qualcode import paths
from qualcode.errors import QualcodeInputError

app = typer.Typer(
    name="qualcode",
    help="Reproducible qualitative coding of interview transcripts, from raw files to an HTML report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProcessedOpt = Annotated[
    Path, typer.Option("--processed", help="Folder of the processed tables (parquet).")
]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help="The codebook (YAML).")]
ParamsOpt = Annotated[Path, typer.Option("--params", help="Pipeline parameters (YAML).")]


def _fail(err: QualcodeInputError) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=1)


def _not_implemented(command: str) -> typer.Exit:
    typer.echo(f"qualcode {command}: not implemented yet", err=True)
    return typer.Exit(code=2)


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
        typer.Option("--keys", help="Folder for the re-identification key [default: beside --raw]."),
    ] = None,
) -> None:
    """Read every transcript in --raw into transcripts, turns and sentences tables."""
    from qualcode.config import load_params
    from qualcode.ingest import format_errors, ingest_corpus

    try:
        result = ingest_corpus(
            raw, out, params=load_params(params), keys_dir=keys, keep_going=keep_going
        )
    except QualcodeInputError as err:
        raise _fail(err) from None
    typer.echo(
        f"ingest: {len(result.processed)} processed, {len(result.skipped)} unchanged, "
        f"{len(result.removed)} removed -> {out}"
    )
    if result.errors:
        listing = format_errors(result.errors)
        typer.echo(f"error: {len(result.errors)} bad input(s):\n{listing}", err=True)
        raise typer.Exit(code=1)


@app.command()
def code(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
) -> None:
    """Apply the codebook to participant sentences and write codings.parquet."""
    from tqdm import tqdm

    from qualcode.coding import code_corpus
    from qualcode.config import load_params

    try:
        with tqdm(desc="coding", unit=" units", disable=None, leave=False) as bar:
            result = code_corpus(
                processed, codebook, params=load_params(params), progress=bar.update
            )
    except QualcodeInputError as err:
        raise _fail(err) from None
    typer.echo(
        f"coded {len(result.coded)} transcript(s), {len(result.cached)} unchanged; "
        f"{len(result.codings)} codings, {len(result.quantities)} quantities "
        f"(codebook v{result.codebook_version}, unit {result.unit}) -> {result.codings_path}"
    )


@app.command()
def report(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML report.")] = paths.REPORTS_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
    raw: Annotated[
        Path, typer.Option("--raw", help="Folder of raw transcripts (for participants.csv).")
    ] = paths.RAW_DIR,
    notebooks: Annotated[
        Path, typer.Option("--notebooks", help="Folder of the ordered notebooks.")
    ] = paths.NOTEBOOKS_DIR,
) -> None:
    """Execute the notebooks in order and render them to HTML in --out."""
    from qualcode.manifest import build_manifest
    from qualcode.report import ReportError, build_report, discover_notebooks

    try:
        discover_notebooks(notebooks)
        manifest = build_manifest(
            processed_dir=processed, codebook_path=codebook, params_path=params, raw_dir=raw
        )
        result = build_report(
            notebooks_dir=notebooks,
            out_dir=out,
            parameters={
                "processed_dir": str(processed.resolve()),
                "raw_dir": str(raw.resolve()),
                "codebook_path": str(codebook.resolve()),
                "params_path": str(params.resolve()),
                "reference_dir": str(raw.resolve().parent / "reference"),
            },
            manifest=manifest,
        )
    except ReportError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    except QualcodeInputError as err:
        raise _fail(err) from None
    typer.echo(f"report written: {result.index}")


@app.command()
def run(
    raw: Annotated[Path, typer.Option("--raw", help="Folder of raw transcripts.")] = paths.RAW_DIR,
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML report.")] = paths.REPORTS_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    params: ParamsOpt = paths.PARAMS_PATH,
) -> None:
    """Run the whole study: ingest, code, report."""
    ingest(raw=raw, out=processed, keep_going=False, params=params, keys=None)
    code(processed=processed, codebook=codebook, params=params)
    report(
        processed=processed,
        out=out,
        codebook=codebook,
        params=params,
        raw=raw,
        notebooks=paths.NOTEBOOKS_DIR,
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
        typer.Option("--keys", help="Folder of the re-identification key [default: data/keys]."),
    ] = None,
) -> None:
    """Import human coding from REFI-QDA or CSV into human_codings.parquet."""
    from qualcode.human_coding import import_csv
    from qualcode.refi import import_qdpx

    suffix = file.suffix.lower()
    try:
        if suffix in (".qdpx", ".zip"):
            result = import_qdpx(
                file,
                processed,
                codebook_path=codebook,
                coder=coder,
                raw_dir=raw,
                params_path=params,
                keys_dir=keys,
            )
        elif suffix == ".csv":
            result = import_csv(file, processed, coder=coder, codebook_path=codebook, raw_dir=raw)
        else:
            raise QualcodeInputError("expected a .qdpx project or a .csv file", path=file)
    except QualcodeInputError as err:
        raise _fail(err) from None
    for problem in result.problems:
        typer.echo(f"warning: {problem}", err=True)
    by_coder = result.codings.groupby("coder").size() if len(result.codings) else {}
    coders = ", ".join(f"{c} ({n})" for c, n in by_coder.items()) or "none"
    typer.echo(
        f"{file.name}: {len(result.codings)} coded sentence(s) in "
        f"{len(result.transcripts)} transcript(s) by {coders} -> {result.written}"
    )
    if result.ingested:
        typer.echo(f"ingested from the project: {', '.join(result.ingested)}")
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
    unit: Annotated[str, typer.Option("--unit", help="sentence or turn.")] = "sentence",
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
    from qualcode import agreement as agreement_module
    from qualcode.config import load_params
    from qualcode.human_coding import coder_name

    if unit not in agreement_module.UNITS:
        raise typer.BadParameter("expected sentence or turn", param_hint="--unit")
    try:
        settings = load_params(params)
        coders = [coder_name(c) for c in between]
        if agreement_module.REFERENCE_CODER in coders:
            imported = agreement_module.refresh_reference(
                reference, processed, codebook_path=codebook, raw_dir=raw
            )
            if imported is not None:
                for problem in imported.problems:
                    typer.echo(f"warning: {problem}", err=True)
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
    except QualcodeInputError as err:
        raise _fail(err) from None
    typer.echo(agreement_module.format_agreement(result))
    typer.echo(f"written: {written[0]}, {written[1]}")


@app.command()
def export(
    kind: Annotated[str, typer.Argument(help="qdpx, qdc or csv.")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    codebook: CodebookOpt = paths.CODEBOOK_PATH,
    raw: Annotated[
        Path, typer.Option("--raw", help="Folder of raw transcripts (for participants.csv).")
    ] = paths.RAW_DIR,
) -> None:
    """Export the project as REFI-QDA (qdpx), the codebook (qdc) or a quote table (csv)."""
    from qualcode.codebook import load_codebook
    from qualcode.export import KINDS
    from qualcode.export import export as export_project

    if kind not in KINDS:
        raise typer.BadParameter(f"expected one of {', '.join(KINDS)}", param_hint="KIND")
    try:
        message = export_project(
            kind,
            out,
            processed,
            codebook=load_codebook(codebook),
            participants_path=raw / "participants.csv",
        )
    except QualcodeInputError as err:
        raise _fail(err) from None
    typer.echo(message)


if __name__ == "__main__":  # pragma: no cover
    app()
