"""The notebook runner: order, parameters, failing cells, self-contained HTML, atomic output."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from qualcode.report.render import ReportError, build_report, discover_notebooks, notebook_summary

pytestmark = pytest.mark.slow  # starts Jupyter kernels


def _notebook(path: Path, title: str, purpose: str, code: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n{purpose}"))
    params = nbformat.v4.new_code_cell('processed_dir = "data/processed"\nlabel = "default"')
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells.extend(nbformat.v4.new_code_cell(src) for src in code)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


PLOT = (
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\nax.bar(['a', 'b'], [2, 1])\nplt.show()"
)


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    # Written in reverse so that order comes from the file names, not creation time.
    _notebook(
        folder / "02_second.ipynb",
        "Second",
        "Reads the marker the first one wrote.",
        [
            "from pathlib import Path\n"
            "print(Path(processed_dir, 'order.txt').read_text() + ' then second')",
            "from IPython.display import Markdown\nMarkdown(f'**label is {label}**')",
        ],
    )
    _notebook(
        folder / "01_first.ipynb",
        "First",
        "Writes a marker and a plot.",
        [
            "from pathlib import Path\nPath(processed_dir).mkdir(parents=True, exist_ok=True)\n"
            "Path(processed_dir, 'order.txt').write_text('first')",
            PLOT,
        ],
    )
    return folder


def test_discover_orders_by_filename(notebooks: Path) -> None:
    assert [p.name for p in discover_notebooks(notebooks)] == ["01_first.ipynb", "02_second.ipynb"]


def test_discover_rejects_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="expected notebooks named like 01_name.ipynb"):
        discover_notebooks(tmp_path)


def test_summary_reads_title_and_purpose() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Clean transcripts\nReads raw, writes turns."))
    assert notebook_summary(nb, fallback="x") == ("Clean transcripts", "Reads raw, writes turns.")


def test_report_runs_in_order_and_renders_self_contained_html(
    notebooks: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    processed = tmp_path / "processed"
    result = build_report(
        notebooks_dir=notebooks,
        out_dir=out,
        parameters={"processed_dir": str(processed), "label": "injected"},
        manifest={"codebook_version": 3, "transcripts": [{"transcript_id": "t1", "sha256": "ab"}]},
    )
    assert [p.name for p in result.pages] == ["01_first.ipynb", "02_second.ipynb"]
    second = nbformat.read(out / "02_second.ipynb", as_version=4)
    outputs = [o for c in second.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    texts = " ".join(o.get("text", "") for o in outputs)
    assert "first then second" in texts  # the second ran after the first

    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index("01_first.html") < index.index("02_second.html")
    assert "Writes a marker and a plot." in index
    assert "Run manifest" in index and "codebook_version" in index
    assert (out / "manifest.json").exists()

    for name in ["01_first.html", "02_second.html", "study_report.html", "index.html"]:
        page = (out / name).read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]+src=[\"']https?:", page), name
        assert not re.search(r"<link[^>]+href=[\"']https?:", page), name
        assert "mathjax" not in page.lower(), name
        assert "require.js" not in page and "require.min.js" not in page, name

    first = (out / "01_first.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in first
    assert "Path(processed_dir" not in first  # code is hidden
    assert "label is injected" in (out / "02_second.html").read_text(encoding="utf-8")
    study = (out / "study_report.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in study and "label is injected" in study


@pytest.mark.parametrize("jobs", [1, 2])
def test_failing_cell_stops_the_chain_and_keeps_previous_report(
    notebooks: Path, tmp_path: Path, jobs: int
) -> None:
    out = tmp_path / "reports"
    params = {"processed_dir": str(tmp_path / "processed")}
    build_report(notebooks_dir=notebooks, out_dir=out, parameters=params)
    before = (out / "index.html").read_text(encoding="utf-8")

    _notebook(
        notebooks / "01_first.ipynb",
        "First",
        "Fails on purpose.",
        ["x = 1", "raise ValueError('premise does not hold')", "print('never')"],
    )
    _notebook(notebooks / "03_third.ipynb", "Third", "Must not run.", ["print('third ran')"])
    with pytest.raises(ReportError) as info:
        build_report(notebooks_dir=notebooks, out_dir=out, parameters=params, jobs=jobs)
    message = str(info.value)
    assert "01_first.ipynb" in message
    assert "code cell 3" in message and "raise ValueError" in message
    assert "premise does not hold" in message
    assert (out / "index.html").read_text(encoding="utf-8") == before
    assert not (out / "03_third.html").exists()
    assert (out / "01_first.failed.ipynb").exists()
    assert not list(out.glob(".staging-*"))


def _independent(folder: Path, *, stamp: bool) -> Path:
    """Three notebooks that read nothing of one another; with `stamp`, each prints the time it
    ran. The first says it does not read `processed/learned*`."""
    folder.mkdir(exist_ok=True)
    for number, name in ((1, "first"), (2, "second"), (3, "third")):
        code = [f"print('page {number}, label', label)", PLOT]
        if stamp:
            code.append("import time\nprint('ran at', time.time_ns())")
        path = _notebook(folder / f"0{number}_{name}.ipynb", name.title(), f"Page {number}.", code)
        if number == 1:
            nb = nbformat.read(path, as_version=4)
            nb.metadata["qualcode"] = {"does_not_read": ["processed/learned*"]}
            nbformat.write(nb, path)
    return folder


def _ran_at(out: Path, name: str) -> str:
    nb = nbformat.read(out / name, as_version=4)
    texts = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return next(t for t in texts if t.startswith("ran at"))


def test_a_notebook_is_executed_again_only_when_its_inputs_change(tmp_path: Path) -> None:
    notebooks = _independent(tmp_path / "notebooks", stamp=True)
    out = tmp_path / "reports"
    params = {"processed_dir": str(tmp_path / "processed"), "label": "x"}
    inputs = {"processed/table.parquet": "a", "processed/learned.csv": "b"}
    names = ["01_first.ipynb", "02_second.ipynb", "03_third.ipynb"]

    def build(inputs: dict[str, str]) -> tuple[list[bool], list[str]]:
        result = build_report(
            notebooks_dir=notebooks, out_dir=out, parameters=params, inputs=inputs, jobs=2
        )
        return [p.kept for p in result.pages], [_ran_at(out, n) for n in names]

    kept, first = build(inputs)
    assert kept == [False, False, False]
    first_html = (out / "01_first.html").read_text(encoding="utf-8")

    kept, again = build(inputs)  # nothing changed: every page kept as it was
    assert kept == [True, True, True] and again == first
    assert (out / "01_first.html").read_text(encoding="utf-8") == first_html
    assert "its inputs have not changed since" in (out / "index.html").read_text("utf-8")

    # a table the first notebook does not read: the others run again, the first is kept
    kept, learned = build({**inputs, "processed/learned.csv": "c"})
    assert kept == [True, False, False]
    assert learned[0] == first[0] and learned[1] != first[1] and learned[2] != first[2]

    # a table every notebook reads: all run again
    kept, table = build({**inputs, "processed/learned.csv": "c", "processed/table.parquet": "z"})
    assert kept == [False, False, False]

    # the notebook itself changed, or its parameters: it runs again
    nb = nbformat.read(notebooks / "03_third.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('one more cell')"))
    nbformat.write(nb, notebooks / "03_third.ipynb")
    kept, _ = build({**inputs, "processed/learned.csv": "c", "processed/table.parquet": "z"})
    assert kept == [True, True, False]
    params["label"] = "y"
    kept, _ = build({**inputs, "processed/learned.csv": "c", "processed/table.parquet": "z"})
    assert kept == [False, False, False]

    # without inputs every notebook is executed
    result = build_report(notebooks_dir=notebooks, out_dir=out, parameters=params)
    assert [p.kept for p in result.pages] == [False, False, False]


def test_notebooks_run_two_at_a_time_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebooks = _independent(tmp_path / "notebooks", stamp=False)
    params = {"processed_dir": str(tmp_path / "processed"), "label": "x"}
    monkeypatch.chdir(tmp_path)
    one, two = Path("one"), Path("two")  # relative: the working folder must not move
    build_report(notebooks_dir=notebooks, out_dir=one, parameters=params, jobs=1)
    result = build_report(notebooks_dir=notebooks, out_dir=two, parameters=params, jobs=2)
    assert Path.cwd() == tmp_path
    assert [p.name for p in result.pages] == ["01_first.ipynb", "02_second.ipynb", "03_third.ipynb"]
    for name in ["01_first.html", "02_second.html", "03_third.html", "study_report.html"]:
        assert (one / name).read_text(encoding="utf-8") == (two / name).read_text(encoding="utf-8")
    study = (two / "study_report.html").read_text(encoding="utf-8")
    assert study.index("page 1, label") < study.index("page 2, label") < study.index("page 3, ")
