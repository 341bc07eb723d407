"""The de-identification report of a run: what was replaced, how often, and what looks wrong.

`qualcode ingest` writes two tables:

- ``data/processed/deid_report.parquet`` (shareable: pseudonyms, never the original words), one row
  per transcript and pseudonym: transcript_id, pseudonym, entity_type, found_by
  (``participants``, ``speaker label``, ``deny list``, ``spaCy PERSON``, ``pattern``, ``key``;
  ``;``-joined), n_replaced (mentions replaced in `text_raw`), n_left (mentions of the same words
  left in the text, in another case: ``bell`` beside ``Bell``), common_word (one of its words is a
  frequent English word: worth a look);
- ``<keys>/deid_review.csv`` (owner-only, beside the key): the same rows with the original words,
  so the researcher can check each call on the machine that holds the key.

A pseudonym replaced only sometimes (n_left > 0), or standing for a common word, is the first
place to look for a wrong call: a common word taken for a name (add it to `deid.allow`) or a name
missed in lower case (add it to `deid.deny`). `replaced_by_type`, `most_replaced` and
`replaced_sometimes` give the views notebook 01 shows.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from qualcode.ingest.deid import Pseudonymiser
from qualcode.ingest.name_rules import zipf
from qualcode.schema import PRIVATE_FILE_MODE, write_text

REPORT_COLUMNS = [
    "transcript_id",
    "pseudonym",
    "entity_type",
    "found_by",
    "n_replaced",
    "n_left",
    "common_word",
]
PSEUDONYM_COLUMNS = [
    "pseudonym",
    "entity_type",
    "found_by",
    "n_replaced",
    "n_left",
    "share_replaced",
    "n_transcripts",
    "common_word",
]
REVIEW_FILE = "deid_review.csv"


def _number(pseudonym: str) -> int:
    tail = pseudonym.rpartition("_")[2]
    return int(tail) if tail.isdigit() else 0


def report_frames(
    ps: Pseudonymiser,
    *,
    replaced: Mapping[tuple[str, str], int],
    left: Mapping[tuple[str, str], int],
    common_word_zipf: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report (no originals) and the private review (with them), one row per transcript and
    pseudonym replaced or left in this run.

    replaced: (transcript_id, pseudonym) -> mentions replaced; left: the same, for mentions left
    (`Pseudonymiser.leftovers`).
    RETURNS (tuple[DataFrame, DataFrame]): report (REPORT_COLUMNS) and review (plus `originals`).
    """
    originals: defaultdict[str, list[str]] = defaultdict(list)
    types: dict[str, str] = {}
    for original, entity_type, pseudonym in ps.key.originals():
        originals[pseudonym].append(original)
        types.setdefault(pseudonym, entity_type)
    rows = []
    for tid, pseudonym in set(replaced) | set(left):
        words = [w for o in originals[pseudonym] for w in o.split() if w[:1].isalpha()]
        rows.append(
            {
                "transcript_id": tid,
                "pseudonym": pseudonym,
                "entity_type": types.get(pseudonym, pseudonym.rpartition("_")[0]),
                "found_by": "; ".join(sorted(ps.found_by.get(pseudonym, ()))),
                "n_replaced": int(replaced.get((tid, pseudonym), 0)),
                "n_left": int(left.get((tid, pseudonym), 0)),
                "common_word": common_word_zipf > 0
                and types.get(pseudonym) in {"PERSON", "ORG", "GPE"}
                and any(zipf(w) >= common_word_zipf for w in words),
                "originals": "; ".join(sorted(set(originals[pseudonym]))),
            }
        )
    frame = pd.DataFrame(rows, columns=[*REPORT_COLUMNS, "originals"])
    frame = frame.astype(
        {"transcript_id": "object", "n_replaced": "int64", "n_left": "int64", "common_word": "bool"}
    )
    frame["_n"] = frame["pseudonym"].map(_number)
    frame = frame.sort_values(
        ["transcript_id", "entity_type", "_n", "pseudonym"], kind="stable"
    ).drop(columns="_n")
    frame = frame.reset_index(drop=True)
    return frame[REPORT_COLUMNS].copy(), frame


