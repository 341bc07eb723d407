"""Which text is a name to replace: the signals de-identification decides with.

spaCy's entities alone take too much for names: technical terms (``Java``, ``Linux``), common words
at the start of a sentence (``Café``), acronyms (``PDP``), a transcriber's redaction (``XXX``).
`NameRules.entity_name` keeps a spaCy entity only when the other signals agree:

1. the study's **allow list** (`deid.allow` in config/params.yml: study terms, public tools and
   platforms) is never a name; its **deny list** (`deid.deny`) always is (see `ingest.deid`);
2. a **placeholder** a transcriber left (``XXX``, ``[redacted]``, ``***``: `PLACEHOLDER_RE`) or a
   **generic label** (``Participant``, ``Interviewer``, ``Speaker 1``: `GENERIC_LABEL_RE`) stays as
   it is;
3. an **acronym** of up to five capitals (``PDP``, ``JSON``, ``CTO``) is no name: one that
   identifies someone (an accelerator's, a client's) belongs in the deny list;
4. **word frequency**: a word that the corpus itself writes in lower case and capitalises only
   where a sentence starts is a common word; so is, in a PERSON or ORG entity, a word whose English
   Zipf frequency (`wordfreq`, the word or its form without accents) reaches `common_word_zipf`
   (places are exempt: ``London`` is frequent and still a place). Common words opening an entity
   are dropped (``Took Luis`` -> ``Luis``); an entity made only of common words is no name, unless
   it is a person's name of two words or more (``John Smith``, not ``I. So``).

The first and last word of a full name spaCy found stand for the whole name (``Greta`` for
``Greta Solberg``), and the first word of an organisation's (``Fernhill`` for
``Fernhill Software``) unless the corpus writes them in lower case (``Storage`` of
``Brightline Storage``) or they are very frequent words (``Will``).

Names known to be names (participants.csv, speaker labels, the deny list, the first and last word
of a full name found anywhere in the corpus) are not judged here: they are always replaced.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# A transcriber's redaction: kept as it is, never taken for a name.
PLACEHOLDER_RE = re.compile(
    r"X{2,}|x{3,}|\*{3,}|_{3,}|#{3,}|(?i:redacted|\[(?:redacted|removed|name|surname|"
    r"first name|last name|company|organi[sz]ation|employer|client|school|university|place|"
    r"location|city|country|region|address|email|phone|number|url|website|product|"
    r"[\w ]{1,30} (?:name|redacted|removed))\]|<(?:redacted|removed|name)>)"
)
# Speaker labels that name a role, not a person: kept as they are, never pseudonymised.
GENERIC_LABEL_RE = re.compile(
    r"^(?:interviewer|moderator|facilitator|researcher|participant|respondent|interviewee|"
    r"speaker|unknown|unknown speaker|guest|host|q|a|i|r|p)(?:[ _-]?\d+)?$",
    re.I,
)
# A word this frequent (``Will``, ``Mark``, ``Took``) is no alias for a full name spaCy found.
ALIAS_MAX_ZIPF = 5.0
# A word this frequent (``I``, ``So``, ``The``) is no part of a person's name either.
FUNCTION_WORD_ZIPF = 6.0
ACRONYM_RE = re.compile(r"[A-Z][A-Z0-9&]{0,4}s?")
_ARTICLES = frozenset({"the", "a", "an"})


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'")).strip().casefold()


def _without_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """The English Zipf frequency of a word (wordfreq; the higher of the word and its form
    without accents: ``Naïve`` as ``naive``). 3 is once in a million words, 6 once in a thousand.

    RETURNS (float): the frequency, 0 for a word wordfreq does not know.
    """
    from wordfreq import zipf_frequency

    word = word.casefold().strip(".'’-")
    if not word:
        return 0.0
    plain = _without_accents(word)
    return max(zipf_frequency(word, "en"), zipf_frequency(plain, "en") if plain != word else 0.0)


def is_placeholder(text: str) -> bool:
    """RETURNS (bool): whether `text` is a transcriber's redaction (``XXX``, ``[redacted]``)."""
    return PLACEHOLDER_RE.fullmatch(text.strip()) is not None


def is_generic_label(label: str) -> bool:
    """RETURNS (bool): whether a speaker label names a role (``Participant``, ``Speaker 2``)."""
    return GENERIC_LABEL_RE.match(label.strip()) is not None


