"""The active review loop: which sentences a person should label next so that the learned coder
learns most from them (`qualcode review next`).

A sentence is worth labelling when the coder is unsure of it: its margin on a code is how far
the probability lies from the code's threshold, as a share of the room on that side (|p - t| / t
below the threshold, |p - t| / (1 - t) above it), and its uncertainty is its smallest margin
over the codes the coder learned. A batch is spread over transcripts (round-robin, at most
`per_transcript` sentences from one transcript) and over codes (within a transcript, a sentence
whose least certain code the batch holds fewer times comes first, then the least certain
sentence). Sentences a person decided in a review, or in a transcript a person coded in full,
are never offered.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from qualcode.learned.features import Units, rule_matrix
from qualcode.learned.train import FittedCoder

NEXT_COLUMNS = [
    "decision", "rank", "code_id", "proposed", "margin", "score", "threshold", "rules", "text",
    "question", "transcript_id", "turn_id", "sentence_id", "model_id", "codebook_version",
]  # fmt: skip
SentenceKey = tuple[str, int, int]


def margins(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How sure the coder is of each code of each unit, 0 (at the threshold) to 1.

    RETURNS (ndarray): [n_units, n_codes], |p - t| / t below the threshold, |p - t| / (1 - t)
        at or above it.
    """
    t = np.clip(np.asarray(thresholds, dtype=float)[None, :], 1e-9, 1 - 1e-9)
    room = np.where(probs >= t, 1 - t, t)
    return np.clip(np.abs(probs - t) / room, 0.0, 1.0)


def pick_sentences(
    candidates: pd.DataFrame, n: int, *, per_transcript: int | None = None
) -> pd.DataFrame:
    """Choose up to n sentences, the least certain first, spread over transcripts and codes.

    candidates: one row per sentence with transcript_id, turn_id, sentence_id, uncertainty
        (the smallest margin, lower is less certain) and lead_code (the code of that margin).
    per_transcript: at most this many sentences from one transcript (no limit when None).
    RETURNS (DataFrame): the chosen rows in the order chosen.
    """
    if n <= 0 or candidates.empty:
        return candidates.iloc[:0]
    ordered = candidates.sort_values(
        ["uncertainty", "transcript_id", "turn_id", "sentence_id"], kind="stable"
    )
    queues = {t: list(rows.index) for t, rows in ordered.groupby("transcript_id", sort=False)}
    # transcripts in the order of their least certain sentence
    order = list(queues)
    taken: dict[str, int] = dict.fromkeys(order, 0)
    per_code: Counter[str] = Counter()
    chosen: list[int] = []
    while len(chosen) < n:
        progressed = False
        for transcript in order:
            queue = queues[transcript]
            if len(chosen) >= n or not queue:
                continue
            if per_transcript is not None and taken[transcript] >= per_transcript:
                continue
            # the first sentence of the least represented lead code (the queue is sorted)
            best = min(
                range(len(queue)),
                key=lambda i: (per_code[ordered.at[queue[i], "lead_code"]], i),
            )
            index = queue.pop(best)
            chosen.append(index)
            taken[transcript] += 1
            per_code[ordered.at[index, "lead_code"]] += 1
            progressed = True
        if not progressed:
            break
    return ordered.loc[chosen]


def next_candidates(
    units: Units,
    probs: np.ndarray,
    *,
    coder: FittedCoder,
    model_id: str,
    codebook_version: int | None,
    excluded: set[SentenceKey],
    n: int = 30,
    per_transcript: int | None = None,
    codes_per_sentence: int = 2,
) -> pd.DataFrame:
    """The next sentences to label, with their least certain codes to accept or reject.

    probs: the coder's probabilities of the units [n_units, n_codes].
    excluded: the (transcript, turn, sentence) never to offer (decided, or coded in full).
    codes_per_sentence: rows per sentence, its least certain codes first.
    RETURNS (DataFrame): NEXT_COLUMNS, one row per sentence and proposed code; `proposed` is
        what the coder would decide (accept: it codes the sentence), `decision` is left empty.
    """
    codes = coder.codes
    frame = units.frame
    if not codes or not len(frame):
        return pd.DataFrame(columns=NEXT_COLUMNS)
    sure = margins(probs, coder.thresholds)
    coded = coder.decide(probs)
    rules = rule_matrix(units, codes)
    keys = list(
        zip(
            frame["transcript_id"].astype(str),
            frame["turn_id"].astype(int),
            frame["sentence_id"].astype(int),
            strict=True,
        )
    )
    open_rows = np.array([key not in excluded for key in keys], dtype=bool)
    rows = np.nonzero(open_rows)[0]
    if not len(rows):
        return pd.DataFrame(columns=NEXT_COLUMNS)
    # codes in a fixed order per row: least certain first, ties by the coder's code order
    code_order = np.argsort(sure[rows], axis=1, kind="stable")
    candidates = pd.DataFrame(
        {
            "row": rows,
            "transcript_id": [keys[i][0] for i in rows],
            "turn_id": [keys[i][1] for i in rows],
            "sentence_id": [keys[i][2] for i in rows],
            "uncertainty": sure[rows, code_order[:, 0]],
            "lead_code": [codes[j] for j in code_order[:, 0]],
        }
    )
    position = {int(r): k for k, r in enumerate(rows)}
    picked = pick_sentences(candidates, n, per_transcript=per_transcript)
    out = []
    for rank, row in enumerate(picked["row"], start=1):
        for j in code_order[position[int(row)], :codes_per_sentence]:
            transcript, turn, sentence = keys[row]
            out.append(
                {
                    "decision": "",
                    "rank": rank,
                    "code_id": codes[j],
                    "proposed": "accept" if coded[row, j] else "reject",
                    "margin": round(float(sure[row, j]), 4),
                    "score": round(float(probs[row, j]), 4),
                    "threshold": float(coder.thresholds[j]),
                    "rules": "yes" if rules[row, j] else "no",
                    "text": frame.at[row, "text"],
                    "question": frame.at[row, "question_text"],
                    "transcript_id": transcript,
                    "turn_id": turn,
                    "sentence_id": sentence,
                    "model_id": model_id,
                    "codebook_version": codebook_version,
                }
            )
    return pd.DataFrame(out, columns=NEXT_COLUMNS)
