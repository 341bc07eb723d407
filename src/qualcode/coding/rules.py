"""Rule-based theme coding with spaCy: the codebook's patterns applied to participant sentences.

The codebook's patterns become a spaCy SpanRuler in a copy of the English pipeline: it matches
`phrases` on lemmas (lower-cased by a small component, so matching is case-insensitive) and on
lower-case words, and the `tokens` patterns (spaCy Matcher patterns). Every match is a span in
`doc.spans["qualcode"]` labelled with its code id, its rule id in `span.id_`. Every unit goes
through tok2vec, the tagger, the attribute ruler and the lemmatizer (what lemmas need); the
parser only through the units whose coding reads it (`qualcode.coding.parse`), the named-entity
recognizer through none.

One coding per (unit, code): the earliest, longest match gives the rule and the matched text. A
parent code matched in a unit where one of its descendants is matched too is left out (the child
counts for the parent in the analysis). Negated or hypothetical mentions ("I never had a mentor",
"if I had a mentor") are coded and flagged in `negated`, with the cue word in `cue`.

The unit of coding is the sentence (sentences.parquet) or, with `coding.unit: turn` in
config/params.yml, the turn. Only turns whose role is in `coding.roles` are coded (participants).

Runs are incremental: codings.manifest.json in the processed folder records, per transcript, a
hash of its text, with the codebook digest and the pipeline version. A transcript whose hash
matches keeps its rows from the previous codings.parquet and quantities.parquet; adding a
transcript codes that transcript only; changing the codebook, the parameters or the pipeline
recodes all.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from qualcode import schema
from qualcode.coding.codebook import Codebook, load_codebook
from qualcode.coding.matcher import CODEBOOK_RULER, AnchoredMatcher, PhraseMatchers
from qualcode.coding.negation import Cues, find_cue
from qualcode.coding.parse import PARSE, PARSER, is_parsed, reads_parse_attrs
from qualcode.coding.quantities import extract_quantities
from qualcode.config import Params, load_params
from qualcode.nlp import build_nlp, model_info
from qualcode.units import participant_units
from qualcode.workers import frozen_heap, n_words, stream_batches

log = logging.getLogger(__name__)

# Raise when the matching logic changes: every transcript is then recoded. (v2: the parser runs
# only where the coding reads it, so the rulers see a verb's own lemma where the parser would
# have taken the verb for an auxiliary.)
PIPELINE_VERSION = "rules.v2"
SPANS_KEY = "qualcode"
CODER = "rules"
LOWER_LEMMA = "qualcode_lower_lemma"
RULER_LEMMA = "qualcode_rules"
RULER_LOWER = "qualcode_rules_lower"
PARSE_PATTERNS = "qualcode_parse_patterns"
PARSE_CODING = "qualcode_parse_coding"
SET_LEMMAS = "qualcode_set_lemmas"
# In the processed folder: the lemmas of the codebook's phrases (see `phrase_lemmas`).
PHRASE_LEMMAS_FILE = "codings.phrases.json"
# Token attributes whose values are compared in lower case.
_LOWER_ATTRS = {"LEMMA", "LOWER", "NORM"}


@Language.component(LOWER_LEMMA)
def lower_lemma(doc: Doc) -> Doc:
    """Lower-case every lemma, so that lemma patterns match whatever the case of the text.

    RETURNS (Doc): the doc.
    """
    for token in doc:
        lemma = token.lemma_
        if lemma and not lemma.islower() and lemma.lower() != lemma:
            token.lemma_ = lemma.lower()
    return doc


# ---------------------------------------------------------------- the coder


def _lower_values(spec: dict[str, Any]) -> dict[str, Any]:
    """RETURNS (dict): a token spec with LEMMA, LOWER, NORM values in lower case."""
    out = {}
    for attr, value in spec.items():
        if str(attr).upper() in _LOWER_ATTRS:
            if isinstance(value, str):
                value = value.lower()
            elif isinstance(value, dict):
                value = {
                    k: [v.lower() if isinstance(v, str) else v for v in vs]
                    if isinstance(vs, list)
                    else vs.lower()
                    if isinstance(vs, str) and k != "REGEX"
                    else vs
                    for k, vs in value.items()
                }
        out[attr] = value
    return out


def rule_patterns(codebook: Codebook) -> tuple[list[dict], list[dict]]:
    """The SpanRuler patterns of a codebook.

    RETURNS (tuple): patterns for the lemma ruler (phrases and token patterns) and for the
        lower-case ruler (phrases); each has label (code id), id (rule id) and pattern.
    """
    lemma_patterns: list[dict] = []
    lower_patterns: list[dict] = []
    for code in codebook:
        for phrase in code.patterns.phrases:
            rule = {"label": code.id, "id": f"{code.id}:phrase:{phrase}", "pattern": phrase}
            lemma_patterns.append(rule)
            lower_patterns.append(dict(rule, pattern=phrase.lower()))
        for i, tokens in enumerate(code.patterns.tokens):
            pattern = [_lower_values(spec) for spec in tokens]
            for variant in _expand_first(pattern):
                lemma_patterns.append(
                    {"label": code.id, "id": f"{code.id}:tokens[{i}]", "pattern": variant}
                )
    return lemma_patterns, lower_patterns


def _expand_first(pattern: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split a first token spec `{ATTR: {IN: [a, b]}}` into one pattern per value.

    The Matcher tries every pattern's first spec at every token; plain values are compared in
    compiled code, IN sets through a Python predicate, so this makes matching faster.
    RETURNS (list): the equivalent patterns.
    """
    first = pattern[0]
    if len(first) == 1:
        ((attr, value),) = first.items()
        if isinstance(value, dict) and set(value) == {"IN"} and attr != "OP":
            return [[{attr: v}, *pattern[1:]] for v in dict.fromkeys(value["IN"])]
    return [pattern]


