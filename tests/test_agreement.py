"""Agreement: kappa and alpha against hand-worked and published values, units, coverage, the
disagreement table, bootstrap intervals, the command."""

from __future__ import annotations

import math
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from fixtures.refi.corpus import rule_codings, write_codebook, write_corpus
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qualcode import schema
from qualcode.cli import app
from qualcode.coding.codebook import parse_codebook
from qualcode.config import load_params
from qualcode.errors import QualcodeInputError
from qualcode.human import agreement as ag
from qualcode.human import metrics

runner = CliRunner()

# ---------------------------------------------------------------------------------------------
# Published and hand-worked values


def test_cohen_kappa_hand_worked_two_by_two() -> None:
    # 50 units: both yes 20, first only 5, second only 10, both no 15.
    # p_o = 35/50 = .70; p_e = (25/50)(30/50) + (25/50)(20/50) = .50; kappa = .20/.50 = .40
    found = metrics.table_metrics(np.array([20, 5, 10, 15]))
    assert found["kappa"] == pytest.approx(0.4)
    assert found["percent_agreement"] == pytest.approx(0.7)
    assert found["precision"] == pytest.approx(20 / 30)
    assert found["recall"] == pytest.approx(20 / 25)
    first = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    second = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert metrics.cohen_kappa(np.array(first), np.array(second)) == pytest.approx(0.4)


def test_krippendorff_alpha_published_nominal_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
    # observers, twelve units, missing values; nominal alpha = 0.743.
    nan = np.nan
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert round(alpha, 3) == 0.743


def test_krippendorff_alpha_published_binary_example() -> None:
    # Same paper, section A: two observers, ten units, binary data; alpha = 0.095.
    first = np.array([0, 1, 0, 0, 0, 0, 0, 0, 1, 0])
    second = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0])
    assert round(metrics.krippendorff_alpha(first, second), 3) == 0.095
    # closed form from the 2x2 table: both 1, first only 1, second only 3, neither 5
    table = metrics.two_by_two(first, second)
    assert round(float(metrics.table_metrics(table)["alpha"]), 3) == 0.095
    # and Cohen's kappa of the same data, by hand: p_o = .6, p_e = .2*.4 + .8*.6 = .56
    assert metrics.cohen_kappa(first, second) == pytest.approx(0.04 / 0.44)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=60))
def test_closed_form_alpha_equals_the_package(pairs) -> None:
    first = np.array([p[0] for p in pairs])
    second = np.array([p[1] for p in pairs])
    package = metrics.krippendorff_alpha(first, second)
    closed = float(metrics.table_metrics(metrics.two_by_two(first, second))["alpha"])
    if math.isnan(package):
        assert math.isnan(closed)
    else:
        assert closed == pytest.approx(package)


def test_undefined_metrics_are_nan() -> None:
    found = metrics.table_metrics(np.array([0, 0, 0, 10]))
    assert math.isnan(found["kappa"]) and math.isnan(found["alpha"])
    assert math.isnan(found["precision"]) and math.isnan(found["f1"])
    assert found["percent_agreement"] == 1.0


# ---------------------------------------------------------------------------------------------
# A corpus worked by hand

CODEBOOK = """\
version: 1
codes:
  - id: P
    label: Parent
    definition: A parent.
  - id: Y
    label: Child
    parent: P
    definition: A child.
  - id: X
    label: Other
    definition: Another code.
  - id: Z
    label: Unused
    definition: Nobody uses it.
"""


def corpus() -> tuple[pd.DataFrame, pd.DataFrame]:
    turns, sentences = [], []
    for t in ("t1", "t2", "t3"):
        turns.append((t, 0, "Interviewer", "interviewer", "q", "Question?"))
        text = " ".join(f"Sentence {t}{k}." for k in range(5))
        turns.append((t, 1, "P", "participant", "q", text))
        sentences.append((t, 0, 0, 0, 9, "Question?"))
        pos = 0
        for k in range(5):
            piece = f"Sentence {t}{k}."
            sentences.append((t, 1, k, pos, pos + len(piece), piece))
            pos += len(piece) + 1
    turns_df = pd.DataFrame(
        turns, columns=["transcript_id", "turn_id", "speaker", "role", "section", "text"]
    )
    sentences_df = pd.DataFrame(
        sentences,
        columns=["transcript_id", "turn_id", "sentence_id", "start_char", "end_char", "text"],
    )
    return turns_df, sentences_df


