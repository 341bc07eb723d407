"""The command line: help, exit codes, one-line errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
from cli_helper import run_cli

from qualcode import paths
from qualcode.cli import app

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


# Every command's options (arguments in lower case) with their defaults, in order.
OPTIONS = {
    "agreement": [("--processed", "data/processed"), ("--unit", "sentence"),
                  ("--between", ("human:reference", "rules")), ("--reference", "data/reference"),
                  ("--codebook", "config/codebook.yml"), ("--params", "config/params.yml"),
                  ("--raw", "data/raw"), ("--bootstrap", 1000), ("--rollup", False)],
    "code": [("--processed", "data/processed"), ("--codebook", "config/codebook.yml"),
             ("--params", "config/params.yml"), ("--coder", "rules"), ("--model", None)],
    "evaluate": [("--processed", "data/processed"), ("--from", None), ("--folds", "transcript"),
                 ("--held-out", None), ("--codebook", "config/codebook.yml"),
                 ("--params", "config/params.yml"), ("--kind", None),
                 ("--features", None), ("--seed", None),
                 ("--min-examples", None), ("--examples/--no-examples", True),
                 ("--bootstrap", 1000), ("--learning-curve/--no-learning-curve", True),
                 ("--curve-draws", 2), ("--ablation/--no-ablation", True), ("--jobs", 1)],
    "export": [("kind", None), ("out", None), ("--processed", "data/processed"),
               ("--codebook", "config/codebook.yml"), ("--raw", "data/raw"),
               ("--params", "config/params.yml")],
    "import-coding": [("file", None), ("--processed", "data/processed"), ("--coder", None),
                      ("--codebook", "config/codebook.yml"), ("--raw", "data/raw"),
                      ("--params", "config/params.yml"), ("--keys", None), ("--sources", None)],
    "ingest": [("--raw", "data/raw"), ("--out", "data/processed"), ("--keep-going", False),
               ("--params", "config/params.yml"), ("--keys", None)],
    "report": [("--processed", "data/processed"), ("--out", "reports"),
               ("--codebook", "config/codebook.yml"), ("--params", "config/params.yml"),
               ("--raw", "data/raw"), ("--notebooks", "notebooks")],
    "review export": [("out", None), ("--model", None), ("--processed", "data/processed"),
                      ("--params", "config/params.yml"), ("--transcript", None),
                      ("--limit", None)],
    "review import": [("file", None), ("--processed", "data/processed"), ("--coder", "review")],
    "review next": [("out", None), ("--n", 30), ("--model", None),
                    ("--processed", "data/processed"), ("--params", "config/params.yml"),
                    ("--per-transcript", None), ("--codes", 2)],
    "run": [("--raw", "data/raw"), ("--processed", "data/processed"), ("--out", "reports"),
            ("--codebook", "config/codebook.yml"), ("--params", "config/params.yml"),
            ("--learn/--no-learn", True), ("--skip-other-coding", False), ("--project", None),
            ("--workers", None), ("--scheduler", None)],
    "init": [("folder", None)],
    "train": [("--out", None), ("--processed", "data/processed"), ("--from", None),
              ("--codebook", "config/codebook.yml"), ("--params", "config/params.yml"),
              ("--kind", None), ("--features", None),
              ("--seed", None), ("--min-examples", None), ("--examples/--no-examples", True),
              ("--reviews/--no-reviews", True)],
}  # fmt: skip
# --kind, --features, --min-examples of train and evaluate: None means the `learned:` section of
# --params decides (as shipped: logreg; sentence,question,turn,position; 8), which --help says.


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    found = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found.update(_commands(command, f"{prefix}{name} "))
        else:
            found[prefix + name] = command
    return found


def _default(value: object) -> object:
    if isinstance(value, Path) and value.is_absolute():
        return value.relative_to(paths.PROJ_ROOT).as_posix()
    return value


def test_every_command_keeps_its_options_and_defaults() -> None:
    commands = _commands(typer.main.get_command(app))
    assert sorted(commands) == sorted(OPTIONS)
    for name, command in commands.items():
        found = [
            (
                p.name if p.param_type_name == "argument" else "/".join(p.opts + p.secondary_opts),
                _default(p.default),
            )
            for p in command.params
        ]
        assert found == OPTIONS[name], name
