"""Set-up files: the layout exists, paths and the wheel need no checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from stabmon import store
from stabmon.core import paths

ROOT = Path(__file__).resolve().parents[2]


# environment.yml against pyproject.toml: tests/unit/test_first_hour.py (conda-forge names).


def test_project_layout_exists():
    for name in ("stabmon", "stabmon/notebooks", "stabmon/parameters", "outputs/.gitkeep", "tests", "environment.yml",
                 "pyproject.toml", "Makefile", "README.md", ".ci/run"):
        assert (ROOT / name).exists(), name
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_schemas_ship_in_the_package():
    from stabmon.store import schemas

    for name in schemas.SCHEMA_FILES:
        assert schemas.load(name)["$schema"].startswith("https://json-schema.org/")


def test_package_data_is_declared_for_every_data_folder_paths_names():
    # A data file that is not declared is missing from the wheel although every
    # test run from the checkout finds it.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["stabmon"]
    for folder, pattern in ((paths.NOTEBOOKS_DIR, "*.ipynb"), (paths.PARAMETERS_DIR, "*.yaml"),
                            (paths.SCHEMAS_DIR, "*.json")):
        relative = folder.relative_to(paths.PACKAGE_DIR).as_posix()
        assert f"{relative}/{pattern}" in declared
        assert list(folder.glob(pattern)), f"{relative} holds no {pattern}"


def test_schemas_dir_holds_every_packaged_schema():
    from stabmon.store import schemas

    assert {p.name for p in paths.SCHEMAS_DIR.glob("*.json")} >= set(schemas.SCHEMA_FILES.values())


def test_running_from_the_checkout_writes_demo_data_into_its_outputs_folder():
    assert paths.PROJ_ROOT == ROOT
    assert paths.DEFAULT_DEMO_DIR == ROOT / "outputs" / "demo"
    assert paths.DEMO_FLEET_DIR == ROOT / "outputs" / "demo_fleet"


def test_an_installed_package_is_not_a_checkout(tmp_path):
    package = tmp_path / "site-packages" / "stabmon"
    package.mkdir(parents=True)
    assert paths.find_checkout(package) is None
    # Another project's pyproject.toml beside an installed package (pip install --target) is not ours.
    (package.parent / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert paths.find_checkout(package) is None
    (package.parent / "pyproject.toml").write_text("not [ toml")
    assert paths.find_checkout(package) is None
    (package.parent / "pyproject.toml").write_text('[project]\nname = "stabmon"\n')
    assert paths.find_checkout(package) == package.parent


def test_installed_package_writes_demo_data_to_the_user_cache(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "stabmon"
    package.mkdir(parents=True)
    cache = tmp_path / "cache"
    assert paths.default_outputs_dir(package, {"XDG_CACHE_HOME": str(cache)}) == cache / "stabmon"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "stabmon"
    assert paths.default_outputs_dir(package, {}) == home_cache
    # The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    assert paths.user_cache_dir({"XDG_CACHE_HOME": "relative/cache"}) == home_cache


def test_a_relative_run_dir_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    from stabmon.report.rundata import resolve_run_dir

    monkeypatch.chdir(tmp_path)
    assert resolve_run_dir("runs/week1") == tmp_path / "runs" / "week1"
    assert resolve_run_dir("  runs/week1 ") == tmp_path / "runs" / "week1"
    assert resolve_run_dir(str(tmp_path / "abs")) == tmp_path / "abs"


def _copy_source(destination: Path) -> Path:
    """The files a wheel is built from, copied so the build leaves nothing in the checkout."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(ROOT / "stabmon", destination / "stabmon",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints"))
    return destination


@pytest.mark.slow
def test_the_wheel_runs_demo_and_report_from_any_folder(tmp_path):
    # pip wheel (not editable) into a --target folder that PYTHONPATH puts
    # ahead of the editable install: its finder is appended to sys.meta_path,
    # after the path finder that searches PYTHONPATH.
    source = _copy_source(tmp_path / "source")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, env=env, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("stabmon-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    for folder, pattern in ((paths.NOTEBOOKS_DIR, "*.ipynb"), (paths.PARAMETERS_DIR, "*.yaml"),
                            (paths.SCHEMAS_DIR, "*.json")):
        for file in folder.glob(pattern):
            assert file.relative_to(ROOT).as_posix() in shipped, f"{file.name} is not in the wheel"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, env=env, timeout=300)

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    cache = tmp_path / "cache"
    env = {**env, "PYTHONPATH": str(target), "XDG_CACHE_HOME": str(cache), "PYTHONNOUSERSITE": "1"}

    def stabmon(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)

    where = stabmon("-c", "import stabmon; from stabmon.core import paths; from stabmon.report import rundata; "
                          "print(stabmon.__file__); print(paths.PROJ_ROOT); print(rundata.resolve_run_dir(''))")
    assert where.returncode == 0, where.stderr
    module, checkout, demo = where.stdout.splitlines()
    assert Path(module).is_relative_to(target)
    # Installed: no checkout, and the default demo week is written to the user cache.
    assert checkout == "None"
    assert Path(demo) == cache / "stabmon" / "demo" and (Path(demo) / "weekly_summary.json").is_file()

    demo_run = stabmon("-m", "stabmon.cli.main", "demo", "--output", "D", "--no-report")
    assert demo_run.returncode == 0, demo_run.stderr
    # The retrospective is the one report written as both HTML and Markdown; one kernel keeps this quick.
    report = stabmon("-m", "stabmon.cli.main", "report", "--input", "D", "--only", "retrospective", "--no-progress")
    assert report.returncode == 0, report.stderr
    reports = cwd / "D" / store.REPORTS_DIR
    for name in ("retrospective.html", "retrospective.md", "retrospective.ipynb"):
        assert (reports / name).stat().st_size > 0, name
    executed = json.loads((reports / "retrospective.ipynb").read_text(encoding="utf-8"))
    # The notebook rendered is the one shipped in the wheel, not the checkout's.
    assert Path(executed["metadata"]["papermill"]["input_path"]).is_relative_to(target)
    assert "Post-release retrospective" in (reports / "retrospective.md").read_text(encoding="utf-8")
