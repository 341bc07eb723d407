"""Agreement between two coders, per code: percent agreement, Cohen's kappa, Krippendorff's alpha,
and precision, recall and F1 taking the first coder as the reference, with bootstrap intervals.

Coders are `rules` and `model` (codings.parquet) and `human:<name>` (human_codings.parquet).

Units (`qualcode.units`): the sentences, the turns, or the participants (params `coding.roles`) in
the transcripts both coders covered. At the participant unit a participant counts as coded with a
code when a coding of that code that is not negated falls in one of their turns: did they voice it
at all (the question behind "n of N participants"). `rules` and `model` cover every transcript
in turns.parquet; a human coder covers the transcripts where they coded at least once. A unit
counts as coded with a code when a coding of that code falls in it (for sentences, the overlap
rule of `qualcode.human.store` has already decided which sentences a human selection codes; a
turn counts as coded when one of its sentences is).

Per code, each unit is a yes/no for each coder, giving a 2x2 table: n_both (both coded it),
n_first only, n_second only, n_neither. Units that neither coder coded with the code are counted
apart (`n_neither`) because they inflate percent agreement: with rare codes percent agreement is
high whatever the coders do. `percent_agreement_coded` leaves them out (both / either).

- Cohen's kappa, Krippendorff's alpha, precision, recall and F1: `human.metrics`.
- 95% intervals: percentile bootstrap over transcripts (whole transcripts resampled with
  replacement, `n_boot` times, seeded): the units of one interview are not independent. With one
  transcript there is nothing to resample and the intervals are NaN.

Rows: one per code as coded (scope `code`): codebook codes in codebook order, then codes only the
coders used. With `rollup`, parents get a second row (scope `rollup`) where a unit counts as coded
when it has the parent or any code below it. The row `ALL` pools the 2x2 tables of every code
(scope `code`): agreement over all unit x code decisions.

Outputs: data/processed/agreement.csv (one row per code and scope, the pair and unit in columns)
and data/processed/disagreements.parquet (one row per unit and code where the coders differ, with
the unit's text and the codes each coder gave it) for review. `qualcode agreement` writes them for
one pair at one unit; the pipeline's `agreement_step` for every pair of coders present at every
unit (sentence, turn, participant: agreement.csv's `unit` column), with agreement_pairs.csv (one
summary row per pair) and the disagreements of sentences, which notebooks 02 and 04 read
(`read_agreement`).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.config import Params
from qualcode.errors import QualcodeInputError
from qualcode.human.csv_import import import_csv_folder
from qualcode.human.metrics import krippendorff_alpha, table_metrics
from qualcode.human.store import (
    HUMAN_PREFIX,
    MACHINE_CODERS,
    ImportResult,
    coder_name,
    load_codebook_or_none,
    unit_keys,
)
from qualcode.units import AGREEMENT_UNITS, PARTICIPANT_UNIT, participant_units, per_participant

logger = logging.getLogger(__name__)


REFERENCE_CODER = "human:reference"


DEFAULT_PAIR = (REFERENCE_CODER, "rules")


ALL_CODES = "ALL"


N_BOOT = 1000


CI_LEVEL = 0.95


CI_METRICS = ("kappa", "alpha", "precision", "recall", "f1")


def _coder_order(coder: str) -> tuple[int, str]:
    if coder == REFERENCE_CODER:
        return (0, coder)
    if coder.startswith(HUMAN_PREFIX):
        return (1, coder)
    return (2, coder)


def coders_present(codings: pd.DataFrame) -> list[str]:
    """RETURNS (list[str]): the coders with codings: human:reference, other people, machines."""
    return sorted(codings["coder"].astype(str).unique(), key=_coder_order)


def coverage(codings: pd.DataFrame, coder: str, turns: pd.DataFrame) -> set[str]:
    """The transcripts a coder covered: all of them for `rules` and `model`, else the transcripts
    where the coder coded at least once.

    RETURNS (set[str]): transcript ids.
    """
    if coder in MACHINE_CODERS:
        return set(turns["transcript_id"].astype(str))
    return set(codings.loc[codings["coder"] == coder, "transcript_id"].astype(str))


def _code_order(codebook: Codebook | None, used: set[str]) -> list[str]:
    ids = list(codebook.ids) if codebook is not None else []
    return ids + sorted(used - set(ids))


def _participant_matrix(
    codings: pd.DataFrame,
    turn_units: pd.DataFrame,
    units: pd.DataFrame,
    sentences: pd.DataFrame,
    codes: list[str],
) -> np.ndarray:
    """RETURNS (ndarray): per participant unit and code, whether a coding that is not negated
    falls in one of the participant's turns."""
    if "negated" in codings.columns:
        codings = codings[~codings["negated"].fillna(False).astype(bool)]
    by_turn = _matrix(codings, turn_units, sentences, codes, unit="turn")
    voiced = pd.DataFrame(by_turn).groupby(turn_units["transcript_id"].to_numpy()).any()
    return voiced.reindex(units["transcript_id"], fill_value=False).to_numpy(dtype=bool)


