"""How many processes ingest and coding run spaCy in (`processes:` in config/params.yml).

spaCy spreads the texts over worker processes itself (`nlp.pipe(n_process=...)`), in batches of
the same size as in one process and in order, so the tables are byte-identical whatever the
number of processes. Starting the workers costs about a second, so `auto` uses them only when
there are enough words to read to pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# `auto` starts worker processes from this many words to read (about 25 interviews of 400 words
# of participant talk); below it one process is faster (see benchmarks/results.md).
AUTO_MIN_WORDS = 10_000


def available_cores() -> int:
    """RETURNS (int): the cores this process may run on (its CPU affinity where known)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def n_words(texts: Iterable[str]) -> int:
    """RETURNS (int): the words (runs of non-space) in the texts."""
    return sum(len(text.split()) for text in texts)


def processes_for(setting: int | str, words: int, *, min_words: int = AUTO_MIN_WORDS) -> int:
    """The number of processes to read `words` words with.

    setting: `processes` of config/params.yml: a number (used as it is), or "auto": every
        available core when `words` reaches `min_words`, one process below that.
    RETURNS (int): 1 or more.
    """
    if setting != "auto":
        return max(1, int(setting))
    return available_cores() if words >= min_words else 1