def codings() -> pd.DataFrame:
    rows = [
        # reference (human), transcripts t1 and t2 only
        ("t1", 1, 0, "X", "human:reference"),
        ("t1", 1, 1, "X", "human:reference"),
        ("t2", 1, 0, "X", "human:reference"),
        ("t1", 1, 3, "Y", "human:reference"),
        ("t2", 1, 1, "P", "human:reference"),
        # rules, every transcript
        ("t1", 1, 0, "X", "rules"),
        ("t1", 1, 2, "X", "rules"),
        ("t2", 1, 0, "X", "rules"),
        ("t3", 1, 1, "X", "rules"),  # t3: the reference did not code it, so not a unit
        ("t1", 0, 0, "X", "rules"),  # an interviewer sentence: not a unit
        ("t2", 1, 4, "Y", "rules"),
        ("t2", 1, 4, "Y", "rules"),  # a repeat counts once
    ]
    frame = pd.DataFrame(
        rows, columns=["transcript_id", "turn_id", "sentence_id", "code_id", "coder"]
    )
    frame["start_char"], frame["end_char"] = 0, 1
    return frame


def compare(**options) -> ag.Agreement:
    turns, sentences = corpus()
    defaults = {
        "coder_a": "human:reference",
        "coder_b": "rules",
        "codebook": parse_codebook(CODEBOOK),
        "n_boot": 300,
        "seed": 7,
    }
    return ag.compare_coders(codings(), turns, sentences, **(defaults | options))


def row(result: ag.Agreement, code_id: str, scope: str = "code") -> pd.Series:
    table = result.table
    return table[(table["code_id"] == code_id) & (table["scope"] == scope)].iloc[0]


def test_units_are_participant_sentences_of_transcripts_both_covered() -> None:
    result = compare()
    assert result.transcripts == ["t1", "t2"]
    assert result.n_units == 10
    # t1 s4, t2 s2, t2 s3 got no code from anyone
    assert result.n_uncoded_units == 3


def test_counts_and_metrics_per_code() -> None:
    result = compare()
    x = row(result, "X")
    assert (x.n_units, x.n_first, x.n_second, x.n_both, x.n_neither) == (10, 3, 3, 2, 6)
    # p_o = .8, p_e = .3*.3 + .7*.7 = .58, kappa = .22/.42
    assert x.kappa == pytest.approx(0.22 / 0.42)
    assert x.precision == pytest.approx(2 / 3) and x.recall == pytest.approx(2 / 3)
    assert x.f1 == pytest.approx(2 / 3)
    assert x.percent_agreement == pytest.approx(0.8)
    assert x.percent_agreement_coded == pytest.approx(0.5)
    first = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    second = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    assert x.alpha == pytest.approx(
        krippendorff.alpha(reliability_data=[first, second], level_of_measurement="nominal")
    )
    y = row(result, "Y")
    assert (y.n_first, y.n_second, y.n_both, y.n_neither) == (1, 1, 0, 8)
    assert y.kappa == pytest.approx(-0.02 / 0.18)
    assert y.f1 == 0.0
    z = row(result, "Z")
    assert (z.n_first, z.n_second, z.n_neither) == (0, 0, 10)
    assert math.isnan(z.kappa)


