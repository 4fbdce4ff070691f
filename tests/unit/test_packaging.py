"""environment.yml stays in step with pyproject.toml; the project has its set-up files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

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
    for name in ("stabmon", "notebooks", "parameters", "outputs/.gitkeep", "tests", "environment.yml",
                 "pyproject.toml", "Makefile", "README.md", ".ci/run"):
        assert (ROOT / name).exists(), name
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_schemas_ship_in_the_package():
    from stabmon.store import schemas

    for name in schemas.SCHEMA_FILES:
        assert schemas.load(name)["$schema"].startswith("https://json-schema.org/")
