"""A coder that learns from human coding: features, models, thresholds, training, coding,
leave-one-transcript-out evaluation and the review loop.

PLACEHOLDER_DOC
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from spacy.language import Language

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.coding.rules import Cues, build_coder, code_docs
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.units import participant_units

log = logging.getLogger(__name__)

MODEL_CODER = "model"
MODEL_VERSION = "learned.v1"
MIN_EXAMPLES = 8
MIN_TRANSCRIPTS = 2
INNER_FOLDS = 5
DEFAULT_THRESHOLD = 0.5
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
N_POSITION_BINS = 10

# Feature blocks: what the model sees of a sentence besides the sentence itself.
BLOCKS = ("sentence", "question", "turn", "position", "rules", "tok2vec")
# The rule coder's matches (`rules`) are left out by default: where the codebook's patterns were
# tuned on the coded transcripts, the model learns to trust them more than they deserve on new
# ones (on the demo's reference transcripts the model does better without them), and a model
# that does not read the rules complements them in `--coder both`.
DEFAULT_BLOCKS = ("sentence", "question", "turn", "position")
BLOCK_WEIGHTS = {
    "sentence": 1.0,
    "question": 0.5,
    "turn": 0.5,
    "position": 0.5,
    "rules": 1.0,
    "tok2vec": 0.1,
}
KINDS = ("logreg", "textcat")
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {"logreg": {"c": 64.0}, "textcat": {}}
REVIEW_SOURCE_PREFIX = "review:"
REVIEW_DECISIONS_FILE = "review_decisions.parquet"

_PSEUDONYM_RE = re.compile(r"^\[?([A-Z]+)_\d+\]?$")


# ---------------------------------------------------------------------------------------------
# Units and their context


class _UnitRef(NamedTuple):
    """What `qualcode.coding.rules.code_docs` needs to know of a unit."""

    transcript_id: str
    turn_id: int
    sentence_id: int | None
    start_char: int
    end_char: int
    text: str


def _lemma_text(tokens: Iterable[Any]) -> str:
    """The normalised lemmas of some tokens: lower case, no punctuation, pseudonyms as their
    type (`<person>`), numbers as `<num>`.

    RETURNS (str): the lemmas joined by single spaces.
    """
    out = []
    for token in tokens:
        if token.is_punct or token.is_space:
            continue
        match = _PSEUDONYM_RE.match(token.text)
        if match:
            out.append(f"<{match.group(1).lower()}>")
        elif token.like_num:
            out.append("<num>")
        else:
            out.append((token.lemma_ or token.text).lower())
    return " ".join(out)


@dataclass
class Units:
    """The sentences to code, each with its context, as the learned coder sees them.

    frame: one row per participant sentence: transcript_id, turn_id, sentence_id, start_char,
        end_char, text, section, lemmas (of the sentence), question (lemmas of the interviewer
        turn before the sentence's turn), question_text, turn (lemmas of the other sentences of
        the turn), near (lemmas of the sentences just before and after), position (of the turn
        in the interview, 0..1), sent_index (in the turn), n_sents (of the turn), rules (codes
        the rule coder gave the sentence, space-separated), n_words.
    tok2vec: the mean of spaCy's tok2vec output over each sentence's tokens [n, width].
    rule_codings: the rule coder's codings of the sentences (codings.parquet rows).
    """

    frame: pd.DataFrame
    tok2vec: np.ndarray
    rule_codings: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, rows: np.ndarray) -> Units:
        """RETURNS (Units): the units at the given positions (or boolean mask)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        frame = self.frame.iloc[rows].reset_index(drop=True)
        keys = set(zip(frame["transcript_id"], frame["turn_id"], frame["sentence_id"], strict=True))
        rc = self.rule_codings
        if len(rc):
            inside = [
                (t, k, s) in keys
                for t, k, s in zip(
                    rc["transcript_id"], rc["turn_id"], rc["sentence_id"], strict=True
                )
            ]
            rc = rc[inside].reset_index(drop=True)
        return Units(frame=frame, tok2vec=self.tok2vec[rows], rule_codings=rc)


def feature_pipeline(codebook: Codebook | None, *, model: str = "en_core_web_sm") -> Language:
    """The spaCy pipeline the learned coder reads sentences with: the rule coder's pipeline
    (tagger, parser, lemmatizer, the codebook's SpanRulers; no NER).

    RETURNS (Language): the pipeline.
    """
    return build_coder(
        codebook if codebook is not None else Codebook(version=0, codes=()), model=model
    )


