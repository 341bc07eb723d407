"""Page 02: how the automatic coding agrees with people's coding, and how the learned coder
compares with the rules.

The agreement tables are written by the pipeline's agreement step (`qualcode.human.agreement`);
the learned coder's evaluation by its learning step. The functions here pick what the page
reports: the pair of coders, the pooled row, the codes with the best and worst agreement, the
coder with the best held-out score.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qualcode.analysis.checks import PremiseError
from qualcode.analysis.study import code_labels
from qualcode.analysis.text import decimal, percent, plain_numbers, plural
from qualcode.human.agreement import ALL_CODES, AgreementFiles, interval_text
from qualcode.human.store import HUMAN_PREFIX, MACHINE_CODERS
from qualcode.units import AGREEMENT_UNITS, PARTICIPANT_UNIT

# Kappa from which agreement is usually called substantial (Landis and Koch 1977).
SUBSTANTIAL_KAPPA = 0.6


def main_pair(agreement: pd.DataFrame) -> tuple[str, str] | None:
    """The pair of coders to report: a person (the reference first) against the machine.

    RETURNS (tuple[str, str] | None): (coder_a, coder_b): the first pair in the frame whose first
        coder is a person (human:...) and whose second is rules or model; else the first pair;
        None for a frame without coder columns or rows.
    """
    if agreement.empty or not {"coder_a", "coder_b"} <= set(agreement.columns):
        return None
    pairs = list(dict.fromkeys(zip(agreement["coder_a"], agreement["coder_b"], strict=True)))
    for first, second in pairs:
        if str(first).startswith(HUMAN_PREFIX) and second in MACHINE_CODERS:
            return str(first), str(second)
    return str(pairs[0][0]), str(pairs[0][1])


def agreement_table(
    agreement: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    metric: str = "kappa",
    pair: tuple[str, str] | None = None,
    unit: str = "sentence",
) -> pd.DataFrame:
    """Per-code agreement of one pair of coders, best first, the pooled rows last.

    agreement: agreement.csv or human.agreement's per-code frame (one row per code, scope, unit
        and pair of coders). The rows of `unit` and `pair` (default: `main_pair`) are kept, but
        not the
        parents' roll-up rows (scope "rollup"); and
        codes that neither coder used (n_first + n_second == 0) are left out (their number is in
        attrs["unused"]). Rows of codes outside the codebook (imported coding may use its own)
        come after the codebook's codes, and the pooled row (code_id ALL) last.
    RETURNS (DataFrame): code_id, label, then the agreement frame's columns.
    """
    if metric not in agreement.columns:
        raise PremiseError(
            f"agreement has no `{metric}` column (has {', '.join(agreement.columns)})"
        )
    table = agreement.copy()
    if "unit" in table.columns:
        table = table[table["unit"] == unit]
    if "scope" in table.columns:
        table = table[table["scope"] != "rollup"]
    pair = pair or main_pair(table)
    if pair is not None:
        table = table[(table["coder_a"] == pair[0]) & (table["coder_b"] == pair[1])]
    unused = 0
    if {"n_first", "n_second"} <= set(table.columns):
        used = (table["n_first"] + table["n_second"]) > 0
        unused = int((~used).sum())
        table = table[used]
    labels = code_labels(codebook)
    table.insert(1, "label", table["code_id"].map(labels))
    in_book = table["code_id"].isin(labels)
    ranked = table[in_book].sort_values(
        [metric, "code_id"], ascending=[False, True], na_position="last"
    )
    pooled = table["code_id"] == ALL_CODES
    outside = table[~in_book & ~pooled].sort_values("code_id")
    result = pd.concat([ranked, outside, table[pooled]], ignore_index=True)
    result.attrs["unused"] = unused
    result.attrs["pair"] = pair
    return result


def has_interval(row: pd.Series, metric: str = "kappa") -> bool:
    """RETURNS (bool): whether the row has a 95% interval of `metric` (both ends known)."""
    return bool(pd.notna(row[f"{metric}_lo"]) and pd.notna(row[f"{metric}_hi"]))


@dataclass(frozen=True)
class AgreementView:
    """The agreement page 02 reports: one pair of coders, per code and pooled."""

    table: pd.DataFrame  # `agreement_table` of the pair: codes best first, pooled rows last
    coder_a: str  # the reference
    coder_b: str
    per_code: pd.DataFrame  # the table's codebook codes with a kappa, best first
    pooled: pd.Series  # the pooled row (code_id ALL)
    outside: pd.DataFrame  # the rows of codes outside the codebook, apart from the per-code rows
    best: pd.Series  # the code with the highest kappa
    worst: pd.Series  # ... and the lowest
    n_substantial: int  # codes with kappa >= SUBSTANTIAL_KAPPA
    n_disagreements: int  # the pair's sentence-code disagreements
    other_pairs: pd.DataFrame  # the summary rows of the other pairs compared

    @property
    def n_units(self) -> int:
        """RETURNS (int): the participant sentences both coders covered."""
        return int(self.per_code["n_units"].max())

    def interval(self, row: pd.Series, metric: str = "kappa") -> str:
        """RETURNS (str): the row's 95% interval of `metric` ("0.41 to 0.77"), or why none."""
        return interval_text(
            row[metric],
            row[f"{metric}_lo"],
            row[f"{metric}_hi"],
            n_transcripts=int(row["n_transcripts"]),
            metric=metric,
        )

    def display_table(self) -> pd.DataFrame:
        """The per-code table for the page: counts, kappa with its interval (or why there is
        none), precision, recall and F1 in plain decimals, an undefined value left empty.

        RETURNS (DataFrame): indexed by code_id; codes best first, codes outside the codebook,
            then the pooled row.
        """
        table = self.table
        shown = pd.DataFrame(
            {
                "code_id": table["code_id"],
                "label": table["label"].fillna(""),
                f"{self.coder_a} sentences": table["n_first"].astype(int),
                f"{self.coder_b} sentences": table["n_second"].astype(int),
                "both": table["n_both"].astype(int),
                "kappa": table["kappa"].astype(float),
                "kappa 95% interval": [self.interval(row) for _i, row in table.iterrows()],
                "precision": table["precision"].astype(float),
                "recall": table["recall"].astype(float),
                "F1": table["f1"].astype(float),
            }
        )
        return plain_numbers(shown).set_index("code_id")


