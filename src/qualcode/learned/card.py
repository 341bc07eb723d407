"""The model card: what a model was trained on, with which settings, and how well it does
(card.json), and the same as Markdown (card.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qualcode.config import Params
from qualcode.learned.data import TrainingData
from qualcode.learned.features import rule_matrix
from qualcode.learned.store import MODEL_VERSION
from qualcode.learned.train import FittedCoder, code_scores

VECTORS_NOTE = (
    "en_core_web_sm has no word vectors: the features are lemmas (TF-IDF) of the sentence and "
    "its context (and, as the `rules` block, the rule coder's matches); its tok2vec output (96 "
    "numbers per token, trained for tagging and parsing) is available as the `tok2vec` block."
)
THRESHOLDS_NOTE = (
    "Thresholds are chosen per code on held-out folds of whole training transcripts; "
    "the held-out scores here were measured on the predictions the thresholds were "
    "chosen on, so they are optimistic; the cross-fitted F1 codes each fold with "
    "thresholds chosen on the other folds. The rules' F1 is measured on the same "
    "sentences (optimistic where the patterns were tuned on them). `better` compares "
    "the two. `qualcode evaluate` gives leave-one-transcript-out scores."
)


def software() -> dict[str, str]:
    """RETURNS (dict[str, str]): the versions of the packages a model depends on."""
    import importlib.metadata

    out = {}
    for name in ("qualcode", "scikit-learn", "spacy", "numpy", "pandas"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "?"
    return out


def _spacy_model(params: Params) -> str:
    import importlib.metadata

    from qualcode.nlp import model_candidates

    for candidate in model_candidates(params.spacy_model):
        try:
            return f"{candidate}=={importlib.metadata.version(candidate)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "?"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def _code_entries(coder: FittedCoder, data: TrainingData) -> list[dict[str, Any]]:
    """RETURNS (list[dict]): per code of the labels, what the card says of it."""
    held = coder.held_out.set_index("code_id") if len(coder.held_out) else pd.DataFrame()
    rules = rule_matrix(data.units, data.labels.codes)
    rule_scores = code_scores(rules, data.labels.y, data.labels.known)
    threshold = dict(zip(coder.codes, coder.thresholds.tolist(), strict=True))
    codes = []
    for j, row in enumerate(coder.counts.itertuples(index=False)):
        entry = {
            "code_id": row.code_id,
            "n_examples": int(row.n_examples),
            "n_transcripts": int(row.n_transcripts),
            "trained": bool(row.trained),
            "threshold": threshold.get(row.code_id),
            "rules_f1": _num(rule_scores["f1"][j]),
        }
        if row.code_id in held.index:
            for metric in ("precision", "recall", "f1", "f1_crossfit"):
                entry[f"held_out_{metric}"] = _num(held.at[row.code_id, metric])
            entry["prefer"] = str(held.at[row.code_id, "prefer"])
        codes.append(entry)
    return codes


def build_card(
    coder: FittedCoder, data: TrainingData, *, model_id: str, params: Params
) -> dict[str, Any]:
    """The model card: what the model was trained on, with what, and how well it does.

    RETURNS (dict): JSON-ready; no timestamps, so the same training gives the same card.
    """
    codebook = data.codebook
    units = data.units
    labels = data.labels
    settings = params.learned
    codes = _code_entries(coder, data)
    held = coder.held_out
    return {
        "model_id": model_id,
        "model_version": MODEL_VERSION,
        "kind": coder.kind,
        "features": list(coder.blocks),
        "options": {"c": settings.c} if coder.kind == "logreg" else {},
        "seed": coder.seed,
        "unit": "sentence",
        "roles": list(params.coding.roles),
        "training_data": {
            "coders": data.coders,
            "transcripts": {t: labels.owners.get(t, "review") for t in data.transcripts},
            "n_transcripts": len(data.transcripts),
            "n_sentences": len(units),
            "n_coded_sentences": int((labels.y & labels.known).any(axis=1).sum()),
            "n_codings": int((labels.y & labels.known).sum()),
            "n_words": int(units.frame["n_words"].sum()),
            "n_codebook_examples": 0 if data.examples is None else len(data.examples),
            "n_review_decisions": data.n_review_decisions,
        },
        "codebook": {
            "version": None if codebook is None else codebook.version,
            "sha256": None if codebook is None else codebook.sha256,
            "n_codes": None if codebook is None else len(codebook),
        },
        "min_examples": settings.min_examples,
        "min_transcripts": settings.min_transcripts,
        "codes_learned": list(coder.codes),
        "codes_left_to_rules": [c["code_id"] for c in codes if not c["trained"]],
        "thresholds": dict(zip(coder.codes, coder.thresholds.tolist(), strict=True)),
        "codes": codes,
        "held_out_micro_f1": _num(
            2 * held["n_both"].sum() / max(held["n_true"].sum() + held["n_coded"].sum(), 1)
            if len(held)
            else None
        ),
        "spacy_model": _spacy_model(params),
        "software": software(),
        "notes": [VECTORS_NOTE, THRESHOLDS_NOTE],
    }


def card_markdown(card: dict[str, Any]) -> str:
    """RETURNS (str): the model card as Markdown."""
    data = card["training_data"]
    lines = [
        f"# Model card: {card['model_id']}",
        "",
        f"- kind: `{card['kind']}`; features: {', '.join(card['features'])}; seed {card['seed']}",
        f"- trained on {data['n_sentences']} participant sentences ({data['n_words']} words) of "
        f"{data['n_transcripts']} transcripts coded by {', '.join(data['coders'])}: "
        f"{data['n_codings']} codings in {data['n_coded_sentences']} sentences; "
        f"{data['n_codebook_examples']} codebook examples; "
        f"{data['n_review_decisions']} review decisions",
        f"- codebook version {card['codebook']['version']} "
        f"(sha256 {str(card['codebook']['sha256'])[:12]})",
        f"- spaCy model {card['spacy_model']}; software "
        + ", ".join(f"{k} {v}" for k, v in card["software"].items()),
        f"- a code is learned with at least {card['min_examples']} coded sentences in at least "
        f"{card['min_transcripts']} transcripts; the others are left to the rules: "
        + (", ".join(card["codes_left_to_rules"]) or "none"),
        "",
        "| code | coded sentences | transcripts | learned | threshold | held-out P | held-out R "
        "| held-out F1 | held-out F1, cross-fitted thresholds | rules F1 (same sentences) "
        "| better |",
        "|---|---:|---:|:---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    for code in card["codes"]:
        lines.append(
            f"| {code['code_id']} | {code['n_examples']} | {code['n_transcripts']} | "
            f"{'yes' if code['trained'] else 'no'} | {fmt(code['threshold'])} | "
            f"{fmt(code.get('held_out_precision'))} | {fmt(code.get('held_out_recall'))} | "
            f"{fmt(code.get('held_out_f1'))} | {fmt(code.get('held_out_f1_crossfit'))} | "
            f"{fmt(code.get('rules_f1'))} | {code.get('prefer', 'rules')} |"
        )
    lines += ["", *(f"- {note}" for note in card["notes"]), ""]
    return "\n".join(lines)
