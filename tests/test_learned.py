"""Tests for the learned coder: a small synthetic study coded with a codebook of its own."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qualcode import schema
from qualcode.cli import app
from qualcode.config import FEATURE_BLOCKS, LearnedParams, Params
from qualcode.errors import QualcodeInputError
from qualcode.human.csv_import import import_csv, import_csv_folder
from qualcode.learned.active import NEXT_COLUMNS, margins, pick_sentences
from qualcode.learned.data import load_training_data
from qualcode.learned.evaluate import evaluate, write_evaluation
from qualcode.learned.folds import FoldCache, learning_curve_tasks, loto_tasks, run_folds
from qualcode.learned.labels import human_coders, label_units
from qualcode.learned.models import LinearModel
from qualcode.learned.predict import apply_model, code_with_model
from qualcode.learned.results import (
    ablation_table,
    evaluation_by_code,
    evaluation_summary,
    format_evaluation,
    learning_curve_summary,
    learning_curve_table,
    read_review_candidates,
)
from qualcode.learned.review import (
    REVIEW_COLUMNS,
    export_review,
    import_review,
    next_table,
    review_table,
)
from qualcode.learned.step import learn_step, study_model_dir
from qualcode.learned.store import CARD_FILE, load_model
from qualcode.learned.train import TrainResult, choose_thresholds, fit_coder, train

runner = CliRunner()
SEED = 7


def _params(**learned: object) -> Params:
    """RETURNS (Params): the default parameters with some `learned:` settings changed."""
    return Params(learned=LearnedParams(**learned))


PRICING = [
    "I charge {n} dollars an hour for the {w} work.",
    "My rate went up to {n} dollars after the {w} project.",
    "The invoice for the {w} job came to {n} dollars.",
]
TEAM = [
    "I team up with a designer called {w} on most projects.",
    "A developer friend from the {w} meetup builds the backend with me.",
    "We split the {w} contract between three of us.",
]
NEUTRAL = [
    "The weather in {w} was lovely that week.",
    "We had lunch near the {w} office.",
    "It took about {n} minutes to get there.",
    "The coffee at the {w} place is terrible.",
]
WORDS = [
    "amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper",
    "kelp", "lagoon", "maple", "nectar", "opal", "prairie", "quartz", "river", "sage", "tundra",
    "umber", "violet", "willow", "yarrow", "zinnia", "aspen", "basil", "clover", "dune", "elm",
]  # fmt: skip
QUESTIONS = {
    "price": "How do you set your prices?",
    "team": "Who do you work with?",
    "plans": "Will you keep doing this next year?",
    "workshop": "Did you enjoy the workshop?",
    "travel": "Do you travel for work?",
}
CODEBOOK_YAML = """\
version: 1
codes:
  - id: PRICING_RATES
    label: Pricing & rates
    definition: The participant talks about what they charge.
    examples: ["I charge a flat fee per dashboard."]
    patterns:
      phrases: [charge, rate, invoice]
  - id: TEAM_WORK
    label: Team work
    definition: The participant works with others.
    patterns:
      phrases: [team up, with me]
  - id: PLANS
    label: Plans
    definition: The participant says they will keep going.
