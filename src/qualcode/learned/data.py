"""What a coder learns from, read from a processed folder: the sentences are read with spaCy once
(`read_sources`), then labelled for each use (`training_data`: with or without the review
decisions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from spacy.language import Language

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.learned.features import Units, feature_pipeline, prepare_units
from qualcode.learned.labels import (
    Labels,
    codebook_examples,
    example_units,
    human_coders,
    label_units,
)
from qualcode.learned.readings import ReadingCache
from qualcode.units import participant_units


def read_review_decisions(processed_dir: Path) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): review_decisions.parquet, None when there is none."""
    path = Path(processed_dir) / schema.TABLE_FILES["review_decisions"]
    return pd.read_parquet(path) if path.exists() else None


@dataclass
class Sources:
    """What the learned coder learns from, read once.

    units: participant sentences read with spaCy (of the labelled transcripts, or of all).
    human, sentences: human_codings.parquet and sentences.parquet.
    decisions: review_decisions.parquet (None when there is none or it is not used).
    examples: the codebook's examples as units (None when not used).
    coders: the `human:` coders whose coding is pooled, first named first.
    """

    units: Units
    human: pd.DataFrame
    sentences: pd.DataFrame
    decisions: pd.DataFrame | None
    examples: Units | None
    codebook: Codebook | None
    coders: list[str]


@dataclass
class TrainingData:
    """What a coder is trained on: the labelled sentences of the processed folder.

    units, labels: the labelled units and their labels.
    examples: the codebook's examples as units (None when not used).
    """

    units: Units
    labels: Labels
    examples: Units | None
    codebook: Codebook | None
    coders: list[str]
    n_review_decisions: int = 0

    @property
    def transcripts(self) -> list[str]:
        """RETURNS (list[str]): the transcripts with labelled units, sorted."""
        return sorted(set(self.units.frame["transcript_id"]))

    @property
    def full_transcripts(self) -> list[str]:
        """RETURNS (list[str]): the transcripts coded in full by one of the coders, sorted."""
        return sorted(self.labels.owners)


def read_sources(
    processed_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    codebook: Codebook | None = None,
    params: Params,
    nlp: Language | None = None,
    use_examples: bool = True,
    use_reviews: bool = True,
    every_transcript: bool = False,
    progress: Callable[[int], None] | None = None,
    cache: ReadingCache | None = None,
) -> Sources:
    """Read the processed tables and the human coding, and the sentences with spaCy.

    coders: the `human:` coders whose coding is pooled (first named wins where two coded the
        same transcript); all people with imported coding when None.
    use_reviews: read the accept/reject decisions of review_decisions.parquet.
    every_transcript: read the sentences of every transcript, not only of the labelled ones.
    nlp: the pipeline to read with (`feature_pipeline` when None, loaded only when something is
        to be read).
    cache: the readings of transcripts (and of the codebook's examples) kept from earlier runs
        (`ReadingCache`): those whose inputs are unchanged are not read with spaCy again.
    RETURNS (Sources): what the learned coder learns from.
    """
    from qualcode.human.store import coder_name

    processed_dir = Path(processed_dir)
    human = schema.read_table(processed_dir, "human_codings", required=False)
    if human is None or human.empty:
        raise QualcodeInputError(
            "no human coding to learn from; import some with `qualcode import-coding`",
            path=processed_dir / schema.TABLE_FILES["human_codings"],
        )
    coders = [coder_name(c) for c in coders] if coders else human_coders(human)
    for coder in coders:
        if not coder.startswith("human:"):
            raise QualcodeInputError(
                f"expected a person's coding (human:<name>), got {coder!r}", element="--from"
            )
    turns = schema.read_table(processed_dir, "turns")
    sentences = schema.read_table(processed_dir, "sentences")
    decisions = read_review_decisions(processed_dir) if use_reviews else None
    # Labels first (cheap): they say which transcripts to read with spaCy.
    probe = participant_units(turns, sentences, unit="sentence", roles=params.coding.roles)
    probe = probe.astype({"transcript_id": str, "turn_id": "int64", "sentence_id": "int64"})
    rows, _ = label_units(
        probe, human, sentences, coders=coders, codebook=codebook, decisions=decisions
    )
    wanted = sorted(set(probe["transcript_id"].iloc[rows]))
    if not wanted:
        raise QualcodeInputError(
            f"the coding of {', '.join(coders)} falls in no participant sentence", element="--from"
        )
    pipeline = nlp if nlp is not None else _lazy_pipeline(codebook, model=params.spacy_model)
    units = prepare_units(
        turns, sentences, nlp=pipeline, codebook=codebook, params=params,
        transcripts=None if every_transcript else wanted, progress=progress, cache=cache,
    )  # fmt: skip
    examples = None
    found = codebook_examples(codebook) if use_examples else None
    if found is not None and len(found):
        examples = example_units(found, nlp=pipeline, codebook=codebook, params=params, cache=cache)
    return Sources(
        units=units,
        human=human,
        sentences=sentences,
        decisions=decisions,
        examples=examples,
        codebook=codebook,
        coders=coders,
    )


def _lazy_pipeline(codebook: Codebook | None, *, model: str) -> Callable[[], Language]:
    """RETURNS (function): one giving `feature_pipeline(codebook, model=model)`, built the first
    time it is called, the same one after."""
    built: list[Language] = []

    def pipeline() -> Language:
        if not built:
            built.append(feature_pipeline(codebook, model=model))
        return built[0]

    return pipeline


def training_data(sources: Sources, *, use_reviews: bool = True) -> TrainingData:
    """The labelled units of the sources: the pooled coding of the coders, and with
    `use_reviews` the review decisions too.

    RETURNS (TrainingData): the labelled units.
    """
    decisions = sources.decisions if use_reviews else None
    rows, labels = label_units(
        sources.units.frame,
        sources.human,
        sources.sentences,
        coders=sources.coders,
        codebook=sources.codebook,
        decisions=decisions,
    )
    return TrainingData(
        units=sources.units.subset(rows),
        labels=labels,
        examples=sources.examples,
        codebook=sources.codebook,
        coders=sources.coders,
        n_review_decisions=0 if decisions is None else len(decisions),
    )


def load_training_data(
    processed_dir: Path,
    *,
    coders: Sequence[str] | None = None,
    codebook: Codebook | None = None,
    params: Params,
    nlp: Language | None = None,
    use_examples: bool = True,
    use_reviews: bool = True,
    progress: Callable[[int], None] | None = None,
) -> TrainingData:
    """Read the processed tables and the human coding into labelled units (`read_sources`,
    then `training_data`).

    RETURNS (TrainingData): the labelled units.
    """
    sources = read_sources(
        processed_dir, coders=coders, codebook=codebook, params=params, nlp=nlp,
        use_examples=use_examples, use_reviews=use_reviews, progress=progress,
    )  # fmt: skip
    return training_data(sources, use_reviews=use_reviews)