def build_coder(
    codebook: Codebook,
    *,
    model: str = "en_core_web_sm",
    cues: Cues | None = None,
    phrase_cache: Path | None = None,
    parse: bool = True,
) -> Language:
    """A copy of the English pipeline with the codebook's patterns in a SpanRuler.

    Every doc goes through the tagger, the attribute ruler and the lemmatizer, which the
    patterns need; the parser (disabled in the pipeline) runs only on the docs whose coding
    reads the parse (`qualcode.coding.parse`), and the named-entity recognizer not at all.
    cues: the negation and hypothetical cues `code_docs` will be given (the defaults of
        `CodingParams` when None): a doc with a coded span and one of them is parsed.
    phrase_cache: a JSON file keeping the lemmas of the phrases between runs (see
        `phrase_lemmas`), so that a run that codes a few transcripts does not read every
        phrase of the codebook with the tagger again.
    parse: False for a coder without the parser at all, which finds no negation or
        hypothetical cue (to measure what the parse adds: benchmarks/bench_parse.py).
    RETURNS (Language): the pipeline; coded spans are in doc.spans["qualcode"].
    """
    cues = cues if cues is not None else Cues.from_params(Params())
    nlp = build_nlp(model, exclude=("ner", "senter") if parse else ("ner", "senter", PARSER))
    has_parser = PARSER in nlp.pipe_names
    names = nlp.pipe_names
    # what follows the parser is set again on a doc once parsed
    after = names[names.index(PARSER) + 1 :] if has_parser else []
    if has_parser:
        nlp.disable_pipe(PARSER)
    anchor = "lemmatizer" if "lemmatizer" in nlp.pipe_names else nlp.pipe_names[-1]
    nlp.add_pipe(LOWER_LEMMA, after=anchor)
    after = [*after, LOWER_LEMMA]
    lemma_patterns, lower_patterns = rule_patterns(codebook)
    parse_config = {"spans_key": SPANS_KEY, "after": after}
    if has_parser:
        reading = [p["pattern"] for p in lemma_patterns if not isinstance(p["pattern"], str)]
        reading = [p for p in reading if reads_parse_attrs(p)]
        if reading:
            anchors = [AnchoredMatcher.anchors(p) for p in reading]
            nlp.add_pipe(
                PARSE,
                name=PARSE_PATTERNS,
                config={
                    **parse_config,
                    "stage": "patterns",
                    "words": sorted({v for a in anchors if a for _, v in a}),
                    "all_docs": any(a is None for a in anchors),
                },
            )
    lemma_ruler = nlp.add_pipe(
        CODEBOOK_RULER,
        name=RULER_LEMMA,
        config={
            "spans_key": SPANS_KEY,
            "phrase_matcher_attr": "LEMMA",
            "validate": True,
            "overwrite": True,
        },
    )
    lower_ruler = nlp.add_pipe(
        "span_ruler",
        name=RULER_LOWER,
        config={
            "spans_key": SPANS_KEY,
            "phrase_matcher_attr": "LOWER",
            "validate": True,
            "overwrite": False,
        },
    )
    if has_parser:
        nlp.add_pipe(
            PARSE,
            name=PARSE_CODING,
            config={**parse_config, "stage": "coding", "words": sorted(cues.words())},
        )
    # the codebook checked its token patterns when it was read
    lemma_ruler.matcher = AnchoredMatcher(nlp.vocab, validate=False)
    # A ruler reads its phrases with the components before it: lemmas need the tagger, the
    # attribute ruler and the lemmatizer, not the parse (here, their lemmas as they gave them,
    # kept in the cache); lower-case words the tokenizer.
    phrases = [p["pattern"] for p in lemma_patterns if isinstance(p["pattern"], str)]
    lemmas = phrase_lemmas(nlp, phrases, cache=phrase_cache)
    nlp.add_pipe(SET_LEMMAS, before=RULER_LEMMA).lemmas = lemmas
    with nlp.select_pipes(enable=[SET_LEMMAS, RULER_LEMMA]):
        lemma_ruler.add_patterns(lemma_patterns)
    nlp.remove_pipe(SET_LEMMAS)
    before_lower = nlp.pipe_names[: nlp.pipe_names.index(RULER_LOWER)]
    with nlp.select_pipes(disable=before_lower):
        lower_ruler.add_patterns(lower_patterns)
    # One ruler matches both: its phrases on lemmas and on lower-case words (the lower-case
    # ruler read its phrases with the tokenizer alone; the two give each phrase the same key).
    lemma_ruler.phrase_matcher = PhraseMatchers(
        lemma_ruler.phrase_matcher, lower_ruler.phrase_matcher
    )
    nlp.remove_pipe(RULER_LOWER)
    return nlp


