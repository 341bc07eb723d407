"""Figures: titles, labelled axes, sorted bars, colour-blind-safe colours, laptop-sized."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import seaborn as sns  # noqa: E402

from qualcode.report import plots  # noqa: E402

MAX_PIXELS = (1300, 1000)  # a laptop screen at 100 dpi


@pytest.fixture(autouse=True)
def _style():
    plots.use_style()
    yield
    plt.close("all")


def _fits_laptop(fig) -> None:
    width, height = fig.get_size_inches() * fig.dpi
    assert width <= MAX_PIXELS[0]
    assert height <= MAX_PIXELS[1]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def _ytick_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def test_palette_is_colour_blind_safe():
    assert plots.colors(3) == sns.color_palette("colorblind", 3)
    assert matplotlib.rcParams["image.cmap"] == "cividis"


def test_bar_chart_sorted_largest_on_top_with_labels():
    values = pd.Series({"Niche": 3, "Brand": 7, "Alliances": 5})
    fig = plots.bar_chart(
        values,
        title="Brand is voiced most",
        xlabel="Participants",
        labels=["3 of 10", "7 of 10", "5 of 10"],
        xmax=10,
    )
    ax = fig.axes[0]
    assert fig._suptitle.get_text() == "Brand is voiced most"
    assert ax.get_xlabel() == "Participants"
    # The y axis is inverted: the first tick is drawn at the top.
    assert _ytick_labels(ax) == ["Brand", "Alliances", "Niche"]
    assert ax.yaxis_inverted()
    widths = [patch.get_width() for patch in ax.patches]
    assert widths == [7, 5, 3]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["7 of 10", "5 of 10", "3 of 10"]
    assert ax.get_xlim()[1] == pytest.approx(10 * (1.08 + 0.021 * 7))
    assert all(float(t).is_integer() for t in ax.get_xticks())
    assert max(ax.get_xticks()) == 10
    _fits_laptop(fig)


def test_long_titles_and_labels_wrap():
    long_label = "Do good work so you can operate on reputation and referrals"
    fig = plots.bar_chart(pd.Series({long_label: 1}), title="word " * 40, xlabel="x")
    assert "\n" in fig._suptitle.get_text()
    assert "\n" in _ytick_labels(fig.axes[0])[0]
    many = pd.Series({f"{long_label} {i}": i for i in range(25)})
    _fits_laptop(plots.bar_chart(many, title="t", xlabel="x"))


def test_metric_chart_groups_metrics_sorted_by_first():
    table = pd.DataFrame(
        {
            "label": ["Niche", "Brand", "Referrals"],
            "kappa": [0.4, 0.9, np.nan],
            "f1": [0.5, 0.8, 0.2],
        }
    )
    fig = plots.metric_chart(
        table,
        metrics=["kappa", "f1"],
        label_column="label",
        title="Agreement is highest for Brand",
        xlabel="Score",
        reference=0.6,
    )
    ax = fig.axes[0]
    assert _ytick_labels(ax) == ["Brand", "Niche", "Referrals"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["kappa", "f1"]
    assert ax.get_xlim() == (0.0, 1.0)
    _fits_laptop(fig)
    table = table.assign(kappa_lo=[0.2, 0.7, np.nan], kappa_hi=[0.6, 1.0, np.nan])
    fig = plots.metric_chart(
        table,
        metrics=["kappa"],
        label_column="label",
        title="t",
        xlabel="x",
        intervals={"kappa": ("kappa_lo", "kappa_hi")},
    )
    errorbar = fig.axes[0].containers[0]
    segments = errorbar.lines[2][0].get_segments()
    assert [tuple(seg[:, 0]) for seg in segments[:2]] == [(0.7, 1.0), (0.2, 0.6)]


def test_heatmap_uses_cividis_and_labels():
    matrix = pd.DataFrame([[1, 0], [2, 3]], index=["P01", "P02"], columns=["NICHE", "BRAND"])
    fig = plots.heatmap(
        matrix, title="P02 covers both", xlabel="Code", ylabel="Participant", colorbar_label="n"
    )
    ax = fig.axes[0]
    assert ax.collections[0].get_cmap().name == "cividis"
    assert ax.get_xlabel() == "Code" and ax.get_ylabel() == "Participant"
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3"]
    _fits_laptop(fig)


def test_heatmap_masks_diagonal_and_stays_small_when_large():
    codes = [f"CODE_{i}" for i in range(40)]
    matrix = pd.DataFrame(np.eye(40), index=codes, columns=codes)
    fig = plots.heatmap(
        matrix, title="t", xlabel="x", ylabel="y", fmt=".2f", mask_diagonal=True, annotate=False
    )
    assert not fig.axes[0].texts
    _fits_laptop(fig)
    small = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["A", "B"], columns=["A", "B"])
    fig = plots.heatmap(small, title="t", xlabel="x", ylabel="y", fmt=".1f", lower_triangle=True)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.5"]


def test_dot_range_chart_sorted_with_reference():
    values = pd.DataFrame(
        {
            "pseudonym": ["P01", "P02", "P03"],
            "value": [20.0, 5.0, 10.0],
            "low": [15.0, 5.0, 10.0],
            "high": [25.0, 5.0, 10.0],
        }
    )
    fig = plots.dot_range_chart(
        values, title="Most give a client about 10 hours", xlabel="Hours per week", reference=10.0
    )
    ax = fig.axes[0]
    assert _ytick_labels(ax) == ["P02", "P03", "P01"]
    assert ax.get_xlabel() == "Hours per week"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["median 10"]
    _fits_laptop(fig)


def test_saturation_chart_two_panels_with_band():
    summary = pd.DataFrame(
        {
            "position": [1, 2, 3],
            "new_mean": [5.0, 2.0, 0.5],
            "new_low": [4.0, 1.0, 0.0],
            "new_high": [6.0, 3.0, 1.0],
            "cumulative_mean": [5.0, 7.0, 7.5],
            "cumulative_low": [4.0, 6.0, 7.0],
            "cumulative_high": [6.0, 8.0, 8.0],
        }
    )
    fig = plots.saturation_chart(summary, n_codes=8, title="Few new codes after 2 interviews")
    left, right = fig.axes
    assert fig._suptitle.get_text() == "Few new codes after 2 interviews"
    assert left.get_ylabel() == "Distinct codes found"
    assert right.get_ylabel() == "New codes it brings"
    assert len(left.collections) == 1  # the band
    _fits_laptop(fig)


def test_stacked_share_chart_rows_sum_to_one():
    table = pd.DataFrame(
        {"past": [2, 0], "present": [1, 0], "future": [1, 4]}, index=["Niche", "Products"]
    )
    fig = plots.stacked_share_chart(table, title="Products come up in the future", xlabel="Share")
    ax = fig.axes[0]
    widths = np.array([p.get_width() for p in ax.patches]).reshape(3, 2)
    assert widths.sum(axis=0) == pytest.approx([1.0, 1.0])
    assert widths[:, 0] == pytest.approx([0.5, 0.25, 0.25])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["past", "present", "future"]
    _fits_laptop(fig)


def test_show_displays_png_with_title_as_alt(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig = plots.bar_chart(pd.Series({"a": 1}), title="A is\nalone", xlabel="x")
    plots.show(fig)
    (image,) = shown
    data, metadata = image._repr_png_()
    assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert metadata == {"alt": "A is alone"}
    assert not plt.fignum_exists(fig.number)
    assert plots.png_bytes(plots.bar_chart(pd.Series({"a": 1}), title="t", xlabel="x")) == (
        plots.png_bytes(plots.bar_chart(pd.Series({"a": 1}), title="t", xlabel="x"))
    )
