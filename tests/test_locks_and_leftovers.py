"""Runs at once, runs cut short, and outputs aimed at the raw folder: one pseudonym per person,
no coder's rows lost, an ingest cut short detected and redone, leftovers swept, raw read-only."""

from __future__ import annotations

import multiprocessing
import re
import time
from pathlib import Path

import pytest
from cli_helper import run_cli
from fixtures.refi.corpus import write_codebook, write_corpus
from test_ingest import make_raw, tree_digest

from qualcode import pipeline, schema
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.ingest.corpus import ingest_corpus, locked_key
from qualcode.ingest.deid import KEY_FILE, PseudonymKey

FORK = multiprocessing.get_context("fork")
# the test codebook leaves some of spaCy's rulers without patterns
pytestmark = pytest.mark.filterwarnings("ignore:.*W036")


def _assign_names(keys_dir: Path, names: list[str], barrier: object) -> None:
    barrier.wait()
    for name in names:
        with locked_key(keys_dir) as key:
            key.assign(name, "PERSON", source="test")
            time.sleep(0.02)  # a slow run: the other process tries to load the key meanwhile
            key.save(keys_dir / KEY_FILE)


def test_two_runs_at_once_never_give_one_pseudonym_to_two_people(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    groups = [[f"Alice Number{i}" for i in range(6)], [f"Bruno Number{i}" for i in range(6)]]
    barrier = FORK.Barrier(len(groups))
    workers = [FORK.Process(target=_assign_names, args=(keys, g, barrier)) for g in groups]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    rows = PseudonymKey.load(keys / KEY_FILE).originals()
    originals_of: dict[str, set[str]] = {}
    for original, _kind, pseudonym in rows:
        originals_of.setdefault(pseudonym, set()).add(original)
    assert all(len(found) == 1 for found in originals_of.values()), originals_of
    assert {o for o, _, _ in rows} == {n for g in groups for n in g}
    assert (keys / f"{KEY_FILE}.lock").stat().st_mode & 0o777 == schema.PRIVATE_FILE_MODE


def _import(csv: Path, processed: Path, codebook: Path, coder: str, barrier: object) -> None:
    barrier.wait()
    run_cli("import-coding", csv, "--processed", processed, "--coder", coder,
            "--codebook", codebook)  # fmt: skip


def test_two_imports_at_once_keep_both_coders_rows(tmp_path: Path) -> None:
    processed, raw = tmp_path / "processed", tmp_path / "raw"
    processed.mkdir()
    write_corpus(processed, raw)
    codebook = write_codebook(tmp_path / "codebook.yml")
    files = {}
    for coder in ("anna", "ben"):
        files[coder] = tmp_path / f"{coder}.csv"
        files[coder].write_text(
            "transcript_id,code_id,quote\ninterview_a,BACKGROUND,I did my undergrad in physics.\n",
            encoding="utf-8",
        )
    barrier = FORK.Barrier(2)
    workers = [
        FORK.Process(target=_import, args=(path, processed, codebook, coder, barrier))
        for coder, path in files.items()
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    human = schema.read_table(processed, "human_codings")
    assert set(human["coder"]) == {"human:anna", "human:ben"}


def test_an_ingest_cut_short_is_detected_and_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_raw(tmp_path)
    raw, processed, keys = tmp_path / "raw", tmp_path / "processed", tmp_path / "keys"
    codebook = write_codebook(tmp_path / "codebook.yml")
    (tmp_path / "params.yml").write_text("{}\n", encoding="utf-8")
    steps = pipeline.study_steps(
        raw=raw, processed=processed, out=tmp_path / "reports", codebook=codebook,
        params_path=tmp_path / "params.yml", notebooks=tmp_path,
    )[:2]  # fmt: skip
    state = processed / schema.PIPELINE_STATE_FILE
    pipeline.run_steps(steps, state_path=state)
    whole = schema.read_table(processed, "turns")

    # the next ingest is killed after its first table (a transcript changed meanwhile)
    (raw / "interview_a.txt").write_text(
        "Interviewer: What changed?\n\nParticipant: Everything changed.\n", encoding="utf-8"
    )
    real = schema.TableWriter.commit
    calls = []

    def dies_after_one_table(writer: schema.TableWriter) -> Path:
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(writer.path)
        return real(writer)

    monkeypatch.setattr(schema.TableWriter, "commit", dies_after_one_table)
    with pytest.raises(KeyboardInterrupt):
        ingest_corpus(raw, processed, params=Params(), keys_dir=keys, progress=False)
    monkeypatch.setattr(schema.TableWriter, "commit", real)
    assert not list(processed.glob(".*.tmp"))  # the tables not put in place are given up

    done = run_cli("code", "--processed", processed, "--codebook", codebook, exit_code=1)
    assert "the last ingest did not finish" in done.output
    assert "ingest_record.json" in done.output and "Traceback" not in done.output
    # the raw folder is as the killed ingest saw it: same fingerprint, but the step is run again
    outcomes = pipeline.run_steps(steps, state_path=state)
    assert not outcomes[0].skipped
    schema.check_ingest_record(processed)
    turns = schema.read_table(processed, "turns")
    assert "Everything changed." in set(turns["text"]) and len(turns) != len(whole)
    run_cli("code", "--processed", processed, "--codebook", codebook)


def test_a_changed_table_is_not_the_one_ingest_wrote(tmp_path: Path) -> None:
    make_raw(tmp_path)
    processed = tmp_path / "processed"
    ingest_corpus(tmp_path / "raw", processed, params=Params(), keys_dir=tmp_path / "keys")
    schema.check_ingest_record(processed)
    sentences = schema.read_table(processed, "sentences")
    schema.write_table(sentences.head(1), schema.table_path(processed, "sentences"))
    with pytest.raises(
        QualcodeInputError, match="sentences.parquet is not the table the last ingest"
    ):
        schema.check_ingest_record(processed)


def test_leftovers_of_a_killed_run_are_swept(tmp_path: Path) -> None:
    make_raw(tmp_path)
    raw, processed, keys = tmp_path / "raw", tmp_path / "processed", tmp_path / "keys"
    reports = tmp_path / "reports"
    planted = [
        processed / ".turns.parquet.x1y2.tmp",
        processed / ".model.ab12" / "model.json",
        keys / f".{KEY_FILE}.q9.tmp",
        keys / "ingest_cache" / ".interview_a.json.zz.tmp",
        reports / ".staging-k3" / "01_clean_transcripts.ipynb",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left by a killed run", encoding="utf-8")
    run_cli("ingest", "--raw", raw, "--out", processed)
    assert not any(p.exists() for p in planted[:4])
    assert not (processed / ".model.ab12").exists()
    # a report sweeps the staging folders of one cut short (executed notebooks, with data)
    assert planted[4].exists()
    with pytest.raises(QualcodeInputError):  # no notebooks to run: it stops after sweeping
        pipeline.report(
            processed, reports, codebook=tmp_path / "c.yml", params=tmp_path / "p.yml", raw=raw,
            notebooks=tmp_path / "no-notebooks",
        )  # fmt: skip
    assert not (reports / ".staging-k3").exists() and reports.is_dir()


def _flat(output: str) -> str:
    """RETURNS (str): a usage error's text without the box and line breaks around it."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", output)


def test_no_command_writes_inside_the_raw_folder(tmp_path: Path) -> None:
    make_raw(tmp_path)
    raw = tmp_path / "raw"
    inside = raw / "tables"
    before = tree_digest(raw)
    model = tmp_path / "model"
    commands = [
        ["report", "--raw", raw, "--processed", inside],
        ["report", "--raw", raw, "--out", raw / "reports"],
        ["run", "--raw", raw, "--processed", inside],
        ["run", "--raw", raw, "--out", raw / "reports"],
        ["import-coding", tmp_path / "x.csv", "--raw", raw, "--processed", inside],
        ["agreement", "--raw", raw, "--processed", inside],
        ["export", "csv", tmp_path / "out.csv", "--raw", raw, "--processed", inside],
    ]
    for args in commands:
        done = run_cli(*args, exit_code=2)
        assert "inside the raw folder" in _flat(done.output), args
    from qualcode import paths

    default_raw = paths.RAW_DIR / "x"
    for args in (  # the commands without --raw: the default raw folder
        ["code", "--processed", default_raw],
        ["train", "--out", default_raw],
        ["train", "--out", model, "--processed", default_raw],
        ["evaluate", "--processed", default_raw],
        ["review", "export", default_raw / "r.csv", "--model", model],
        ["review", "export", tmp_path / "r.csv", "--model", model, "--processed", default_raw],
        ["review", "import", tmp_path / "r.csv", "--processed", default_raw],
    ):
        done = run_cli(*args, exit_code=2)
        assert "inside the raw folder" in _flat(done.output), args
    assert tree_digest(raw) == before
    assert not default_raw.exists()


def test_the_processed_folder_lock_is_hidden_from_every_step(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    # the same process may take it again while holding it
    with schema.processed_lock(processed, create=True), schema.processed_lock(processed):
        assert (processed / ".qualcode.lock").exists()
    assert pipeline._files(processed) == []
