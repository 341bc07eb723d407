"""Shared test fixtures."""

from __future__ import annotations

import pytest
from click.testing import Result
from small_study import Study, make_study


@pytest.fixture(scope="session")
def nlp():
    from qualcode.nlp import load_nlp

    return load_nlp()


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory) -> Study:
    """The demo study's own files, copied from tests/fixtures/small_study (three demo transcripts,
    participants.csv, codebook, parameters, interview guide, study file): the tests that need the
    demo's codebook, parameters, guide or transcripts read them here, never in config/ or
    data/raw, so `make test` passes whatever a researcher has put there. Read only."""
    return make_study(tmp_path_factory.mktemp("demo-files"))


@pytest.fixture(scope="session")
def small_study_run(tmp_path_factory) -> tuple[Study, Result]:
    """The small study after one `qualcode run`, and what the run printed. Run once per session
    and shared by the notebook, browser and report-change tests: copy it (`Study.copy`) before
    changing anything in it."""
    study = make_study(tmp_path_factory.mktemp("small-study"))
    return study, study.run()


@pytest.fixture(scope="session")
def small_study(small_study_run) -> Study:
    """The small study after one `qualcode run` (see `small_study_run`)."""
    return small_study_run[0]
