"""The review loop simulated, with people's coding answering for the person
(benchmarks/bench_review.py): does `qualcode review next` teach the learned coder more per
reviewed sentence than sentences drawn at random, and how far does its coding then agree with a
held-out human coding?

- `widen_to_turns`: a sentence coding made into a coding of whole turns (every sentence of a turn
  a coder coded with a code carries it), as people code in MAXQDA or NVivo: a study with longer
  passages built from one with sentences.
- `answer`: the accept/reject a person would write, read from their coding.
- `random_sentences`: the random choice the active one is measured against.
- `held_out_scores`: Cohen's kappa of an automatic coding against a person's, by
  `qualcode.human.agreement.compare_coders`: on a set of codes (pooled) at the sentence and the
  participant unit, and the mean over codes at the sentence unit.
- `review_loop`: rounds of choose, answer, `review import`, train again, measure.

The sentences are read with spaCy once (`qualcode.learned.data.read_sources`); each round trains
on them with the decisions `import_review` wrote, so a round costs a training, not a reading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.config import LearnedParams
from qualcode.errors import QualcodeInputError
from qualcode.human.agreement import compare_coders
from qualcode.human.metrics import table_metrics
from qualcode.human.store import coded_sentences, unit_keys
from qualcode.learned.active import next_candidates
from qualcode.learned.data import Sources, read_review_decisions, training_data
from qualcode.learned.features import Units
from qualcode.learned.predict import model_codings
from qualcode.learned.review import export_review, import_review
from qualcode.learned.train import MODEL_CODER, FittedCoder, fit_coder
from qualcode.units import PARTICIPANT_UNIT

# the automatic coder in a comparison: a machine coder covers every transcript
AUTOMATIC = MODEL_CODER
Key = tuple[str, int, int]


def sentence_yes(human: pd.DataFrame, sentences: pd.DataFrame, coder: str) -> set[tuple]:
    """RETURNS (set): the (transcript, turn, sentence, code) the coder coded."""
    return coded_sentences(human[human["coder"] == coder], sentences)


def widen_to_turns(human: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    """A person's sentence coding as a coding of whole turns: where a coder coded a code in a
    turn, every sentence of that turn carries it (one selection per turn and code).

    RETURNS (DataFrame): human_codings rows (CODINGS_COLUMNS + HUMAN_EXTRA_COLUMNS), one per
        sentence, code and coder, sorted.
    """
    columns = [*schema.CODINGS_COLUMNS, *schema.HUMAN_EXTRA_COLUMNS]
    keys = unit_keys(human, sentences, unit="turn")
    if keys.empty:
        return pd.DataFrame(columns=columns)
    sources = human.astype({"transcript_id": str, "turn_id": "int64"}).drop_duplicates(
        ["coder", "transcript_id", "turn_id", "code_id"]
    )[["coder", "transcript_id", "turn_id", "code_id", "codebook_version", "source"]]
    wide = keys.merge(sources, on=["coder", "transcript_id", "turn_id", "code_id"], how="left")
    wide = wide.merge(
        sentences.astype({"transcript_id": str, "turn_id": "int64"})[
            ["transcript_id", "turn_id", "sentence_id", "start_char", "end_char", "text"]
        ],
        on=["transcript_id", "turn_id"],
    )
    wide = wide.assign(
        rule_id=None,
        score=float("nan"),
        selection_id=[
            f"turn:{t}:{k}:{c}"
            for t, k, c in zip(wide["transcript_id"], wide["turn_id"], wide["code_id"], strict=True)
        ],
    )
    frame = schema.typed_codings(wide[columns], schema.HUMAN_EXTRA_COLUMNS, human=True)
    return frame.sort_values(
        ["coder", "transcript_id", "turn_id", "sentence_id", "code_id"], kind="stable"
    ).reset_index(drop=True)


def answer(batch: pd.DataFrame, yes: set[tuple]) -> pd.DataFrame:
    """The decisions a person whose coding is `yes` would write: accept where they coded the
    sentence with the code, reject elsewhere.

    RETURNS (DataFrame): the batch with `decision` filled.
    """
    return batch.assign(
        decision=[
            "accept" if (str(t), int(k), int(s), str(c)) in yes else "reject"
            for t, k, s, c in zip(
                batch["transcript_id"], batch["turn_id"], batch["sentence_id"], batch["code_id"],
                strict=True,
            )
        ]
    )  # fmt: skip


def every_code(batch: pd.DataFrame, codes: Sequence[str]) -> pd.DataFrame:
    """The sentences of a review batch, each with a row for every code: what a person marks who
    reads a sentence and decides every code of the codebook for it.

    RETURNS (DataFrame): NEXT_COLUMNS-like rows (decision, code_id, text, transcript_id, turn_id,
        sentence_id), the sentences in the batch's order, codes in `codes` order.
    """
    columns = ["decision", "code_id", "text", "transcript_id", "turn_id", "sentence_id"]
    sentences = batch.drop_duplicates(["transcript_id", "turn_id", "sentence_id"])[
        ["transcript_id", "turn_id", "sentence_id", "text"]
    ].astype({"turn_id": "int64", "sentence_id": "int64"})
    # a cross join keeps the sentences' order, and the codes' order within each sentence
    rows = sentences.merge(
        pd.DataFrame({"code_id": pd.Series(list(codes), dtype=object)}), how="cross"
    )
    return rows.assign(decision="")[columns]


def random_sentences(
    pool: pd.DataFrame,
    decided: set[Key],
    n: int,
    rng: np.random.Generator,
    *,
    codes: Sequence[str],
    codes_per_sentence: int | None,
) -> pd.DataFrame:
    """n pool sentences not decided yet, drawn at random, each with `codes_per_sentence` codes
    drawn at random (every code of `codes` when None).

    pool: one row per sentence: transcript_id, turn_id, sentence_id, text.
    RETURNS (DataFrame): rows as `every_code` writes them.
    """
    keys = list(zip(pool["transcript_id"], pool["turn_id"], pool["sentence_id"], strict=True))
    open_rows = [i for i, key in enumerate(keys) if key not in decided]
    picked = pool.iloc[sorted(rng.choice(open_rows, size=min(n, len(open_rows)), replace=False))]
    if codes_per_sentence is None:
        return every_code(picked, codes)
    rows = []
    for t, k, s, text in zip(
        picked["transcript_id"], picked["turn_id"], picked["sentence_id"], picked["text"],
        strict=True,
    ):  # fmt: skip
        for code in rng.choice(
            list(codes), size=min(codes_per_sentence, len(codes)), replace=False
        ):
            rows.append(
                {"decision": "", "code_id": str(code), "text": text, "transcript_id": t,
                 "turn_id": int(k), "sentence_id": int(s)}
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=["decision", "code_id", "text", "transcript_id", "turn_id", "sentence_id"]
    )


def held_out_scores(
    human: pd.DataFrame,
    automatic: pd.DataFrame,
    turns: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    person: str,
    focus: Sequence[str],
    roles: tuple[str, ...] = ("participant",),
) -> dict[str, float]:
    """How far an automatic coding agrees with a person's on the transcripts the person coded
    (`compare_coders`, no bootstrap).

    human: human_codings rows (the person's are used).
    automatic: codings rows of the automatic coder (any coder name; renamed AUTOMATIC).
    focus: the codes the goal is about (the study's takeaways): their kappa pooled over them
        (their 2x2 tables added up, as the ALL row adds up every code's) at the sentence and the
        participant unit, on every transcript the person coded.
    RETURNS (dict): kappa_sentence, kappa_participant (on `focus`), mean_kappa (the mean over
        the codes either coder used, all codes, sentence unit); at the participant unit on
        `focus`: participant_decisions (participants x codes), participant_voiced (of them, the
        person's yes), participant_coded (the automatic coder's yes).
    """
    columns = [*schema.CODINGS_COLUMNS, "negated"]
    mine = human[human["coder"] == person].assign(negated=False)[columns]
    auto = automatic.assign(coder=AUTOMATIC)
    if "negated" not in auto.columns:
        auto = auto.assign(negated=False)
    both = pd.concat([f for f in (mine, auto[columns]) if len(f)] or [mine], ignore_index=True)
    mine_ids = set(mine["transcript_id"].astype(str))
    turns = turns[turns["transcript_id"].astype(str).isin(mine_ids)]

    if not (both["coder"] == AUTOMATIC).any():
        # nothing coded automatically: one row outside every unit, of a code the person used,
        # keeps the coder present without adding a code
        ghost = both.iloc[:1].assign(coder=AUTOMATIC, transcript_id="")
        both = pd.concat([both, ghost], ignore_index=True)
    by_unit = {
        unit: compare_coders(
            both,
            turns,
            sentences,
            coder_a=person,
            coder_b=AUTOMATIC,
            unit=unit,
            roles=roles,
            n_boot=0,
        )  # fmt: skip
        for unit in ("sentence", PARTICIPANT_UNIT)
    }

    def on_focus(unit: str) -> pd.DataFrame:
        table = by_unit[unit].table
        return table[(table["scope"] == "code") & table["code_id"].isin(focus)]

    def pooled(rows: pd.DataFrame) -> float:
        both_ = rows["n_both"].sum()
        counts = [both_, rows["n_first"].sum() - both_, rows["n_second"].sum() - both_,
                  rows["n_neither"].sum()]  # fmt: skip
        return float(table_metrics(np.array([counts], dtype=float))["kappa"][0])

    voiced = on_focus(PARTICIPANT_UNIT)
    return {
        "kappa_sentence": pooled(on_focus("sentence")),
        "kappa_participant": pooled(voiced),
        "mean_kappa": float(by_unit["sentence"].summary()["mean_kappa"]),
        "participant_decisions": int(voiced["n_units"].sum()),
        "participant_voiced": int(voiced["n_first"].sum()),
        "participant_coded": int(voiced["n_second"].sum()),
    }


@dataclass
class LoopStudy:
    """One study for the simulation: what the learned coder reads, who answers, what it is
    measured against.

    work: a folder with the turns and sentences tables; each run imports its review files into
        a copy of them.
    sources: the sentences of every transcript read with spaCy (`read_sources(...,
        every_transcript=True)`), its human coding that of the answering person.
    person: the coder who answers (its coding is also the start's full coding).
    reference: the coder the learned coder is measured against (on the transcripts it coded).
    focus: the codes the goal is about.
    rules: the rule coder's codings (codings.parquet rows), for the model-or-rules coding.
    """

    work: Path
    sources: Sources
    turns: pd.DataFrame
    person: str
    reference: str
    focus: list[str]
    rules: pd.DataFrame
    roles: tuple[str, ...] = ("participant",)

    def transcripts_of(self, coder: str) -> list[str]:
        """RETURNS (list[str]): the transcripts the coder coded, sorted."""
        human = self.sources.human
        return sorted(set(human.loc[human["coder"] == coder, "transcript_id"].astype(str)))


def _rows_of(units: Units, transcripts: Sequence[str]) -> np.ndarray:
    return np.flatnonzero(units.frame["transcript_id"].astype(str).isin(transcripts).to_numpy())


def score_coder(
    study: LoopStudy, coder: FittedCoder, test: Units, *, union: bool
) -> dict[str, float]:
    """The held-out scores of a coder's coding of the test units (with `union`: the model's
    codings and the rule coder's together, a sentence coded when either codes it).

    RETURNS (dict): `held_out_scores`.
    """
    probs = coder.predict_proba(test)
    coded = model_codings(
        test.frame, coder.decide(probs), probs, coder.codes, rule_id="model:simulated",
        codebook_version=None,
    )  # fmt: skip
    if union:
        tested = set(test.frame["transcript_id"].astype(str))
        rules = study.rules[study.rules["transcript_id"].astype(str).isin(tested)]
        coded = pd.concat([coded, rules.reindex(columns=coded.columns)], ignore_index=True)
    return held_out_scores(
        study.sources.human, coded, study.turns, study.sources.sentences,
        person=study.reference, focus=study.focus, roles=study.roles,
    )  # fmt: skip


def review_loop(
    study: LoopStudy,
    *,
    strategy: str,
    start: Sequence[str],
    rounds: int,
    n: int,
    seed: int,
    settings: LearnedParams,
    codes_per_sentence: int | None = 2,
    name: str | None = None,
) -> list[dict]:
    """The review loop simulated: a coder trained on the person's full coding of `start`, then
    `rounds` rounds of n sentences from the person's other transcripts (the pool), chosen by
    `next_candidates` (strategy "active") or at random ("random", seeded), answered from the
    person's coding, written as a review CSV and imported with `import_review`, the coder
    trained again on the decisions so far; measured after each round against the reference
    (the model alone, and the model or the rules).

    codes_per_sentence: codes decided per sentence (the least certain ones, or random ones);
        None: every code of the codebook (the person marks every code that applies).
    RETURNS (list[dict]): one row per round (0: before any review): strategy, seed, round,
        sentences (reviewed), pool (sentences in the pool), decisions, codes (learned), and the
        `held_out_scores` of the model (model_*) and of model or rules (union_*).
    """
    if strategy not in ("active", "random"):
        raise ValueError(f"strategy must be active or random, got {strategy!r}")
    name = name or strategy
    sources = study.sources
    human = sources.human
    start = sorted(start)
    person_ids = study.transcripts_of(study.person)
    pool_ids = sorted(set(person_ids) - set(start))
    test_ids = study.transcripts_of(study.reference)
    if set(test_ids) & set(person_ids):
        raise QualcodeInputError("the reference transcripts must not be trained on")
    units = sources.units
    pool = units.subset(_rows_of(units, pool_ids))
    test = units.subset(_rows_of(units, test_ids))
    known = human[(human["coder"] == study.person) & human["transcript_id"].isin(start)]
    yes = sentence_yes(human, sources.sentences, study.person)
    all_codes = (
        list(sources.codebook.ids) if sources.codebook is not None else sorted({k[3] for k in yes})
    )
    work = Path(study.work) / f"{name}_{seed}"
    work.mkdir(parents=True)
    for table in ("turns", "sentences"):
        src = Path(study.work) / schema.TABLE_FILES[table]
        (work / schema.TABLE_FILES[table]).write_bytes(src.read_bytes())
    rng = np.random.default_rng(seed)
    decided: set[Key] = set()
    decisions = None
    n_decisions = 0
    curve = []
    for step in range(rounds + 1):
        round_sources = dataclasses.replace(
            sources, human=known.reset_index(drop=True), decisions=decisions,
            coders=[study.person],
        )  # fmt: skip
        data = training_data(round_sources, use_reviews=decisions is not None)
        coder = fit_coder(
            data.units, data.labels, settings=settings, seed=seed, codebook=sources.codebook,
            examples=data.examples,
        )  # fmt: skip
        row = {
            "study": None,
            "strategy": name,
            "seed": seed,
            "round": step,
            "sentences": len(decided),
            "pool": len(pool),
            "decisions": n_decisions,
            "codes": len(coder.codes),
        }
        for union, prefix in ((False, "model"), (True, "union")):
            for key, value in score_coder(study, coder, test, union=union).items():
                row[f"{prefix}_{key}"] = value
        curve.append(row)
        if step == rounds:
            break
        if strategy == "active":
            batch = next_candidates(
                pool, coder.predict_proba(pool), coder=coder, model_id="simulated",
                codebook_version=None, excluded=decided, n=n,
                codes_per_sentence=codes_per_sentence or 1,
            )  # fmt: skip
            if codes_per_sentence is None:
                batch = every_code(batch, all_codes)
        else:
            frame = pool.frame[["transcript_id", "turn_id", "sentence_id", "text"]]
            batch = random_sentences(
                frame, decided, n, rng, codes=coder.codes if codes_per_sentence else all_codes,
                codes_per_sentence=codes_per_sentence,
            )  # fmt: skip
        if batch.empty:
            break
        marked = export_review(answer(batch, yes), work / f"round_{step + 1}.csv")
        import_review(marked, work, coder="simulated")
        decisions = read_review_decisions(work)
        n_decisions = len(decisions)
        decided |= set(
            zip(batch["transcript_id"].astype(str), batch["turn_id"].astype(int),
                batch["sentence_id"].astype(int), strict=True)
        )  # fmt: skip
    return curve
