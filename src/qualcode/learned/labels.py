"""People's coding as labels of units: who coded which transcript, the labels of every sentence
of a coded transcript, the one label of a review decision, and the codebook's own examples.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from spacy.language import Language

from qualcode.coding.codebook import Codebook
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.learned.features import Units, prepare_units
from qualcode.learned.readings import ReadingCache

log = logging.getLogger(__name__)

REVIEW_SOURCE_PREFIX = "review:"
EXAMPLES_TRANSCRIPT = "_codebook_examples"
_QUOTED_RE = re.compile(r"[\"“]([^\"”]{12,})[\"”]")


@dataclass
class Labels:
    """Human labels of some units: `y[i, j]` is true when unit i carries code j; `known[i, j]`
    says whether that is known (a fully coded transcript knows every code of every unit; a
    review decision knows one code of one unit).
    """

    codes: list[str]
    y: np.ndarray
    known: np.ndarray
    owners: dict[str, str] = field(default_factory=dict)

    def subset(self, rows: np.ndarray) -> Labels:
        """RETURNS (Labels): the labels of the given rows."""
        return Labels(
            codes=list(self.codes), y=self.y[rows], known=self.known[rows], owners=self.owners
        )

    def counts(self, transcripts: Sequence[str]) -> pd.DataFrame:
        """RETURNS (DataFrame): per code: n_examples (positive units), n_transcripts (with one)."""
        transcripts = np.asarray(transcripts)
        positive = self.y & self.known
        return pd.DataFrame(
            {
                "code_id": self.codes,
                "n_examples": positive.sum(axis=0).astype(int),
                "n_transcripts": [
                    len(set(transcripts[positive[:, j]])) for j in range(len(self.codes))
                ],
            }
        )


def is_review(frame: pd.DataFrame) -> pd.Series:
    """RETURNS (Series): booleans: the human coding row came from a review import."""
    if "source" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["source"].fillna("").astype(str).str.startswith(REVIEW_SOURCE_PREFIX)


def human_coders(human: pd.DataFrame | None) -> list[str]:
    """The people whose coding can train a model: every `human:` coder with rows that are not
    review decisions, the reference first.

    RETURNS (list[str]): coder names.
    """
    from qualcode.human.agreement import coders_present

    if human is None or human.empty:
        return []
    full = human[~is_review(human)]
    return [c for c in coders_present(full) if c.startswith("human:")]


def code_order(codes: Iterable[str], codebook: Codebook | None) -> list[str]:
    """RETURNS (list[str]): codebook codes in codebook order, then the others sorted."""
    codes = set(codes)
    ids = [c for c in (codebook.ids if codebook is not None else []) if c in codes]
    return ids + sorted(codes - set(ids))


def transcript_owners(human: pd.DataFrame, coders: Sequence[str]) -> dict[str, str]:
    """Which coder labels each transcript: the first of `coders` that coded it in full
    (imported coding, not review decisions).

    RETURNS (dict[str, str]): transcript id -> coder.
    """
    full = human[~is_review(human)]
    present = set(full["coder"])
    missing = [c for c in coders if c not in present]
    if missing:
        listed = ", ".join(human_coders(human)) or "none"
        raise QualcodeInputError(
            f"coder {missing[0]!r} has no imported coding; coders present: {listed}",
            element="--from",
        )
    owners: dict[str, str] = {}
    for coder in coders:
        for tid in sorted(set(full.loc[full["coder"] == coder, "transcript_id"])):
            owners.setdefault(tid, coder)
    return owners


def label_units(
    frame: pd.DataFrame,
    human: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    coders: Sequence[str],
    codebook: Codebook | None = None,
    decisions: pd.DataFrame | None = None,
) -> tuple[np.ndarray, Labels]:
    """The human labels of the units: the pooled coding of the named coders, then review
    decisions.

    A transcript is labelled by the first of `coders` that coded it (imported coding, not review
    decisions); the labels of two coders are never mixed within a transcript. Every participant
    sentence of such a transcript is a labelled unit: coded with the codes the coder gave it,
    and known not to carry the others. Review decisions (accept/reject of one code on one
    sentence) then set that one label, in any transcript.
    RETURNS (tuple[ndarray, Labels]): the positions of the labelled units in `frame`, and
        their labels.
    """
    from qualcode.human.store import unit_keys

    human = human.astype({"coder": str, "transcript_id": str})
    owners = transcript_owners(human, list(dict.fromkeys(coders)))
    full = human[~is_review(human)]
    owned = full[
        [owners.get(t) == c for t, c in zip(full["transcript_id"], full["coder"], strict=True)]
    ]
    keys = unit_keys(owned, sentences, unit="sentence") if len(owned) else None
    index = {
        (t, int(k), int(s)): i
        for i, (t, k, s) in enumerate(
            zip(frame["transcript_id"], frame["turn_id"], frame["sentence_id"], strict=True)
        )
    }
    decided = []
    if decisions is not None and len(decisions):
        for row in decisions.itertuples(index=False):
            i = index.get((str(row.transcript_id), int(row.turn_id), int(row.sentence_id)))
            if i is not None:
                decided.append((i, str(row.code_id), str(row.decision) == "accept"))
    codes = set(keys["code_id"]) if keys is not None else set()
    codes |= {c for _, c, ok in decided if ok}
    codes = code_order(codes, codebook)
    column = {c: j for j, c in enumerate(codes)}
    in_scope = frame["transcript_id"].isin(owners).to_numpy().copy()
    for i, _, _ in decided:
        in_scope[i] = True
    rows = np.flatnonzero(in_scope)
    position = {i: r for r, i in enumerate(rows)}
    y = np.zeros((len(rows), len(codes)), dtype=bool)
    known = np.zeros((len(rows), len(codes)), dtype=bool)
    known[frame["transcript_id"].iloc[rows].isin(owners).to_numpy()] = True
    outside = 0
    if keys is not None:
        for t, k, s, c in zip(
            keys["transcript_id"], keys["turn_id"], keys["sentence_id"], keys["code_id"],
            strict=True,
        ):  # fmt: skip
            i = index.get((str(t), int(k), int(s)))
            if i is None:
                outside += 1
                continue
            y[position[i], column[str(c)]] = True
    if outside:
        log.info("%d human coding(s) outside participant sentences left out", outside)
    for i, code, ok in decided:
        if code in column:
            y[position[i], column[code]] = ok
            known[position[i], column[code]] = True
    return rows, Labels(codes=codes, y=y, known=known, owners=owners)


# ---------------------------------------------------------------------------------------------
# The codebook's own examples as training sentences


def codebook_examples(codebook: Codebook | None) -> pd.DataFrame:
    """The example sentences a codebook gives for its codes: `examples`, and quoted phrases in
    `include` notes ("a degree ("I did my undergrad in physics")").

    RETURNS (DataFrame): code_id, text; one row per (code, example), in codebook order.
    """
    rows = []
    if codebook is not None:
        for code in codebook:
            texts = list(code.examples)
            for note in code.include:
                texts.extend(m.group(1).strip() for m in _QUOTED_RE.finditer(note))
            for text in dict.fromkeys(t.strip() for t in texts if t.strip()):
                rows.append({"code_id": code.id, "text": text})
    return pd.DataFrame(rows, columns=["code_id", "text"])


def example_units(
    examples: pd.DataFrame,
    *,
    nlp: Language | Callable[[], Language],
    codebook: Codebook | None,
    params: Params,
    cache: ReadingCache | None = None,
) -> Units:
    """The codebook's examples as units without context (one turn each, no question, no
    section), so they can be added to the training sentences.

    nlp, cache: as `prepare_units` takes them (the examples are read, and kept, as one
    transcript).

    RETURNS (Units): the units; `frame["example_code"]` holds each example's code.
    """
    n = len(examples)
    texts = [str(t) for t in examples["text"]]
    turns = pd.DataFrame(
        {
            "transcript_id": EXAMPLES_TRANSCRIPT,
            "turn_id": np.arange(n, dtype="int64"),
            "speaker": "example",
            "role": params.coding.roles[0] if params.coding.roles else "participant",
            "section": None,
            "start_s": np.nan,
            "end_s": np.nan,
            "text_raw": texts,
            "text": texts,
        }
    )
    sentences = pd.DataFrame(
        {
            "transcript_id": EXAMPLES_TRANSCRIPT,
            "turn_id": np.arange(n, dtype="int64"),
            "sentence_id": np.zeros(n, dtype="int64"),
            "start_char": np.zeros(n, dtype="int64"),
            "end_char": np.array([len(t) for t in texts], dtype="int64"),
            "text": texts,
        }
    )
    units = prepare_units(turns, sentences, nlp=nlp, codebook=codebook, params=params, cache=cache)
    units.frame["example_code"] = [
        str(examples["code_id"].iloc[int(k)]) for k in units.frame["turn_id"]
    ]
    return units


def example_labels(units: Units, codes: Sequence[str]) -> Labels:
    """Labels of codebook examples: each example is known to carry its own code, and nothing is
    known of the other codes.

    RETURNS (Labels): in the order of `codes`.
    """
    column = {c: j for j, c in enumerate(codes)}
    y = np.zeros((len(units), len(codes)), dtype=bool)
    for i, code in enumerate(units.frame.get("example_code", pd.Series([], dtype=object))):
        if code in column:
            y[i, column[code]] = True
    return Labels(codes=list(codes), y=y, known=y.copy())
