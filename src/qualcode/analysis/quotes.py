"""Page 04: quotes for a code: exemplars that state it plainly, and counter-evidence that cuts
against it (negated mentions, and coded sentences that qualify it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qualcode.analysis.codes import voiced_codings
from qualcode.analysis.study import Study, descendants

# Words that qualify a statement: a coded sentence holding one is possible counter-evidence.
QUALIFIERS = (
    "but",
    "although",
    "though",
    "however",
    "except",
    "unless",
    "depends",
    "not always",
    "not really",
    "sometimes",
    "hardly",
    "rarely",
)

# A sentence with a negation word or a question is not a plain statement of a theme.
NOT_PLAIN = re.compile(r"\?|\b(?:not|never|no|nobody|nothing)\b|n't\b", re.IGNORECASE)


def _quote_text(sentences: pd.DataFrame, row: pd.Series, *, min_chars: int, max_chars: int) -> str:
    """The coded sentence, widened to neighbouring sentences of its turn when it is too short."""
    turn = sentences[
        (sentences["transcript_id"] == row["transcript_id"])
        & (sentences["turn_id"] == row["turn_id"])
    ].sort_values("sentence_id")
    ids = turn["sentence_id"].tolist()
    texts = dict(zip(ids, turn["text"], strict=True))
    if row["sentence_id"] not in texts:
        return _shorten(str(row["text"]), max_chars)
    lo = hi = ids.index(row["sentence_id"])
    text = texts[ids[lo]]
    while len(text) < min_chars:
        if hi + 1 < len(ids) and len(text) + len(texts[ids[hi + 1]]) < max_chars:
            hi += 1
        elif lo > 0 and len(text) + len(texts[ids[lo - 1]]) < max_chars:
            lo -= 1
        else:
            break
        text = " ".join(texts[i] for i in ids[lo : hi + 1])
    return _shorten(text, max_chars)


def _shorten(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    return cut + "\u2026"


def _qualifier_pattern(qualifiers: Sequence[str]) -> re.Pattern[str]:
    words = sorted(qualifiers, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def exemplar_quotes(
    codings: pd.DataFrame,
    sentences: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    code_id: str,
    n: int = 3,
    min_chars: int = 40,
    max_chars: int = 400,
) -> pd.DataFrame:
    """Up to n quotes for a code (or its descendants), each from a different participant.

    A good exemplar states the theme plainly and specifically. Per participant, sentences come
    first that hold no qualifier (QUALIFIERS: "but", "sometimes" ...), negation word or question
    mark; then those of min_chars to max_chars; then more matches of the code, a higher score,
    a longer matched phrase ("find a mentor" says more than "mentor"); then the longer text. A
    sentence shorter than min_chars is widened to its neighbours. Participants are ranked by
    their best sentence, then by how many sentences they gave the code. Negated codings are
    skipped.
    RETURNS (DataFrame): pseudonym, transcript_id, turn_id, sentence_id, code_id, quote.
    """
    below = descendants(codebook, code_id)
    voiced = voiced_codings(codings[codings["code_id"].isin(below)], participants)
    columns = ["pseudonym", "transcript_id", "turn_id", "sentence_id", "code_id", "quote"]
    if voiced.empty:
        return pd.DataFrame(columns=columns)
    keys = ["pseudonym", "transcript_id", "turn_id", "sentence_id"]
    score = pd.to_numeric(voiced["score"], errors="coerce").fillna(0.0)
    voiced = voiced.assign(score=score)
    matched = voiced["matched"] if "matched" in voiced.columns else voiced["text"]
    voiced = voiced.assign(specific=matched.fillna("").astype(str).str.split().str.len())
    candidates = voiced.groupby(keys, as_index=False).agg(
        matches=("code_id", "size"),
        score=("score", "max"),
        specific=("specific", "max"),
        code_id=("code_id", "first"),
    )
    texts = sentences.set_index(["transcript_id", "turn_id", "sentence_id"])["text"]
    candidates["text"] = [
        texts.get((t, u, s), "")
        for t, u, s in zip(
            candidates["transcript_id"],
            candidates["turn_id"],
            candidates["sentence_id"],
            strict=True,
        )
    ]
    candidates["length"] = candidates["text"].str.len()
    candidates["fits"] = candidates["length"].between(min_chars, max_chars)
    candidates["qualified"] = candidates["text"].str.contains(
        _qualifier_pattern(QUALIFIERS)
    ) | candidates["text"].str.contains(NOT_PLAIN)
    candidates["given"] = candidates.groupby("pseudonym")["text"].transform("size")
    order = [
        ("qualified", True),
        ("fits", False),
        ("matches", False),
        ("score", False),
        ("specific", False),
        ("given", False),
        ("length", False),
        ("transcript_id", True),
        ("turn_id", True),
        ("sentence_id", True),
    ]
    candidates = candidates.sort_values(
        [c for c, _ in order], ascending=[a for _, a in order], kind="stable"
    )
    best = candidates.drop_duplicates("pseudonym").head(n)
    best = best.assign(
        quote=[
            _quote_text(sentences, row, min_chars=min_chars, max_chars=max_chars)
            for _, row in best.iterrows()
        ]
    )
    return best[columns].reset_index(drop=True)


def counter_evidence(
    codings: pd.DataFrame,
    sentences: pd.DataFrame,
    participants: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    code_id: str,
    qualifiers: Sequence[str] = QUALIFIERS,
    max_chars: int = 400,
) -> pd.DataFrame:
    """Mentions of a code that cut against it: negated codings, and coded sentences that qualify.

    RETURNS (DataFrame): kind ("negated" or "qualified"), pseudonym, transcript_id, turn_id,
        sentence_id, quote; one row per sentence, negated first.
    """
    below = descendants(codebook, code_id)
    frame = codings[codings["code_id"].isin(below)].merge(
        participants[["transcript_id", "pseudonym"]], on="transcript_id", how="inner"
    )
    keys = ["transcript_id", "turn_id", "sentence_id"]
    columns = ["kind", "pseudonym", *keys, "quote"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    per_sentence = frame.groupby(["pseudonym", *keys], as_index=False).agg(
        negated=("negated", "any"), text=("text", "first")
    )
    texts = sentences.set_index(keys)["text"]
    per_sentence["quote"] = [
        _shorten(str(texts.get((t, u, s), fallback)), max_chars)
        for t, u, s, fallback in zip(
            per_sentence["transcript_id"],
            per_sentence["turn_id"],
            per_sentence["sentence_id"],
            per_sentence["text"],
            strict=True,
        )
    ]
    qualified = per_sentence["quote"].str.contains(_qualifier_pattern(qualifiers))
    per_sentence["kind"] = np.where(
        per_sentence["negated"], "negated", np.where(qualified, "qualified", "")
    )
    table = per_sentence[per_sentence["kind"] != ""]
    table = table.sort_values(["kind", "transcript_id", "turn_id", "sentence_id"])
    return table[columns].reset_index(drop=True)


@dataclass(frozen=True)
class Evidence:
    """A code's quotes and counter-evidence, as page 04 shows them."""

    quotes: pd.DataFrame  # `exemplar_quotes`
    against: pd.DataFrame  # `counter_evidence`
    shown: pd.DataFrame  # the counter-evidence shown: the first negated and qualified ones
    n_negated: int
    n_qualified: int


def evidence(study: Study, code_id: str, *, n_negated: int = 2, n_qualified: int = 1) -> Evidence:
    """Exemplar quotes and counter-evidence of a code, with the quote settings of params `report`.

    n_negated, n_qualified: how many negated and qualified mentions to show.
    RETURNS (Evidence): the quotes, all counter-evidence, the part shown, and its counts.
    """
    report = study.params.report
    quotes = exemplar_quotes(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id=code_id,
        n=report.quotes_per_code,
        min_chars=report.quote_min_chars,
        max_chars=report.quote_max_chars,
    )
    against = counter_evidence(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id=code_id,
        max_chars=report.quote_max_chars,
    )
    negated = against[against["kind"] == "negated"]
    qualified = against[against["kind"] == "qualified"]
    return Evidence(
        quotes=quotes,
        against=against,
        shown=pd.concat([negated.head(n_negated), qualified.head(n_qualified)]),
        n_negated=len(negated),
        n_qualified=len(qualified),
    )