def phrase_lemmas(
    nlp: Language, phrases: list[str], *, cache: Path | None = None
) -> dict[str, list[str]]:
    """The lemmas of each phrase's words as the coder's components before its rulers give them
    (tagger, attribute ruler, lemmatizer, lower-cased lemmas; no parse).

    cache: a JSON file of the lemmas of phrases read before, valid for one model, spaCy version
        and pipeline version; the phrases it lacks are read and it is written again.
    RETURNS (dict): phrase -> its lemmas, for every phrase.
    """
    key = {
        "pipeline": PIPELINE_VERSION,
        "spacy": spacy.__version__,
        "model": f"{nlp.meta.get('lang')}_{nlp.meta.get('name')}=={nlp.meta.get('version')}",
    }
    known: dict[str, list[str]] = {}
    if cache is not None:
        data = _read_manifest(cache)
        if data.get("key") == key and isinstance(data.get("phrases"), dict):
            known = data["phrases"]
    missing = [p for p in dict.fromkeys(phrases) if p not in known]
    if missing:
        before = nlp.pipe_names[: nlp.pipe_names.index(LOWER_LEMMA) + 1]
        with nlp.select_pipes(enable=before):
            for phrase, doc in zip(missing, nlp.pipe(missing), strict=True):
                known[phrase] = [t.lemma_ for t in doc]
        if cache is not None:
            schema.write_json(cache, {"key": key, "phrases": {p: known[p] for p in phrases}})
    return {p: known[p] for p in phrases}


class _SetLemmas:
    """Gives a phrase the lemmas `phrase_lemmas` found for it (set `lemmas` before use)."""

    def __init__(self) -> None:
        self.lemmas: dict[str, list[str]] = {}

    def __call__(self, doc: Doc) -> Doc:
        found = self.lemmas.get(doc.text)
        if found is None or len(found) != len(doc):
            raise ValueError(f"no lemmas kept for the phrase {doc.text!r}")
        for token, lemma in zip(doc, found, strict=True):
            token.lemma_ = lemma
        return doc


