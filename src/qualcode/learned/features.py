"""What the learned coder sees of a sentence: the participant sentences read with spaCy, each with
its context (`Units`), and the featurizer that turns them into one sparse matrix.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from spacy.language import Language

from qualcode.coding.codebook import Codebook
from qualcode.coding.rules import CodingUnit, build_coder
from qualcode.config import FEATURE_BLOCKS, BlockWeights, Params
from qualcode.learned.readings import (
    Reading,
    ReadingCache,
    read_transcript,
    reading_digest,
    reading_settings,
)
from qualcode.units import participant_units

_PSEUDONYM_RE = re.compile(r"^\[?([A-Z]+)_\d+\]?$")


def lemma_text(tokens: Iterable[Any]) -> str:
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
    """

    frame: pd.DataFrame
    tok2vec: np.ndarray
    # per TF-IDF part (`sentence`, `question`, `turn`, `near`): its column's n-gram counts, over
    # a vocabulary shared with the units they are concatenated with (see `with_counts`); the
    # featurizer fits and transforms from them instead of counting the texts again
    counts: dict[str, TermCounts] | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, rows: np.ndarray) -> Units:
        """RETURNS (Units): the units at the given positions (or boolean mask)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        counts = None
        if self.counts is not None:
            counts = {k: TermCounts(c.terms, c.matrix[rows]) for k, c in self.counts.items()}
        return Units(
            frame=self.frame.iloc[rows].reset_index(drop=True),
            tok2vec=self.tok2vec[rows],
            counts=counts,
        )

    def features_frame(self) -> pd.DataFrame:
        """RETURNS (DataFrame): the frame with a `tok2vec` column (one vector per row), what
        the featurizer reads."""
        return self.frame.assign(tok2vec=list(self.tok2vec))


def concat_units(a: Units, b: Units) -> Units:
    """RETURNS (Units): the units of a, then those of b (with their counts when both have them
    over the same vocabularies)."""
    import scipy.sparse as sp

    frame = pd.concat([a.frame, b.frame], ignore_index=True)
    width = max(a.tok2vec.shape[1], b.tok2vec.shape[1])

    def pad(m: np.ndarray) -> np.ndarray:
        return m if m.shape[1] == width else np.zeros((len(m), width), dtype=np.float32)

    counts = None
    shared = (
        a.counts is not None
        and b.counts is not None
        and a.counts.keys() == b.counts.keys()
        and all(a.counts[k].terms is b.counts[k].terms for k in a.counts)
    )
    if shared:
        counts = {
            k: TermCounts(c.terms, sp.vstack([c.matrix, b.counts[k].matrix]).tocsr())
            for k, c in a.counts.items()
        }
    return Units(frame=frame, tok2vec=np.vstack([pad(a.tok2vec), pad(b.tok2vec)]), counts=counts)


@dataclass
class TermCounts:
    """The n-gram counts of one text column: `terms` sorted (as scikit-learn's vocabulary),
    `matrix` [n_units, n_terms] (float32 CSR, as CountVectorizer gives them)."""

    terms: np.ndarray
    matrix: Any


def with_counts(units: Units, examples: Units | None = None) -> tuple[Units, Units | None]:
    """The units (and the codebook's examples) with the n-gram counts of each TF-IDF part's
    column over one vocabulary, so that coders trained on many subsets of them (the folds of
    the evaluation) count the texts once. A TF-IDF part fitted from these counts has the
    vocabulary, idf and output it would have fitted from the texts (see `fit_tfidf_part`).

    RETURNS (tuple[Units, Units | None]): the units and the examples, with their counts.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    n = len(units)
    frames = [units.frame] if examples is None else [units.frame, examples.frame]
    counts_a: dict[str, TermCounts] = {}
    counts_b: dict[str, TermCounts] = {}
    for name, ngrams in _TFIDF_NGRAMS.items():
        column = _TFIDF_COLUMNS[name]
        texts = pd.concat([f[column] for f in frames], ignore_index=True)
        counter = _tfidf(ngrams)
        vectorizer = CountVectorizer(**{k: v for k, v in counter.get_params().items()
                                        if k in CountVectorizer().get_params()})  # fmt: skip
        matrix = vectorizer.fit_transform(texts)
        matrix.sort_indices()
        terms = vectorizer.get_feature_names_out()
        counts_a[name] = TermCounts(terms, matrix[:n])
        counts_b[name] = TermCounts(terms, matrix[n:])
    out = dataclasses.replace(units, counts=counts_a)
    if examples is None:
        return out, None
    return out, dataclasses.replace(examples, counts=counts_b)


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
# Reading sentences with spaCy


def feature_pipeline(codebook: Codebook | None, *, model: str = "en_core_web_sm") -> Language:
    """The spaCy pipeline the learned coder reads sentences with: the rule coder's pipeline
    (tagger, attribute ruler, lemmatizer, the codebook's SpanRuler, and the parser only on the
    sentences whose coding reads it; no NER).

    RETURNS (Language): the pipeline.
    """
    return build_coder(
        codebook if codebook is not None else Codebook(version=0, codes=()), model=model
    )


def _turn_context(turns: pd.DataFrame) -> pd.DataFrame:
    """Per turn: the interviewer turn before it (`question_text`), its section and its relative
    position in the interview (0..1).

    RETURNS (DataFrame): indexed by (transcript_id, turn_id).
    """
    turns = turns.astype({"transcript_id": str}).sort_values(["transcript_id", "turn_id"])
    rows = []
    for tid, group in turns.groupby("transcript_id", sort=True):
        last = ""
        n = len(group)
        for rank, row in enumerate(group.itertuples(index=False)):
            section = row.section if isinstance(row.section, str) and row.section else "none"
            rows.append((str(tid), int(row.turn_id), last, section, rank / max(n - 1, 1)))
            if row.role == "interviewer":
                last = row.text if isinstance(row.text, str) else ""
    columns = ["transcript_id", "turn_id", "question_text", "section", "position"]
    return pd.DataFrame(rows, columns=columns).set_index(["transcript_id", "turn_id"])


def _neighbours(frame: pd.DataFrame) -> pd.DataFrame:
    """Per sentence, the lemmas of the rest of its turn (`turn`) and of the sentences just
    before and after (`near`), its place in the turn (`sent_index`) and the turn's length.

    RETURNS (DataFrame): aligned with frame.
    """
    lemmas = frame["lemmas"].tolist()
    out = pd.DataFrame({"turn": "", "near": "", "sent_index": 0, "n_sents": 1}, index=frame.index)
    for idx in frame.groupby(["transcript_id", "turn_id"], sort=False).indices.values():
        idx = sorted(idx, key=lambda i: frame.at[i, "sentence_id"])
        for k, i in enumerate(idx):
            out.at[i, "turn"] = " ".join(lemmas[j] for j in idx if j != i)
            out.at[i, "near"] = " ".join(lemmas[j] for j in idx[max(k - 1, 0) : k + 2] if j != i)
            out.at[i, "sent_index"] = k
            out.at[i, "n_sents"] = len(idx)
    return out


def prepare_units(
    turns: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    nlp: Language | Callable[[], Language],
    codebook: Codebook | None,
    params: Params,
    transcripts: Iterable[str] | None = None,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
    cache: ReadingCache | None = None,
) -> Units:
    """Read the participant sentences (params `coding.roles`) with spaCy and gather their context.

    Each transcript is read on its own (`readings.read_transcript`): its sentences, then the
    interviewer questions before them.
    nlp: the pipeline (`feature_pipeline`), or a function giving it (the same one at every
        call, as `data._lazy_pipeline` does), called only when a transcript is to be read with
        spaCy (with a `cache`, not when every one is kept).
    transcripts: only these transcripts (all when None).
    cache: where each transcript's reading is kept by the digest of its inputs: a transcript
        kept there is not read again (the units are the same as read afresh).
    RETURNS (Units): the sentences with their context and the codes the rule coder gave them.
    """
    if transcripts is not None:
        wanted = set(transcripts)
        turns = turns[turns["transcript_id"].astype(str).isin(wanted)]
        sentences = sentences[sentences["transcript_id"].astype(str).isin(wanted)]
    units = participant_units(turns, sentences, unit="sentence", roles=params.coding.roles)
    frame = units.reset_index(drop=True).astype(
        {"transcript_id": str, "turn_id": "int64", "sentence_id": "int64"}
    )
    context = _turn_context(turns).reindex(
        pd.MultiIndex.from_frame(frame[["transcript_id", "turn_id"]])
    )
    frame["question_text"] = context["question_text"].fillna("").to_numpy()
    frame["section"] = context["section"].fillna("none").to_numpy()
    frame["position"] = context["position"].fillna(0.0).to_numpy()

    refs = [
        CodingUnit(r.transcript_id, r.turn_id, r.sentence_id, int(r.start_char), int(r.end_char),
                 str(r.text))
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    pipeline = (lambda: nlp) if isinstance(nlp, Language) else nlp
    settings = reading_settings(codebook=codebook, params=params) if cache is not None else ""
    groups = frame.groupby("transcript_id", sort=False).indices
    readings: list[tuple[np.ndarray, Reading]] = []
    for rows in groups.values():
        mine = [refs[i] for i in rows]
        questions = sorted(set(frame["question_text"].iloc[rows]) - {""})
        digest = reading_digest(settings, mine, questions) if cache is not None else ""
        reading = cache.get(digest, len(mine)) if cache is not None else None
        if reading is None:
            reading = read_transcript(
                pipeline(), mine, questions, codebook=codebook, params=params,
                batch_size=batch_size,
            )  # fmt: skip
            if cache is not None:
                cache.put(digest, reading)
        readings.append((rows, reading))
        if progress is not None:
            progress(len(rows))
    width = max((r.tok2vec.shape[1] for _, r in readings), default=0)
    tok2vec = np.zeros((len(frame), width), dtype=np.float32)
    lemmas = [""] * len(frame)
    rules = [""] * len(frame)
    question = [""] * len(frame)
    question_text = frame["question_text"].tolist()
    for rows, reading in readings:
        tok2vec[rows, : reading.tok2vec.shape[1]] = reading.tok2vec
        for i, lemma, coded in zip(rows, reading.lemmas, reading.rules, strict=True):
            lemmas[i] = lemma
            rules[i] = coded
            question[i] = reading.questions.get(question_text[i], "")
    frame["lemmas"] = lemmas
    frame["question"] = question
    frame = frame.join(_neighbours(frame))
    frame["n_words"] = frame["text"].str.split().str.len().fillna(0).astype(int)
    frame["rules"] = rules
    return Units(frame=frame, tok2vec=tok2vec)


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


def _position_features(frame: pd.DataFrame, *, bins: int) -> list[dict[str, float]]:
    out = []
    for section, position, index, n in zip(
        frame["section"], frame["position"], frame["sent_index"], frame["n_sents"], strict=True
    ):
        bin_ = min(int(float(position) * bins), bins - 1)
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


def _rule_features(codes: pd.Series) -> list[dict[str, float]]:
    return [{f"rule={code}": 1.0 for code in str(coded).split()} for coded in codes]


def _stack(vectors: pd.Series) -> np.ndarray:
    return np.vstack(vectors.to_list())


def make_featurizer(blocks: Sequence[str], *, weights: BlockWeights, position_bins: int) -> Any:
    """The featurizer of the learned coder: a scikit-learn ColumnTransformer over
    `Units.features_frame()` with a part per kind of context, each scaled by its block weight.

    Blocks: `sentence` (TF-IDF of the sentence's lemma uni- and bigrams), `question` (TF-IDF of
    the preceding interviewer turn's lemma uni- and bigrams), `turn` (TF-IDF of the lemmas of
    the rest of the turn, and apart of the neighbouring sentences), `position` (the section,
    the position of the turn in the interview in `position_bins` bins, first/last sentence of
    the turn), `rules` (the codes the rule coder gave the sentence), `tok2vec` (the mean of
    spaCy's tok2vec output over the sentence, standardised).
    RETURNS (ColumnTransformer): unfitted; its output is sparse.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    unknown = [b for b in blocks if b not in FEATURE_BLOCKS]
    if unknown:
        raise ValueError(f"unknown feature block(s) {unknown}; expected some of {FEATURE_BLOCKS}")
    parts = {
        "sentence": [("sentence", _tfidf((1, 2)), "lemmas")],
        "question": [("question", _tfidf((1, 2)), "question")],
        "turn": [("turn", _tfidf((1, 1)), "turn"), ("near", _tfidf((1, 1)), "near")],
        "position": [
            (
                "position",
                make_pipeline(
                    FunctionTransformer(_position_features, kw_args={"bins": position_bins}),
                    DictVectorizer(dtype=np.float32),
                ),
                ["section", "position", "sent_index", "n_sents"],
            )
        ],
        "rules": [
            (
                "rules",
                make_pipeline(
                    FunctionTransformer(_rule_features), DictVectorizer(dtype=np.float32)
                ),
                "rules",
            )
        ],
        "tok2vec": [
            ("tok2vec", make_pipeline(FunctionTransformer(_stack), StandardScaler()), "tok2vec")
        ],
    }
    chosen = [(block, part) for block in FEATURE_BLOCKS if block in blocks for part in parts[block]]
    return ColumnTransformer(
        [part for _, part in chosen],
        transformer_weights={part[0]: getattr(weights, block) for block, part in chosen},
        sparse_threshold=1.0,
    )


# ---------------------------------------------------------------------------------------------
# The fitted featurizer, and its state as plain values (what the model folder keeps)

_TFIDF_NGRAMS = {"sentence": (1, 2), "question": (1, 2), "turn": (1, 1), "near": (1, 1)}
_TFIDF_COLUMNS = {"sentence": "lemmas", "question": "question", "turn": "turn", "near": "near"}


@dataclass
class FeaturePart:
    """One fitted part of the featurizer: its name (`sentence`, `near`, `position`, ...), the
    column(s) of `Units.features_frame()` it reads, its block weight and the fitted transformer.

    from_counts: for a TF-IDF part fitted from `Units.counts`, their terms and the columns of
        them that are its vocabulary (so that it transforms from counts over the same terms).
    """

    name: str
    columns: str | list[str]
    weight: float | None
    transformer: Any
    from_counts: tuple[np.ndarray, np.ndarray] | None = None


def fit_parts(featurizer: Any, units: Units) -> list[FeaturePart]:
    """Fit the parts of an unfitted featurizer (`make_featurizer`) on the units, as its own `fit`
    would: a TF-IDF part from the units' counts when they have them (the terms present in these
    units, sorted, are its vocabulary, and their document frequencies its idf: what fitting on
    the texts gives), every other part on the units' frame.

    RETURNS (list[FeaturePart]): the fitted parts, in the featurizer's order.
    """
    from sklearn.base import clone
    from sklearn.feature_extraction.text import TfidfTransformer

    if units.counts is None:
        featurizer.fit(units.features_frame())
        return fitted_parts(featurizer)
    frame = units.features_frame()
    weights = featurizer.transformer_weights or {}
    parts = []
    for name, transformer, columns in featurizer.transformers:
        if isinstance(transformer, str):  # "drop"
            continue
        transformer = clone(transformer)
        counts = units.counts.get(name)
        present = None if counts is None else np.flatnonzero(counts.matrix.getnnz(axis=0) > 0)
        if present is None or not len(present):
            # no counts, or no term at all: fitted on the texts (which says what is wrong)
            fitted = transformer.fit(frame[columns])
            parts.append(FeaturePart(name, columns, weights.get(name), fitted))
            continue
        transformer.vocabulary_ = {str(t): i for i, t in enumerate(counts.terms[present])}
        transformer.fixed_vocabulary_ = False
        transformer._tfidf = TfidfTransformer(
            norm=transformer.norm,
            use_idf=transformer.use_idf,
            smooth_idf=transformer.smooth_idf,
            sublinear_tf=transformer.sublinear_tf,
        ).fit(_columns(counts.matrix, present))
        parts.append(
            FeaturePart(name, columns, weights.get(name), transformer, (counts.terms, present))
        )
    return parts


def _columns(matrix: Any, columns: np.ndarray) -> Any:
    """RETURNS (csr_matrix): the given columns of a CSR matrix, a copy with sorted indices."""
    out = matrix[:, columns].tocsr()
    out.sort_indices()
    return out


def fitted_parts(featurizer: Any) -> list[FeaturePart]:
    """The parts of a fitted featurizer (`make_featurizer`), in the order of its output columns,
    leaving out those set to "drop".

    RETURNS (list[FeaturePart]): the parts.
    """
    weights = featurizer.transformer_weights or {}
    return [
        FeaturePart(name, columns, weights.get(name), transformer)
        for name, transformer, columns in featurizer.transformers_
        if name != "remainder" and not isinstance(transformer, str)
    ]


def transform_parts(
    parts: Sequence[FeaturePart], frame: pd.DataFrame, counts: dict[str, TermCounts] | None = None
) -> Any:
    """The features of a frame: each part's output times its weight, side by side (as
    scikit-learn's ColumnTransformer gives them).

    counts: the frame's `Units.counts`: a TF-IDF part fitted from counts over the same terms
        transforms them instead of counting the texts (the same output).
    RETURNS (csr_matrix): [n_rows, n_features].
    """
    import scipy.sparse as sp

    out = []
    for part in parts:
        found = None if counts is None else counts.get(part.name)
        if (
            found is not None
            and part.from_counts is not None
            and found.terms is part.from_counts[0]
        ):
            # as TfidfVectorizer.transform: the counts of its vocabulary, then tf-idf
            matrix = _columns(found.matrix, part.from_counts[1])
            block = part.transformer._tfidf.transform(matrix, copy=False)
        else:
            block = part.transformer.transform(frame[part.columns])
        if part.weight is not None:
            block = block * part.weight
        out.append(block if sp.issparse(block) else sp.csr_matrix(block))
    if not out:
        return sp.csr_matrix((len(frame), 0), dtype=np.float32)
    return sp.hstack(out).tocsr()


def parts_state(parts: Sequence[FeaturePart]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The fitted parts as plain values: per part its name, columns, weight and vocabulary (JSON),
    and its numbers (TF-IDF idf, the scaler's mean and scale) as arrays named `<part>.<what>`.

    RETURNS (tuple[list[dict], dict[str, ndarray]]): the JSON description and the arrays.
    """
    described, arrays = [], {}
    for part in parts:
        entry: dict[str, Any] = {
            "name": part.name,
            "columns": part.columns,
            "weight": part.weight,
        }
        if part.name in _TFIDF_NGRAMS:
            vocabulary = part.transformer.vocabulary_
            entry["vocabulary"] = sorted(vocabulary, key=vocabulary.__getitem__)
            arrays[f"{part.name}.idf"] = np.asarray(part.transformer.idf_, dtype=np.float64)
        elif part.name in ("position", "rules"):
            entry["feature_names"] = list(part.transformer[-1].feature_names_)
        elif part.name == "tok2vec":
            scaler = part.transformer[-1]
            arrays[f"{part.name}.mean"] = scaler.mean_
            arrays[f"{part.name}.scale"] = scaler.scale_
            arrays[f"{part.name}.var"] = scaler.var_
            entry["n_samples_seen"] = int(np.max(scaler.n_samples_seen_))
        else:
            raise ValueError(f"unknown feature part {part.name!r}")
        described.append(entry)
    return described, arrays


def parts_from_state(
    described: Sequence[dict[str, Any]], arrays: Any, *, position_bins: int
) -> list[FeaturePart]:
    """Rebuild the fitted parts from `parts_state`'s values: fresh transformers of
    `make_featurizer` given the fitted vocabularies and numbers (nothing is unpickled).

    arrays: a mapping of the arrays' names to arrays (as `numpy.load` gives).
    RETURNS (list[FeaturePart]): the parts.
    """
    template = make_featurizer(FEATURE_BLOCKS, weights=BlockWeights(), position_bins=position_bins)
    fresh = {name: transformer for name, transformer, _ in template.transformers}
    parts = []
    for entry in described:
        name = entry["name"]
        if name not in fresh:
            raise ValueError(f"unknown feature part {name!r}")
        transformer = fresh[name]
        if name in _TFIDF_NGRAMS:
            terms = [str(t) for t in entry["vocabulary"]]
            idf = np.asarray(arrays[f"{name}.idf"], dtype=np.float64)
            if len(idf) != len(terms):
                raise ValueError(f"{name}: {len(terms)} terms but {len(idf)} idf values")
            transformer.vocabulary_ = {t: i for i, t in enumerate(terms)}
            transformer.idf_ = idf
            transformer._tfidf.n_features_in_ = len(terms)
        elif name in ("position", "rules"):
            names = [str(n) for n in entry["feature_names"]]
            vectorizer = transformer[-1]
            vectorizer.feature_names_ = names
            vectorizer.vocabulary_ = {n: i for i, n in enumerate(names)}
        else:
            scaler = transformer[-1]
            scaler.mean_ = np.asarray(arrays[f"{name}.mean"])
            scaler.scale_ = np.asarray(arrays[f"{name}.scale"])
            scaler.var_ = np.asarray(arrays[f"{name}.var"])
            scaler.n_features_in_ = len(scaler.mean_)
            scaler.n_samples_seen_ = int(entry["n_samples_seen"])
        columns = entry["columns"]
        weight = entry["weight"]
        parts.append(
            FeaturePart(
                name=name,
                columns=[str(c) for c in columns] if isinstance(columns, list) else str(columns),
                weight=None if weight is None else float(weight),
                transformer=transformer,
            )
        )
    return parts