"""


def _study(n_transcripts: int = 6, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Turns, sentences and the human coding (one row per coded sentence) of a small study.

    PLANS is the code that needs context: the same answer ("Yes, I think so") carries it after
    the question about next year, and not after the question about the workshop.
    """
    rng = np.random.default_rng(seed)
    turns, sentences, coding = [], [], []
    word = iter(WORDS * 20)
    for t in range(n_transcripts):
        tid = f"study_{t:02d}"
        turn_id = 0
        order = ["price", "team", "plans", "workshop", "price", "team", "plans", "workshop"]
        if t < 2:
            order.append("travel")
        for k, topic in enumerate(order):
            section = ("past", "present", "future")[min(k * 3 // len(order), 2)]
            turns.append((tid, turn_id, "Interviewer", "interviewer", section, QUESTIONS[topic]))
            turn_id += 1
            parts: list[tuple[str, str | None]] = []
            w = next(word)
            n = int(rng.integers(20, 300))
            if topic == "price":
                parts.append((PRICING[k % 3].format(n=n, w=w), "Pricing & rates"))
            elif topic == "team":
                parts.append((TEAM[k % 3].format(n=n, w=w), "Team work"))
            elif topic == "plans":
                parts.append((f"Yes, I think so, {w}.", "Plans"))
            elif topic == "workshop":
                parts.append((f"Yes, I think so, {w}.", None))
            else:
                parts.append((f"I fly to the {w} office every month.", "Travel"))
            parts.append((NEUTRAL[(k + t) % 4].format(n=n + 1, w=next(word)), None))
            text = " ".join(p[0] for p in parts)
            turns.append((tid, turn_id, "P", "participant", section, text))
            start = 0
            for s, (sentence, code) in enumerate(parts):
                end = start + len(sentence)
                sentences.append((tid, turn_id, s, start, end, sentence))
                if code is not None:
                    coding.append(
                        {"transcript_id": tid, "turn_id": turn_id, "code": code, "quote": sentence}
                    )
                start = end + 1
            turn_id += 1
    turn_frame = pd.DataFrame(
        [
            {
                "transcript_id": tid,
                "turn_id": k,
                "speaker": speaker,
                "role": role,
                "section": section,
                "start_s": np.nan,
                "end_s": np.nan,
                "text_raw": text,
                "text": text,
            }
            for tid, k, speaker, role, section, text in turns
        ]
    )
    sentence_frame = pd.DataFrame(sentences, columns=schema.SENTENCES_COLUMNS)
    return turn_frame, sentence_frame, coding


def _write_study(folder: Path, *, coder: str = "alice", codebook: Path | None = None) -> Path:
    processed = folder / "processed"
    turns, sentences, coding = _study()
    schema.write_table(turns, processed / "turns.parquet", columns=schema.TURNS_COLUMNS)
    schema.write_table(sentences, processed / "sentences.parquet", columns=schema.SENTENCES_COLUMNS)
    path = folder / f"{coder}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["transcript_id", "turn_id", "code", "quote"])
        writer.writeheader()
        writer.writerows(coding)
    import_csv(path, processed, coder=coder, codebook_path=codebook)
    return processed


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed folder with the synthetic study, coded by human:alice (codes unknown to any
    codebook: they are imported under their slugs)."""
    return _write_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def trained(study: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    out = tmp_path_factory.mktemp("models") / "model"
    return train(study, out, params=_params(min_examples=4), seed=SEED)


# ---------------------------------------------------------------------------------------------
# Training, the card, determinism


def test_train_learns_a_foreign_codebook_and_reports_rare_codes(
    trained: TrainResult,
) -> None:
    card = trained.card
    assert card["codes_learned"] == ["PLANS", "PRICING_RATES", "TEAM_WORK"]
    assert card["codes_left_to_rules"] == ["TRAVEL"]
    travel = next(c for c in card["codes"] if c["code_id"] == "TRAVEL")
    assert (travel["n_examples"], travel["n_transcripts"], travel["trained"]) == (2, 2, False)
    assert card["training_data"]["coders"] == ["human:alice"]
    assert card["training_data"]["n_transcripts"] == 6
    assert card["codebook"]["version"] is None
    assert set(card["thresholds"]) == set(card["codes_learned"])
    assert all(0.05 <= t <= 0.95 for t in card["thresholds"].values())
    assert card["model_id"].startswith("logreg-")
    files = {p.name for p in trained.out_dir.iterdir()}
    assert files == {"model.json", "weights.npz", "card.json", "card.md"}
    assert json.loads((trained.out_dir / "card.json").read_text()) == card
    markdown = (trained.out_dir / "card.md").read_text()
    assert "| PLANS |" in markdown and "left to the rules: TRAVEL" in markdown


def test_training_is_deterministic_for_a_seed(
    study: Path, trained: TrainResult, tmp_path: Path
) -> None:
    again = train(study, tmp_path / "again", params=_params(min_examples=4), seed=SEED)
    for name in ("model.json", "weights.npz", "card.json", "card.md"):
        assert (again.out_dir / name).read_bytes() == (trained.out_dir / name).read_bytes()
    other = train(study, tmp_path / "other", params=_params(min_examples=4), seed=SEED + 1)
    assert other.card["seed"] == SEED + 1
    assert other.model_id != trained.model_id


def test_saved_model_predicts_exactly_as_trained(study: Path, tmp_path: Path) -> None:
    every_block = _params(min_examples=4, features=FEATURE_BLOCKS)
    for name, params in (("default", _params(min_examples=4)), ("every-block", every_block)):
        result = train(study, tmp_path / name, params=params, seed=SEED)
        loaded = load_model(tmp_path / name)
        units, probs, coded = apply_model(loaded, study, params=Params())
        assert np.array_equal(probs, result.coder.predict_proba(units))
        assert np.array_equal(coded, result.coder.decide(result.coder.predict_proba(units)))
        assert (
            loaded.coder.codes == result.coder.codes and loaded.coder.blocks == result.coder.blocks
        )
        assert np.array_equal(loaded.coder.thresholds, result.coder.thresholds)
        assert loaded.coder.below == result.coder.below
        pd.testing.assert_frame_equal(loaded.coder.counts, result.coder.counts, check_dtype=False)
    with np.load(tmp_path / "every-block" / "weights.npz", allow_pickle=False) as arrays:
        assert {"coef", "intercept", "sentence.idf", "tok2vec.mean"} <= set(arrays.files)


class _Planted:
    """Unpickling this writes a file: the proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_an_old_pickled_model_folder_is_never_unpickled(study: Path, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "unpickled"
    for name, card in (
        ("v2", {"model_id": "logreg-0", "model_version": "learned.v2"}),
        ("unversioned", {"model_id": "logreg-0"}),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "card.json").write_text(json.dumps(card))
        (folder / "model.joblib").write_bytes(pickle.dumps(_Planted(marker)))
        with pytest.raises(QualcodeInputError, match="train the model again"):
            load_model(folder)
        for command in (
            ["code", "--processed", str(study), "--coder", "both", "--model", str(folder)],
            ["review", "export", str(tmp_path / "r.csv"), "--model", str(folder),
             "--processed", str(study)],
        ):  # fmt: skip
            done = runner.invoke(app, command)
            assert done.exit_code == 1 and "train the model again" in done.output
    assert not marker.exists()


def test_one_set_of_settings_everywhere(study: Path, tmp_path: Path, demo_files) -> None:
    from qualcode.config import load_params

    # the demo's params file, a params file without the section and the code agree
    assert load_params(demo_files.params).learned == LearnedParams() == Params().learned
    bare = tmp_path / "params.yml"
    bare.write_text("spacy_model: en_core_web_sm\n")
    assert load_params(bare).learned == LearnedParams()
    # fit_coder with its defaults trains what `qualcode train` trains with the default params
    production = train(study, tmp_path / "m", params=Params(), seed=SEED)
    data = load_training_data(study, params=Params())
    direct = fit_coder(data.units, data.labels, seed=SEED, examples=data.examples)
    assert direct.codes == production.coder.codes
    assert np.array_equal(direct.thresholds, production.coder.thresholds)
    assert np.array_equal(direct.model.coder.coef, production.coder.model.coder.coef)
    assert production.card["options"] == {"c": LearnedParams().c}
    assert production.card["min_examples"] == LearnedParams().min_examples


def test_bad_learned_settings_name_the_file_and_key(tmp_path: Path) -> None:
    from qualcode.config import load_params

    cases = {
        "learned:\n  kind: forest\n": "learned.kind: expected one of logreg, textcat",
        "learned:\n  features: [sentence, vibes]\n": "learned.features\\[1\\]: expected one of",
        "learned:\n  features: []\n": "learned.features: expected some of",
        "learned:\n  block_weights: {sentence: high}\n": "learned.block_weights.sentence",
        "learned:\n  min_exampels: 3\n": "unknown key learned.min_exampels",
    }
    for text, message in cases.items():
        path = tmp_path / "params.yml"
        path.write_text(text)
        with pytest.raises(QualcodeInputError, match=message) as err:
            load_params(path)
        assert str(path) in str(err.value)
    done = runner.invoke(app, ["train", "--out", str(tmp_path / "m"), "--kind", "forest"])
    assert done.exit_code == 2 and "--kind" in done.output


def test_train_replaces_a_model_folder_but_no_other_folder(study: Path, tmp_path: Path) -> None:
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "todo.txt").write_text("mine")
    with pytest.raises(QualcodeInputError, match="refusing to replace"):
        train(study, keep, params=_params(min_examples=4), seed=SEED)
    assert (keep / "todo.txt").read_text() == "mine"
    first = train(study, tmp_path / "m", params=_params(min_examples=4), seed=SEED)
    second = train(study, tmp_path / "m", params=_params(min_examples=40), seed=SEED)
    assert first.card["codes_learned"] and not second.card["codes_learned"]
    assert json.loads((tmp_path / "m" / "card.json").read_text())["min_examples"] == 40
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Coding with the model


def test_model_codings_have_the_rule_coder_columns_and_follow_context(
    study: Path, trained: TrainResult
) -> None:
    before = (study / "turns.parquet").read_bytes()
    result = code_with_model(study, trained.out_dir, params=Params())
    codings = pd.read_parquet(study / "codings.parquet")
    assert list(codings.columns) == [*schema.CODINGS_COLUMNS, *schema.EXTRA_CODING_COLUMNS]
    assert len(codings) == result.n_model > 0
    assert set(codings["coder"]) == {"model"}
    assert set(codings["rule_id"]) == {f"model:{trained.model_id}"}
    assert set(codings["code_id"]) <= set(trained.card["codes_learned"])
    assert not codings["negated"].any() and codings["matched"].isna().all()
    thresholds = trained.card["thresholds"]
    assert all(
        s >= thresholds[c] - 1e-6 for c, s in zip(codings["code_id"], codings["score"], strict=True)
    )
    assert (codings["match_start"] == codings["start_char"]).all()
    # "Yes, I think so" is PLANS after the question about next year only
    answers = codings[codings["text"].str.startswith("Yes, I think so")]
    turns = pd.read_parquet(study / "turns.parquet")
    question = {
        (t, k + 1): q
        for t, k, q in zip(turns["transcript_id"], turns["turn_id"], turns["text"], strict=True)
    }
    asked = [
        question[(t, k)] for t, k in zip(answers["transcript_id"], answers["turn_id"], strict=True)
    ]
    assert set(answers["code_id"]) == {"PLANS"}
    assert set(asked) == {QUESTIONS["plans"]}
    assert (study / "turns.parquet").read_bytes() == before


def test_question_context_is_what_separates_identical_answers(study: Path) -> None:
    data = load_training_data(study, params=Params(), use_examples=False)
    groups = data.units.frame["transcript_id"].to_numpy()
    held = groups == "study_05"
    plans = data.labels.codes.index("PLANS")
    scores = {}
    for blocks in (("sentence",), ("sentence", "question")):
        fitted = fit_coder(
            data.units.subset(~held),
            data.labels.subset(~held),
            settings=LearnedParams(features=blocks, min_examples=4),
            seed=SEED,
        )
        coded = fitted.decide(fitted.predict_proba(data.units.subset(held)))
        truth = data.labels.y[held, plans]
        mine = coded[:, fitted.codes.index("PLANS")]
        scores[blocks] = 2 * (mine & truth).sum() / (mine.sum() + truth.sum())
    assert scores[("sentence", "question")] == 1.0
    assert scores[("sentence",)] < 0.8


def test_code_both_keeps_rules_and_model_rows(tmp_path: Path, trained: TrainResult) -> None:
    codebook = tmp_path / "codebook.yml"
    codebook.write_text(CODEBOOK_YAML)
    processed = _write_study(tmp_path, codebook=codebook)
    args = ["code", "--processed", str(processed), "--codebook", str(codebook)]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    rules_only = pd.read_parquet(processed / "codings.parquet")
    assert set(rules_only["coder"]) == {"rules"}
    done = runner.invoke(app, [*args, "--coder", "both", "--model", str(trained.out_dir)])
    assert done.exit_code == 0, done.output
    assert "model codings" in done.output and "rule codings" in done.output
    both = pd.read_parquet(processed / "codings.parquet")
    assert set(both["coder"]) == {"rules", "model"}
    assert list(both.columns) == [*schema.CODINGS_COLUMNS, *schema.EXTRA_CODING_COLUMNS]
    rules_rows = both[both["coder"] == "rules"].drop(columns=[]).reset_index(drop=True)
    # the model was trained without a codebook: its rows have no codebook version
    assert both.loc[both["coder"] == "model", "codebook_version"].isna().all()
    pd.testing.assert_frame_equal(
        rules_rows[schema.CODINGS_COLUMNS], rules_only[schema.CODINGS_COLUMNS], check_dtype=False
    )
    assert (both.loc[both["coder"] == "rules", "rule_id"].str.contains(":phrase:")).all()
    assert (both.loc[both["coder"] == "model", "rule_id"].str.startswith("model:")).all()
    done = runner.invoke(app, [*args, "--coder", "model", "--model", str(trained.out_dir)])
    assert done.exit_code == 0, done.output
    assert set(pd.read_parquet(processed / "codings.parquet")["coder"]) == {"model"}


def test_code_command_usage_errors(study: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, ["code", "--processed", str(study), "--coder", "model"])
    assert done.exit_code == 2 and "--model" in done.output
    done = runner.invoke(app, ["code", "--processed", str(study), "--coder", "guess"])
    assert done.exit_code == 2
    done = runner.invoke(
        app, ["code", "--processed", str(study), "--coder", "model", "--model", str(tmp_path)]
    )
    assert done.exit_code == 1 and "model folder" in done.output


# ---------------------------------------------------------------------------------------------
# Thresholds on held-out transcripts


def test_choose_thresholds_takes_the_middle_of_the_best() -> None:
    y = np.array([[1], [1], [0], [0], [0]], dtype=bool)
    probs = np.array([[0.9], [0.58], [0.5], [0.3], [0.1]])
    known = np.ones_like(y)
    (threshold,) = choose_thresholds(probs, y, known)
    # the grid values in (0.5, 0.58] (0.525, 0.55, 0.575) give F1 = 1: the middle one is chosen
    assert 0.5 < threshold <= 0.58
    assert threshold == pytest.approx(0.55)
    none = choose_thresholds(probs, np.zeros_like(y), known)
    assert none[0] == LearnedParams().default_threshold


def test_thresholds_come_from_transcripts_the_model_did_not_see(
    study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, frozenset[str]]] = []
    fit, predict = LinearModel.fit, LinearModel.predict_proba

    def spy_fit(self, units, y, known):
        self._seen = frozenset(units.frame["transcript_id"])
        calls.append(("fit", self._seen))
        return fit(self, units, y, known)

    def spy_predict(self, units):
        shown = frozenset(units.frame["transcript_id"])
        assert not shown & self._seen, "scored a transcript the model was trained on"
        calls.append(("predict", shown))
        return predict(self, units)

    monkeypatch.setattr(LinearModel, "fit", spy_fit)
    monkeypatch.setattr(LinearModel, "predict_proba", spy_predict)
    data = load_training_data(study, params=Params(), use_examples=False)
    settings = LearnedParams(min_examples=4, inner_folds=3)
    fitted = fit_coder(data.units, data.labels, settings=settings, seed=SEED)
    predicted = [s for kind, s in calls if kind == "predict"]
    assert len(predicted) == 3
    assert frozenset().union(*predicted) == frozenset(data.transcripts)
    assert calls[-1] == ("fit", frozenset(data.transcripts))  # the final model sees all
    held = fitted.held_out.set_index("code_id")
    assert np.allclose(held.loc[fitted.codes, "threshold"], fitted.thresholds)


# ---------------------------------------------------------------------------------------------
# Labels from several coders


def test_pooled_coders_first_named_wins_where_both_coded(study: Path) -> None:
    frame = pd.read_parquet(study / "sentences.parquet")
    frame = frame.assign(transcript_id=frame["transcript_id"].astype(str))
    human = pd.read_parquet(study / "human_codings.parquet")
    bob = human[human["transcript_id"].isin(["study_00", "study_01"])].copy()
    bob["coder"] = "human:bob"
    bob["code_id"] = "OTHER"
    both = pd.concat([human, bob], ignore_index=True)
    sentences = frame
    rows, labels = label_units(frame, both, sentences, coders=["human:alice", "human:bob"])
    assert set(labels.owners.values()) == {"human:alice"}
    assert "OTHER" not in labels.codes
    rows, labels = label_units(frame, both, sentences, coders=["human:bob", "human:alice"])
    assert labels.owners["study_00"] == "human:bob" and labels.owners["study_02"] == "human:alice"
    assert "OTHER" in labels.codes
    only_bob = bob[bob["transcript_id"] == "study_00"]
    pooled = pd.concat([human[human["transcript_id"] != "study_00"], only_bob])
    rows, labels = label_units(frame, pooled, sentences, coders=["human:alice", "human:bob"])
    assert len(labels.owners) == 6 and labels.owners["study_00"] == "human:bob"
    with pytest.raises(QualcodeInputError, match="coders present: human:alice"):
        label_units(frame, human, sentences, coders=["human:carol"])


# ---------------------------------------------------------------------------------------------
# Leave-one-transcript-out evaluation


def test_learning_curve_tasks_never_train_on_the_held_out_transcript() -> None:
    names = [f"t{i}" for i in range(5)]
    tasks = learning_curve_tasks(names, sizes=None, draws=2, seed=1)
    assert tasks == learning_curve_tasks(names, sizes=None, draws=2, seed=1)
    for n, _, fold, training in tasks:
        assert fold not in training and len(training) == n == len(set(training))
    per_size = pd.Series([n for n, *_ in tasks]).value_counts().sort_index()
    assert per_size.to_dict() == {1: 10, 2: 10, 3: 10, 4: 5}


def test_evaluate_leave_one_transcript_out(study: Path, tmp_path: Path) -> None:
    result = evaluate(
        study,
        params=_params(min_examples=4),
        seed=SEED,
        n_boot=100,
        learning_curve=True,
        curve_sizes=[2, 5],
        curve_draws=1,
        ablation=False,
    )
    table = result.table
    assert list(table.columns) == schema.EVALUATION_COLUMNS
    assert set(table["fold"]) == {*result.transcripts, "ALL"}
    assert set(table["coder"]) == {"model", "rules", "both"}
    pooled = table[(table["fold"] == "ALL") & (table["code_id"] == "ALL")]
    assert len(pooled) == 3
    model = result.summary.set_index("coder").loc["model"]
    assert model["micro_f1"] > 0.9
    assert model["micro_f1_lo"] <= model["micro_f1"] <= model["micro_f1_hi"]
    # TRAVEL is coded in two transcripts: held out, one is left, too few to learn
    assert "TRAVEL" in result.too_few
    preds = result.predictions
    assert list(preds.columns) == [*schema.CODINGS_COLUMNS, *schema.EXTRA_CODING_COLUMNS]
    assert (preds["rule_id"] == "model:loto:" + preds["transcript_id"]).all()
    curve = learning_curve_summary(result.learning_curve)
    assert list(curve["n_train_transcripts"]) == [2, 5]
    five = result.learning_curve[result.learning_curve["n_train_transcripts"] == 5]
    assert five["micro_f1"].iloc[0] == pytest.approx(model["micro_f1"])
    by_code = evaluation_by_code(table)
    assert set(by_code["code_id"]) == {"PLANS", "PRICING_RATES", "TEAM_WORK", "TRAVEL"}
    written = write_evaluation(result, tmp_path)
    assert {p.name for p in written} == {
        "evaluation.csv",
        "evaluation_predictions.parquet",
        "evaluation_summary.csv",
        "evaluation_learning_curve.csv",
    }
    assert evaluation_summary(tmp_path)["coder"].tolist() == ["model", "rules", "both"]
    assert learning_curve_table(tmp_path)["n_train_transcripts"].tolist() == [2, 5]
    assert ablation_table(tmp_path) is None
    assert "micro F1" in format_evaluation(result)


def test_cached_folds_are_the_folds_trained_and_follow_their_inputs(
    study: Path, tmp_path: Path
) -> None:
    params = _params(min_examples=4)
    data = load_training_data(study, params=params, use_reviews=False)
    tasks = loto_tasks(data, None)
    trained = run_folds(data, params.learned, SEED, tasks)
    cache = FoldCache(tmp_path / "folds")
    first = run_folds(data, params.learned, SEED, tasks, jobs=2, cache=cache)
    assert len(list((tmp_path / "folds").glob("*.npz"))) == len(tasks)
    calls = []
    again = run_folds(data, params.learned, SEED, tasks, cache=FoldCache(tmp_path / "folds"),
                      progress=calls.append)  # fmt: skip
    assert len(calls) == len(tasks)
    # a kept fold cut short, or not a fold at all: trained again, never an error
    kept = sorted((tmp_path / "folds").glob("*.npz"))
    kept[0].write_bytes(kept[0].read_bytes()[:100])
    kept[1].write_text("not a fold")
    retrained = run_folds(data, params.learned, SEED, tasks, cache=FoldCache(tmp_path / "folds"))
    np.testing.assert_array_equal(
        np.vstack([r.probs for r in retrained]), np.vstack([r.probs for r in trained])
    )
    for a, b, c in zip(trained, first, again, strict=True):
        for r in (b, c):
            assert (r.fold, r.train_transcripts) == (a.fold, a.train_transcripts)
            np.testing.assert_array_equal(r.rows, a.rows)
            np.testing.assert_array_equal(r.probs, a.probs)
            np.testing.assert_array_equal(r.coded, a.coded)
            np.testing.assert_array_equal(r.learned, a.learned)
            np.testing.assert_array_equal(r.n_train_examples, a.n_train_examples)
    # one transcript's labels changed: every fold trains on it or holds it out, none is reused
    changed = data.units.frame["transcript_id"].to_numpy() == tasks[0][0]
    data.labels.y[np.flatnonzero(changed)[0]] ^= True
    cache = FoldCache(tmp_path / "folds")
    run_folds(data, params.learned, SEED, tasks, cache=cache)
    assert len(list((tmp_path / "folds").glob("*.npz"))) == 2 * len(tasks)
    cache.prune()
    assert len(list((tmp_path / "folds").glob("*.npz"))) == len(tasks)
    # another seed: trained again
    run_folds(data, params.learned, SEED + 1, tasks[:1], cache=FoldCache(tmp_path / "folds"))
    assert len(list((tmp_path / "folds").glob("*.npz"))) == len(tasks) + 1


@pytest.mark.parametrize("features", [("sentence", "question", "turn", "position"), FEATURE_BLOCKS])
def test_texts_counted_once_give_the_folds_trained_on_the_texts(
    study: Path, features: tuple[str, ...]
) -> None:
    """The folds count the texts once (`with_counts`); each fold's TF-IDF is still fitted on its
    training transcripts alone, and every number is the one fitting on the texts gives."""
    import dataclasses

    from qualcode.learned.features import with_counts
    from qualcode.learned.folds import run_fold

    params = _params(min_examples=4, features=list(features))
    data = load_training_data(study, params=params, use_reviews=False)
    units, examples = with_counts(data.units, data.examples)
    counted = dataclasses.replace(data, units=units, examples=examples)
    for fold, trained_on in loto_tasks(data, None)[:2]:
        a = run_fold(data, params.learned, SEED, fold, trained_on)
        b = run_fold(counted, params.learned, SEED, fold, trained_on)
        np.testing.assert_array_equal(a.probs, b.probs)
        np.testing.assert_array_equal(a.coded, b.coded)
    # a coder fitted from counts has the vocabulary and idf of its training units only, and
    # codes texts (as a saved model does) as it codes their counts
    held_out = data.units.frame["transcript_id"].to_numpy() == fold
    rows = np.flatnonzero(~held_out)
    coder = fit_coder(units.subset(rows), data.labels.subset(rows), settings=params.learned,
                      seed=SEED, examples=examples)  # fmt: skip
    plain = fit_coder(data.units.subset(rows), data.labels.subset(rows), settings=params.learned,
                      seed=SEED, examples=data.examples)  # fmt: skip
    for part, other in zip(coder.model.parts, plain.model.parts, strict=True):
        if hasattr(other.transformer, "vocabulary_"):
            assert part.transformer.vocabulary_ == other.transformer.vocabulary_
            np.testing.assert_array_equal(part.transformer.idf_, other.transformer.idf_)
    texts = data.units.subset(held_out)
    np.testing.assert_array_equal(
        coder.predict_proba(texts), coder.predict_proba(units.subset(held_out))
    )
    np.testing.assert_array_equal(coder.predict_proba(texts), plain.predict_proba(texts))


def test_evaluate_needs_two_coded_transcripts(tmp_path: Path) -> None:
    processed = _write_study(tmp_path)
    human = pd.read_parquet(processed / "human_codings.parquet")
    schema.write_table(
        human[human["transcript_id"] == "study_00"], processed / "human_codings.parquet"
    )
    with pytest.raises(QualcodeInputError, match="at least two coded transcripts"):
        evaluate(processed, params=Params(), learning_curve=False, ablation=False)
    with pytest.raises(QualcodeInputError, match="--held-out"):
        evaluate(_write_study(tmp_path / "b"), params=Params(), held_out=["nobody"], ablation=False)


# ---------------------------------------------------------------------------------------------
# Review loop


def test_review_round_trip(tmp_path: Path, trained: TrainResult) -> None:
    codebook = tmp_path / "codebook.yml"
    codebook.write_text(CODEBOOK_YAML)
    processed = _write_study(tmp_path, codebook=codebook)
    model = tmp_path / "model"
    train(processed, model, params=_params(min_examples=4), seed=SEED, codebook_path=codebook)
    table = review_table(processed, model, params=Params())
    assert list(table.columns) == REVIEW_COLUMNS
    assert len(table) > 0 and (table["decision"] == "").all()
    assert table["confidence"].is_monotonic_decreasing
    assert set(table["proposed_by"]) <= {"model", "rules"}
    assert set(table["human"]) <= {"yes", "no"}
    out = export_review(table, tmp_path / "review.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(table)
    rows[0]["decision"] = "accept"
    rows[1]["decision"] = "Reject"
    marked = tmp_path / "marked.csv"
    with marked.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = runner.invoke(app, ["review", "import", str(marked), "--processed", str(processed)])
    assert done.exit_code == 0, done.output
    assert "1 accepted, 1 rejected" in done.output
    human = pd.read_parquet(processed / "human_codings.parquet")
    mine = human[human["coder"] == "human:review"]
    assert len(mine) == 1
    assert mine.iloc[0]["code_id"] == rows[0]["code_id"]
    assert mine.iloc[0]["source"] == "review:marked.csv"
    assert mine.iloc[0]["text"] == rows[0]["text"]
    decisions = pd.read_parquet(processed / "review_decisions.parquet")
    assert sorted(decisions["decision"]) == ["accept", "reject"]
    # the review coder is not a full coding: it is not offered as training data by default
    assert human_coders(human) == ["human:alice"]
    # a later decision on the same sentence and code replaces the earlier one
    rows[0]["decision"] = "reject"
    with marked.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:1])
    import_review(marked, processed)
    human = pd.read_parquet(processed / "human_codings.parquet")
    assert (human["coder"] == "human:review").sum() == 0
    decisions = pd.read_parquet(processed / "review_decisions.parquet")
    assert sorted(decisions["decision"]) == ["reject", "reject"]


