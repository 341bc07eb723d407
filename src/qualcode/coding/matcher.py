"""spaCy's Matcher, split by a word that each pattern needs."""

from __future__ import annotations

from typing import Any

from spacy.attrs import LEMMA, LOWER
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.pipeline import SpanRuler
from spacy.tokens import Doc, Span

# A pattern's needs: for each token the pattern cannot do without, per attribute, the hashes of
# the words or lemmas one of which the doc must hold.
Needs = tuple[tuple[int, frozenset[int]], ...]


class AnchoredMatcher:
    """spaCy's Matcher, split by a word each pattern needs.

    spaCy's Matcher tries every pattern at every token. Almost every codebook pattern has a
    token that must be there, with a given word or lemma (`{"LEMMA": "referral"}`, or one of a
    set: `{"LOWER": {"IN": ["course", "courses"]}}`). The patterns are grouped by such a word
    (the least common one they have), one Matcher a word, and a doc runs only the groups of
    the words and lemmas it contains; patterns without such a token run on every doc. A group
    runs only when the doc holds every word and lemma that one of its patterns cannot do
    without ("get" and "client" for "get a new client"): most docs that hold a group's word
    hold no match of it. The matches are those of one Matcher holding all the patterns. It
    stands in for the `matcher` of a SpanRuler (add, call, len, contains, remove).
    """

    _ATTRS = ("LOWER", "LEMMA")

    def __init__(self, vocab: Any, *, validate: bool = True) -> None:
        from spacy.matcher import Matcher

        self._new = lambda: Matcher(vocab, validate=validate)
        self._strings = vocab.strings
        self._general = self._new()
        # per attribute, the hash of a word or lemma -> the Matcher of the patterns needing it
        self._anchored: dict[str, dict[int, Any]] = {attr: {} for attr in self._ATTRS}
        self._holders: dict[str, list[Any]] = {}
        # per anchored Matcher (by id), per key, the needs of each of its patterns
        self._needs: dict[int, dict[str, list[Needs]]] = {}

    @staticmethod
    def _required(pattern: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        """RETURNS (list): (attribute, values) for each word or lemma test of a token every
        match holds: one of the values is in the doc."""
        required = []
        for spec in pattern:
            spec = {str(k).upper(): v for k, v in spec.items()}
            if spec.get("OP", "1") not in ("1", "+"):
                continue
            for attr in AnchoredMatcher._ATTRS:
                value = spec.get(attr)
                if isinstance(value, str):
                    required.append((attr, [value]))
                elif isinstance(value, dict) and set(value) == {"IN"} and value["IN"]:
                    values = [v for v in value["IN"] if isinstance(v, str)]
                    if len(values) == len(value["IN"]):
                        required.append((attr, values))
        return required

    @classmethod
    def anchors(cls, pattern: list[dict[str, Any]]) -> set[tuple[str, str]] | None:
        """RETURNS (set | None): (attribute, value) pairs of which every match has one, the
        fewest and least common there are; None when no token of the pattern is required with
        a given word or lemma."""
        best, best_rank = None, None
        for attr, values in cls._required(pattern):
            rank = (any(v in STOP_WORDS for v in values), len(values))
            if best_rank is None or rank < best_rank:
                best, best_rank = {(attr, v) for v in values}, rank
        return best

    def _needs_of(self, pattern: list[dict[str, Any]]) -> Needs:
        return tuple(
            (self._ATTRS.index(attr), frozenset(self._strings.add(v) for v in values))
            for attr, values in self._required(pattern)
        )

    def add(self, key: str, patterns: list[list[dict[str, Any]]]) -> None:
        """Add patterns under a key (as Matcher.add)."""
        for pattern in patterns:
            anchors = self.anchors(pattern)
            matchers = []
            for anchor in sorted(anchors) if anchors else [None]:
                if anchor is None:
                    matcher = self._general
                else:
                    attr, value = anchor
                    by_value = self._anchored[attr]
                    key_hash = self._strings.add(value)
                    matcher = by_value.get(key_hash)
                    if matcher is None:
                        matcher = by_value[key_hash] = self._new()
                    needs = self._needs.setdefault(id(matcher), {})
                    needs.setdefault(key, []).append(self._needs_of(pattern))
                matchers.append(matcher)
            holders = self._holders.setdefault(key, [])
            for matcher in matchers:
                matcher.add(key, [pattern])
                if not any(m is matcher for m in holders):
                    holders.append(matcher)

    def _may_match(self, matcher: Any, present: tuple[set[int], set[int]]) -> bool:
        """RETURNS (bool): whether the doc holds all that one of the matcher's patterns needs."""
        return any(
            all(not present[attr].isdisjoint(hashes) for attr, hashes in needs)
            for by_key in self._needs[id(matcher)].values()
            for needs in by_key
        )

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        matches = list(self._general(doc)) if len(self._general) else []
        if len(doc):
            values = doc.to_array([LOWER, LEMMA])
            present = (set(values[:, 0].tolist()), set(values[:, 1].tolist()))
            for k, attr in enumerate(self._ATTRS):
                by_value = self._anchored[attr]
                for key_hash in present[k].intersection(by_value):
                    matcher = by_value[key_hash]
                    if len(matcher) and self._may_match(matcher, present):
                        matches.extend(matcher(doc))
        # a pattern held under several words of a set runs once for each of them in the doc
        return list(dict.fromkeys(matches))

    def __len__(self) -> int:
        return len(self._holders)

    def __contains__(self, key: str) -> bool:
        return key in self._holders

    def remove(self, key: str) -> None:
        """Remove every pattern of a key (as Matcher.remove)."""
        for matcher in self._holders.pop(key):
            matcher.remove(key)
            self._needs.get(id(matcher), {}).pop(key, None)


class PhraseMatchers:
    """Several PhraseMatchers (on lemmas, on lower-case words) as one, for a SpanRuler that
    matches phrases on more than one attribute: the matches of all, in turn."""

    def __init__(self, *matchers: Any) -> None:
        self.matchers = matchers

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        return [match for matcher in self.matchers for match in matcher(doc)]

    def __len__(self) -> int:
        return sum(len(matcher) for matcher in self.matchers)

    def __contains__(self, key: str) -> bool:
        return any(key in matcher for matcher in self.matchers)

    def remove(self, key: str) -> None:
        """Remove the phrases of a key from every matcher holding it (as PhraseMatcher.remove)."""
        for matcher in self.matchers:
            if key in matcher:
                matcher.remove(key)


CODEBOOK_RULER = "qualcode_span_ruler"


class CodebookRuler(SpanRuler):
    """spaCy's SpanRuler, with less work per doc: its matchers run only when they hold patterns,
    the matches are told apart as (start, end, key) before any span is made, and a doc without
    a match gets no span group (read `doc.spans.get(key, [])`). The spans are the SpanRuler's.
    """

    def match(self, doc: Doc) -> list[Span]:
        self._require_patterns()
        found = set()
        for matcher in (self.matcher, self.phrase_matcher):
            if len(matcher):
                found.update((s, e, key) for key, s, e in matcher(doc) if s != e)
        labels = self._match_label_id_map
        return [
            Span(doc, s, e, label=labels[key]["label"], span_id=labels[key]["id"])
            for s, e, key in sorted(found)
        ]

    def set_annotations(self, doc: Doc, matches: list[Span]) -> None:
        if matches or self.annotate_ents or (self.key and self.key in doc.spans):
            super().set_annotations(doc, matches)


@Language.factory(
    CODEBOOK_RULER,
    default_config={
        "spans_key": "qualcode",
        "phrase_matcher_attr": None,
        "validate": False,
        "overwrite": False,
    },
)
def make_codebook_ruler(
    nlp: Language,
    name: str,
    spans_key: str,
    phrase_matcher_attr: str | None,
    validate: bool,
    overwrite: bool,
) -> CodebookRuler:
    """RETURNS (CodebookRuler): the ruler (see `CodebookRuler`)."""
    return CodebookRuler(
        nlp,
        name,
        spans_key=spans_key,
        phrase_matcher_attr=phrase_matcher_attr,
        validate=validate,
        overwrite=overwrite,
    )
