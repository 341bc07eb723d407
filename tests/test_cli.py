"""The command line: help, exit codes, one-line errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli_helper import run_cli

DESIGN_COMMANDS = ["ingest", "code", "report", "run", "import-coding", "agreement", "export"]


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    for command in DESIGN_COMMANDS:
        assert command in result.output


def test_each_command_has_help() -> None:
    for command in DESIGN_COMMANDS:
        result = run_cli(command, "--help")
        assert "Usage" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    run_cli("summarise", exit_code=2)


def test_unknown_option_is_a_usage_error() -> None:
    run_cli("report", "--colour", "red", exit_code=2)


def test_report_without_notebooks_is_bad_input(tmp_path: Path) -> None:
    result = run_cli(
        "report", "--notebooks", tmp_path / "missing", "--out", tmp_path / "r", exit_code=1
    )
    assert "notebooks folder not found" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r" / "index.html").exists()


def test_entry_point_runs_as_a_program(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("qualcode")
    proc = subprocess.run(
        [str(exe), "report", "--notebooks", str(tmp_path), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "expected notebooks named like 01_name.ipynb" in proc.stderr
    assert "Traceback" not in proc.stderr
