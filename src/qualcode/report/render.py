"""Execute the ordered notebooks and render them into a shareable HTML report.

`build_report` runs notebooks/NN_*.ipynb with papermill, injecting parameters, `jobs` at a time
(they only read tables; the pages keep their filename order), stops at the first failing notebook
(naming it and the failing cell), renders each executed notebook to one self-contained HTML page
(code hidden, figures embedded as data URIs, nothing loaded from the network), and writes an index
page and a single-file study report. Everything is built in a staging folder and moved into place
at the end, so a failed run leaves the previous report intact.

Given the digests of the files the notebooks read (`inputs`), a notebook whose own inputs are
those of its last executed copy in the report folder is not executed again: that copy is kept.
A notebook's inputs are its own file, the parameters and every input except those its metadata
says it does not read (`qualcode.does_not_read`: glob patterns of input names such as
`processed/evaluation*`), so a notebook that does not read the learned coder's tables is kept
when only they changed.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import hashlib
import html
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from qualcode.errors import QualcodeInputError
from qualcode.schema import write_json

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
INDEX_NAME = "index.html"
STUDY_REPORT_NAME = "study_report.html"
MANIFEST_NAME = "manifest.json"
# the key of a notebook's metadata that qualcode reads and writes
METADATA_KEY = "qualcode"


class ReportError(QualcodeInputError):
    """A notebook failed or could not be read; the message names the notebook and the cell."""


@dataclass(frozen=True)
class NotebookPage:
    """One executed and rendered notebook."""

    name: str
    title: str
    purpose: str
    html_name: str
    executed_at: str
    seconds: float
    # not executed in this run: its inputs were those of its last executed copy, which was kept
    kept: bool = False


@dataclass(frozen=True)
class ReportResult:
    """What `build_report` wrote."""

    out_dir: Path
    index: Path
    study_report: Path
    pages: tuple[NotebookPage, ...]
    manifest: Path | None


def discover_notebooks(notebooks_dir: Path) -> list[Path]:
    """Find the ordered notebooks (`NN_name.ipynb`) of a folder.

    RETURNS (list[Path]): the notebooks in filename order.
    """
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        raise ReportError(f"{notebooks_dir}: notebooks folder not found")
    found = sorted(notebooks_dir.glob(NOTEBOOK_GLOB))
    if not found:
        raise ReportError(
            f"{notebooks_dir}: expected notebooks named like 01_name.ipynb, found none"
        )
    return found


def notebook_summary(nb: nbformat.NotebookNode, *, fallback: str) -> tuple[str, str]:
    """Read the title (`# Title`) and the one-line purpose below it from the first Markdown cell.

    RETURNS (tuple[str, str]): title and purpose (empty when the notebook has none).
    """
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
        title = fallback
        purpose = ""
        if lines and lines[0].startswith("# "):
            title = lines[0][2:].strip()
            lines = lines[1:]
        if lines:
            purpose = lines[0]
        return title, purpose
    return fallback, ""


def _failing_cell(nb_path: Path) -> str:
    """Describe the first cell of an executed notebook whose output is an error."""
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:  # noqa: BLE001 - a best-effort description only
        return ""
    code_index = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "injected-parameters" in cell.metadata.get("tags", []):
            continue
        code_index += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first_line = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                return f"code cell {code_index} (`{first_line.strip()[:80]}`)"
    return ""


def execute_notebook(
    src: Path, dst: Path, *, parameters: Mapping[str, Any], cwd: Path, timeout: int = 1800
) -> None:
    """Execute one notebook with papermill into `dst`.

    Raises ReportError naming the notebook and the failing cell when a cell raises.
    """
    try:
        papermill.execute_notebook(
            str(Path(src).resolve()),
            str(Path(dst).resolve()),
            parameters=dict(parameters),
            # the kernel starts in cwd; papermill's own `cwd` would change the working folder
            # of this whole process, which notebooks run in threads at once must not do
            resources={"metadata": {"path": str(Path(cwd).resolve())}},
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as err:
        where = _failing_cell(dst) or f"cell {err.exec_count}"
        raise ReportError(
            f"{src.name}: {where} failed: {err.ename}: {err.evalue.strip()}"
        ) from None


def does_not_read(nb: nbformat.NotebookNode) -> list[str]:
    """RETURNS (list[str]): the glob patterns of the inputs a notebook says it does not read
    (its metadata's `qualcode.does_not_read`; none when it says nothing)."""
    patterns = nb.metadata.get(METADATA_KEY, {}).get("does_not_read", [])
    return [str(p) for p in patterns]


def notebook_inputs_digest(
    src: Path,
    nb: nbformat.NotebookNode,
    *,
    parameters: Mapping[str, Any],
    inputs: Mapping[str, str],
) -> str:
    """The sha256 of what one notebook reads: its own file, the parameters it is given, and the
    digests of the inputs (name -> digest) but those it says it does not read.

    RETURNS (str): the hex digest.
    """
    unread = does_not_read(nb)
    read = {
        name: digest
        for name, digest in inputs.items()
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in unread)
    }
    blob = json.dumps(
        {
            "notebook": hashlib.sha256(Path(src).read_bytes()).hexdigest(),
            "parameters": dict(parameters),
            "inputs": read,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _kept_copy(path: Path, digest: str | None) -> nbformat.NotebookNode | None:
    """RETURNS (NotebookNode | None): the executed notebook at path when it was executed on the
    inputs of `digest`, else None."""
    if digest is None or not path.is_file():
        return None
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable copy is executed again
        return None
    about = nb.metadata.get(METADATA_KEY, {})
    return nb if about.get("inputs_sha256") == digest else None


@dataclass(frozen=True)
class _Job:
    """One notebook of the report: where it is, where its executed copy goes, and the digest of
    its inputs (None: always executed)."""

    src: Path
    dst: Path
    digest: str | None
    kept: nbformat.NotebookNode | None


def _run_job(job: _Job, *, parameters: Mapping[str, Any], out_dir: Path) -> NotebookPage:
    """Execute one notebook into job.dst (or write its kept copy there), recording in its
    metadata the digest of its inputs, when it ran and for how long.

    RETURNS (NotebookPage): the page (title and purpose not yet read: see `build_report`).
    """
    if job.kept is not None:
        about = job.kept.metadata[METADATA_KEY]
        log.info("%s: inputs unchanged, kept", job.src.name)
        shutil.copyfile(out_dir / job.src.name, job.dst)
        return NotebookPage(
            name=job.src.name, title="", purpose="", html_name=f"{job.src.stem}.html",
            executed_at=str(about.get("executed_at", "")),
            seconds=float(about.get("seconds", 0.0)), kept=True,
        )  # fmt: skip
    started = time.monotonic()
    executed_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    log.info("executing %s", job.src.name)
    try:
        execute_notebook(job.src, job.dst, parameters=parameters, cwd=job.src.parent)
    except ReportError:
        if job.dst.exists():
            os.replace(job.dst, out_dir / f"{job.src.stem}.failed.ipynb")
        raise
    seconds = time.monotonic() - started
    if job.digest is not None:
        nb = nbformat.read(job.dst, as_version=4)
        nb.metadata[METADATA_KEY] = {
            **nb.metadata.get(METADATA_KEY, {}),
            "inputs_sha256": job.digest,
            "executed_at": executed_at,
            "seconds": round(seconds, 1),
        }
        nbformat.write(nb, job.dst)
    return NotebookPage(
        name=job.src.name, title="", purpose="", html_name=f"{job.src.stem}.html",
        executed_at=executed_at, seconds=seconds,
    )  # fmt: skip


def _run_jobs(
    jobs: Sequence[_Job], *, parameters: Mapping[str, Any], out_dir: Path, workers: int
) -> list[NotebookPage]:
    """Run the notebooks `workers` at a time; the first that fails in filename order stops the
    run (those not started are not started).

    RETURNS (list[NotebookPage]): the pages in the order of `jobs`.
    """
    if workers <= 1 or sum(job.kept is None for job in jobs) <= 1:
        return [_run_job(job, parameters=parameters, out_dir=out_dir) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook") as pool:
        futures = [
            pool.submit(_run_job, job, parameters=parameters, out_dir=out_dir) for job in jobs
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _strip_for_html(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Copy of an executed notebook without stderr streams and parameter cells, for readers."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & {"parameters", "injected-parameters"}:
            continue
        if cell.cell_type == "code":
            cell.outputs = [
                out
                for out in cell.outputs
                if not (out.get("output_type") == "stream" and out.get("name") == "stderr")
            ]
        cells.append(cell)
    nb.cells = cells
    return nb


def render_html(nb: nbformat.NotebookNode, *, title: str, nav: str = "") -> str:
    """Render a notebook to one self-contained HTML page (code hidden, nothing from the network).

    RETURNS (str): the HTML.
    """
    nb = _strip_for_html(nb)
    nb.metadata["title"] = title
    exporter = HTMLExporter(
        template_name="qualcode",
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _resources = exporter.from_notebook_node(nb)
    if nav:
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + nav, body, count=1)
    return body


def _nav(pages: list[NotebookPage], current: int | None) -> str:
    links = [f'<a href="{INDEX_NAME}">Index</a>']
    for i, page in enumerate(pages):
        label = html.escape(page.title)
        if i == current:
            links.append(f"<strong>{label}</strong>")
        else:
            links.append(f'<a href="{html.escape(page.html_name)}">{label}</a>')
    return '<nav class="qualcode-nav">' + " ".join(links) + "</nav>"


HASH_SHOWN = 12  # characters of a sha256 shown on the index page (manifest.json holds them all)


def _short(value: Any) -> str:
    """RETURNS (str): a value for a table cell: a hash shortened, a list joined, nothing "none"."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(_short(v) for v in value) or "none"
    text = str(value)
    if re.fullmatch(r"[0-9a-f]{40,}", text):
        return text[:HASH_SHOWN] + "…"
    return text


def _flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """RETURNS (list): (dotted key, shown value) for every leaf of nested mappings, key order."""
    if isinstance(value, Mapping):
        rows: list[tuple[str, str]] = []
        for key in sorted(value):
            rows.extend(_flat(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return rows or [(prefix, "none")]
    return [(prefix, _short(value))]


def _rows_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in rows
    )
    return f'<table class="manifest"><tbody>{body}</tbody></table>'


def _grid(records: list[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for record in records for key in record))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_short(record.get(c, '')))}</td>" for c in columns)
        + "</tr>"
        for record in records
    )
    return f'<table class="manifest"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# The manifest's parts, in the order the index shows them, with their headings.
_MANIFEST_PARTS = (
    ("participants", "participants.csv"),
    ("codebook", "Codebook"),
    ("codings_codebook_versions", "Codebook versions of the coded rows"),
    ("guide", "Interview guide"),
    ("study_file", "Study file"),
    ("params", "Parameters"),
    ("notebook_parameters", "Notebook parameters"),
    ("tables", "Processed tables"),
    ("software", "Software"),
)


def _manifest_html(manifest: Mapping[str, Any]) -> str:
    """Render the run manifest as readable tables: the inputs (transcripts with their hashes
    shortened), the codebook, guide and study file with their versions, the parameters, the
    notebooks' parameters, the processed tables and the software versions; manifest.json beside
    it holds every hash in full."""
    parts = [
        "<h2>Run manifest</h2>",
        f"<p>What this report was built from. Hashes are shortened here; "
        f'<a href="{MANIFEST_NAME}" download>manifest.json</a> holds them in full.</p>',
    ]
    top = [
        (key, _short(value))
        for key, value in manifest.items()
        if not isinstance(value, Mapping | list) and key not in dict(_MANIFEST_PARTS)
    ]
    if top:
        parts.append(_rows_table(top))
    transcripts = manifest.get("transcripts") or []
    if transcripts:
        parts.append(f"<h3>Input transcripts ({len(transcripts)})</h3>{_grid(transcripts)}")
    known = {"transcripts", *dict(_MANIFEST_PARTS)}
    extra = [
        (key, key)
        for key, value in manifest.items()
        if key not in known and isinstance(value, Mapping | list)
    ]
    for key, heading in (*_MANIFEST_PARTS, *extra):
        if key not in manifest:
            continue
        value = manifest[key]
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            body = _grid(value)
        elif isinstance(value, Mapping) and isinstance(value.get("values"), Mapping):
            # the parameters file: where it is and its hashes, then each value by its dotted key
            about = {k: v for k, v in value.items() if k != "values"}
            body = _rows_table(_flat(about) + _flat(value["values"]))
        elif isinstance(value, Mapping):
            body = _rows_table(_flat(value))
        else:
            body = f"<p>{html.escape(_short(value))}</p>"
        parts.append(f"<h3>{html.escape(heading)}</h3>{body}")
    return "\n".join(parts)


def render_index(
    pages: list[NotebookPage],
    *,
    generated_at: str,
    manifest: Mapping[str, Any] | None = None,
    title: str = "Study report",
) -> str:
    """Render the index page: the pages in order with their purpose and run time, and the manifest.

    RETURNS (str): the HTML.
    """
    items = "\n".join(
        f'<li><a href="{html.escape(p.html_name)}">{html.escape(p.title)}</a>'
        f'<div class="purpose">{html.escape(p.purpose)}</div>'
        f'<div class="when">run {html.escape(p.executed_at)} ({p.seconds:.1f} s)'
        + ("; its inputs have not changed since" if p.kept else "")
        + "</div></li>"
        for p in pages
    )
    manifest_html = _manifest_html(manifest) if manifest else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2rem auto; padding: 0 1rem;
         line-height: 1.5; color: #222; }}
  ol.pages li {{ margin-bottom: 0.9rem; }}
  ol.pages a {{ font-size: 1.15em; }}
  .purpose {{ color: #333; }}
  .when {{ color: #666; font-size: 0.85em; }}
  table.manifest {{ border-collapse: collapse; font-size: 0.85em; margin-bottom: 1rem; }}
  table.manifest th, table.manifest td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem;
         text-align: left; vertical-align: top; }}
  table.manifest pre {{ margin: 0; white-space: pre-wrap; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>Generated {html.escape(generated_at)}. Read the pages in order, or download
<a href="{STUDY_REPORT_NAME}">the whole report as one file</a>.</p>
<ol class="pages">
{items}
</ol>
{manifest_html}
</body>
</html>
"""


def _combine(executed: list[tuple[NotebookPage, nbformat.NotebookNode]]) -> nbformat.NotebookNode:
    """All executed notebooks as one notebook, each introduced by its title."""
    combined = nbformat.v4.new_notebook()
    contents = "\n".join(f"{i}. {page.title}" for i, (page, _nb) in enumerate(executed, start=1))
    # a fixed id (nbformat gives a new cell a random one): the same pages make the same file
    heading = nbformat.v4.new_markdown_cell(f"## Contents\n\n{contents}", id="contents")
    combined.cells.append(heading)
    for number, (_page, nb) in enumerate(executed, start=1):
        for cell in copy.deepcopy(nb.cells):
            # cell ids are unique within a notebook only: prefix them with the page's number
            cell.id = f"p{number}-{cell.get('id', len(combined.cells))}"
            combined.cells.append(cell)
    if executed:
        combined.metadata = copy.deepcopy(executed[0][1].metadata)
    return combined


def build_report(
    *,
    notebooks_dir: Path,
    out_dir: Path,
    parameters: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    title: str = "Study report",
    inputs: Mapping[str, str] | None = None,
    jobs: int = 1,
) -> ReportResult:
    """Execute the ordered notebooks and write the HTML report into `out_dir`.

    out_dir receives, per notebook, the executed `.ipynb` and its `.html`, plus index.html,
    study_report.html and (with a manifest) manifest.json. Nothing in out_dir changes unless every
    notebook ran.
    inputs: the digest of every file the notebooks may read, by name (`processed/turns.parquet`);
        with it, a notebook whose inputs (see `notebook_inputs_digest`) are those its executed
        copy in out_dir was made from is kept rather than executed again. None: every notebook
        is executed.
    jobs: notebooks executed at a time (each in its own kernel; they must not read what another
        writes). The pages, the index and the study report follow filename order whatever it is.
    RETURNS (ReportResult): the pages and paths written.
    """
    notebooks = discover_notebooks(notebooks_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        work = []
        for src in notebooks:
            digest = None
            if inputs is not None:
                source = nbformat.read(src, as_version=4)
                digest = notebook_inputs_digest(src, source, parameters=parameters, inputs=inputs)
            work.append(
                _Job(src, staging / src.name, digest, _kept_copy(out_dir / src.name, digest))
            )
        ran = _run_jobs(work, parameters=parameters, out_dir=out_dir, workers=jobs)
        executed: list[tuple[NotebookPage, nbformat.NotebookNode]] = []
        for job, page in zip(work, ran, strict=True):
            nb = nbformat.read(job.dst, as_version=4)
            title_, purpose = notebook_summary(nb, fallback=job.src.stem)
            executed.append((dataclasses.replace(page, title=title_, purpose=purpose), nb))

        pages = [page for page, _nb in executed]
        for i, (page, nb) in enumerate(executed):
            page_html = render_html(nb, title=page.title, nav=_nav(pages, i))
            (staging / page.html_name).write_text(page_html, encoding="utf-8")
        (staging / STUDY_REPORT_NAME).write_text(
            render_html(_combine(executed), title=title), encoding="utf-8"
        )
        generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        (staging / INDEX_NAME).write_text(
            render_index(pages, generated_at=generated_at, manifest=manifest, title=title),
            encoding="utf-8",
        )
        if manifest is not None:
            write_json(staging / MANIFEST_NAME, dict(manifest))

        # Every notebook ran: move the new report into place, file by file.
        for path in sorted(staging.iterdir()):
            os.replace(path, out_dir / path.name)
        for page in pages:
            stale = out_dir / f"{Path(page.name).stem}.failed.ipynb"
            if stale.exists():
                stale.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    return ReportResult(
        out_dir=out_dir,
        index=out_dir / INDEX_NAME,
        study_report=out_dir / STUDY_REPORT_NAME,
        pages=tuple(pages),
        manifest=out_dir / MANIFEST_NAME if manifest is not None else None,
    )