def agreement_view(files: AgreementFiles | None, codebook: pd.DataFrame) -> AgreementView | None:
    """The agreement to report, from the agreement step's files (`read_agreement`).

    RETURNS (AgreementView | None): the main pair's view; None without agreement rows (no
        people's coding to compare with).
    """
    if files is None or files.per_code.empty:
        return None
    table = agreement_table(files.per_code, codebook)
    coder_a, coder_b = table.attrs["pair"]
    in_book = table["code_id"].isin(codebook["code_id"])
    pooled = table["code_id"] == ALL_CODES
    if not pooled.any():
        raise PremiseError(f"agreement of {coder_a} and {coder_b} has no pooled row ({ALL_CODES})")
    per_code = table[in_book].dropna(subset=["kappa"])
    disagreements = files.disagreements
    return AgreementView(
        table=table,
        coder_a=coder_a,
        coder_b=coder_b,
        per_code=per_code,
        pooled=table[pooled].iloc[0],
        outside=table[~in_book & ~pooled],
        best=per_code.iloc[0],
        worst=per_code.iloc[-1],
        n_substantial=int((per_code["kappa"] >= SUBSTANTIAL_KAPPA).sum()),
        n_disagreements=int(
            ((disagreements["coder_a"] == coder_a) & (disagreements["coder_b"] == coder_b)).sum()
        ),
        other_pairs=files.pairs.iloc[1:],
    )


# ---------------------------------------------------------------------------------------------
# The learned coder


def best_coder(summary: pd.DataFrame) -> pd.Series:
    """RETURNS (Series): the evaluation summary row with the highest held-out micro-F1."""
    return summary.sort_values("micro_f1", ascending=False).iloc[0]


@dataclass(frozen=True)
class CodeEvaluation:
    """The learned coder against the rules, per code."""

    table: pd.DataFrame  # the per-code evaluation with each code's label
    not_learned: list[str]  # labels of the codes the model did not learn in every fold
    model_wins: list[str]  # labels of the codes where the model beats the rules


def code_evaluation(per_code: pd.DataFrame, codebook: pd.DataFrame) -> CodeEvaluation:
    """Label the per-code evaluation and name the codes not learned and those the model wins.

    per_code: the learned coder's per-code evaluation (code_id, learned, better, F1 columns).
    RETURNS (CodeEvaluation): the labelled table and the two lists of labels.
    """
    table = per_code.merge(codebook[["code_id", "label"]], on="code_id", how="left")
    table["label"] = table["label"].fillna(table["code_id"])
    return CodeEvaluation(
        table=table,
        not_learned=table.loc[~table["learned"].astype(bool), "label"].tolist(),
        model_wins=table.loc[table["better"] == "model", "label"].tolist(),
    )


