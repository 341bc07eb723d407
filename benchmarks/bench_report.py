"""`make report` on the demo study: from nothing, with nothing changed, and after one transcript
changed or was added.

The study (config/, data/raw, data/reference, data/human_coding) is copied to a temporary folder
and `qualcode -v run` is run there four times, as `make report` runs it: from nothing (no processed
tables, no keys, no report), again with nothing changed, again after a sentence is added to one
turn of one transcript, and again after a transcript nobody coded is added. Wall time of each run
(the command as a whole: starting Python and loading the package included) and of each step (the
`done in` lines the pipeline logs with -v). The load average of the machine is shown, since the
cores are shared.

The figures replace the "## Report" section of benchmarks/results.md.

Usage: python benchmarks/bench_report.py [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from results_md import machine, publish

ROOT = Path(__file__).resolve().parents[1]
QUALCODE = Path(sys.executable).with_name("qualcode")
STEPS = ("ingest", "code", "import", "agreement", "learn", "report")
CHANGED = "interview_01.txt"
ADDED = "interview_11.txt"
TARGETS = {
    "from empty": "< 60 s",
    "unchanged": "< 15 s",
    "one transcript changed": "one transcript + report",
    "one transcript added, not coded by people": "one transcript + report",
}


def copy_study(root: Path) -> None:
    """Copy the demo study's inputs (not its tables, keys or report) under root."""
    shutil.copytree(ROOT / "config", root / "config")
    for folder in ("raw", "reference", "human_coding"):
        shutil.copytree(ROOT / "data" / folder, root / "data" / folder)


def change_one_transcript(raw: Path) -> None:
    """Add a sentence at the end of the last turn of one transcript."""
    path = raw / CHANGED
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(text + " I would tell anyone starting out to ask for referrals.\n", "utf-8")


def add_uncoded_transcript(raw: Path) -> None:
    """Add a transcript that nobody coded by hand (a copy of one, with a sentence changed)."""
    text = (raw / CHANGED).read_text(encoding="utf-8")
    (raw / ADDED).write_text(text.replace("referrals.", "a niche."), encoding="utf-8")


def run(root: Path) -> tuple[float, dict[str, float], str]:
    """`qualcode -v run` on the study at root.

    RETURNS (tuple): wall seconds, seconds per step that ran, and what it printed.
    """
    args = [
        str(QUALCODE), "-v", "run",
        "--raw", str(root / "data" / "raw"),
        "--processed", str(root / "data" / "processed"),
        "--out", str(root / "reports"),
        "--codebook", str(root / "config" / "codebook.yml"),
        "--params", str(root / "config" / "params.yml"),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"qualcode run failed:\n{done.stdout}\n{done.stderr}")
    steps = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"qualcode\.pipeline: (\w+): done in ([\d.]+) s", done.stderr)
    }
    return seconds, steps, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = Path(tmp)
        copy_study(root)
        for name in TARGETS:
            if name == "one transcript changed":
                change_one_transcript(root / "data" / "raw")
            elif name.startswith("one transcript added"):
                add_uncoded_transcript(root / "data" / "raw")
            load = os.getloadavg()[0]
            seconds, steps, _out = run(root)
            rows.append((name, seconds, steps, load, os.getloadavg()[0]))

    header = "| run | wall (s) | target | " + " | ".join(STEPS) + " | load before, after |"
    lines = [header, "|---|---:|---|" + "---:|" * len(STEPS) + "---|"]
    for name, seconds, steps, before, after in rows:
        cells = [f"{steps[s]:.1f}" if s in steps else "skipped" for s in STEPS]
        lines.append(
            f"| {name} | {seconds:.1f} | {TARGETS[name]} | "
            + " | ".join(cells)
            + f" | {before:.1f}, {after:.1f} |"
        )
    empty = rows[0]
    learn_share = empty[2].get("learn", 0.0) / empty[1]
    notes = (
        f"From empty the learning step takes {learn_share:.0%} of the run: the leave-one-"
        "transcript-out evaluation trains a coder per coded transcript (10 on the demo, each with "
        "5 inner folds for its thresholds), two at a time, then the coder on all of it (the "
        "ablation of the context is left to `qualcode evaluate`). The report runs the notebooks "
        "two at a time on 2 cores. After a change to a transcript people coded every fold trains "
        "on it or holds it out, so the evaluation runs again in full, and every notebook reads "
        "the changed tables; after a transcript nobody coded is added, the import of people's "
        "coding is skipped, every fold is read from data/processed/.evaluation_folds, only the "
        "added transcript is read with spaCy (the others from data/processed/.sentence_readings), "
        "and the step trains the final coder again."
    )
    section = f"""## Report

`python benchmarks/bench_report.py`: `qualcode run` (what `make report` runs) on a copy of the demo
study (10 transcripts, its human coding), from an empty data/processed (no tables, keys or report),
again with nothing changed, again after a sentence was added to one turn of {CHANGED} (a transcript
people coded: every fold of the learned coder's evaluation trains on it or holds it out), and again
after {ADDED}, a transcript nobody coded, was added. Wall time of the command, and of each step
that ran (seconds; "skipped": inputs unchanged). The load is the machine's 1-minute load average
before and after the run: with more than the 2 cores busy, every figure is slower than on a machine
of its own.

{chr(10).join(lines)}

{textwrap.fill(notes, 99)}

Machine: {machine()}.
Date: {datetime.date.today().isoformat()}.
"""
    publish("Report", section, write=not args.no_write)


if __name__ == "__main__":
    main()
