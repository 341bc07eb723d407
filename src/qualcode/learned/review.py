"""The review loop: the sentences where the model and the rules disagree (`review_table`, and
the review candidates the learning step writes for notebook 02), or those whose labels would
teach the model most (`next_table`), exported as a CSV to mark accept or reject, and the marked
file imported as human coding and review decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.learned.data import read_review_decisions
from qualcode.learned.features import Units, rule_matrix
from qualcode.learned.labels import REVIEW_SOURCE_PREFIX, is_review
from qualcode.learned.train import MODEL_CODER, FittedCoder

REVIEW_COLUMNS = [
    "decision", "rank", "code_id", "proposed_by", "confidence", "score", "threshold", "text",
    "question", "human", "transcript_id", "turn_id", "sentence_id", "model_id",
    "codebook_version",
]  # fmt: skip
ACCEPT = ("accept", "accepted", "yes", "y", "a", "1", "true", "x")
REJECT = ("reject", "rejected", "no", "n", "r", "0", "false")
REVIEW_DECISION_COLUMNS = [
    "transcript_id", "turn_id", "sentence_id", "code_id", "decision", "coder", "source", "line",
    "text",
]  # fmt: skip


def _human_yes(human: pd.DataFrame | None, sentences: pd.DataFrame) -> tuple[set, set[str]]:
    """RETURNS (tuple): the (transcript, turn, sentence, code) people coded, and the
    transcripts a person coded in full."""
    from qualcode.human.store import coded_sentences

    if human is None or not len(human):
        return set(), set()
    full = human[~is_review(human) & human["coder"].astype(str).str.startswith("human:")]
    return coded_sentences(full, sentences), set(full["transcript_id"].astype(str))


def review_candidates(
    units: Units,
    probs: np.ndarray,
    *,
    coder: FittedCoder,
    model_id: str,
    codebook_version: int | None,
    human: pd.DataFrame | None,
    sentences: pd.DataFrame,
) -> pd.DataFrame:
    """The units where a trained coder and the rule coder disagree on a code the coder learned,
    ranked by the coder's confidence (see `review_table`).

    probs: the coder's probabilities of the units [n_units, n_codes].
    human, sentences: human_codings.parquet (None when there is none) and sentences.parquet.
    RETURNS (DataFrame): REVIEW_COLUMNS.
    """
    coded = coder.decide(probs)
    codes = coder.codes
    rules = rule_matrix(units, codes)
    human_yes, covered = _human_yes(human, sentences)
    frame = units.frame
    rows = []
    for i, j in zip(*np.nonzero(coded != rules), strict=True):
        p, t = float(probs[i, j]), float(coder.thresholds[j])
        by_model = bool(coded[i, j])
        confidence = (p - t) / (1 - t) if by_model else (t - p) / t
        key = (
            frame.at[i, "transcript_id"],
            int(frame.at[i, "turn_id"]),
            int(frame.at[i, "sentence_id"]),
        )
        human_says = ""
        if key[0] in covered:
            human_says = "yes" if (*key, codes[j]) in human_yes else "no"
        rows.append(
            {
                "decision": "",
                "code_id": codes[j],
                "proposed_by": MODEL_CODER if by_model else "rules",
                "confidence": round(float(np.clip(confidence, 0.0, 1.0)), 4),
                "score": round(p, 4),
                "threshold": t,
                "text": frame.at[i, "text"],
                "question": frame.at[i, "question_text"],
                "human": human_says,
                "transcript_id": key[0],
                "turn_id": key[1],
                "sentence_id": key[2],
                "model_id": model_id,
                "codebook_version": codebook_version,
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in REVIEW_COLUMNS if c != "rank"])
    table = table.sort_values(
        ["confidence", "transcript_id", "turn_id", "sentence_id", "code_id"],
        ascending=[False, True, True, True, True],
        kind="stable",
    ).reset_index(drop=True)
    table.insert(1, "rank", np.arange(1, len(table) + 1))
    return table[REVIEW_COLUMNS]


def review_table(
    processed_dir: Path,
    model_dir: Path,
    *,
    params: Params | None = None,
    transcripts: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """The sentences where the model and the rule coder disagree on a code the model learned,
    ranked by the model's confidence.

    Each row proposes that the sentence carries the code (the model or the rules say so, the
    other does not). `confidence` is how sure the model is of its own side, 0..1: (p - t) /
    (1 - t) when it codes the sentence, (t - p) / t when it does not, with p the probability
    and t the code's threshold; the most confident disagreements come first. `human` says what
    the human coding says where a person coded the transcript in full ("yes"/"no"), else "".
    The rules are the codebook the model was trained with. `decision` is left empty, for a
    researcher to write accept or reject.
    RETURNS (DataFrame): REVIEW_COLUMNS.
    """
    from qualcode.config import load_params
    from qualcode.learned.predict import apply_model
    from qualcode.learned.store import load_model

    params = params if params is not None else load_params()
    loaded = load_model(model_dir)
    units, probs, _ = apply_model(
        loaded, processed_dir, params=params, transcripts=transcripts, progress=progress
    )
    return review_candidates(
        units,
        probs,
        coder=loaded.coder,
        model_id=loaded.model_id,
        codebook_version=loaded.card.get("codebook", {}).get("version"),
        human=schema.read_table(processed_dir, "human_codings", required=False),
        sentences=schema.read_table(processed_dir, "sentences"),
    )


def next_table(
    processed_dir: Path,
    model_dir: Path,
    *,
    n: int = 30,
    per_transcript: int | None = None,
    codes_per_sentence: int = 2,
    params: Params | None = None,
    transcripts: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """`qualcode review next`: the n sentences whose labels would teach the model most, spread
    over transcripts and codes (`qualcode.learned.active`), to mark in the `decision` column.

    Sentences already decided in review_decisions.parquet, and the transcripts a person coded in
    full, are left out; the file is read back by `import_review`.
    RETURNS (DataFrame): `qualcode.learned.active.NEXT_COLUMNS`.
    """
    from qualcode.config import load_params
    from qualcode.learned.active import NEXT_COLUMNS, next_candidates
    from qualcode.learned.predict import apply_model
    from qualcode.learned.store import load_model

    processed_dir = Path(processed_dir)
    params = params if params is not None else load_params()
    loaded = load_model(model_dir)
    sentences = schema.read_table(processed_dir, "sentences")
    human = schema.read_table(processed_dir, "human_codings", required=False)
    _, covered = _human_yes(human, sentences)
    wanted = sorted(
        set(sentences["transcript_id"].astype(str)) - covered
        if transcripts is None
        else {str(t) for t in transcripts} - covered
    )
    if not wanted:
        return pd.DataFrame(columns=NEXT_COLUMNS)
    decisions = read_review_decisions(processed_dir)
    excluded: set = set()
    if decisions is not None and len(decisions):
        excluded = set(
            zip(
                decisions["transcript_id"].astype(str),
                decisions["turn_id"].astype(int),
                decisions["sentence_id"].astype(int),
                strict=True,
            )
        )
    units, probs, _ = apply_model(
        loaded, processed_dir, params=params, transcripts=wanted, progress=progress
    )
    return next_candidates(
        units,
        probs,
        coder=loaded.coder,
        model_id=loaded.model_id,
        codebook_version=loaded.card.get("codebook", {}).get("version"),
        excluded=excluded,
        n=n,
        per_transcript=per_transcript,
        codes_per_sentence=codes_per_sentence,
    )


def export_review(table: pd.DataFrame, out_path: Path, *, limit: int | None = None) -> Path:
    """Write a review table as CSV for a researcher to mark: `decision` accept or reject (or
    leave empty to skip).

    limit: keep only the first `limit` rows (the most confident disagreements).
    RETURNS (Path): the file written.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".csv":
        raise QualcodeInputError("expected a .csv file to write", path=out_path)
    shown = table if limit is None else table.head(limit)
    return schema.write_text(out_path, schema.csv_for_people(shown))