def _partial_study(folder: Path, coded: int = 3) -> Path:
    """The synthetic study with only its first `coded` transcripts coded by human:alice."""
    processed = folder / "processed"
    turns, sentences, coding = _study()
    schema.write_table(turns, processed / "turns.parquet", columns=schema.TURNS_COLUMNS)
    schema.write_table(sentences, processed / "sentences.parquet", columns=schema.SENTENCES_COLUMNS)
    path = folder / "alice.csv"
    keep = {f"study_{t:02d}" for t in range(coded)}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["transcript_id", "turn_id", "code", "quote"])
        writer.writeheader()
        writer.writerows(row for row in coding if row["transcript_id"] in keep)
    import_csv(path, processed, coder="alice")
    return processed


def test_pick_sentences_round_robin_over_transcripts_and_codes() -> None:
    candidates = pd.DataFrame(
        {
            "transcript_id": ["a", "a", "a", "a", "b", "b", "c"],
            "turn_id": [1, 3, 5, 7, 1, 3, 1],
            "sentence_id": [0] * 7,
            "uncertainty": [0.01, 0.02, 0.03, 0.04, 0.5, 0.6, 0.9],
            "lead_code": ["X", "X", "Y", "X", "X", "X", "Y"],
        }
    )
    picked = pick_sentences(candidates, 5)
    # a (least certain first), b, c, then a again: its next Y before its next X
    assert picked.index.tolist() == [0, 4, 6, 2, 5]
    capped = pick_sentences(candidates, 7, per_transcript=1)
    assert capped["transcript_id"].tolist() == ["a", "b", "c"]
    assert margins(np.array([[0.5, 0.1, 0.9]]), np.array([0.5, 0.2, 0.6])).round(2).tolist() == [
        [0.0, 0.5, 0.75]
    ]