def _matrix(
    codings: pd.DataFrame,
    units: pd.DataFrame,
    sentences: pd.DataFrame,
    codes: list[str],
    *,
    unit: str,
) -> np.ndarray:
    keys = ["transcript_id", "turn_id"] + (["sentence_id"] if unit == "sentence" else [])
    matrix = np.zeros((len(units), len(codes)), dtype=bool)
    if codings.empty or units.empty:
        return matrix
    coded = unit_keys(codings, sentences, unit=unit)
    index = units[keys].reset_index().rename(columns={"index": "row"})
    if unit == "sentence":
        index = index.astype({"sentence_id": "int64"})
    hits = coded.merge(index, on=keys, how="inner")
    column = {c: i for i, c in enumerate(codes)}
    hits = hits[hits["code_id"].isin(column)]
    matrix[hits["row"].to_numpy(), hits["code_id"].map(column).to_numpy()] = True
    return matrix


@dataclass
class Agreement:
    """The agreement of one pair of coders."""

    coder_a: str
    coder_b: str
    unit: str
    table: pd.DataFrame
    disagreements: pd.DataFrame
    transcripts: list[str]
    n_units: int
    n_uncoded_units: int

    def summary(self) -> dict[str, object]:
        """RETURNS (dict): the pair, its coverage and the pooled (ALL) kappa, alpha and F1."""
        pooled = self.table[self.table["code_id"] == ALL_CODES].iloc[0]
        used = self.table[(self.table["scope"] == "code") & (self.table["code_id"] != ALL_CODES)]
        used = used[(used["n_first"] + used["n_second"]) > 0]
        return {
            "coder_a": self.coder_a,
            "coder_b": self.coder_b,
            "unit": self.unit,
            "n_transcripts": len(self.transcripts),
            "n_units": self.n_units,
            "n_uncoded_units": self.n_uncoded_units,
            "n_codes_used": len(used),
            "kappa": pooled["kappa"],
            "kappa_lo": pooled["kappa_lo"],
            "kappa_hi": pooled["kappa_hi"],
            "alpha": pooled["alpha"],
            "f1": pooled["f1"],
            "f1_lo": pooled["f1_lo"],
            "f1_hi": pooled["f1_hi"],
            "mean_kappa": float(used["kappa"].mean()) if len(used) else float("nan"),
        }


