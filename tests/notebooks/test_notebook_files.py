"""The committed notebooks and parameter files: stripped, a parameters cell, matching keys; papermill runs."""

from __future__ import annotations

import ast
import re
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
#: The checkout the tests run from (the committed-notebook checks read its git index).
CHECKOUT = Path(__file__).resolve().parents[2]
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


def makefile_extra_keys() -> str:
    """The metadata keys the Makefile's nbstripout filter strips besides nbstripout's defaults."""
    match = re.search(r"^NBSTRIPOUT_EXTRA_KEYS\s*:?=\s*(.+)$", (CHECKOUT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile defines NBSTRIPOUT_EXTRA_KEYS"
    return match.group(1).strip()


def committed_notebooks() -> dict[str, str]:
    """Every notebook git tracks, as committed: read from the index, not the working tree.

    With the nbstripout filter on, a notebook run in JupyterLab keeps its
    outputs on disk and loses them on ``git add``; what counts is the blob.
    """
    git = ["git", "-C", str(CHECKOUT)]
    if subprocess.run(git + ["rev-parse", "--is-inside-work-tree"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: there are no committed notebooks to check")
    listing = subprocess.run(git + ["ls-files", "-s", "-z", "--", "*.ipynb"], capture_output=True, text=True,
                             check=True).stdout
    committed = {}
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        blob = meta.split()[1]
        committed[path] = subprocess.run(git + ["cat-file", "blob", blob], capture_output=True, text=True,
                                         check=True).stdout
    return committed


def run_metadata(nb: nbformat.NotebookNode) -> list[str]:
    """What a run leaves in a notebook: outputs, counts, papermill, widget and timing metadata."""
    found = [f"notebook metadata.{key}" for key in ("papermill", "widgets") if key in nb.metadata]
    if "version" in nb.metadata.get("language_info", {}):
        found.append("notebook metadata.language_info.version")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.outputs:
            found.append(f"cell {index}: outputs")
        if cell.cell_type == "code" and cell.execution_count is not None:
            found.append(f"cell {index}: execution_count")
        found += [f"cell {index}: metadata.{key}" for key in ("papermill", "execution", "ExecuteTime")
                  if key in cell.metadata]
        if "injected-parameters" in cell.metadata.get("tags", []):
            found.append(f"cell {index}: papermill's injected-parameters cell")
    return found


def test_committed_notebooks_carry_no_outputs_or_run_metadata(tmp_path):
    committed = committed_notebooks()
    assert {Path(p).stem for p in committed} >= EXPECTED_NOTEBOOKS
    problems = []
    copies = {}
    for index, (path, text) in enumerate(sorted(committed.items())):
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        problems += [f"{path}: {what}" for what in run_metadata(nb)]
        if nb.metadata.get("kernelspec", {}).get("name") != "python3":
            problems.append(f"{path}: kernelspec is not python3 (papermill and stabmon report start that kernel)")
        copies[path] = tmp_path / f"{index}.ipynb"
        copies[path].write_text(text, encoding="utf-8")
    # The committed file must be what the git filter makes of it, or every
    # checkout with the filter on shows it as modified. One nbstripout run for
    # all (it takes seconds to start); cwd outside the repository, so only the
    # Makefile's keys apply, not a local git config.
    subprocess.run([sys.executable, "-m", "nbstripout", "--extra-keys", makefile_extra_keys(),
                    *map(str, copies.values())], check=True, cwd=tmp_path)
    problems += [f"{path}: differs from its nbstripout form" for path, copy in copies.items()
                 if copy.read_text(encoding="utf-8") != committed[path]]
    assert not problems, ("notebooks must be committed stripped (make install-dev sets up the git filter; "
                          "or run nbstripout on them):\n" + "\n".join(problems))


def test_run_metadata_finds_what_a_papermill_run_leaves(tmp_path, demo_run):
    # The check above must be able to fail: an executed notebook trips it.
    executed = _run("retrospective", tmp_path, ["demo.yaml"], run_dir=str(demo_run))
    found = run_metadata(executed)
    assert "notebook metadata.papermill" in found
    assert any(f.endswith(": outputs") for f in found) and any(f.endswith(": execution_count") for f in found)
    assert any("injected-parameters" in f for f in found)
    assert not run_metadata(nbformat.read(paths.NOTEBOOKS_DIR / "retrospective.ipynb", as_version=4))


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
