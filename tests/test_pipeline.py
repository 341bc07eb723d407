"""The steps of `qualcode run`: a step whose inputs are unchanged is skipped, a changed input or a
missing output runs it again, a failed step leaves the record as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from small_study import FIXTURE

from qualcode import pipeline, schema
from qualcode.errors import QualcodeInputError

TRANSCRIPT = """Interviewer: How did you start working on your own?
{name}: I started after a long project ended. I found my first clients through old colleagues.
Interviewer: What do you do now?
{name}: Mostly dashboards and forecasting for small firms. I work about twenty hours a week.
"""
PARTICIPANTS = """transcript_id,pseudonym,participant_label,interviewer_label
t1,P01,Robin Vale,Interviewer
t2,P02,Sam Ode,Interviewer
"""


def make_study(root: Path) -> Path:
    """Two small transcripts and participants.csv in root/data/raw. RETURNS: the raw folder."""
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "t1.txt").write_text(TRANSCRIPT.format(name="Robin Vale"), encoding="utf-8")
    (raw / "t2.txt").write_text(TRANSCRIPT.format(name="Sam Ode"), encoding="utf-8")
    (raw / "participants.csv").write_text(PARTICIPANTS, encoding="utf-8")
    return raw


def steps(root: Path, *, skip_other_coding: bool = False) -> list[pipeline.Step]:
    """The study's steps without the report (which runs the notebooks), with the tests' copy of
    the demo codebook and parameters."""
    found = pipeline.study_steps(
        skip_other_coding=skip_other_coding,
        raw=root / "data" / "raw",
        processed=root / "data" / "processed",
        out=root / "reports",
        codebook=FIXTURE / "config" / "codebook.yml",
        params_path=FIXTURE / "config" / "params.yml",
        notebooks=root / "notebooks",
        learn_from_people=False,
    )
    return [step for step in found if step.name != "report"]


def run(root: Path, *, skip_other_coding: bool = False) -> list[pipeline.Outcome]:
    return pipeline.run_steps(
        steps(root, skip_other_coding=skip_other_coding),
        state_path=root / "data" / "processed" / schema.PIPELINE_STATE_FILE,
    )


def tables(root: Path) -> dict[str, bytes]:
    processed = root / "data" / "processed"
    return {p.name: p.read_bytes() for p in sorted(processed.glob("*.parquet"))}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    make_study(root)
    outcomes = run(root)
    assert [o.skipped for o in outcomes] == [False, False, False, False]
    return root


def test_study_steps_name_what_they_read() -> None:
    root = Path("/study")
    found = pipeline.study_steps(
        raw=root / "raw",
        processed=root / "processed",
        out=root / "reports",
        codebook=root / "config" / "codebook.yml",
        params_path=FIXTURE / "config" / "params.yml",
        notebooks=root / "notebooks",
    )
    assert [s.name for s in found] == ["ingest", "code", "import", "agreement", "learn", "report"]
    by_name = {s.name: s for s in found}
    assert root / "raw" in by_name["ingest"].reads
    assert root / "config" / "codebook.yml" in by_name["code"].reads
    assert FIXTURE / "config" / "interview_guide.yml" in by_name["ingest"].reads
    assert root / "notebooks" in by_name["report"].reads
    assert root / "reference" in by_name["import"].reads
    assert schema.table_path(root / "processed", "human_codings") in by_name["agreement"].reads


def test_unchanged_inputs_skip_every_step_and_keep_the_tables(study: Path, tmp_path: Path) -> None:
    before = tables(study)
    outcomes = run(study)
    assert [o.skipped for o in outcomes] == [True, True, True, True]
    assert tables(study) == before
    state = json.loads((study / "data" / "processed" / schema.PIPELINE_STATE_FILE).read_text())
    assert sorted(state["steps"]) == ["agreement", "code", "import", "ingest"]


def test_a_changed_transcript_reruns_ingest_and_code(tmp_path: Path) -> None:
    make_study(tmp_path)
    run(tmp_path)
    first = tables(tmp_path)
    raw = tmp_path / "data" / "raw"
    (raw / "t2.txt").write_text(
        TRANSCRIPT.format(name="Sam Ode") + "Sam Ode: I also teach a course.\n", encoding="utf-8"
    )
    outcomes = run(tmp_path)
    # the import reads only the transcripts people coded (none here)
    assert [o.skipped for o in outcomes] == [False, False, True, False]
    assert "1 processed, 1 unchanged" in outcomes[0].lines[0]
    assert tables(tmp_path)["turns.parquet"] != first["turns.parquet"]


def test_the_import_reruns_only_for_the_transcripts_the_coding_names(tmp_path: Path) -> None:
    raw = make_study(tmp_path)
    coding = tmp_path / "data" / "human_coding"
    coding.mkdir()
    # t1 is in the study; t3 is not yet (its rows are left out, with a warning)
    (coding / "coding.csv").write_text(
        "transcript_id,code,quote\n"
        "t1,Finding clients,I found my first clients through old colleagues.\n"
        "t3,Finding clients,I found my first clients at a meetup.\n",
        encoding="utf-8",
    )
    human = tmp_path / "data" / "processed" / "human_codings.parquet"

    def coded() -> list[str]:
        return sorted(set(pd.read_parquet(human)["transcript_id"]))

    def skipped() -> dict[str, bool]:
        outcomes = run(tmp_path, skip_other_coding=True)
        names = ("ingest", "code", "import", "agreement")
        return dict(zip(names, [o.skipped for o in outcomes], strict=True))

    first = run(tmp_path, skip_other_coding=True)
    assert not any(o.skipped for o in first)
    assert any("t3" in w for w in first[2].warnings) and coded() == ["t1"]
    before = human.read_bytes()
    # a transcript nobody coded, added, then changed: the import is skipped
    (raw / "t4.txt").write_text(TRANSCRIPT.format(name="Ada Lind"), encoding="utf-8")
    assert skipped() == {"ingest": False, "code": False, "import": True, "agreement": False}
    (raw / "t2.txt").write_text(TRANSCRIPT.format(name="Sam Ode") + "Sam Ode: Yes.\n", "utf-8")
    assert skipped()["import"] is True
    assert human.read_bytes() == before
    # what the import would have written, had it run
    codebook = FIXTURE / "config" / "codebook.yml"
    pipeline.import_coding_folders(raw, human.parent, codebook=codebook, skip_other_coding=True)
    assert human.read_bytes() == before
    # the transcript the coding named comes into the study: imported
    text = TRANSCRIPT.format(name="Kim Oak").replace("through old colleagues", "at a meetup")
    (raw / "t3.txt").write_text(text, encoding="utf-8")
    assert skipped()["import"] is False
    assert coded() == ["t1", "t3"]
    # a transcript the coding names changes, then goes: imported again each time
    (raw / "t1.txt").write_text(TRANSCRIPT.format(name="Robin Vale") + "Robin Vale: Yes.\n")
    assert skipped()["import"] is False
    (raw / "t3.txt").unlink()
    assert skipped()["import"] is False
    assert coded() == ["t1"]
    assert skipped() == dict.fromkeys(("ingest", "code", "import", "agreement"), True)


def test_a_missing_output_reruns_its_step_only(study: Path) -> None:
    before = tables(study)
    (study / "data" / "processed" / "codings.parquet").unlink()
    outcomes = run(study)
    assert [o.skipped for o in outcomes] == [True, False, True, True]
    assert tables(study) == before


def test_a_failed_step_leaves_the_record_unchanged(tmp_path: Path) -> None:
    state_path = tmp_path / schema.PIPELINE_STATE_FILE
    source = tmp_path / "input.txt"
    source.write_text("one\n", encoding="utf-8")
    out = tmp_path / "output.txt"
    calls: list[str] = []

    def copy(_progress: pipeline.Progress) -> pipeline.Outcome:
        calls.append("copy")
        out.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        return pipeline.Outcome(lines=["copied"], written=[out])

    def fail(_progress: pipeline.Progress) -> pipeline.Outcome:
        calls.append("fail")
        raise QualcodeInputError("bad input", path=source)

    good = pipeline.Step("copy", reads=(source,), settings={"n": 1}, run=copy)
    bad = pipeline.Step("fail", reads=(source,), settings={}, run=fail)
    pipeline.run_steps([good], state_path=state_path)
    recorded = state_path.read_bytes()
    with pytest.raises(QualcodeInputError):
        pipeline.run_steps([good, bad], state_path=state_path)
    assert calls == ["copy", "fail"]
    assert state_path.read_bytes() == recorded
    # a changed setting reruns the step, as a changed input does
    changed = pipeline.Step("copy", reads=(source,), settings={"n": 2}, run=copy)
    assert not pipeline.run_steps([changed], state_path=state_path)[0].skipped
    source.write_text("two\n", encoding="utf-8")
    assert not pipeline.run_steps([changed], state_path=state_path)[0].skipped
    assert pipeline.run_steps([changed], state_path=state_path)[0].skipped
    assert calls == ["copy", "fail", "copy", "copy"]


def test_the_notebooks_say_which_tables_they_do_not_read(tmp_path: Path) -> None:
    """Only page 02 shows the learned coder: a change to its tables leaves the other pages'
    inputs as they were; a change to the codings changes every page's."""
    import nbformat

    from qualcode.paths import NOTEBOOKS_DIR
    from qualcode.report.render import discover_notebooks, notebook_inputs_digest

    processed = tmp_path / "processed"
    (processed / "model").mkdir(parents=True)
    for name in ("codings.parquet", "evaluation_summary.csv", "review_candidates.parquet"):
        (processed / name).write_text("a")
    (processed / "model" / "weights.npz").write_text("a")
    (processed / schema.PIPELINE_STATE_FILE).write_text("{}")

    def digests() -> dict[str, str]:
        inputs = pipeline.report_inputs({"processed": processed})
        return {
            src.name: notebook_inputs_digest(
                src, nbformat.read(src, as_version=4), parameters={}, inputs=inputs
            )
            for src in discover_notebooks(NOTEBOOKS_DIR)
        }

    before = digests()
    assert "processed/pipeline_state.json" not in pipeline.report_inputs({"processed": processed})
    (processed / schema.PIPELINE_STATE_FILE).write_text('{"steps": {}}')
    assert digests() == before  # the record of the steps is no input
    (processed / "model" / "weights.npz").write_text("b")
    assert digests() == before  # no page loads the model
    for name in ("evaluation_summary.csv", "review_candidates.parquet"):
        (processed / name).write_text("b")
        after = digests()
        assert [n for n in after if after[n] != before[n]] == ["02_code_themes.ipynb"], name
        before = after
    (processed / "codings.parquet").write_text("b")
    after = digests()
    assert all(after[n] != before[n] for n in after)
