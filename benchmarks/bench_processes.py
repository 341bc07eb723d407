"""Ingest and coding in one process and in two (`processes:` in config/params.yml).

Generated plain-text interviews (those of bench_ingest.py, about 400 words each) are ingested
from scratch (`ingest_corpus`, no cache, a fresh key) and coded from scratch (`code_corpus` with
config/codebook.yml), with `processes: 1` and `processes: 2`, the two measured in turn, pass
after pass, and the best pass of each kept (other work on the shared cores slows a pass, never
speeds one up). The tables of the two are compared byte for byte. The models are loaded (and the
coder's rulers built) before timing; starting the worker processes is timed.

The figures replace the "## Processes" section of benchmarks/results.md.

Usage: python benchmarks/bench_processes.py [--sizes 20 200] [--passes 2] [--no-write]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_ingest import write_corpus
from results_md import machine, publish

from qualcode.coding.codebook import load_codebook
from qualcode.coding.rules import build_coder, code_corpus
from qualcode.config import load_params
from qualcode.ingest.corpus import ingest_corpus, ingest_nlp
from qualcode.paths import CODEBOOK_PATH
from qualcode.workers import AUTO_MIN_WORDS

TABLES = ("transcripts", "turns", "sentences", "deid_report", "codings", "quantities")


def run_once(
    raw: Path, root: Path, params, processes: int, coder
) -> tuple[float, float, dict[str, bytes]]:
    """Ingest and code `raw` from scratch under root.

    RETURNS (tuple): ingest seconds, coding seconds, the bytes of each table.
    """
    params = dataclasses.replace(params, processes=processes)
    out = root / "out"
    start = time.perf_counter()
    ingest_corpus(raw, out, params=params, keys_dir=root / "keys", progress=False)
    ingest_s = time.perf_counter() - start
    start = time.perf_counter()
    code_corpus(out, CODEBOOK_PATH, params=params, nlp=coder)
    code_s = time.perf_counter() - start
    tables = {name: (out / f"{name}.parquet").read_bytes() for name in TABLES}
    return ingest_s, code_s, tables


def bench_size(n: int, *, params, coder, passes: int, seed: int = 7) -> dict:
    best = {1: [float("inf"), float("inf")], 2: [float("inf"), float("inf")]}
    tables: dict[int, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        raw = root / "raw"
        write_corpus(raw, n, seed=seed)
        n_words = sum(len(p.read_text(encoding="utf-8").split()) for p in raw.glob("*.txt"))
        for k in range(passes):
            for processes in (1, 2) if k % 2 == 0 else (2, 1):
                ingest_s, code_s, tables[processes] = run_once(
                    raw, root / f"p{k}-{processes}", params, processes, coder
                )
                best[processes][0] = min(best[processes][0], ingest_s)
                best[processes][1] = min(best[processes][1], code_s)
                print(
                    f"{n} transcripts, {processes} process(es), pass {k + 1}: ingest "
                    f"{ingest_s:.1f} s, code {code_s:.1f} s, load {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                )
    same = all(tables[1][name] == tables[2][name] for name in TABLES)
    return {"n": n, "words": n_words, "best": best, "same": same}


def render(rows: list[dict], passes: int, loads: tuple[float, float]) -> str:
    lines = [
        "## Processes",
        "",
        "`python benchmarks/bench_processes.py`: generated plain-text interviews (those of",
        "bench_ingest.py), ingested and coded from scratch with `processes: 1` and `processes: 2`",
        "(a process pool over batches of texts), measured in turn; best of "
        f"{passes} passes each. Seconds; speed-up = one process / two. `processes: auto` starts",
        f"a pool from {AUTO_MIN_WORDS:,} words to read, one process below.",
        "",
        "| transcripts | words | ingest, 1 (s) | ingest, 2 (s) | speed-up | coding, 1 (s) "
        "| coding, 2 (s) | speed-up | tables byte-identical |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        (i1, c1), (i2, c2) = row["best"][1], row["best"][2]
        lines.append(
            f"| {row['n']:,} | {row['words']:,} | {i1:.1f} | {i2:.1f} | {i1 / i2:.2f} "
            f"| {c1:.1f} | {c2:.1f} | {c1 / c2:.2f} | {'yes' if row['same'] else 'NO'} |"
        )
    lines += [
        "",
        f"Load average (1 minute) before and after: {loads[0]:.1f}, {loads[1]:.1f}: with other "
        "work on the 2 cores, a second process finds less than a free core, and the speed-up is "
        "less than on a machine of its own.",
        "",
        f"Machine: {machine()}.",
        f"Date: {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    params = load_params()
    ingest_nlp(params.spacy_model)
    coder = build_coder(load_codebook(CODEBOOK_PATH), model=params.spacy_model)
    before = os.getloadavg()[0]
    rows = [bench_size(n, params=params, coder=coder, passes=args.passes) for n in args.sizes]
    section = render(rows, args.passes, (before, os.getloadavg()[0]))
    publish("Processes", section, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