def largest_gain(ablation: pd.DataFrame) -> pd.Series | None:
    """RETURNS (Series | None): the ablation row whose added context gains most micro-F1 (None
    when no row has a gain)."""
    gains = ablation.dropna(subset=["micro_f1_gain"])
    if gains.empty:
        return None
    return gains.sort_values("micro_f1_gain", ascending=False).iloc[0]


# ---------------------------------------------------------------------------------------------
# Agreement at the three units, and the codes to read as indicative only

INDICATIVE = "indicative only"


def is_indicative(kappa: float) -> bool:
    """Whether a code's automatic coding agrees too poorly with people's for its figures to be
    read as more than indicative: kappa under SUBSTANTIAL_KAPPA (a kappa that cannot be computed
    is no evidence either way, and is not flagged).

    RETURNS (bool): True for kappa < SUBSTANTIAL_KAPPA.
    """
    return kappa is not None and not pd.isna(kappa) and float(kappa) < SUBSTANTIAL_KAPPA


def agreement_flag(kappa: float) -> str:
    """RETURNS (str): INDICATIVE for a kappa under SUBSTANTIAL_KAPPA (`is_indicative`), else ""."""
    return INDICATIVE if is_indicative(kappa) else ""


def kappa_text(kappa: float, low: float, high: float) -> str:
    """RETURNS (str): "0.72 (0.55 to 0.86)", the interval left out where it is unknown; "n/a"
    for a kappa that cannot be computed."""
    if kappa is None or pd.isna(kappa):
        return "n/a"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return decimal(kappa)
    return f"{decimal(kappa)} ({decimal(low)} to {decimal(high)})"


def _unit_rows(agreement: pd.DataFrame, pair: tuple[str, str], unit: str) -> pd.DataFrame:
    rows = agreement[
        (agreement["coder_a"] == pair[0])
        & (agreement["coder_b"] == pair[1])
        & (agreement["unit"] == unit)
    ]
    return rows


def kappa_by_unit(
    agreement: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    pair: tuple[str, str] | None = None,
    units: tuple[str, ...] = AGREEMENT_UNITS,
) -> pd.DataFrame:
    """Per code, the kappa of one pair of coders at each unit, side by side: sentence, turn and
    participant (did the participant voice the code at all, negated codings not counting).

    agreement: agreement.csv (`read_agreement(...).per_code`), rows of every unit.
    pair: the coders (default: `main_pair`, a person against the machine).
    RETURNS (DataFrame): one row per code either coder used (scope "code"), codebook codes in
        codebook order, then the others, then the pooled row (ALL): code_id, label, and per unit
        u: `u` (kappa with its 95% interval, as text), kappa_u, kappa_u_lo, kappa_u_hi, n_units_u;
        then `indicative only at` (the units where kappa is under SUBSTANTIAL_KAPPA). attrs
        "pair" and "n_units" (unit -> units compared).
    """
    frame = agreement[agreement["scope"] != "rollup"] if "scope" in agreement.columns else agreement
    pair = pair or main_pair(frame)
    labels = code_labels(codebook)
    columns = ["code_id", "label"]
    for unit in units:
        columns += [
            unit,
            f"kappa_{unit}",
            f"kappa_{unit}_lo",
            f"kappa_{unit}_hi",
            f"n_units_{unit}",
        ]
    columns.append(f"{INDICATIVE} at")
    if pair is None or "unit" not in frame.columns:
        return pd.DataFrame(columns=columns)
    by_unit = {u: _unit_rows(frame, pair, u).set_index("code_id") for u in units}
    used: set[str] = set()
    for rows in by_unit.values():
        used |= set(rows.index[(rows["n_first"] + rows["n_second"]) > 0]) - {ALL_CODES}
    order = [c for c in codebook["code_id"] if c in used] + sorted(used - set(labels))
    records = []
    for code_id in [*order, ALL_CODES]:
        record: dict[str, object] = {
            "code_id": code_id,
            "label": labels.get(code_id, "all codes" if code_id == ALL_CODES else code_id),
        }
        flagged = []
        for unit, rows in by_unit.items():
            row = rows.loc[code_id] if code_id in rows.index else None
            values = [
                float("nan") if row is None else row[c] for c in ("kappa", "kappa_lo", "kappa_hi")
            ]
            record[unit] = kappa_text(*values)
            record[f"kappa_{unit}"], record[f"kappa_{unit}_lo"], record[f"kappa_{unit}_hi"] = values
            record[f"n_units_{unit}"] = 0 if row is None else int(row["n_units"])
            if code_id != ALL_CODES and is_indicative(values[0]):
                flagged.append(unit)
        record[f"{INDICATIVE} at"] = ", ".join(flagged)
        records.append(record)
    table = pd.DataFrame(records, columns=columns)
    table.attrs["pair"] = pair
    per_code = {u: rows[rows.index != ALL_CODES] for u, rows in by_unit.items()}
    table.attrs["n_units"] = {
        u: int(rows["n_units"].max()) if len(rows) else 0 for u, rows in per_code.items()
    }
    return table