def test_participant_unit_asks_whether_each_participant_voiced_the_code() -> None:
    result = compare(unit="participant", rollup=True)
    assert result.transcripts == ["t1", "t2"] and result.n_units == 2
    x = row(result, "X")  # both coders: X in t1 and t2 (the interviewer's X does not count)
    assert (x.n_units, x.n_first, x.n_second, x.n_both) == (2, 2, 2, 2)
    y = row(result, "Y")  # reference: t1; rules: t2
    assert (y.n_first, y.n_second, y.n_both, y.n_neither) == (1, 1, 0, 0)
    assert y.kappa == pytest.approx(-1.0)
    parent = row(result, "P", "rollup")  # reference: t1 (Y) and t2 (P); rules: t2 (Y)
    assert (parent.n_first, parent.n_second, parent.n_both) == (2, 1, 1)
    assert set(result.table["unit"]) == {"participant"}

    # a negated coding is no voicing: the rules' only X in t2 negated leaves t2 without X
    turns, sentences = corpus()
    frame = codings().assign(negated=False)
    frame.loc[(frame["coder"] == "rules") & (frame["transcript_id"] == "t2"), "negated"] = True
    negated = ag.compare_coders(
        frame, turns, sentences, coder_a="human:reference", coder_b="rules", unit="participant"
    )
    x = negated.table[negated.table["code_id"] == "X"].iloc[0]
    assert (x.n_first, x.n_second, x.n_both) == (2, 1, 1)
    # at the sentence unit a negated coding still counts, as before
    sentence = ag.compare_coders(
        frame, turns, sentences, coder_a="human:reference", coder_b="rules", n_boot=0
    )
    assert sentence.table.loc[sentence.table["code_id"] == "X", "n_second"].iloc[0] == 3


def test_first_coder_is_the_reference_for_precision_and_recall() -> None:
    turns, sentences = corpus()
    frame = codings()
    frame = frame[~((frame["coder"] == "rules") & (frame["sentence_id"] == 2))]  # rules: 2 of 3
    result = ag.compare_coders(
        frame, turns, sentences, coder_a="human:reference", coder_b="rules", n_boot=0
    )
    x = result.table[result.table["code_id"] == "X"].iloc[0]
    assert (x.precision, x.recall) == (1.0, pytest.approx(2 / 3))


def test_all_row_pools_every_code_and_rollup_rows_add_children() -> None:
    result = compare(rollup=True)
    pooled = row(result, "ALL", "all")
    codes = result.table[result.table["scope"] == "code"]
    assert pooled.n_both == codes["n_both"].sum() and pooled.n_units == 10 * len(codes)
    parent = row(result, "P", "rollup")
    # reference: Y at t1 s3, P at t2 s1; rules: Y at t2 s4
    assert (parent.n_first, parent.n_second, parent.n_both) == (2, 1, 0)
    assert row(result, "P").n_first == 1  # as coded: only the direct coding
    assert "rollup" not in set(compare().table["scope"])


def test_disagreement_table_lists_who_coded_what() -> None:
    table = compare().disagreements
    x = table[table["code_id"] == "X"]
    assert x[["transcript_id", "sentence_id", "coded_by"]].values.tolist() == [
        ["t1", 1, "human:reference"],
        ["t1", 2, "rules"],
    ]
    assert x.iloc[0]["text"] == "Sentence t11."
    first = table[(table["transcript_id"] == "t1") & (table["sentence_id"] == 3)].iloc[0]
    assert (first["codes_a"], first["codes_b"]) == ("Y", "")
    assert len(table) == 2 + 2 + 1  # X twice, Y twice, P once


def test_turn_unit() -> None:
    result = compare(unit="turn")
    assert result.n_units == 2
    x = row(result, "X")
    assert (x.n_first, x.n_second, x.n_both) == (2, 2, 2)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    a, b = compare(), compare()
    assert a.table.equals(b.table)
    x = row(a, "X")
    assert x.kappa_lo <= x.kappa <= x.kappa_hi
    assert x.f1_lo <= x.f1 <= x.f1_hi


def test_one_transcript_gives_no_interval() -> None:
    turns, sentences = corpus()
    frame = codings()
    frame = frame[frame["transcript_id"] != "t2"]
    result = ag.compare_coders(
        frame, turns, sentences, coder_a="human:reference", coder_b="rules", n_boot=100
    )
    x = result.table[result.table["code_id"] == "X"].iloc[0]
    assert math.isnan(x.kappa_lo) and not math.isnan(x.kappa)


def test_two_humans_cover_only_their_common_transcripts() -> None:
    turns, sentences = corpus()
    frame = codings()
    other = frame[frame["coder"] == "human:reference"].assign(coder="human:b")
    other = other[other["transcript_id"] == "t1"]
    both = pd.concat([frame, other], ignore_index=True)
    result = ag.compare_coders(
        both, turns, sentences, coder_a="human:reference", coder_b="human:b", n_boot=0
    )
    assert result.transcripts == ["t1"]
    assert row(result, "X").kappa == 1.0


