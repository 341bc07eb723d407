"""How ingest and coding spread their spaCy work: in batches, over the `processes:` of
config/params.yml (a `concurrent.futures` process pool) or the workers of a dask cluster
(`qualcode.cluster`).

The texts are cut into the batches one process gives spaCy (`nlp.pipe` batches of the same size,
in the same order); each batch is read where it is sent, which returns plain rows (sentence
offsets and entities, coding and quantity rows), never spaCy docs; the results are joined in the
order of the batches. So the tables are byte-identical whatever the number of processes.
Starting the processes costs about a second, so `auto` uses them only when there are enough
words to read to pay for it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# `auto` starts worker processes from this many words to read (about 25 interviews of 400 words);
# below it one process is faster (see benchmarks/results.md).
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


# What every batch of a process pool is called with, sent once per process.
_ARGS: tuple[Any, ...] = ()


def _keep_args(args: tuple[Any, ...]) -> None:
    global _ARGS
    _ARGS = args


def _call(func: Callable[..., list[R]], batch: list[T]) -> list[R]:
    return func(batch, *_ARGS)


def map_batches(
    func: Callable[..., list[R]],
    items: Sequence[T],
    *,
    batch_size: int,
    args: tuple[Any, ...] = (),
    processes: int = 1,
    client: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """`func(batch, *args)` for each batch of `batch_size` consecutive items, in this process,
    in a pool of `processes` processes, or on the workers of a dask `client`; each call returns
    a list, and the lists are joined in the order of the batches. `func` must be a module-level
    function; `args` are sent once per process or worker, not with every batch.

    progress: called with the number of items of each batch done.
    RETURNS (list): the joined results.
    """
    batches = [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
    if client is not None:
        from qualcode.cluster import map_on_cluster

        return _join(map_on_cluster(client, func, batches, args=args), batches, progress)
    if processes > 1 and len(batches) > 1:
        workers = min(processes, len(batches))
        with ProcessPoolExecutor(workers, initializer=_keep_args, initargs=(args,)) as pool:
            return _join(pool.map(_call, itertools.repeat(func), batches), batches, progress)
    return _join((func(batch, *args) for batch in batches), batches, progress)


def _join(
    parts: Iterable[list[R]], batches: list[list[T]], progress: Callable[[int], None] | None
) -> list[R]:
    out: list[R] = []
    for part, batch in zip(parts, batches, strict=True):
        out.extend(part)
        if progress is not None:
            progress(len(batch))
    return out
