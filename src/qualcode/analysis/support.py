"""How much evidence a claim needs before the report states it as a headline or a "most".

A claim resting on fewer than MIN_SENTENCES coded sentences or MIN_PARTICIPANTS participants is
reported with its counts, never as the headline.
"""

from __future__ import annotations

MIN_SENTENCES = 3
MIN_PARTICIPANTS = 2


def is_supported(n_sentences: int, n_participants: int) -> bool:
    """RETURNS (bool): whether a claim has at least MIN_SENTENCES sentences from at least
    MIN_PARTICIPANTS participants."""
    return int(n_sentences) >= MIN_SENTENCES and int(n_participants) >= MIN_PARTICIPANTS


def support_rule() -> str:
    """RETURNS (str): the rule in words, for the notebooks' narrative."""
    return f"at least {MIN_SENTENCES} sentences from at least {MIN_PARTICIPANTS} participants"
