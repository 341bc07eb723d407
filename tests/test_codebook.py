"""The codebook: loading, validation of bad codebooks, hierarchy helpers, the demo codebook."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from qualcode.coding.codebook import load_codebook, parse_codebook
from qualcode.errors import QualcodeInputError

GOOD = """\
version: 2
codes:
  - id: KEY_TAKEAWAYS
    label: Key takeaways
    definition: Advice for freelancers.
  - id: NICHE
    label: Find a niche
    parent: KEY_TAKEAWAYS
    definition: Talks about specialising.
    include: [specialising by industry]
    exclude: [generic statements]
    examples: ["These days I mostly take energy-sector clients."]
    patterns:
      phrases: [niche, specialize]
      tokens:
        - [{LEMMA: focus}, {LOWER: "on"}]
  - id: NICHE_ENERGY
    label: Energy
    parent: NICHE
    definition: Energy clients.
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "codebook.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> QualcodeInputError:
    with pytest.raises(QualcodeInputError) as info:
        load_codebook(write(tmp_path, text))
    return info.value


def test_good_codebook_loads_with_hierarchy(tmp_path):
    codebook = load_codebook(write(tmp_path, GOOD))
    assert codebook.version == 2
    assert codebook.ids == ["KEY_TAKEAWAYS", "NICHE", "NICHE_ENERGY"]
    assert codebook.parent("NICHE") == "KEY_TAKEAWAYS"
    assert codebook.parent("KEY_TAKEAWAYS") is None
    assert codebook.ancestors("NICHE_ENERGY") == ["NICHE", "KEY_TAKEAWAYS"]
    assert codebook.children("KEY_TAKEAWAYS") == ["NICHE"]
    assert codebook.descendants("KEY_TAKEAWAYS") == ["NICHE", "NICHE_ENERGY"]
    assert codebook.roots() == ["KEY_TAKEAWAYS"]
    assert codebook.path("NICHE") == "KEY_TAKEAWAYS > NICHE"
    assert codebook.path("NICHE_ENERGY") == "KEY_TAKEAWAYS > NICHE > NICHE_ENERGY"
    assert codebook.depth("NICHE_ENERGY") == 2
    assert codebook.roll_up(["NICHE_ENERGY"]) == ["KEY_TAKEAWAYS", "NICHE", "NICHE_ENERGY"]
    niche = codebook["NICHE"]
    assert niche.patterns.phrases == ("niche", "specialize")
    assert niche.patterns.tokens == (({"LEMMA": "focus"}, {"LOWER": "on"}),)
    assert niche.examples == ("These days I mostly take energy-sector clients.",)
    assert not codebook["NICHE_ENERGY"].patterns
    assert niche.line == 6
    frame = codebook.to_frame()
    assert list(frame["path"]) == [codebook.path(i) for i in codebook.ids]


def test_digest_follows_content_not_comments(tmp_path):
    base = parse_codebook(GOOD)
    assert len(base.sha256) == 64
    assert parse_codebook("# a comment\n" + GOOD).sha256 == base.sha256
    changed = parse_codebook(GOOD.replace("[niche, specialize]", "[niche, specialise]"))
    assert changed.sha256 != base.sha256


