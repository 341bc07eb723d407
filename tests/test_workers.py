"""Ingest and coding in worker processes write the same bytes as in one process."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from small_study import FIXTURE

from qualcode.coding.rules import code_corpus
from qualcode.config import load_params
from qualcode.ingest.corpus import ingest_corpus
from qualcode.workers import processes_for, stream_batches

TABLES = (
    "transcripts.parquet",
    "turns.parquet",
    "sentences.parquet",
    "deid_summary.parquet",
    "deid_report.parquet",
    "codings.parquet",
    "quantities.parquet",
)


def _run(root: Path, processes: int) -> Path:
    params = dataclasses.replace(
        load_params(FIXTURE / "config" / "params.yml"), processes=processes
    )
    out = root / "processed"
    ingest_corpus(
        FIXTURE / "raw",
        out,
        params=params,
        keys_dir=root / "keys",
        guide_path=FIXTURE / "config" / "interview_guide.yml",
        progress=False,
    )
    code_corpus(out, FIXTURE / "config" / "codebook.yml", params=params)
    return out


def test_two_processes_write_the_tables_of_one(tmp_path: Path) -> None:
    one = _run(tmp_path / "one", 1)
    two = _run(tmp_path / "two", 2)
    for name in TABLES:
        assert (two / name).read_bytes() == (one / name).read_bytes(), name
    assert (tmp_path / "two" / "keys" / "pseudonym_key.csv").read_bytes() == (
        tmp_path / "one" / "keys" / "pseudonym_key.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    ("setting", "words", "expected"),
    [(1, 10**6, 1), (3, 10, 3), ("auto", 10, 1)],
)
def test_processes_setting(setting: int | str, words: int, expected: int) -> None:
    assert processes_for(setting, words) == expected


def _double(batch: list[int]) -> list[list[int]]:
    return [[2 * x for x in batch]]


@pytest.mark.parametrize(("items", "pool"), [(range(8), 4), (range(4), 2), (range(2), None)])
def test_never_more_processes_than_batches(
    monkeypatch: pytest.MonkeyPatch, items: range, pool: int | None
) -> None:
    """`processes: 4` starts 4 processes for 4 batches or more, 2 for 2, none for one."""
    started = []

    def in_this_process(func, batches, *, args, processes):
        started.append(processes)
        return ((batch, func(batch, *args)) for batch in batches)

    monkeypatch.setattr("qualcode.workers._stream_on_pool", in_this_process)
    out = list(stream_batches(_double, items, batch_size=2, processes=4))
    assert [part for _batch, part in out] == [[[2 * x for x in batch]] for batch, _ in out]
    assert [x for batch, _ in out for x in batch] == list(items)
    assert started == ([] if pool is None else [pool])


def test_auto_uses_the_available_cores_on_a_big_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qualcode.workers.available_cores", lambda: 2)
    assert processes_for("auto", 10**6) == 2


def test_a_dask_cluster_writes_the_tables_of_one_process(tmp_path: Path) -> None:
    from qualcode.cluster import dask_client

    params = dataclasses.replace(load_params(FIXTURE / "config" / "params.yml"), processes=1)
    one = _run(tmp_path / "one", 1)
    out = tmp_path / "cluster" / "processed"
    with dask_client(workers=2, processes=False) as client:
        ingest_corpus(
            FIXTURE / "raw",
            out,
            params=params,
            keys_dir=tmp_path / "cluster" / "keys",
            guide_path=FIXTURE / "config" / "interview_guide.yml",
            progress=False,
            client=client,
        )
        code_corpus(out, FIXTURE / "config" / "codebook.yml", params=params, client=client)
        assert len(client.scheduler_info()["workers"]) == 2
    for name in TABLES:
        assert (out / name).read_bytes() == (one / name).read_bytes(), name
    assert (tmp_path / "cluster" / "keys" / "pseudonym_key.csv").read_bytes() == (
        tmp_path / "one" / "keys" / "pseudonym_key.csv"
    ).read_bytes()


def test_run_takes_workers_or_a_scheduler_not_both(tmp_path: Path) -> None:
    from cli_helper import run_cli

    result = run_cli(
        "run", "--raw", FIXTURE / "raw", "--processed", tmp_path / "processed",
        "--workers", 2, "--scheduler", "tcp://127.0.0.1:8786", exit_code=2,
    )  # fmt: skip
    assert "not both" in result.output
    assert not (tmp_path / "processed").exists()


def test_a_frozen_heap_run_gives_the_objects_back_to_the_collector() -> None:
    """`frozen_heap` leaves what was alive out of the collector's passes while the function runs,
    and gives it back when it ends, by an error too."""
    import gc

    from qualcode.workers import frozen_heap

    seen = []

    @frozen_heap
    def run(fail: bool) -> int:
        seen.append(gc.get_freeze_count())
        if fail:
            raise ValueError("stop")
        return 7

    assert run(False) == 7
    with pytest.raises(ValueError, match="stop"):
        run(True)
    assert all(count > 0 for count in seen) and gc.get_freeze_count() == 0
