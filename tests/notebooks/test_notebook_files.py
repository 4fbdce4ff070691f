"""The committed notebooks and parameter files: no outputs, a parameters cell, matching keys; papermill runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml
from papermill.translators import PythonTranslator

from stabmon.core import paths

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
RUN_NOTEBOOKS = {"daily_analysis", "weekly_summary", "retrospective", "explore"}
EXPECTED_NOTEBOOKS = RUN_NOTEBOOKS | {"fleet_overview"}

#: Which notebooks each parameter file is for. A new parameter file must be
#: listed here, so its keys are checked.
PARAMETER_FILES = {
    "demo.yaml": sorted(RUN_NOTEBOOKS),
    "production.example.yaml": sorted(RUN_NOTEBOOKS),
    "daily.example.yaml": ["daily_analysis"],
    "fleet.example.yaml": ["fleet_overview"],
}


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    return tagged[0]


def parameter_names(name: str) -> list[str]:
    """Names assigned in a notebook's parameters cell (read with ast, not papermill)."""
    nb = nbformat.read(paths.NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    tree = ast.parse(parameters_cell(nb).source)
    names = []
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), f"{name}: parameters cell must only hold typed assignments"
        names.append(node.target.id)
    return names


def test_the_expected_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} == EXPECTED_NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_carry_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
    assert "papermill" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_first_after_imports_typed_and_commented(path):
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert "import" in code_cells[0].source
    assert code_cells[1] is parameters_cell(nb)
    for line in code_cells[1].source.splitlines():
        assert "# " in line, f"{path.name}: parameter without a comment: {line}"
    # papermill --help-notebook must understand every line (a '=' in a comment breaks it).
    inferred = [p.name for p in PythonTranslator.inspect(code_cells[1])]
    assert inferred == parameter_names(path.stem)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_are_thin(path):
    # One package call per cell: no loops, no function or class definitions,
    # no arithmetic rules written in a notebook.
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        source = "\n".join(l for l in cell.source.splitlines() if not l.startswith("%"))
        tree = ast.parse(source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.ClassDef, ast.If, ast.Lambda,
                                         ast.ListComp, ast.DictComp, ast.BinOp, ast.Compare)), \
                f"{path.name}: logic in a cell: {cell.source!r}"


def test_every_parameter_file_is_mapped_to_its_notebooks():
    assert {p.name for p in paths.PARAMETERS_DIR.glob("*.yaml")} == set(PARAMETER_FILES)


@pytest.mark.parametrize("filename", sorted(PARAMETER_FILES))
def test_parameter_file_keys_are_exactly_the_notebooks_parameters(filename):
    data = yaml.safe_load((paths.PARAMETERS_DIR / filename).read_text(encoding="utf-8"))
    keys = set(data)
    targets = PARAMETER_FILES[filename]
    shared = set.intersection(*(set(parameter_names(n)) for n in targets))
    # papermill only warns on an unknown key: fail here instead.
    assert keys == shared, f"{filename}: unknown {sorted(keys - shared)}, missing {sorted(shared - keys)}"
    for key, value in data.items():
        assert not any(word in key.lower() for word in ("token", "password", "secret", "user", "auth"))
        assert isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _run(notebook: str, tmp_path: Path, files: list[str], **overrides) -> nbformat.NotebookNode:
    parameters: dict = {}
    for filename in files:
        parameters.update(yaml.safe_load((paths.PARAMETERS_DIR / filename).read_text(encoding="utf-8")))
    parameters.update(overrides)  # later files and -p flags win, as on papermill's command line
    output = tmp_path / f"{notebook}.ipynb"
    return pm.execute_notebook(str(paths.NOTEBOOKS_DIR / f"{notebook}.ipynb"), str(output), parameters=parameters,
                               kernel_name="python3", progress_bar=False)


def _assert_clean(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error"
            assert not (output["output_type"] == "stream" and output.get("name") == "stderr"), output["text"]


def test_papermill_runs_the_daily_notebook_with_demo_yaml(tmp_path):
    # run_dir "" is the embedded demo week (written into outputs/demo on first use).
    nb = _run("daily_analysis", tmp_path, ["demo.yaml"], day_number=5)
    _assert_clean(nb)
    assert nb.metadata["papermill"]["parameters"]["day_number"] == 5


def test_papermill_runs_the_weekly_notebook_with_production_example(tmp_path, demo_run):
    nb = _run("weekly_summary", tmp_path, ["production.example.yaml"], run_dir=str(demo_run))
    _assert_clean(nb)


def test_papermill_layers_daily_example_on_production_example(tmp_path, demo_run):
    nb = _run("daily_analysis", tmp_path, ["production.example.yaml", "daily.example.yaml"],
              run_dir=str(demo_run), day_number=3, availability_slo_percent=99.5)
    _assert_clean(nb)
    text = "".join(str(o.get("data", {}).get("text/plain", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "recomputed with thresholds" in text  # the changed SLO is applied and said so


def test_papermill_runs_retrospective_and_explore_with_demo_yaml(tmp_path, demo_run):
    for notebook in ("retrospective", "explore"):
        _assert_clean(_run(notebook, tmp_path, ["demo.yaml"], run_dir=str(demo_run)))


def test_papermill_cli_help_explains_the_parameters():
    result = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(paths.NOTEBOOKS_DIR / "daily_analysis.ipynb")],
        capture_output=True, text=True, check=True,
    )
    assert "day_number: int (default 1)" in result.stdout
    assert "run_dir: str" in result.stdout
