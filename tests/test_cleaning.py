"""Cleaning: text_raw keeps the words as spoken; text drops only annotations and disfluencies."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qualcode.config import load_params
from qualcode.ingest.cleaning import clean_text, normalise, normalise_raw, strip_timestamps, words

DEFAULTS = load_params().ingest  # config/params.yml


def clean(text: str, **kwargs):
    options = {
        "disfluencies": DEFAULTS.disfluencies,
        "annotation_words": DEFAULTS.annotation_words,
    }
    options.update(kwargs)
    return clean_text(text, **options)


def test_text_raw_keeps_words_as_spoken():
    result = clean("Um, it\u2019s a, it\u2019s a slow-\nish  afternoon [laughs]")
    assert result.text_raw == "Um, it\u2019s a, it\u2019s a slow-ish afternoon [laughs]"
    assert result.text == "It's a slow-ish afternoon"


@pytest.mark.parametrize(
    ("raw", "text", "n_annotations", "n_disfluencies"),
    [
        ("I was, uh, I was fully expecting it.", "I was fully expecting it.", 0, 2),
        ("the rest was, um, staring at data", "the rest was staring at data", 0, 1),
        ("It turned out to be the the whole road.", "It turned out to be the whole road.", 0, 1),
        ("And I -- I liked that part.", "And I liked that part.", 0, 1),
        ("I wa\u2014 wanted to go.", "I wanted to go.", 0, 1),
        ("Yes [inaudible 00:03:12] and (unintelligible) no [crosstalk].", "Yes and no.", 3, 0),
        ("Great. [laughs] Um. So, erm, yes.", "Great. So yes.", 1, 2),
        ("Mm-hmm.", "Mm-hmm.", 0, 0),
        ("Uh-huh.", "", 0, 1),
        (
            "I had had enough, and that that was it.",
            "I had had enough, and that that was it.",
            0,
            0,
        ),
        (
            "We -- well, it depends (which it does).",
            "We -- well, it depends (which it does).",
            0,
            0,
        ),
    ],
)
def test_clean_examples(raw, text, n_annotations, n_disfluencies):
    result = clean(raw)
    assert result.text == text
    assert (result.n_annotations, result.n_disfluencies) == (n_annotations, n_disfluencies)


def test_normalise_quotes_dashes_spaces_nfc():
    assert normalise("\u201cCaf\u0065\u0301\u201d \u2014 it\u2019s\u00a0fine, 2019\u20132020") == (
        '"Caf\u00e9" -- it\'s fine, 2019-2020'
    )
    assert normalise_raw("a  b\n\tc\u00ad") == "a b c"


def test_timestamps_leave_the_text_and_give_the_start():
    text, start = strip_timestamps("[00:12:03] So we began at 9:30 sharp (00:12:09).")
    assert start == 723.0
    assert "00:12" not in text and "9:30" in text
    result = clean("(00:01:05) Right.")
    assert (result.start_s, result.text_raw, result.text) == (65.0, "Right.", "Right.")


def test_disfluency_list_is_configurable():
    assert clean("Um, like, I mean it.", disfluencies=("like", "i mean")).text == "Um it."
    kept = clean("the the end -- end", drop_repeats=False)
    assert kept.text == "the the end -- end"
    assert kept.n_disfluencies == 0


def test_content_words_are_never_removed_by_disfluency_list():
    result = clean("Umbrella, uhm, erm... ermine and errands.")
    assert words(result.text) == ["umbrella", "uhm", "ermine", "and", "errands"]


SPOKEN_WORDS = st.sampled_from(
    [
        "I",
        "we",
        "the",
        "a",
        "data",
        "model",
        "client",
        "clients",
        "Python",
        "freelance",
        "niche",
        "referrals",
        "it's",
        "don't",
        "so",
        "and",
        "but",
        "was",
        "is",
        "really",
    ]
)
FILLERS = st.sampled_from(["um", "Uh", "erm", "uh-huh", "mhm"])
NOTES = st.sampled_from(["[laughs]", "[inaudible]", "(unintelligible)", "[crosstalk]", "(laughs)"])
GLUE = st.sampled_from([" ", " ", " ", ", ", ". ", " -- ", "\n", "? ", "\u2014", "-\n"])


@st.composite
def spoken_turns(draw) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            pieces.append(draw(FILLERS))
        elif kind == 1:
            pieces.append(draw(NOTES))
        elif kind == 2 and pieces:
            pieces.append(pieces[-1])  # an immediate repeat
        else:
            word = draw(SPOKEN_WORDS)
            pieces.append(word.replace("'", draw(st.sampled_from(["'", "\u2019"]))))
        pieces.append(draw(GLUE))
    return "".join(pieces)


def is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(word in it for word in short)


@settings(max_examples=300, deadline=None)
@given(spoken_turns())
def test_no_word_lost_but_the_removed_ones(raw):
    result = clean(raw)
    before, after = words(result.text_raw), words(result.text)
    removed = [w.casefold().replace("\u2019", "'") for w in result.removed]
    assert Counter(before) - Counter(removed) == Counter(after)
    assert Counter(removed) <= Counter(before)
    assert is_subsequence(after, before)
    fillers = {w for f in DEFAULTS.disfluencies for w in words(f)}
    notes = {"laughs", "inaudible", "unintelligible", "crosstalk"}
    # what is removed is a filler, a note, a repeated copy that is still in the text, or a
    # cut-off fragment of a word that follows it
    for word in set(removed) - fillers - notes:
        assert word in after or any(w.startswith(word) and w != word for w in after)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_cleaning_any_text_keeps_words_of_text_raw(raw):
    result = clean(raw)
    before, after = Counter(words(result.text_raw)), Counter(words(result.text))
    removed = Counter(w.casefold().replace("\u2019", "'") for w in result.removed)
    assert before - removed == after
    assert result.text == result.text.strip()
    assert "  " not in result.text


def test_cleaning_a_long_single_line_is_linear() -> None:
    import time

    def seconds(n: int) -> float:
        text = " ".join(f"w{i} um" for i in range(n))
        started = time.process_time()
        clean(text)
        return time.process_time() - started

    small, large = seconds(20_000), seconds(80_000)
    # four times the text: about four times the time (a copy per removed filler made it 16)
    assert large < 8 * small + 0.1


def test_placeholders_stay_and_drawn_out_fillers_go():
    cleaned = clean(
        "Mmmmm, I worked at [redacted] and [laughs] ummm XXX.", disfluencies=["mm", "um"]
    )
    assert cleaned.text == "I worked at [redacted] and XXX."
    assert "[redacted]" in cleaned.text_raw