@Language.factory(SET_LEMMAS)
def make_set_lemmas(nlp: Language, name: str) -> _SetLemmas:
    """RETURNS (_SetLemmas): the component that gives phrases their kept lemmas."""
    return _SetLemmas()


def coder_cues(nlp: Language) -> frozenset[str] | None:
    """RETURNS (frozenset | None): the cue words a coder from `build_coder` parses docs for
    (None: it has no parser, and no doc has a cue)."""
    if PARSE_CODING not in nlp.component_names:
        return None
    return frozenset(nlp.get_pipe_config(PARSE_CODING)["words"])


def pipeline_key(nlp_model: str, params: Params) -> str:
    """What, besides the text and the codebook, decides the codings.

    RETURNS (str): the pipeline version, spaCy and model versions, and the coding parameters.
    """
    info = model_info(nlp_model)
    installed = info["model_version"] != "not installed"
    model_version = f"{info['package']}=={info['model_version']}" if installed else "?"
    return json.dumps(
        {
            "pipeline": PIPELINE_VERSION,
            "spacy": spacy.__version__,
            "model": nlp_model,
            "model_version": model_version,
            "coding": params.to_dict()["coding"],
        },
        sort_keys=True,
    )


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CodingUnit:
    """What `code_docs` needs to know of a unit it codes."""

    transcript_id: str
    turn_id: int
    sentence_id: int | None
    start_char: int
    end_char: int
    text: str


def transcript_hashes(units: pd.DataFrame) -> dict[str, str]:
    """RETURNS (dict): transcript_id -> sha256 of its coding units (ids, offsets and text)."""
    if units.empty:
        return {}
    row_hash = pd.util.hash_pandas_object(
        units[["turn_id", "sentence_id", "start_char", "end_char", "text"]].astype(str),
        index=False,
    ).to_numpy()
    out = {}
    ids = units["transcript_id"].to_numpy()
    boundaries = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    for chunk_ids, chunk in zip(
        np.split(ids, boundaries), np.split(row_hash, boundaries), strict=True
    ):
        out[str(chunk_ids[0])] = hashlib.sha256(chunk.tobytes()).hexdigest()
    return out


# ---------------------------------------------------------------- coding


@dataclass
class CodingResult:
    """What `code_corpus` did. The tables are read from their files when asked for (`codings`,
    `quantities`): a run never holds them whole."""

    codings_path: Path
    quantities_path: Path
    codebook_version: int
    codebook_sha256: str
    unit: str
    n_transcripts: int = 0
    coded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    n_units: int = 0
    n_words: int = 0
    n_codings: int = 0
    n_quantities: int = 0

    @property
    def codings(self) -> pd.DataFrame:
        """RETURNS (DataFrame): codings.parquet as written, typed."""
        return schema.typed_codings(pd.read_parquet(self.codings_path))

    @property
    def quantities(self) -> pd.DataFrame:
        """RETURNS (DataFrame): quantities.parquet as written, typed."""
        return _typed_quantities(pd.read_parquet(self.quantities_path))


def _typed_quantities(frame: pd.DataFrame) -> pd.DataFrame:
    return schema.typed(
        frame,
        [*schema.QUANTITIES_COLUMNS, *schema.EXTRA_QUANTITY_COLUMNS],
        schema.QUANTITIES_DTYPES,
    )