def _bootstrap(
    per_transcript: np.ndarray, *, n_boot: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Percentile intervals of the metrics over transcripts resampled with replacement.

    per_transcript: [n_transcripts, n_rows, 4] counts.
    RETURNS (dict): metric -> (low, high) arrays over rows.
    """
    n_t, n_rows = per_transcript.shape[:2]
    if n_t < 2 or n_boot < 1:
        nan = np.full(n_rows, np.nan)
        return {m: (nan, nan) for m in CI_METRICS}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_t, size=(n_boot, n_t))
    boot = per_transcript[draws].sum(axis=1)  # [n_boot, n_rows, 4]
    metrics = table_metrics(boot)
    tail = (1 - CI_LEVEL) / 2 * 100
    out = {}
    for metric in CI_METRICS:
        values = metrics[metric]
        lo = np.full(n_rows, np.nan)
        hi = np.full(n_rows, np.nan)
        for k in range(n_rows):
            column = values[:, k]
            column = column[~np.isnan(column)]
            if len(column) >= max(10, n_boot // 10):
                lo[k], hi[k] = np.percentile(column, [tail, 100 - tail])
        out[metric] = (lo, hi)
    return out


def compare_coders(
    codings: pd.DataFrame,
    turns: pd.DataFrame,
    sentences: pd.DataFrame,
    *,
    coder_a: str,
    coder_b: str,
    unit: str = "sentence",
    codebook: Codebook | None = None,
    roles: tuple[str, ...] = ("participant",),
    n_boot: int = N_BOOT,
    seed: int = 0,
    rollup: bool = False,
) -> Agreement:
    """Measure the agreement of coder_b with coder_a (the reference), per code.

    RETURNS (Agreement): the per-code table (schema.AGREEMENT_COLUMNS), the disagreements, coverage.
    """
    present = set(codings["coder"].astype(str))
    for coder in (coder_a, coder_b):
        if coder not in present:
            listed = ", ".join(coders_present(codings)) or "none"
            raise QualcodeInputError(
                f"coder {coder!r} has no codings; coders present: {listed}", element="--between"
            )
    if coder_a == coder_b:
        raise QualcodeInputError("expected two different coders", element="--between")
    common = coverage(codings, coder_a, turns) & coverage(codings, coder_b, turns)
    if not common:
        raise QualcodeInputError(
            f"{coder_a} and {coder_b} coded no transcript in common", element="--between"
        )
    first = codings[codings["coder"] == coder_a]
    second = codings[codings["coder"] == coder_b]
    used = set(first["code_id"]) | set(second["code_id"])
    codes = _code_order(codebook, used)
    if unit == PARTICIPANT_UNIT:
        turn_units = participant_units(
            turns, sentences, unit="turn", roles=roles, transcripts=common
        )
        units = per_participant(turn_units)
        x = _participant_matrix(first, turn_units, units, sentences, codes)
        y = _participant_matrix(second, turn_units, units, sentences, codes)
    else:
        units = participant_units(turns, sentences, unit=unit, roles=roles, transcripts=common)
        x = _matrix(first, units, sentences, codes, unit=unit)
        y = _matrix(second, units, sentences, codes, unit=unit)
    transcripts = sorted(units["transcript_id"].unique())

    names = list(codes)
    scopes = ["code"] * len(codes)
    xs, ys = [x], [y]
    if rollup and codebook is not None:
        column = {c: i for i, c in enumerate(codes)}
        for code_id in codebook.ids:
            below = codebook.descendants(code_id)
            if not below:
                continue
            cols = [column[code_id], *(column[c] for c in below)]
            xs.append(x[:, cols].any(axis=1, keepdims=True))
            ys.append(y[:, cols].any(axis=1, keepdims=True))
            names.append(code_id)
            scopes.append("rollup")
    xr, yr = np.hstack(xs), np.hstack(ys)

    t_index = units["transcript_id"].map({t: i for i, t in enumerate(transcripts)}).to_numpy()
    per_transcript = np.zeros((len(transcripts), len(names) + 1, 4))
    for k in range(len(transcripts)):
        rows = t_index == k
        xa, ya = xr[rows], yr[rows]
        per_transcript[k, :-1] = np.stack(
            [(xa & ya).sum(0), (xa & ~ya).sum(0), (~xa & ya).sum(0), (~xa & ~ya).sum(0)], axis=-1
        )
    n_codes = len(codes)
    per_transcript[:, -1] = per_transcript[:, :n_codes].sum(axis=1)  # ALL: pooled over codes
    totals = per_transcript.sum(axis=0)
    metrics = table_metrics(totals)
    intervals = _bootstrap(per_transcript, n_boot=n_boot, seed=seed)

    alphas = [krippendorff_alpha(xr[:, k], yr[:, k]) for k in range(len(names))]
    alphas.append(krippendorff_alpha(x.ravel(), y.ravel()))
    table = pd.DataFrame(
        {
            "code_id": [*names, ALL_CODES],
            "scope": [*scopes, "all"],
            "n_transcripts": len(transcripts),
            "n_units": totals.sum(axis=1).astype(int),
            "n_first": (totals[:, 0] + totals[:, 1]).astype(int),
            "n_second": (totals[:, 0] + totals[:, 2]).astype(int),
            "n_both": totals[:, 0].astype(int),
            "n_neither": totals[:, 3].astype(int),
            "percent_agreement": metrics["percent_agreement"],
            "percent_agreement_coded": metrics["percent_agreement_coded"],
            "alpha": alphas,
        }
    )
    for metric in CI_METRICS:
        if metric != "alpha":
            table[metric] = metrics[metric]
        table[f"{metric}_lo"], table[f"{metric}_hi"] = intervals[metric]
    table["coder_a"], table["coder_b"], table["unit"] = coder_a, coder_b, unit
    table = table[schema.AGREEMENT_COLUMNS]

    uncoded = int((~x.any(axis=1) & ~y.any(axis=1)).sum())
    return Agreement(
        coder_a=coder_a,
        coder_b=coder_b,
        unit=unit,
        table=table,
        disagreements=_disagreements(units, x, y, codes, coder_a, coder_b, unit),
        transcripts=transcripts,
        n_units=len(units),
        n_uncoded_units=uncoded,
    )


def _empty_disagreements() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in schema.DISAGREEMENT_COLUMNS})


def _disagreements(
    units: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    codes: list[str],
    coder_a: str,
    coder_b: str,
    unit: str,
) -> pd.DataFrame:
    rows, cols = np.nonzero(x != y)
    if len(rows) == 0:
        return _empty_disagreements()
    codes_arr = np.array(codes, dtype=object)

    def listing(matrix: np.ndarray, row: int) -> str:
        return "; ".join(codes_arr[matrix[row]])

    picked = units.iloc[rows].reset_index(drop=True)
    frame = picked.assign(
        coder_a=coder_a,
        coder_b=coder_b,
        unit=unit,
        code_id=codes_arr[cols],
        coded_by=np.where(x[rows, cols], coder_a, coder_b),
        codes_a=[listing(x, r) for r in rows],
        codes_b=[listing(y, r) for r in rows],
    )
    frame = frame[schema.DISAGREEMENT_COLUMNS]
    return frame.sort_values(["transcript_id", "turn_id", "sentence_id", "code_id"]).reset_index(
        drop=True
    )


def refresh_reference(
    reference_dir: Path,
    processed_dir: Path,
    *,
    codebook_path: Path | None = None,
    raw_dir: Path | None = None,
) -> ImportResult | None:
    """Import the reference CSVs (data/reference/*.csv) afresh as coder human:reference.

    RETURNS (ImportResult | None): the import, None when the folder holds no CSV.
    """
    return import_csv_folder(
        reference_dir,
        processed_dir,
        coder=REFERENCE_CODER,
        codebook_path=codebook_path,
        raw_dir=raw_dir,
    )


@dataclass
class _Tables:
    codings: pd.DataFrame
    turns: pd.DataFrame
    sentences: pd.DataFrame


def _load(processed_dir: Path) -> _Tables:
    return _Tables(
        codings=schema.read_codings(processed_dir, negated=True),
        turns=schema.read_table(processed_dir, "turns"),
        sentences=schema.read_table(processed_dir, "sentences"),
    )


def measure_agreement(
    processed_dir: Path,
    *,
    coder_a: str = DEFAULT_PAIR[0],
    coder_b: str = DEFAULT_PAIR[1],
    unit: str = "sentence",
    codebook_path: Path | None = None,
    roles: tuple[str, ...] = ("participant",),
    n_boot: int = N_BOOT,
    seed: int = 0,
    rollup: bool = False,
) -> Agreement:
    """Agreement of two coders over the tables of processed_dir.

    RETURNS (Agreement): see `compare_coders`.
    """
    loaded = _load(Path(processed_dir))
    return compare_coders(
        loaded.codings,
        loaded.turns,
        loaded.sentences,
        coder_a=coder_name(coder_a),
        coder_b=coder_name(coder_b),
        unit=unit,
        codebook=load_codebook_or_none(codebook_path),
        roles=roles,
        n_boot=n_boot,
        seed=seed,
        rollup=rollup,
    )


def pairwise_agreement(
    processed_dir: Path,
    *,
    unit: str = "sentence",
    codebook_path: Path | None = None,
    roles: tuple[str, ...] = ("participant",),
    n_boot: int = N_BOOT,
    seed: int = 0,
    rollup: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Agreement between every pair of coders present in the tables of processed_dir.

    The first coder of a pair is the reference: human:reference, then other people, then
    machines. Pairs without a transcript in common are left out.
    RETURNS (tuple[DataFrame, DataFrame, DataFrame]): the per-code tables of all pairs
        (schema.AGREEMENT_COLUMNS), one summary row per pair (schema.AGREEMENT_PAIR_COLUMNS,
        `Agreement.summary`), and all disagreements (schema.DISAGREEMENT_COLUMNS).
    """
    loaded = _load(Path(processed_dir))
    codebook = load_codebook_or_none(codebook_path)
    results = []
    for coder_a, coder_b in itertools.combinations(coders_present(loaded.codings), 2):
        try:
            results.append(
                compare_coders(
                    loaded.codings,
                    loaded.turns,
                    loaded.sentences,
                    coder_a=coder_a,
                    coder_b=coder_b,
                    unit=unit,
                    codebook=codebook,
                    roles=roles,
                    n_boot=n_boot,
                    seed=seed,
                    rollup=rollup,
                )
            )
        except QualcodeInputError as err:
            logger.info("pair %s / %s left out: %s", coder_a, coder_b, err.detail)
    if not results:
        return (
            pd.DataFrame(columns=schema.AGREEMENT_COLUMNS),
            pd.DataFrame(columns=schema.AGREEMENT_PAIR_COLUMNS),
            _empty_disagreements(),
        )
    per_code = pd.concat([r.table for r in results], ignore_index=True)
    summary = pd.DataFrame([r.summary() for r in results], columns=schema.AGREEMENT_PAIR_COLUMNS)
    disagreements = pd.concat([r.disagreements for r in results], ignore_index=True)
    return per_code, summary, disagreements


# `qualcode agreement` writes four decimals, for reading; the agreement step writes every digit
# (the shortest text that reads back as the same float), so the report shows what was computed.
READABLE = "%.4f"


EXACT = None


def _write_csv(frame: pd.DataFrame, path: Path, *, float_format: str | None) -> Path:
    return schema.write_text(path, schema.csv_for_people(frame, float_format=float_format))


def _write_tables(
    per_code: pd.DataFrame,
    disagreements: pd.DataFrame,
    processed_dir: Path,
    *,
    float_format: str | None,
) -> tuple[Path, Path]:
    csv_path = _write_csv(
        per_code, processed_dir / schema.AGREEMENT_FILE, float_format=float_format
    )
    disagreements = disagreements.astype(
        {c: "string" for c in schema.DISAGREEMENT_COLUMNS if c not in ("turn_id", "sentence_id")}
    ).astype({"turn_id": "int64", "sentence_id": "Int64"})
    parquet_path = schema.write_table(
        disagreements, processed_dir / schema.TABLE_FILES["disagreements"]
    )
    return csv_path, parquet_path


def write_agreement(agreement: Agreement, processed_dir: Path) -> tuple[Path, Path]:
    """Write one pair's agreement.csv (four decimals) and disagreements.parquet, atomically.

    RETURNS (tuple[Path, Path]): the two files.
    """
    return _write_tables(
        agreement.table, agreement.disagreements, Path(processed_dir), float_format=READABLE
    )


def agreement_step(
    processed_dir: Path,
    *,
    codebook_path: Path,
    params: Params,
    reference_dir: Path | None = None,
    raw_dir: Path | None = None,
) -> None:
    """The pipeline's agreement step: every pair of coders compared, for notebook 02.

    Reads codings.parquet, human_codings.parquet, turns.parquet and sentences.parquet; when
    reference_dir is a folder, first imports its CSVs afresh as human:reference into
    human_codings.parquet (`refresh_reference`). Writes, atomically, agreement.csv (the per-code
    rows of every pair at every unit of AGREEMENT_UNITS, sentence rows first, with the parents'
    roll-up rows, every digit kept),
    agreement_pairs.csv (one summary row per pair, at the sentence unit) and
    disagreements.parquet (every pair's disagreements over sentences); with no pair to compare
    they hold no rows. Units are those of the coded roles (params `coding.roles`); intervals are
    seeded with params `report.seed`.
    RETURNS (None).
    """
    processed_dir = Path(processed_dir)
    if reference_dir is not None and Path(reference_dir).is_dir():
        refresh_reference(
            Path(reference_dir), processed_dir, codebook_path=codebook_path, raw_dir=raw_dir
        )
    tables = []
    for unit in AGREEMENT_UNITS:
        per_code, unit_pairs, unit_disagreements = pairwise_agreement(
            processed_dir,
            unit=unit,
            codebook_path=codebook_path,
            roles=params.coding.roles,
            seed=params.report.seed,
            rollup=True,
        )
        tables.append(per_code)
        if unit == "sentence":
            pairs, disagreements = unit_pairs, unit_disagreements
    per_code = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
    _write_tables(per_code, disagreements, processed_dir, float_format=EXACT)
    _write_csv(pairs, processed_dir / schema.AGREEMENT_PAIRS_FILE, float_format=EXACT)


@dataclass(frozen=True)
class AgreementFiles:
    """What the agreement step wrote (see `agreement_step`)."""

    per_code: pd.DataFrame
    pairs: pd.DataFrame
    disagreements: pd.DataFrame


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=columns)
    # Only an empty field is missing: a code may well be called "NA".
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], float_precision="round_trip")
    texts = [c for c in frame.columns if frame[c].dtype == object]
    return frame.assign(**{c: frame[c].map(_restore) for c in texts})


def _restore(value: object) -> object:
    return schema.restore_cell(value) if isinstance(value, str) else value


def read_agreement(processed_dir: Path | str) -> AgreementFiles | None:
    """Read the agreement of processed_dir: agreement.csv, agreement_pairs.csv and
    disagreements.parquet (the last two hold no rows when absent, e.g. after `qualcode
    agreement`, which writes one pair's).

    RETURNS (AgreementFiles | None): the three tables; None before agreement.csv is made.
    """
    processed_dir = Path(processed_dir)
    if not (processed_dir / schema.AGREEMENT_FILE).exists():
        return None
    disagreements = schema.read_table(processed_dir, "disagreements", required=False)
    return AgreementFiles(
        per_code=_read_csv(processed_dir / schema.AGREEMENT_FILE, schema.AGREEMENT_COLUMNS),
        pairs=_read_csv(processed_dir / schema.AGREEMENT_PAIRS_FILE, schema.AGREEMENT_PAIR_COLUMNS),
        disagreements=_empty_disagreements() if disagreements is None else disagreements,
    )


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def interval_text(
    value: float, low: float, high: float, *, n_transcripts: int, metric: str = "kappa"
) -> str:
    """A 95% interval as "0.41 to 0.77", or why there is none.

    RETURNS (str): the interval, or "one transcript: no interval" (nothing to resample), "no
        kappa: no interval" (the metric itself is undefined), "too few transcripts: no interval"
        (too few resamples gave the metric a value).
    """
    if n_transcripts < 2:
        return "one transcript: no interval"
    if value is None or pd.isna(value):
        return f"no {metric}: no interval"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "too few transcripts: no interval"
    return f"{_fmt(low)} to {_fmt(high)}"


def format_agreement(agreement: Agreement) -> str:
    """A plain-text table of the agreement, for the terminal: codes either coder used, then ALL.

    RETURNS (str): the table with a heading line and a note on what it leaves out.
    """
    table = agreement.table
    shown = table[(table["n_first"] + table["n_second"] > 0) | (table["code_id"] == ALL_CODES)]
    hidden = int(((table["scope"] == "code") & (table["n_first"] + table["n_second"] == 0)).sum())
    rows = []
    for row in shown.itertuples(index=False):
        code = row.code_id if row.scope != "rollup" else f"{row.code_id} (+ below)"
        rows.append(
            {
                "code": code,
                "first": row.n_first,
                "second": row.n_second,
                "both": row.n_both,
                "neither": row.n_neither,
                "precision": _fmt(row.precision),
                "recall": _fmt(row.recall),
                "F1": _fmt(row.f1),
                "F1 95% CI": interval_text(
                    row.f1, row.f1_lo, row.f1_hi, n_transcripts=row.n_transcripts, metric="F1"
                ),
                "kappa": _fmt(row.kappa),
                "kappa 95% CI": interval_text(
                    row.kappa, row.kappa_lo, row.kappa_hi, n_transcripts=row.n_transcripts
                ),
                "alpha": _fmt(row.alpha),
            }
        )
    heading = (
        f"Agreement per code at {agreement.unit} level: first = {agreement.coder_a} "
        f"(reference), second = {agreement.coder_b}; {len(agreement.transcripts)} transcript(s) "
        f"({', '.join(agreement.transcripts)}), {agreement.n_units} {agreement.unit}s, of which "
        f"{agreement.n_uncoded_units} neither coder coded at all."
    )
    body = pd.DataFrame(rows).to_string(index=False) if rows else "(no codings in these units)"
    notes = []
    if hidden:
        notes.append(f"{hidden} codebook code(s) that neither coder used are not shown.")
    notes.append(
        "`neither` counts units neither coder gave the code; they inflate percent agreement. "
        "CIs: bootstrap over transcripts."
    )
    return "\n".join([heading, body, *notes])
