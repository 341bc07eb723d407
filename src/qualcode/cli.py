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
        str | None, typer.Option("--coder", help="Coder name for a CSV (human:<name>).")
    ] = None,
) -> None:
    """Import human coding from REFI-QDA or CSV into human_codings.parquet."""
    raise _not_implemented("import-coding")


@app.command()
def agreement(
    processed: ProcessedOpt = paths.PROCESSED_DIR,
    unit: Annotated[str, typer.Option("--unit", help="sentence or turn.")] = "sentence",
) -> None:
    """Agreement between the automatic coding and the reference coding, per code."""
    raise _not_implemented("agreement")


@app.command()
def export(
    kind: Annotated[str, typer.Argument(help="qdpx, qdc or csv.")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    processed: ProcessedOpt = paths.PROCESSED_DIR,
) -> None:
    """Export the project as REFI-QDA (qdpx), the codebook (qdc) or a quote table (csv)."""
    raise _not_implemented("export")


if __name__ == "__main__":  # pragma: no cover
    app()