def prepare_units(
    turns: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    nlp: Language,
    codebook: Codebook | None,
    params: Params,
    transcripts: Iterable[str] | None = None,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Units:
    """Read the participant sentences (params `coding.roles`) with spaCy and gather their context.

    transcripts: only these transcripts (all when None).
    RETURNS (Units): the sentences with their features and the rule coder's codings.
    """
    if transcripts is not None:
        wanted = set(transcripts)
        turns = turns[turns["transcript_id"].astype(str).isin(wanted)]
        sentences = sentences[sentences["transcript_id"].astype(str).isin(wanted)]
    units = participant_units(turns, sentences, unit="sentence", roles=params.coding.roles)
    turns = turns.astype({"transcript_id": str}).sort_values(["transcript_id", "turn_id"])
    # The interviewer turn before each turn, the section and the relative position of each turn.
    question_of: dict[tuple[str, int], str] = {}
    section_of: dict[tuple[str, int], str] = {}
    position_of: dict[tuple[str, int], float] = {}
    for tid, group in turns.groupby("transcript_id", sort=True):
        last = ""
        n = len(group)
        for rank, row in enumerate(group.itertuples(index=False)):
            key = (str(tid), int(row.turn_id))
            question_of[key] = last
            section = row.section if isinstance(row.section, str) and row.section else "none"
            section_of[key] = section
            position_of[key] = rank / max(n - 1, 1)
            if row.role == "interviewer":
                last = row.text if isinstance(row.text, str) else ""
    keys = list(zip(units["transcript_id"].astype(str), units["turn_id"].astype(int), strict=True))
    questions = sorted({question_of.get(k, "") for k in keys} - {""})

    cues = Cues(
        negation=frozenset(w.lower() for w in params.coding.negation_cues),
        hypothetical=frozenset(w.lower() for w in params.coding.hypothetical_cues),
    )
    refs = [
        _UnitRef(str(r.transcript_id), int(r.turn_id), int(r.sentence_id), int(r.start_char),
                 int(r.end_char), str(r.text))
        for r in units.itertuples(index=False)
    ]  # fmt: skip
    lemmas: list[str] = []
    width = 0
    vectors: list[np.ndarray] = []
    rule_rows: list[dict] = []
    with warnings.catch_warnings():
        # W036: a codebook without patterns leaves the SpanRulers empty (harmless)
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        docs = list(nlp.pipe((r.text for r in refs), batch_size=batch_size))
        question_docs = list(nlp.pipe(questions, batch_size=batch_size))
    for doc in docs:
        lemmas.append(_lemma_text(doc))
        tensor = doc.tensor if doc.tensor is not None and doc.tensor.size else None
        if tensor is not None:
            width = tensor.shape[1]
            vectors.append(tensor.mean(axis=0))
        else:
            vectors.append(None)
        if progress is not None:
            progress(1)
    if codebook is not None and len(codebook):
        rule_rows, _ = code_docs(zip(docs, refs, strict=True), codebook, cues=cues)
    tok2vec = np.zeros((len(refs), width), dtype=np.float32)
    for i, vec in enumerate(vectors):
        if vec is not None:
            tok2vec[i] = vec
    question_lemmas = {
        text: _lemma_text(doc) for text, doc in zip(questions, question_docs, strict=True)
    }

    frame = units.reset_index(drop=True).copy()
    frame["transcript_id"] = frame["transcript_id"].astype(str)
    frame["turn_id"] = frame["turn_id"].astype("int64")
    frame["sentence_id"] = frame["sentence_id"].astype("int64")
    frame["lemmas"] = lemmas
    frame["question_text"] = [question_of.get(k, "") for k in keys]
    frame["question"] = [question_lemmas.get(question_of.get(k, ""), "") for k in keys]
    frame["section"] = [section_of.get(k, "none") for k in keys]
    frame["position"] = [position_of.get(k, 0.0) for k in keys]
    by_turn = frame.groupby(["transcript_id", "turn_id"], sort=False).indices
    turn_context = [""] * len(frame)
    near = [""] * len(frame)
    sent_index = [0] * len(frame)
    n_sents = [1] * len(frame)
    for idx in by_turn.values():
        idx = sorted(idx, key=lambda i: frame.at[i, "sentence_id"])
        for k, i in enumerate(idx):
            turn_context[i] = " ".join(lemmas[j] for j in idx if j != i)
            near[i] = " ".join(lemmas[j] for j in idx[max(k - 1, 0) : k + 2] if j != i)
            sent_index[i] = k
            n_sents[i] = len(idx)
    frame["turn"] = turn_context
    frame["near"] = near
    frame["sent_index"] = sent_index
    frame["n_sents"] = n_sents
    frame["n_words"] = frame["text"].str.split().str.len().fillna(0).astype(int)
    rule_codings = pd.DataFrame(rule_rows)
    codes_of: dict[tuple[str, int, int], list[str]] = {}
    if len(rule_codings):
        for t, k, s, c in zip(
            rule_codings["transcript_id"],
            rule_codings["turn_id"],
            rule_codings["sentence_id"],
            rule_codings["code_id"],
            strict=True,
        ):
            codes_of.setdefault((str(t), int(k), int(s)), []).append(str(c))
    frame["rules"] = [
        " ".join(codes_of.get((t, int(k), int(s)), []))
        for t, k, s in zip(
            frame["transcript_id"], frame["turn_id"], frame["sentence_id"], strict=True
        )
    ]
    return Units(frame=frame, tok2vec=tok2vec, rule_codings=rule_codings)


# ---------------------------------------------------------------------------------------------
# Features


def _tfidf(ngrams: tuple[int, int]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        ngram_range=ngrams,
        sublinear_tf=True,
        dtype=np.float32,
    )


def _position_features(frame: pd.DataFrame) -> list[dict[str, float]]:
    out = []
    for section, position, index, n in zip(
        frame["section"], frame["position"], frame["sent_index"], frame["n_sents"], strict=True
    ):
        bin_ = min(int(float(position) * N_POSITION_BINS), N_POSITION_BINS - 1)
        out.append(
            {
                f"section={section}": 1.0,
                f"position={bin_}": 1.0,
                f"section={section}&position={bin_}": 1.0,
                "first_sentence": float(index == 0),
                "last_sentence": float(index == n - 1),
                "single_sentence": float(n == 1),
            }
        )
    return out


def _rule_features(frame: pd.DataFrame) -> list[dict[str, float]]:
    return [{f"rule={code}": 1.0 for code in str(codes).split()} for codes in frame["rules"]]


class Featurizer:
    """Turns units into one sparse matrix: a block of columns per kind of context, each block
    scaled by its weight.

    Blocks: `sentence` (TF-IDF of the sentence's lemma uni- and bigrams), `question` (TF-IDF of
    the preceding interviewer turn's lemma uni- and bigrams), `turn` (TF-IDF of the lemmas of
    the rest of the turn, and apart of the neighbouring sentences), `position` (the section,
    the position of the turn in the interview in tenths, first/last sentence of the turn),
    `rules` (the codes the rule coder gave the sentence), `tok2vec` (the mean of spaCy's
    tok2vec output over the sentence, standardised).
    """

    def __init__(self, blocks: Sequence[str], *, weights: dict[str, float] | None = None) -> None:
        unknown = [b for b in blocks if b not in BLOCKS]
        if unknown:
            raise ValueError(f"unknown feature block(s) {unknown}; expected some of {BLOCKS}")
        self.blocks = tuple(b for b in BLOCKS if b in blocks)
        self.weights = {**BLOCK_WEIGHTS, **(weights or {})}
        self.parts: dict[str, Any] = {}

    def fit(self, units: Units) -> Featurizer:
        """Learn the vocabularies (and scales) from the training units. RETURNS (Featurizer)."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.preprocessing import StandardScaler

        frame = units.frame
        self.parts = {}
        for block in self.blocks:
            if block == "sentence":
                self.parts["sentence"] = _tfidf((1, 2)).fit(frame["lemmas"])
            elif block == "question":
                self.parts["question"] = _tfidf((1, 2)).fit(frame["question"])
            elif block == "turn":
                self.parts["turn"] = _tfidf((1, 1)).fit(frame["turn"])
                self.parts["near"] = _tfidf((1, 1)).fit(frame["near"])
            elif block == "position":
                self.parts["position"] = DictVectorizer(dtype=np.float32).fit(
                    _position_features(frame)
                )
            elif block == "rules":
                self.parts["rules"] = DictVectorizer(dtype=np.float32).fit(_rule_features(frame))
            elif block == "tok2vec":
                self.parts["tok2vec"] = StandardScaler().fit(units.tok2vec)
        return self

    def transform(self, units: Units) -> sp.csr_matrix:
        """RETURNS (csr_matrix): the features of the units [n_units, n_features]."""
        frame = units.frame
        mats = []
        for name, part in self.parts.items():
            block = "turn" if name == "near" else name
            weight = self.weights[block]
            if name in ("sentence", "question", "turn", "near"):
                column = {"sentence": "lemmas"}.get(name, name)
                mat = part.transform(frame[column])
            elif name == "position":
                mat = part.transform(_position_features(frame))
            elif name == "rules":
                mat = part.transform(_rule_features(frame))
            else:
                mat = sp.csr_matrix(part.transform(units.tok2vec).astype(np.float32))
            mats.append(sp.csr_matrix(mat) * weight)
        if not mats:
            return sp.csr_matrix((len(frame), 0), dtype=np.float32)
        return sp.hstack(mats, format="csr", dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Models


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class LinearCoder:
    """One logistic regression per code (liblinear, balanced class weights) over the features.

    Only the weights are kept (`coef` [n_codes, n_features], `intercept` [n_codes]); a code
    whose training units are all of one class gets a constant probability.
    """

    kind = "logreg"

    def __init__(self, *, c: float = 4.0, seed: int = 0, balanced: bool = True) -> None:
        self.c = c
        self.seed = seed
        self.balanced = balanced
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None

    def fit(self, x: sp.csr_matrix, y: np.ndarray, known: np.ndarray) -> LinearCoder:
        """Fit one model per column of y on the rows where `known` is true.

        RETURNS (LinearCoder): self.
        """
        from sklearn.linear_model import LogisticRegression

        n_codes = y.shape[1]
        self.coef = np.zeros((n_codes, x.shape[1]), dtype=np.float64)
        self.intercept = np.zeros(n_codes, dtype=np.float64)
        for j in range(n_codes):
            rows = np.flatnonzero(known[:, j])
            target = y[rows, j]
            n_pos = int(target.sum())
            if n_pos == 0 or n_pos == len(target):
                rate = (n_pos + 0.5) / (len(target) + 1.0)
                self.intercept[j] = np.log(rate / (1 - rate))
                continue
            model = LogisticRegression(
                C=self.c,
                class_weight="balanced" if self.balanced else None,
                solver="liblinear",
                max_iter=1000,
                random_state=self.seed,
            )
            model.fit(x[rows], target)
            self.coef[j] = model.coef_[0]
            self.intercept[j] = model.intercept_[0]
        return self

    def predict_proba(self, x: sp.csr_matrix) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes]."""
        return _sigmoid(np.asarray(x @ self.coef.T) + self.intercept)


class LinearModel:
    """The features of `Featurizer` and one logistic regression per code (`LinearCoder`)."""

    kind = "logreg"

    def __init__(
        self,
        *,
        blocks: Sequence[str] = DEFAULT_BLOCKS,
        c: float = 4.0,
        seed: int = 0,
        balanced: bool = True,
        weights: dict[str, float] | None = None,
    ) -> None:
        self.featurizer = Featurizer(blocks, weights=weights)
        self.coder = LinearCoder(c=c, seed=seed, balanced=balanced)

    @property
    def blocks(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): the feature blocks."""
        return self.featurizer.blocks

    def fit(self, units: Units, y: np.ndarray, known: np.ndarray) -> LinearModel:
        """Fit the features and the per-code models. RETURNS (LinearModel)."""
        self.featurizer.fit(units)
        self.coder.fit(self.featurizer.transform(units), y, known)
        return self

    def predict_proba(self, units: Units) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes]."""
        return self.coder.predict_proba(self.featurizer.transform(units))


class TextcatModel:
    """spaCy's `textcat_multilabel` (bag-of-words uni- and bigrams, `spacy.TextCatBOW.v3`) trained
    on the sentence text, or with `context` on the preceding interviewer question and the
    sentence. Units whose label is unknown for a code leave that code out of their example
    (spaCy treats it as missing).
    """

    kind = "textcat"

    def __init__(
        self,
        *,
        seed: int = 0,
        epochs: int = 20,
        batch_size: int = 32,
        length: int = 65536,
        context: bool = False,
    ) -> None:
        self.seed = seed
        self.epochs = epochs
        self.batch_size = batch_size
        self.length = length
        self.context = context
        self.labels: list[str] = []
        self.nlp: Language | None = None

    @property
    def blocks(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): what the model reads."""
        return ("sentence", "question") if self.context else ("sentence",)

    def _texts(self, units: Units) -> list[str]:
        if not self.context:
            return list(units.frame["text"])
        return [
            f"{q} || {t}" if q else str(t)
            for q, t in zip(units.frame["question_text"], units.frame["text"], strict=True)
        ]

    def fit(self, units: Units, y: np.ndarray, known: np.ndarray) -> TextcatModel:
        """Train the text classifier (seeded, CPU). RETURNS (TextcatModel)."""
        import spacy
        from spacy.training import Example
        from spacy.util import fix_random_seed, minibatch

        fix_random_seed(self.seed)
        self.labels = [f"C{j}" for j in range(y.shape[1])]
        nlp = spacy.blank("en")
        textcat = nlp.add_pipe(
            "textcat_multilabel",
            config={
                "model": {
                    "@architectures": "spacy.TextCatBOW.v3",
                    "exclusive_classes": False,
                    "ngram_size": 2,
                    "no_output_layer": False,
                    "length": self.length,
                }
            },
        )
        for label in self.labels:
            textcat.add_label(label)
        examples = []
        for i, text in enumerate(self._texts(units)):
            cats = {label: float(y[i, j]) for j, label in enumerate(self.labels) if known[i, j]}
            examples.append(Example.from_dict(nlp.make_doc(text), {"cats": cats}))
        optimizer = nlp.initialize(lambda: examples)
        rng = np.random.default_rng(self.seed)
        for _ in range(self.epochs):
            order = rng.permutation(len(examples))
            for batch in minibatch([examples[k] for k in order], size=self.batch_size):
                nlp.update(batch, sgd=optimizer, drop=0.2)
        self.nlp = nlp
        return self

    def predict_proba(self, units: Units) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes]."""
        texts = self._texts(units)
        out = np.zeros((len(texts), len(self.labels)))
        for i, doc in enumerate(self.nlp.pipe(texts, batch_size=256)):
            out[i] = [doc.cats.get(label, 0.0) for label in self.labels]
        return out


def make_model(
    kind: str, *, blocks: Sequence[str] = DEFAULT_BLOCKS, seed: int = 0, **options: Any
) -> LinearModel | TextcatModel:
    """RETURNS (LinearModel | TextcatModel): an untrained model of the given kind."""
    if kind == "logreg":
        return LinearModel(blocks=blocks, seed=seed, **options)
    if kind == "textcat":
        return TextcatModel(seed=seed, context="question" in blocks, **options)
    raise QualcodeInputError(f"expected one of {', '.join(KINDS)}, got {kind!r}", element="--kind")


# ---------------------------------------------------------------------------------------------
# Labels from human coding


@dataclass
class Labels:
    """Human labels of some units: `y[i, j]` is true when unit i carries code j; `known[i, j]`
    says whether that is known (a fully coded transcript knows every code of every unit; a
    review decision knows one code of one unit).
    """

    codes: list[str]
    y: np.ndarray
    known: np.ndarray
    owners: dict[str, str] = field(default_factory=dict)

    def subset(self, rows: np.ndarray) -> Labels:
        """RETURNS (Labels): the labels of the given rows."""
        return Labels(
            codes=list(self.codes), y=self.y[rows], known=self.known[rows], owners=self.owners
        )

    def counts(self, transcripts: Sequence[str]) -> pd.DataFrame:
        """RETURNS (DataFrame): per code: n_examples (positive units), n_transcripts (with one)."""
        transcripts = np.asarray(transcripts)
        positive = self.y & self.known
        return pd.DataFrame(
            {
                "code_id": self.codes,
                "n_examples": positive.sum(axis=0).astype(int),
                "n_transcripts": [
                    len(set(transcripts[positive[:, j]])) for j in range(len(self.codes))
                ],
            }
        )


def _is_review(frame: pd.DataFrame) -> pd.Series:
    if "source" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["source"].fillna("").astype(str).str.startswith(REVIEW_SOURCE_PREFIX)


def human_coders(human: pd.DataFrame | None) -> list[str]:
    """The people whose coding can train a model: every `human:` coder with rows that are not
    review decisions, the reference first.

    RETURNS (list[str]): coder names.
    """
    from qualcode.human.agreement import coders_present

    if human is None or human.empty:
        return []
    full = human[~_is_review(human)]
    return [c for c in coders_present(full) if c.startswith("human:")]


def code_order(codes: Iterable[str], codebook: Codebook | None) -> list[str]:
    """RETURNS (list[str]): codebook codes in codebook order, then the others sorted."""
    codes = set(codes)
    ids = [c for c in (codebook.ids if codebook is not None else []) if c in codes]
    return ids + sorted(codes - set(ids))


def label_units(
    frame: pd.DataFrame,
    human: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    coders: Sequence[str],
    codebook: Codebook | None = None,
    decisions: pd.DataFrame | None = None,
) -> tuple[np.ndarray, Labels]:
    """The human labels of the units: the pooled coding of the named coders, then review
    decisions.

    A transcript is labelled by the first of `coders` that coded it (imported coding, not review
    decisions); the labels of two coders are never mixed within a transcript. Every participant
    sentence of such a transcript is a labelled unit: coded with the codes the coder gave it,
    and known not to carry the others. Review decisions (accept/reject of one code on one
    sentence) then set that one label, in any transcript.
    RETURNS (tuple[ndarray, Labels]): the positions of the labelled units in `frame`, and
        their labels.
    """
    from qualcode.human.store import unit_keys

    coders = list(dict.fromkeys(coders))
    human = human.astype({"coder": str, "transcript_id": str})
    full = human[~_is_review(human)]
    present = set(full["coder"])
    missing = [c for c in coders if c not in present]
    if missing:
        listed = ", ".join(human_coders(human)) or "none"
        raise QualcodeInputError(
            f"coder {missing[0]!r} has no imported coding; coders present: {listed}",
            element="--from",
        )
    owners: dict[str, str] = {}
    for coder in coders:
        for tid in sorted(set(full.loc[full["coder"] == coder, "transcript_id"])):
            owners.setdefault(tid, coder)
    owned = full[
        [owners.get(t) == c for t, c in zip(full["transcript_id"], full["coder"], strict=True)]
    ]
    keys = unit_keys(owned, sentences, unit="sentence") if len(owned) else None
    index = {
        (t, int(k), int(s)): i
        for i, (t, k, s) in enumerate(
            zip(frame["transcript_id"], frame["turn_id"], frame["sentence_id"], strict=True)
        )
    }
    decided = []
    if decisions is not None and len(decisions):
        for row in decisions.itertuples(index=False):
            i = index.get((str(row.transcript_id), int(row.turn_id), int(row.sentence_id)))
            if i is not None:
                decided.append((i, str(row.code_id), str(row.decision) == "accept"))
    codes = set(keys["code_id"]) if keys is not None else set()
    codes |= {c for _, c, ok in decided if ok}
    codes = code_order(codes, codebook)
    column = {c: j for j, c in enumerate(codes)}
    in_scope = frame["transcript_id"].isin(owners).to_numpy().copy()
    for i, _, _ in decided:
        in_scope[i] = True
    rows = np.flatnonzero(in_scope)
    position = {i: r for r, i in enumerate(rows)}
    y = np.zeros((len(rows), len(codes)), dtype=bool)
    known = np.zeros((len(rows), len(codes)), dtype=bool)
    owned_rows = frame["transcript_id"].iloc[rows].isin(owners).to_numpy()
    known[owned_rows] = True
    outside = 0
    if keys is not None:
        for t, k, s, c in zip(
            keys["transcript_id"],
            keys["turn_id"],
            keys["sentence_id"],
            keys["code_id"],
            strict=True,
        ):
            i = index.get((str(t), int(k), int(s)))
            if i is None:
                outside += 1
                continue
            y[position[i], column[str(c)]] = True
    if outside:
        log.info("%d human coding(s) outside participant sentences left out", outside)
    for i, code, ok in decided:
        if code in column:
            y[position[i], column[code]] = ok
            known[position[i], column[code]] = True
    return rows, Labels(codes=codes, y=y, known=known, owners=owners)


# ---------------------------------------------------------------------------------------------
# Thresholds


def choose_thresholds(
    probs: np.ndarray, y: np.ndarray, known: np.ndarray, *, default: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Per code, the threshold on held-out probabilities that gives the best F1.

    The candidates are 0.05, 0.075, ..., 0.95; where several give the best F1 the middle one
    is taken. A code without a held-out positive keeps `default`.
    RETURNS (ndarray): one threshold per code.
    """
    out = np.full(probs.shape[1], default, dtype=float)
    for j in range(probs.shape[1]):
        rows = known[:, j]
        truth = y[rows, j]
        if not truth.any():
            continue
        p = probs[rows, j][:, None] >= THRESHOLD_GRID[None, :]
        tp = (p & truth[:, None]).sum(axis=0)
        f1 = 2 * tp / (p.sum(axis=0) + truth.sum())
        best = np.flatnonzero(np.isclose(f1, f1.max()))
        out[j] = float(THRESHOLD_GRID[best[len(best) // 2]])
    return out


def _group_splits(groups: np.ndarray, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds of whole transcripts, deterministic: transcripts sorted by id, dealt round-robin.

    RETURNS (list): (train positions, test positions) per fold.
    """
    names = sorted(set(groups))
    n_splits = min(n_splits, len(names))
    fold_of = {name: k % n_splits for k, name in enumerate(names)}
    assigned = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(assigned != k), np.flatnonzero(assigned == k)) for k in range(n_splits)]


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class FittedCoder:
    """A trained coder: the model, the codes it learned and their thresholds.

    counts: per code of the labels: n_examples, n_transcripts, trained (bool).
    held_out: per trained code, precision/recall/F1 at the chosen threshold on the inner
        held-out folds (the thresholds were chosen on the same predictions, so these are
        somewhat optimistic; `evaluate` gives the honest figure).
    """

    kind: str
    blocks: tuple[str, ...]
    codes: list[str]
    thresholds: np.ndarray
    model: Any
    counts: pd.DataFrame
    held_out: pd.DataFrame
    below: dict[str, list[str]] = field(default_factory=dict)
    seed: int = 0

    def predict_proba(self, units: Units) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes] (codes in `self.codes`)."""
        if not self.codes or not len(units):
            return np.zeros((len(units), len(self.codes)))
        return self.model.predict_proba(units)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Codings from probabilities: at or above the code's threshold, and a parent code
        left out where one of its children is coded (as the codebook asks of people).

        RETURNS (ndarray): booleans [n_units, n_codes].
        """
        coded = probs >= self.thresholds[None, :]
        column = {c: j for j, c in enumerate(self.codes)}
        out = coded.copy()
        for code, below in self.below.items():
            cols = [column[c] for c in below if c in column]
            if cols and code in column:
                out[:, column[code]] &= ~coded[:, cols].any(axis=1)
        return out