def test_review_next_picks_the_least_certain_and_round_trips(tmp_path: Path) -> None:
    processed = _partial_study(tmp_path)
    model = tmp_path / "model"
    train(processed, model, params=_params(min_examples=4), seed=SEED)
    out = tmp_path / "next.csv"
    done = runner.invoke(
        app,
        ["review", "next", "--n", "6", "--model", str(model), "--processed", str(processed),
         str(out)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    table = next_table(processed, model, n=6, params=Params())
    assert list(table.columns) == NEXT_COLUMNS
    # deterministic: the command wrote the same picks, byte for byte on a second run
    first = out.read_bytes()
    assert first == export_review(table, tmp_path / "again.csv").read_bytes()
    # six sentences, two codes each, none from the transcripts alice coded, spread over the
    # three open ones
    assert table["rank"].tolist() == [r for r in range(1, 7) for _ in range(2)]
    sentences = table.drop_duplicates(["transcript_id", "turn_id", "sentence_id"])
    assert len(sentences) == 6
    assert sentences["transcript_id"].value_counts().to_dict() == {
        "study_03": 2, "study_04": 2, "study_05": 2,
    }  # fmt: skip
    assert (table["decision"] == "").all()
    assert set(table["proposed"]) <= {"accept", "reject"}
    assert ((table["margin"] >= 0) & (table["margin"] <= 1)).all()
    # the first pick is the least certain open sentence
    loaded = load_model(model)
    units, probs, _ = apply_model(loaded, processed, params=Params())
    least = margins(probs, loaded.coder.thresholds).min(axis=1)
    open_ = units.frame["transcript_id"].isin(["study_03", "study_04", "study_05"]).to_numpy()
    assert table["margin"].iloc[0] == pytest.approx(least[open_].min(), abs=1e-4)
    # mark the file from alice's point of view and import it
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    for row in rows:
        row["decision"] = "accept" if row["proposed"] == "accept" else "reject"
    rows[-1]["decision"] = ""
    marked = tmp_path / "marked.csv"
    with marked.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = import_review(marked, processed)
    assert result.accepted + result.rejected == len(rows) - 1 and result.undecided == 1
    decisions = pd.read_parquet(processed / "review_decisions.parquet")
    assert len(decisions) == len(rows) - 1
    # the decided sentences are never offered again; the next batch trains and differs
    again = next_table(processed, model, n=6, params=Params())
    decided = set(
        zip(decisions["transcript_id"], decisions["turn_id"], decisions["sentence_id"], strict=True)
    )
    offered = set(zip(again["transcript_id"], again["turn_id"], again["sentence_id"], strict=True))
    assert offered and not offered & decided
    retrained = train(processed, tmp_path / "model2", params=_params(min_examples=4), seed=SEED)
    assert retrained.data.n_review_decisions == len(rows) - 1


def test_review_next_leaves_out_transcripts_coded_in_full(tmp_path: Path) -> None:
    processed = _partial_study(tmp_path, coded=6)
    model = tmp_path / "model"
    train(processed, model, params=_params(min_examples=4), seed=SEED)
    assert next_table(processed, model, n=5, params=Params()).empty


def test_review_decisions_label_only_what_was_decided(study: Path) -> None:
    frame = pd.read_parquet(study / "sentences.parquet")
    human = pd.read_parquet(study / "human_codings.parquet")
    partial = human[human["transcript_id"] != "study_05"]
    decisions = pd.DataFrame(
        [
            {"transcript_id": "study_05", "turn_id": 1, "sentence_id": 0,
             "code_id": "PRICING_RATES", "decision": "accept"},
            {"transcript_id": "study_05", "turn_id": 1, "sentence_id": 1,
             "code_id": "PRICING_RATES", "decision": "reject"},
        ]
    )  # fmt: skip
    rows, labels = label_units(frame, partial, frame, coders=["human:alice"], decisions=decisions)
    in_05 = frame["transcript_id"].iloc[rows].to_numpy() == "study_05"
    assert in_05.sum() == 2
    j = labels.codes.index("PRICING_RATES")
    assert labels.known[in_05].sum() == 2 and labels.known[in_05][:, j].all()
    assert labels.y[in_05][:, j].tolist() == [True, False]
    assert labels.known[~in_05].all()


def test_review_import_rejects_bad_files(study: Path, tmp_path: Path) -> None:
    header = "decision,transcript_id,turn_id,sentence_id,code_id,text\n"
    sentence = pd.read_parquet(study / "sentences.parquet").iloc[1]
    good = f"{sentence.transcript_id},{sentence.turn_id},{sentence.sentence_id},PLANS"
    cases = {
        "maybe.csv": (header + f"maybe,{good},\n", "line 2.*expected accept or reject"),
        "changed.csv": (header + f"accept,{good},Something else.\n", "changed since the export"),
        "nowhere.csv": (header + "accept,study_00,99,0,PLANS,\n", "no sentence 0 in turn 99"),
        "columns.csv": ("decision,code_id\naccept,PLANS\n", "missing column"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(QualcodeInputError, match=message):
            import_review(path, study)
    done = runner.invoke(
        app, ["review", "import", str(tmp_path / "maybe.csv"), "--processed", str(study)]
    )
    assert done.exit_code == 1 and "maybe.csv, line 2" in done.output
    assert not (study / "review_decisions.parquet").exists()


# ---------------------------------------------------------------------------------------------
# Bad input


def test_train_bad_input(study: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("turns", "sentences"):
        (empty / f"{name}.parquet").write_bytes((study / f"{name}.parquet").read_bytes())
    with pytest.raises(QualcodeInputError, match="no human coding"):
        train(empty, tmp_path / "m", params=Params())
    with pytest.raises(QualcodeInputError, match="coders present: human:alice"):
        train(study, tmp_path / "m", params=Params(), coders=["bob"])
    with pytest.raises(QualcodeInputError, match="person's coding"):
        train(study, tmp_path / "m", params=Params(), coders=["rules"])
    with pytest.raises(QualcodeInputError, match="missing card.json"):
        load_model(tmp_path)

    def model_folder(name: str, card: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "card.json").write_text(card)
        (folder / "model.json").write_text("not a model of this format")
        return folder

    with pytest.raises(QualcodeInputError, match="cannot load the model"):
        load_model(model_folder("broken", "{}"))
    old = model_folder("old", '{"model_id": "logreg-0", "model_version": "learned.v1"}')
    with pytest.raises(QualcodeInputError, match="learned.v1.*train the model again"):
        load_model(old)
    done = runner.invoke(
        app, ["code", "--processed", str(study), "--coder", "model", "--model", str(old)]
    )
    assert done.exit_code == 1 and "train the model again" in done.output
    done = runner.invoke(
        app, ["train", "--processed", str(study), "--out", str(tmp_path / "m"), "--from", "bob"]
    )
    assert done.exit_code == 1 and "error: --from" in done.output
    done = runner.invoke(
        app, ["train", "--processed", str(study), "--out", str(tmp_path / "m"), "--features", "x"]
    )
    assert done.exit_code == 2


def test_train_command(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-model"
    done = runner.invoke(
        app,
        ["train", "--processed", str(study), "--out", str(out), "--from", "human:alice",
         "--min-examples", "4", "--seed", str(SEED)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "3 code(s) learned" in done.output
    assert "left to the rules: TRAVEL (2 in 2)" in done.output
    assert (out / "card.json").exists()


@pytest.mark.slow
def test_textcat_model_trains_saves_and_codes(study: Path, tmp_path: Path) -> None:
    textcat = _params(kind="textcat", features=("sentence", "question"), min_examples=4)
    result = train(study, tmp_path / "tc", params=textcat, seed=SEED)
    assert result.card["kind"] == "textcat"
    assert result.coder.model.nlp is not None  # saving leaves the trained model as it was
    assert (tmp_path / "tc" / "textcat" / "meta.json").exists()
    loaded = load_model(tmp_path / "tc")
    units, probs, coded = apply_model(loaded, study, params=Params())
    assert probs.shape == (len(units), 3) and ((probs >= 0) & (probs <= 1)).all()
    again = train(study, tmp_path / "tc2", params=textcat, seed=SEED)
    assert again.model_id == result.model_id


# ---------------------------------------------------------------------------------------------
# The learning step of `qualcode run`


def _import_folders(processed: Path, sources: list[tuple[Path, str]]) -> None:
    """People's coding folders imported as the import step of `qualcode run` does."""
    for folder, coder in sources:
        import_csv_folder(folder, processed, coder=coder)


def test_learn_step_learns_from_the_imported_coding(tmp_path: Path) -> None:
    processed = _write_study(tmp_path / "study")
    people = tmp_path / "people"
    people.mkdir()
    shutil.copy(tmp_path / "study" / "alice.csv", people / "study.csv")
    (tmp_path / "empty").mkdir()
    _import_folders(processed, [(people, "human:alice"), (tmp_path / "empty", "human:bob")])
    coders = ["human:alice", "human:bob"]
    step = learn_step(
        processed, coders, codebook_path=None, params=Params(), jobs=1, curve_sizes=(2,)
    )
    assert not step.skipped
    assert list(step.imported) == ["human:alice"]
    assert step.imported["human:alice"] == len(_study()[2])
    assert step.evaluation.folds == [f"study_{t:02d}" for t in range(6)]
    assert evaluation_summary(processed)["coder"].tolist() == ["model", "rules", "both"]
    assert learning_curve_table(processed)["n_train_transcripts"].tolist() == [2, 5]
    # what each kind of context adds is left to `qualcode evaluate` (an evaluation per kind)
    assert step.evaluation.ablation is None and ablation_table(processed) is None
    assert (step.model_dir / CARD_FILE).exists()
    assert step.model_dir == study_model_dir(processed)
    # Again without a curve: the earlier curve, and an ablation `qualcode evaluate` wrote, no
    # longer describe the evaluation, and go.
    (processed / "evaluation_ablation.csv").write_text("features,micro_f1\nsentence only,0.1\n")
    again = learn_step(processed, coders, codebook_path=None, params=Params(), jobs=1)
    assert again.evaluation is not None
    assert learning_curve_table(processed) is None and ablation_table(processed) is None
    # the review candidates the step wrote are the review table of the model it trained
    candidates = read_review_candidates(processed)
    assert again.review_path == processed / "review_candidates.parquet"
    assert list(candidates.columns) == REVIEW_COLUMNS and len(candidates) > 0
    pd.testing.assert_frame_equal(
        candidates, review_table(processed, again.model_dir, params=Params())
    )


def test_learn_step_is_skipped_without_enough_human_coding(tmp_path: Path) -> None:
    processed = _write_study(tmp_path / "study")
    (tmp_path / "empty").mkdir()
    _import_folders(
        processed, [(tmp_path / "empty", "human:bob"), (tmp_path / "missing", "human:carol")]
    )
    step = learn_step(processed, ["human:bob", "human:carol"], codebook_path=None, params=Params())
    assert step.skipped.startswith("no human coding in")
    assert step.evaluation is None and step.model_dir is None
    assert read_review_candidates(processed) is None
    one = tmp_path / "one"
    one.mkdir()
    rows = pd.read_csv(tmp_path / "study" / "alice.csv")
    rows[rows["transcript_id"] == "study_00"].to_csv(one / "study_00.csv", index=False)
    _import_folders(processed, [(one, "human:dora")])
    step = learn_step(processed, ["human:dora"], codebook_path=None, params=Params())
    assert step.skipped.startswith("1 transcript(s) coded by people")
    assert not (study_model_dir(processed)).exists()


def test_only_the_commands_that_name_a_model_load_one() -> None:
    from qualcode import paths

    package = Path(__file__).resolve().parents[1] / "src" / "qualcode"
    loaders = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if "load_model(" in path.read_text(encoding="utf-8")
    }
    # `code --coder model|both --model DIR` and `review export --model DIR`; store defines it
    assert loaders == {"learned/store.py", "learned/predict.py", "learned/review.py"}
    for notebook in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8")
        assert "load_model" not in text and "learned.store" not in text, notebook.name


def _stage_study(folder: Path, turns: pd.DataFrame, sentences: pd.DataFrame, coding: list[dict],
                 codebook: Path) -> Path:  # fmt: skip
    """A processed folder with these tables, and the coding imported as the import step does."""
    processed = folder / "processed"
    _write_tables(processed, turns, sentences)
    people = folder / "people"
    people.mkdir(parents=True)
    pd.DataFrame(coding).to_csv(people / "study.csv", index=False)
    import_csv_folder(people, processed, coder="human:alice", codebook_path=codebook)
    return processed


def _write_tables(processed: Path, turns: pd.DataFrame, sentences: pd.DataFrame) -> None:
    schema.write_table(turns, processed / "turns.parquet", columns=schema.TURNS_COLUMNS)
    schema.write_table(sentences, processed / "sentences.parquet", columns=schema.SENTENCES_COLUMNS)


def _learned_outputs(processed: Path) -> dict[str, bytes]:
    """RETURNS (dict): the bytes of every file the learning step writes, by name."""
    names = [
        schema.EVALUATION_FILE,
        schema.EVALUATION_SUMMARY_FILE,
        schema.TABLE_FILES["evaluation_predictions"],
        schema.TABLE_FILES["review_candidates"],
    ]
    files = [processed / name for name in names]
    files += sorted(p for p in study_model_dir(processed).rglob("*") if p.is_file())
    return {p.relative_to(processed).as_posix(): p.read_bytes() for p in files}


def test_spacy_readings_are_kept_per_transcript_and_change_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qualcode.coding.codebook import load_codebook
    from qualcode.learned import data as data_module
    from qualcode.learned import features
    from qualcode.learned.readings import READINGS_FOLDER, ReadingCache

    turns, sentences, coding = _study(n_transcripts=7)
    added = "study_06"  # a transcript nobody coded, added after the first run
    coded = [row for row in coding if row["transcript_id"] != added]
    codebook = tmp_path / "codebook.yml"
    codebook.write_text(CODEBOOK_YAML)
    read: list[str] = []  # the transcripts read with spaCy, in order
    reader = features.read_transcript

    def counting(nlp, units, questions, **kwargs):  # noqa: ANN001, ANN003, ANN202
        read.extend(sorted({str(u.transcript_id) for u in units}))
        return reader(nlp, units, questions, **kwargs)

    monkeypatch.setattr(features, "read_transcript", counting)

    def learn(processed: Path) -> dict[str, bytes]:
        read.clear()
        learn_step(processed, ["human:alice"], codebook_path=codebook, params=Params(), jobs=1)
        return _learned_outputs(processed)

    def kept(processed: Path) -> list[Path]:
        return sorted((processed / READINGS_FOLDER).iterdir())

    before = turns["transcript_id"] != added
    warm = _stage_study(
        tmp_path / "warm",
        turns[before],
        sentences[sentences["transcript_id"] != added],
        coded,
        codebook,
    )
    learn(warm)
    six = [f"study_{t:02d}" for t in range(6)]
    # every transcript, then the codebook's examples, read once each and kept
    assert read == [*six, "_codebook_examples"]
    assert len(kept(warm)) == 7
    # the transcript added: the only one read again
    _write_tables(warm, turns, sentences)
    warmed = learn(warm)
    assert read == [added]
    assert len(kept(warm)) == 8
    # what a run from nothing writes, byte for byte
    cold = _stage_study(tmp_path / "cold", turns, sentences, coded, codebook)
    fresh = learn(cold)
    assert len(read) == 8
    assert warmed == fresh and len(fresh) > 4
    # nothing changed: the spaCy model is not even loaded
    monkeypatch.setattr(data_module, "feature_pipeline", lambda *_a, **_k: pytest.fail("loaded"))
    assert learn(warm) == fresh and read == []
    monkeypatch.undo()
    monkeypatch.setattr(features, "read_transcript", counting)
    # a reading cut short, or not a reading at all: read again, never an error
    entries = kept(warm)
    entries[0].write_bytes(entries[0].read_bytes()[:100])
    entries[1].write_text("not a reading")
    assert learn(warm) == fresh and len(read) == 2
    assert [p.name for p in kept(warm)] == [p.name for p in entries]
    # the units read afresh are those of the kept readings
    loaded = load_codebook(codebook)
    pipeline = features.feature_pipeline(loaded, model=Params().spacy_model)
    afresh = features.prepare_units(turns, sentences, nlp=pipeline, codebook=loaded,
                                    params=Params())  # fmt: skip
    from_cache = features.prepare_units(
        turns, sentences, nlp=pipeline, codebook=loaded, params=Params(),
        cache=ReadingCache(warm / READINGS_FOLDER),
    )  # fmt: skip
    pd.testing.assert_frame_equal(afresh.frame, from_cache.frame)
    assert afresh.tok2vec.tobytes() == from_cache.tok2vec.tobytes()
    assert afresh.tok2vec.shape[1] > 0 and afresh.frame["rules"].str.len().gt(0).any()
    # a transcript gone from the study: its reading goes too
    _write_tables(warm, turns[before], sentences[sentences["transcript_id"] != added])
    learn(warm)
    assert read == [] and len(kept(warm)) == 7
    assert not [p for p in (warm / READINGS_FOLDER).iterdir() if p.suffix != ".npz"]