@pytest.mark.parametrize(
    ("text", "code_id", "problem"),
    [
        (
            GOOD.replace("    include: [specialising", "    includes: [specialising"),
            "NICHE",
            "unknown key 'includes'",
        ),
        (GOOD.replace("id: NICHE_ENERGY", "id: NICHE"), "NICHE", "duplicate id NICHE"),
        (
            GOOD.replace("parent: NICHE\n", "parent: NICHES\n"),
            "NICHE_ENERGY",
            "unknown parent 'NICHES'",
        ),
        (
            GOOD.replace(
                "label: Key takeaways\n", "label: Key takeaways\n    parent: NICHE_ENERGY\n"
            ),
            "KEY_TAKEAWAYS",
            "parent cycle KEY_TAKEAWAYS > NICHE_ENERGY > NICHE > KEY_TAKEAWAYS",
        ),
        (
            GOOD.replace("{LEMMA: focus}", "{LEMMA: focus, OP: '+++'}"),
            "NICHE",
            "spaCy rejects `patterns.tokens[0]`",
        ),
        (
            GOOD.replace("{LEMMA: focus}", "{LEMMMA: focus}"),
            "NICHE",
            "spaCy rejects `patterns.tokens[0]`",
        ),
        (
            GOOD.replace('{LOWER: "on"}', "{LOWER: on}"),
            "NICHE",
            "quote yes, no, on, off",
        ),
        (
            GOOD.replace("phrases: [niche, specialize]", "phrases: []"),
            "NICHE",
            "empty pattern list `patterns.phrases`",
        ),
        (
            GOOD.replace(
                '      tokens:\n        - [{LEMMA: focus}, {LOWER: "on"}]\n', "      tokens: []\n"
            ),
            "NICHE",
            "empty pattern list `patterns.tokens`",
        ),
        (
            GOOD.replace('- [{LEMMA: focus}, {LOWER: "on"}]', "- []"),
            "NICHE",
            "empty pattern list `patterns.tokens[0]`",
        ),
        (
            GOOD.replace("      phrases:", "      phrase:"),
            "NICHE",
            "unknown key patterns.phrase",
        ),
        (GOOD.replace("id: NICHE_ENERGY", "id: niche-energy"), "niche-energy", "UPPER_SNAKE"),
        (
            GOOD.replace("    definition: Energy clients.\n", ""),
            "NICHE_ENERGY",
            "expected `definition` to be a non-empty text",
        ),
        (
            GOOD.replace("phrases: [niche, specialize]", "phrases: [niche, null]"),
            "NICHE",
            "`patterns.phrases[1]` to be a non-empty text, got None (YAML reads a bare null",
        ),
    ],
    ids=[
        "unknown-key",
        "duplicate-id",
        "unknown-parent",
        "cycle",
        "bad-operator",
        "bad-attribute",
        "yaml-boolean",
        "empty-phrases",
        "empty-tokens",
        "empty-token-pattern",
        "unknown-pattern-key",
        "bad-id",
        "missing-definition",
        "yaml-null-phrase",
    ],
)
def test_bad_codebook_names_code_and_problem(tmp_path, text, code_id, problem):
    err = load_error(tmp_path, text)
    message = str(err)
    assert f"code {code_id}" in message
    assert problem in message
    assert str(tmp_path / "codebook.yml") in message
    assert err.line is not None


def test_self_parent_is_a_cycle(tmp_path):
    err = load_error(tmp_path, GOOD.replace("parent: NICHE\n", "parent: NICHE_ENERGY\n"))
    assert "code NICHE_ENERGY" in str(err)
    assert "parent cycle NICHE_ENERGY > NICHE_ENERGY" in str(err)


def test_duplicate_names_first_line(tmp_path):
    err = load_error(tmp_path, GOOD.replace("id: NICHE_ENERGY", "id: NICHE"))
    assert "first defined at line 6" in str(err)
    assert err.line == 17


def test_yaml_syntax_error_has_line(tmp_path):
    err = load_error(tmp_path, GOOD.replace("[niche, specialize]", "[niche, specialize"))
    assert "expected valid YAML" in str(err)
    assert err.line is not None and err.line >= 14


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the codebook is empty"),
        ("# only a comment\n", "the codebook is empty"),
        ("- a\n- b\n", "expected a mapping with keys version and codes"),
        ("version: 1\ncodes: []\n", "non-empty list of codes"),
        ("version: one\ncodes: [{id: A, label: a, definition: d}]\n", "whole number"),
        ("version: true\ncodes: [{id: A, label: a, definition: d}]\n", "whole number"),
        ("version: 1\nkodes: []\n", "unknown key 'kodes'"),
    ],
)
def test_bad_top_level(tmp_path, text, problem):
    assert problem in str(load_error(tmp_path, text))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(QualcodeInputError, match="codebook not found"):
        load_codebook(tmp_path / "nope.yml")
    with pytest.raises(QualcodeInputError, match="cannot read the codebook"):
        load_codebook(tmp_path)  # a folder
    binary = tmp_path / "codebook.yml"
    binary.write_bytes(b"\xff\xfe\x00version")
    with pytest.raises(QualcodeInputError, match="expected UTF-8"):
        load_codebook(binary)


