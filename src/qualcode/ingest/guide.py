"""The interview guide (config/interview_guide.yml): its sections and questions, and the section
of a turn from the latest interviewer question that matches one of them (fuzzy).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from rapidfuzz import fuzz, utils

from qualcode.config import load_yaml
from qualcode.errors import QualcodeInputError

log = logging.getLogger(__name__)


def load_guide(path: Path | None) -> list[tuple[str, str]]:
    """The interview guide: (section id, question) pairs in order. No file, no sections.

    RETURNS (list[tuple[str, str]]): the questions with their sections.
    """
    if path is None or not Path(path).exists():
        return []
    data, _root = load_yaml(Path(path).read_text(encoding="utf-8"), path=path)
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise QualcodeInputError("expected a mapping with a 'sections' list", path=path)
    unknown = set(data) - {"sections", "version", "title"}
    if unknown:
        raise QualcodeInputError(
            f"unknown key {sorted(unknown)[0]!r}; expected sections", path=path
        )
    pairs = []
    for i, section in enumerate(data["sections"]):
        where = f"sections[{i}]"
        if not isinstance(section, dict) or not isinstance(section.get("id"), str):
            raise QualcodeInputError("expected a mapping with an 'id'", path=path, element=where)
        extra = set(section) - {"id", "label", "questions"}
        if extra:
            raise QualcodeInputError(
                f"unknown key {sorted(extra)[0]!r}; expected id, label, questions",
                path=path,
                element=where,
            )
        questions = section.get("questions")
        if not isinstance(questions, list) or not all(
            isinstance(q, str) and q.strip() for q in questions
        ):
            raise QualcodeInputError(
                "expected 'questions': a list of texts", path=path, element=where
            )
        pairs.extend((section["id"], q.strip()) for q in questions)
    return pairs


def match_section(text: str, questions: list[tuple[str, str]], threshold: int) -> str | None:
    """The guide section whose question best matches a question asked in `text`.

    Each sentence of `text` that ends with ``?`` is compared with each guide question, from each
    clause on (``So, looking ahead, where is this going?`` is also ``where is this going?``),
    by rapidfuzz ratio on normalised text; the best score must reach `threshold`.
    RETURNS (str | None): the section id.
    """
    if not questions:
        return None
    guide = [(section, utils.default_process(question)) for section, question in questions]
    best, best_score = None, 0.0
    for sentence in re.findall(r"[^.!?]*\?", text):
        clauses = re.split(r"(?<=[,;:])\s+", sentence.strip())
        for i in range(len(clauses)):
            asked = utils.default_process(" ".join(clauses[i:]))
            if len(asked) < 4:
                continue
            for section, question in guide:
                score = fuzz.ratio(question, asked)
                if score > best_score:
                    best, best_score = section, score
    return best if best_score >= threshold else None
