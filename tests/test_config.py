"""config/params.yml: typed, validated, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualcode.config import Params, load_params
from qualcode.errors import QualcodeInputError


def test_demo_params_load(demo_files) -> None:
    params = load_params(demo_files.params)
    assert isinstance(params, Params)
    assert params.coding.unit in {"sentence", "turn"}
    assert params.spacy_model == "en_core_web_sm"
    assert isinstance(params.ingest.disfluencies, tuple)


def test_missing_keys_take_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yml"
    path.write_text("coding:\n  unit: turn\n", encoding="utf-8")
    params = load_params(path)
    assert params.coding.unit == "turn"
    assert params.report == Params().report


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spacy_modle: x\n", "unknown key spacy_modle"),
        ("coding:\n  unti: turn\n", "unknown key coding.unti"),
        ("coding:\n  unit: paragraph\n", "expected one of sentence, turn"),
        ("report:\n  seed: many\n", "expected an integer"),
        ("ingest:\n  drop_repeats: 1\n", "expected true or false"),
        ("ingest:\n  disfluencies: um\n", "expected a list"),
        ("- just\n- a list\n", "expected a mapping"),
        ("coding: [unclosed\n", "line"),
        ("report:\n  quote_min_chars: 500\n  quote_max_chars: 100\n", "must not exceed"),
    ],
)
def test_bad_params_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "params.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(QualcodeInputError) as info:
        load_params(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_binary_params_file(tmp_path: Path) -> None:
    path = tmp_path / "params.yml"
    path.write_bytes(b"\xff\xfe\x00\x00binary")
    with pytest.raises(QualcodeInputError, match="expected UTF-8 YAML"):
        load_params(path)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(QualcodeInputError, match="not found"):
        load_params(tmp_path / "nope.yml")


def test_digest_changes_with_a_value() -> None:
    import dataclasses

    base = Params()
    changed = dataclasses.replace(base, coding=dataclasses.replace(base.coding, unit="turn"))
    assert base.digest("coding") != changed.digest("coding")
    assert base.digest("ingest") == changed.digest("ingest")


ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_yaml_alias_bomb_is_refused_briefly(tmp_path: Path) -> None:
    from qualcode.coding.codebook import load_codebook

    path = tmp_path / "bomb.yml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    assert len(ALIAS_BOMB) < 400
    for load in (load_params, load_codebook):
        with pytest.raises(QualcodeInputError, match="alias") as info:
            load(path)
        assert str(path) in str(info.value)
        assert len(str(info.value)) < 300


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "params.yml"
    path.write_text(
        "ingest:\n  disfluencies: &d [um, uh]\n  annotation_words: *d\n", encoding="utf-8"
    )
    assert load_params(path).ingest.annotation_words == ("um", "uh")


def test_a_huge_bad_value_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "params.yml"
    path.write_text("report:\n  seed: " + "x" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(QualcodeInputError, match="expected an integer") as info:
        load_params(path)
    assert len(str(info.value)) < 300


def test_limits_take_defaults_and_must_be_positive(tmp_path: Path) -> None:
    assert Params().limits.max_turn_chars > 0
    path = tmp_path / "params.yml"
    path.write_text("limits:\n  max_file_mb: 0\n", encoding="utf-8")
    with pytest.raises(QualcodeInputError, match="limits.max_file_mb"):
        load_params(path)