def _scores(coded: np.ndarray, y: np.ndarray, known: np.ndarray) -> dict[str, np.ndarray]:
    from qualcode.human.metrics import table_metrics

    counts = np.stack(
        [
            (coded & y & known).sum(0),
            (~coded & y & known).sum(0),
            (coded & ~y & known).sum(0),
            (~coded & ~y & known).sum(0),
        ],
        axis=-1,
    )
    return table_metrics(counts)


def fit_coder(
    units: Units,
    labels: Labels,
    *,
    kind: str = "logreg",
    blocks: Sequence[str] = DEFAULT_BLOCKS,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    min_examples: int = MIN_EXAMPLES,
    min_transcripts: int = MIN_TRANSCRIPTS,
    inner_folds: int = INNER_FOLDS,
    codebook: Codebook | None = None,
    examples: Units | None = None,
) -> FittedCoder:
    """Train a coder on labelled units, with thresholds chosen on held-out transcripts.

    Codes with fewer than `min_examples` coded sentences, or coded in fewer than
    `min_transcripts` transcripts, are not learned (they are reported in `counts`). The
    training transcripts are split into `inner_folds` folds of whole transcripts; a model
    trained on the other folds scores each fold, and each code's threshold is the one that
    gives the best F1 on those held-out scores. The final model is then trained on all units.
    RETURNS (FittedCoder): the trained coder.
    """
    if len(units) != len(labels.y):
        raise ValueError("units and labels differ in length")
    groups = units.frame["transcript_id"].to_numpy()
    counts = labels.counts(groups)
    counts["trained"] = (counts["n_examples"] >= min_examples) & (
        counts["n_transcripts"] >= min_transcripts
    )
    cols = np.flatnonzero(counts["trained"].to_numpy())
    codes = [labels.codes[j] for j in cols]
    y, known = labels.y[:, cols], labels.known[:, cols]
    extra = None
    if examples is not None and len(examples):
        extra_labels = example_labels(examples, codes)
        if extra_labels.y.any():
            extra = (examples, extra_labels)

    def train_on(rows: np.ndarray | None) -> Any:
        part = units if rows is None else units.subset(rows)
        part_y = y if rows is None else y[rows]
        part_known = known if rows is None else known[rows]
        if extra is not None:
            part = _concat_units(part, extra[0])
            part_y = np.vstack([part_y, extra[1].y])
            part_known = np.vstack([part_known, extra[1].known])
        model = make_model(kind, blocks=blocks, seed=seed, **(options or {}))
        return model.fit(part, part_y, part_known)

    thresholds = np.full(len(codes), DEFAULT_THRESHOLD)
    held_out = pd.DataFrame(columns=["code_id", "threshold", "precision", "recall", "f1"])
    if codes and len(set(groups)) >= 2:
        oof = np.zeros(y.shape)
        splits = _group_splits(groups, inner_folds)
        for train, test in splits:
            oof[test] = train_on(train).predict_proba(units.subset(test))
        thresholds = choose_thresholds(oof, y, known)
        coded = oof >= thresholds[None, :]
        scores = _scores(coded, y, known)
        # A fairer F1 to compare with the rules: each fold coded with thresholds chosen on the
        # other folds' held-out scores.
        crossfit = np.zeros_like(coded)
        for train, test in splits:
            fold_thresholds = choose_thresholds(oof[train], y[train], known[train])
            crossfit[test] = oof[test] >= fold_thresholds[None, :]
        fair = _scores(crossfit, y, known)["f1"]
        rules = _scores(rule_matrix(units, codes), y, known)["f1"]
        fair0, rules0 = np.nan_to_num(fair), np.nan_to_num(rules)
        held_out = pd.DataFrame(
            {
                "code_id": codes,
                "threshold": thresholds,
                "n_true": (y & known).sum(axis=0),
                "n_coded": (coded & known).sum(axis=0),
                "n_both": (coded & y & known).sum(axis=0),
                "precision": scores["precision"],
                "recall": scores["recall"],
                "f1": scores["f1"],
                "f1_crossfit": fair,
                "rules_f1": rules,
                "prefer": np.where(fair0 >= rules0, MODEL_CODER, "rules"),
            }
        )
    model = train_on(None) if codes else make_model(kind, blocks=blocks, seed=seed)
    below = {}
    if codebook is not None:
        for code in codes:
            if code in codebook:
                found = [d for d in codebook.descendants(code) if d in codes]
                if found:
                    below[code] = found
    return FittedCoder(
        kind=kind,
        blocks=tuple(model.blocks),
        codes=codes,
        thresholds=thresholds,
        model=model,
        counts=counts,
        held_out=held_out,
        below=below,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# The codebook's own examples as training sentences

EXAMPLES_TRANSCRIPT = "_codebook_examples"
_QUOTED_RE = re.compile(r"[\"“]([^\"”]{12,})[\"”]")


def codebook_examples(codebook: Codebook | None) -> pd.DataFrame:
    """The example sentences a codebook gives for its codes: `examples`, and quoted phrases in
    `include` notes ("a degree ("I did my undergrad in physics")").

    RETURNS (DataFrame): code_id, text; one row per (code, example), in codebook order.
    """
    rows = []
    if codebook is not None:
        for code in codebook:
            texts = list(code.examples)
            for note in code.include:
                texts.extend(m.group(1).strip() for m in _QUOTED_RE.finditer(note))
            for text in dict.fromkeys(t.strip() for t in texts if t.strip()):
                rows.append({"code_id": code.id, "text": text})
    return pd.DataFrame(rows, columns=["code_id", "text"])


def example_units(
    examples: pd.DataFrame, *, nlp: Language, codebook: Codebook | None, params: Params
) -> Units:
    """The codebook's examples as units without context (one turn each, no question, no
    section), so they can be added to the training sentences.

    RETURNS (Units): the units; `frame["example_code"]` holds each example's code.
    """
    n = len(examples)
    texts = [str(t) for t in examples["text"]]
    turns = pd.DataFrame(
        {
            "transcript_id": EXAMPLES_TRANSCRIPT,
            "turn_id": np.arange(n, dtype="int64"),
            "speaker": "example",
            "role": params.coding.roles[0] if params.coding.roles else "participant",
            "section": None,
            "start_s": np.nan,
            "end_s": np.nan,
            "text_raw": texts,
            "text": texts,
        }
    )
    sentences = pd.DataFrame(
        {
            "transcript_id": EXAMPLES_TRANSCRIPT,
            "turn_id": np.arange(n, dtype="int64"),
            "sentence_id": np.zeros(n, dtype="int64"),
            "start_char": np.zeros(n, dtype="int64"),
            "end_char": np.array([len(t) for t in texts], dtype="int64"),
            "text": texts,
        }
    )
    units = prepare_units(turns, sentences, nlp=nlp, codebook=codebook, params=params)
    units.frame["example_code"] = [
        str(examples["code_id"].iloc[int(k)]) for k in units.frame["turn_id"]
    ]
    return units


def example_labels(units: Units, codes: Sequence[str]) -> Labels:
    """Labels of codebook examples: each example is known to carry its own code, and nothing is
    known of the other codes.

    RETURNS (Labels): in the order of `codes`.
    """
    column = {c: j for j, c in enumerate(codes)}
    y = np.zeros((len(units), len(codes)), dtype=bool)
    for i, code in enumerate(units.frame.get("example_code", pd.Series([], dtype=object))):
        if code in column:
            y[i, column[code]] = True
    return Labels(codes=list(codes), y=y, known=y.copy())


def _concat_units(a: Units, b: Units) -> Units:
    frame = pd.concat([a.frame, b.frame], ignore_index=True)
    width = max(a.tok2vec.shape[1], b.tok2vec.shape[1])

    def pad(m: np.ndarray) -> np.ndarray:
        return m if m.shape[1] == width else np.zeros((len(m), width), dtype=np.float32)

    rc = [r for r in (a.rule_codings, b.rule_codings) if len(r)]
    return Units(
        frame=frame,
        tok2vec=np.vstack([pad(a.tok2vec), pad(b.tok2vec)]),
        rule_codings=pd.concat(rc, ignore_index=True) if rc else a.rule_codings,
    )


# ---------------------------------------------------------------------------------------------
# From the processed folder


@dataclass
class TrainingData:
    """What a coder is trained on: the labelled sentences of the processed folder.

    units, labels: the labelled units and their labels.
    examples: the codebook's examples as units (None when not used).
    """

    units: Units
    labels: Labels
    examples: Units | None
    codebook: Codebook | None
    coders: list[str]
    n_review_decisions: int = 0

    @property
    def transcripts(self) -> list[str]:
        """RETURNS (list[str]): the transcripts with labelled units, sorted."""
        return sorted(set(self.units.frame["transcript_id"]))

    @property
    def full_transcripts(self) -> list[str]:
        """RETURNS (list[str]): the transcripts coded in full by one of the coders, sorted."""
        return sorted(self.labels.owners)


def read_review_decisions(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): review_decisions.parquet, None when there is none."""
    path = Path(processed_dir) / REVIEW_DECISIONS_FILE
    return pd.read_parquet(path) if path.exists() else None


def load_training_data(
    processed_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    codebook: Codebook | None = None,
    params: Params,
    nlp: Language | None = None,
    use_examples: bool = True,
    use_reviews: bool = True,
    progress: Callable[[int], None] | None = None,
) -> TrainingData:
    """Read the processed tables and the human coding into labelled units.

    coders: the `human:` coders whose coding is pooled (first named wins where two coded the
        same transcript); all people with imported coding when None.
    use_reviews: add the accept/reject decisions of review_decisions.parquet.
    RETURNS (TrainingData): the labelled units.
    """
    from qualcode.human.store import coder_name

    processed_dir = Path(processed_dir)
    human = schema.read_table(processed_dir, "human_codings", required=False)
    if human is None or human.empty:
        raise QualcodeInputError(
            "no human coding to learn from; import some with `qualcode import-coding`",
            path=processed_dir / schema.TABLE_FILES["human_codings"],
        )
    coders = [coder_name(c) for c in coders] if coders else human_coders(human)
    for coder in coders:
        if not coder.startswith("human:"):
            raise QualcodeInputError(
                f"expected a person's coding (human:<name>), got {coder!r}", element="--from"
            )
    turns = schema.read_table(processed_dir, "turns")
    sentences = schema.read_table(processed_dir, "sentences")
    decisions = read_review_decisions(processed_dir) if use_reviews else None
    # Labels first (cheap): they say which transcripts to read with spaCy.
    probe = participant_units(turns, sentences, unit="sentence", roles=params.coding.roles)
    probe = probe.astype({"transcript_id": str, "turn_id": "int64", "sentence_id": "int64"})
    rows, _labels = label_units(
        probe, human, sentences, coders=coders, codebook=codebook, decisions=decisions
    )
    wanted = sorted(set(probe["transcript_id"].iloc[rows]))
    if not wanted:
        raise QualcodeInputError(
            f"the coding of {', '.join(coders)} falls in no participant sentence", element="--from"
        )
    nlp = nlp if nlp is not None else feature_pipeline(codebook, model=params.spacy_model)
    units = prepare_units(
        turns, sentences, nlp=nlp, codebook=codebook, params=params, transcripts=wanted,
        progress=progress,
    )  # fmt: skip
    rows, labels = label_units(
        units.frame, human, sentences, coders=coders, codebook=codebook, decisions=decisions
    )
    examples = None
    if use_examples:
        found = codebook_examples(codebook)
        if len(found):
            examples = example_units(found, nlp=nlp, codebook=codebook, params=params)
    return TrainingData(
        units=units.subset(rows),
        labels=labels,
        examples=examples,
        codebook=codebook,
        coders=coders,
        n_review_decisions=0 if decisions is None else len(decisions),
    )


def rule_matrix(units: Units, codes: Sequence[str]) -> np.ndarray:
    """RETURNS (ndarray): booleans [n_units, n_codes]: the rule coder gave unit i code j."""
    column = {c: j for j, c in enumerate(codes)}
    out = np.zeros((len(units), len(codes)), dtype=bool)
    for i, coded in enumerate(units.frame["rules"]):
        for code in str(coded).split():
            if code in column:
                out[i, column[code]] = True
    return out


# ---------------------------------------------------------------------------------------------
# Training a model and saving it with its card


MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
CARD_MARKDOWN = "card.md"
CODEBOOK_COPY = "codebook.yml"
TEXTCAT_DIR = "textcat"
VECTORS_NOTE = (
    "en_core_web_sm has no word vectors: the features are lemmas (TF-IDF) of the sentence and "
    "its context (and, as the `rules` block, the rule coder's matches); its tok2vec output (96 "
    "numbers per token, trained for tagging and parsing) is available as the `tok2vec` block."
)


@dataclass
class TrainResult:
    """What `train` wrote."""

    out_dir: Path
    card: dict[str, Any]
    coder: FittedCoder
    data: TrainingData

    @property
    def model_id(self) -> str:
        """RETURNS (str): the id of the model (kind and a hash of the model file)."""
        return str(self.card["model_id"])


def _software() -> dict[str, str]:
    import importlib.metadata

    out = {}
    for name in ("qualcode", "scikit-learn", "spacy", "numpy", "pandas"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "?"
    return out


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_card(
    coder: FittedCoder,
    data: TrainingData,
    *,
    model_id: str,
    params: Params,
    options: dict[str, Any],
    min_examples: int,
    min_transcripts: int,
) -> dict[str, Any]:
    """The model card: what the model was trained on, with what, and how well it does.

    RETURNS (dict): JSON-ready; no timestamps, so the same training gives the same card.
    """
    from qualcode.nlp import model_candidates

    codebook = data.codebook
    units = data.units
    held = coder.held_out.set_index("code_id") if len(coder.held_out) else pd.DataFrame()
    rules = rule_matrix(units, data.labels.codes)
    rule_scores = _scores(rules, data.labels.y, data.labels.known)
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
    owners = data.labels.owners
    spacy_model = "?"
    for candidate in model_candidates(params.spacy_model):
        try:
            import importlib.metadata

            spacy_model = f"{candidate}=={importlib.metadata.version(candidate)}"
            break
        except Exception:  # noqa: BLE001 - any missing metadata leaves "?"
            continue
    return {
        "model_id": model_id,
        "model_version": MODEL_VERSION,
        "kind": coder.kind,
        "features": list(coder.blocks),
        "options": options,
        "seed": coder.seed,
        "unit": "sentence",
        "roles": list(params.coding.roles),
        "training_data": {
            "coders": data.coders,
            "transcripts": {t: owners.get(t, "review") for t in data.transcripts},
            "n_transcripts": len(data.transcripts),
            "n_sentences": len(units),
            "n_coded_sentences": int((data.labels.y & data.labels.known).any(axis=1).sum()),
            "n_codings": int((data.labels.y & data.labels.known).sum()),
            "n_words": int(units.frame["n_words"].sum()),
            "n_codebook_examples": 0 if data.examples is None else len(data.examples),
            "n_review_decisions": data.n_review_decisions,
        },
        "codebook": {
            "version": None if codebook is None else codebook.version,
            "sha256": None if codebook is None else codebook.sha256,
            "n_codes": None if codebook is None else len(codebook),
        },
        "min_examples": min_examples,
        "min_transcripts": min_transcripts,
        "codes_learned": list(coder.codes),
        "codes_left_to_rules": [c["code_id"] for c in codes if not c["trained"]],
        "thresholds": threshold,
        "codes": codes,
        "held_out_micro_f1": _num(
            2
            * coder.held_out["n_both"].sum()
            / max(coder.held_out["n_true"].sum() + coder.held_out["n_coded"].sum(), 1)
            if len(coder.held_out)
            else None
        ),
        "spacy_model": spacy_model,
        "software": _software(),
        "notes": [
            VECTORS_NOTE,
            "Thresholds are chosen per code on held-out folds of whole training transcripts; "
            "the held-out scores here were measured on the predictions the thresholds were "
            "chosen on, so they are optimistic; the cross-fitted F1 codes each fold with "
            "thresholds chosen on the other folds. The rules' F1 is measured on the same "
            "sentences (optimistic where the patterns were tuned on them). `better` compares "
            "the two. `qualcode evaluate` gives leave-one-transcript-out scores.",
        ],
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


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


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move a freshly written folder into place; the previous one goes only once it is there."""
    import os
    import shutil

    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / CARD_FILE).exists())
    ):
        raise QualcodeInputError(
            "expected a new folder or a model folder written by `qualcode train` (it holds "
            f"{CARD_FILE}); refusing to replace it",
            path=out_dir,
        )


