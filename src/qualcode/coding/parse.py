"""The dependency parse, run only on the docs whose coding reads it.

The codebook's patterns match lemmas and words, which the tagger, the attribute ruler and the
lemmatizer give; sentences are split at ingest. Three things read the parse:

- negation and hypothetical cues (`qualcode.coding.negation`): whether a cue governs a coded
  span. Only a doc with a coded span and a cue word outside it can have one, and the parser
  labels `neg` only words that are negation cues (`negation.NEG_WORDS`);
- quantities (`qualcode.coding.quantities.reads_parse`): adverbs after a number are skipped, and
  the attribute ruler makes "but" an adverb from the parse;
- patterns that test `DEP`, sentence starts, or `POS` and `MORPH` (which the attribute ruler
  sets from the parse for some words): a doc holding a word such a pattern needs is parsed
  before the patterns run.

Once a doc is parsed, what the components after the parser set from the parse is set again. With
en_core_web_sm these are the attribute ruler, some of whose rules read the parse, and the
lemmatizer, which reads the parts of speech and morphology. Rather than run the whole attribute
ruler again, the coder runs its rules from the first that reads the parse on (`ParseFollowUp`):
the rules before read words and tags only, which the parse does not change, so they give what
they gave. The lemmatizer then lemmatizes again only the words whose part of speech or morphology
changed. The doc is the doc the whole pipeline makes; a pipeline where this does not hold (a rule
that reads the parse and matches without one, a lemma rule before the first parse rule, other
components after the parser) runs the components after the parser again in full.

The coder's pipeline holds the parser disabled, and one `qualcode_parse` component before the
rulers (stage "patterns", only when the codebook has such patterns) and one after them (stage
"coding"). Each parses, in one batch, the docs of a batch that need it: in inference the parser
reads the tok2vec output the doc already holds (`doc.tensor`), so a doc parsed on its own gets the
parse it gets in the whole pipeline. Its parts of speech, morphology and lemmas are then set
again by the components that follow the parser in the pipeline (the attribute ruler reads the
parse), so a parsed doc is the doc the whole pipeline makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from spacy.attrs import LEMMA, LOWER, MORPH, NORM, POS
from spacy.language import Language
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc
from spacy.util import minibatch

from qualcode.coding.quantities import PARSE_ADVERBS, reads_parse

PARSE = "qualcode_parse"
PARSER = "parser"
# Token attributes the parse decides, or from which the attribute ruler sets them.
PARSE_ATTRS = frozenset({"DEP", "HEAD", "SENT_START", "IS_SENT_START", "POS", "MORPH"})
STAGES = ("patterns", "coding")


def reads_parse_attrs(pattern: Sequence[dict[str, Any]]) -> bool:
    """RETURNS (bool): whether a token pattern tests an attribute the parse decides."""
    return any(str(attr).upper() in PARSE_ATTRS for spec in pattern for attr in spec)


def is_parsed(doc: Doc) -> bool:
    """RETURNS (bool): whether the doc has its dependency parse."""
    return doc.has_annotation("DEP")


def _needs_a_label(value: Any) -> bool:
    """RETURNS (bool): whether a test of a dependency label fails on an unparsed token (whose
    label is empty)."""
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, dict) and len(value) == 1:
        ((op, values),) = value.items()
        return (op == "IN" and "" not in values) or (op == "NOT_IN" and "" in values)
    return False


def _matches_only_parsed(pattern: Sequence[dict[str, Any]]) -> bool:
    """RETURNS (bool): whether a token pattern can match only a parsed doc: a token it needs
    must have a dependency label."""
    for spec in pattern:
        spec = {str(k).upper(): v for k, v in spec.items()}
        if spec.get("OP", "1") in ("1", "+") and "DEP" in spec and _needs_a_label(spec["DEP"]):
            return True
    return False


class ParseFollowUp:
    """Sets again, on a parsed doc, what the components after the parser set from the parse (see
    the module docstring): the attribute ruler's rules from the first that reads the parse on,
    then the lemmas of the words whose part of speech or morphology changed, then the other
    components. Falls back to running the components `after` the parser in full.
    """

    def __init__(self, nlp: Language, after: Sequence[str]) -> None:
        self.nlp = nlp
        self.after = tuple(after)
        self.rules: AttributeRuler | None = None
        if len(self.after) < 2 or self.after[:2] != ("attribute_ruler", "lemmatizer"):
            return
        ruler, lemmatizer = (nlp.get_pipe(name) for name in self.after[:2])
        if not isinstance(ruler, AttributeRuler) or getattr(lemmatizer, "overwrite", True):
            return
        patterns = ruler.patterns
        keys = [
            {str(k).upper() for p in rule["patterns"] for spec in p for k in spec}
            for rule in patterns
        ]
        reads = [i for i, rule_keys in enumerate(keys) if "DEP" in rule_keys]
        sets_lemma = [i for i, rule in enumerate(patterns) if "LEMMA" in rule["attrs"]]
        if (
            not reads
            # the parse decides no other attribute a rule reads (sentence starts, or parts of
            # speech and morphology that a parse rule before it may have set)
            or any(rule_keys & (PARSE_ATTRS - {"DEP"}) for rule_keys in keys)
            or not all(_matches_only_parsed(p) for i in reads for p in patterns[i]["patterns"])
        ):
            return
        self.rules = AttributeRuler(nlp.vocab, validate=False)
        self.rules.add_patterns(patterns[min([reads[0], *sets_lemma]) :])

    def __call__(self, docs: list[Doc]) -> None:
        if self.rules is None:
            for doc in docs:
                doc.from_array([POS, LEMMA, MORPH], np.zeros((len(doc), 3), dtype=np.uint64))
            for name in self.after:
                component = self.nlp.get_pipe(name)
                for doc in docs:
                    component(doc)
            return
        lemmatizer = self.nlp.get_pipe(self.after[1])
        rest = [self.nlp.get_pipe(name) for name in self.after[2:]]
        for doc in docs:
            before = doc.to_array([POS, MORPH])
            matches = self.rules.match(doc)
            self.rules.set_annotations(doc, matches)
            # a lemma a rule set stays; the others follow the part of speech and morphology
            ruled = set()
            for attr_id, _match_id, start, end in matches:
                if LEMMA in self.rules.attrs[attr_id]:
                    index = self.rules.indices[attr_id]
                    ruled.add(start + index if index >= 0 else end + index)
            changed = np.flatnonzero((doc.to_array([POS, MORPH]) != before).any(axis=1))
            redo = [int(i) for i in changed if int(i) not in ruled]
            if redo:
                lemmas = doc.to_array([LEMMA])
                lemmas[redo] = 0
                doc.from_array([LEMMA], lemmas)
                lemmatizer(doc)
            for component in rest:
                component(doc)


def parse_docs(nlp: Language, docs: list[Doc], *, after: ParseFollowUp) -> None:
    """Parse docs in place with the pipeline's (disabled) parser, then set again what the
    components after it set (parts of speech, morphology, lemmas), as the whole pipeline does.
    """
    if not docs:
        return
    for _ in nlp.get_pipe(PARSER).pipe(docs, batch_size=len(docs)):
        pass
    after(docs)


class ParseWhereNeeded:
    """Parses the docs of each batch that need the parse (see the module docstring).

    stage "patterns": docs holding one of `words` (as a word or lemma), or every doc with
        `all_docs`;
    stage "coding": docs with a span in `doc.spans[spans_key]` and one of `words` (or a word
        whose norm is "not") outside a span, and docs whose quantities read the parse.
    after: the components that follow the parser in the whole pipeline, run again on a doc
        once parsed.
    """

    def __init__(
        self,
        nlp: Language,
        name: str,
        *,
        stage: str,
        words: Iterable[str],
        all_docs: bool,
        spans_key: str,
        after: Sequence[str],
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.nlp = nlp
        self.name = name
        self.stage = stage
        self.words = tuple(sorted(set(words)))
        self.all_docs = all_docs
        self.spans_key = spans_key
        self.after = tuple(after)
        self._follow_up: ParseFollowUp | None = None
        strings = nlp.vocab.strings
        self._words = frozenset(strings.add(w) for w in self.words)
        self._not = strings.add("not")
        self._adverbs = frozenset(strings.add(w) for w in PARSE_ADVERBS)

    def needs_parse(self, doc: Doc) -> bool:
        """RETURNS (bool): whether this stage parses the doc."""
        if not len(doc) or is_parsed(doc):
            return False
        if self.stage == "patterns":
            return self.all_docs or not self._words.isdisjoint(
                doc.to_array([LOWER, LEMMA]).ravel().tolist()
            )
        values = doc.to_array([LOWER, NORM]).tolist()
        spans = doc.spans.get(self.spans_key, [])
        if len(spans):
            words, is_not = self._words, self._not
            cues = [i for i, (lower, norm) in enumerate(values) if lower in words or norm == is_not]
            # a cue counts for a span it is not part of
            if any(not (span.start <= i < span.end) for i in cues for span in spans):
                return True
        if self._adverbs.isdisjoint(lower for lower, _ in values):
            return False
        return reads_parse(doc)

    @property
    def follow_up(self) -> ParseFollowUp:
        """RETURNS (ParseFollowUp): what sets again what follows the parser (built on first
        use, when the pipeline is complete)."""
        if self._follow_up is None:
            self._follow_up = ParseFollowUp(self.nlp, self.after)
        return self._follow_up

    def __call__(self, doc: Doc) -> Doc:
        if self.needs_parse(doc):
            parse_docs(self.nlp, [doc], after=self.follow_up)
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            parse_docs(self.nlp, [d for d in batch if self.needs_parse(d)], after=self.follow_up)
            yield from batch


@Language.factory(
    PARSE,
    default_config={
        "stage": "coding",
        "words": [],
        "all_docs": False,
        "spans_key": "qualcode",
        "after": ["attribute_ruler", "lemmatizer"],
    },
)
def make_parse_where_needed(
    nlp: Language,
    name: str,
    stage: str,
    words: list[str],
    all_docs: bool,
    spans_key: str,
    after: list[str],
) -> ParseWhereNeeded:
    """RETURNS (ParseWhereNeeded): the component (see `ParseWhereNeeded`)."""
    return ParseWhereNeeded(
        nlp, name, stage=stage, words=words, all_docs=all_docs, spans_key=spans_key, after=after
    )