def test_unknown_coder_and_no_common_transcript() -> None:
    turns, sentences = corpus()
    with pytest.raises(QualcodeInputError, match="coders present: human:reference, rules"):
        ag.compare_coders(codings(), turns, sentences, coder_a="human:nobody", coder_b="rules")
    frame = codings()
    lonely = frame[frame["transcript_id"] == "t3"].assign(coder="human:c")
    with pytest.raises(QualcodeInputError, match="no transcript in common"):
        ag.compare_coders(
            pd.concat([frame, lonely]),
            turns,
            sentences,
            coder_a="human:c",
            coder_b="human:reference",
        )


# ---------------------------------------------------------------------------------------------
# From the processed folder and the command line


@pytest.fixture()
def study(tmp_path: Path) -> dict[str, Path]:
    processed, raw = tmp_path / "processed", tmp_path / "raw"
    processed.mkdir()
    turns, sentences = write_corpus(processed, raw)
    schema.write_table(
        rule_codings(turns, sentences),
        processed / "codings.parquet",
        columns=schema.CODINGS_COLUMNS,
    )
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "interview_a.csv").write_text(
        "transcript_id,code_id,quote\n"
        "interview_a,BACKGROUND,I did my undergrad in physics.\n"
        "interview_a,ACQ_INBOUND,Sometimes a client finds me on LinkedIn.\n"
        "interview_a,ACQ_REFERRALS,Mostly referrals from old colleagues.\n",
        encoding="utf-8",
    )
    (reference / "interview_b.csv").write_text(
        "transcript_id,code_id,quote\ninterview_b,NICHE_ENERGY,I focus on forecasting\n",
        encoding="utf-8",
    )
    return {
        "processed": processed,
        "raw": raw,
        "reference": reference,
        "codebook": write_codebook(tmp_path / "codebook.yml"),
    }


def _cli(study, *extra: str) -> object:
    return runner.invoke(
        app,
        [
            "agreement",
            "--processed",
            str(study["processed"]),
            "--codebook",
            str(study["codebook"]),
            "--reference",
            str(study["reference"]),
            "--raw",
            str(study["raw"]),
            "--bootstrap",
            "200",
            *extra,
        ],
    )


def test_cli_agreement_against_the_reference(study) -> None:
    result = _cli(study)
    assert result.exit_code == 0, result.output
    assert "first = human:reference (reference), second = rules" in result.output
    assert "BACKGROUND" in result.output and "precision" in result.output
    table = pd.read_csv(study["processed"] / "agreement.csv")
    required = {
        "code_id",
        "n_units",
        "n_first",
        "n_second",
        "n_both",
        "n_neither",
        "percent_agreement",
        "kappa",
        "alpha",
        "precision",
        "recall",
        "f1",
        "kappa_lo",
        "kappa_hi",
        "f1_lo",
        "f1_hi",
        "coder_a",
        "coder_b",
        "unit",
    }
    assert required <= set(table.columns)
    background = table[table["code_id"] == "BACKGROUND"].iloc[0]
    # reference: sentence 0 of turn 1; rules: sentences 0 and 1
    assert (background.n_first, background.n_second, background.n_both) == (1, 2, 1)
    assert background.precision == 0.5 and background.recall == 1.0
    assert table["unit"].eq("sentence").all()
    disagreements = pd.read_parquet(study["processed"] / "disagreements.parquet")
    assert {"text", "coded_by", "codes_a", "codes_b"} <= set(disagreements.columns)
    reference = schema.read_table(study["processed"], "human_codings")
    assert set(reference["coder"]) == {"human:reference"}


def test_cli_reference_is_read_afresh(study) -> None:
    assert _cli(study).exit_code == 0
    (study["reference"] / "interview_b.csv").unlink()
    assert _cli(study).exit_code == 0
    reference = schema.read_table(study["processed"], "human_codings")
    assert set(reference["transcript_id"]) == {"interview_a"}


