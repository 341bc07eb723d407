"""The learned coder on the demo study: training time, coding speed, and models compared.

The demo's processed tables (data/processed: run `qualcode ingest` first) are copied to a
temporary folder, and the human coding is imported there afresh: data/reference/*.csv as
`human:reference`, data/human_coding/*.csv as `human:researcher`. Then

- training: `qualcode.learned.train.train` on all coded transcripts (reading with spaCy, the inner
  folds that choose the thresholds, the final model, writing it), wall time;
- coding: a trained model applied to every participant sentence (`apply_model`: spaCy, context,
  features, probabilities), words/s; the model alone (features and probabilities of sentences
  already read), words/s;
- models compared on the same held-out transcripts (leave one transcript out, the three
  reference transcripts held out in turn; every other coded transcript trains): scikit-learn
  logistic regression on lemma TF-IDF with the context and the rule matches, the same on the
  sentence alone, and spaCy's textcat_multilabel (bag of words) on the sentence and on the
  question + sentence; the rule coder on the same transcripts for reference.

The figures replace the "## Learned coder" section of benchmarks/results.md.

Usage: python benchmarks/bench_learned.py [--processed data/processed] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

from results_md import machine, publish

from qualcode.config import LearnedParams, load_params
from qualcode.human.csv_import import import_csv_folder
from qualcode.learned.evaluate import evaluate
from qualcode.learned.predict import apply_model
from qualcode.learned.store import load_model
from qualcode.learned.train import train
from qualcode.paths import (
    CODEBOOK_PATH,
    DATA_DIR,
    PROCESSED_DIR,
    RAW_DIR,
    REFERENCE_DIR,
)

TABLES = ("transcripts.parquet", "turns.parquet", "sentences.parquet")
CODINGS = ((REFERENCE_DIR, "human:reference"), (DATA_DIR / "human_coding", "human:researcher"))
DEFAULT_FEATURES = LearnedParams().features
MODELS = (
    ("logreg", "logistic regression, sentence + question + turn + position (default)",
     "logreg", DEFAULT_FEATURES),
    ("logreg-rules", "logistic regression, the same + the rule coder's matches", "logreg",
     (*DEFAULT_FEATURES, "rules")),
    ("logreg-sentence", "logistic regression, sentence only", "logreg", ("sentence",)),
    ("textcat", "spaCy textcat_multilabel (BOW), sentence", "textcat", ("sentence",)),
    ("textcat-question", "spaCy textcat_multilabel (BOW), question + sentence", "textcat",
     ("sentence", "question")),
)  # fmt: skip


def prepare(processed: Path, work: Path) -> None:
    for name in TABLES:
        shutil.copyfile(processed / name, work / name)
    for folder, coder in CODINGS:
        import_csv_folder(folder, work, coder=coder, codebook_path=CODEBOOK_PATH, raw_dir=RAW_DIR)


def bench_train(work: Path, params) -> dict:
    started = time.perf_counter()
    result = train(work, work / "model", codebook_path=CODEBOOK_PATH, params=params)
    seconds = time.perf_counter() - started
    data = result.card["training_data"]
    loaded = load_model(work / "model")
    started = time.perf_counter()
    units, _, coded = apply_model(loaded, work, params=params)
    apply_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(3):
        loaded.coder.decide(loaded.coder.predict_proba(units))
    model_s = (time.perf_counter() - started) / 3
    words = int(units.frame["n_words"].sum())
    return {
        "model_id": result.model_id,
        "train_s": seconds,
        "sentences": data["n_sentences"],
        "transcripts": data["n_transcripts"],
        "train_words": data["n_words"],
        "learned": len(result.card["codes_learned"]),
        "left": result.card["codes_left_to_rules"],
        "words": words,
        "units": len(units),
        "codings": int(coded.sum()),
        "apply_s": apply_s,
        "model_s": model_s,
    }


def bench_models(work: Path, params, models) -> list[dict]:
    rows = []
    for key, label, kind, blocks in models:
        started = time.perf_counter()
        settings = dataclasses.replace(params.learned, kind=kind, features=blocks)
        result = evaluate(
            work,
            held_out=["human:reference"],
            codebook_path=CODEBOOK_PATH,
            params=dataclasses.replace(params, learned=settings),
            learning_curve=False,
            ablation=False,
        )
        seconds = time.perf_counter() - started
        summary = result.summary.set_index("coder")
        row = {"key": key, "label": label, "seconds": seconds, "folds": result.folds}
        for coder in ("model", "rules", "both"):
            for metric in ("micro_f1", "micro_f1_lo", "micro_f1_hi", "macro_f1"):
                row[f"{coder}_{metric}"] = float(summary.loc[coder, metric])
        rows.append(row)
        print(
            f"{key:>18}: micro F1 {row['model_micro_f1']:.3f} "
            f"[{row['model_micro_f1_lo']:.2f}..{row['model_micro_f1_hi']:.2f}], macro "
            f"{row['model_macro_f1']:.3f}, rules {row['rules_micro_f1']:.3f} ({seconds:.0f} s)",
            file=sys.stderr,
        )
    return rows


def render(speed: dict, models: list[dict], *, quick: bool = False) -> str:
    apply_rate = speed["words"] / speed["apply_s"]
    model_rate = speed["words"] / speed["model_s"]
    n_train = speed["transcripts"] - 1
    lines = [
        "## Learned coder",
        "",
        "`python benchmarks/bench_learned.py"
        + (" --quick" if quick else "")
        + "`: the demo study with its human coding "
        "(data/reference as human:reference, data/human_coding as human:researcher).",
    ]
    if quick:
        lines += ["", "Run with `--quick`: the spaCy textcat models were not compared."]
    lines += [
        "",
        f"Training (`qualcode train`, logistic regression, default features, inner folds for the "
        f"thresholds included): {speed['train_s']:.1f} s for {speed['sentences']:,} sentences "
        f"({speed['train_words']:,} words) of {speed['transcripts']} transcripts; "
        f"{speed['learned']} codes learned, left to the rules (too few examples): "
        f"{', '.join(speed['left']) or 'none'}.",
        "",
        "| coding | sentences | words | seconds | words/s | ratio to `apply_model` |",
        "|---|---:|---:|---:|---:|---:|",
        f"| `apply_model` (spaCy with the codebook's rulers, context, features, probabilities) "
        f"| {speed['units']:,} | {speed['words']:,} | {speed['apply_s']:.2f} "
        f"| {apply_rate:,.0f} | 1.00 |",
        f"| the model alone (features and probabilities of sentences already read) "
        f"| {speed['units']:,} | {speed['words']:,} | {speed['model_s']:.3f} "
        f"| {model_rate:,.0f} | {model_rate / apply_rate:,.1f} |",
        "",
        f"The model alone is {model_rate / apply_rate:,.0f} times as fast as `apply_model`: "
        f"reading the sentences (spaCy with the codebook's rulers, and the context) is "
        f"{100 * (1 - speed['model_s'] / speed['apply_s']):.0f}% of the coding time, the features "
        "and probabilities the rest.",
        "",
        "Models compared (leave one transcript out, the reference transcripts "
        f"{', '.join(models[0]['folds']) if models else ''} held out in turn, the {n_train} "
        "others training; sentence level; micro F1 with its 95% bootstrap interval over the "
        "held-out transcripts; the rule coder on the same transcripts for reference; time: the "
        "whole evaluation, spaCy reading included):",
        "",
        "| model | micro F1 [95% CI] | macro F1 | rules micro F1 | rules macro F1 "
        "| model or rules (`both`) micro F1 | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in models:
        lines.append(
            f"| {row['label']} | {row['model_micro_f1']:.3f} "
            f"[{row['model_micro_f1_lo']:.2f}..{row['model_micro_f1_hi']:.2f}] "
            f"| {row['model_macro_f1']:.3f} | {row['rules_micro_f1']:.3f} "
            f"| {row['rules_macro_f1']:.3f} | {row['both_micro_f1']:.3f} | {row['seconds']:.0f} |"
        )
    lines += ["", *kept(models)] if models else []
    lines += [
        "",
        "en_core_web_sm has no word vectors; the logistic regression reads spaCy's lemmas "
        "(TF-IDF of uni- and bigrams) of the sentence, the interviewer's question and the rest "
        "of the turn, and the section and position; `qualcode train` uses it. "
        "textcat_multilabel: `spacy.TextCatBOW.v3`, 20 epochs, batch 32, seeded.",
        "",
        f"Machine: {machine()}. The cores may be shared with other jobs, so timings vary from "
        "run to run; the F1 scores do not depend on timing.",
        f"Date: {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    return "\n".join(lines)


def kept(models: list[dict]) -> list[str]:
    """RETURNS (list[str]): which model `qualcode train` keeps and why, from the figures."""
    by_key = {row["key"]: row for row in models}
    default = by_key.get("logreg")
    if default is None:
        return []
    micro, macro = default["model_micro_f1"], default["model_macro_f1"]
    others = [row for row in models if row is not default]
    best_micro = max(models, key=lambda row: row["model_micro_f1"])
    best_macro = max(models, key=lambda row: row["model_macro_f1"])
    if best_micro is default and best_macro is default:
        standing = (
            f"it has the best held-out micro F1 ({micro:.3f}) and macro F1 ({macro:.3f}) of the "
            f"{len(models)} models compared"
        )
    else:
        leader = best_micro if best_micro is not default else best_macro
        inside = leader["model_micro_f1_lo"] <= micro <= leader["model_micro_f1_hi"]
        standing = (
            f"{leader['label']} scores higher (micro F1 {leader['model_micro_f1']:.3f}, macro "
            f"{leader['model_macro_f1']:.3f}, against {micro:.3f} and {macro:.3f}), "
            + (
                "but within the bootstrap interval, so the default stays until more transcripts "
                "are coded"
                if inside
                else "beyond the bootstrap interval: the default should be reconsidered"
            )
        )
    rules, rules_macro = default["rules_micro_f1"], default["rules_macro_f1"]

    def side(a: float, b: float) -> str:
        return "above" if a > b else "below" if a < b else "level with"

    if default["model_micro_f1_lo"] <= rules <= default["model_micro_f1_hi"]:
        close = ", the rules' micro F1 inside the model's interval"
    else:
        close = ", the rules' micro F1 outside the model's interval"
    lines = [
        "Kept: `qualcode train` keeps logistic regression on sentence + question + turn + "
        f"position (`learned.features` in config/params.yml): {standing}. Against the rule "
        f"coder on the same transcripts it is {side(micro, rules)} in micro F1 ({micro:.3f} "
        f"against {rules:.3f}"
        f"{close}) and {side(macro, rules_macro)} in macro F1 ({macro:.3f} against "
        f"{rules_macro:.3f}); coding with the model or the rules gives "
        f"{default['both_micro_f1']:.3f}"
        + (
            ", so the two complement each other."
            if default["both_micro_f1"] > max(micro, rules)
            else "."
        )
    ]
    notes = []
    if "logreg-rules" in by_key:
        row = by_key["logreg-rules"]
        change = "lowers" if row["model_micro_f1"] < micro else "raises"
        notes.append(
            f"Adding the rule coder's matches as features {change} micro F1 to "
            f"{row['model_micro_f1']:.3f}"
            + (", so they stay off by default" if row["model_micro_f1"] < micro else "")
        )
    if "logreg-sentence" in by_key:
        row = by_key["logreg-sentence"]
        notes.append(
            f"the sentence alone gives {row['model_micro_f1']:.3f}: the context adds "
            f"{micro - row['model_micro_f1']:+.3f}, and makes the evaluation "
            f"{default['seconds'] / row['seconds']:.0f} times as long"
        )
    textcats = [row for row in others if row["key"].startswith("textcat")]
    if textcats:
        best = max(textcats, key=lambda row: row["model_micro_f1"])
        notes.append(
            f"spaCy's textcat reaches at most {best['model_micro_f1']:.3f} micro F1 "
            f"({best['model_micro_f1'] / micro:.2f} of the default's) on this little data"
        )
    if notes:
        lines[0] += " " + "; ".join(notes)[0].upper() + "; ".join(notes)[1:] + "."
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, default=PROCESSED_DIR)
    parser.add_argument("--quick", action="store_true", help="skip the textcat models")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    params = load_params()
    models = [m for m in MODELS if not (args.quick and m[2] == "textcat")]
    with tempfile.TemporaryDirectory(prefix="bench_learned_") as tmp:
        work = Path(tmp)
        prepare(args.processed, work)
        speed = bench_train(work, params)
        print(
            f"train {speed['train_s']:.1f} s; apply {speed['words'] / speed['apply_s']:,.0f} "
            f"words/s; model alone {speed['words'] / speed['model_s']:,.0f} words/s",
            file=sys.stderr,
        )
        rows = bench_models(work, params, models)
    section = render(speed, rows, quick=args.quick)
    publish("Learned coder", section, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
