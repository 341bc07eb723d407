"""Speakers and roles of a transcript's labels: participants.csv first (the participant's and the
interviewer's labels, matched fuzzily), the question heuristic otherwise (the speaker who asks
most questions and talks least is the interviewer; the decision is logged).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rapidfuzz import fuzz, utils

from qualcode.ingest.cleaning import words

log = logging.getLogger(__name__)


_INTERVIEWER_LABEL = re.compile(
    r"^(?:interviewer|moderator|facilitator|researcher|host|q|i)(?:[ _-]?\d+)?$", re.I
)


_PARTICIPANT_LABEL = re.compile(
    r"^(?:participant|respondent|interviewee|guest|a|r|p)(?:[ _-]?\d+)?$", re.I
)


def _closeness(label: str, name: str, threshold: int) -> float:
    """How surely a speaker label is a name of participants.csv: 3 the same words (or some of
    them: "Daniel" for "Daniel Okafor"), 1 to 2 a near spelling (by its similarity), 0 not it."""
    a, b = utils.default_process(label), utils.default_process(name)
    if not a or not b:
        return 0.0
    if a == b or set(a.split()) <= set(b.split()):
        return 3.0
    ratio = fuzz.ratio(a, b)
    return 1.0 + ratio / 100 if ratio >= threshold else 0.0


def assign_speakers(
    transcript_id: str,
    turns: list[dict[str, Any]],
    row: dict[str, str] | None,
    *,
    threshold: int = 85,
) -> tuple[dict[str, tuple[str | None, str]], list[str]]:
    """Speaker and role of each label: participants.csv first, the question heuristic otherwise.

    RETURNS (tuple): label -> (speaker or None for a pseudonym to assign, role), and warnings.
    """
    labels = list(dict.fromkeys(t["label"] for t in turns))
    warnings: list[str] = []
    interviewers = [
        n.strip() for n in (row or {}).get("interviewer_label", "").split(";") if n.strip()
    ]
    participant = (row or {}).get("participant_label", "")
    pseudonym = (row or {}).get("pseudonym") or None
    result: dict[str, tuple[str | None, str]] = {}
    found_interviewer: list[str] = []
    for label in labels:
        # the closer of the two roles wins: "Interviewee" is near "Interviewer" in spelling, but
        # it is the participant when participants.csv or the generic labels say so
        scores = [_closeness(label, name, threshold) for name in interviewers]
        hit = max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else None
        as_interviewer = max(scores, default=0.0)
        if as_interviewer < 2 and _INTERVIEWER_LABEL.match(label):
            as_interviewer = 2.0
        as_participant = _closeness(label, participant, threshold) if participant else 0.0
        if as_participant < 2 and _PARTICIPANT_LABEL.match(label):
            as_participant = 2.0
        if as_interviewer and as_interviewer >= as_participant:
            found_interviewer.append(label)
            index = hit if hit is not None and scores[hit] else 0
            result[label] = (f"INTERVIEWER_{index + 1}", "interviewer")
        elif as_participant:
            result[label] = (pseudonym, "participant")
        else:
            result[label] = (None, "other")
    if found_interviewer and not any(role == "participant" for _, role in result.values()):
        others = [label for label in labels if result[label][1] == "other"]
        if len(others) == 1:
            # "Interviewer" and one other speaker: the other speaker is the participant
            result[others[0]] = (pseudonym, "participant")
            message = (
                f"{transcript_id}: {others[0]!r} taken as the participant (the one speaker "
                "besides the interviewer)"
            )
            if participant:
                warnings.append(
                    f"{message}; no speaker label matches {participant!r} of participants.csv"
                )
            else:
                log.info("%s", message)
    if not found_interviewer:
        stats = {label: [0, 0] for label in labels}  # questions, words
        for turn in turns:
            stats[turn["label"]][0] += turn["text"].count("?")
            stats[turn["label"]][1] += len(words(turn["text"]))
        if len(labels) >= 2:
            n_q = sum(s[0] for s in stats.values()) or 1
            n_w = sum(s[1] for s in stats.values()) or 1
            score = {label: s[0] / n_q - s[1] / n_w for label, s in stats.items()}
            chosen = max(labels, key=lambda label: (score[label], -labels.index(label)))
            log.info(
                "%s: %r is the interviewer (asks %d of %d questions, says %d of %d words)",
                transcript_id, chosen, stats[chosen][0], n_q, stats[chosen][1], n_w,
            )  # fmt: skip
            if interviewers:
                warnings.append(
                    f"{transcript_id}: no speaker label matches the interviewer "
                    f"{'; '.join(interviewers)!r} of participants.csv; "
                    f"chose {chosen!r} (most questions, fewest words)"
                )
            found_interviewer = [chosen]
            result[chosen] = ("INTERVIEWER_1", "interviewer")
            others = [label for label in labels if label != chosen]
            known = [label for label in others if result[label][1] == "participant"]
            for label in others:
                if not known:
                    result[label] = (
                        pseudonym if len(others) == 1 else result[label][0],
                        "participant",
                    )
    if len({result[label][0] for label in found_interviewer}) == 1:
        for label in found_interviewer:
            result[label] = ("Interviewer", "interviewer")
    if not any(role == "participant" for _, role in result.values()):
        warnings.append(
            f"{transcript_id}: no speaker is the participant (labels: "
            f"{', '.join(map(repr, labels[:5]))}); their turns get the role 'other' and are not "
            "coded; add the participant's label to participants.csv"
        )
    elif participant and pseudonym and not any(r[0] == pseudonym for r in result.values()):
        warnings.append(
            f"{transcript_id}: no speaker label matches the participant {participant!r} "
            "of participants.csv"
        )
    return result, warnings
