"""The numbers behind the notebooks, computed on small synthetic tables."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from qualcode import analysis
from qualcode.analysis import PremiseError
from qualcode.analysis.saturation import _saturation_point
from qualcode.human.agreement import AgreementFiles
from qualcode.participants import UNKNOWN
from qualcode.schema import (
    CODINGS_COLUMNS,
    QUANTITIES_COLUMNS,
    SENTENCES_COLUMNS,
    TRANSCRIPTS_COLUMNS,
    TURNS_COLUMNS,
    write_table,
)

CODEBOOK = """version: 2
codes:
  - id: FUTURE
    label: Where they are headed
    definition: Plans for the future.
  - id: FUTURE_PRODUCTS
    label: Build products
    parent: FUTURE
    definition: Products and passive income.
  - id: FUTURE_FULL_TIME
    label: Go full time
    parent: FUTURE
    definition: Back to a full-time role.
  - id: KEY_TAKEAWAYS
    label: Key takeaways
    definition: The four lessons.
  - id: NICHE
    label: Find a niche
    parent: KEY_TAKEAWAYS
    definition: Specialising.
  - id: PERSONAL_BRAND
    label: Build a personal brand
    parent: KEY_TAKEAWAYS
    definition: Content and presence.
"""


LONG_TURN = (
    "Maybe a full-time job, but products too. That is a long sentence nobody coded at all here."
)


def _turns() -> pd.DataFrame:
    rows = [
        # transcript, turn, speaker, role, section, text_raw, text
        (
            "t1",
            0,
            "Interviewer",
            "interviewer",
            "past",
            "So, um, how did you start?",
            "So, how did you start?",
        ),
        (
            "t1",
            1,
            "P01",
            "participant",
            "past",
            "Um, I found a niche. [laughs] Energy only.",
            "I found a niche. Energy only.",
        ),
        ("t1", 2, "Interviewer", "interviewer", "future", "And next?", "And next?"),
        (
            "t1",
            3,
            "P01",
            "participant",
            "future",
            "I want to build products, uh, courses maybe.",
            "I want to build products, courses maybe.",
        ),
        (
            "t2",
            0,
            "Interviewer",
            "interviewer",
            "past",
            "Tell me more please about it.",
            "Tell me more please about it.",
        ),
        (
            "t2",
            1,
            "P02",
            "participant",
            "past",
            "My brand on LinkedIn matters a lot. I never picked a niche.",
            "My brand on LinkedIn matters a lot. I never picked a niche.",
        ),
        (
            "t2",
            2,
            "P02",
            "participant",
            "future",
            LONG_TURN,
            LONG_TURN,
        ),
        ("t3", 0, "Interviewer", "interviewer", None, "Hello.", "Hello."),
        ("t3", 1, "P03", "participant", None, "Hi there.", "Hi there."),
    ]
    frame = pd.DataFrame(
        rows, columns=["transcript_id", "turn_id", "speaker", "role", "section", "text_raw", "text"]
    )
    frame["start_s"] = np.nan
    frame["end_s"] = np.nan
    return frame[TURNS_COLUMNS]


def _sentences(turns: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in turns.itertuples(index=False):
        start = 0
        parts = [p for p in row.text.replace(". ", ".|").split("|") if p]
        for i, part in enumerate(parts):
            begin = row.text.index(part, start)
            rows.append((row.transcript_id, row.turn_id, i, begin, begin + len(part), part))
            start = begin + len(part)
    return pd.DataFrame(rows, columns=SENTENCES_COLUMNS)


def _coding(turns, sentences, transcript, turn, sentence, code, word, *, negated=False, score=1.0):
    text = turns.set_index(["transcript_id", "turn_id"]).loc[(transcript, turn), "text"]
    sent = sentences.set_index(["transcript_id", "turn_id", "sentence_id"]).loc[
        (transcript, turn, sentence)
    ]
    start = text.index(word, int(sent["start_char"]))
    return {
        "transcript_id": transcript,
        "turn_id": turn,
        "sentence_id": sentence,
        "code_id": code,
        "start_char": start,
        "end_char": start + len(word),
        "text": word,
        "coder": "rules",
        "rule_id": f"{code}:phrase",
        "score": score,
        "codebook_version": "2",
        "negated": negated,
        "matched": word,
    }


@pytest.fixture()
def study(tmp_path):
    turns = _turns()
    sentences = _sentences(turns)
    codings = pd.DataFrame(
        [
            _coding(turns, sentences, "t1", 1, 0, "NICHE", "niche"),
            _coding(turns, sentences, "t1", 1, 1, "NICHE", "Energy"),
            _coding(turns, sentences, "t1", 3, 0, "FUTURE_PRODUCTS", "products"),
            _coding(turns, sentences, "t1", 3, 0, "FUTURE_PRODUCTS", "courses"),
            _coding(turns, sentences, "t2", 1, 0, "PERSONAL_BRAND", "brand"),
            _coding(turns, sentences, "t2", 1, 1, "NICHE", "niche", negated=True),
            _coding(turns, sentences, "t2", 2, 0, "FUTURE_FULL_TIME", "full-time job"),
            _coding(turns, sentences, "t2", 2, 0, "FUTURE_PRODUCTS", "products"),
        ]
    )
    transcripts = pd.DataFrame(
        {
            "transcript_id": ["t1", "t2", "t3"],
            "source_path": ["data/raw/t1.txt", "data/raw/t2.vtt", "data/raw/t3.docx"],
            "source_sha256": ["a" * 64, "b" * 64, "c" * 64],
            "format": ["txt", "vtt", "docx"],
            "n_turns": [4, 3, 2],
            "n_words": [30, 40, 3],
        }
    )
    quantities = pd.DataFrame(
        [
            ("t1", 3, 0, "hours_per_week", 10.0, "hours/week", "10 hours"),
            ("t1", 3, 0, "hours_per_week", 20.0, "hours/week", "20 hours"),
            ("t2", 1, 0, "hours_per_week", 5.0, "hours/week", "5 hours"),
            ("t2", 1, 0, "clients", 3.0, "clients", "three clients"),
        ],
        columns=QUANTITIES_COLUMNS,
    )
    processed = tmp_path / "processed"
    write_table(transcripts, processed / "transcripts.parquet", columns=TRANSCRIPTS_COLUMNS)
    write_table(turns, processed / "turns.parquet")
    write_table(sentences, processed / "sentences.parquet")
    write_table(codings, processed / "codings.parquet", columns=CODINGS_COLUMNS)
    write_table(quantities, processed / "quantities.parquet")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "participants.csv").write_text(
        "transcript_id,pseudonym,participant_label,interviewer_label,background,working_model\n"
        "t1,P01,Ada Lovelace,Jordan Avery,Physics; MBA,full_time_freelance\n"
        "t2,P02,Alan Turing,Jordan Avery,Physics,job_plus_freelance\n"
        "t9,P09,Nobody Here,Jordan Avery,Math,full_time_freelance\n"
    )
    codebook = tmp_path / "codebook.yml"
    codebook.write_text(CODEBOOK)
    params = tmp_path / "params.yml"
    params.write_text("report:\n  saturation_orders: 20\n")
    return analysis.load_study(
        processed_dir=processed, raw_dir=raw, codebook_path=codebook, params_path=params
    )


# ----------------------------------------------------------------------------------- loading


def test_load_study_reads_tables_and_participants_without_names(study):
    people = study.participants
    assert list(people["transcript_id"]) == ["t1", "t2", "t3"]
    assert "participant_label" not in people.columns
    assert "interviewer_label" not in people.columns
    assert "Ada Lovelace" not in people.to_string()
    # t3 is not in participants.csv: it gets its speaker's pseudonym and unknown attributes.
    t3 = people.set_index("transcript_id").loc["t3"]
    assert t3["pseudonym"] == "P03"
    assert t3["background"] == UNKNOWN
    assert study.n_participants == 3
    assert study.codings["negated"].dtype == bool
    assert study.params.report.saturation_orders == 20


def test_codebook_frame_hierarchy(study):
    book = study.codebook
    assert book.attrs["version"] == "2"
    assert analysis.children(book, "KEY_TAKEAWAYS") == ["NICHE", "PERSONAL_BRAND"]
    assert analysis.descendants(book, "FUTURE") == ["FUTURE", "FUTURE_PRODUCTS", "FUTURE_FULL_TIME"]
    assert analysis.leaf_codes(book) == [
        "FUTURE_PRODUCTS",
        "FUTURE_FULL_TIME",
        "NICHE",
        "PERSONAL_BRAND",
    ]
    with pytest.raises(PremiseError, match="NOPE"):
        analysis.children(book, "NOPE")
    table = analysis.codebook_table(book)
    assert table.loc[1, "code"] == "\u2003Build products"
    assert table.loc[0, "parent"] == ""


# ------------------------------------------------------------------------- 01 transcripts


def test_transcript_overview(study):
    table = analysis.transcript_overview(study.transcripts, study.turns, study.participants)
    t1 = table.set_index("transcript_id").loc["t1"]
    assert t1["pseudonym"] == "P01"
    assert t1["format"] == "txt"
    assert t1["n_speakers"] == 2
    assert t1["interviewer_words"] == 8  # "So, um, how did you start?" + "And next?"
    assert t1["participant_words"] == 16
    assert t1["interviewer_share"] == pytest.approx(8 / 24)


def test_cleaning_summary_counts_what_was_removed(study):
    table = analysis.cleaning_summary(
        study.turns, disfluencies=["um", "uh"], pseudonym_pattern=r"\bP0\d\b"
    ).set_index("transcript_id")
    assert table.loc["t1", "annotations"] == 1
    assert table.loc["t1", "disfluencies"] == 3  # um (interviewer), Um, uh
    assert table.loc["t2", "disfluencies"] == 0
    assert table.loc["t1", "words_removed"] == 4
    assert table["pseudonyms"].sum() == 0


def test_cleaning_example_is_the_most_cleaned_participant_turn(study):
    row = analysis.cleaning_example(study.turns)
    assert (row["transcript_id"], row["turn_id"]) == ("t1", 1)
    assert row["words_removed"] == 2
    with pytest.raises(PremiseError):
        analysis.cleaning_example(study.turns[study.turns["role"] == "interviewer"])


# ------------------------------------------------------------------------------ 02 coding


def test_code_frequencies_roll_up_to_parents(study):
    table = analysis.code_frequencies(study.codings, study.codebook, study.participants).set_index(
        "code_id"
    )
    assert table.loc["NICHE", "n_codings"] == 3
    assert table.loc["NICHE", "n_sentences"] == 3
    assert table.loc["NICHE", "n_transcripts"] == 2
    assert table.loc["NICHE", "n_participants"] == 1  # P02's mention is negated
    assert table.loc["NICHE", "n_negated"] == 1
    assert table.loc["FUTURE_PRODUCTS", "n_codings"] == 3
    assert table.loc["FUTURE_PRODUCTS", "n_sentences"] == 2
    assert table.loc["FUTURE", "n_sentences"] == 2
    assert table.loc["FUTURE", "n_participants"] == 2
    assert table.loc["KEY_TAKEAWAYS", "n_codings"] == 4


def test_coverage_share_of_participant_sentences(study):
    table = analysis.coverage(study.sentences, study.turns, study.codings).set_index(
        "transcript_id"
    )
    # t1: 3 participant sentences, all coded; t2: 4, 3 coded; t3: 1, none.
    assert table.loc["t1", "n_sentences"] == 3
    assert table.loc["t1", "share"] == 1.0
    assert table.loc["t2", "n_coded"] == 3
    assert table.loc["t3", "share"] == 0.0
    assert table.loc["all", "n_sentences"] == 8
    assert table.loc["all", "share"] == pytest.approx(6 / 8)


def test_uncoded_sentences_longest_first(study):
    table = analysis.uncoded_sentences(
        study.sentences, study.turns, study.codings, study.participants, n=5
    )
    assert list(table["pseudonym"]) == ["P02", "P03"]
    assert table.loc[0, "text"].startswith("That is a long sentence")
    assert table.loc[0, "n_words"] == 10


def test_agreement_table_sorted_with_overall_last(study):
    agreement = pd.DataFrame(
        {
            "code_id": ["ALL", "NICHE", "PERSONAL_BRAND"],
            "kappa": [0.5, 0.4, 0.9],
            "f1": [0.6, 0.5, 0.95],
            "coder_a": ["rules"] * 3,
            "coder_b": ["human:ann"] * 3,
        }
    )
    table = analysis.agreement_table(agreement, study.codebook)
    assert list(table["code_id"]) == ["PERSONAL_BRAND", "NICHE", "ALL"]
    assert table.loc[0, "label"] == "Build a personal brand"
    with pytest.raises(PremiseError, match="alpha"):
        analysis.agreement_table(agreement, study.codebook, metric="alpha")


def test_agreement_table_picks_person_against_machine(study):
    rows = []
    for first, second in (("human:ann", "human:bob"), ("human:reference", "rules")):
        for code, kappa, n_first in (
            ("NICHE", 0.3, 2),
            ("PERSONAL_BRAND", 0.8, 1),
            ("FUTURE", 0, 0),
        ):
            rows.append(
                {
                    "code_id": code,
                    "scope": "code",
                    "n_first": n_first,
                    "n_second": n_first,
                    "kappa": kappa if first == "human:reference" else 0.1,
                    "coder_a": first,
                    "coder_b": second,
                }
            )
    rows.append(dict(rows[-1], scope="rollup", code_id="KEY_TAKEAWAYS", n_first=3))
    rows.append(dict(rows[-2], scope="all", code_id="ALL", kappa=0.5, n_first=3))
    agreement = pd.DataFrame(rows)
    assert analysis.main_pair(agreement) == ("human:reference", "rules")
    table = analysis.agreement_table(agreement, study.codebook)
    assert list(table["code_id"]) == ["PERSONAL_BRAND", "NICHE", "ALL"]
    assert table.attrs["unused"] == 1
    assert table.attrs["pair"] == ("human:reference", "rules")
    other = analysis.agreement_table(agreement, study.codebook, pair=("human:ann", "human:bob"))
    assert set(other["kappa"]) == {0.1}
    assert analysis.main_pair(agreement.iloc[0:0]) is None


# ---------------------------------------------------------------------------- 03 themes


def test_code_matrix_counts_and_presence(study):
    counts = analysis.code_matrix(study.codings, study.participants, study.codebook)
    assert list(counts.index) == ["P01", "P02", "P03"]
    assert list(counts.columns) == [
        "FUTURE_PRODUCTS",
        "FUTURE_FULL_TIME",
        "NICHE",
        "PERSONAL_BRAND",
    ]
    assert counts.loc["P01", "NICHE"] == 2
    assert counts.loc["P02", "NICHE"] == 0  # negated
    assert counts.loc["P03"].sum() == 0
    presence = analysis.code_matrix(
        study.codings, study.participants, study.codebook, presence=True, codes=["NICHE"]
    )
    assert presence["NICHE"].tolist() == [1, 0, 0]
    rolled = analysis.code_matrix(
        study.codings, study.participants, study.codebook, codes=["FUTURE"], rollup=True
    )
    assert rolled["FUTURE"].tolist() == [1, 1, 0]


def test_cooccurrence_jaccard(study):
    codes = ["FUTURE_PRODUCTS", "FUTURE_FULL_TIME", "PERSONAL_BRAND"]
    turn = analysis.cooccurrence(study.codings, unit="turn", codes=codes)
    # products: turns t1/3 and t2/2; full-time: t2/2 -> 1/2.
    assert turn.loc["FUTURE_PRODUCTS", "FUTURE_FULL_TIME"] == pytest.approx(0.5)
    assert turn.loc["FUTURE_FULL_TIME", "FUTURE_PRODUCTS"] == pytest.approx(0.5)
    assert turn.loc["PERSONAL_BRAND", "FUTURE_PRODUCTS"] == 0
    assert turn.loc["PERSONAL_BRAND", "PERSONAL_BRAND"] == 1
    pairs = analysis.top_pairs(turn, codings=study.codings)
    assert pairs.iloc[0][["code_a", "code_b"]].tolist() == ["FUTURE_PRODUCTS", "FUTURE_FULL_TIME"]
    assert pairs.iloc[0][["n_both", "n_participants", "supported"]].tolist() == [1, 1, False]
    with pytest.raises(ValueError, match="unit"):
        analysis.cooccurrence(study.codings, unit="paragraph")


def test_codes_by_section_in_interview_order(study):
    table = analysis.codes_by_section(
        study.codings, study.turns, codes=["NICHE", "FUTURE_PRODUCTS"]
    )
    assert list(table.columns) == ["past", "future", analysis.NO_SECTION]
    assert table.loc["NICHE", "past"] == 2
    assert table.loc["FUTURE_PRODUCTS", "future"] == 2
    rolled = analysis.codes_by_section(
        study.codings, study.turns, codes=["FUTURE", "KEY_TAKEAWAYS"], codebook=study.codebook
    )
    assert rolled.loc["FUTURE"].tolist() == [0, 2, 0]
    assert rolled.loc["KEY_TAKEAWAYS"].tolist() == [3, 0, 0]  # the negated niche is left out


def _background_table(study) -> pd.DataFrame:
    return analysis.codes_by_attribute(
        study.codings,
        study.participants,
        attribute="background",
        codes=["NICHE", "PERSONAL_BRAND"],
        split=";",
    )


def test_codes_by_attribute_splits_multi_valued(study):
    table = _background_table(study)
    assert list(table.columns) == ["Physics (n=2)", "MBA (n=1)", "unknown (n=1)"]
    assert table.loc["NICHE", "Physics (n=2)"] == 0.5
    assert table.loc["PERSONAL_BRAND", "MBA (n=1)"] == 0.0
    with pytest.raises(PremiseError, match="colour"):
        analysis.codes_by_attribute(
            study.codings, study.participants, attribute="colour", codes=["NICHE"]
        )


def test_quantity_values_per_participant(study):
    table = analysis.quantity_values(study.quantities, study.participants, kind="hours_per_week")
    assert list(table["pseudonym"]) == ["P02", "P01"]
    p01 = table.set_index("pseudonym").loc["P01"]
    assert (p01["value"], p01["low"], p01["high"], p01["n_mentions"]) == (15.0, 10.0, 20.0, 2)
    within = analysis.quantity_values(
        study.quantities,
        study.participants,
        kind="hours_per_week",
        codings=study.codings,
        codes=["FUTURE_PRODUCTS"],
    )
    assert within["pseudonym"].tolist() == ["P01"]  # t2's hours sit in a sentence coded otherwise
    ranged = study.quantities.assign(low=[8.0, 20.0, 5.0, 2.0], high=[12.0, 20.0, 5.0, 4.0])
    clients = analysis.quantity_values(ranged, study.participants, kind="clients")
    assert clients[["value", "low", "high"]].values.tolist() == [[3.0, 2.0, 4.0]]
    with pytest.raises(ValueError, match="codings"):
        analysis.quantity_values(study.quantities, study.participants, kind="x", codes=["NICHE"])
    phrase = analysis.quantity_phrase(
        table, total=3, what="the hours a client gets", unit=" hours a week"
    )
    assert phrase == (
        "2 of 3 participants stated the hours a client gets: a median of 10 hours a week "
        "(middle half 7.5 to 12.5; stated values from 5 to 20)."
    )
    assert analysis.quantity_phrase(table.iloc[0:0], total=3, what="x") == (
        "None of the 3 participants stated x."
    )
    stats = analysis.describe_values(table["value"])
    assert stats["median"] == 10.0 and stats["n"] == 2
    empty = analysis.describe_values(pd.Series([], dtype=float))
    assert empty["n"] == 0 and math.isnan(empty["median"])


def test_saturation_is_reproducible_and_complete(study):
    codes = analysis.leaf_codes(study.codebook)
    first = analysis.saturation(
        study.codings, study.transcripts["transcript_id"], orders=30, seed=7, codes=codes
    )
    again = analysis.saturation(
        study.codings, study.transcripts["transcript_id"], orders=30, seed=7, codes=codes
    )
    pd.testing.assert_frame_equal(first.curves, again.curves)
    # Voiced leaf codes: NICHE, FUTURE_PRODUCTS (t1); PERSONAL_BRAND, FUTURE_FULL_TIME (t2).
    assert first.n_codes == 4
    last = first.summary.iloc[-1]
    assert last["position"] == 3
    assert last["cumulative_mean"] == 4 and last["cumulative_low"] == 4
    assert first.summary["new_mean"].sum() == pytest.approx(4)
    assert (first.curves.groupby("order")["new_codes"].sum() == 4).all()
    assert first.points.isna().all()  # three interviews are too few for base 4 + run 2


def test_saturation_point_follows_guest_namey_chen():
    # base of 4 interviews brings 20 codes; runs of 2 then add 3, 1, 0 codes.
    new = [8, 6, 4, 2, 2, 1, 1, 0, 0, 0]
    assert _saturation_point(new, 4, 2, 0.05) == 6.0  # run 7-8 adds 1/20 = 5%
    assert _saturation_point(new, 4, 2, 0.0) == 7.0
    assert math.isnan(_saturation_point([0, 0, 0, 0, 0, 0], 4, 2, 0.05))


# ------------------------------------------------------------------------- 04 takeaways


def test_participants_per_code_ranked(study):
    table = analysis.participants_per_code(
        study.codings,
        study.participants,
        study.codebook,
        codes=analysis.children(study.codebook, "KEY_TAKEAWAYS"),
    )
    assert list(table["code_id"]) == ["NICHE", "PERSONAL_BRAND"]  # tie on 1: more sentences first
    niche = table.iloc[0]
    assert niche["n_participants"] == 1
    assert niche["share"] == pytest.approx(1 / 3)
    assert niche["n_sentences"] == 2
    assert niche["strength"] == 2.0
    assert niche["n_negated"] == 1
    assert niche["pseudonyms"] == "P01"
    future = analysis.participants_per_code(
        study.codings, study.participants, study.codebook, codes=["FUTURE"]
    )
    assert future.loc[0, "n_participants"] == 2


def test_exemplar_quotes_one_per_participant(study):
    quotes = analysis.exemplar_quotes(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id="FUTURE",
        n=3,
        min_chars=10,
        max_chars=400,
    )
    assert list(quotes["pseudonym"]) == ["P01", "P02"]  # P01's sentence has two matches
    assert quotes.loc[0, "quote"] == "I want to build products, courses maybe."
    assert quotes.loc[0, "turn_id"] == 3
    # A short sentence is widened to its neighbours in the same turn.
    widened = analysis.exemplar_quotes(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id="NICHE",
        min_chars=25,
        max_chars=60,
    )
    assert widened.loc[0, "quote"] == "I found a niche. Energy only."
    none = analysis.exemplar_quotes(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id="KEY_TAKEAWAYS",
        n=0,
    )
    assert none.empty


def test_quotes_are_shortened_at_a_word(study):
    quotes = analysis.exemplar_quotes(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id="FUTURE_FULL_TIME",
        min_chars=5,
        max_chars=20,
    )
    assert quotes.loc[0, "quote"] == "Maybe a full-time\u2026"


def test_counter_evidence_negated_and_qualified(study):
    table = analysis.counter_evidence(
        study.codings, study.sentences, study.participants, study.codebook, code_id="NICHE"
    )
    assert table[["kind", "pseudonym"]].values.tolist() == [["negated", "P02"]]
    future = analysis.counter_evidence(
        study.codings, study.sentences, study.participants, study.codebook, code_id="FUTURE"
    )
    assert future["kind"].tolist() == ["qualified"]
    assert "but products" in future.loc[0, "quote"]


def test_attribute_counts(study):
    table = analysis.attribute_counts(study.participants, "background", split=";")
    assert table.values.tolist()[0] == ["Physics", 2, "P01, P02"]
    assert set(table["value"]) == {"Physics", "MBA", "unknown"}


def test_narrative_helpers():
    assert analysis.count_phrase(7, 10) == "7 of 10 participants"
    assert analysis.listing(["a", "b", "c"]) == "a, b and c"
    assert analysis.listing(["a"]) == "a"
    assert analysis.listing([]) == ""
    assert analysis.percent(0.256) == "26%"
    assert analysis.percent(float("nan")) == "n/a"
    assert analysis.plural(1, "code") == "1 code"
    assert analysis.plural(2, "code") == "2 codes"
    assert analysis.number(10.0) == "10"
    assert analysis.number(2.5) == "2.5"
    assert analysis.decimal(-0.001) == "0.00"
    assert analysis.decimal(0.714) == "0.71"
    assert analysis.decimal(float("nan")) == "n/a"
    assert analysis.humanise("full_time_freelance") == "full time freelance"
    table = pd.DataFrame({"label": ["a", "b", "c"], "n": [3, 3, 1]})
    assert analysis.top_labels(table, column="n") == ["a", "b"]
    assert analysis.top_labels(table.iloc[0:0], column="n") == []


# ------------------------------------------------------------------------------- checks


def test_check_offsets_passes_and_fails(study):
    assert analysis.check_offsets(study.codings, study.turns) == len(study.codings)
    broken = study.codings.copy()
    broken.loc[0, "end_char"] = broken.loc[0, "end_char"] + 3
    with pytest.raises(PremiseError, match="t1 turn 1"):
        analysis.check_offsets(broken, study.turns)
    assert analysis.check_offsets(study.sentences, study.turns, what="sentence") == 12
    shifted = study.sentences.assign(start_char=study.sentences["start_char"] + 1)
    with pytest.raises(PremiseError, match="12 sentence"):
        analysis.check_offsets(shifted, study.turns, what="sentence")


def test_check_codes_and_version(study):
    analysis.check_codes_in_codebook(study.codings, study.codebook)
    analysis.check_codebook_version(study.codings, study.codebook)
    stray = study.codings.assign(code_id="GHOST")
    with pytest.raises(PremiseError, match="GHOST"):
        analysis.check_codes_in_codebook(stray, study.codebook)
    old = study.codings.assign(codebook_version="1")
    with pytest.raises(PremiseError, match="version"):
        analysis.check_codebook_version(old, study.codebook)


def test_check_participants(study):
    analysis.check_participants(study.participants, study.transcripts)
    with pytest.raises(PremiseError, match="no participants"):
        analysis.check_participants(study.participants.iloc[0:0], study.transcripts)
    with pytest.raises(PremiseError, match="name columns"):
        analysis.check_participants(
            study.participants.assign(participant_label="x"), study.transcripts
        )
    with pytest.raises(PremiseError, match="different"):
        analysis.check_participants(study.participants.iloc[:2], study.transcripts)
    with pytest.raises(PremiseError, match="because"):
        analysis.require(False, "because")


def test_check_no_names(study, tmp_path):
    (tmp_path / "participants.csv").write_text(
        "transcript_id,pseudonym,participant_label,interviewer_label\n"
        "t1,P01,Ada Lovelace,Jordan Avery\n"
    )
    assert analysis.check_no_names({"turns": study.turns}, tmp_path) == 2
    leaked = study.turns.copy()
    leaked.loc[3, "text"] = "I told ada lovelace about it."
    with pytest.raises(PremiseError, match=r"turns.text \(t1 turn 3\)") as err:
        analysis.check_no_names({"turns": leaked}, tmp_path)
    assert "ada" not in str(err.value).lower()
    assert analysis.check_no_names({"turns": leaked}, tmp_path / "nowhere") == 0


def test_cleaning_summary_prefers_ingest_counts(study):
    turns = study.turns.assign(n_annotations=1, n_disfluencies=2, n_pseudonyms=0)
    turns.loc[0, "n_pseudonyms"] = 5
    table = analysis.cleaning_summary(turns).set_index("transcript_id")
    assert table.loc["t1", "annotations"] == 4
    assert table.loc["t1", "disfluencies"] == 8
    assert table.loc["t1", "pseudonyms"] == 5
    assert table.loc["t2", "pseudonyms"] == 0


def test_pseudonym_placeholders_are_not_annotations(study):
    turns = study.turns.copy()
    turns.loc[1, "text_raw"] = "[PERSON_1] and [ORG_2] hired me. [laughs]"
    turns.loc[1, "text"] = "[PERSON_1] and [ORG_2] hired me."
    table = analysis.cleaning_summary(turns).set_index("transcript_id")
    assert table.loc["t1", "annotations"] == 1
    assert table.loc["t1", "pseudonyms"] == 2


def test_pseudonyms_by_type():
    summary = pd.DataFrame(
        {
            "transcript_id": ["t1", "t2", "t2", "t1"],
            "entity_type": ["PERSON", "PERSON", "ORG", "GPE"],
            "n_replaced": [3, 4, 2, 0],
            "n_distinct": [1, 2, 1, 0],
        }
    )
    table = analysis.pseudonyms_by_type(summary)
    assert table.values.tolist() == [["PERSON", 7, 2], ["ORG", 2, 1]]
    assert analysis.pseudonyms_by_type(None).empty


def test_md_escape():
    assert (
        analysis.md_escape("I paid $675 for *ten*\n calls_") == r"I paid \$675 for \*ten\* calls\_"
    )


# ------------------------------------------------------------- what the pages pick and rank


def test_talk_share_and_coverage_summary(study):
    overview = analysis.transcript_overview(study.transcripts, study.turns, study.participants)
    talk = analysis.talk_share(overview)
    assert talk.share == pytest.approx(15 / 62)  # interviewer words 8 + 6 + 1 of 62 spoken
    assert talk.lowest["pseudonym"] == "P02"
    assert talk.highest["interviewer_share"] == pytest.approx(1 / 3)
    covered = analysis.coverage_summary(
        analysis.coverage(study.sentences, study.turns, study.codings), study.participants
    )
    assert covered.overall["n_sentences"] == 8
    assert list(covered.per_transcript["pseudonym"]) == ["P01", "P02", "P03"]
    assert (covered.lowest["pseudonym"], covered.highest["pseudonym"]) == ("P03", "P01")


def test_firing_names_the_top_leaf_and_those_never_fired(study):
    frequencies = analysis.code_frequencies(study.codings, study.codebook, study.participants)
    fired = analysis.firing(frequencies, study.codebook, study.codings)
    assert list(fired.leaves["code_id"]) == analysis.leaf_codes(study.codebook)
    assert fired.top["code_id"] == "NICHE"
    assert fired.never.empty
    assert fired.n_coded_sentences == 6
    silent = analysis.firing(frequencies.assign(n_sentences=0), study.codebook, study.codings)
    assert silent.top["code_id"] == "FUTURE_FULL_TIME"  # a tie goes to the first code id
    assert len(silent.never) == 4


def test_voicing_and_participants_voicing_several(study):
    leaves = analysis.leaf_codes(study.codebook)
    counts = analysis.code_matrix(study.codings, study.participants, study.codebook, codes=leaves)
    voiced = analysis.voicing(counts)
    assert voiced.voiced_by.to_dict() == {
        "FUTURE_PRODUCTS": 2,
        "FUTURE_FULL_TIME": 1,
        "NICHE": 1,
        "PERSONAL_BRAND": 1,
    }
    assert list(voiced.breadth.index) == ["P02", "P01", "P03"]
    assert voiced.by_everyone == []
    assert voiced.by_one == ["FUTURE_FULL_TIME", "NICHE", "PERSONAL_BRAND"]
    assert voiced.voiced_codes == leaves
    several = analysis.participants_voicing_several(
        study.codings, study.participants, study.codebook, codes=leaves
    )
    assert several == 2


def test_section_peaks(study):
    sections = analysis.codes_by_section(
        study.codings, study.turns, codes=["NICHE", "KEY_TAKEAWAYS", "FUTURE_PRODUCTS"]
    )
    peaks = analysis.section_peaks(sections)
    assert peaks.peaks.values.tolist() == [
        ["NICHE", 2, "past", 1.0, False],
        ["FUTURE_PRODUCTS", 2, "future", 1.0, False],
    ]
    assert peaks.most_tied is None  # two sentences each: no headline
    more = sections.assign(past=sections["past"] * 2)
    backed = analysis.section_peaks(more, n_participants={"NICHE": 2, "FUTURE_PRODUCTS": 1})
    assert backed.most_tied["code_id"] == "NICHE"
    assert backed.peaks["supported"].tolist() == [True, False]


def test_attribute_gap_and_spread(study):
    table = _background_table(study)
    assert analysis.attribute_gap(table) is None  # a single group of two or more
    gap = analysis.attribute_gap(table, min_size=1)
    assert (gap.code_id, gap.high_group, gap.high_share) == ("NICHE", "MBA (n=1)", 1.0)
    assert (gap.low_group, gap.low_share) == ("unknown (n=1)", 0.0)
    spread = analysis.attribute_spread(study.participants, "background", split=";")
    assert (spread.n_people, spread.n_multi, spread.n_distinct) == (3, 1, 3)
    assert spread.shared["value"].tolist() == ["Physics"]
    assert len(spread.values) == 3


def test_evidence_uses_the_report_settings(study):
    found = analysis.evidence(study, "FUTURE")
    report = study.params.report
    expected = analysis.exemplar_quotes(
        study.codings,
        study.sentences,
        study.participants,
        study.codebook,
        code_id="FUTURE",
        n=report.quotes_per_code,
        min_chars=report.quote_min_chars,
        max_chars=report.quote_max_chars,
    )
    pd.testing.assert_frame_equal(found.quotes, expected)
    assert (found.n_negated, found.n_qualified) == (0, 1)
    assert found.shown["kind"].tolist() == ["qualified"]
    niche = analysis.evidence(study, "NICHE", n_negated=0)
    assert niche.n_negated == 1 and niche.shown.empty


def test_saturation_reached_and_found_after(study):
    saturated = analysis.saturation(
        study.codings, study.transcripts["transcript_id"], orders=30, seed=7
    )
    assert saturated.reached.empty
    assert saturated.found_after(1.0) == 3
    assert saturated.found_after(0.0) == 1


def test_agreement_view_of_the_main_pair(study):
    rows = []
    for first, second in (("human:reference", "rules"), ("human:ann", "rules")):
        for code, kappa, n_first in (
            ("NICHE", 0.3, 2),
            ("PERSONAL_BRAND", 0.8, 1),
            ("FUTURE_PRODUCTS", 0.65, 1),
            ("FUTURE", 0.0, 0),
            ("IMPORTED_ONLY", 0.0, 3),  # a code of the imported coding, not in the codebook
            ("ALL", 0.5, 4),
        ):
            rows.append(
                {
                    "code_id": code,
                    "scope": "all" if code == "ALL" else "code",
                    "n_transcripts": 2,
                    "n_units": 40,
                    "n_first": n_first,
                    "n_second": n_first,
                    "kappa": kappa,
                    "coder_a": first,
                    "coder_b": second,
                }
            )
    pairs = pd.DataFrame(
        {"coder_a": ["human:reference", "human:ann"], "coder_b": ["rules", "rules"]}
    )
    disagreements = pd.DataFrame(
        {"coder_a": ["human:reference", "human:ann", "human:reference"], "coder_b": ["rules"] * 3}
    )
    files = AgreementFiles(per_code=pd.DataFrame(rows), pairs=pairs, disagreements=disagreements)
    view = analysis.agreement_view(files, study.codebook)
    assert (view.coder_a, view.coder_b) == ("human:reference", "rules")
    assert list(view.per_code["code_id"]) == ["PERSONAL_BRAND", "FUTURE_PRODUCTS", "NICHE"]
    assert (view.best["code_id"], view.worst["code_id"]) == ("PERSONAL_BRAND", "NICHE")
    assert view.pooled["code_id"] == "ALL" and view.pooled["kappa"] == 0.5
    assert view.outside["code_id"].tolist() == ["IMPORTED_ONLY"]
    assert view.table["code_id"].tolist()[-2:] == ["IMPORTED_ONLY", "ALL"]
    assert view.n_substantial == 2
    assert view.n_disagreements == 2
    assert view.n_units == 40
    assert view.other_pairs["coder_a"].tolist() == ["human:ann"]
    assert view.table.attrs["unused"] == 1
    empty = AgreementFiles(per_code=pd.DataFrame(rows).iloc[0:0], pairs=pairs, disagreements=pairs)
    assert analysis.agreement_view(empty, study.codebook) is None
    assert analysis.agreement_view(None, study.codebook) is None


def test_learned_coder_views(study):
    summary = pd.DataFrame({"coder": ["model", "rules", "both"], "micro_f1": [0.4, 0.7, 0.6]})
    assert analysis.best_coder(summary)["coder"] == "rules"
    per_code = pd.DataFrame(
        {
            "code_id": ["NICHE", "GHOST"],
            "learned": [True, False],
            "better": ["model", "rules"],
        }
    )
    scores = analysis.code_evaluation(per_code, study.codebook)
    assert scores.table["label"].tolist() == ["Find a niche", "GHOST"]
    assert scores.not_learned == ["GHOST"]
    assert scores.model_wins == ["Find a niche"]
    ablation = pd.DataFrame(
        {"features": ["sentence", "+ question", "+ turn"], "micro_f1_gain": [None, 0.02, 0.05]}
    )
    assert analysis.largest_gain(ablation)["features"] == "+ turn"
    assert analysis.largest_gain(ablation.iloc[:1]) is None


def test_checks_moved_out_of_the_notebooks(study):
    analysis.check_turn_counts(study.transcripts, study.turns)
    with pytest.raises(PremiseError, match="n_turns"):
        analysis.check_turn_counts(study.transcripts.assign(n_turns=1), study.turns)
    analysis.check_participant_turns(study.transcripts, study.turns)
    with pytest.raises(PremiseError, match="t3"):
        analysis.check_participant_turns(study.transcripts, study.turns.iloc[:7])
    analysis.check_coded_roles(study.codings, study.turns, ["participant"])
    with pytest.raises(PremiseError, match="role"):
        analysis.check_coded_roles(study.codings, study.turns, ["interviewer"])
    similarity = analysis.cooccurrence(study.codings, codes=["NICHE", "FUTURE_PRODUCTS"])
    analysis.check_similarity(similarity)
    lopsided = similarity.copy()
    lopsided.iloc[0, 1] = 0.5
    with pytest.raises(PremiseError, match="symmetric"):
        analysis.check_similarity(lopsided)
    with pytest.raises(PremiseError, match=r"\[0, 1\]"):
        analysis.check_similarity(similarity + 2)
    analysis.check_parents(study.codebook, ["FUTURE", "KEY_TAKEAWAYS"])
    with pytest.raises(PremiseError, match="NICHE has no codes below it"):
        analysis.check_parents(study.codebook, ["NICHE"])
    with pytest.raises(PremiseError, match="NOPE"):
        analysis.check_parents(study.codebook, ["NOPE"])


def test_check_quotes(study, tmp_path):
    (tmp_path / "participants.csv").write_text(
        "transcript_id,pseudonym,participant_label\nt1,P01,Ada Lovelace\n"
    )
    found = {code: analysis.evidence(study, code) for code in ("FUTURE", "NICHE")}
    assert analysis.check_quotes(found, study.sentences, tmp_path) == sum(
        len(f.quotes) for f in found.values()
    )
    twice = dataclasses.replace(
        found["FUTURE"], quotes=pd.concat([found["FUTURE"].quotes] * 2, ignore_index=True)
    )
    with pytest.raises(PremiseError, match="same participant"):
        analysis.check_quotes({"FUTURE": twice}, study.sentences, tmp_path)
    astray = dataclasses.replace(found["FUTURE"], quotes=found["FUTURE"].quotes.assign(turn_id=9))
    with pytest.raises(PremiseError, match="does not point at a sentence"):
        analysis.check_quotes({"FUTURE": astray}, study.sentences, tmp_path)
    named = dataclasses.replace(
        found["FUTURE"], quotes=found["FUTURE"].quotes.assign(quote="Ada Lovelace said so")
    )
    with pytest.raises(PremiseError, match="quotes of FUTURE"):
        analysis.check_quotes({"FUTURE": named}, study.sentences, tmp_path)


def _agreement_rows(n_transcripts, codes):
    return pd.DataFrame(
        [
            {
                "code_id": code,
                "scope": "all" if code == "ALL" else "code",
                "n_transcripts": n_transcripts,
                "n_units": 30,
                "n_first": 3,
                "n_second": 2,
                "n_both": 1,
                "kappa": kappa,
                "kappa_lo": lo,
                "kappa_hi": hi,
                "precision": precision,
                "recall": 0.5,
                "f1": 0.000497,
                "coder_a": "human:reference",
                "coder_b": "rules",
            }
            for code, kappa, lo, hi, precision in codes
        ]
    )


def test_agreement_display_in_plain_decimals_with_a_reason_for_no_interval(study):
    nan = float("nan")
    first, second = study.codebook["code_id"].iloc[:2]
    pairs = pd.DataFrame({"coder_a": ["human:reference"], "coder_b": ["rules"]})
    files = AgreementFiles(
        per_code=_agreement_rows(
            3,
            [
                (first, 0.497, 0.21, 0.74, 0.25),
                (second, 0.2, nan, nan, nan),  # too few resamples gave it a kappa
                ("ALL", 0.4, 0.1, 0.6, 0.3),
            ],
        ),
        pairs=pairs,
        disagreements=pairs,
    )
    view = analysis.agreement_view(files, study.codebook)
    shown = view.display_table()
    text = shown.to_string()
    assert "e-0" not in text and "nan" not in text.lower() and ".." not in text
    assert shown.loc[first, "kappa"] == "0.50" and shown.loc[first, "F1"] == "0.00"
    assert shown.loc[first, "kappa 95% interval"] == "0.21 to 0.74"
    assert shown.loc[second, "kappa 95% interval"] == "too few transcripts: no interval"
    assert shown.loc[second, "precision"] == ""
    assert shown.loc["ALL", "human:reference sentences"] == 3
    assert analysis.has_interval(view.pooled)
    one = AgreementFiles(
        per_code=_agreement_rows(1, [(first, 0.5, nan, nan, 0.5), ("ALL", nan, nan, nan, 0.5)]),
        pairs=pairs,
        disagreements=pairs,
    )
    view = analysis.agreement_view(one, study.codebook)
    assert not analysis.has_interval(view.pooled)
    assert view.interval(view.pooled) == "one transcript: no interval"
    assert set(view.display_table()["kappa 95% interval"]) == {"one transcript: no interval"}
    assert view.display_table().loc["ALL", "kappa"] == ""


def test_plain_numbers_keeps_whole_numbers_and_hides_missing():
    frame = pd.DataFrame({"n": [1.0, 20.0], "share": [0.000497, float("nan")], "name": ["a", "b"]})
    shown = analysis.plain_numbers(frame)
    assert shown["n"].tolist() == ["1", "20"]
    assert shown["share"].tolist() == ["0.00", ""]
    assert shown["name"].tolist() == ["a", "b"]


def _unit_rows(codes: dict[str, tuple[float, float, float, int]], unit: str) -> list[dict]:
    return [
        {
            "code_id": code,
            "scope": "all" if code == "ALL" else "code",
            "n_transcripts": 3,
            "n_units": 3 if unit == "participant" else 40,
            "n_first": n,
            "n_second": n,
            "percent_agreement": 1.0,
            "kappa": kappa,
            "kappa_lo": lo,
            "kappa_hi": hi,
            "coder_a": "human:reference",
            "coder_b": "rules",
            "unit": unit,
        }
        for code, (kappa, lo, hi, n) in codes.items()
    ]


def test_kappa_at_three_units_side_by_side_and_the_indicative_flag(study):
    first, second, unused = study.codebook["code_id"].tolist()[:3]
    nan = float("nan")
    sentence = {first: (0.8, 0.6, 0.9, 5), second: (0.4, 0.1, 0.7, 3), "ALL": (0.6, 0.5, 0.7, 8)}
    turn = {first: (0.7, 0.5, 0.9, 4), second: (0.65, 0.3, 0.9, 2), "ALL": (0.7, nan, nan, 6)}
    participant = {
        first: (nan, nan, nan, 3),
        second: (0.5, -0.2, 1.0, 2),
        unused: (nan, nan, nan, 0),
        "ALL": (0.4, nan, nan, 5),
    }
    rows = (
        _unit_rows(sentence, "sentence")
        + _unit_rows(turn, "turn")
        + _unit_rows(participant, "participant")
    )
    per_code = pd.DataFrame(rows)
    table = analysis.kappa_by_unit(per_code, study.codebook)
    assert table["code_id"].tolist() == [first, second, "ALL"]  # in codebook order, unused out
    got = table.set_index("code_id")
    assert got.loc[first, "sentence"] == "0.80 (0.60 to 0.90)"
    assert got.loc[first, "participant"] == "n/a"
    assert got.loc["ALL", "turn"] == "0.70"
    assert got.loc[second, "indicative only at"] == "sentence, participant"
    assert got.loc[first, "indicative only at"] == ""
    assert table.attrs["n_units"] == {"sentence": 40, "turn": 40, "participant": 3}
    # the sentence view of page 02 keeps its own unit
    assert set(analysis.agreement_table(per_code, study.codebook)["unit"]) == {"sentence"}

    files = AgreementFiles(per_code=per_code, pairs=per_code.iloc[0:0], disagreements=per_code)
    checks = analysis.code_checks(files, [first, second, "OTHER"])
    assert checks["OTHER"] is None
    assert analysis.check_phrase(checks["OTHER"]) == analysis.NO_HUMAN_CODING
    assert checks[second].indicative and not checks[first].indicative
    assert analysis.check_phrase(checks[second]) == (
        "against human:reference on 3 participants: kappa 0.50 (-0.20 to 1.00); indicative only"
    )
    assert "cannot be computed" in analysis.check_phrase(checks[first])
    assert analysis.indicative_codes(checks) == [second]
    assert analysis.agreement_flag(0.59) == "indicative only" and analysis.agreement_flag(nan) == ""
    assert analysis.code_checks(None, [first]) == {first: None}


def test_some_of_says_how_many_of_a_set_in_words():
    assert analysis.some_of(1, 1, "code") == "the one code"
    assert analysis.some_of(0, 1, "code") == "no code"
    assert analysis.some_of(5, 5, "code") == "all 5 codes"
    assert analysis.some_of(2, 3, "code") == "2 of the 3 codes"
    assert analysis.some_of(0, 4, "code") == "none of the 4 codes"
