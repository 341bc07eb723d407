"""The pipeline on a study that is not the demo: its own codebook (four codes), no interview
guide, no study file, other participant columns. The report must come out, and nothing in it may
come from the demo study."""

from __future__ import annotations

import re
import shutil

import pytest
from cli_helper import run_cli
from small_study import FIXTURE, OTHER_FIXTURE, make_other_study

from qualcode.paths import PROJ_ROOT

pytestmark = pytest.mark.slow

FIXTURES = FIXTURE.parent

# Words of the demo study that no page of another study may hold.
DEMO_WORDS = ("working_model", "background", "KEY_TAKEAWAYS", "freelanc", "client", "niche")


@pytest.fixture(scope="module")
def other_study(tmp_path_factory):
    study = make_other_study(tmp_path_factory.mktemp("other-study"))
    return study, study.run()


def _page_text(path) -> str:
    html = path.read_text(encoding="utf-8")
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_other_study_report_speaks_of_its_own_study(other_study):
    study, result = other_study
    assert "report written" in result.output
    pages = sorted(study.reports.glob("0*.html"))
    assert len(pages) == 4
    text = {p.name: _page_text(p) for p in pages}
    for name, body in text.items():
        for word in DEMO_WORDS:
            assert word.lower() not in body.lower(), f"{name} holds {word!r}"
    assert re.search(
        r"none of the \d+ names in participants.csv appears", text["01_clean_transcripts.html"]
    )
    themes = text["03_analyze_themes.html"]
    assert "no interview guide" in themes
    # the attributes come from the data: every column with 2 to 12 values
    assert "Team size" in themes and "Region" in themes and "Show" in themes
    takeaways = text["04_key_takeaways.html"]
    assert "names no key takeaways" in takeaways
    assert "Where the work happens" in takeaways and "Feeling alone" in takeaways
    assert ".." not in takeaways.replace("...", "")


def test_other_study_has_no_sections(other_study):
    import pandas as pd

    study, _ = other_study
    turns = pd.read_parquet(study.processed / "turns.parquet")
    assert turns["section"].isna().all()


def test_no_notebook_or_module_names_the_demo():
    """Nothing in src/ or notebooks/ names the demo study's code ids, or its participant columns
    as a name in code (quoted); read from the tests' copy of the demo study."""
    import yaml

    demo = FIXTURES / "small_study"
    book = yaml.safe_load((demo / "config" / "codebook.yml").read_text(encoding="utf-8"))
    codes = {c["id"] for c in book["codes"]}
    header = (demo / "raw" / "participants.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = set(header.split(",")) - {
        "transcript_id", "pseudonym", "participant_label", "interviewer_label",
    }  # fmt: skip
    files = [*(PROJ_ROOT / "src").rglob("*.py"), *(PROJ_ROOT / "notebooks").glob("*.ipynb")]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for code in codes:
            assert not re.search(rf"\b{code}\b", text), f"{path.name} names code {code}"
        for column in columns:
            assert not re.search(rf"[\"'`]{column}[\"'`]", text), f"{path.name} names {column}"


def test_init_makes_a_study_that_runs(tmp_path):
    """`qualcode init DIR`, then transcripts, participants and a codebook in: `qualcode run
    --project DIR` gives a report with no edit to any code; leftover coding of a transcript that
    is not in the study stops the run with one line for the file, and --skip-other-coding goes
    on without it."""
    root = tmp_path / "podcast"
    result = run_cli("init", root)
    assert "qualcode run --project" in result.output
    assert (root / "config" / "codebook.yml").is_file()
    assert not (root / "config" / "interview_guide.yml").exists()
    header = (root / "data" / "raw" / "participants.csv").read_text(encoding="utf-8")
    assert header.startswith("transcript_id,pseudonym,participant_label,interviewer_label")
    assert run_cli("init", root, exit_code=1).output.count("\n") == 1
    for path in (OTHER_FIXTURE / "raw").iterdir():
        shutil.copy(path, root / "data" / "raw" / path.name)
    shutil.copy(OTHER_FIXTURE / "config" / "codebook.yml", root / "config" / "codebook.yml")
    shutil.copy(OTHER_FIXTURE / "leftover_coding.csv", root / "data" / "reference")
    failed = run_cli("run", "--project", root, "--no-learn", exit_code=1)
    errors = [line for line in failed.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    assert (
        "leftover_coding.csv: 2 row(s) code 1 transcript(s) that are not in the study"
        in (errors[0])
    )
    assert "--skip-other-coding" in errors[0]
    done = run_cli("run", "--project", root, "--no-learn", "--skip-other-coding")
    assert "left out" in done.output
    assert (root / "reports" / "index.html").is_file()
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "<h1>My study</h1>" in index  # the study file's title
    assert str(tmp_path) not in index  # paths relative to the study folder