# ---------------------------------------------------------------- the demo codebook

STUDY_CODES = {
    "BACKGROUND": None,
    "GETTING_STARTED": None,
    "SMALL_PROJECTS": "GETTING_STARTED",
    "WORKING_MODEL": None,
    "MODEL_FULL_TIME_FREELANCE": "WORKING_MODEL",
    "MODEL_PART_TIME_VENTURE": "WORKING_MODEL",
    "MODEL_JOB_PLUS_FREELANCE": "WORKING_MODEL",
    "MODEL_CONTRACT_1099": "WORKING_MODEL",
    "MODEL_TO_FULL_TIME_ROLE": "WORKING_MODEL",
    "TIME_PER_CLIENT": None,
    "CLIENT_ACQUISITION": None,
    "ACQ_APPLYING": "CLIENT_ACQUISITION",
    "ACQ_INBOUND": "CLIENT_ACQUISITION",
    "ACQ_REFERRALS": "CLIENT_ACQUISITION",
    "FUTURE": None,
    "FUTURE_KEEP_FREELANCING": "FUTURE",
    "FUTURE_CONSULTANCY": "FUTURE",
    "FUTURE_PRODUCTS": "FUTURE",
    "FUTURE_FULL_TIME": "FUTURE",
    "NICHE_AREAS": None,
    "NICHE_FINANCE": "NICHE_AREAS",
    "NICHE_CRYPTO": "NICHE_AREAS",
    "NICHE_ENERGY": "NICHE_AREAS",
    "NICHE_OCR": "NICHE_AREAS",
    "NICHE_LLM": "NICHE_AREAS",
    "NICHE_DATA_STRATEGY": "NICHE_AREAS",
    "KEY_TAKEAWAYS": None,
    "REPUTATION_REFERRALS": "KEY_TAKEAWAYS",
    "NICHE": "KEY_TAKEAWAYS",
    "ALLIANCES": "KEY_TAKEAWAYS",
    "PERSONAL_BRAND": "KEY_TAKEAWAYS",
}


def test_demo_codebook_covers_the_study(demo_files):
    codebook = load_codebook(demo_files.codebook)
    assert isinstance(codebook.version, int)
    assert {code.id: code.parent for code in codebook} == STUDY_CODES
    assert codebook.children("KEY_TAKEAWAYS") == [
        "REPUTATION_REFERRALS",
        "NICHE",
        "ALLIANCES",
        "PERSONAL_BRAND",
    ]
    for code in codebook:
        assert code.definition and code.include and code.exclude and code.examples, code.id
        assert code.patterns, f"{code.id} has no patterns"


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        ("(a+)+$", "nested repetition"),
        ("^(?:x|xy)*z", "alternation"),
        (r"(\w)\1", "back-reference"),
        ("(", "not a valid regular expression"),
    ],
)
def test_unsafe_regex_token_patterns_are_refused(tmp_path: Path, regex: str, expected) -> None:
    import time

    path = tmp_path / "codebook.yml"
    path.write_text(
        "version: 1\ncodes:\n  - id: A\n    label: A\n    definition: A.\n"
        f"    patterns:\n      tokens:\n        - [{{TEXT: {{REGEX: '{regex}'}}}}]\n",
        encoding="utf-8",
    )
    started = time.process_time()
    with pytest.raises(QualcodeInputError, match=expected) as info:
        load_codebook(path)
    assert "code A" in str(info.value) and "REGEX" in str(info.value)
    assert time.process_time() - started < 5


def test_safe_regex_token_patterns_load() -> None:
    safe = "        - [{LOWER: {REGEX: '^freelanc(e|er|ing)$'}}]\n"
    text = GOOD.replace('        - [{LEMMA: focus}, {LOWER: "on"}]\n', safe)
    assert text != GOOD
    parse_codebook(text)
