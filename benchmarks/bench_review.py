"""The active review loop simulated on the demo study: does `qualcode review next` teach the learned
coder more per labelled sentence than sentences drawn at random?

The demo's processed tables (data/processed: run `qualcode ingest` first) are copied to a
temporary folder with the human coding imported afresh (data/reference/*.csv as
`human:reference`, data/human_coding/*.csv as `human:researcher`). The person is simulated by the
human coding:

- the model starts from three transcripts of human:researcher coded in full;
- the other human:researcher transcripts are the pool: not coded, the sentences offered for
  review come from them, and each decision (accept/reject of a sentence and a code) is answered
  from human:researcher's coding of that transcript;
- each round adds N sentences (2 codes each) chosen by `next_table` (active) or drawn at random
  (sentence and codes, seeded), written as a marked review CSV, imported with `import_review`,
  and the model is trained again (`train`, the review decisions included);
- after each round the model codes the three reference transcripts, which it never sees, and
  Cohen's kappa against human:reference is measured per code at the sentence level (mean over
  the codes human:reference used there; a code the model did not learn counts as never coded)
  and pooled over codes.

The curve replaces the "## Review loop" section of benchmarks/results.md.

Usage: python benchmarks/bench_review.py [--processed data/processed] [--rounds 4] [--n 30]
    [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results_md import machine, publish

from qualcode import schema
from qualcode.config import load_params
from qualcode.human.csv_import import import_csv_folder
from qualcode.human.metrics import cohen_kappa
from qualcode.human.store import unit_keys
from qualcode.learned.predict import apply_model
from qualcode.learned.review import export_review, import_review, next_table
from qualcode.learned.store import load_model
from qualcode.learned.train import train
from qualcode.paths import CODEBOOK_PATH, DATA_DIR, PROCESSED_DIR, RAW_DIR, REFERENCE_DIR
from qualcode.units import participant_units

TABLES = ("transcripts.parquet", "turns.parquet", "sentences.parquet")
START = ("interview_01", "interview_03", "interview_04")
CODES_PER_SENTENCE = 2
SEED = 0


def yes_set(human: pd.DataFrame, sentences: pd.DataFrame, coder: str) -> set[tuple]:
    """RETURNS (set): the (transcript, turn, sentence, code) a coder coded."""
    keys = unit_keys(human[human["coder"] == coder], sentences, unit="sentence")
    return set(
        zip(keys["transcript_id"], keys["turn_id"], keys["sentence_id"], keys["code_id"],
            strict=True)
    )  # fmt: skip


def held_out_kappa(model_dir: Path, work: Path, params, truth: set, test: list[str]) -> tuple:
    """RETURNS (tuple): mean kappa over the codes of the held-out coding, pooled kappa."""
    loaded = load_model(model_dir)
    units, _, coded = apply_model(loaded, work, params=params, transcripts=test)
    frame = units.frame
    keys = list(zip(frame["transcript_id"], frame["turn_id"], frame["sentence_id"], strict=True))
    codes = sorted({k[3] for k in truth})
    column = {c: j for j, c in enumerate(loaded.coder.codes)}
    model = np.zeros((len(keys), len(codes)), dtype=bool)
    human = np.zeros_like(model)
    for j, code in enumerate(codes):
        if code in column:
            model[:, j] = coded[:, column[code]]
        human[:, j] = [(*key, code) in truth for key in keys]
    per_code = [cohen_kappa(model[:, j], human[:, j]) for j in range(len(codes))]
    return float(np.nanmean(per_code)), cohen_kappa(model.ravel(), human.ravel())


def random_batch(
    pool: pd.DataFrame, decided: set, codes: list[str], n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """RETURNS (DataFrame): n undecided pool sentences and two codes each, drawn at random."""
    keys = list(zip(pool["transcript_id"], pool["turn_id"], pool["sentence_id"], strict=True))
    open_rows = [i for i, key in enumerate(keys) if key not in decided]
    rows = []
    for i in rng.choice(open_rows, size=min(n, len(open_rows)), replace=False):
        for code in rng.choice(codes, size=min(CODES_PER_SENTENCE, len(codes)), replace=False):
            rows.append(
                {
                    "decision": "",
                    "code_id": str(code),
                    "transcript_id": keys[i][0],
                    "turn_id": int(keys[i][1]),
                    "sentence_id": int(keys[i][2]),
                    "text": pool["text"].iloc[i],
                }
            )
    return pd.DataFrame(rows)


def run(strategy: str, truth_dir: Path, root: Path, params, *, rounds: int, n: int) -> list[dict]:
    """Start from START, add n sentences per round by `strategy`, retrain, measure."""
    work = root / strategy
    work.mkdir()
    for name in TABLES:
        shutil.copyfile(truth_dir / name, work / name)
    human = schema.read_table(truth_dir, "human_codings")
    sentences = schema.read_table(truth_dir, "sentences")
    turns = schema.read_table(truth_dir, "turns")
    start = human[(human["coder"] == "human:researcher") & human["transcript_id"].isin(START)]
    schema.write_table(start.reset_index(drop=True), work / schema.TABLE_FILES["human_codings"])
    answers = yes_set(human, sentences, "human:researcher")
    reference = yes_set(human, sentences, "human:reference")
    test = sorted({k[0] for k in reference})
    researcher = set(human.loc[human["coder"] == "human:researcher", "transcript_id"])
    pool_ids = sorted(researcher - set(START))
    units = participant_units(turns, sentences, unit="sentence", roles=params.coding.roles)
    pool = units[units["transcript_id"].isin(pool_ids)].reset_index(drop=True)
    rng = np.random.default_rng(SEED)
    curve = []
    decided: set = set()
    for step in range(rounds + 1):
        model_dir = work / f"model_{step}"
        started = time.perf_counter()
        result = train(
            work, model_dir, coders=["human:researcher"], codebook_path=CODEBOOK_PATH,
            params=params, seed=SEED,
        )  # fmt: skip
        mean, pooled = held_out_kappa(model_dir, work, params, reference, test)
        curve.append(
            {
                "strategy": strategy,
                "round": step,
                "sentences": len(decided),
                "codes": len(result.coder.codes),
                "kappa": mean,
                "pooled": pooled,
                "seconds": time.perf_counter() - started,
            }
        )
        if step == rounds:
            break
        if strategy == "active":
            batch = next_table(
                work, model_dir, n=n, codes_per_sentence=CODES_PER_SENTENCE, params=params,
                transcripts=pool_ids,
            )  # fmt: skip
        else:
            batch = random_batch(pool, decided, result.coder.codes, n, rng)
        batch = batch.assign(
            decision=[
                "accept" if (t, k, s, c) in answers else "reject"
                for t, k, s, c in zip(batch["transcript_id"], batch["turn_id"],
                                      batch["sentence_id"], batch["code_id"], strict=True)
            ]
        )  # fmt: skip
        marked = export_review(batch, work / f"round_{step + 1}.csv")
        import_review(marked, work, coder="simulated")
        decided |= set(
            zip(batch["transcript_id"], batch["turn_id"], batch["sentence_id"], strict=True)
        )
    return curve


def render(curves: list[dict], *, rounds: int, n: int, seconds: float) -> str:
    frame = pd.DataFrame(curves)
    lines = [
        "## Review loop",
        "",
        "`python benchmarks/bench_review.py`: the review loop simulated on the demo study, the "
        "human coding answering. The model starts from "
        f"{', '.join(START)} (human:researcher, coded in full); each round adds {n} sentences "
        f"({CODES_PER_SENTENCE} codes each, accept/reject answered from human:researcher's coding) "
        "from its other transcripts, chosen by `qualcode review next` (active) or at random "
        "(sentences and codes, seeded), imported with `review import`, and the model is trained "
        "again. Kappa: the model against human:reference on the reference transcripts (never "
        "trained on), sentence level, the mean over the codes human:reference used there (a "
        "code the model did not learn counts as never coded) and pooled over all codes.",
        "",
        "| round | sentences reviewed | active: codes learned | active: mean kappa | "
        "active: pooled kappa | random: codes learned | random: mean kappa | "
        "random: pooled kappa |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    active = frame[frame["strategy"] == "active"].set_index("round")
    randomly = frame[frame["strategy"] == "random"].set_index("round")
    for step in range(rounds + 1):
        a, r = active.loc[step], randomly.loc[step]
        lines.append(
            f"| {step} | {int(a['sentences'])} | {int(a['codes'])} | {a['kappa']:.3f} | "
            f"{a['pooled']:.3f} | {int(r['codes'])} | {r['kappa']:.3f} | {r['pooled']:.3f} |"
        )
    gain_a = active.loc[rounds, "kappa"] - active.loc[0, "kappa"]
    gain_r = randomly.loc[rounds, "kappa"] - randomly.loc[0, "kappa"]
    lines += [
        "",
        f"After {rounds * n} sentences reviewed, mean kappa moved {gain_a:+.3f} with the active "
        f"choice and {gain_r:+.3f} with the random one. One study, one seed and a few rounds: "
        "read the difference as an indication, not a measurement.",
        "",
        f"Machine: {machine()}. Whole run {seconds:.0f} s (training and coding each round).",
        f"Date: {time.strftime('%Y-%m-%d')}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, default=PROCESSED_DIR)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not (args.processed / "sentences.parquet").exists():
        print(f"no {args.processed / 'sentences.parquet'}: run `qualcode ingest` first")
        return 1
    params = load_params()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = root / "truth"
        truth.mkdir()
        for name in TABLES:
            shutil.copyfile(args.processed / name, truth / name)
        for folder, coder in (
            (REFERENCE_DIR, "human:reference"),
            (DATA_DIR / "human_coding", "human:researcher"),
        ):
            import_csv_folder(
                folder, truth, coder=coder, codebook_path=CODEBOOK_PATH, raw_dir=RAW_DIR
            )
        curves = []
        for strategy in ("active", "random"):
            curves += run(strategy, truth, root, params, rounds=args.rounds, n=args.n)
    section = render(curves, rounds=args.rounds, n=args.n, seconds=time.perf_counter() - started)
    publish("Review loop", section, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