@dataclass(frozen=True)
class CodeCheck:
    """How far the automatic coding of one code agrees with people's, at one unit, on the
    transcripts people coded."""

    code_id: str
    unit: str
    coder_a: str  # the person
    coder_b: str  # the automatic coder
    kappa: float
    kappa_lo: float
    kappa_hi: float
    percent_agreement: float
    n_units: int  # units compared (at the participant unit: participants)
    n_first: int  # units the person coded with the code
    n_second: int  # ... and the automatic coder

    @property
    def indicative(self) -> bool:
        """RETURNS (bool): whether the code's figures are indicative only (`is_indicative`)."""
        return is_indicative(self.kappa)

    def phrase(self) -> str:
        """RETURNS (str): the check in words, e.g. "against human:reference on 3 participants:
        kappa 0.65 (0.20 to 1.00); indicative only"."""
        what = plural(self.n_units, self.unit)
        head = f"against {self.coder_a} on {what}: "
        if self.n_first + self.n_second == 0:
            return head + "neither coded it, so agreement cannot be told"
        if pd.isna(self.kappa):
            agreed = (
                "every one"
                if self.percent_agreement == 1
                else f"{percent(self.percent_agreement)} of them"
            )
            return head + (
                f"kappa cannot be computed (they agree on {agreed}, with too little variation "
                "to measure agreement by)"
            )
        return (
            head
            + f"kappa {kappa_text(self.kappa, self.kappa_lo, self.kappa_hi)}"
            + (f"; {INDICATIVE}" if self.indicative else "")
        )


NO_HUMAN_CODING = "no human coding to check it against"


def code_checks(
    files: AgreementFiles | None,
    codes: list[str],
    *,
    unit: str = PARTICIPANT_UNIT,
    pair: tuple[str, str] | None = None,
) -> dict[str, CodeCheck | None]:
    """Per code, how far the automatic coding agrees with people at `unit`, from the agreement
    step's files: a parent code's row counts the codes below it (scope "rollup"), as the report's
    counts of participants do.

    pair: (person, automatic coder); default `main_pair` of the files.
    RETURNS (dict[str, CodeCheck | None]): code id -> its check; None where there is no human
        coding to check it against (`check_phrase` says so).
    """
    checks: dict[str, CodeCheck | None] = dict.fromkeys(codes)
    if files is None or files.per_code.empty or "unit" not in files.per_code.columns:
        return checks
    pair = pair or main_pair(files.per_code)
    if pair is None or not str(pair[0]).startswith(HUMAN_PREFIX):
        return checks
    rows = _unit_rows(files.per_code, pair, unit)
    for code_id in codes:
        found = rows[rows["code_id"] == code_id]
        if found.empty:
            continue
        scoped = found[found["scope"] == "rollup"] if "scope" in found.columns else found
        row = (scoped if len(scoped) else found).iloc[0]
        checks[code_id] = CodeCheck(
            code_id=code_id,
            unit=unit,
            coder_a=pair[0],
            coder_b=pair[1],
            kappa=float(row["kappa"]),
            kappa_lo=float(row["kappa_lo"]),
            kappa_hi=float(row["kappa_hi"]),
            percent_agreement=float(row["percent_agreement"]),
            n_units=int(row["n_units"]),
            n_first=int(row["n_first"]),
            n_second=int(row["n_second"]),
        )
    return checks


def check_phrase(check: CodeCheck | None) -> str:
    """RETURNS (str): `CodeCheck.phrase`, or NO_HUMAN_CODING for a code without a check."""
    return NO_HUMAN_CODING if check is None else check.phrase()


def indicative_codes(checks: dict[str, CodeCheck | None]) -> list[str]:
    """RETURNS (list[str]): the codes of `code_checks` whose figures are indicative only."""
    return [code_id for code_id, check in checks.items() if check is not None and check.indicative]
