"""Large corpora: ingest and coding of 1,000 and 10,000 generated transcripts, in one process,
in two (`processes: 2`) and on a 2-worker dask LocalCluster (`qualcode run --workers 2`).

The transcripts are the generated plain-text interviews of bench_ingest.py (about 400 words
each). Each configuration runs in a child process of its own, from scratch (no cache, a fresh
key): ingest (`ingest_corpus`), then coding (`code_corpus` with config/codebook.yml) of what it
ingested. The models are loaded (and the coder's rulers built, and the cluster started) before
the clock starts. Peak memory is measured two ways:

- the whole run: the resident memory (RSS) of the child and every process under it (the process
  pool, or the cluster's nannies and workers), summed, polled every 0.1 s; memory the processes
  share (the model pages a forked worker inherits) counts once per process, so this overstates;
- the main process alone: its own peak RSS (`getrusage`), which is what grows with the corpus
  when anything is held whole.

The limit is bare spaCy: `nlp.pipe` with the components of the step (ingest: tok2vec, senter,
ner; coding: tok2vec, tagger, attribute_ruler, lemmatizer, as in bench_coding.py) on the same
texts (ingest: the cleaned turns; coding: the coded units), in one process, in this run, on (at
most) 1,000 transcripts: a larger size takes the limit measured at 1,000 (the same generator).
The ratio is the step's words/s over the
limit's. Sizes above --all-configs-up-to run with 2 processes only (for time).

The figures replace the "## Scale" section of benchmarks/results.md.

Usage: python benchmarks/bench_scale.py [--sizes 1000 10000] [--all-configs-up-to 1000]
       [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from bench_ingest import write_corpus
from results_md import machine, publish

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "1p": "1 process",
    "2p": "2 processes",
    "dask2": "LocalCluster, 2 workers",
}
LIMIT_SAMPLE = 1000


# --------------------------------------------------------------------------- in the child


def _child(args: argparse.Namespace) -> None:
    """One step in one configuration; prints a JSON line of what it measured."""
    import dataclasses

    from qualcode.cluster import dask_client
    from qualcode.coding.codebook import load_codebook
    from qualcode.coding.rules import build_coder, code_corpus
    from qualcode.config import load_params
    from qualcode.ingest.corpus import ingest_corpus, ingest_nlp
    from qualcode.paths import CODEBOOK_PATH

    params = load_params()
    processes = 2 if args.config == "2p" else 1
    params = dataclasses.replace(params, processes=processes)
    workers = 2 if args.config == "dask2" else None
    out, keys = Path(args.out), Path(args.keys)
    with dask_client(workers=workers) as client:
        if args.step == "ingest":
            ingest_nlp(params.spacy_model)
            start = time.perf_counter()
            ingest_corpus(
                Path(args.raw), out, params=params, keys_dir=keys, progress=False, client=client
            )
            seconds = time.perf_counter() - start
            import pandas as pd

            n_words = int(pd.read_parquet(out / "transcripts.parquet")["n_words"].sum())
        else:
            coder = build_coder(load_codebook(CODEBOOK_PATH), model=params.spacy_model)
            start = time.perf_counter()
            result = code_corpus(out, CODEBOOK_PATH, params=params, nlp=coder, client=client)
            seconds = time.perf_counter() - start
            n_words = result.n_words
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "words": n_words, "main_mib": own, "child_max_mib": children}
        )
    )


def _limit_child(args: argparse.Namespace) -> None:
    """Bare spaCy on the step's texts from the tables in --out (a sample of --sample
    transcripts); prints a JSON line: words, seconds."""
    import pandas as pd

    from qualcode.config import load_params
    from qualcode.ingest.corpus import ingest_nlp
    from qualcode.nlp import load_nlp
    from qualcode.units import participant_units

    params = load_params()
    out = Path(args.out)
    turns = pd.read_parquet(out / "turns.parquet")
    keep = sorted(set(turns["transcript_id"]))[: args.sample]
    turns = turns[turns["transcript_id"].isin(keep)]
    if args.step == "ingest":
        texts = turns["text"].astype(str).tolist()
        nlp = ingest_nlp(params.spacy_model)
        batch_size = 64
    else:
        sentences = pd.read_parquet(out / "sentences.parquet")
        sentences = sentences[sentences["transcript_id"].isin(keep)]
        texts = participant_units(turns, sentences, roles=params.coding.roles)["text"].tolist()
        nlp = load_nlp(params.spacy_model, disable=("ner", "parser"))
        batch_size = 256
    n_words = sum(len(t.split()) for t in texts)
    start = time.perf_counter()
    for _doc in nlp.pipe(texts, batch_size=batch_size):
        pass
    print(json.dumps({"seconds": time.perf_counter() - start, "words": n_words}))


# --------------------------------------------------------------------------- in the parent


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_child(argv: list[str]) -> dict:
    """Run this script with argv in a child process, polling the RSS of its process tree.

    RETURNS (dict): the child's JSON line, with tree_mib (the peak of the summed RSS).
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        watched = psutil.Process(proc.pid)
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _tree_rss(watched))
            time.sleep(0.1)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    stdout, _ = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with exit code {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["tree_mib"] = peak / 2**20
    result["load"] = os.getloadavg()[0]
    return result


def folder_of(root: Path, n: int) -> list[Path]:
    """RETURNS (list[Path]): what a size leaves under root."""
    return sorted(root.glob(f"*{n}*"))


def bench_size(
    n: int,
    configs: list[str],
    root: Path,
    *,
    seed: int = 7,
    limit: bool = True,
    limit_of: dict | None = None,
) -> dict:
    raw = root / f"raw{n}"
    write_corpus(raw, n, seed=seed)
    row: dict = {"n": n, "configs": {}}
    tables: dict[str, dict[str, bytes]] = {}
    for config in configs:
        out, keys = root / f"out{n}-{config}", root / f"keys{n}-{config}"
        common = ["--config", config, "--raw", str(raw), "--out", str(out), "--keys", str(keys)]
        measured = {}
        for step in ("ingest", "code"):
            measured[step] = run_child(["--child", step, *common])
            m = measured[step]
            print(
                f"{n:,} transcripts, {CONFIGS[config]}, {step}: {m['seconds']:.1f} s, "
                f"{m['words'] / m['seconds']:,.0f} words/s, main {m['main_mib']:.0f} MiB, "
                f"all processes {m['tree_mib']:.0f} MiB, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
        row["configs"][config] = measured
        tables[config] = {
            name: (out / f"{name}.parquet").read_bytes()
            for name in ("transcripts", "turns", "sentences", "codings", "quantities")
        }
    first = tables[configs[0]]
    row["identical"] = all(tables[c] == first for c in configs)
    if not limit:
        return row
    if limit_of is not None:
        # the limit of a smaller run of the same generator, on LIMIT_SAMPLE transcripts
        row["limit_sample"], row["limit"] = limit_of["limit_sample"], limit_of["limit"]
        row["limit_from"] = limit_of["n"]
        return row
    sample = min(n, LIMIT_SAMPLE)
    out = root / f"out{n}-{configs[0]}"
    row["limit_sample"] = sample
    row["limit"] = {
        step: run_child(["--limit", step, "--out", str(out), "--sample", str(sample)])
        for step in ("ingest", "code")
    }
    for step, m in row["limit"].items():
        print(
            f"{n:,} transcripts, limit of {step} on {sample:,}: "
            f"{m['words'] / m['seconds']:,.0f} words/s",
            file=sys.stderr,
        )
    return row


def render(rows: list[dict], loads: tuple[float, float]) -> str:
    lines = [
        "## Scale",
        "",
        "`python benchmarks/bench_scale.py`: generated plain-text interviews (those of",
        "bench_ingest.py, about 400 words each), ingested and coded from scratch, each",
        "configuration in a child process of its own. Seconds and words/s of the step (models",
        "loaded, rulers built and the cluster started before the clock starts); peak RSS in MiB",
        "of the main process alone, and of all the processes of the run summed (pool or cluster",
        "processes included; pages they share count once per process, so this overstates);",
        "ratio = words/s over the limit, bare spaCy `nlp.pipe` with the step's components on",
        "the same texts in one process (ingest: tok2vec, senter, ner on the cleaned turns;",
        "coding: tok2vec, tagger, attribute_ruler and lemmatizer on the coded sentences, as in",
        "the Coding section), measured in this run.",
        "",
        "| transcripts | step | configuration | seconds | words/s | ratio to limit "
        "| peak RSS, main (MiB) | peak RSS, all processes (MiB) | load after |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for row in rows:
        for step in ("ingest", "code"):
            limit = row["limit"][step]["words"] / row["limit"][step]["seconds"]
            for config, measured in row["configs"].items():
                m = measured[step]
                rate = m["words"] / m["seconds"]
                lines.append(
                    f"| {row['n']:,} | {'ingest' if step == 'ingest' else 'coding'} "
                    f"| {CONFIGS[config]} | {m['seconds']:.1f} | {rate:,.0f} "
                    f"| {rate / limit:.2f} | {m['main_mib']:.0f} | {m['tree_mib']:.0f} "
                    f"| {m['load']:.1f} |"
                )
        limits = ", ".join(
            f"{'ingest' if step == 'ingest' else 'coding'} {m['words'] / m['seconds']:,.0f} words/s"
            for step, m in row["limit"].items()
        )
        if "limit_from" in row:
            sample = f" (that of the {row['limit_from']:,} transcripts, the same generator)"
        elif row["limit_sample"] < row["n"]:
            sample = f" (on a sample of {row['limit_sample']:,} of them)"
        else:
            sample = ""
        note = f"At {row['n']:,} transcripts: limit{sample} {limits}"
        if len(row["configs"]) > 1:
            same = "byte-identical" if row["identical"] else "NOT byte-identical"
            run = ", ".join(CONFIGS[c] for c in row["configs"])
            note += f"; the tables of the configurations ({run}) are {same}"
        else:
            note += f"; {', '.join(CONFIGS[c] for c in row['configs'])} only"
        notes.append(note + ".")
    lines += ["", *notes, ""]
    lines += [
        f'Load average (1 minute) before and after: {loads[0]:.1f}, {loads[1]:.1f}; "load after" '
        "is that at the end of each step. The 2 cores are shared with other work: a second "
        "process or worker finds less than a free core, and a step run under a higher load "
        "than the limit gets a lower ratio.",
        "",
        f"Machine: {machine()}.",
        f"Date: {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--all-configs-up-to",
        type=int,
        default=1000,
        help="larger sizes run with 2 processes only",
    )
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--json", help="also write the measures to this file")
    parser.add_argument("--skip-limit", action="store_true", help="no bare spaCy (memory only)")
    parser.add_argument("--child", choices=("ingest", "code"), help=argparse.SUPPRESS)
    parser.add_argument("--limit", choices=("ingest", "code"), help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=LIMIT_SAMPLE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child or args.limit:
        args.step = args.child or args.limit
        (_child if args.child else _limit_child)(args)
        sys.stdout.flush()
        # its JSON line is out: leave without the interpreter's shutdown, where a library's
        # native threads now and then abort the process ("terminate called without an active
        # exception")
        os._exit(0)
    before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            configs = args.configs if n <= args.all_configs_up_to else ["2p"]
            measured = [r for r in rows if r.get("limit_sample") == LIMIT_SAMPLE]
            limit_of = measured[0] if n > LIMIT_SAMPLE and measured else None
            rows.append(
                bench_size(n, configs, Path(folder), limit=not args.skip_limit, limit_of=limit_of)
            )
            for done in folder_of(Path(folder), n):
                shutil.rmtree(done, ignore_errors=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if args.skip_limit:
        return 0
    section = render(rows, (before, os.getloadavg()[0]))
    publish("Scale", section, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
