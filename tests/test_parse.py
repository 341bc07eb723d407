"""The coder parses only the docs whose coding reads the parse, and codes as if it parsed all."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from qualcode.coding.codebook import load_codebook
from qualcode.coding.negation import NEG_WORDS, Cues
from qualcode.coding.parse import PARSER, ParseFollowUp, is_parsed, parse_docs
from qualcode.coding.quantities import PARSE_ADVERBS
from qualcode.coding.rules import (
    PARSE_CODING,
    PARSE_PATTERNS,
    CodingUnit,
    build_coder,
    code_docs,
    code_texts,
)
from qualcode.config import CodingParams, Params

FIXTURES = Path(__file__).parent / "fixtures"

# negated, hypothetical and plain mentions, numbers with "but", contractions the parser labels
NEGATION_EXAMPLES = [
    "I never had a niche.",
    "I don't have a niche.",
    "I dont post on LinkedIn.",
    "I do not post on LinkedIn, but I post on Substack.",
    "If I had a niche, I would charge more.",
    "I'd see if anyone would pay for a niche newsletter.",
    "Unless a referral comes in, I take what comes.",
    "There was no referral at all.",
    "Nobody sent me referrals, nothing came through word of mouth.",
    "Without referrals I would not have clients.",
    "I have a niche, and it is energy.",
    "I post on LinkedIn every week.",
    "I work ten but honestly hours a week for each client.",
    "Imagine I had three clients at a time, each one gets about ten hours a week.",
    "I don't see myself going back to a full-time job.",
    "It went well. Proposals came in after that, and we never looked back.",
]


def fixture_sentences() -> list[str]:
    """The participant lines of the small study's transcripts, with the negation examples."""
    lines = []
    for path in sorted((FIXTURES / "small_study" / "raw").glob("*.txt")):
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            text = re.sub(r"^[^:\n]{1,40}:\s*", "", " ".join(block.split()))
            if len(text.split()) >= 3:
                lines.append(text)
    return [*lines, *NEGATION_EXAMPLES]


def parse_everything(coder):
    """The same coder running the parser on every doc, as the whole English pipeline does."""
    coder.enable_pipe(PARSER)
    for name in (PARSE_PATTERNS, PARSE_CODING):
        if name in coder.pipe_names:
            coder.remove_pipe(name)
    return coder


@pytest.fixture(scope="module")
def demo_codebook(demo_files):
    return load_codebook(demo_files.codebook)


@pytest.fixture(scope="module")
def coder(demo_codebook):
    return build_coder(demo_codebook)


@pytest.fixture(scope="module")
def full_coder(demo_codebook):
    return parse_everything(build_coder(demo_codebook))


def _rows(nlp, texts, codebook):
    units = [CodingUnit("t", i, 0, 0, len(t), t) for i, t in enumerate(texts)]
    docs = list(nlp.pipe(texts))
    return docs, code_docs(zip(docs, units, strict=True), codebook, cues=Cues.from_params(Params()))


def test_the_coder_runs_no_parser_and_no_ner_on_every_doc(coder):
    assert PARSER not in coder.pipe_names and "ner" not in coder.pipe_names
    assert coder.pipe_names[:4] == ["tok2vec", "tagger", "attribute_ruler", "lemmatizer"]


def test_selective_parsing_codes_as_parsing_everything(coder, full_coder, demo_codebook):
    texts = fixture_sentences()
    docs, (codings, quantities) = _rows(coder, texts, demo_codebook)
    full_docs, (full_codings, full_quantities) = _rows(full_coder, texts, demo_codebook)
    assert codings == full_codings and quantities == full_quantities
    negated = {(r["turn_id"], r["cue"]) for r in codings if r["negated"]}
    # the examples' cues are found as before, and plain mentions stay plain
    examples = {t: i for i, t in enumerate(texts)}
    for text, cue in [
        ("I never had a niche.", "never"),
        ("I don't have a niche.", "n't"),
        ("I dont post on LinkedIn.", "nt"),
        ("If I had a niche, I would charge more.", "If"),
        ("There was no referral at all.", "no"),
    ]:
        assert (examples[text], cue) in negated
    assert not any(
        r["negated"] for r in codings if r["turn_id"] == examples["I post on LinkedIn every week."]
    )
    # most docs are not parsed; a parsed doc is the doc the whole pipeline makes
    parsed = [i for i, doc in enumerate(docs) if is_parsed(doc)]
    assert 0 < len(parsed) < len(docs) / 2
    for i in parsed:
        got = [(t.pos_, t.tag_, str(t.morph), t.lemma_, t.dep_, t.head.i) for t in docs[i]]
        want = [(t.pos_, t.tag_, str(t.morph), t.lemma_, t.dep_, t.head.i) for t in full_docs[i]]
        assert got == want


def test_which_docs_are_parsed(coder):
    def parsed(text):
        return is_parsed(coder(text))

    assert not parsed("The weather was lovely that spring.")  # nothing coded
    assert not parsed("I have a niche, and it is energy.")  # coded, no cue
    assert parsed("I never had a niche.")  # coded, a cue outside the span
    assert parsed("I work ten but honestly hours a week.")  # "but" after a number
    assert not parsed("But I work ten hours a week.")  # "but" before it


