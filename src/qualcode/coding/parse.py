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


def parse_docs(nlp: Language, docs: list[Doc], *, after: Sequence[str]) -> None:
    """Parse docs in place with the pipeline's (disabled) parser, then set again what the
    components `after` it set (parts of speech, morphology, lemmas), as the whole pipeline does.
    """
    if not docs:
        return
    for _ in nlp.get_pipe(PARSER).pipe(docs, batch_size=len(docs)):
        pass
    for doc in docs:
        doc.from_array([POS, LEMMA, MORPH], np.zeros((len(doc), 3), dtype=np.uint64))
    for name in after:
        component = nlp.get_pipe(name)
        for doc in docs:
            component(doc)


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

    def __call__(self, doc: Doc) -> Doc:
        if self.needs_parse(doc):
            parse_docs(self.nlp, [doc], after=self.after)
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            parse_docs(self.nlp, [d for d in batch if self.needs_parse(d)], after=self.after)
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