def code_docs(
    docs: Iterable[tuple[Doc, CodingUnit]],
    codebook: Codebook,
    *,
    cues: Cues,
    sentences: pd.DataFrame | None = None,
) -> tuple[list[dict], list[dict]]:
    """Turn coded docs into coding rows and quantity rows.

    docs: pairs of a doc processed by the coder and the unit it holds.
    sentences: with unit=turn, the sentences, to give each quantity its sentence_id.
    RETURNS (tuple): coding rows and quantity rows (dicts of the table columns).
    """
    order = {code_id: i for i, code_id in enumerate(codebook.ids)}
    ancestors = {code_id: set(codebook.ancestors(code_id)) for code_id in codebook.ids}
    sentence_starts: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    if sentences is not None and not sentences.empty:
        for (tid, turn), group in sentences.groupby(["transcript_id", "turn_id"], sort=False):
            group = group.sort_values("start_char")
            sentence_starts[(tid, int(turn))] = (
                group["start_char"].to_numpy(),
                group["sentence_id"].to_numpy(),
            )
    coding_rows: list[dict] = []
    quantity_rows: list[dict] = []
    for doc, unit in docs:
        # a doc the coder did not parse has no cue (see `qualcode.coding.parse`)
        parsed = is_parsed(doc)
        best: dict[str, Span] = {}
        for span in doc.spans.get(SPANS_KEY, []):
            current = best.get(span.label_)
            key = (span.start_char, -(span.end_char - span.start_char), span.id_)
            if current is None or key < (
                current.start_char,
                -(current.end_char - current.start_char),
                current.id_,
            ):
                best[span.label_] = span
        covered = set()
        for code_id in best:
            covered |= ancestors.get(code_id, set())
        for code_id in sorted(best, key=lambda c: order.get(c, len(order))):
            if code_id in covered:
                continue
            span = best[code_id]
            cue = find_cue(span, cues) if parsed else None
            coding_rows.append(
                {
                    "transcript_id": unit.transcript_id,
                    "turn_id": unit.turn_id,
                    "sentence_id": unit.sentence_id,
                    "code_id": code_id,
                    "start_char": unit.start_char,
                    "end_char": unit.end_char,
                    "text": unit.text,
                    "coder": CODER,
                    "rule_id": span.id_,
                    "score": 1.0,
                    "codebook_version": codebook.version,
                    "negated": cue is not None,
                    "matched": span.text,
                    "cue": cue,
                    "match_start": unit.start_char + span.start_char,
                    "match_end": unit.start_char + span.end_char,
                }
            )
        for quantity in extract_quantities(doc):
            start = unit.start_char + quantity.start_char
            sentence_id = unit.sentence_id
            if sentence_id is None:
                found = sentence_starts.get((unit.transcript_id, unit.turn_id))
                if found is not None:
                    idx = int(np.searchsorted(found[0], start, side="right")) - 1
                    sentence_id = int(found[1][max(idx, 0)])
            quantity_rows.append(
                {
                    "transcript_id": unit.transcript_id,
                    "turn_id": unit.turn_id,
                    "sentence_id": sentence_id,
                    "kind": quantity.kind,
                    "value": quantity.value,
                    "unit": quantity.unit,
                    "text": quantity.text,
                    "low": quantity.low,
                    "high": quantity.high,
                    "start_char": start,
                    "end_char": unit.start_char + quantity.end_char,
                    "about": quantity.about,
                }
            )
    return coding_rows, quantity_rows


# The coder of each process (of a pool or a cluster's worker), for one codebook, model and cues.
_WORKER_CODERS: dict[tuple[str, str, Cues], Language] = {}
_WORKER_LOCK = threading.Lock()


def _coder_key(codebook: Codebook, params: Params) -> tuple[str, str, Cues]:
    return (codebook.sha256, params.spacy_model, Cues.from_params(params))


def _keep_coder(codebook: Codebook, params: Params, nlp: Language) -> None:
    with _WORKER_LOCK:
        _WORKER_CODERS.clear()
        _WORKER_CODERS[_coder_key(codebook, params)] = nlp


def code_batch(
    units: list[CodingUnit],
    codebook: Codebook,
    params: Params,
    sentences: pd.DataFrame | None,
) -> list[tuple[list[dict], list[dict]]]:
    """Code a batch of units (one `nlp.pipe` batch) with the codebook's coder (built once per
    process and codebook); in this process, a pool's or a cluster's.

    sentences: with unit=turn, the sentences (see `code_docs`).
    RETURNS (list): one pair: the batch's coding rows and quantity rows.
    """
    key = _coder_key(codebook, params)
    if sentences is not None:
        sentences = sentences[sentences["transcript_id"].isin({u.transcript_id for u in units})]
    with _WORKER_LOCK:  # workers that are threads of one process share the coder
        if key not in _WORKER_CODERS:
            _WORKER_CODERS.clear()
            _WORKER_CODERS[key] = build_coder(
                codebook, model=params.spacy_model, cues=Cues.from_params(params)
            )
        # each doc is turned into rows as it comes, and let go
        docs = _WORKER_CODERS[key].pipe([u.text for u in units], batch_size=len(units))
        return [
            code_docs(
                zip(docs, units, strict=True),
                codebook,
                cues=Cues.from_params(params),
                sentences=sentences,
            )
        ]