def write_review(path: Path, review: pd.DataFrame) -> Path:
    """Write the review (originals included) owner-only, as CSV. RETURNS (Path): the path."""
    buffer = io.StringIO()
    review.to_csv(buffer, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return write_text(path, buffer.getvalue(), mode=PRIVATE_FILE_MODE)


def count_spans(spans: list[tuple[int, int, int, int, str, str]]) -> Counter[str]:
    """RETURNS (Counter[str]): pseudonym -> substitutions, from `Replacement.spans`."""
    return Counter(span[5] for span in spans)


# ---------------------------------------------------------------------------------------------
# views for the report


def by_pseudonym(report: pd.DataFrame | None) -> pd.DataFrame:
    """The report summed over transcripts.

    RETURNS (DataFrame): PSEUDONYM_COLUMNS, one row per pseudonym.
    """
    if report is None or report.empty:
        return pd.DataFrame(columns=PSEUDONYM_COLUMNS)
    table = report.groupby(["pseudonym", "entity_type"], as_index=False).agg(
        found_by=("found_by", "first"),
        n_replaced=("n_replaced", "sum"),
        n_left=("n_left", "sum"),
        n_transcripts=("transcript_id", "nunique"),
        common_word=("common_word", "any"),
    )
    table["share_replaced"] = table["n_replaced"] / (table["n_replaced"] + table["n_left"]).clip(
        lower=1
    )
    return table[PSEUDONYM_COLUMNS]


def replaced_by_type(report: pd.DataFrame | None) -> pd.DataFrame:
    """RETURNS (DataFrame): entity_type, n_pseudonyms, n_replaced, n_left (mentions left in another
    case), n_sometimes (pseudonyms replaced only sometimes), n_common_word; by n_replaced."""
    columns = ["entity_type", "n_pseudonyms", "n_replaced", "n_left", "n_sometimes"]
    columns.append("n_common_word")
    if report is None or report.empty:
        return pd.DataFrame(columns=columns)
    report = by_pseudonym(report)
    table = (
        report.assign(sometimes=report["n_left"] > 0)
        .groupby("entity_type", as_index=False)
        .agg(
            n_pseudonyms=("pseudonym", "nunique"),
            n_replaced=("n_replaced", "sum"),
            n_left=("n_left", "sum"),
            n_sometimes=("sometimes", "sum"),
            n_common_word=("common_word", "sum"),
        )
    )
    table = table.sort_values(["n_replaced", "entity_type"], ascending=[False, True])
    return table[columns].reset_index(drop=True)


def most_replaced(report: pd.DataFrame | None, *, n: int = 10) -> pd.DataFrame:
    """RETURNS (DataFrame): the `n` pseudonyms replaced most often (PSEUDONYM_COLUMNS)."""
    if report is None or report.empty:
        return pd.DataFrame(columns=PSEUDONYM_COLUMNS)
    report = by_pseudonym(report)
    table = report[report["n_replaced"] > 0].sort_values(
        ["n_replaced", "pseudonym"], ascending=[False, True], kind="stable"
    )
    return table.head(n).reset_index(drop=True)


def replaced_sometimes(report: pd.DataFrame | None) -> pd.DataFrame:
    """Pseudonyms whose words are replaced in some mentions and left in others (a sign of a wrong
    call), with those standing for a common word, most doubtful first.

    RETURNS (DataFrame): PSEUDONYM_COLUMNS.
    """
    if report is None or report.empty:
        return pd.DataFrame(columns=PSEUDONYM_COLUMNS)
    report = by_pseudonym(report)
    table = report[(report["n_left"] > 0) | report["common_word"]]
    table = table.sort_values(
        ["share_replaced", "n_left", "pseudonym"], ascending=[True, False, True], kind="stable"
    )
    return table.reset_index(drop=True)


def read_report(processed_dir: Path | str) -> pd.DataFrame | None:
    """RETURNS (DataFrame | None): deid_report.parquet of `processed_dir`, None when absent."""
    from qualcode.schema import read_table

    return read_table(Path(processed_dir), "deid_report", required=False)


def narrate(report: pd.DataFrame | None) -> str:
    """A paragraph for the report: what was replaced, and what to check.

    RETURNS (str): Markdown.
    """
    if report is None or report.empty:
        return "De-identification replaced nothing in this run (or the run predates its report)."
    pseudonyms = by_pseudonym(report)
    types = replaced_by_type(report)
    doubtful = replaced_sometimes(report)
    parts = ", ".join(f"{r.n_replaced:,} {r.entity_type}" for r in types.itertuples())
    text = (
        f"De-identification replaced {int(pseudonyms['n_replaced'].sum()):,} mentions by "
        f"{len(pseudonyms):,} pseudonyms ({parts}). "
    )
    if doubtful.empty:
        return text + "Every replaced word was replaced wherever it occurs; none is a common word."
    return text + (
        f"{len(doubtful):,} pseudonyms stand for words that were left elsewhere in another case or "
        "are common English words: the places to look for a wrong call. Their words are listed, on "
        "the machine that holds the key only, in `data/keys/deid_review.csv`; add a word wrongly "
        "replaced to `deid.allow` in config/params.yml, and a name missed to `deid.deny`."
    )