@dataclass
class ReviewImport:
    """What importing a marked review file did."""

    source: Path
    coder: str
    accepted: int
    rejected: int
    undecided: int
    transcripts: list[str]
    decisions_path: Path | None = None
    codings_path: Path | None = None


def _decision(value: str) -> str | None:
    word = value.strip().lower()
    if not word:
        return ""
    if word in ACCEPT:
        return "accept"
    if word in REJECT:
        return "reject"
    return None


def read_review_csv(path: Path, sentences: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Read a marked review file and check every decided row against sentences.parquet.

    RETURNS (tuple[DataFrame, int]): the decided rows (transcript_id, turn_id, sentence_id,
        code_id, decision, line, text, codebook_version) and the number of undecided rows.
    """
    import csv
    import io

    from qualcode.errors import ManyInputErrors

    path = Path(path)
    text = schema.read_csv_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    required = ["decision", "transcript_id", "turn_id", "sentence_id", "code_id"]
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise QualcodeInputError(
            f"missing column(s) {', '.join(missing)}; expected a file written by "
            "`qualcode review export` (found: " + (", ".join(header) or "none") + ")",
            path=path,
            line=1,
        )
    reader.fieldnames = header
    known = {
        (str(t), int(k), int(s)): str(x)
        for t, k, s, x in zip(
            sentences["transcript_id"], sentences["turn_id"], sentences["sentence_id"],
            sentences["text"], strict=True,
        )
    }  # fmt: skip
    errors: list[QualcodeInputError] = []
    rows = []
    undecided = 0
    try:
        records = list(reader)
    except csv.Error as err:
        raise QualcodeInputError(f"expected CSV ({err})", path=path) from None
    for n, record in enumerate(records, start=2):
        record = {k: schema.restore_cell(v or "") for k, v in record.items() if k is not None}
        decision = _decision(record.get("decision", ""))
        if decision is None:
            errors.append(
                QualcodeInputError(
                    f"decision {record.get('decision')!r}: expected accept or reject (or empty)",
                    path=path,
                    line=n,
                )
            )
            continue
        if decision == "":
            undecided += 1
            continue
        try:
            key = (
                record["transcript_id"].strip(),
                int(record["turn_id"]),
                int(record["sentence_id"]),
            )
        except ValueError:
            errors.append(
                QualcodeInputError(
                    "turn_id and sentence_id must be whole numbers", path=path, line=n
                )
            )
            continue
        code = record.get("code_id", "").strip()
        if not code:
            errors.append(QualcodeInputError("empty code_id", path=path, line=n))
            continue
        sentence = known.get(key)
        if sentence is None:
            errors.append(
                QualcodeInputError(
                    f"no sentence {key[2]} in turn {key[1]} of {key[0]} in sentences.parquet",
                    path=path,
                    line=n,
                )
            )
            continue
        if record.get("text", "").strip() and record["text"].strip() != sentence.strip():
            errors.append(
                QualcodeInputError(
                    f"the text of sentence {key[2]} in turn {key[1]} of {key[0]} changed since "
                    "the export (transcripts ingested again?); export the review again",
                    path=path,
                    line=n,
                )
            )
            continue
        version = record.get("codebook_version", "").strip()
        rows.append(
            {
                "transcript_id": key[0],
                "turn_id": key[1],
                "sentence_id": key[2],
                "code_id": code,
                "decision": decision,
                "line": n,
                "text": sentence,
                "codebook_version": int(float(version)) if version else None,
            }
        )
    if errors:
        raise errors[0] if len(errors) == 1 else ManyInputErrors(errors)
    frame = pd.DataFrame(
        rows,
        columns=["transcript_id", "turn_id", "sentence_id", "code_id", "decision", "line", "text",
                 "codebook_version"],
    )  # fmt: skip
    return frame, undecided


def import_review(path: Path, processed_dir: Path, *, coder: str = "review") -> ReviewImport:
    """`qualcode review import`: take a marked review file into the project.

    Accepted rows become human coding (human_codings.parquet, coder `human:<name>`, source
    `review:<file>`): the sentence carries the code. Rejected rows remove that coder's coding of
    the code on the sentence, if any. Every decision is also kept in review_decisions.parquet
    (the latest decision on a sentence and code wins), which `qualcode train` uses: accepted and
    rejected sentences both teach the model, and the rest of a reviewed transcript stays
    unlabelled (a review is not a full coding of the transcript).
    RETURNS (ReviewImport): counts and the files written.
    """
    from qualcode.human.store import coder_name, finish_rows, write_human_codings

    path = Path(path)
    processed_dir = Path(processed_dir)
    coder = coder_name(coder)
    if not coder.startswith("human:"):
        raise QualcodeInputError(f"expected a person's name, got {coder!r}", element="--coder")
    sentences = schema.read_table(processed_dir, "sentences")
    decided, undecided = read_review_csv(path, sentences)
    result = ReviewImport(
        source=path,
        coder=coder,
        accepted=int((decided["decision"] == "accept").sum()),
        rejected=int((decided["decision"] == "reject").sum()),
        undecided=undecided,
        transcripts=sorted(set(decided["transcript_id"])),
    )
    if decided.empty:
        return result
    # the last row on the same sentence and code wins within the file too
    decided = decided.drop_duplicates(
        ["transcript_id", "turn_id", "sentence_id", "code_id"], keep="last"
    )
    new_decisions = decided.assign(coder=coder, source=path.name)[REVIEW_DECISION_COLUMNS]
    old = read_review_decisions(processed_dir)
    merged = new_decisions
    if old is not None and len(old):
        merged = pd.concat([old[REVIEW_DECISION_COLUMNS], new_decisions], ignore_index=True)
        merged = merged.drop_duplicates(
            ["transcript_id", "turn_id", "sentence_id", "code_id"], keep="last"
        )
    merged = merged.astype(
        {"transcript_id": str, "turn_id": "int64", "sentence_id": "int64", "code_id": str,
         "decision": str, "coder": str, "source": str, "line": "int64", "text": str}
    )  # fmt: skip
    merged = merged.sort_values(["transcript_id", "turn_id", "sentence_id", "code_id"])
    merged = merged.reset_index(drop=True)

    human = schema.read_table(processed_dir, "human_codings", required=False)
    affected = result.transcripts
    kept = []
    if human is not None and len(human):
        mine = human[
            (human["coder"].astype(str) == coder)
            & human["transcript_id"].astype(str).isin(affected)
        ]
        rejected = set(
            decided.loc[
                decided["decision"] == "reject",
                ["transcript_id", "turn_id", "sentence_id", "code_id"],
            ].itertuples(index=False, name=None)
        )
        if len(mine):
            keep = [
                (str(t), int(k), int(s) if not pd.isna(s) else -1, str(c)) not in rejected
                for t, k, s, c in zip(
                    mine["transcript_id"],
                    mine["turn_id"],
                    mine["sentence_id"],
                    mine["code_id"],
                    strict=True,
                )
            ]
            kept.append(mine[keep])
    bounds = sentences.set_index(["transcript_id", "turn_id", "sentence_id"])[
        ["start_char", "end_char"]
    ]
    accepted_rows = []
    for row in decided[decided["decision"] == "accept"].itertuples(index=False):
        start, end = bounds.loc[(row.transcript_id, row.turn_id, row.sentence_id)]
        accepted_rows.append(
            {
                "transcript_id": row.transcript_id,
                "turn_id": row.turn_id,
                "sentence_id": row.sentence_id,
                "code_id": row.code_id,
                "start_char": int(start),
                "end_char": int(end),
                "text": row.text,
                "coder": coder,
                "rule_id": None,
                "score": float("nan"),
                "codebook_version": row.codebook_version,
                "selection_id": f"{path.name}:{row.line}",
                "source": f"{REVIEW_SOURCE_PREFIX}{path.name}",
            }
        )
    columns = [*schema.CODINGS_COLUMNS, *schema.HUMAN_EXTRA_COLUMNS]
    parts = [k[columns] for k in kept if len(k)]
    if accepted_rows:
        parts.append(pd.DataFrame(accepted_rows, columns=columns))
    new = (
        finish_rows(pd.concat(parts, ignore_index=True), codebook_version=None)
        if parts
        else pd.DataFrame(columns=columns)
    )
    result.codings_path = write_human_codings(
        new, processed_dir, replace={(coder, t) for t in affected}
    )
    result.decisions_path = schema.write_table(
        merged, processed_dir / schema.TABLE_FILES["review_decisions"]
    )
    return result
