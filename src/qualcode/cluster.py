"""Past one machine: the per-transcript work of ingest and coding sent to the workers of a
`dask.distributed` cluster (`qualcode run --workers N`, or `--scheduler ADDRESS`).

What travels to the workers is text: the cleaned text of the turns to read with spaCy (ingest),
the participant sentences with the codebook and the parameters (coding); what comes back is
sentence offsets and entities, coding and quantity rows. Reading the raw files, the pseudonyms
and the key stay on the machine that runs the command, and so does writing every table.

The batches are those of `qualcode.workers.stream_batches`, so the tables are byte-identical to a
run in one process.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def dask_client(
    *, workers: int | None = None, scheduler: str | None = None, processes: bool = True
) -> Iterator[Any]:
    """A client of the cluster at `scheduler`, or of a `LocalCluster` of `workers` workers (one
    thread each) started here and closed at the end; None when neither is given.

    processes: with a LocalCluster, workers in processes of their own (False: threads of this
        process).
    RETURNS (context manager): yields the `distributed.Client`, or None.
    """
    if scheduler is None and not workers:
        yield None
        return
    from distributed import Client, LocalCluster

    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        # distributed logs its start and stop at INFO level; say them only when asked (-v)
        logging.getLogger("distributed").setLevel(logging.WARNING)

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def stream_on_cluster(
    client: Any,
    func: Callable[..., list[R]],
    batches: Iterable[list[T]],
    *,
    args: tuple = (),
    ahead: int | None = None,
) -> Iterator[tuple[list[T], list[R]]]:
    """`func(batch, *args)` for each batch on the workers of the cluster; `args` are sent to
    every worker once (scattered), not with every batch. The batches are submitted as the
    results are taken, at most `ahead` under way (default: two per worker thread), so the corpus is
    never on the cluster whole.

    RETURNS (iterator): each batch and its result, in the order of the batches.
    """
    shared = client.scatter(list(args), broadcast=True) if args else []
    if ahead is None:
        ahead = 2 * max(1, sum(client.nthreads().values()))
    under_way: deque[tuple[list[T], Any]] = deque()
    for batch in batches:
        under_way.append((batch, client.submit(func, batch, *shared, pure=False)))
        if len(under_way) >= ahead:
            done, future = under_way.popleft()
            yield done, future.result()
    while under_way:
        done, future = under_way.popleft()
        yield done, future.result()
