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
ruler again, the coder finds the tokens that a rule reading the parse targets and changes, and
annotates those again from the rules that match them (`ParseFollowUp`): every other rule reads
words and tags only, which the parse does not change, so every other token stays as it was. The
doc is the doc the whole pipeline makes; a pipeline where this does not hold (a rule that reads
the parse and matches without one, or reads a part of speech; other components after the parser)
runs the components after the parser again in full.

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
from spacy.attrs import DEP, LEMMA, LOWER, MORPH, NORM, POS, TAG
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.pipeline import AttributeRuler
from spacy.tokens import Doc, Token
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


# What an attribute rule that does not read the parse may read: it matches a token as it
# matched it before the parse.
_WORD_ATTRS = frozenset(
    {"ORTH", "TEXT", "LOWER", "NORM", "TAG", "SHAPE", "LENGTH", "LIKE_NUM", "OP"}
    | {f"IS_{name}" for name in ("ALPHA", "ASCII", "DIGIT", "LOWER", "UPPER", "TITLE")}
    | {f"IS_{name}" for name in ("PUNCT", "SPACE", "STOP", "BRACKET", "QUOTE", "CURRENCY")}
)
# The attributes rules may set here, and how.
_SETTERS = {
    POS: lambda token, value: setattr(token, "pos", value),
    TAG: lambda token, value: setattr(token, "tag", value),
    DEP: lambda token, value: setattr(token, "dep", value),
    LEMMA: lambda token, value: setattr(token, "lemma", value),
    MORPH: lambda token, value: token.set_morph(value),
}
_NAMES = {POS: "pos", TAG: "tag", DEP: "dep", LEMMA: "lemma"}


def _has(token: Token, attrs: dict[int, int]) -> bool:
    """RETURNS (bool): whether a token has these attribute values already."""
    return all(
        (token.morph.key if attr == MORPH else getattr(token, _NAMES[attr])) == value
        for attr, value in attrs.items()
    )


class ParseFollowUp:
    """Sets again, on a parsed doc, what the components after the parser set from the parse (see
    the module docstring).

    With an attribute ruler and a lemmatizer after the parser: the tokens that a rule reading
    the parse targets are annotated again as the whole ruler would, from the rules that match
    them (a rule of one token is tried on the token alone), and lemmatized again; the other
    tokens keep what the ruler and the lemmatizer gave them, since every other rule matches
    them as before. Then the components after the lemmatizer run. Otherwise (`rules` is None)
    the components `after` the parser run again in full.
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
        parse_rules, one_token, longer = [], [], []
        for i, rule in enumerate(patterns):
            keys = {str(k).upper() for p in rule["patterns"] for spec in p for k in spec}
            if not set(ruler.attrs[i]) <= set(_SETTERS):
                return
            if "DEP" in keys:
                if not keys - {"DEP"} <= _WORD_ATTRS or not all(
                    _matches_only_parsed(p) for p in rule["patterns"]
                ):
                    return
                parse_rules.append(i)
            elif not keys <= _WORD_ATTRS:
                return
            elif all(len(p) == 1 and "OP" not in p[0] for p in rule["patterns"]):
                one_token.append(i)
            else:
                longer.append(i)
        if not parse_rules:
            return
        self.rules = ruler
        self._parse_rules = self._matcher(ruler, parse_rules)
        self._one_token = self._matcher(ruler, one_token)
        self._longer = self._matcher(ruler, longer)

    @staticmethod
    def _matcher(ruler: AttributeRuler, rules: list[int]) -> Matcher:
        """RETURNS (Matcher): the patterns of these rules, each under its number."""
        matcher = Matcher(ruler.vocab, validate=False)
        for i in rules:
            matcher.add(str(i), ruler.patterns[i]["patterns"])
        return matcher

    def _targets(self, doc: Doc, matcher: Matcher) -> list[tuple[int, int]]:
        """RETURNS (list): (rule number, token) for each match of the matcher's rules."""
        strings, indices = doc.vocab.strings, self.rules.indices
        out = []
        for match_id, start, end in matcher(doc, allow_missing=True):
            i = int(strings[match_id])
            index = indices[i]
            out.append((i, start + index if index >= 0 else end + index))
        return out

    def __call__(self, docs: list[Doc]) -> None:
        if self.rules is None:
            for doc in docs:
                doc.from_array([POS, LEMMA, MORPH], np.zeros((len(doc), 3), dtype=np.uint64))
            for name in self.after:
                component = self.nlp.get_pipe(name)
                for doc in docs:
                    component(doc)
            return
        strings, attrs = self.nlp.vocab.strings, self.rules.attrs
        lemmatizer = self.nlp.get_pipe(self.after[1])
        rest = [self.nlp.get_pipe(name) for name in self.after[2:]]
        for doc in docs:
            by_token: dict[int, list[int]] = {}
            for i, t in self._targets(doc, self._parse_rules):
                by_token.setdefault(t, []).append(i)
            # a rule giving a token what it has changes nothing, whatever rule comes after it
            for t in list(by_token):
                token = doc[t]
                if all(_has(token, attrs[i]) for i in by_token[t]):
                    del by_token[t]
            if by_token:
                for i, t in self._targets(doc, self._longer):
                    if t in by_token:
                        by_token[t].append(i)
                for t, rules in by_token.items():
                    rules.extend(
                        int(strings[match_id])
                        for match_id, _start, _end in self._one_token(doc[t : t + 1])
                    )
                    token = doc[t]
                    token.pos = token.lemma = 0
                    token.set_morph(None)
                    for i in sorted(rules):  # later rules win, as in the ruler
                        for attr, value in attrs[i].items():
                            _SETTERS[attr](token, value)
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
            # the stages of one pipeline share it
            for _name, other in self.nlp.pipeline:
                if isinstance(other, ParseWhereNeeded) and other.after == self.after:
                    self._follow_up = other._follow_up or self._follow_up
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
