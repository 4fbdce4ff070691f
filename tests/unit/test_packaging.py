"""environment.yml stays in step with pyproject.toml; the project has its set-up files; paths do not assume a checkout."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from stabmon.core import paths

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    python = [d for d in conda if _name(d) == "python"]
    assert python and re.fullmatch(r"python=3\.1[1-9]", python[0]), "Python must be pinned"
    have = {_name(d): d.replace(" ", "") for d in conda if _name(d) not in ("python", "pip")}
    assert set(have) == set(wanted), f"only in pyproject: {set(wanted) - set(have)}; only in env: {set(have) - set(wanted)}"
    for name, requirement in wanted.items():
        assert have[name] == requirement.replace(" ", ""), f"{name}: {have[name]} vs {requirement}"
    assert "-e ." in pip


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