def _new_coder(codebook: Codebook, params: Params, processed_dir: Path | None = None) -> Language:
    cache = processed_dir / PHRASE_LEMMAS_FILE if processed_dir is not None else None
    return build_coder(
        codebook, model=params.spacy_model, cues=Cues.from_params(params), phrase_cache=cache
    )


def _check_coder(nlp: Language, cues: Cues) -> None:
    """Refuse a coder built for other cue words than the ones coding is given."""
    words = coder_cues(nlp)
    if words is not None and not cues.words() <= words:
        raise ValueError(
            "the coder parses docs for other negation and hypothetical cues than these: "
            "build it with build_coder(..., cues=Cues.from_params(params))"
        )


def code_turn_batch(
    items: list[tuple[CodingUnit, list[tuple[int, int]]]], codebook: Codebook, params: Params
) -> list[tuple[list[dict], list[dict]]]:
    """`code_batch` for turns: each turn comes with its sentences, (start_char, sentence_id)
    pairs, to give each quantity its sentence_id.

    RETURNS (list): one pair: the batch's coding rows and quantity rows.
    """
    sentences = pd.DataFrame(
        [
            (unit.transcript_id, unit.turn_id, sentence_id, start)
            for unit, starts in items
            for start, sentence_id in starts
        ],
        columns=["transcript_id", "turn_id", "sentence_id", "start_char"],
    )
    return code_batch([unit for unit, _starts in items], codebook, params, sentences)


def _units_iter(units: pd.DataFrame) -> Iterator[CodingUnit]:
    for row in units.itertuples(index=False):
        yield CodingUnit(
            transcript_id=str(row.transcript_id),
            turn_id=int(row.turn_id),
            sentence_id=None if pd.isna(row.sentence_id) else int(row.sentence_id),
            start_char=int(row.start_char),
            end_char=int(row.end_char),
            text=str(row.text),
        )


def _read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _sha256_or_none(path: Path) -> str | None:
    return schema.file_sha256(path) if path.is_file() else None


# Transcripts read, and whose rows are written, at a time; memory grows with it, not with the
# corpus.
BATCH_TRANSCRIPTS = 64


@dataclass
class _Part:
    """Transcripts read together: the last one's id, how many units are to be coded up to the
    end of the part (counted from the start of the run), and the rows kept from the last run."""

    last: str
    units_end: int
    kept_codings: pa.Table | None
    kept_quantities: pa.Table | None