def test_the_parser_labels_neg_only_neg_words(full_coder):
    """NEG_WORDS holds every word the parser labels `neg` in the fixtures (with those whose norm
    is "not"): a doc without one needs no parse for its cues."""
    for doc in full_coder.pipe(fixture_sentences()):
        for token in doc:
            if token.dep_ == "neg":
                assert token.lower_ in NEG_WORDS or token.norm_ == "not", token.text


def test_the_attribute_ruler_makes_adverbs_from_the_parse_only_of_parse_adverbs(coder):
    """quantities.PARSE_ADVERBS: the attribute ruler's rules that read the parse and give an
    adjective or adverb are for these words only."""
    words = set()
    for rule in coder.get_pipe("attribute_ruler").patterns:
        specs = [spec for pattern in rule["patterns"] for spec in pattern]
        if any("DEP" in spec for spec in specs) and rule["attrs"].get("POS") in ("ADJ", "ADV"):
            lowers = [spec.get("LOWER") for spec in specs]
            assert all(isinstance(w, str) for w in lowers), rule
            words |= set(lowers)
    assert words == set(PARSE_ADVERBS)


def test_a_parsed_doc_is_annotated_again_where_the_parse_changes_it(coder, full_coder):
    """The follow-up of the parse annotates again only the tokens that a rule reading the parse
    changes: every doc, parsed so, is the doc the whole pipeline makes."""
    follow_up = coder.get_pipe(PARSE_CODING).follow_up
    assert follow_up.rules is coder.get_pipe("attribute_ruler")
    texts = [
        *fixture_sentences(),
        "What they do is have a meeting, but there were two of them.",
        "Those that did not were me and him; I'd have done it.",
    ]
    before_parse = coder.pipe_names[: coder.pipe_names.index("qualcode_lower_lemma") + 1]
    with coder.select_pipes(enable=before_parse):
        docs = list(coder.pipe(texts))
    for doc in docs:
        parse_docs(coder, [doc], after=follow_up)
    for doc, full in zip(docs, full_coder.pipe(texts), strict=True):
        got = [(t.pos_, str(t.morph), t.lemma_, t.dep_, t.head.i) for t in doc]
        assert got == [(t.pos_, str(t.morph), t.lemma_, t.dep_, t.head.i) for t in full]


def test_a_pipeline_whose_rules_read_the_parse_otherwise_reruns_them_all(demo_codebook):
    """A rule that reads a part of speech (which a parse rule may have set) keeps the whole
    attribute ruler running again after the parse."""
    coder = build_coder(demo_codebook)
    coder.get_pipe("attribute_ruler").add([[{"POS": "PROPN", "LOWER": "upwork"}]], {"LEMMA": "Up"})
    assert ParseFollowUp(coder, ("attribute_ruler", "lemmatizer")).rules is None


def test_a_pattern_reading_sentence_starts_gets_the_parse(tmp_path):
    path = tmp_path / "codebook.yml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            codes:
              - id: PROPOSALS
                label: Proposals
                definition: Proposals.
                patterns:
                  tokens:
                    - [{LOWER: {IN: [proposal, proposals]}, IS_SENT_START: true}]
            """
        ),
        encoding="utf-8",
    )
    codebook = load_codebook(path)
    coder = build_coder(codebook)
    assert PARSE_PATTERNS in coder.pipe_names
    texts = ["It went well. Proposals came in.", "It went well, proposals came in."]
    codings = code_texts(texts, coder, codebook)
    full = code_texts(texts, parse_everything(build_coder(codebook)), codebook)
    assert list(codings["turn_id"]) == list(full["turn_id"]) == [0]


def test_a_coder_for_other_cues_is_refused(coder, demo_codebook):
    params = Params(coding=CodingParams(negation_cues=("not", "hardly")))
    with pytest.raises(ValueError, match="other negation and hypothetical cues"):
        code_texts(["I hardly had a niche."], coder, demo_codebook, params=params)
    own = build_coder(demo_codebook, cues=Cues.from_params(params))
    codings = code_texts(["I hardly had a niche."], own, demo_codebook, params=params)
    assert list(codings["cue"]) == ["hardly"]


def test_phrase_lemmas_are_kept_between_runs(tmp_path, demo_codebook, coder):
    cache = tmp_path / "codings.phrases.json"
    cached = build_coder(demo_codebook, phrase_cache=cache)
    data = json.loads(cache.read_text(encoding="utf-8"))
    assert data["phrases"]["niche"] == ["niche"]
    texts = fixture_sentences()
    assert _rows(cached, texts, demo_codebook)[1] == _rows(coder, texts, demo_codebook)[1]
    # a second coder reads the lemmas from the cache rather than with the tagger
    data["phrases"]["niche"] = ["nook"]
    cache.write_text(json.dumps(data), encoding="utf-8")
    again = build_coder(demo_codebook, phrase_cache=cache)
    assert code_texts(["A nook of mine."], again, demo_codebook)["code_id"].tolist()
    assert not len(code_texts(["A nook of mine."], coder, demo_codebook))
    # a cache for another pipeline version or model is read anew
    data["key"]["pipeline"] = "rules.v0"
    cache.write_text(json.dumps(data), encoding="utf-8")
    build_coder(demo_codebook, phrase_cache=cache)
    assert json.loads(cache.read_text(encoding="utf-8"))["phrases"]["niche"] == ["niche"]
