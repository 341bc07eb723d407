"""Ingest and coding stream the corpus: batches of transcripts in, rows appended to the tables,
the tables renamed into place at the end. The tables do not depend on the batch size, and a run
that fails half-way leaves the last run's tables as they were."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest
from small_study import FIXTURE

from qualcode import schema
from qualcode.coding import rules
from qualcode.coding.rules import code_corpus
from qualcode.config import load_params
from qualcode.ingest.corpus import ingest_corpus
from qualcode.workers import stream_batches

INGEST_TABLES = ("transcripts", "turns", "sentences", "deid_summary", "deid_report")
CODING_TABLES = ("codings", "quantities")
CODEBOOK = FIXTURE / "config" / "codebook.yml"


def _params(**changes: object):
    return dataclasses.replace(load_params(FIXTURE / "config" / "params.yml"), **changes)


def _raw(root: Path) -> Path:
    raw = root / "raw"
    shutil.copytree(FIXTURE / "raw", raw)
    return raw


def _ingest(raw: Path, root: Path, **options: object) -> Path:
    out = root / "processed"
    ingest_corpus(
        raw,
        out,
        params=options.pop("params", _params(processes=1)),
        keys_dir=root / "keys",
        guide_path=FIXTURE / "config" / "interview_guide.yml",
        progress=False,
        **options,
    )
    return out


def _tables(out: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    return {name: schema.table_path(out, name).read_bytes() for name in names}


def test_a_tiny_batch_writes_the_tables_of_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small row groups, so that the tables of both runs span several of them
    monkeypatch.setattr(schema, "ROW_GROUP_ROWS", 7)
    raw = _raw(tmp_path)
    whole = _ingest(raw, tmp_path / "whole", batch_transcripts=1000)
    code_corpus(whole, CODEBOOK, params=_params(processes=1), batch_transcripts=1000)
    tiny = _ingest(raw, tmp_path / "tiny", batch_transcripts=1)
    code_corpus(tiny, CODEBOOK, params=_params(processes=1), batch_size=3, batch_transcripts=1)

    names = INGEST_TABLES + CODING_TABLES
    assert _tables(tiny, names) == _tables(whole, names)
    for name in names:
        expected = schema.read_table(whole, name)
        assert len(expected) > 0 or name == "deid_summary"
        pd.testing.assert_frame_equal(schema.read_table(tiny, name), expected)
    sentences = schema.read_table(tiny, "sentences")
    assert sentences["transcript_id"].nunique() == 3 and len(sentences) > 7
    # the turns table is cut into row groups of 7 rows wherever the batches of transcripts end
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(schema.table_path(tiny, "turns")).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups - 1)] == [7] * (
        meta.num_row_groups - 1
    )


def test_tables_of_rows_written_whole_and_in_parts_are_the_same(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "transcript_id": [f"t{i // 5:02d}" for i in range(40)],
            "turn_id": list(range(40)),
            "section": ["past", None] * 20,
            "start_s": [1.5, None] * 20,
        }
    )
    dtypes = {"turn_id": "int64", "start_s": "float64"}
    schema.write_table(frame, tmp_path / "whole.parquet")
    with schema.TableWriter(tmp_path / "parts.parquet", list(frame.columns), dtypes) as out:
        for start in range(0, 40, 3):
            out.write(frame.iloc[start : start + 3])
        out.commit()
    assert (tmp_path / "parts.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()

    # read back transcript by transcript, and from a table out of order
    shuffled = frame.sample(frac=1, random_state=3)
    schema.write_table(shuffled, tmp_path / "shuffled.parquet")
    for name in ("parts", "shuffled"):
        reader = schema.TranscriptReader(tmp_path / f"{name}.parquet", batch_rows=4)
        assert reader.transcript_ids() == [f"t{i:02d}" for i in range(8)]
        first = reader.until("t02")
        assert set(first["transcript_id"]) == {"t00", "t01", "t02"} and len(first) == 15
        assert len(reader.until("t02")) == 0
        rest = reader.rest()
        assert set(rest["transcript_id"]) == {f"t{i:02d}" for i in range(3, 8)}
        if name == "parts":
            pd.testing.assert_frame_equal(
                pd.concat([first, rest], ignore_index=True),
                pd.read_parquet(tmp_path / "whole.parquet"),
            )


def test_batches_are_drawn_as_they_go_out() -> None:
    drawn = []

    def items():
        for i in range(100):
            drawn.append(i)
            yield i

    stream = stream_batches(_double, items(), batch_size=10, processes=1)
    batch, result = next(stream)
    assert batch == list(range(10)) and result == [2 * i for i in range(10)]
    assert len(drawn) <= 21  # the batches to decide on processes, and the next item at most
    rest = [x for _batch, part in stream for x in part]
    assert rest == [2 * i for i in range(10, 100)]


def _double(batch: list[int]) -> list[int]:
    return [2 * i for i in batch]


def test_an_incremental_run_keeps_the_rows_of_unchanged_transcripts(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    (raw / "interview_05.srt").rename(tmp_path / "interview_05.srt")
    out = _ingest(raw, tmp_path / "run", batch_transcripts=1)
    params = _params(processes=1)
    code_corpus(out, CODEBOOK, params=params, batch_transcripts=1)

    shutil.move(tmp_path / "interview_05.srt", raw / "interview_05.srt")
    first = raw / "interview_01.txt"
    first.write_text(first.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    _ingest(raw, tmp_path / "run", batch_transcripts=1)
    again = code_corpus(out, CODEBOOK, params=params, batch_transcripts=1)
    assert again.cached == ["interview_01", "interview_02"]
    assert again.coded == ["interview_05"]

    # the same tables coded from scratch, in one part
    scratch = tmp_path / "scratch"
    shutil.copytree(out, scratch)
    (scratch / schema.CODINGS_MANIFEST_FILE).unlink()
    assert code_corpus(scratch, CODEBOOK, params=params).cached == []
    for name in CODING_TABLES:
        pd.testing.assert_frame_equal(
            schema.read_table(out, name), schema.read_table(scratch, name)
        )
    assert set(again.codings["transcript_id"]) == {"interview_01", "interview_02", "interview_05"}
    assert again.n_codings == len(again.codings) > 0


def test_an_ingest_that_fails_half_way_leaves_the_last_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _raw(tmp_path)
    out = _ingest(raw, tmp_path, batch_transcripts=1)
    before = _tables(out, INGEST_TABLES)
    key = (tmp_path / "keys" / "pseudonym_key.csv").read_bytes()

    (raw / "interview_02.txt").write_text(
        "Interviewer: What changed?\n\nParticipant: Everything, Dora Quist said.\n",
        encoding="utf-8",
    )
    (raw / "interview_07.txt").write_text(
        "Interviewer: Hello?\n\nParticipant: Hello there.\n", encoding="utf-8"
    )
    written = []
    real = schema.TableWriter.write

    def fails_on_the_third_part(writer: schema.TableWriter, frame: pd.DataFrame) -> None:
        if writer.path.name == "turns.parquet":
            written.append(len(frame))
            if len(written) == 3:
                raise RuntimeError("disk full")
        real(writer, frame)

    monkeypatch.setattr(schema.TableWriter, "write", fails_on_the_third_part)
    with pytest.raises(RuntimeError, match="disk full"):
        _ingest(raw, tmp_path, batch_transcripts=1)
    assert len(written) == 3  # two transcripts' turns were written, to a temporary file
    assert _tables(out, INGEST_TABLES) == before
    assert (tmp_path / "keys" / "pseudonym_key.csv").read_bytes() == key
    assert not list(out.glob(".*.tmp"))
    schema.check_ingest_record(out)  # the record still speaks for the tables in place

    monkeypatch.setattr(schema.TableWriter, "write", real)
    result = ingest_corpus(
        raw,
        out,
        params=_params(processes=1),
        keys_dir=tmp_path / "keys",
        guide_path=FIXTURE / "config" / "interview_guide.yml",
        progress=False,
    )
    # what the failed run read is in the cache: nothing is read again
    assert result.processed == [] and len(result.skipped) == 4
    turns = schema.read_table(out, "turns")
    assert "interview_07" in set(turns["transcript_id"])
    assert any(text.startswith("Everything") for text in turns["text"])


def test_a_coding_run_that_fails_half_way_leaves_the_last_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _raw(tmp_path)
    out = _ingest(raw, tmp_path)
    params = _params(processes=1)
    code_corpus(out, CODEBOOK, params=params)
    before = _tables(out, CODING_TABLES)
    manifest = (out / schema.CODINGS_MANIFEST_FILE).read_bytes()

    real = rules.code_batch
    calls = []

    def fails_on_the_third_batch(*args: object):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args)

    monkeypatch.setattr(rules, "code_batch", fails_on_the_third_batch)
    # other negation cues: every transcript is coded again
    changed = dataclasses.replace(
        params, coding=dataclasses.replace(params.coding, negation_cues=("not", "never"))
    )
    with pytest.raises(RuntimeError, match="killed"):
        code_corpus(out, CODEBOOK, params=changed, batch_size=8, batch_transcripts=1)
    assert len(calls) == 3
    assert _tables(out, CODING_TABLES) == before
    assert (out / schema.CODINGS_MANIFEST_FILE).read_bytes() == manifest
    assert not list(out.glob(".*.tmp"))
    monkeypatch.setattr(rules, "code_batch", real)
    assert code_corpus(out, CODEBOOK, params=params).cached == sorted(
        ["interview_01", "interview_02", "interview_05"]
    )


def test_a_bad_file_after_good_ones_writes_no_table(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    shutil.copy(FIXTURE.parent / "transcripts" / "bad" / "truncated.vtt", raw / "zz_truncated.vtt")
    with pytest.raises(Exception, match="zz_truncated.vtt"):
        _ingest(raw, tmp_path)
    assert not (tmp_path / "processed").exists() or not list((tmp_path / "processed").iterdir())
    assert not (tmp_path / "keys" / "pseudonym_key.csv").exists()
    # what was read before the bad file is in the cache, for the next run
    (raw / "zz_truncated.vtt").unlink()
    result = ingest_corpus(
        raw, tmp_path / "processed", params=_params(processes=1), keys_dir=tmp_path / "keys"
    )
    assert len(result.skipped) == 3 and result.processed == []
