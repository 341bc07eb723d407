"""The models the learned coder can train: logistic regression per code over the feature blocks
(`LinearModel`, the default) and spaCy's textcat_multilabel (`TextcatModel`). Both learn from
partial labels: `known[i, j]` says whether unit i's label for code j is known.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from spacy.language import Language

from qualcode.config import FEATURE_BLOCKS, LearnedParams
from qualcode.learned.features import (
    FeaturePart,
    Units,
    fit_parts,
    make_featurizer,
    parts_from_state,
    parts_state,
    transform_parts,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class LinearCoder:
    """One logistic regression per code (liblinear, balanced class weights) over the features.

    liblinear solves the dual problem: the features (TF-IDF of uni- and bigrams of the sentence
    and its context) far outnumber the training sentences, where its dual coordinate descent
    reaches the same optimum as the primal Newton method many times faster (the turn block
    makes the primal problem ill-conditioned: the sentences of a turn share its lemmas).

    Only the weights are kept (`coef` [n_codes, n_features], `intercept` [n_codes]); a code
    whose training units are all of one class gets a constant probability.

    Hand-written rather than scikit-learn's OneVsRestClassifier: each code is fitted on the
    units whose label for that code is known (`known[:, j]`), a different set per code where a
    review decision or a codebook example labels one code of a sentence and not the others;
    OneVsRestClassifier fits every code on every row.
    """

    def __init__(self, *, c: float, seed: int, balanced: bool) -> None:
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
                dual=True,
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
    """The features of `make_featurizer` and one logistic regression per code (`LinearCoder`).

    After `fit`, the fitted featurizer is kept as its parts (`parts`), which `state` and
    `from_state` turn into plain values and back (JSON and arrays; the model folder holds them).
    """

    kind = "logreg"

    def __init__(self, settings: LearnedParams, *, seed: int) -> None:
        self.blocks = tuple(b for b in FEATURE_BLOCKS if b in settings.features)
        self.weights = settings.block_weights
        self.position_bins = settings.position_bins
        self.coder = LinearCoder(c=settings.c, seed=seed, balanced=settings.balanced)
        self.parts: list[FeaturePart] = []

    def fit(self, units: Units, y: np.ndarray, known: np.ndarray) -> LinearModel:
        """Fit the features and the per-code models. RETURNS (LinearModel)."""
        featurizer = make_featurizer(
            self.blocks, weights=self.weights, position_bins=self.position_bins
        )
        if "rules" in self.blocks and not units.frame["rules"].str.strip().any():
            # no training sentence has a rule match: the block has no columns to add
            featurizer.set_params(rules="drop")
        self.parts = fit_parts(featurizer, units)
        self.coder.fit(self.features(units), y, known)
        return self

    def features(self, units: Units) -> sp.csr_matrix:
        """RETURNS (csr_matrix): the features of the units [n_units, n_features]."""
        return transform_parts(self.parts, units.features_frame(), units.counts)

    def predict_proba(self, units: Units) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes]."""
        return self.coder.predict_proba(self.features(units))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as plain values: the blocks, the featurizer's parts (vocabularies,
        weights) and the coder's settings as JSON; idf values, scaler statistics and the
        per-code coefficients as arrays.

        RETURNS (tuple[dict, dict[str, ndarray]]): the JSON description and the arrays.
        """
        parts, arrays = parts_state(self.parts)
        described = {
            "blocks": list(self.blocks),
            "position_bins": self.position_bins,
            "c": self.coder.c,
            "seed": self.coder.seed,
            "balanced": self.coder.balanced,
            "parts": parts,
        }
        # an untrained model (no code to learn) has no coefficients
        coef = self.coder.coef if self.coder.coef is not None else np.zeros((0, 0))
        intercept = self.coder.intercept if self.coder.intercept is not None else np.zeros(0)
        arrays = {**arrays, "coef": coef, "intercept": intercept}
        return described, arrays

    @classmethod
    def from_state(cls, described: dict[str, Any], arrays: Any) -> LinearModel:
        """RETURNS (LinearModel): the fitted model of `state`'s values."""
        model = cls.__new__(cls)
        model.blocks = tuple(str(b) for b in described["blocks"])
        model.position_bins = int(described["position_bins"])
        model.weights = None
        model.parts = parts_from_state(
            described["parts"], arrays, position_bins=model.position_bins
        )
        model.coder = LinearCoder(
            c=float(described["c"]),
            seed=int(described["seed"]),
            balanced=bool(described["balanced"]),
        )
        model.coder.coef = np.asarray(arrays["coef"], dtype=np.float64)
        model.coder.intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        return model


class TextcatModel:
    """spaCy's `textcat_multilabel` (bag-of-words uni- and bigrams, `spacy.TextCatBOW.v3`) trained
    on the sentence text, or with the `question` block on the preceding interviewer question
    and the sentence. Units whose label is unknown for a code leave that code out of their
    example (spaCy treats it as missing).

    The spaCy pipeline (`nlp`) is saved apart by spaCy's own `to_disk` (see
    qualcode.learned.store); `state` and `from_state` give the rest as plain values.
    """

    kind = "textcat"

    def __init__(self, settings: LearnedParams, *, seed: int) -> None:
        self.seed = seed
        self.epochs = settings.textcat_epochs
        self.batch_size = settings.textcat_batch_size
        self.length = settings.textcat_length
        self.dropout = settings.textcat_dropout
        self.context = "question" in settings.features
        self.labels: list[str] = []
        self.nlp: Language | None = None

    _SETTINGS = ("seed", "epochs", "batch_size", "length", "dropout", "context", "labels")

    def state(self) -> dict[str, Any]:
        """RETURNS (dict): the model's settings and labels as plain values (JSON); the spaCy
        pipeline is saved apart."""
        return {name: getattr(self, name) for name in self._SETTINGS}

    @classmethod
    def from_state(cls, described: dict[str, Any], nlp: Language) -> TextcatModel:
        """RETURNS (TextcatModel): the trained model of `state`'s values and its pipeline."""
        model = cls.__new__(cls)
        model.seed = int(described["seed"])
        model.epochs = int(described["epochs"])
        model.batch_size = int(described["batch_size"])
        model.length = int(described["length"])
        model.dropout = float(described["dropout"])
        model.context = bool(described["context"])
        model.labels = [str(label) for label in described["labels"]]
        model.nlp = nlp
        return model

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
                nlp.update(batch, sgd=optimizer, drop=self.dropout)
        self.nlp = nlp
        return self

    def predict_proba(self, units: Units) -> np.ndarray:
        """RETURNS (ndarray): probabilities [n_units, n_codes]."""
        texts = self._texts(units)
        out = np.zeros((len(texts), len(self.labels)))
        for i, doc in enumerate(self.nlp.pipe(texts, batch_size=256)):
            out[i] = [doc.cats.get(label, 0.0) for label in self.labels]
        return out


MODELS: dict[str, type[LinearModel] | type[TextcatModel]] = {
    "logreg": LinearModel,
    "textcat": TextcatModel,
}


def make_model(settings: LearnedParams, *, seed: int) -> LinearModel | TextcatModel:
    """RETURNS (LinearModel | TextcatModel): an untrained model of `settings.kind`."""
    return MODELS[settings.kind](settings, seed=seed)