def test_cli_agreement_bad_input(study) -> None:
    result = _cli(study, "--between", "human:nobody", "rules")
    assert result.exit_code == 1
    assert "coder 'human:nobody' has no codings" in result.output
    assert not (study["processed"] / "agreement.csv").exists()
    result = _cli(study, "--unit", "paragraph")
    assert result.exit_code == 2


def test_pairwise_agreement_from_the_tables(study) -> None:
    ag.refresh_reference(
        study["reference"],
        study["processed"],
        codebook_path=study["codebook"],
        raw_dir=study["raw"],
    )
    per_code, summary, disagreements = ag.pairwise_agreement(
        study["processed"], codebook_path=study["codebook"], n_boot=50
    )
    assert summary[["coder_a", "coder_b"]].values.tolist() == [["human:reference", "rules"]]
    assert list(summary.columns) == schema.AGREEMENT_PAIR_COLUMNS
    assert set(per_code["coder_a"]) == {"human:reference"}
    assert "ALL" in set(per_code["code_id"])
    assert len(disagreements) > 0


def test_agreement_step_imports_the_reference_and_writes_every_pair(study) -> None:
    processed = study["processed"]
    assert ag.read_agreement(processed) is None
    params = load_params(None)
    ag.agreement_step(
        processed,
        codebook_path=study["codebook"],
        params=params,
        reference_dir=study["reference"],
        raw_dir=study["raw"],
    )
    reference = schema.read_table(processed, "human_codings")
    assert set(reference["coder"]) == {"human:reference"}
    files = ag.read_agreement(processed)
    assert files.pairs[["coder_a", "coder_b"]].values.tolist() == [["human:reference", "rules"]]
    assert list(files.pairs.columns) == schema.AGREEMENT_PAIR_COLUMNS
    assert list(files.per_code.columns) == schema.AGREEMENT_COLUMNS
    assert set(files.per_code["coder_a"]) == {"human:reference"}
    assert "ALL" in set(files.per_code["code_id"])
    assert list(files.disagreements.columns) == schema.DISAGREEMENT_COLUMNS
    assert len(files.disagreements) > 0
    # every unit, sentence rows first, with the parents' roll-up rows
    assert list(dict.fromkeys(files.per_code["unit"])) == ["sentence", "turn", "participant"]
    assert "rollup" in set(files.per_code["scope"])
    # The same tables as computed in memory, every digit: the report shows what was computed.
    tables = {
        unit: ag.pairwise_agreement(
            processed,
            unit=unit,
            codebook_path=study["codebook"],
            roles=params.coding.roles,
            seed=params.report.seed,
            rollup=True,
        )
        for unit in ("sentence", "turn", "participant")
    }
    per_code = pd.concat([t[0] for t in tables.values()], ignore_index=True)
    _, summary, disagreements = tables["sentence"]
    pd.testing.assert_frame_equal(files.per_code, per_code, check_dtype=False, rtol=0, atol=0)
    pd.testing.assert_frame_equal(files.pairs, summary, check_dtype=False, rtol=0, atol=0)
    pd.testing.assert_frame_equal(
        files.disagreements.astype(object), disagreements.astype(object), check_dtype=False
    )
    leftovers = [p.name for p in processed.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_agreement_step_without_people_coding_writes_empty_tables(study) -> None:
    processed = study["processed"]
    ag.agreement_step(processed, codebook_path=study["codebook"], params=load_params(None))
    files = ag.read_agreement(processed)
    assert files.per_code.empty and list(files.per_code.columns) == schema.AGREEMENT_COLUMNS
    assert files.pairs.empty and list(files.pairs.columns) == schema.AGREEMENT_PAIR_COLUMNS
    assert files.disagreements.empty


def test_read_agreement_of_the_agreement_command(study) -> None:
    """`qualcode agreement` writes one pair's tables, without agreement_pairs.csv."""
    assert _cli(study).exit_code == 0
    files = ag.read_agreement(study["processed"])
    assert files.pairs.empty
    assert set(files.per_code["coder_b"]) == {"rules"}
    (study["processed"] / "agreement.csv").write_text("code_id,kappa\nNA,0.5\n")
    assert ag.read_agreement(study["processed"]).per_code.values.tolist() == [["NA", 0.5]]
