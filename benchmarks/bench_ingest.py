"""Ingest throughput (words/s) on 10, 100 and 1,000 generated transcripts, against bare spaCy.

For each size, the same generated transcripts go through

- `ingest.corpus.ingest_corpus` from scratch (no cache, a fresh key): reading, cleaning, spaCy
  (tok2vec + senter + ner), roles, sections, de-identification and writing the tables;
- the bare spaCy pipeline: `nlp.pipe` over the same turn texts with en_core_web_sm as shipped
  (tagger, parser, lemmatizer, ner), and with the components ingest runs (tok2vec, senter, ner).

Words are the words of the raw turns. The figures replace the "## Ingest" section of
benchmarks/results.md.

Usage: python benchmarks/bench_ingest.py [--sizes 10 100 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from results_md import machine, publish

from qualcode.config import load_params
from qualcode.ingest.cleaning import words
from qualcode.ingest.corpus import ingest_corpus, ingest_nlp
from qualcode.nlp import load_nlp

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Ella", "Femi", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lea"]
LAST = ["Novak", "Osei", "Park", "Quinn", "Rossi", "Silva", "Tanaka", "Urban", "Vance", "Wolff"]
CITIES = ["Leeds", "Porto", "Austin", "Lagos", "Pune", "Oslo"]
QUESTIONS = [
    "How did you get into data science?",
    "How did you start freelancing?",
    "How do you operate now?",
    "How do you get new clients?",
    "Where is this going?",
    "Where do you see yourself in a few years?",
]
CLAUSES = [
    "I started with spreadsheets and then moved to Python",
    "most of my clients come from referrals",
    "um, the first project was a forecasting model for a retailer",
    "I charge by the project rather than by the hour",
    "a niche makes it much easier to find work",
    "uh, I I spend a lot of time on data cleaning",
    "the hardest part is finding the next client",
    "I want to build a small product in a few years",
    "we worked with a team in {city} for about a year",
    "my old manager {name} still sends me work",
    "I post on LinkedIn once a week [laughs]",
    "the the pipeline runs every night on a small server",
]


def make_transcript(rng: random.Random, turns: int = 16) -> str:
    """A plain-text interview of about 400 words. RETURNS (str): the transcript."""
    who = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    lines = []
    for i in range(turns):
        if i % 2 == 0:
            lines.append(f"Interviewer: {QUESTIONS[(i // 2) % len(QUESTIONS)]}")
        else:
            clauses = [
                rng.choice(CLAUSES).format(
                    city=rng.choice(CITIES), name=f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                )
                for _ in range(rng.randint(3, 6))
            ]
            body = ". ".join(c[0].upper() + c[1:] for c in clauses) + "."
            lines.append(f"{who}: {body}")
    return "\n\n".join(lines) + "\n"


def turn_texts(raw: Path) -> list[str]:
    texts = []
    for path in sorted(raw.glob("*.txt")):
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            texts.append(block.split(": ", 1)[1])
    return texts


def words_per_second(n_words: int, seconds: float) -> float:
    return n_words / seconds if seconds > 0 else float("inf")


def write_corpus(raw: Path, n: int, *, seed: int = 7) -> None:
    """Write n generated transcripts (the same for the same n and seed) into raw."""
    rng = random.Random(seed + n)
    raw.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (raw / f"t{i:05d}.txt").write_text(make_transcript(rng), encoding="utf-8")


def bench_size(n: int, *, params, seed: int = 7) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        raw = root / "raw"
        write_corpus(raw, n, seed=seed)
        texts = turn_texts(raw)
        n_words = sum(len(words(t)) for t in texts)

        start = time.perf_counter()
        ingest_corpus(raw, root / "out", params=params, keys_dir=root / "keys", progress=False)
        ingest_s = time.perf_counter() - start

        start = time.perf_counter()
        ingest_corpus(raw, root / "out", params=params, keys_dir=root / "keys", progress=False)
        cached_s = time.perf_counter() - start

    full = load_nlp(params.spacy_model)
    start = time.perf_counter()
    for _doc in full.pipe(texts, batch_size=64):
        pass
    full_s = time.perf_counter() - start

    trimmed = ingest_nlp(params.spacy_model)
    start = time.perf_counter()
    for _doc in trimmed.pipe(texts, batch_size=64):
        pass
    trimmed_s = time.perf_counter() - start
    return {
        "n": n,
        "words": n_words,
        "ingest": words_per_second(n_words, ingest_s),
        "cached": words_per_second(n_words, cached_s),
        "full": words_per_second(n_words, full_s),
        "trimmed": words_per_second(n_words, trimmed_s),
        "ingest_s": ingest_s,
    }


def render(rows: list[dict[str, float]]) -> str:
    lines = [
        "## Ingest",
        "",
        "`python benchmarks/bench_ingest.py`: generated plain-text interviews (about 400 words",
        "each), ingested from scratch (`ingest_corpus`, no cache) versus bare spaCy `nlp.pipe` on",
        "the same turn texts. Words/s; ratio = ingest / bare en_core_web_sm as shipped.",
        "",
        "| transcripts | words | ingest | ingest, all cached | bare spaCy (full) "
        "| bare spaCy (tok2vec+senter+ner) | ratio to full | ratio to same components |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['n']:,} | {row['words']:,} | {row['ingest']:,.0f} | {row['cached']:,.0f} "
            f"| {row['full']:,.0f} | {row['trimmed']:,.0f} | {row['ingest'] / row['full']:.2f} "
            f"| {row['ingest'] / row['trimmed']:.2f} |"
        )
    lines += [
        "",
        f"Machine: {machine()}. The cores may be shared with other jobs, so expect",
        "run-to-run variation; the ratio to the same components is the overhead of ingest itself.",
        f"Date: {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    params = load_params()
    load_nlp(params.spacy_model)
    ingest_nlp(params.spacy_model)
    rows = []
    for n in args.sizes:
        row = bench_size(n, params=params)
        print(
            f"{n:>5} transcripts, {row['words']:>7,} words: ingest {row['ingest']:>8,.0f} w/s "
            f"({row['ingest_s']:.1f} s), bare spaCy {row['full']:>8,.0f} w/s, "
            f"ratio {row['ingest'] / row['full']:.2f}",
            file=sys.stderr,
        )
        rows.append(row)
    section = render(rows)
    publish("Ingest", section, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
