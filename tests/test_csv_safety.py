"""CSV written for people: cells a spreadsheet would run as formulas are neutralised, and read
back as they were."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fixtures.refi.corpus import PARTICIPANTS, TURNS, rule_codings, write_codebook, write_corpus
from typer.testing import CliRunner

from qualcode import schema
from qualcode.cli import app

runner = CliRunner()
QUOTE = '=HYPERLINK("http://evil.example","click") is what I tell energy-sector clients.'
ATTRIBUTE = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    "text", ["=1+1", "+1", "-2 percent", "@x", "\tx", "\rx", "'=x", "''-x", "'quoted", "plain", ""]
)
def test_neutralise_and_restore_are_inverse(text: str) -> None:
    safe = schema.neutralise_cell(text)
    assert not str(safe).startswith(schema.FORMULA_START)
    assert schema.restore_cell(safe) == text


def test_export_csv_neutralises_quotes_and_attributes_and_imports_back(tmp_path: Path) -> None:
    processed, raw = tmp_path / "processed", tmp_path / "raw"
    processed.mkdir()
    turns = {**TURNS, "interview_b": [TURNS["interview_b"][0], ("P02", "participant", QUOTE)]}
    turns_df, sentences = write_corpus(processed, raw, turns=turns)
    (raw / "participants.csv").write_text(
        PARTICIPANTS.replace("Engineering", ATTRIBUTE.replace("'", "")), encoding="utf-8"
    )
    codebook = write_codebook(tmp_path / "codebook.yml")
    codings = rule_codings(turns_df, sentences)
    schema.write_table(codings, processed / "codings.parquet", columns=schema.CODINGS_COLUMNS)
    common = ["--processed", str(processed), "--codebook", str(codebook), "--raw", str(raw)]
    out = tmp_path / "quotes.csv"
    result = runner.invoke(app, ["export", "csv", str(out), *common])
    assert result.exit_code == 0, result.output
    cells = pd.read_csv(out, dtype=str, keep_default_na=False)
    every = [cell for column in cells.columns for cell in cells[column]]
    assert not [cell for cell in every if cell.startswith(schema.FORMULA_START)]
    assert "'" + QUOTE in every
    assert any(cell.startswith("'@SUM") for cell in every)
    # the exported quotes come back as human coding with the quote as it was
    result = runner.invoke(
        app, ["import-coding", str(out), "--coder", "anna", *common, "--keys", str(tmp_path / "k")]
    )
    assert result.exit_code == 0, result.output
    human = schema.read_table(processed, "human_codings")
    assert QUOTE in set(human["text"])