@frozen_heap
def code_corpus(
    processed_dir: Path | str,
    codebook_path: Path | str,
    *,
    params: Params | None = None,
    nlp: Language | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 256,
    client: Any = None,
    batch_transcripts: int = BATCH_TRANSCRIPTS,
) -> CodingResult:
    """Apply the codebook to the participant sentences (or turns) of data/processed.

    Writes codings.parquet, quantities.parquet and codings.manifest.json in processed_dir.
    Transcripts whose text, the codebook and the pipeline are unchanged since the last run keep
    their rows; the others are coded.
    The corpus streams: turns.parquet, sentences.parquet and the last run's tables are read
    `batch_transcripts` transcripts at a time, the units go to spaCy in batches of `batch_size`
    (cut across those parts, as one process would cut them), and the rows are written part by
    part into temporary files renamed into place at the end: memory grows with the batches, not
    with the corpus, and a run that stops half-way leaves the last run's tables as they were.
    params: pipeline parameters (config/params.yml when None).
    nlp: a pipeline from `build_coder` for this codebook and the parameters' cues (built
        when needed if None).
    progress: called with the number of units coded after each batch (for a progress bar).
    client: a `distributed.Client`: the units are coded by its workers (`qualcode.cluster`),
        in the batches one process codes, with the codebook and the parameters; without
        one, in `params.processes` processes (`qualcode.workers`).
    RETURNS (CodingResult): the tables written and what was coded or reused.
    """
    processed_dir = Path(processed_dir)
    params = params if params is not None else load_params()
    codebook = load_codebook(codebook_path)
    unit = params.coding.unit
    turns = schema.TranscriptReader(schema.required_table(processed_dir, "turns"))
    sentences = schema.TranscriptReader(schema.required_table(processed_dir, "sentences"))
    all_ids = turns.transcript_ids()
    codings_path = processed_dir / schema.TABLE_FILES["codings"]
    quantities_path = processed_dir / schema.TABLE_FILES["quantities"]
    manifest_path = processed_dir / schema.CODINGS_MANIFEST_FILE
    key = pipeline_key(params.spacy_model, params)

    previous = _read_manifest(manifest_path)
    reusable = (
        previous.get("pipeline") == key
        and previous.get("codebook_sha256") == codebook.sha256
        and previous.get("codings_sha256") == _sha256_or_none(codings_path)
        and previous.get("quantities_sha256") == _sha256_or_none(quantities_path)
    )
    old_hashes = previous.get("transcripts", {}) if reusable else {}
    old_codings = old_quantities = None
    if old_hashes and codings_path.exists() and quantities_path.exists():
        old_codings = schema.TranscriptReader(codings_path)
        old_quantities = schema.TranscriptReader(quantities_path)

    hashes: dict[str, str] = {}
    coded: list[str] = []
    cached: list[str] = []
    counts = {"units": 0, "words": 0}
    parts: deque[_Part] = deque()
    coder: list[Language] = []

    def units_to_code() -> Iterator[Any]:
        for start in range(0, len(all_ids), batch_transcripts):
            ids = all_ids[start : start + batch_transcripts]
            last = ids[-1]
            part_sentences = sentences.until(last)
            units = participant_units(
                turns.until(last),
                part_sentences,
                unit=unit,
                roles=params.coding.roles,
                processed_dir=processed_dir,
            )
            part_hashes = transcript_hashes(units)
            hashes.update(part_hashes)
            kept = [t for t in ids if t in old_hashes and old_hashes[t] == part_hashes.get(t, "")]
            cached.extend(kept)
            coded.extend(t for t in ids if t not in set(kept))
            kept_codings = kept_quantities = None
            if old_codings is not None and old_quantities is not None:
                kept_codings = _of_transcripts(old_codings.until_table(last), kept)
                kept_quantities = _of_transcripts(old_quantities.until_table(last), kept)
            todo = units[~units["transcript_id"].isin(kept)]
            counts["units"] += len(todo)
            if len(todo):
                counts["words"] += int(todo["text"].str.split().str.len().sum())
            parts.append(_Part(last, counts["units"], kept_codings, kept_quantities))
            if len(todo) and client is None and not coder:
                # built here once, before the first batch: the processes of the pool start with it
                if nlp is not None:
                    _check_coder(nlp, Cues.from_params(params))
                coder.append(nlp or _new_coder(codebook, params, processed_dir))
                _keep_coder(codebook, params, coder[0])
            if unit == "turn":
                starts = {
                    (str(tid), int(turn)): list(
                        zip(
                            group["start_char"].tolist(), group["sentence_id"].tolist(), strict=True
                        )
                    )
                    for (tid, turn), group in part_sentences.sort_values(
                        "start_char", kind="stable"
                    ).groupby(["transcript_id", "turn_id"], sort=False)
                }
                for item in _units_iter(todo):
                    yield item, starts.get((item.transcript_id, item.turn_id), [])
            else:
                yield from _units_iter(todo)

    columns = [*schema.CODINGS_COLUMNS, *schema.EXTRA_CODING_COLUMNS]
    quantity_columns = [*schema.QUANTITIES_COLUMNS, *schema.EXTRA_QUANTITY_COLUMNS]
    sort_keys = ["transcript_id", "turn_id", "sentence_id"]
    coding_rows: list[dict] = []
    quantity_rows: list[dict] = []
    done = 0
    with (
        schema.TableWriter(codings_path, columns, schema.CODINGS_DTYPES) as codings_out,
        schema.TableWriter(
            quantities_path, quantity_columns, schema.QUANTITIES_DTYPES
        ) as quantities_out,
    ):

        def write_parts(*, final: bool = False) -> None:
            while parts and (final or parts[0].units_end <= done):
                part = parts.popleft()
                n = bisect.bisect_right(coding_rows, part.last, key=_transcript_of)
                codings = _part_rows(
                    part.kept_codings,
                    coding_rows[:n],
                    schema.typed_codings,
                    [*sort_keys, "code_id"],
                )
                if codings is not None:
                    codings_out.write(codings)
                del coding_rows[:n]
                n = bisect.bisect_right(quantity_rows, part.last, key=_transcript_of)
                quantities = _part_rows(
                    part.kept_quantities,
                    quantity_rows[:n],
                    _typed_quantities,
                    [*sort_keys, "start_char", "kind"],
                )
                if quantities is not None:
                    quantities_out.write(quantities)
                del quantity_rows[:n]

        for batch, found in stream_batches(
            code_turn_batch if unit == "turn" else code_batch,
            units_to_code(),
            batch_size=batch_size,
            args=(codebook, params) if unit == "turn" else (codebook, params, None),
            processes=params.processes,
            client=client,
            words=_words_of_units,
            progress=progress,
        ):
            for rows, quantities in found:
                coding_rows.extend(rows)
                quantity_rows.extend(quantities)
            done += len(batch)
            write_parts()
        write_parts(final=True)
        codings_out.commit()
        quantities_out.commit()
    log.info("coded %d transcript(s), %d unchanged", len(coded), len(cached))
    schema.write_json(
        manifest_path,
        {
            "pipeline": key,
            "codebook_version": codebook.version,
            "codebook_sha256": codebook.sha256,
            "unit": unit,
            "codings_sha256": _sha256_or_none(codings_path),
            "quantities_sha256": _sha256_or_none(quantities_path),
            "transcripts": {t: hashes.get(t, "") for t in all_ids},
        },
    )
    return CodingResult(
        codings_path=codings_path,
        quantities_path=quantities_path,
        codebook_version=codebook.version,
        codebook_sha256=codebook.sha256,
        unit=unit,
        n_transcripts=len(all_ids),
        coded=coded,
        cached=cached,
        n_units=counts["units"],
        n_words=counts["words"],
        n_codings=codings_out.n_rows,
        n_quantities=quantities_out.n_rows,
    )


