"""Wording for the narrative: counts, shares, lists and numbers as the pages print them, and
participants' words made safe for Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd


def count_phrase(n: int, total: int, noun: str = "participants") -> str:
    """RETURNS (str): "7 of 10 participants"."""
    return f"{n} of {total} {noun}"


def listing(items: Iterable[object], *, conjunction: str = "and") -> str:
    """RETURNS (str): "a, b and c" (empty text for no items)."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def percent(share: float, digits: int = 0) -> str:
    """RETURNS (str): a share (0..1) as a percentage, "n/a" when undefined."""
    if share is None or pd.isna(share):
        return "n/a"
    return f"{100 * share:.{digits}f}%"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """RETURNS (str): "1 code", "3 codes"."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"


def some_of(n: int, total: int, singular: str, plural_form: str | None = None) -> str:
    """How many of a set, in words: "the one code", "no code" (of one), "all 5 codes",
    "2 of the 3 codes", "none of the 4 codes".

    RETURNS (str): the phrase, lower case.
    """
    many = plural_form or singular + "s"
    if total == 1:
        return f"the one {singular}" if n == 1 else f"no {singular}"
    if n == total:
        return f"all {total} {many}"
    if n == 0:
        return f"none of the {total} {many}"
    return f"{n} of the {total} {many}"


def decimal(value: float, digits: int = 2) -> str:
    """RETURNS (str): the value with `digits` decimals, never "-0.00"; "n/a" for NaN."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def _plain(value: float, *, digits: int, whole: bool, missing: str) -> str:
    if pd.isna(value):
        return missing
    return f"{value:,.0f}" if whole else f"{round(float(value), digits) + 0.0:.{digits}f}"


def plain_numbers(frame: pd.DataFrame, *, digits: int = 2, missing: str = "") -> pd.DataFrame:
    """A table for the page: fractional numbers as plain decimals (never 4.97e-01), whole numbers
    as they are, a missing value as `missing` (never NaN).

    RETURNS (DataFrame): a copy whose float columns hold text.
    """
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if not pd.api.types.is_float_dtype(values):
            continue
        whole = bool(values.dropna().map(float.is_integer).all())
        shown[column] = [_plain(v, digits=digits, whole=whole, missing=missing) for v in values]
    return shown


def number(value: float) -> str:
    """RETURNS (str): 10 for 10.0, 2.5 for 2.5, "n/a" for NaN."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def humanise(value: str) -> str:
    """RETURNS (str): "part time remote" for "part_time_remote"."""
    return str(value).replace("_", " ")


def md_escape(text: str) -> str:
    """Escape a participant's words for Markdown, so `$`, `*`, `_` or `[` show as typed.

    RETURNS (str): the escaped text, on one line.
    """
    text = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]<>()#+|$~])", r"\\\1", text)


def word_count(text: pd.Series) -> pd.Series:
    """RETURNS (Series): the number of white-space separated words of each text (0 for none)."""
    return text.fillna("").str.split().str.len().astype(int)
