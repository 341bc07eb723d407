"""How ingest and coding spread their spaCy work: in batches, over the `processes:` of
config/params.yml (a `concurrent.futures` process pool) or the workers of a dask cluster
(`qualcode.cluster`).

The texts are cut into the batches one process gives spaCy (`nlp.pipe` batches of the same size,
in the same order); each batch is read where it is sent, which returns plain rows (sentence
offsets and entities, coding and quantity rows), never spaCy docs; the results come back in the
order of the batches. So the tables are byte-identical whatever the number of processes. The
batches are drawn from the corpus as they go out, a few ahead of the one whose result is used,
so memory grows with the batch, not with the corpus (`stream_batches`).
Starting the processes costs about a second, so `auto` uses them only when there are enough
words to read to pay for it.
"""

from __future__ import annotations

import functools
import gc
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def frozen_heap(func: Callable[..., R]) -> Callable[..., R]:
    """Run `func` with the objects alive when it starts left out of the garbage collector's
    passes (`gc.freeze`), and given back to them when it ends. A run that allocates much (spaCy's
    docs, the rows) then no longer scans, pass after pass, what was there before it: the models,
    the tables of a caller, the pipeline of a notebook. A full pass over such a heap costs a
    tenth of a second or more, the whole of coding one added transcript.
    """

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> R:
        gc.freeze()
        try:
            return func(*args, **kwargs)
        finally:
            gc.unfreeze()

    return run


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


def batched(items: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    """RETURNS (iterator): lists of `batch_size` consecutive items (the last may hold fewer)."""
    it = iter(items)
    while batch := list(itertools.islice(it, batch_size)):
        yield batch


def stream_batches(
    func: Callable[..., list[R]],
    items: Iterable[T],
    *,
    batch_size: int,
    args: tuple[Any, ...] = (),
    processes: int | str = 1,
    client: Any = None,
    words: Callable[[list[T]], int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[list[T], list[R]]]:
    """`func(batch, *args)` for each batch of `batch_size` consecutive items, in this process,
    in a pool of processes, or on the workers of a dask `client`, yielded batch by batch in the
    order of the batches. The items are drawn as the batches go out, a few batches ahead of
    the one yielded, so a corpus is never held whole: memory grows with the batch, not with
    the number of items. `func` must be a module-level function; `args` are sent once per
    process or worker, not with every batch.

    processes: the `processes` setting (`processes_for`): a number, or "auto" (every core once
        the batches drawn hold `AUTO_MIN_WORDS` words, counted by `words`). Never more
        processes than batches: one when there is only one batch.
    progress: called with the number of items of each batch done.
    YIELDS (tuple): each batch and its result.
    """
    stream = batched(items, batch_size)
    # look ahead far enough to decide how many processes to start
    head: list[list[T]] = []
    seen = 0
    enough = 2 if processes == "auto" else max(2, int(processes))
    more = False  # whether the look-ahead stopped before the stream ran out
    for batch in stream:
        head.append(batch)
        seen += words(batch) if words is not None else 0
        if len(head) >= enough and (processes != "auto" or seen >= AUTO_MIN_WORDS):
            more = True
            break
    batches = itertools.chain(head, stream)
    n = processes_for(processes, seen)
    if not more:
        n = min(n, len(head))
    if client is not None:
        from qualcode.cluster import stream_on_cluster

        parts = stream_on_cluster(client, func, batches, args=args)
    elif n > 1:
        parts = _stream_on_pool(func, batches, args=args, processes=n)
    else:
        parts = ((batch, func(batch, *args)) for batch in batches)
    for batch, part in parts:
        if progress is not None:
            progress(len(batch))
        yield batch, part


def _stream_on_pool(
    func: Callable[..., list[R]], batches: Iterable[list[T]], *, args: tuple, processes: int
) -> Iterator[tuple[list[T], list[R]]]:
    """RETURNS (iterator): each batch and `func(batch, *args)`, run in a pool of `processes`
    processes with at most two batches per process under way."""
    with ProcessPoolExecutor(processes, initializer=_keep_args, initargs=(args,)) as pool:
        under_way: deque[tuple[list[T], Future]] = deque()
        for batch in batches:
            under_way.append((batch, pool.submit(_call, func, batch)))
            if len(under_way) >= 2 * processes:
                done, future = under_way.popleft()
                yield done, future.result()
        while under_way:
            done, future = under_way.popleft()
            yield done, future.result()