def corpus_common_words(texts: Iterable[str], *, all_lower: bool = False) -> frozenset[str]:
    """Words the corpus itself treats as common: seen in lower case, and capitalised only where a
    sentence starts (with `all_lower`: every word seen in lower case).

    RETURNS (frozenset[str]): the case-folded words.
    """
    from qualcode.ingest.deid import EMAIL_RE, URL_RE

    lower: set[str] = set()
    mid_capital: set[str] = set()
    for text in texts:
        text = URL_RE.sub(" ", EMAIL_RE.sub(" ", text))
        for match in re.finditer(r"\b[^\W\d_][\w'-]*", text):
            word = match.group(0)
            if word.islower():
                lower.add(word)
            elif word[:1].isupper() and re.search(
                r"[\w,;:]\s+$", text[max(0, match.start() - 3) : match.start()]
            ):
                mid_capital.add(word.casefold())
    return frozenset(lower if all_lower else lower - mid_capital)


class NameRules:
    """The study's allow list, the corpus' common words and the frequency threshold, applied to
    the entities spaCy finds.

    allow: texts never replaced (case-insensitive).
    common: case-folded words the corpus treats as common (`corpus_common_words`).
    lower: case-folded words the corpus writes in lower case anywhere (no aliases).
    common_word_zipf: the Zipf frequency from which a word is common (0: no frequency check).
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        common: Iterable[str] = (),
        lower: Iterable[str] = (),
        common_word_zipf: float = 4.0,
    ) -> None:
        self.allow = frozenset(_fold(a) for a in allow)
        self.common = frozenset(common)
        self.lower = frozenset(lower) | self.common
        self.common_word_zipf = common_word_zipf

    def is_allowed(self, text: str) -> bool:
        """RETURNS (bool): whether `text` (possessive aside) is on the allow list."""
        folded = _fold(text)
        return folded in self.allow or re.sub(r"'s?$", "", folded) in self.allow

    def is_common(self, word: str, *, frequency: bool = True) -> bool:
        """Whether a single word is a common word, not a name by itself.

        frequency: use the English word frequency too (not for places).
        RETURNS (bool): whether it is common.
        """
        bare = word.strip(".,;:!?\"'()[]-")
        if not bare:
            return True
        folded = bare.casefold()
        if folded in _ARTICLES or folded in self.common or not bare[:1].isupper():
            return True
        return frequency and self.common_word_zipf > 0 and zipf(bare) >= self.common_word_zipf

    def entity_name(self, text: str, label: str) -> str | None:
        """The part of a spaCy entity that is a name, or None when it is not one (see the module
        docstring for the signals).

        RETURNS (str | None): the name.
        """
        text = re.sub(r"\s+", " ", text).strip(" .,;:!?\"'()[]-*_")
        text = re.sub(r"['’]s$", "", text)
        if not text or self.is_allowed(text) or is_placeholder(text) or is_generic_label(text):
            return None
        tokens = [t for t in text.split(" ") if t]
        frequency = label != "GPE"
        # common words opening the entity are dropped; for a person, only those the corpus
        # writes in lower case (``Took Luis``), since first names are frequent words (``John``)
        while (
            tokens
            and not self.is_allowed(" ".join(tokens))
            and (
                tokens[0].strip(".").casefold() in self.common | _ARTICLES
                or not tokens[0][:1].isupper()
                or (label != "PERSON" and self.is_common(tokens[0], frequency=frequency))
            )
        ):
            tokens.pop(0)
        while tokens and tokens[-1].strip(".").casefold() in _ARTICLES:
            tokens.pop()
        if not tokens:
            return None
        name = " ".join(tokens)
        if self.is_allowed(name) or is_placeholder(name) or is_generic_label(name):
            return None
        if len(tokens) == 1 and ACRONYM_RE.fullmatch(name):
            return None
        if any(is_placeholder(t) for t in tokens):
            return None
        capitalised = [t for t in tokens if t[:1].isupper()]
        if not capitalised:
            return None
        if all(self.is_common(t, frequency=frequency) for t in tokens):
            person = label == "PERSON" and len(capitalised) >= 2 and len(tokens) == len(capitalised)
            if (
                not person
                or any(t.casefold().strip(".") in self.common for t in tokens)
                or any(zipf(t) >= FUNCTION_WORD_ZIPF for t in tokens)
            ):
                return None
        return name

    def is_alias(self, word: str) -> bool:
        """Whether a first or last word of a full name found by spaCy may stand for the whole
        name: not a word the corpus writes in lower case, nor a very frequent one (``Will``).

        RETURNS (bool): whether the word is an alias.
        """
        bare = word.strip(".")
        return (
            len(bare) >= 3
            and bare[:1].isupper()
            and bare.casefold() not in self.lower
            and not self.is_allowed(bare)
            and zipf(bare) < ALIAS_MAX_ZIPF
        )

    def is_org_alias(self, word: str) -> bool:
        """Whether the first word of an organisation's name stands for it (``Fernhill`` for
        ``Fernhill Software``): an alias (`is_alias`) that is no common word either.

        RETURNS (bool): whether the word is an alias.
        """
        return self.is_alias(word) and not self.is_common(word)
