"""Which text is a name to replace: the signals de-identification decides with.

spaCy's entities alone take too much for names: technical terms (``Java``, ``Linux``), common words
at the start of a sentence (``Café``), acronyms (``PDP``), a transcriber's redaction (``XXX``).
`NameRules.entity_name` keeps a spaCy entity only when the other signals agree:

1. the study's **allow list** (`deid.allow` in config/params.yml: study terms, public tools and
   platforms) is never a name; its **deny list** (`deid.deny`) always is (see `ingest.deid`);
2. a **placeholder** a transcriber left (``XXX``, ``[redacted]``, ``***``: `PLACEHOLDER_RE`) or a
   **generic label** (``Participant``, ``Interviewer``, ``Speaker 1``: `GENERIC_LABEL_RE`) stays as
   it is;
3. an **acronym** of up to seven capitals (``PDP``, ``JSON``, ``SNOMED``) is no name: one that
   identifies someone (an accelerator's, a client's) belongs in the deny list;
4. **word frequency**: a word that the corpus itself writes in lower case and capitalises only
   where a sentence starts is a common word; so is, in a PERSON or ORG entity, a word whose English
   Zipf frequency (`wordfreq`, the word or its form without accents) reaches `common_word_zipf`
   (places are exempt: ``London`` is frequent and still a place, but a lone place needs a second
   signal when it is a frequent word: a place cue, ``in``, ``near``, ``from``, before it
   (`PLACE_CUE_RE`), or spaCy calling it a place in two transcripts). Common words opening an entity
   are dropped (``Took Luis`` -> ``Luis``); an entity made only of common words is no name, unless
   it is a person's name of two words or more (``John Smith``, not ``I. So``).

5. a **lone word** (an entity of one word) that is this frequent (`LONE_WORD_ZIPF`: ``Covid``,
   ``Naïve``) or capitalised only where a sentence starts, and the **shape of a technical term**
   (CamelCase: ``PowerPoint``), is no name either, unless a second signal confirms it (part of a
   full name, a speaker label, the deny list).

Organisations are found without spaCy too (`org_cue_names`): capitalised words before a legal or
organisational suffix (``Pennant Mutual``, ``Quillon Risk GmbH``), an unknown word after
``joined``, ``founded``, ``worked at`` (``joined Optivance``), capitalised words in apposition to a
word for an organisation (``a campaign group, Open Ledger Fens``; ``Side Door Data, the podcast``),
and, after ``at``, ``for``, ``with``, capitalised words that spaCy took for an entity and of which
one is no common word (``at Harrowgate Specialty``).

People spaCy misses are found by `person_cue_names`: a first name known from the corpus (a
participant's, a speaker's, the first word of a full name, a word spaCy tagged as a person), or a
rare word before a surname spaCy tagged or wordfreq does not know, followed by one or two
surname-like words that are no common words (``Angus McLeish``, ``Rhodri Vaughan-Price``).

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
ACRONYM_RE = re.compile(r"[A-Z][A-Z0-9&]{0,6}s?")
# A lone word spaCy alone calls a name, with no second signal (part of a full name, a speaker
# label, an organisation's suffix), is a common word from this frequency on (``Covid``, ``Naïve``).
LONE_WORD_ZIPF = 3.5
# A technical term's shape: CamelCase (``PowerPoint``, ``GeoPandas``, ``LaTeX``).
CAMEL_CASE_RE = re.compile(r"[A-Z]?[a-z]+[A-Z][\w]*|[A-Z]{2,}[a-z]+[A-Z]?\w*")
# Words that end an organisation's name (``Pennant Mutual``, ``Kalibra Labs``, ``Quillon GmbH``).
ORG_SUFFIXES = (
    "Inc", "Ltd", "Limited", "LLC", "LLP", "PLC", "GmbH", "AG", "SA", "SARL", "SRL", "SL", "AB",
    "BV", "NV", "CIC", "Corp", "Co", "Labs", "Mutual", "Partners", "Group", "Capital", "Ventures",
    "Holdings", "Associates", "Analytics", "Consulting", "Consultancy", "Insights", "Systems",
    "Software", "Biotech", "Games", "Metrics", "Shipping", "Research", "Foundation", "Trust",
)  # fmt: skip
_CAP_WORD = r"[A-Z][\w'’&.-]*[\w]"
ORG_SUFFIX_RE = re.compile(
    rf"\b(?P<name>{_CAP_WORD}(?:[ ](?:&[ ])?{_CAP_WORD}){{0,3}})[ ]"
    rf"(?P<suffix>{'|'.join(ORG_SUFFIXES)})\b\.?"
)
# "I joined Optivance", "she founded Lendwise": an unknown capitalised word after these is a
# company's name.
ORG_VERB_RE = re.compile(
    r"\b(?:joined|founded|co-founded|(?:work|worked|working) (?:at|for)|job at|hired by)"
    r"[ ](?P<name>[A-Z][\w-]+)"
)
UNKNOWN_WORD_ZIPF = 2.0
_ARTICLES = frozenset({"the", "a", "an"})
# Words before a place (``in Cardiff``, ``out of Bristol``, ``went to Germany``).
PLACE_CUE_RE = re.compile(r"\b(?:in|near|from|out of|outside|to|around)\s+$", re.I)
# The same for a word spaCy called an organisation or a person: a bare ``in`` or ``to`` is no cue
# there (``regressions in Stata``, ``moved to Slack``).
STRONG_PLACE_CUE_RE = re.compile(
    r"\b(?:near|out of|outside|around|(?:lives|lived|living|based|born|grew up) in|"
    r"(?:moved|move|moving|relocated) to)\s+$",
    re.I,
)
# Words for an organisation that a name stands in apposition to (``a campaign group, Open Ledger
# Fens``; ``Side Door Data, the podcast``).
ORG_NOUNS = (
    "company", "firm", "startup", "start-up", "competitor", "client", "agency", "consultancy",
    "employer", "group", "publisher", "newspaper", "paper", "magazine", "podcast", "charity",
    "cooperative", "co-op", "bank", "insurer", "network", "collective", "organisation",
    "organization", "nonprofit", "non-profit", "brewery", "studio", "practice", "trust",
)  # fmt: skip
_NAME_RUN = rf"(?:The[ ])?{_CAP_WORD}(?:[ ](?:&[ ]|of[ ])?{_CAP_WORD}){{0,3}}"
ORG_APPOSITION_RE = re.compile(
    rf"\b(?:{'|'.join(ORG_NOUNS)}),[ ](?P<name>{_NAME_RUN})(?=[,.;:!?]|$)"
    rf"|(?<=[a-z,][ ])(?P<before>{_NAME_RUN}),[ ](?:the|a|an|our|my)[ ]"
    rf"(?:[a-z-]+[ ])?(?:{'|'.join(ORG_NOUNS)})\b"
)
# "at Harrowgate Specialty", "with The Wash Observer": capitalised words after these, when spaCy
# tagged them as an entity, are an organisation.
ORG_PREPOSITION_RE = re.compile(
    rf"\b(?:at|for|with|joined|founded|co-founded)[ ](?P<name>{_NAME_RUN})"
)
# A surname: capitalised, with its Mc/Mac/O' prefix or a hyphen (``McLeish``, ``Vaughan-Price``).
_SURNAME = r"(?:Mc|Mac|O['’])?[A-Z][a-z]+(?:-(?:Mc|Mac|O['’])?[A-Z][a-z]+)?"
PERSON_RUN_RE = re.compile(
    rf"(?<![\w'’-])(?P<first>[A-Z][a-z]+)(?P<rest>(?:[ ]{_SURNAME}){{1,2}})(?![\w'’-])"
)


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


def _case_sets(texts: Iterable[str]) -> tuple[set[str], set[str]]:
    """RETURNS (tuple): the words seen in lower case, and (case-folded) those seen capitalised
    in the middle of a sentence."""
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
                mid_capital.add(re.sub(r"['’]s$", "", word.casefold()))
    return lower, mid_capital


def corpus_common_words(texts: Iterable[str], *, all_lower: bool = False) -> frozenset[str]:
    """Words the corpus itself treats as common: seen in lower case, and capitalised only where a
    sentence starts (with `all_lower`: every word seen in lower case).

    RETURNS (frozenset[str]): the case-folded words.
    """
    lower, mid_capital = _case_sets(texts)
    return frozenset(lower if all_lower else lower - mid_capital)


def corpus_mid_capitals(texts: Iterable[str]) -> frozenset[str]:
    """Words the corpus capitalises in the middle of a sentence (``in the Kalibra days``).

    RETURNS (frozenset[str]): the case-folded words (possessive dropped).
    """
    return frozenset(_case_sets(texts)[1])


class CorpusWords:
    """What the corpus' own text says about its words (`corpus_common_words`,
    `corpus_mid_capitals`, `NameRules.place_cue_counts`), gathered text by text, so that a
    corpus need not be held whole to know it."""

    def __init__(self) -> None:
        self.lower: set[str] = set()
        self.mid_capital: set[str] = set()
        self.place_cues: dict[str, int] = {}

    def add(self, texts: Iterable[str]) -> None:
        """Count in more of the corpus' texts."""
        texts = list(texts)
        lower, mid_capital = _case_sets(texts)
        self.lower |= lower
        self.mid_capital |= mid_capital
        for name, n in NameRules.place_cue_counts(texts).items():
            self.place_cues[name] = self.place_cues.get(name, 0) + n

    def common(self, *, all_lower: bool = False) -> frozenset[str]:
        """RETURNS (frozenset[str]): `corpus_common_words` of the texts added."""
        return frozenset(self.lower if all_lower else self.lower - self.mid_capital)


