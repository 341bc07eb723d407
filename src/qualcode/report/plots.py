"""Figures for the notebooks: readable at a glance on a laptop screen.

Each function takes a table from qualcode.analysis and a title that states the finding, and returns
a matplotlib Figure with labelled axes, sorted bars and a colour-blind-safe palette (seaborn's
"colorblind" for categories, cividis for heatmaps).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

PALETTE = "colorblind"
HEATMAP_CMAP = "cividis"
WIDTH = 9.0  # inches; at 100 dpi a figure is at most 900 px wide
DPI = 100


def colors(n: int) -> list[tuple[float, float, float]]:
    """RETURNS (list): n colours of the colour-blind-safe palette."""
    return sns.color_palette(PALETTE, n)


def use_style() -> None:
    """Set the report's plotting style: white grid, colour-blind palette, laptop-sized figures."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update(
        {
            "figure.figsize": (WIDTH, 4.5),
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "axes.titlesize": 13,
            "axes.titlelocation": "left",
            "image.cmap": HEATMAP_CMAP,
        }
    )


def png_bytes(fig: Figure) -> bytes:
    """RETURNS (bytes): the figure as PNG at the report's resolution (tight, no software tag)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def show(fig: Figure, *, alt: str | None = None) -> None:
    """Display a figure in the notebook as a PNG whose alt text is its title, then close it.

    alt: the description for readers who cannot see the figure (default: the figure's title).
    """
    from IPython.display import Image, display

    text = " ".join((alt if alt is not None else fig.get_suptitle()).split())
    display(Image(data=png_bytes(fig), format="png", alt=text or None))
    plt.close(fig)


def _height(
    n_rows: int, *, per_row: float = 0.38, minimum: float = 2.5, maximum: float = 9.0
) -> float:
    return float(min(maximum, max(minimum, 1.2 + per_row * n_rows)))


def _wrap(title: str, width: int = 80) -> str:
    return "\n".join(textwrap.wrap(title, width)) if len(title) > width else title


def _title(fig: Figure, title: str) -> None:
    """The finding, top left of the figure (above long tick labels too), wrapped to its width."""
    width = int(fig.get_size_inches()[0] * 8.2)
    fig.suptitle(_wrap(title, width), x=0.01, ha="left", fontweight="bold", fontsize=13)


def _tick_label(text: object, width: int = 34) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def bar_chart(
    values: pd.Series,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "",
    labels: Sequence[str] | None = None,
    xmax: float | None = None,
    color_index: int = 0,
) -> Figure:
    """Horizontal bars, largest on top, each annotated with its value (or with `labels`).

    values: indexed by the bar names.
    RETURNS (Figure): the chart.
    """
    order = np.argsort(-values.to_numpy(dtype=float), kind="stable")
    values = values.iloc[order]
    texts = [labels[i] for i in order] if labels is not None else None
    names = [_tick_label(i) for i in values.index]
    extra_lines = sum(n.count("\n") for n in names)
    height = min(9.0, max(2.5, 1.3 + 0.36 * len(values) + 0.14 * extra_lines))
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    positions = np.arange(len(values))
    ax.barh(positions, values.to_numpy(dtype=float), color=colors(color_index + 1)[color_index])
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    top = float(values.max()) if len(values) else 1.0
    longest = max((len(t) for t in texts), default=4) if texts else 4
    headroom = min(1.8, 1.08 + 0.021 * longest)
    ax.set_xlim(0, ((xmax if xmax is not None else top) or 1) * headroom)
    if np.allclose(values.to_numpy(dtype=float) % 1, 0):
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    if xmax is not None:
        # The scale ends at xmax (e.g. all participants); the room beyond holds the labels.
        ticks = ax.get_xticks()
        ax.set_xticks([t for t in ticks if 0 <= t <= xmax] + ([xmax] if xmax not in ticks else []))
    for pos, value, text in zip(positions, values, texts or [None] * len(values), strict=True):
        shown = text if text is not None else _number(value)
        ax.text(float(value) + (top or 1) * 0.01, pos, shown, va="center", fontsize=10)
    _title(fig, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def _number(value: float) -> str:
    value = float(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


def metric_chart(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str],
    label_column: str,
    title: str,
    xlabel: str,
    xlim: tuple[float, float] = (0.0, 1.0),
    reference: float | None = None,
    intervals: Mapping[str, tuple[str, str]] | None = None,
) -> Figure:
    """Grouped horizontal bars of several metrics per row (e.g. kappa and F1 per code).

    Rows are sorted by the first metric, best on top. reference draws a dashed guide line.
    intervals: per metric, the columns of its lower and upper bound, drawn as error bars.
    RETURNS (Figure): the chart.
    """
    table = table.sort_values(metrics[0], ascending=False, na_position="last", kind="stable")
    n = len(table)
    fig, ax = plt.subplots(figsize=(WIDTH, _height(n, per_row=0.5, maximum=9.8)))
    height = 0.8 / len(metrics)
    positions = np.arange(n)
    palette = colors(len(metrics))
    for i, metric in enumerate(metrics):
        values = table[metric].fillna(0).to_numpy(dtype=float)
        error = None
        if intervals and metric in intervals:
            lo_col, hi_col = intervals[metric]
            lo = table[lo_col].to_numpy(dtype=float)
            hi = table[hi_col].to_numpy(dtype=float)
            error = np.nan_to_num(np.clip(np.vstack([values - lo, hi - values]), 0, None))
        ax.barh(
            positions + (i - (len(metrics) - 1) / 2) * height,
            values,
            height=height,
            color=palette[i],
            label=metric,
            xerr=error,
            error_kw={"ecolor": "0.25", "elinewidth": 1, "capsize": 2},
        )
    ax.set_yticks(
        positions, [_tick_label(t, 40) for t in table[label_column]], fontsize=10 if n <= 15 else 9
    )
    ax.invert_yaxis()
    ax.set_xlim(*xlim)
    if reference is not None:
        ax.axvline(reference, color="0.3", linestyle="--", linewidth=1)
    _title(fig, title)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", frameon=True)
    fig.tight_layout()
    return fig


def heatmap(
    matrix: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    fmt: str = "d",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar_label: str = "",
    annotate: bool = True,
    mask_diagonal: bool = False,
    lower_triangle: bool = False,
) -> Figure:
    """A heatmap with the cividis colour map, cells annotated with their values.

    mask_diagonal, lower_triangle: for a symmetric matrix, hide the diagonal, or show only the
        cells below it.

    Without vmax the colour scale is robust (2nd to 98th percentile), so one outlier does not
    wash out the rest. Long row and column names are wrapped.
    RETURNS (Figure): the chart.
    """
    mask = None
    if matrix.shape[0] == matrix.shape[1] and lower_triangle:
        matrix = matrix.iloc[1:, :-1]
        mask = np.triu(np.ones(matrix.shape, dtype=bool), k=1)
    elif matrix.shape[0] == matrix.shape[1] and mask_diagonal:
        mask = np.eye(matrix.shape[0], dtype=bool)
    n_rows, n_cols = matrix.shape
    row_names = [_tick_label(i, 44) for i in matrix.index]
    col_names = [_tick_label(c, 30) for c in matrix.columns]
    row_chars = max((max(len(x) for x in n.split("\n")) for n in row_names), default=4)
    col_chars = max((max(len(x) for x in n.split("\n")) for n in col_names), default=4)
    font = 10 if max(n_rows, n_cols) <= 15 else 9
    width = min(WIDTH + 4, max(5.0, 0.075 * row_chars + 0.42 * n_cols + 2.0))
    height = min(9.8, max(3.0, 0.075 * col_chars + 0.32 * n_rows + 1.4))
    fig, ax = plt.subplots(figsize=(width, height))
    sns.heatmap(
        matrix,
        ax=ax,
        cmap=HEATMAP_CMAP,
        vmin=vmin,
        vmax=vmax,
        robust=vmax is None,
        annot=annotate and n_rows * n_cols <= 600,
        fmt=fmt,
        annot_kws={"fontsize": 8},
        linewidths=0.5,
        linecolor="white",
        mask=mask,
        cbar_kws={"label": colorbar_label, "shrink": 0.8},
    )
    _title(fig, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(np.arange(n_cols) + 0.5, col_names, rotation=90, fontsize=font)
    ax.set_yticks(np.arange(n_rows) + 0.5, row_names, rotation=0, fontsize=font)
    ax.grid(False)
    fig.tight_layout()
    return fig


def dot_range_chart(
    values: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    label_column: str = "pseudonym",
    ylabel: str = "Participant",
    reference: float | None = None,
    reference_label: str = "median",
) -> Figure:
    """One row per participant: a dot at their value and a line over their stated range.

    values: columns label_column, value, low, high (analysis.quantity_values); sorted by value.
    reference: a dashed vertical line (e.g. the median across participants).
    RETURNS (Figure): the chart.
    """
    table = values.sort_values(["value", label_column], kind="stable").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(WIDTH, _height(len(table), per_row=0.35)))
    positions = np.arange(len(table))
    color = colors(3)[2]
    ax.hlines(positions, table["low"], table["high"], color=color, linewidth=3, alpha=0.5)
    ax.plot(table["value"], positions, "o", color=color, markersize=8)
    ax.set_yticks(positions, table[label_column].astype(str).tolist())
    if reference is not None and not pd.isna(reference):
        ax.axvline(
            reference,
            color="0.3",
            linestyle="--",
            linewidth=1,
            label=f"{reference_label} {_number(reference)}",
        )
        ax.legend(loc="best", frameon=True)
    high = float(table["high"].max()) if len(table) else 1.0
    ax.set_xlim(0, high * 1.1 if high > 0 else 1)
    _title(fig, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def saturation_chart(
    summary: pd.DataFrame,
    *,
    n_codes: int,
    title: str,
    band_label: str = "10th-90th percentile of orders",
) -> Figure:
    """Two panels: distinct codes found and new codes per added interview, mean with a band.

    summary: analysis.saturation(...).summary.
    RETURNS (Figure): the chart.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH + 1, 4.2))
    palette = colors(2)
    x = summary["position"]
    left.fill_between(
        x,
        summary["cumulative_low"],
        summary["cumulative_high"],
        color=palette[0],
        alpha=0.25,
        label=band_label,
    )
    left.plot(x, summary["cumulative_mean"], "o-", color=palette[0], label="mean over orders")
    left.axhline(n_codes, color="0.3", linestyle="--", linewidth=1)
    left.text(x.min(), n_codes, f"all {n_codes} codes", va="bottom", fontsize=9)
    left.set_xlabel("Interviews analysed")
    left.set_ylabel("Distinct codes found")
    left.set_ylim(0, max(n_codes, 1) * 1.12)
    left.legend(loc="lower right", fontsize=9)
    right.fill_between(
        x, summary["new_low"], summary["new_high"], color=palette[1], alpha=0.25, label=band_label
    )
    right.plot(x, summary["new_mean"], "o-", color=palette[1], label="mean over orders")
    right.set_xlabel("Interview added (position in the order)")
    right.set_ylabel("New codes it brings")
    right.set_ylim(bottom=0)
    right.legend(loc="upper right", fontsize=9)
    for ax in (left, right):
        ax.set_xticks(list(x))
    _title(fig, title)
    fig.tight_layout()
    return fig


def stacked_share_chart(
    table: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "",
) -> Figure:
    """Horizontal 100% bars: each row's split over the columns (e.g. a code's mentions by section).

    Rows keep their order; columns keep theirs (e.g. past, present, future).
    RETURNS (Figure): the chart.
    """
    totals = table.sum(axis=1).replace(0, np.nan)
    shares = table.div(totals, axis=0).fillna(0)
    fig, ax = plt.subplots(figsize=(WIDTH, _height(len(table))))
    left = np.zeros(len(table))
    positions = np.arange(len(table))
    palette = colors(len(table.columns))
    for i, column in enumerate(table.columns):
        ax.barh(positions, shares[column], left=left, color=palette[i], label=str(column))
        left += shares[column].to_numpy()
    ax.set_yticks(positions, [_tick_label(i) for i in table.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    _title(fig, title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", visible=False)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.02 * len(table) ** 0.5),
        ncol=len(table.columns),
        frameon=False,
    )
    fig.tight_layout()
    return fig
