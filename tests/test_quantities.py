"""Quantities: hours per week, clients at a time, rates and years, with their units."""

from __future__ import annotations

import pandas as pd
import pytest

from qualcode.coding.quantities import extract_quantities, find_numbers
from qualcode.schema import EXTRA_QUANTITY_COLUMNS, QUANTITIES_COLUMNS


def quantities(nlp, text):
    doc = nlp(text)
    found = extract_quantities(doc)
    for q in found:
        assert text[q.start_char : q.end_char] == q.text
    return [(q.kind, q.value, q.low, q.high, q.unit, q.text) for q in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Each one gets roughly ten hours a week from me.",
            [("hours_per_client", 10, 10, 10, "h/week per client", "ten hours a week")],
        ),
        (
            "10 hr/week per client is the sweet spot, between 5–20 hr/week.",
            [
                ("hours_per_client", 10, 10, 10, "h/week per client", "10 hr/week"),
                ("hours_per_week", 12.5, 5, 20, "h/week", "5–20 hr/week"),
            ],
        ),
        (
            "Freelancing is twenty hours a week, that's two clients, so about ten hours each.",
            [
                ("hours_per_week", 20, 20, 20, "h/week", "twenty hours a week"),
                ("clients", 2, 2, 2, "clients", "two clients"),
                ("hours_per_client", 10, 10, 10, "h/week per client", "ten hours"),
            ],
        ),
        (
            "Freelancers would typically have 2–3 clients at a time.",
            [("clients", 2.5, 2, 3, "clients", "2–3 clients")],
        ),
        (
            "I usually had two or three clients at once.",
            [("clients", 2.5, 2, 3, "clients", "two or three clients")],
        ),
        (
            "This January I went to a hundred and forty dollars an hour.",
            [("rate", 140, 140, 140, "USD/h", "a hundred and forty dollars an hour")],
        ),
        (
            "Now I'm at a hundred and thirty an hour.",
            [("rate", 130, 130, 130, "USD/h", "a hundred and thirty an hour")],
        ),
        (
            "I charge $140/hour, or €900 a day.",
            [
                ("rate", 140, 140, 140, "USD/h", "$140/hour"),
                ("rate", 900, 900, 900, "EUR/day", "€900 a day"),
            ],
        ),
        (
            "I've been at this six years, three and a half years full-time.",
            [
                ("years", 6, 6, 6, "years", "six years"),
                ("years", 3.5, 3.5, 3.5, "years", "three and a half years"),
            ],
        ),
        (
            "It's about forty hours a week.",
            [("hours_per_week", 40, 40, 40, "h/week", "forty hours a week")],
        ),
        # not quantities of interest
        ("A good video is probably six, seven hours, with the editing.", []),
        ("Twenty twenty-two was rough.", []),
        ("I work eight hours a day.", []),
        ("My daughter is six years old.", []),
        ("Two hundred bucks for a dashboard.", []),
    ],
)
def test_extract_quantities(nlp, text, expected):
    assert quantities(nlp, text) == [
        (kind, float(v), float(lo), float(hi), unit, t) for kind, v, lo, hi, unit, t in expected
    ]


def test_years_about_freelancing(nlp):
    (q,) = extract_quantities(nlp("I've been freelancing for nine years."))
    assert (q.kind, q.value, q.about) == ("years", 9.0, "freelancing")
    (q,) = extract_quantities(nlp("I spent three years at a bank."))
    assert q.about is None


def test_offsets_relative_to_a_span(nlp):
    doc = nlp("Hello there. I keep it to three clients at a time.")
    sent = list(doc.sents)[1]
    (q,) = extract_quantities(sent)
    assert sent.text[q.start_char : q.end_char] == "three clients"


def test_numbers(nlp):
    doc = nlp("thirty-five, 1,200, ten to fifteen, 40h and zero")
    got = [(doc[n.start : n.end].text, n.low, n.high) for n in find_numbers(doc)]
    assert got == [
        ("thirty-five", 35.0, 35.0),
        ("1,200", 1200.0, 1200.0),
        ("ten to fifteen", 10.0, 15.0),
        ("40h", 40.0, 40.0),
        ("zero", 0.0, 0.0),
    ]


def test_quantities_table_from_the_coder(tmp_path, demo_files):
    from qualcode.coding.rules import code_corpus
    from qualcode.config import Params
    from qualcode.schema import SENTENCES_COLUMNS, TURNS_COLUMNS, write_table

    question = "How many hours a week? Ten hours a week per client?"
    turn = "I keep it to three clients at a time. Each one gets ten hours a week."
    turns = pd.DataFrame(
        {
            "transcript_id": ["t1", "t1"],
            "turn_id": [0, 1],
            "speaker": ["I", "P"],
            "role": ["interviewer", "participant"],
            "section": [None, None],
            "start_s": [None, None],
            "end_s": [None, None],
            "text_raw": [question, turn],
            "text": [question, turn],
        }
    )
    cut = turn.index("Each")
    sentences = pd.DataFrame(
        {
            "transcript_id": ["t1"] * 4,
            "turn_id": [0, 0, 1, 1],
            "sentence_id": [0, 1, 0, 1],
            "start_char": [0, 23, 0, cut],
            "end_char": [22, len(question), cut - 1, len(turn)],
            "text": [question[:22], question[23:], turn[: cut - 1], turn[cut:]],
        }
    )
    processed = tmp_path / "p"
    write_table(turns, processed / "turns.parquet", columns=TURNS_COLUMNS)
    write_table(sentences, processed / "sentences.parquet", columns=SENTENCES_COLUMNS)
    result = code_corpus(processed, demo_files.codebook, params=Params())
    table = pd.read_parquet(result.quantities_path)
    assert list(table.columns) == QUANTITIES_COLUMNS + EXTRA_QUANTITY_COLUMNS
    rows = table[["turn_id", "sentence_id", "kind", "value", "unit", "text"]].values.tolist()
    assert rows == [
        [1, 0, "clients", 3.0, "clients", "three clients"],
        [1, 1, "hours_per_client", 10.0, "h/week per client", "ten hours a week"],
    ]
    for row in table.itertuples():
        assert turn[row.start_char : row.end_char] == row.text
