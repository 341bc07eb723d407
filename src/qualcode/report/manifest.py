"""The run manifest: what a report was built from, so a reviewer can check it.

It lists each input transcript with its sha256 (from transcripts.parquet), the codebook's version
and sha256, the parameters, the processed tables with their sha256, and the versions of Python,
spaCy and the English model, with the date of the run. The report puts it on the index page and
writes it to reports/manifest.json.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import spacy

from qualcode import __version__
from qualcode.coding.codebook import load_codebook
from qualcode.config import load_params, load_yaml
from qualcode.nlp import model_info
from qualcode.participants import natural_key
from qualcode.paths import PROJ_ROOT, guide_path, study_path
from qualcode.schema import MANIFEST_TABLES, file_sha256, read_table, table_path, write_json
from qualcode.study_ids import manifest_rows

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
PACKAGES = ("pandas", "pyarrow", "numpy", "matplotlib", "seaborn", "papermill", "nbconvert")


def _show_path(path: Path | str, root: Path = PROJ_ROOT) -> str:
    """RETURNS (str): the path relative to the study folder when inside it (a shared report
    never shows where the study sits on its owner's disk), else as given."""
    path = Path(path)
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def study_root(params_path: Path) -> Path:
    """RETURNS (Path): the study folder of a parameters file (the folder above its config/)."""
    folder = params_path.resolve().parent
    return folder.parent if folder.name == "config" else PROJ_ROOT


def _codebook_entry(codebook_path: Path, root: Path) -> dict[str, Any]:
    book = load_codebook(codebook_path)
    return {
        "path": _show_path(codebook_path, root),
        "version": book.version,
        "sha256": file_sha256(codebook_path),
        "content_sha256": book.sha256,
        "n_codes": len(book),
    }


def _optional_file(path: Path, root: Path) -> dict[str, Any] | None:
    """RETURNS (dict | None): an optional YAML input's path, sha256 and version (None: absent)."""
    if not path.is_file():
        return None
    data, _root = load_yaml(path.read_text(encoding="utf-8"), path=path)
    version = data.get("version") if isinstance(data, dict) else None
    return {
        "path": _show_path(path, root),
        "sha256": file_sha256(path),
        "version": None if version is None else str(version),
    }


def _run_date(now: datetime | None) -> str:
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        now = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).isoformat(timespec="seconds")


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _shareable(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters without the deny list's names (they identify people): only their number."""
    deny = values.get("deid", {}).get("deny")
    if isinstance(deny, dict):
        values["deid"]["deny"] = {kind: f"{len(names)} names" for kind, names in deny.items()}
    return values


def build_manifest(
    *,
    processed_dir: Path | str,
    codebook_path: Path | str,
    params_path: Path | str,
    raw_dir: Path | str | None = None,
    parameters: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Describe one run: inputs with hashes, codebook, parameters, software versions and date.

    processed_dir: the folder holding transcripts.parquet (required) and the other tables.
    codebook_path, params_path: the codebook and parameters the run used.
    raw_dir: when given, participants.csv there is hashed too.
    parameters: the notebooks' parameters (paths are shown relative to the study folder).
    now: the run date (default: SOURCE_DATE_EPOCH when set, else the current time), stored in UTC.
    RETURNS (dict): JSON-ready; keys manifest_version, created, transcripts, participants, codebook,
        params, guide, study_file, notebook_parameters, tables, codings_codebook_versions,
        software.
    """
    processed_dir = Path(processed_dir)
    codebook_path = Path(codebook_path)
    params_path = Path(params_path)
    params = load_params(params_path)
    root = study_root(params_path)
    transcripts = read_table(processed_dir, "transcripts")
    transcripts = transcripts.sort_values(
        "transcript_id", key=lambda ids: ids.map(natural_key), kind="stable"
    )
    transcript_rows = [
        {
            "transcript_id": str(row.transcript_id),
            "source_path": str(row.source_path),
            "format": str(row.format),
            "sha256": str(row.source_sha256),
            "n_turns": int(row.n_turns),
            "n_words": int(row.n_words),
        }
        for row in transcripts.itertuples(index=False)
    ]
    transcript_rows = manifest_rows(transcript_rows, enabled=params.deid.study_ids)
    participants = None
    if raw_dir is not None:
        csv_path = Path(raw_dir) / "participants.csv"
        if csv_path.exists():
            participants = {"path": _show_path(csv_path, root), "sha256": file_sha256(csv_path)}
    tables = []
    for name in MANIFEST_TABLES:
        path = table_path(processed_dir, name)
        if path.exists():
            tables.append({"name": name, "file": path.name, "sha256": file_sha256(path)})
    codings = read_table(processed_dir, "codings", required=False)
    coded_versions: list[str] = []
    if codings is not None and "codebook_version" in codings.columns:
        coded_versions = sorted({str(v) for v in codings["codebook_version"].dropna().unique()})
    software = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": sys.platform,
        "qualcode": __version__,
        "spacy": spacy.__version__,
        **{
            f"spacy_{key}": value
            for key, value in model_info(params.spacy_model).items()
            if key != "spacy_version"
        },
        **{name: _package_version(name) for name in PACKAGES},
    }
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": _run_date(now),
        "transcripts": transcript_rows,
        "participants": participants,
        "codebook": _codebook_entry(codebook_path, root),
        "params": {
            "path": _show_path(params_path, root),
            "sha256": file_sha256(params_path),
            "digest": params.digest(),
            "values": _shareable(params.to_dict()),
        },
        "guide": _optional_file(guide_path(params_path), root),
        "study_file": _optional_file(study_path(params_path), root),
        "notebook_parameters": {
            key: _show_path(value, root) if key.endswith(("_dir", "_path")) else value
            for key, value in sorted((parameters or {}).items())
        },
        "tables": tables,
        "codings_codebook_versions": coded_versions,
        "software": software,
    }


def write_manifest(manifest: dict[str, Any], path: Path | str) -> Path:
    """Write the manifest as JSON (sorted keys), atomically. RETURNS (Path): the path written."""
    return write_json(Path(path), manifest)
