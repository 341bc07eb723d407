"""Coding with a trained model: the model's codings as codings.parquet rows, and
`qualcode code --coder model|both`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.learned.features import Units, feature_pipeline, prepare_units
from qualcode.learned.store import LoadedModel, load_model
from qualcode.learned.train import MODEL_CODER


def typed_codings(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """RETURNS (DataFrame): coding rows with the columns and types the rule coder writes
    (`schema.typed_codings`); the codebook version is a plain integer when every row has one."""
    columns = [*schema.CODINGS_COLUMNS, *schema.EXTRA_CODING_COLUMNS]
    frame = schema.typed_codings(pd.DataFrame(rows, columns=columns))
    if frame["codebook_version"].notna().all():
        frame = frame.astype({"codebook_version": "int64"})
    return frame


def model_codings(
    frame: pd.DataFrame,
    coded: np.ndarray,
    probs: np.ndarray,
    codes: Sequence[str],
    *,
    rule_id: str,
    codebook_version: int | None,
) -> pd.DataFrame:
    """The model's codings as codings.parquet rows: coder `model`, score = the probability,
    rule_id `model:<model id>`, negated False (the model does not look for negation),
    matched and cue None, match_start/match_end = the sentence.

    RETURNS (DataFrame): the codings columns and the rule coder's extra columns.
    """
    rows, cols = np.nonzero(coded)
    units = frame.iloc[rows]
    out = typed_codings(
        {
            "transcript_id": units["transcript_id"].astype(str).to_numpy(),
            "turn_id": units["turn_id"].to_numpy(),
            "sentence_id": units["sentence_id"].to_numpy(),
            "code_id": [codes[int(j)] for j in cols],
            "start_char": units["start_char"].to_numpy(),
            "end_char": units["end_char"].to_numpy(),
            "text": units["text"].astype(str).to_numpy(),
            "coder": MODEL_CODER,
            "rule_id": rule_id,
            "score": [round(float(p), 6) for p in probs[rows, cols]],
            "codebook_version": codebook_version,
            "negated": False,
            "matched": None,
            "cue": None,
            "match_start": units["start_char"].to_numpy(),
            "match_end": units["end_char"].to_numpy(),
        }
    )
    return out.sort_values(
        ["transcript_id", "turn_id", "sentence_id", "code_id"], kind="stable"
    ).reset_index(drop=True)


def apply_model(
    loaded: LoadedModel,
    processed_dir: Path,
    *,
    params: Params,
    transcripts: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Units, np.ndarray, np.ndarray]:
    """Read the participant sentences of processed_dir and score them with a model.

    RETURNS (tuple): the units, the probabilities and the codings [n_units, n_codes] (codes in
        `loaded.coder.codes`).
    """
    turns = schema.read_table(processed_dir, "turns")
    sentences = schema.read_table(processed_dir, "sentences")
    nlp = feature_pipeline(loaded.codebook, model=params.spacy_model)
    units = prepare_units(
        turns, sentences, nlp=nlp, codebook=loaded.codebook, params=params,
        transcripts=transcripts, progress=progress,
    )  # fmt: skip
    probs = loaded.coder.predict_proba(units)
    return units, probs, loaded.coder.decide(probs)


@dataclass
class ModelCoding:
    """What `code_with_model` wrote."""

    codings: pd.DataFrame
    codings_path: Path
    model_id: str
    n_units: int
    n_words: int
    n_model: int
    n_rules: int
    rules: Any = None


def code_with_model(
    processed_dir: Path,
    model_dir: Path,
    *,
    coder: str = MODEL_CODER,
    codebook_path: Path | None = None,
    params: Params | None = None,
    progress: Callable[[int], None] | None = None,
) -> ModelCoding:
    """`qualcode code --coder model|both`: code every participant sentence with a trained model
    (and with `both` the codebook's rules too) and write codings.parquet.

    With `model`, codings.parquet holds the model's codings only; with `both`, the rule coder's
    rows and the model's rows side by side (the `coder` column says which made each). Quantities
    come from the rule coder (`both`) and are left as they are with `model`.
    RETURNS (ModelCoding): the codings written and what was coded.
    """
    from qualcode.coding.rules import code_corpus
    from qualcode.config import load_params

    if coder not in (MODEL_CODER, "both"):
        raise QualcodeInputError(f"expected model or both, got {coder!r}", element="--coder")
    params = params if params is not None else load_params()
    if params.coding.unit != "sentence":
        raise QualcodeInputError(
            "the learned coder codes sentences; set coding.unit: sentence to use it",
            element="coding.unit",
        )
    processed_dir = Path(processed_dir)
    loaded = load_model(model_dir)
    rules = None
    parts = []
    if coder == "both":
        if codebook_path is None:
            raise QualcodeInputError("`both` needs a codebook for the rules", element="--codebook")
        rules = code_corpus(processed_dir, codebook_path, params=params, progress=progress)
        parts.append(rules.codings[rules.codings["coder"] == "rules"])
    units, probs, coded = apply_model(loaded, processed_dir, params=params, progress=progress)
    version = loaded.card.get("codebook", {}).get("version")
    ours = model_codings(
        units.frame,
        coded,
        probs,
        loaded.coder.codes,
        rule_id=loaded.rule_id,
        codebook_version=version,
    )
    parts.append(ours)
    parts = [p for p in parts if len(p)] or [ours]
    if len({str(p["codebook_version"].dtype) for p in parts}) > 1:
        parts = [p.astype({"codebook_version": "Int64"}) for p in parts]
    codings = pd.concat(parts, ignore_index=True)
    codings = codings.sort_values(
        ["transcript_id", "turn_id", "sentence_id", "code_id", "coder"], kind="stable"
    ).reset_index(drop=True)
    path = processed_dir / schema.TABLE_FILES["codings"]
    schema.write_table(codings, path, columns=schema.CODINGS_COLUMNS)
    return ModelCoding(
        codings=codings,
        codings_path=path,
        model_id=loaded.model_id,
        n_units=len(units),
        n_words=int(units.frame["n_words"].sum()) if len(units) else 0,
        n_model=len(ours),
        n_rules=0 if rules is None else int((codings["coder"] == "rules").sum()),
        rules=rules,
    )