class NameRules:
    """The study's allow list, the corpus' common words and the frequency threshold, applied to
    the entities spaCy finds.

    allow: texts never replaced (case-insensitive).
    common: case-folded words the corpus treats as common (`corpus_common_words`).
    lower: case-folded words the corpus writes in lower case anywhere (no aliases).
    common_word_zipf: the Zipf frequency from which a word is common (0: no frequency check).
    mid_capital: case-folded words the corpus capitalises mid-sentence (`corpus_mid_capitals`);
        None: not known (no sentence-start check).
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        common: Iterable[str] = (),
        lower: Iterable[str] = (),
        common_word_zipf: float = 4.0,
        mid_capital: Iterable[str] | None = None,
    ) -> None:
        self.allow = frozenset(_fold(a) for a in allow)
        self.mid_capital = None if mid_capital is None else frozenset(mid_capital)
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

    def entity_name(self, text: str, label: str, *, place: bool = False) -> str | None:
        """The part of a spaCy entity that is a name, or None when it is not one (see the module
        docstring for the signals).

        place: a second signal says it is a place (a place cue before it, spaCy calling it a
            place in two transcripts): a lone frequent word is then a place all the same.
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
        if len(tokens) == 1 and (frequency or not place) and self.is_lone_common(name, label=label):
            return None
        return name

    def is_lone_common(self, word: str, *, label: str = "ORG") -> bool:
        """Whether a word standing alone, with no second signal, is a common word or a technical
        term rather than a name: CamelCase (``PowerPoint``), a frequent word (`LONE_WORD_ZIPF`:
        ``Covid``; for a person, from `common_word_zipf`: first names are frequent words), or
        a known word the corpus capitalises only where a sentence starts (``Naïve``).

        RETURNS (bool): whether it is no name on its own.
        """
        if self.common_word_zipf <= 0:
            return False
        bare = re.sub(r"['’]s$", "", word.strip(".,;:!?\"'()[]-"))
        if CAMEL_CASE_RE.fullmatch(bare):
            return True
        frequency = zipf(bare)
        threshold = self.common_word_zipf
        if label != "PERSON":
            threshold = min(LONE_WORD_ZIPF, threshold)
        if frequency >= threshold:
            return True
        return (
            self.mid_capital is not None
            and bare.casefold() not in self.mid_capital
            and frequency >= UNKNOWN_WORD_ZIPF + 1
        )

    def is_rare(self, word: str) -> bool:
        """Whether a single word of a name is rare enough in English to be replaced in any case
        (``corvane`` for ``Corvane``), while a common one (``Rose``) is replaced only with its
        capital.

        RETURNS (bool): whether it is rare.
        """
        bare = word.strip(".")
        return (
            self.common_word_zipf > 0
            and zipf(bare) < self.common_word_zipf
            and bare.casefold() not in self.common
            and not self.is_allowed(bare)
        )

    def org_cue_names(self, text: str, *, tagged: Iterable[str] = ()) -> list[str]:
        """Organisations named without spaCy: capitalised words before a legal or organisational
        suffix (``Pennant Mutual``, ``Veldkamp & Ruis Consultancy``), an unknown word after
        ``joined``, ``founded``, ``worked at`` (``joined Optivance``), capitalised words in
        apposition to a word for an organisation (``a campaign group, Open Ledger Fens``), and
        capitalised words after ``at``, ``for``, ``with`` that spaCy tagged as an entity
        (`tagged`: the entity texts of this turn) and of which one is no common word. Common words
        opening the name are dropped (``At Pennant Mutual``); a name of common words, acronyms or
        allowed words only is none.

        RETURNS (list[str]): the names, in order of appearance.
        """
        names = self._apposition_names(text) + self._preposition_names(text, tagged)
        for match in ORG_SUFFIX_RE.finditer(text):
            words = list(re.finditer(r"\S+", match.group("name")))
            while words and (words[0].group(0) == "&" or self.is_common(words[0].group(0))):
                words.pop(0)
            distinctive = [
                w.group(0)
                for w in words
                if w.group(0) != "&"
                and not self.is_common(w.group(0))
                and not ACRONYM_RE.fullmatch(w.group(0))
                and not self.is_allowed(w.group(0))
            ]
            if not distinctive:
                continue
            start = match.start("name") + words[0].start()
            name = text[start : match.end("suffix")]
            if not self.is_allowed(name) and not is_placeholder(name):
                names.append(name)
        for match in ORG_VERB_RE.finditer(text):
            word = match.group("name")
            if (
                zipf(word) < UNKNOWN_WORD_ZIPF
                and not self.is_allowed(word)
                and not ACRONYM_RE.fullmatch(word)
                and not CAMEL_CASE_RE.fullmatch(word)
            ):
                names.append(word)
        return names

    def _apposition_names(self, text: str) -> list[str]:
        """RETURNS (list[str]): names in apposition to a word for an organisation."""
        names = []
        for match in ORG_APPOSITION_RE.finditer(text):
            name = match.group("name") or match.group("before")
            tokens = name.split(" ")
            if tokens[0] == "The":
                tokens.pop(0)
            if (
                not tokens
                or self.is_allowed(" ".join(tokens))
                or any(self.is_allowed(t) or is_placeholder(t) for t in tokens)
                or (len(tokens) == 1 and ACRONYM_RE.fullmatch(tokens[0]))
                or (len(tokens) == 1 and self.is_common(tokens[0]))
            ):
                continue
            names.append(" ".join(tokens))
        return names

    def _preposition_names(self, text: str, tagged: Iterable[str]) -> list[str]:
        """RETURNS (list[str]): names of two words or more after ``at``, ``for``, ``with`` that
        spaCy tagged, with one word that is no common word."""
        tagged = {re.sub(r"^The ", "", t.strip()) for t in tagged}
        names = []
        for match in ORG_PREPOSITION_RE.finditer(text):
            name = match.group("name")
            bare = re.sub(r"^The ", "", name)
            if bare not in tagged or len(bare.split(" ")) < 2 or self.is_allowed(bare):
                continue
            tokens = bare.split(" ")
            if any(self.is_allowed(t) or is_placeholder(t) for t in tokens):
                continue
            if all(self.is_common(t) or ACRONYM_RE.fullmatch(t) for t in tokens):
                continue
            names.append(bare)
        return names

    def is_surname(self, word: str) -> bool:
        """Whether a word may be a surname: capitalised, no common word (by the corpus and by
        `common_word_zipf`), not allowed, no acronym; CamelCase only after Mc, Mac or O'.

        RETURNS (bool): whether it may be a surname.
        """
        parts = [re.sub(r"^(?:Mc|Mac|O['’])(?=[A-Z])", "", part) for part in word.split("-")]
        return (
            bool(re.fullmatch(_SURNAME, word))
            and not any(CAMEL_CASE_RE.fullmatch(part) for part in parts)
            and not self.is_allowed(word)
            and not self.is_common(word)
            and any(not self.is_common(part) for part in parts)
            # a word the corpus writes in lower case is a common word, unless very rare
            and not (word.casefold() in self.lower and zipf(word) >= UNKNOWN_WORD_ZIPF)
        )

    def person_cue_names(
        self, text: str, *, first_names: Iterable[str] = (), tagged: Iterable[str] = ()
    ) -> list[str]:
        """People spaCy did not tag: a first name followed by one or two surnames (`is_surname`).
        The first name is known (`first_names`: of participants, speakers, full names found in the
        corpus, words spaCy tagged as people), or it is no common word and a surname is a word
        spaCy tagged here as any entity (`tagged`: ``Aitor Mendizabal``) or one wordfreq hardly
        knows (``Bartholomew Nkemelu``).

        RETURNS (list[str]): the names, in order of appearance.
        """
        first_names = {w.casefold() for w in first_names}
        tagged_words = {w.casefold() for t in tagged for w in re.split(r"[\s'’]+", t) if w}
        names = []
        for match in PERSON_RUN_RE.finditer(text):
            first = match.group("first")
            surnames = match.group("rest").split()
            while surnames and not self.is_surname(surnames[-1]):
                surnames.pop()
            if not surnames or not all(self.is_surname(s) for s in surnames):
                continue
            if self.is_allowed(first) or self.is_allowed(f"{first} {surnames[0]}"):
                continue
            known = first.casefold() in first_names
            if not known:
                if self.is_common(first):
                    continue
                if not any(
                    s.casefold() in tagged_words or zipf(s) < UNKNOWN_WORD_ZIPF - 1
                    for s in surnames
                ):
                    continue
            names.append(" ".join([first, *surnames]))
        return names

    @staticmethod
    def place_cue_counts(texts: Iterable[str]) -> dict[str, int]:
        """How often each capitalised word or run stands after a place cue (`PLACE_CUE_RE`) in
        the corpus: a name twice after one is a place (``in Cardiff`` ... ``registered in
        Cardiff``), a tool named once after ``in`` is not (``regressions in Stata``).

        RETURNS (dict[str, int]): name -> mentions after a place cue.
        """
        counts: dict[str, int] = {}
        run = re.compile(
            r"\b(?:in|near|from|out of|outside|to|around)\s+([A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*)"
        )
        for text in texts:
            for match in run.finditer(text):
                name = re.sub(r"['’]s$", "", match.group(1))
                words = name.split(" ")
                for end in range(1, len(words) + 1):
                    key = " ".join(words[:end])
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def place_signal(self, text: str, name: str, *, strong: bool = False) -> bool:
        """Whether `name` stands after a place cue in `text` (``in Cardiff``, ``out of Bristol``).

        strong: only the cues that leave no doubt (`STRONG_PLACE_CUE_RE`: ``out of``, ``near``,
            ``based in``), for what spaCy called something else.
        RETURNS (bool): whether a place cue precedes one of its mentions.
        """
        cue = STRONG_PLACE_CUE_RE if strong else PLACE_CUE_RE
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        return any(
            cue.search(text[max(0, m.start() - 20) : m.start()]) for m in pattern.finditer(text)
        )

    def is_alias(self, word: str) -> bool:
        """Whether a first or last word of a full name found by spaCy may stand for the whole
        name: not a word the corpus capitalises only where a sentence starts, nor a very frequent
        one (``Will``). A common one (``Rose``) is replaced only with its capital, and where a
        sentence starts only when spaCy tags it there (`Pseudonymiser.replace`).

        RETURNS (bool): whether the word is an alias.
        """
        bare = word.strip(".")
        return (
            len(bare) >= 3
            and bare[:1].isupper()
            and bare.casefold() not in self.common
            and not self.is_allowed(bare)
            and zipf(bare) < ALIAS_MAX_ZIPF
        )

    def is_org_alias(self, word: str) -> bool:
        """Whether the first word of an organisation's name stands for it (``Fernhill`` for
        ``Fernhill Software``): an alias (`is_alias`) that is no common word either.

        RETURNS (bool): whether the word is an alias.
        """
        return self.is_alias(word) and not self.is_common(word)
