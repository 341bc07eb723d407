"""Shared by the benchmark scripts: the machine they ran on, and their section of results.md."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import spacy


def machine() -> str:
    """RETURNS (str): CPU model, cores, operating system, Python and spaCy versions."""
    cpu = platform.processor() or platform.machine()
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, spaCy {spacy.__version__}"
    )


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace (or add) the `## <heading>` section of results.md, leaving the others alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    section = section.rstrip("\n") + "\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def publish(heading: str, section: str, *, write: bool = True) -> None:
    """Print a benchmark's section and, with `write`, put it in results.md beside this file."""
    print(section)
    if write:
        write_section(Path(__file__).with_name("results.md"), heading, section)
