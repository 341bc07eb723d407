"""Passages exported by a QDA tool found in our transcripts: across turns, with the tool's speaker
labels and timestamps, curly quotes, an ellipsis, a dropped filler and names for our pseudonyms."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from fixtures.refi.corpus import sentences_of, write_codebook, write_corpus

from qualcode.human.align import Corpus, WordSeq, fuzzy_find, match_quote, strip_export_labels
from qualcode.human.csv_import import read_coding_csv
from qualcode.human.store import PIECE_COLUMNS, pieces_to_rows

PARTICIPANT, INTERVIEWER = "Maya Lindgren", "Jordan Avery"
NAMES = {
    "{P1}": ("Margaret Lindqvist", "[PERSON_1]"),
    "{O1}": ("Bayfront Clinical", "[ORG_1]"),
    "{O2}": ("Harrow & Dunn", "[ORG_2]"),
}
# (role, words as spoken): {um} is a filler our cleaning takes out, {P1}/{O1}/{O2} are names
TURNS = [
    ("interviewer", "Thanks for making the time today. How did you get into this line of work?"),
    (
        "participant",
        "{um} Honestly it was an accident. I studied chemistry and hated the lab part. "
        "A friend showed me how to script the boring analysis, and I was hooked.",
    ),
    ("interviewer", "What happened after you finished the degree, in those first years?"),
    (
        "participant",
        "I joined {O1} as a junior analyst. My manager there, {P1}, was the most organised "
        'person I have ever met. She made me write "a plan for every project" before '
        "touching any data. {um} I still do that today.",
    ),
    ("interviewer", "And when did freelancing enter the picture for you?"),
    (
        "participant",
        "{P1} left to start her own firm and asked me to help on weekends. That was the "
        "first time I sent an invoice. It felt strange, {um} like playing at business.",
    ),
    ("interviewer", "How do new clients usually find you these days?"),
    (
        "participant",
        "Almost all of it is word of mouth. One client tells another, and {um} the work "
        "keeps coming without me chasing it. I tried job boards once and hated them.",
    ),
    ("interviewer", "Do you focus on a particular kind of client or problem?"),
    (
        "participant",
        "Mostly small clinics and labs. I know their data, I know their regulators, and "
        "that's worth a lot to them. {O2} came to me because of that, {um} not my rates.",
    ),
    ("interviewer", "Where do you see your work going over the next five years?"),
    (
        "participant",
        "I'd like to take on fewer projects and go deeper. Maybe teach a course. I don't "
        "want to grow into an agency, that's not me.",
    ),
]


def _fill(text: str, *, raw: bool) -> str:
    for key, (name, pseudonym) in NAMES.items():
        text = text.replace(key, name if raw else pseudonym)
    if raw:
        return (
            re.sub(r"\{um\}", lambda m: "um,", text)
            .replace(". um,", ". Um,")
            .replace("um, Honestly", "Um, honestly")
        )
    text = re.sub(r"\{um\} ?", "", text)
    return text[0].upper() + text[1:]


CLEAN = [("P07" if r == "participant" else "Interviewer", r, _fill(t, raw=False)) for r, t in TURNS]
RAW = [_fill(t, raw=True) for _, t in TURNS]


@pytest.fixture()
def corpus(tmp_path: Path) -> Corpus:
    processed = tmp_path / "processed"
    processed.mkdir()
    write_corpus(processed, turns={"interview_m": CLEAN})
    return Corpus.load(processed)


def render(first: int, last: int, *, partial: bool) -> tuple[str, set[tuple[int, int]]]:
    """A passage over turns first..last as a QDA tool exports it, and the sentences it covers.

    partial: start at the second sentence of the first turn and end with the first sentence of
    the last turn (when they have more than one).
    """
    covered = set()
    blocks = []
    for k in range(first, last + 1):
        role, _ = TURNS[k]
        text = RAW[k]
        spans = sentences_of(CLEAN[k][2])
        raw_spans = sentences_of(text)
        ids = list(range(len(spans)))
        if partial and k == first and len(raw_spans) > 1:
            text, ids = text[raw_spans[1][0] :], ids[1:]
        if partial and k == last and len(raw_spans) > 1 and (k > first or len(ids) > 1):
            cut = raw_spans[0][1] if k > first else raw_spans[1][1] - raw_spans[1][0]
            text, ids = text[:cut], ids[: 1 if k > first else 1]
        covered |= {(k, i) for i in ids}
        blocks.append((role, text))
    middle = len(blocks) // 2
    lines = []
    for n, (role, text) in enumerate(blocks):
        if n == 0:
            text = re.sub(r"\b[Uu]m, ", "", text, count=1)  # the tool dropped a filler
        words = text.split(" ")
        if n == middle and len(words) >= 14:  # an ellipsis in the middle
            text = " ".join(words[:5]) + " … " + " ".join(words[9:])
        text = text.replace('"', "“", 1).replace('"', "”", 1).replace("'", "’")
        minute, second = divmod(20 * (first + n) + 7, 60)
        speaker = PARTICIPANT if role == "participant" else INTERVIEWER
        lines.append(f"{speaker} (00:{minute:02d}:{second:02d}): {text}")
    return "\n\n".join(lines), covered


PASSAGES = [
    (first, last, partial)
    for first in range(len(TURNS))
    for last in range(first, min(first + 8, len(TURNS)))
    for partial in (False, True)
]


def test_export_labels_are_stripped_but_colons_in_words_kept() -> None:
    quote = "Maya Lindgren (00:01:02): Well, yes.\n\n[00:01:09] Jordan Avery: And?\nnote: kept"
    assert strip_export_labels(quote) == "Well, yes.\n\nAnd?\nnote: kept"
    assert strip_export_labels("It was\nthe plan: simple") == "It was\nthe plan: simple"
    assert strip_export_labels("00:01:02\nMaya: hi") == "\nhi"


def test_fuzzy_find_scores_the_words_found_in_order() -> None:
    text = "One two three four five six seven eight nine ten."
    span, score = fuzzy_find("two three four … seven eight nine", WordSeq.of(text))
    assert text[span[0] : span[1]] == "two three four five six seven eight nine"
    assert score == 100.0
    assert fuzzy_find("nothing here at all", WordSeq.of(text)) is None


def test_every_exported_passage_is_found_with_its_sentences(corpus, tmp_path) -> None:
    rows = ["transcript_id,code,quote"]
    expected = {}
    for n, (first, last, partial) in enumerate(PASSAGES):
        quote, covered = render(first, last, partial=partial)
        rows.append('interview_m,BACKGROUND,"' + quote.replace('"', '""') + '"')
        expected[n] = covered
    path = tmp_path / "export.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    codebook = write_codebook(tmp_path / "codebook.yml")
    from qualcode.coding.codebook import load_codebook

    result = read_coding_csv(path, corpus, coder="maxqda", codebook=load_codebook(codebook))
    assert result.problems == []
    assert sum(result.matches.values()) == len(PASSAGES)
    assert result.matches["fuzzy"] > 0
    # each passage codes exactly the sentences it covers (rows of the same sentence from several
    # passages are one coding in the table, so the passages are mapped one by one here)
    wrong = {}
    for n, (first, last, partial) in enumerate(PASSAGES):
        quote, _ = render(first, last, partial=partial)
        found = match_quote(corpus, "interview_m", quote)
        pieces = pd.DataFrame(
            [
                ("interview_m", t, a, b, "X", "human:x", "s", "f")
                for t, a, b in found.occurrences[0]
            ],
            columns=PIECE_COLUMNS,
        )
        rows = pieces_to_rows(pieces, corpus)
        got = set(zip(rows["turn_id"], rows["sentence_id"], strict=True))
        if got != expected[n]:
            wrong[(first, last, partial)] = (sorted(got), sorted(expected[n]))
    assert wrong == {}


def test_a_passage_from_elsewhere_is_not_found(corpus) -> None:
    found = match_quote(corpus, "interview_m", "I never studied chemistry and I love the lab.")
    assert found.occurrences == []


def test_each_file_says_how_its_quotes_were_found(corpus, tmp_path) -> None:
    path = tmp_path / "few.csv"
    path.write_text(
        "transcript_id,code,quote\n"
        "interview_m,BACKGROUND,Maybe teach a course.\n"
        "interview_m,BACKGROUND,MAYBE  TEACH A COURSE\n"
        'interview_m,BACKGROUND,"Jordan Avery (00:03:27): Where do you see your work going?\n\n'
        "Maya Lindgren (00:03:47): I'd like to take on fewer projects and go deeper.\"\n"
        "interview_m,BACKGROUND,Words nobody ever said in this interview.\n",
        encoding="utf-8",
    )
    result = read_coding_csv(path, corpus, coder="few", codebook=None)
    assert [(q.line, q.how) for q in result.quotes] == [
        (2, "exact"),
        (3, "normalised"),
        (4, "fuzzy"),
        (7, ""),
    ]
    assert result.quote_lines() == [
        "few.csv: 4 quote(s): 1 exactly, 1 after normalising, 1 fuzzily (lowest scores: 100 on "
        "line 4), 1 not found (line 7)"
    ]
    assert result.problems == ["few.csv, line 7: quote not found in interview_m"]


def test_a_span_inside_a_pseudonym_takes_all_of_it(corpus) -> None:
    doc = corpus.doc("interview_m")
    text = CLEAN[3][2]
    at = text.index("[ORG_1]")
    # a selection from the R of [ORG_1] to the middle of "[PERSON_1]"
    end = text.index("[PERSON_1]") + 4
    pieces = doc.turn_spans(doc.offset(3, at + 2), doc.offset(3, end))
    assert [text[a:b] for _, a, b in pieces] == [text[at : text.index("[PERSON_1]") + 10]]