def _of_transcripts(table: pa.Table, ids: list[str]) -> pa.Table:
    """RETURNS (pa.Table): the rows of these transcripts, in the table's order."""
    column = table["transcript_id"]
    return table.filter(pc.is_in(column, value_set=pa.array(ids, type=column.type)))


def _part_rows(
    kept: pa.Table | None,
    rows: list[dict],
    typed: Callable[[pd.DataFrame], pd.DataFrame],
    order: list[str],
) -> pd.DataFrame | pa.Table | None:
    """The rows of a part of a table: those kept from the last run (as they were written, in
    their order) and the new ones, typed, in the table's order.

    RETURNS (DataFrame | pa.Table | None): the rows (the kept ones as read when there are no
        new ones), or None when there are none.
    """
    if not rows:
        return kept if kept is not None and kept.num_rows else None
    frame = typed(pd.DataFrame(rows))
    if kept is not None and kept.num_rows:
        frame = pd.concat([typed(kept.to_pandas()), frame], ignore_index=True)
    return frame.sort_values(order, kind="stable")


def _transcript_of(row: dict) -> str:
    return row["transcript_id"]


def _words_of_units(batch: list[Any]) -> int:
    """RETURNS (int): the words of a batch of units (or of (unit, sentences) pairs)."""
    return n_words(item.text if isinstance(item, CodingUnit) else item[0].text for item in batch)


def code_texts(
    texts: Iterable[str], nlp: Language, codebook: Codebook, *, params: Params | None = None
) -> pd.DataFrame:
    """Code loose texts (one unit each): handy in notebooks and tests.

    RETURNS (DataFrame): the codings columns, with transcript_id "text" and turn_id the index.
    """
    params = params if params is not None else Params()
    cues = Cues.from_params(params)
    _check_coder(nlp, cues)
    texts = list(texts)
    units = [CodingUnit("text", i, 0, 0, len(t), t) for i, t in enumerate(texts)]
    rows, _ = code_docs(zip(nlp.pipe(texts), units, strict=True), codebook, cues=cues)
    return schema.typed_codings(pd.DataFrame(rows))
