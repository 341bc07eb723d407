"""Shared test fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def nlp():
    from qualcode.nlp import load_nlp

    return load_nlp()