def save_model(
    coder: FittedCoder,
    out_dir: Path,
    *,
    card_for: Callable[[str], dict[str, Any]],
    codebook: Codebook | None,
) -> dict[str, Any]:
    """Write a trained coder to a folder: model.joblib (joblib), textcat/ (spaCy's to_disk, for
    a textcat model), codebook.yml (the codebook it was trained with), card.json and card.md.

    The folder is written beside out_dir and renamed into place, so a failed run leaves the
    previous model intact.
    card_for: builds the card from the model id.
    RETURNS (dict): the card.
    """
    import shutil
    import tempfile

    import joblib

    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        nlp = None
        digest = hashlib.sha256()
        if isinstance(coder.model, TextcatModel):
            nlp = coder.model.nlp
            nlp.to_disk(tmp / TEXTCAT_DIR)
            coder.model.nlp = None
            for path in sorted((tmp / TEXTCAT_DIR).rglob("*")):
                if path.is_file():
                    digest.update(path.relative_to(tmp).as_posix().encode())
                    digest.update(path.read_bytes())
        try:
            joblib.dump(
                {"model_version": MODEL_VERSION, "coder": coder}, tmp / MODEL_FILE, compress=3
            )
        finally:
            if nlp is not None:
                coder.model.nlp = nlp
        digest.update((tmp / MODEL_FILE).read_bytes())
        if codebook is not None and codebook.source_path is not None:
            shutil.copyfile(codebook.source_path, tmp / CODEBOOK_COPY)
        model_id = f"{coder.kind}-{digest.hexdigest()[:12]}"
        card = card_for(model_id)
        (tmp / CARD_FILE).write_text(
            json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (tmp / CARD_MARKDOWN).write_text(card_markdown(card), encoding="utf-8")
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        tmp.chmod(0o755)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return card


@dataclass
class LoadedModel:
    """A model folder written by `train`."""

    path: Path
    coder: FittedCoder
    card: dict[str, Any]
    codebook: Codebook | None

    @property
    def model_id(self) -> str:
        """RETURNS (str): the model id of the card."""
        return str(self.card["model_id"])

    @property
    def rule_id(self) -> str:
        """RETURNS (str): the rule_id of the model's codings: `model:<model id>`."""
        return f"{MODEL_CODER}:{self.model_id}"


def load_model(model_dir: Path) -> LoadedModel:
    """Load a model folder written by `qualcode train`.

    Loading runs joblib (pickle): load only model folders you made or trust.
    RETURNS (LoadedModel): the model, its card and the codebook it was trained with.
    """
    import joblib

    from qualcode.coding.codebook import parse_codebook

    model_dir = Path(model_dir)
    card_path = model_dir / CARD_FILE
    model_path = model_dir / MODEL_FILE
    for path in (card_path, model_path):
        if not path.is_file():
            raise QualcodeInputError(
                f"expected a model folder written by `qualcode train` (missing {path.name})",
                path=model_dir,
            )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise QualcodeInputError(f"expected a JSON model card ({err})", path=card_path) from None
    try:
        stored = joblib.load(model_path)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise QualcodeInputError(
            f"cannot load the model ({type(err).__name__}: {err}); train it again",
            path=model_path,
        ) from None
    if not isinstance(stored, dict) or stored.get("model_version") != MODEL_VERSION:
        found = stored.get("model_version") if isinstance(stored, dict) else "?"
        raise QualcodeInputError(
            f"model format {found!r}, expected {MODEL_VERSION!r}; train it again", path=model_path
        )
    coder = stored["coder"]
    if isinstance(coder.model, TextcatModel):
        import spacy

        coder.model.nlp = spacy.load(model_dir / TEXTCAT_DIR)
    codebook = None
    if (model_dir / CODEBOOK_COPY).is_file():
        codebook = parse_codebook(
            (model_dir / CODEBOOK_COPY).read_text(encoding="utf-8"), path=model_dir / CODEBOOK_COPY
        )
    expected = card.get("software", {}).get("scikit-learn")
    current = _software().get("scikit-learn")
    if expected and expected != current:
        log.warning("model trained with scikit-learn %s, running %s", expected, current)
    return LoadedModel(path=model_dir, coder=coder, card=card, codebook=codebook)


def train(
    processed_dir: Path,
    out_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    codebook_path: Path | None = None,
    params: Params | None = None,
    kind: str = "logreg",
    blocks: Sequence[str] = DEFAULT_BLOCKS,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    min_examples: int = MIN_EXAMPLES,
    min_transcripts: int = MIN_TRANSCRIPTS,
    use_examples: bool = True,
    use_reviews: bool = True,
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """`qualcode train`: train a coder on the human coding of processed_dir and write it to
    out_dir with its card.

    RETURNS (TrainResult): the card, the coder and the data it was trained on.
    """
    from qualcode.coding.codebook import load_codebook
    from qualcode.config import load_params

    params = params if params is not None else load_params()
    if kind not in KINDS:
        raise QualcodeInputError(
            f"expected one of {', '.join(KINDS)}, got {kind!r}", element="--kind"
        )
    _check_out_dir(Path(out_dir))
    codebook = load_codebook(codebook_path) if codebook_path is not None else None
    options = {**DEFAULT_OPTIONS.get(kind, {}), **(options or {})}
    data = load_training_data(
        processed_dir,
        coders=coders,
        codebook=codebook,
        params=params,
        use_examples=use_examples,
        use_reviews=use_reviews,
        progress=progress,
    )
    coder = fit_coder(
        data.units,
        data.labels,
        kind=kind,
        blocks=blocks,
        seed=seed,
        options=options,
        min_examples=min_examples,
        min_transcripts=min_transcripts,
        codebook=codebook,
        examples=data.examples,
    )
    card = save_model(
        coder,
        Path(out_dir),
        codebook=codebook,
        card_for=lambda model_id: build_card(
            coder,
            data,
            model_id=model_id,
            params=params,
            options=options,
            min_examples=min_examples,
            min_transcripts=min_transcripts,
        ),
    )
    return TrainResult(out_dir=Path(out_dir), card=card, coder=coder, data=data)


# ---------------------------------------------------------------------------------------------
# Coding with a model


def _typed_codings(rows: list[dict]) -> pd.DataFrame:
    """RETURNS (DataFrame): coding rows with the columns and types the rule coder writes."""
    columns = [*schema.CODINGS_COLUMNS, *schema.EXTRA_CODING_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    version_type = "int64" if frame["codebook_version"].notna().all() else "Int64"
    return frame.astype(
        {
            "transcript_id": object,
            "turn_id": "int64",
            "sentence_id": "Int64",
            "code_id": object,
            "start_char": "int64",
            "end_char": "int64",
            "text": object,
            "coder": object,
            "rule_id": object,
            "score": "float64",
            "codebook_version": version_type,
            "negated": bool,
            "matched": object,
            "cue": object,
            "match_start": "int64",
            "match_end": "int64",
        }
    )


def model_codings(
    frame: pd.DataFrame,
    coded: np.ndarray,
    probs: np.ndarray,
    codes: Sequence[str],
    *,
    rule_id: str,
    codebook_version: int | None,
) -> pd.DataFrame:
    """The model's codings as codings.parquet rows: coder `model`, score = the probability,
    rule_id `model:<model id>`, negated False (the model does not look for negation),
    matched and cue None, match_start/match_end = the sentence.

    RETURNS (DataFrame): the codings columns and the rule coder's extra columns.
    """
    rows = []
    for i, j in zip(*np.nonzero(coded), strict=True):
        unit = frame.iloc[int(i)]
        rows.append(
            {
                "transcript_id": str(unit["transcript_id"]),
                "turn_id": int(unit["turn_id"]),
                "sentence_id": int(unit["sentence_id"]),
                "code_id": codes[int(j)],
                "start_char": int(unit["start_char"]),
                "end_char": int(unit["end_char"]),
                "text": str(unit["text"]),
                "coder": MODEL_CODER,
                "rule_id": rule_id,
                "score": round(float(probs[i, j]), 6),
                "codebook_version": codebook_version,
                "negated": False,
                "matched": None,
                "cue": None,
                "match_start": int(unit["start_char"]),
                "match_end": int(unit["end_char"]),
            }
        )
    out = _typed_codings(rows)
    return out.sort_values(
        ["transcript_id", "turn_id", "sentence_id", "code_id"], kind="stable"
    ).reset_index(drop=True)


@dataclass
class ModelCoding:
    """What `code_with_model` wrote."""

    codings: pd.DataFrame
    codings_path: Path
    model_id: str
    n_units: int
    n_words: int
    n_model: int
    n_rules: int
    rules: Any = None


def apply_model(
    loaded: LoadedModel,
    processed_dir: Path,
    *,
    params: Params,
    transcripts: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Units, np.ndarray, np.ndarray]:
    """Read the participant sentences of processed_dir and score them with a model.

    RETURNS (tuple): the units, the probabilities and the codings [n_units, n_codes] (codes in
        `loaded.coder.codes`).
    """
    turns = schema.read_table(processed_dir, "turns")
    sentences = schema.read_table(processed_dir, "sentences")
    nlp = feature_pipeline(loaded.codebook, model=params.spacy_model)
    units = prepare_units(
        turns, sentences, nlp=nlp, codebook=loaded.codebook, params=params,
        transcripts=transcripts, progress=progress,
    )  # fmt: skip
    probs = loaded.coder.predict_proba(units)
    return units, probs, loaded.coder.decide(probs)


def code_with_model(
    processed_dir: Path,
    model_dir: Path,
    *,
    coder: str = MODEL_CODER,
    codebook_path: Path | None = None,
    params: Params | None = None,
    progress: Callable[[int], None] | None = None,
) -> ModelCoding:
    """`qualcode code --coder model|both`: code every participant sentence with a trained model
    (and with `both` the codebook's rules too) and write codings.parquet.

    With `model`, codings.parquet holds the model's codings only; with `both`, the rule coder's
    rows and the model's rows side by side (the `coder` column says which made each). Quantities
    come from the rule coder (`both`) and are left as they are with `model`.
    RETURNS (ModelCoding): the codings written and what was coded.
    """
    from qualcode.coding.rules import code_corpus
    from qualcode.config import load_params

    if coder not in (MODEL_CODER, "both"):
        raise QualcodeInputError(f"expected model or both, got {coder!r}", element="--coder")
    params = params if params is not None else load_params()
    if params.coding.unit != "sentence":
        raise QualcodeInputError(
            "the learned coder codes sentences; set coding.unit: sentence to use it",
            element="coding.unit",
        )
    processed_dir = Path(processed_dir)
    loaded = load_model(model_dir)
    rules = None
    parts = []
    if coder == "both":
        if codebook_path is None:
            raise QualcodeInputError("`both` needs a codebook for the rules", element="--codebook")
        rules = code_corpus(processed_dir, codebook_path, params=params, progress=progress)
        parts.append(rules.codings[rules.codings["coder"] == "rules"])
    units, probs, coded = apply_model(loaded, processed_dir, params=params, progress=progress)
    version = loaded.card.get("codebook", {}).get("version")
    ours = model_codings(
        units.frame,
        coded,
        probs,
        loaded.coder.codes,
        rule_id=loaded.rule_id,
        codebook_version=version,
    )
    parts.append(ours)
    parts = [p for p in parts if len(p)] or [ours]
    if len({str(p["codebook_version"].dtype) for p in parts}) > 1:
        parts = [p.astype({"codebook_version": "Int64"}) for p in parts]
    codings = pd.concat(parts, ignore_index=True)
    codings = codings.sort_values(
        ["transcript_id", "turn_id", "sentence_id", "code_id", "coder"], kind="stable"
    ).reset_index(drop=True)
    path = processed_dir / schema.TABLE_FILES["codings"]
    schema.write_table(codings, path, columns=schema.CODINGS_COLUMNS)
    return ModelCoding(
        codings=codings,
        codings_path=path,
        model_id=loaded.model_id,
        n_units=len(units),
        n_words=int(units.frame["n_words"].sum()) if len(units) else 0,
        n_model=len(ours),
        n_rules=0 if rules is None else int((codings["coder"] == "rules").sum()),
        rules=rules,
    )


# ---------------------------------------------------------------------------------------------
# Leave-one-transcript-out evaluation

EVALUATION_FILE = "evaluation.csv"
PREDICTIONS_FILE = "evaluation_predictions.parquet"
SUMMARY_FILE = "evaluation_summary.csv"
LEARNING_CURVE_FILE = "evaluation_learning_curve.csv"
ABLATION_FILE = "evaluation_ablation.csv"
FOLDS = ("transcript",)
EVAL_CODERS = ("model", "rules", "both")
ALL = "ALL"
ABLATION = (
    ("sentence only", ("sentence",)),
    ("+ question", ("sentence", "question")),
    ("+ turn", ("sentence", "question", "turn")),
    ("+ section/position", ("sentence", "question", "turn", "position")),
    ("+ rule matches", ("sentence", "question", "turn", "position", "rules")),
)
EVALUATION_COLUMNS = [
    "fold",
    "code_id",
    "coder",
    "learned",
    "n_train_examples",
    "n_units",
    "n_human",
    "n_coded",
    "n_both",
    "precision",
    "recall",
    "f1",
    "kappa",
    "f1_lo",
    "f1_hi",
]


@dataclass(frozen=True)
class FitSettings:
    """How each fold's coder is trained."""

    kind: str = "logreg"
    blocks: tuple[str, ...] = DEFAULT_BLOCKS
    seed: int = 0
    options: tuple[tuple[str, Any], ...] = ()
    min_examples: int = MIN_EXAMPLES
    min_transcripts: int = MIN_TRANSCRIPTS
    inner_folds: int = INNER_FOLDS

    def fit(self, data: TrainingData, rows: np.ndarray) -> FittedCoder:
        """RETURNS (FittedCoder): a coder trained on the given labelled units."""
        return fit_coder(
            data.units.subset(rows),
            data.labels.subset(rows),
            kind=self.kind,
            blocks=self.blocks,
            seed=self.seed,
            options=dict(self.options),
            min_examples=self.min_examples,
            min_transcripts=self.min_transcripts,
            inner_folds=self.inner_folds,
            codebook=data.codebook,
            examples=data.examples,
        )


@dataclass
class FoldResult:
    """The held-out predictions of one fold."""

    fold: str
    train_transcripts: tuple[str, ...]
    rows: np.ndarray
    probs: np.ndarray
    coded: np.ndarray
    learned: np.ndarray
    n_train_examples: np.ndarray


def _run_fold(
    data: TrainingData, settings: FitSettings, fold: str, train_transcripts: Sequence[str]
) -> FoldResult:
    transcripts = data.units.frame["transcript_id"].to_numpy()
    test = np.flatnonzero(transcripts == fold)
    train_mask = np.isin(transcripts, list(train_transcripts))
    # units known only through review decisions (outside the fully coded transcripts) train too
    partial = ~np.isin(transcripts, data.full_transcripts)
    train = np.flatnonzero((train_mask | partial) & (transcripts != fold))
    fitted = settings.fit(data, train)
    n_codes = len(data.labels.codes)
    column = {c: j for j, c in enumerate(data.labels.codes)}
    probs = np.full((len(test), n_codes), np.nan)
    coded = np.zeros((len(test), n_codes), dtype=bool)
    learned = np.zeros(n_codes, dtype=bool)
    n_train = np.zeros(n_codes, dtype=int)
    for row in fitted.counts.itertuples(index=False):
        n_train[column[row.code_id]] = int(row.n_examples)
    if fitted.codes:
        p = fitted.predict_proba(data.units.subset(test))
        d = fitted.decide(p)
        cols = [column[c] for c in fitted.codes]
        probs[:, cols] = p
        coded[:, cols] = d
        learned[cols] = True
    return FoldResult(
        fold=fold,
        train_transcripts=tuple(train_transcripts),
        rows=test,
        probs=probs,
        coded=coded,
        learned=learned,
        n_train_examples=n_train,
    )


def _run_folds(
    data: TrainingData,
    settings: FitSettings,
    tasks: list[tuple[str, tuple[str, ...]]],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[FoldResult]:
    if jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        out = []
        for result in Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_run_fold)(data, settings, fold, train) for fold, train in tasks
        ):
            out.append(result)
            if progress is not None:
                progress(1)
        return out
    out = []
    for fold, train in tasks:
        out.append(_run_fold(data, settings, fold, train))
        if progress is not None:
            progress(1)
    return out


def _counts(coded: np.ndarray, y: np.ndarray, known: np.ndarray) -> np.ndarray:
    """RETURNS (ndarray): per code (both, human only, coder only, neither) [n_codes, 4]."""
    return np.stack(
        [
            (coded & y & known).sum(0),
            (~coded & y & known).sum(0),
            (coded & ~y & known).sum(0),
            (~coded & ~y & known).sum(0),
        ],
        axis=-1,
    )


def _micro_macro(counts: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Micro F1 (pooled over codes) and macro F1 (mean over the codes in `support`).

    counts: [..., n_codes, 4].
    RETURNS (tuple[ndarray, ndarray]): micro and macro F1 over the leading dimensions.
    """
    from qualcode.human.metrics import table_metrics

    pooled = counts.sum(axis=-2)
    micro = table_metrics(pooled)["f1"]
    per_code = table_metrics(counts[..., support, :])["f1"]
    if not per_code.shape[-1]:
        return micro, np.full(np.shape(micro), np.nan)
    # NaN only where a resample holds neither a human coding nor a coding of the code
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        macro = np.nanmean(per_code, axis=-1)
    return micro, macro


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if len(values) < 10:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass
class Evaluation:
    """The leave-one-transcript-out evaluation of the learned coder, with the rule coder and
    their union (`both`) measured on the same held-out transcripts.

    table: evaluation.csv: per fold (held-out transcript, or ALL pooled) and code (or ALL,
        micro-pooled) and coder: counts, precision, recall, F1, kappa; for fold ALL the 95%
        bootstrap interval of F1 over transcripts.
    summary: per coder: micro and macro F1 with 95% intervals, precision, recall.
    predictions: the model's held-out codings (codings.parquet columns).
    learning_curve: micro and macro F1 against the number of training transcripts.
    ablation: micro and macro F1 with each kind of context added in turn.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    predictions: pd.DataFrame
    learning_curve: pd.DataFrame | None
    ablation: pd.DataFrame | None
    transcripts: list[str]
    coders: list[str]
    settings: FitSettings
    too_few: list[str] = field(default_factory=list)

    @property
    def folds(self) -> list[str]:
        """RETURNS (list[str]): the transcripts held out in turn."""
        return sorted(set(self.table["fold"]) - {ALL})


def _score_folds(
    data: TrainingData,
    results: list[FoldResult],
    *,
    n_boot: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Per fold, code and coder counts and metrics; the pooled rows with intervals; summary."""
    from qualcode.human.metrics import table_metrics

    codes = data.labels.codes
    rules_all = rule_matrix(data.units, codes)
    per_coder: dict[str, np.ndarray] = {}
    rows = []
    for coder in EVAL_CODERS:
        fold_counts = []
        for res in results:
            y = data.labels.y[res.rows]
            known = data.labels.known[res.rows]
            rules = rules_all[res.rows]
            coded = {"model": res.coded, "rules": rules, "both": res.coded | rules}[coder]
            fold_counts.append(_counts(coded, y, known))
        per_coder[coder] = np.stack(fold_counts)  # [n_folds, n_codes, 4]
    support = per_coder["rules"].sum(axis=0)[:, :2].sum(axis=1) > 0  # codes people used
    rng = np.random.default_rng(seed)
    n_folds = len(results)
    draws = rng.integers(0, n_folds, size=(n_boot, n_folds)) if n_folds >= 2 else None
    summary = []
    for coder, counts in per_coder.items():
        learned = np.stack([r.learned for r in results]) if coder == "model" else None
        for k, res in enumerate(results):
            fold_metrics = table_metrics(counts[k])
            micro = table_metrics(counts[k].sum(axis=0))
            for j, code in enumerate([*codes, ALL]):
                metric = micro if code == ALL else {m: v[j] for m, v in fold_metrics.items()}
                c = counts[k].sum(axis=0) if code == ALL else counts[k, j]
                rows.append(
                    {
                        "fold": res.fold,
                        "code_id": code,
                        "coder": coder,
                        "learned": (
                            bool(res.learned[j]) if learned is not None and code != ALL else None
                        ),
                        "n_train_examples": (int(res.n_train_examples[j]) if code != ALL else None),
                        "n_units": int(c.sum()),
                        "n_human": int(c[0] + c[1]),
                        "n_coded": int(c[0] + c[2]),
                        "n_both": int(c[0]),
                        "precision": float(metric["precision"]),
                        "recall": float(metric["recall"]),
                        "f1": float(metric["f1"]),
                        "kappa": float(metric["kappa"]),
                        "f1_lo": float("nan"),
                        "f1_hi": float("nan"),
                    }
                )
        total = counts.sum(axis=0)
        pooled = table_metrics(total)
        boot_codes = counts[draws].sum(axis=1) if draws is not None else None  # [B, codes, 4]
        for j, code in enumerate(codes):
            lo = hi = float("nan")
            if boot_codes is not None:
                lo, hi = _interval(table_metrics(boot_codes[:, j])["f1"])
            rows.append(
                {
                    "fold": ALL,
                    "code_id": code,
                    "coder": coder,
                    "learned": (bool(learned[:, j].all()) if learned is not None else None),
                    "n_train_examples": int(np.mean([r.n_train_examples[j] for r in results])),
                    "n_units": int(total[j].sum()),
                    "n_human": int(total[j, 0] + total[j, 1]),
                    "n_coded": int(total[j, 0] + total[j, 2]),
                    "n_both": int(total[j, 0]),
                    "precision": float(pooled["precision"][j]),
                    "recall": float(pooled["recall"][j]),
                    "f1": float(pooled["f1"][j]),
                    "kappa": float(pooled["kappa"][j]),
                    "f1_lo": lo,
                    "f1_hi": hi,
                }
            )
        micro, macro = _micro_macro(total, support)
        all_metrics = table_metrics(total.sum(axis=0))
        micro_ci = macro_ci = (float("nan"), float("nan"))
        if boot_codes is not None:
            b_micro, b_macro = _micro_macro(boot_codes, support)
            micro_ci, macro_ci = _interval(b_micro), _interval(b_macro)
        rows.append(
            {
                "fold": ALL,
                "code_id": ALL,
                "coder": coder,
                "learned": None,
                "n_train_examples": None,
                "n_units": int(total.sum()),
                "n_human": int(total[:, 0].sum() + total[:, 1].sum()),
                "n_coded": int(total[:, 0].sum() + total[:, 2].sum()),
                "n_both": int(total[:, 0].sum()),
                "precision": float(all_metrics["precision"]),
                "recall": float(all_metrics["recall"]),
                "f1": float(micro),
                "kappa": float(all_metrics["kappa"]),
                "f1_lo": micro_ci[0],
                "f1_hi": micro_ci[1],
            }
        )
        summary.append(
            {
                "coder": coder,
                "n_transcripts": n_folds,
                "n_codes": int(support.sum()),
                "micro_f1": float(micro),
                "micro_f1_lo": micro_ci[0],
                "micro_f1_hi": micro_ci[1],
                "macro_f1": float(macro),
                "macro_f1_lo": macro_ci[0],
                "macro_f1_hi": macro_ci[1],
                "precision": float(all_metrics["precision"]),
                "recall": float(all_metrics["recall"]),
            }
        )
    table = pd.DataFrame(rows, columns=EVALUATION_COLUMNS)
    return table, pd.DataFrame(summary), per_coder


def _fold_predictions(
    data: TrainingData, results: list[FoldResult], *, codebook_version: int | None
) -> pd.DataFrame:
    parts = []
    for res in results:
        probs = np.nan_to_num(res.probs, nan=0.0)
        parts.append(
            model_codings(
                data.units.frame.iloc[res.rows].reset_index(drop=True),
                res.coded,
                probs,
                data.labels.codes,
                rule_id=f"{MODEL_CODER}:loto:{res.fold}",
                codebook_version=codebook_version,
            )
        )
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else _typed_codings([])


def learning_curve_tasks(
    transcripts: Sequence[str],
    *,
    sizes: Sequence[int] | None,
    draws: int,
    seed: int,
    folds: Sequence[str] | None = None,
) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """The trainings of the learning curve: for each held-out transcript and each number n of
    training transcripts, `draws` random sets of n of the other transcripts (one when n is all
    of them), seeded.

    RETURNS (list): (n, draw, held-out transcript, training transcripts).
    """
    transcripts = sorted(transcripts)
    n_max = len(transcripts) - 1
    sizes = sorted({n for n in (sizes or range(1, n_max + 1)) if 1 <= n <= n_max})
    tasks = []
    for k, fold in enumerate(transcripts):
        if folds is not None and fold not in folds:
            continue
        others = [t for t in transcripts if t != fold]
        for n in sizes:
            for d in range(1 if n == n_max else draws):
                rng = np.random.default_rng([seed, n, d, k])
                chosen = tuple(sorted(rng.choice(others, size=n, replace=False).tolist()))
                tasks.append((n, d, fold, chosen))
    return tasks


def evaluate(
    processed_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    folds: str = "transcript",
    held_out: Sequence[str] | None = None,
    codebook_path: Path | None = None,
    params: Params | None = None,
    kind: str = "logreg",
    blocks: Sequence[str] = DEFAULT_BLOCKS,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    min_examples: int = MIN_EXAMPLES,
    min_transcripts: int = MIN_TRANSCRIPTS,
    use_examples: bool = True,
    n_boot: int = 1000,
    learning_curve: bool = True,
    curve_sizes: Sequence[int] | None = None,
    curve_draws: int = 2,
    ablation: bool = True,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """`qualcode evaluate`: leave-one-transcript-out evaluation on the human coding.

    For each transcript coded in full by one of `coders`, a coder is trained on the other
    transcripts' coding (thresholds chosen on their held-out folds) and codes it; its codings
    are compared with the transcript's own human coding, and so are the rule coder's and the
    union of both. With `held_out`, only the transcripts of these coders are held out in turn
    (for instance the reference transcripts that the codebook's patterns were never tuned on);
    every other coded transcript still trains. With `learning_curve`, the same with fewer
    training transcripts; with `ablation`, the same with each kind of context added in turn.
    RETURNS (Evaluation): the tables (see `Evaluation`).
    """
    from qualcode.coding.codebook import load_codebook
    from qualcode.config import load_params

    if folds not in FOLDS:
        raise QualcodeInputError(
            f"expected one of {', '.join(FOLDS)}, got {folds!r}", element="--folds"
        )
    if kind not in KINDS:
        raise QualcodeInputError(
            f"expected one of {', '.join(KINDS)}, got {kind!r}", element="--kind"
        )
    params = params if params is not None else load_params()
    codebook = load_codebook(codebook_path) if codebook_path is not None else None
    data = load_training_data(
        processed_dir,
        coders=coders,
        codebook=codebook,
        params=params,
        use_examples=use_examples,
        use_reviews=False,
    )
    transcripts = data.full_transcripts
    if len(transcripts) < 2:
        raise QualcodeInputError(
            f"leave-one-transcript-out needs at least two coded transcripts, found "
            f"{len(transcripts)} ({', '.join(transcripts) or 'none'})",
            element="--from",
        )
    test_transcripts = transcripts
    if held_out:
        from qualcode.human.store import coder_name

        wanted = {coder_name(c) for c in held_out}
        test_transcripts = [t for t in transcripts if data.labels.owners.get(t) in wanted]
        if not test_transcripts:
            raise QualcodeInputError(
                f"none of the coded transcripts is coded by {', '.join(sorted(wanted))}",
                element="--held-out",
            )
    options = {**DEFAULT_OPTIONS.get(kind, {}), **(options or {})}
    settings = FitSettings(
        kind=kind,
        blocks=tuple(b for b in BLOCKS if b in blocks),
        seed=seed,
        options=tuple(sorted(options.items())),
        min_examples=min_examples,
        min_transcripts=min_transcripts,
    )
    loto = [(t, tuple(x for x in transcripts if x != t)) for t in test_transcripts]
    results = _run_folds(data, settings, loto, jobs=jobs, progress=progress)
    table, summary, _ = _score_folds(data, results, n_boot=n_boot, seed=seed)
    version = codebook.version if codebook is not None else None
    predictions = _fold_predictions(data, results, codebook_version=version)
    support = np.zeros(len(data.labels.codes), dtype=bool)
    for res in results:
        support |= (data.labels.y[res.rows] & data.labels.known[res.rows]).any(axis=0)

    curve = None
    if learning_curve:
        tasks = learning_curve_tasks(
            transcripts, sizes=curve_sizes, draws=curve_draws, seed=seed, folds=test_transcripts
        )
        full_n = len(transcripts) - 1
        reuse = {(r.fold, r.train_transcripts): r for r in results}
        todo = [(f, tr) for n, _, f, tr in tasks if (f, tr) not in reuse]
        done = _run_folds(data, settings, todo, jobs=jobs, progress=progress)
        reuse.update({(r.fold, r.train_transcripts): r for r in done})
        rows = []
        for (n, d), group in pd.DataFrame(tasks, columns=["n", "d", "fold", "train"]).groupby(
            ["n", "d"], sort=True
        ):
            counts = np.stack(
                [
                    _counts(
                        reuse[(f, tr)].coded,
                        data.labels.y[reuse[(f, tr)].rows],
                        data.labels.known[reuse[(f, tr)].rows],
                    )
                    for f, tr in zip(group["fold"], group["train"], strict=True)
                ]
            )
            micro, macro = _micro_macro(counts.sum(axis=0), support)
            rows.append(
                {
                    "n_train_transcripts": int(n),
                    "draw": int(d),
                    "n_folds": len(group),
                    "micro_f1": float(micro),
                    "macro_f1": float(macro),
                    "n_codes_learned": float(
                        np.mean(
                            [
                                reuse[(f, tr)].learned.sum()
                                for f, tr in zip(group["fold"], group["train"], strict=True)
                            ]
                        )
                    ),
                    "all_others": bool(n == full_n),
                }
            )
        curve = pd.DataFrame(rows)

    ablation_table = None
    if ablation and kind == "logreg":
        rows = []
        for name, feature_blocks in ABLATION:
            variant = FitSettings(**{**settings.__dict__, "blocks": feature_blocks})
            if variant.blocks == settings.blocks:
                variant_results = results
            else:
                variant_results = _run_folds(data, variant, loto, jobs=jobs, progress=progress)
            _, variant_summary, _ = _score_folds(data, variant_results, n_boot=n_boot, seed=seed)
            model_row = variant_summary[variant_summary["coder"] == "model"].iloc[0]
            rows.append(
                {
                    "features": name,
                    "blocks": " ".join(feature_blocks),
                    **{
                        k: model_row[k]
                        for k in (
                            "micro_f1",
                            "micro_f1_lo",
                            "micro_f1_hi",
                            "macro_f1",
                            "macro_f1_lo",
                            "macro_f1_hi",
                            "precision",
                            "recall",
                        )
                    },  # fmt: skip
                }
            )
        ablation_table = pd.DataFrame(rows)
        ablation_table["micro_f1_gain"] = ablation_table["micro_f1"].diff()
    too_few = sorted(
        {
            code
            for res in results
            for code, ok in zip(data.labels.codes, res.learned, strict=True)
            if not ok
        },
        key=data.labels.codes.index,
    )
    return Evaluation(
        table=table,
        summary=summary,
        predictions=predictions,
        learning_curve=curve,
        ablation=ablation_table,
        transcripts=transcripts,
        coders=data.coders,
        settings=settings,
        too_few=too_few,
    )


def write_evaluation(evaluation: Evaluation, processed_dir: Path) -> list[Path]:
    """Write evaluation.csv, evaluation_predictions.parquet, evaluation_summary.csv and, when
    made, evaluation_learning_curve.csv and evaluation_ablation.csv, atomically.

    RETURNS (list[Path]): the files written.
    """
    processed_dir = Path(processed_dir)

    def csv(frame: pd.DataFrame, name: str) -> Path:
        text = frame.to_csv(index=False, float_format="%.4f", lineterminator="\n")
        return schema.write_text(processed_dir / name, text)

    written = [
        csv(evaluation.table, EVALUATION_FILE),
        schema.write_table(
            evaluation.predictions,
            processed_dir / PREDICTIONS_FILE,
            columns=schema.CODINGS_COLUMNS,
        ),
        csv(evaluation.summary, SUMMARY_FILE),
    ]
    # A learning curve or ablation of an earlier evaluation would no longer match this one.
    for frame, name in (
        (evaluation.learning_curve, LEARNING_CURVE_FILE),
        (evaluation.ablation, ABLATION_FILE),
    ):
        if frame is not None:
            written.append(csv(frame, name))
        else:
            (processed_dir / name).unlink(missing_ok=True)
    return written


def _fmt(value: Any, digits: int = 2) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _with_ci(value: Any, lo: Any, hi: Any) -> str:
    return f"{_fmt(value)} [{_fmt(lo)}..{_fmt(hi)}]"


def evaluation_by_code(table: pd.DataFrame) -> pd.DataFrame:
    """Per code, pooled over the held-out transcripts: the model's F1 against the rules'.

    table: the evaluation table (evaluation.csv).
    RETURNS (DataFrame): code_id, n_human, learned (in every fold), model_f1 (with _lo, _hi),
        rules_f1 (with _lo, _hi), both_f1, gain (model - rules), better ("model", "rules" or
        "tie"); codes people used, in table order.
    """
    pooled = table[(table["fold"] == ALL) & (table["code_id"] != ALL)]
    wide = {}
    for coder in EVAL_CODERS:
        part = pooled[pooled["coder"] == coder].set_index("code_id")
        wide[coder] = part
    model = wide["model"]
    out = pd.DataFrame(
        {
            "code_id": model.index,
            "n_human": model["n_human"].to_numpy(),
            "learned": model["learned"].to_numpy(),
            "n_train_examples": model["n_train_examples"].to_numpy(),
            "model_f1": model["f1"].to_numpy(),
            "model_f1_lo": model["f1_lo"].to_numpy(),
            "model_f1_hi": model["f1_hi"].to_numpy(),
            "model_precision": model["precision"].to_numpy(),
            "model_recall": model["recall"].to_numpy(),
            "rules_f1": wide["rules"].loc[model.index, "f1"].to_numpy(),
            "rules_f1_lo": wide["rules"].loc[model.index, "f1_lo"].to_numpy(),
            "rules_f1_hi": wide["rules"].loc[model.index, "f1_hi"].to_numpy(),
            "both_f1": wide["both"].loc[model.index, "f1"].to_numpy(),
        }
    )
    out = out[out["n_human"] > 0].reset_index(drop=True)
    model_f1 = out["model_f1"].fillna(0.0)
    rules_f1 = out["rules_f1"].fillna(0.0)
    out["gain"] = model_f1 - rules_f1
    out["better"] = np.where(
        np.isclose(model_f1, rules_f1), "tie", np.where(model_f1 > rules_f1, "model", "rules")
    )
    return out


def learning_curve_summary(curve: pd.DataFrame) -> pd.DataFrame:
    """RETURNS (DataFrame): per number of training transcripts: the mean, lowest and highest
    micro F1 (and mean macro F1) over the random draws of training transcripts."""
    if curve is None or curve.empty:
        return pd.DataFrame(
            columns=["n_train_transcripts", "n_draws", "micro_f1", "micro_f1_min",
                     "micro_f1_max", "macro_f1", "n_codes_learned"]
        )  # fmt: skip
    grouped = curve.groupby("n_train_transcripts", sort=True)
    return pd.DataFrame(
        {
            "n_train_transcripts": list(grouped.groups),
            "n_draws": grouped.size().to_numpy(),
            "micro_f1": grouped["micro_f1"].mean().to_numpy(),
            "micro_f1_min": grouped["micro_f1"].min().to_numpy(),
            "micro_f1_max": grouped["micro_f1"].max().to_numpy(),
            "macro_f1": grouped["macro_f1"].mean().to_numpy(),
            "n_codes_learned": grouped["n_codes_learned"].mean().to_numpy(),
        }
    )


def format_evaluation(evaluation: Evaluation) -> str:
    """A plain-text report of an evaluation, for the terminal.

    RETURNS (str): summary, per code against the rules, ablation, learning curve.
    """
    s = evaluation.settings
    folds = evaluation.folds
    lines = [
        f"Leave-one-transcript-out: {len(folds)} of {len(evaluation.transcripts)} transcripts "
        f"coded by {', '.join(evaluation.coders)} held out in turn ({', '.join(folds)}); model "
        f"{s.kind} on {', '.join(s.blocks)}, seed {s.seed}. Sentence level; 95% intervals: "
        "bootstrap over the held-out transcripts.",
        "",
    ]
    summary = pd.DataFrame(
        {
            "coder": evaluation.summary["coder"],
            "micro F1 [95% CI]": [
                _with_ci(r.micro_f1, r.micro_f1_lo, r.micro_f1_hi)
                for r in evaluation.summary.itertuples()
            ],
            "macro F1 [95% CI]": [
                _with_ci(r.macro_f1, r.macro_f1_lo, r.macro_f1_hi)
                for r in evaluation.summary.itertuples()
            ],
            "precision": evaluation.summary["precision"].map(_fmt),
            "recall": evaluation.summary["recall"].map(_fmt),
        }
    )
    lines += [summary.to_string(index=False), ""]
    by_code = evaluation_by_code(evaluation.table)
    if len(by_code):
        shown = pd.DataFrame(
            {
                "code": by_code["code_id"],
                "human": by_code["n_human"],
                "learned": by_code["learned"].map({True: "yes", False: "no"}).fillna("-"),
                "model F1 [95% CI]": [
                    _with_ci(r.model_f1, r.model_f1_lo, r.model_f1_hi) for r in by_code.itertuples()
                ],
                "rules F1 [95% CI]": [
                    _with_ci(r.rules_f1, r.rules_f1_lo, r.rules_f1_hi) for r in by_code.itertuples()
                ],
                "better": by_code["better"],
            }
        )
        lines += [
            "Per code, pooled over the held-out transcripts:",
            shown.to_string(index=False),
            "",
        ]
    if evaluation.ablation is not None:
        ab = evaluation.ablation
        shown = pd.DataFrame(
            {
                "features": ab["features"],
                "micro F1 [95% CI]": [
                    _with_ci(r.micro_f1, r.micro_f1_lo, r.micro_f1_hi) for r in ab.itertuples()
                ],
                "gain": ab["micro_f1_gain"].map(lambda v: "" if pd.isna(v) else f"{v:+.3f}"),
                "macro F1": ab["macro_f1"].map(_fmt),
            }
        )
        lines += ["What each kind of context adds (model):", shown.to_string(index=False), ""]
    if evaluation.learning_curve is not None:
        curve = learning_curve_summary(evaluation.learning_curve)
        shown = pd.DataFrame(
            {
                "training transcripts": curve["n_train_transcripts"],
                "micro F1 (mean)": curve["micro_f1"].map(_fmt),
                "lowest..highest draw": [
                    f"{_fmt(a)}..{_fmt(b)}"
                    for a, b in zip(curve["micro_f1_min"], curve["micro_f1_max"], strict=True)
                ],
                "macro F1": curve["macro_f1"].map(_fmt),
                "codes learned": curve["n_codes_learned"].map(lambda v: f"{v:.1f}"),
            }
        )
        lines += ["Learning curve (model, held-out transcripts):", shown.to_string(index=False), ""]
    if evaluation.too_few:
        lines.append(
            "Not learned in at least one fold (too few coded sentences or transcripts; left to "
            f"the rules): {', '.join(evaluation.too_few)}"
        )
    return "\n".join(lines).rstrip()


# ---------------------------------------------------------------------------------------------
# Review loop: where the model and the rules disagree

REVIEW_COLUMNS = [
    "decision",
    "rank",
    "code_id",
    "proposed_by",
    "confidence",
    "score",
    "threshold",
    "text",
    "question",
    "human",
    "transcript_id",
    "turn_id",
    "sentence_id",
    "model_id",
    "codebook_version",
]
ACCEPT = ("accept", "accepted", "yes", "y", "a", "1", "true", "x")
REJECT = ("reject", "rejected", "no", "n", "r", "0", "false")
REVIEW_DECISION_COLUMNS = [
    "transcript_id",
    "turn_id",
    "sentence_id",
    "code_id",
    "decision",
    "coder",
    "source",
    "line",
    "text",
]


def review_table(
    processed_dir: Path,
    model_dir: Path,
    *,
    params: Params | None = None,
    transcripts: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """The sentences where the model and the rule coder disagree on a code the model learned,
    ranked by the model's confidence.

    Each row proposes that the sentence carries the code (the model or the rules say so, the
    other does not). `confidence` is how sure the model is of its own side, 0..1: (p - t) /
    (1 - t) when it codes the sentence, (t - p) / t when it does not, with p the probability
    and t the code's threshold; the most confident disagreements come first. `human` says what
    the human coding says where a person coded the transcript in full ("yes"/"no"), else "".
    The rules are the codebook the model was trained with. `decision` is left empty, for a
    researcher to write accept or reject.
    RETURNS (DataFrame): REVIEW_COLUMNS.
    """
    from qualcode.config import load_params

    params = params if params is not None else load_params()
    loaded = load_model(model_dir)
    units, probs, coded = apply_model(
        loaded, processed_dir, params=params, transcripts=transcripts, progress=progress
    )
    codes = loaded.coder.codes
    rules = rule_matrix(units, codes)
    human = schema.read_table(processed_dir, "human_codings", required=False)
    human_yes: set[tuple[str, int, int, str]] = set()
    covered: set[str] = set()
    if human is not None and len(human):
        from qualcode.human.store import unit_keys

        full = human[~_is_review(human) & human["coder"].astype(str).str.startswith("human:")]
        covered = set(full["transcript_id"].astype(str))
        if len(full):
            sentences = schema.read_table(processed_dir, "sentences")
            keys = unit_keys(full, sentences, unit="sentence")
            human_yes = set(
                zip(
                    keys["transcript_id"],
                    keys["turn_id"],
                    keys["sentence_id"],
                    keys["code_id"],
                    strict=True,
                )
            )
    frame = units.frame
    rows = []
    thresholds = loaded.coder.thresholds
    for i, j in zip(*np.nonzero(coded != rules), strict=True):
        p, t = float(probs[i, j]), float(thresholds[j])
        by_model = bool(coded[i, j])
        confidence = (p - t) / (1 - t) if by_model else (t - p) / t
        key = (
            frame.at[i, "transcript_id"],
            int(frame.at[i, "turn_id"]),
            int(frame.at[i, "sentence_id"]),
        )
        human_says = ""
        if key[0] in covered:
            human_says = "yes" if (*key, codes[j]) in human_yes else "no"
        rows.append(
            {
                "decision": "",
                "code_id": codes[j],
                "proposed_by": MODEL_CODER if by_model else "rules",
                "confidence": round(float(np.clip(confidence, 0.0, 1.0)), 4),
                "score": round(p, 4),
                "threshold": t,
                "text": frame.at[i, "text"],
                "question": frame.at[i, "question_text"],
                "human": human_says,
                "transcript_id": key[0],
                "turn_id": key[1],
                "sentence_id": key[2],
                "model_id": loaded.model_id,
                "codebook_version": loaded.card.get("codebook", {}).get("version"),
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in REVIEW_COLUMNS if c != "rank"])
    table = table.sort_values(
        ["confidence", "transcript_id", "turn_id", "sentence_id", "code_id"],
        ascending=[False, True, True, True, True],
        kind="stable",
    ).reset_index(drop=True)
    table.insert(1, "rank", np.arange(1, len(table) + 1))
    return table[REVIEW_COLUMNS]


def export_review(table: pd.DataFrame, out_path: Path, *, limit: int | None = None) -> Path:
    """Write a review table as CSV for a researcher to mark: `decision` accept or reject (or
    leave empty to skip).

    limit: keep only the first `limit` rows (the most confident disagreements).
    RETURNS (Path): the file written.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".csv":
        raise QualcodeInputError("expected a .csv file to write", path=out_path)
    shown = table if limit is None else table.head(limit)
    text = shown.to_csv(index=False, lineterminator="\n")
    return schema.write_text(out_path, text)


@dataclass
class ReviewImport:
    """What importing a marked review file did."""

    source: Path
    coder: str
    accepted: int
    rejected: int
    undecided: int
    transcripts: list[str]
    decisions_path: Path | None = None
    codings_path: Path | None = None


def _decision(value: str) -> str | None:
    word = value.strip().lower()
    if not word:
        return ""
    if word in ACCEPT:
        return "accept"
    if word in REJECT:
        return "reject"
    return None


def read_review_csv(path: Path, sentences: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Read a marked review file and check every decided row against sentences.parquet.

    RETURNS (tuple[DataFrame, int]): the decided rows (transcript_id, turn_id, sentence_id,
        code_id, decision, line, text, codebook_version) and the number of undecided rows.
    """
    import csv
    import io

    from qualcode.errors import ManyInputErrors

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QualcodeInputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise QualcodeInputError("expected UTF-8 text", path=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    required = ["decision", "transcript_id", "turn_id", "sentence_id", "code_id"]
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise QualcodeInputError(
            f"missing column(s) {', '.join(missing)}; expected a file written by "
            "`qualcode review export` (found: " + (", ".join(header) or "none") + ")",
            path=path,
            line=1,
        )
    reader.fieldnames = header
    known = {
        (str(t), int(k), int(s)): str(x)
        for t, k, s, x in zip(
            sentences["transcript_id"], sentences["turn_id"], sentences["sentence_id"],
            sentences["text"], strict=True,
        )
    }  # fmt: skip
    errors: list[QualcodeInputError] = []
    rows = []
    undecided = 0
    try:
        records = list(reader)
    except csv.Error as err:
        raise QualcodeInputError(f"expected CSV ({err})", path=path) from None
    for n, record in enumerate(records, start=2):
        record = {k: (v or "") for k, v in record.items() if k is not None}
        decision = _decision(record.get("decision", ""))
        if decision is None:
            errors.append(
                QualcodeInputError(
                    f"decision {record.get('decision')!r}: expected accept or reject (or empty)",
                    path=path,
                    line=n,
                )
            )
            continue
        if decision == "":
            undecided += 1
            continue
        try:
            key = (
                record["transcript_id"].strip(),
                int(record["turn_id"]),
                int(record["sentence_id"]),
            )
        except ValueError:
            errors.append(
                QualcodeInputError(
                    "turn_id and sentence_id must be whole numbers", path=path, line=n
                )
            )
            continue
        code = record.get("code_id", "").strip()
        if not code:
            errors.append(QualcodeInputError("empty code_id", path=path, line=n))
            continue
        sentence = known.get(key)
        if sentence is None:
            errors.append(
                QualcodeInputError(
                    f"no sentence {key[2]} in turn {key[1]} of {key[0]} in sentences.parquet",
                    path=path,
                    line=n,
                )
            )
            continue
        if record.get("text", "").strip() and record["text"].strip() != sentence.strip():
            errors.append(
                QualcodeInputError(
                    f"the text of sentence {key[2]} in turn {key[1]} of {key[0]} changed since "
                    "the export (transcripts ingested again?); export the review again",
                    path=path,
                    line=n,
                )
            )
            continue
        version = record.get("codebook_version", "").strip()
        rows.append(
            {
                "transcript_id": key[0],
                "turn_id": key[1],
                "sentence_id": key[2],
                "code_id": code,
                "decision": decision,
                "line": n,
                "text": sentence,
                "codebook_version": int(float(version)) if version else None,
            }
        )
    if errors:
        raise errors[0] if len(errors) == 1 else ManyInputErrors(errors)
    frame = pd.DataFrame(
        rows,
        columns=["transcript_id", "turn_id", "sentence_id", "code_id", "decision", "line", "text",
                 "codebook_version"],
    )  # fmt: skip
    return frame, undecided


def import_review(path: Path, processed_dir: Path, *, coder: str = "review") -> ReviewImport:
    """`qualcode review import`: take a marked review file into the project.

    Accepted rows become human coding (human_codings.parquet, coder `human:<name>`, source
    `review:<file>`): the sentence carries the code. Rejected rows remove that coder's coding of
    the code on the sentence, if any. Every decision is also kept in review_decisions.parquet
    (the latest decision on a sentence and code wins), which `qualcode train` uses: accepted and
    rejected sentences both teach the model, and the rest of a reviewed transcript stays
    unlabelled (a review is not a full coding of the transcript).
    RETURNS (ReviewImport): counts and the files written.
    """
    from qualcode.human.store import coder_name, finish_rows, write_human_codings

    path = Path(path)
    processed_dir = Path(processed_dir)
    coder = coder_name(coder)
    if not coder.startswith("human:"):
        raise QualcodeInputError(f"expected a person's name, got {coder!r}", element="--coder")
    sentences = schema.read_table(processed_dir, "sentences")
    decided, undecided = read_review_csv(path, sentences)
    result = ReviewImport(
        source=path,
        coder=coder,
        accepted=int((decided["decision"] == "accept").sum()),
        rejected=int((decided["decision"] == "reject").sum()),
        undecided=undecided,
        transcripts=sorted(set(decided["transcript_id"])),
    )
    if decided.empty:
        return result
    # the last row on the same sentence and code wins within the file too
    decided = decided.drop_duplicates(
        ["transcript_id", "turn_id", "sentence_id", "code_id"], keep="last"
    )
    new_decisions = decided.assign(coder=coder, source=path.name)[REVIEW_DECISION_COLUMNS]
    old = read_review_decisions(processed_dir)
    merged = new_decisions
    if old is not None and len(old):
        merged = pd.concat([old[REVIEW_DECISION_COLUMNS], new_decisions], ignore_index=True)
        merged = merged.drop_duplicates(
            ["transcript_id", "turn_id", "sentence_id", "code_id"], keep="last"
        )
    merged = merged.astype(
        {"transcript_id": str, "turn_id": "int64", "sentence_id": "int64", "code_id": str,
         "decision": str, "coder": str, "source": str, "line": "int64", "text": str}
    )  # fmt: skip
    merged = merged.sort_values(["transcript_id", "turn_id", "sentence_id", "code_id"])
    merged = merged.reset_index(drop=True)

    human = schema.read_table(processed_dir, "human_codings", required=False)
    affected = result.transcripts
    kept = []
    if human is not None and len(human):
        mine = human[
            (human["coder"].astype(str) == coder)
            & human["transcript_id"].astype(str).isin(affected)
        ]
        rejected = set(
            decided.loc[
                decided["decision"] == "reject",
                ["transcript_id", "turn_id", "sentence_id", "code_id"],
            ].itertuples(index=False, name=None)
        )
        if len(mine):
            keep = [
                (str(t), int(k), int(s) if not pd.isna(s) else -1, str(c)) not in rejected
                for t, k, s, c in zip(
                    mine["transcript_id"],
                    mine["turn_id"],
                    mine["sentence_id"],
                    mine["code_id"],
                    strict=True,
                )
            ]
            kept.append(mine[keep])
    bounds = sentences.set_index(["transcript_id", "turn_id", "sentence_id"])[
        ["start_char", "end_char"]
    ]
    accepted_rows = []
    for row in decided[decided["decision"] == "accept"].itertuples(index=False):
        start, end = bounds.loc[(row.transcript_id, row.turn_id, row.sentence_id)]
        accepted_rows.append(
            {
                "transcript_id": row.transcript_id,
                "turn_id": row.turn_id,
                "sentence_id": row.sentence_id,
                "code_id": row.code_id,
                "start_char": int(start),
                "end_char": int(end),
                "text": row.text,
                "coder": coder,
                "rule_id": None,
                "score": float("nan"),
                "codebook_version": row.codebook_version,
                "selection_id": f"{path.name}:{row.line}",
                "source": f"{REVIEW_SOURCE_PREFIX}{path.name}",
            }
        )
    columns = [*schema.CODINGS_COLUMNS, *schema.HUMAN_EXTRA_COLUMNS]
    parts = [k[columns] for k in kept if len(k)]
    if accepted_rows:
        parts.append(pd.DataFrame(accepted_rows, columns=columns))
    new = (
        finish_rows(pd.concat(parts, ignore_index=True), codebook_version=None)
        if parts
        else pd.DataFrame(columns=columns)
    )
    result.codings_path = write_human_codings(
        new, processed_dir, replace={(coder, t) for t in affected}
    )
    result.decisions_path = schema.write_table(merged, processed_dir / REVIEW_DECISIONS_FILE)
    return result


# ---------------------------------------------------------------------------------------------
# For notebook 02: the tables `qualcode evaluate` wrote


def _read_csv(processed_dir: Path, name: str) -> pd.DataFrame | None:
    path = Path(processed_dir) / name
    return pd.read_csv(path) if path.exists() else None


def evaluation_summary(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): per coder (model, rules, both) the micro and macro F1 with
    95% intervals, precision and recall on held-out transcripts (evaluation_summary.csv);
    None before `qualcode evaluate` ran."""
    return _read_csv(processed_dir, SUMMARY_FILE)


def evaluation_codes(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): per code the model's F1 against the rules' on held-out
    transcripts (see `evaluation_by_code`); None before `qualcode evaluate` ran."""
    table = _read_csv(processed_dir, EVALUATION_FILE)
    return None if table is None else evaluation_by_code(table)


def learning_curve_table(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): micro F1 against the number of training transcripts (see
    `learning_curve_summary`); None when no learning curve was made."""
    curve = _read_csv(processed_dir, LEARNING_CURVE_FILE)
    return None if curve is None else learning_curve_summary(curve)


def ablation_table(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): micro and macro F1 (with intervals) with each kind of context
    added in turn (evaluation_ablation.csv); None when no ablation was made."""
    return _read_csv(processed_dir, ABLATION_FILE)


# ---------------------------------------------------------------------------------------------
# The learning step of `qualcode run`

STUDY_MODEL_FOLDER = "model"


def study_model_dir(processed_dir: Path) -> Path:
    """RETURNS (Path): where `qualcode run` keeps the model trained on all the human coding."""
    return Path(processed_dir) / STUDY_MODEL_FOLDER


@dataclass
class LearnStep:
    """What the learning step of `qualcode run` did.

    imported: per coder, the rows of human coding imported from its folder.
    evaluation: the leave-one-transcript-out evaluation (None when skipped).
    model_dir: the model trained on all the human coding (None when skipped).
    skipped: why the step was skipped, or "".
    """

    imported: dict[str, int]
    evaluation: Evaluation | None = None
    model_dir: Path | None = None
    card: dict[str, Any] | None = None
    skipped: str = ""


def learn_step(
    processed_dir: Path,
    sources: Sequence[tuple[Path, str]],
    *,
    codebook_path: Path | None,
    raw_dir: Path | None,
    params: Params,
    jobs: int = 2,
    curve_sizes: Sequence[int] = (),
    progress: Callable[[int], None] | None = None,
) -> LearnStep:
    """Import people's coding from its folders (one coder per folder, replacing that coder's
    earlier rows), evaluate the learned coder leave-one-transcript-out (with the ablation of
    the context; with `curve_sizes`, a learning curve over those numbers of training
    transcripts and all of the others), and train it on all of it into processed_dir/model, so
    that the report shows how far automatic coding agrees with people.

    Skipped, with the reason in `skipped`, when no folder holds coding or fewer than two
    transcripts are coded in full. Bad coding files raise QualcodeInputError.
    RETURNS (LearnStep): what was imported, the evaluation and the model.
    """
    from qualcode.human.csv_import import import_csv_folder

    processed_dir = Path(processed_dir)
    imported: dict[str, int] = {}
    coded: set[str] = set()
    for folder, coder in sources:
        result = import_csv_folder(
            Path(folder), processed_dir, coder=coder, codebook_path=codebook_path, raw_dir=raw_dir
        )
        if result is not None:
            imported[coder] = len(result.codings)
            coded.update(result.codings["transcript_id"].astype(str))
    if not imported:
        return LearnStep(imported, skipped="no human coding in " + ", ".join(
            str(folder) for folder, _ in sources))  # fmt: skip
    coders = list(imported)
    n_coded = len(coded)
    if n_coded < 2:
        return LearnStep(
            imported,
            skipped=f"{n_coded} transcript(s) coded by people; the learned coder needs two or more",
        )
    seed = params.report.seed
    evaluation = evaluate(
        processed_dir,
        coders=coders,
        codebook_path=codebook_path,
        params=params,
        seed=seed,
        learning_curve=bool(curve_sizes),
        curve_sizes=[*(n for n in curve_sizes if n < n_coded - 1), n_coded - 1],
        curve_draws=1,
        jobs=jobs,
        progress=progress,
    )
    write_evaluation(evaluation, processed_dir)
    model_dir = study_model_dir(processed_dir)
    trained = train(
        processed_dir, model_dir, coders=coders, codebook_path=codebook_path, params=params,
        seed=seed,
    )  # fmt: skip
    return LearnStep(imported, evaluation=evaluation, model_dir=model_dir, card=trained.card)
