"""Negated and hypothetical mentions: the cue word that governs a matched span.

"I never had a mentor" and "if I had a mentor" mention a mentor without claiming one. A coded span
is flagged when a negation or hypothetical cue (`coding.negation_cues`, `coding.hypothetical_cues`
in config/params.yml) depends on it or on the clause that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Span

from qualcode.config import Params

# The words en_core_web_sm labels `neg` (over the demo's transcripts, the test fixtures and the
# codebook's examples: "not", "n't", "never"), besides the spellings of "not" the tokenizer
# normalises to it ("nt", "n’t"); `find_cue` counts them as cues whatever the cue lists say.
NEG_WORDS = frozenset({"not", "n't", "never"})


@dataclass(frozen=True)
class Cues:
    """Words that make a mention negated or hypothetical."""

    negation: frozenset[str]
    hypothetical: frozenset[str]

    @classmethod
    def from_params(cls, params: Params) -> Cues:
        """RETURNS (Cues): the cues of `coding` in the parameters, in lower case."""
        return cls(
            negation=frozenset(w.lower() for w in params.coding.negation_cues),
            hypothetical=frozenset(w.lower() for w in params.coding.hypothetical_cues),
        )

    def words(self) -> frozenset[str]:
        """RETURNS (frozenset): the words that can be a cue: both lists and `NEG_WORDS` (a
        span with none of them, nor a word whose norm is "not", outside it has no cue)."""
        return self.negation | self.hypothetical | NEG_WORDS


_CLAUSE_LINKS = {"xcomp", "ccomp", "oprd", "pcomp", "acomp"}


def find_cue(span: Span, cues: Cues) -> str | None:
    """The negation or hypothetical cue that governs a matched span, if any.

    A cue counts when it depends on a token of the span or on the clause that holds the span
    (the nearest verb above the span, and the verbs it complements: "I don't see myself going
    back to a full-time job"). Cues inside the span itself are part of the rule and do not count.
    RETURNS (str | None): the cue word, or None.
    """
    sent = span.sent if span.doc.has_annotation("SENT_START") else span.doc[:]
    inside = set(range(span.start, span.end))
    heads = set()
    token = span.root
    while token.pos_ not in ("VERB", "AUX") and token.head.i != token.i:
        token = token.head
    heads.add(token.i)
    while token.dep_ in _CLAUSE_LINKS and token.head.i != token.i:
        token = token.head
        heads.add(token.i)
    for cue in sent:
        if cue.i in inside:
            continue
        word = cue.lower_
        is_neg = cue.dep_ == "neg" or (word in cues.negation and cue.dep_ != "intj")
        # "if" opens a condition only when it marks an adverbial clause ("if I had a mentor"),
        # not an embedded question ("to see if anyone would pay").
        is_hyp = word in cues.hypothetical and (cue.dep_ != "mark" or cue.head.dep_ == "advcl")
        if not (is_neg or is_hyp):
            continue
        if cue.head.i in inside or cue.head.i in heads:
            return cue.text
    return None
