"""Where things live: every project path is defined here, once.

Notebooks, parameter files and the demo folder are found from the package's
own location, never from the current working directory, so a notebook opened
in JupyterLab, a papermill run from a scheduler and the test suite all agree.
"""

from __future__ import annotations

from pathlib import Path

#: The package folder (``stabmon/``).
PACKAGE_DIR: Path = Path(__file__).resolve().parent.parent

#: The project checkout (the folder holding ``pyproject.toml``).
PROJ_ROOT: Path = PACKAGE_DIR.parent

#: The parameterised notebooks. A checkout keeps them in ``notebooks/``; a
#: wheel ships them as package data in ``stabmon/notebooks/``.
NOTEBOOKS_DIR: Path = (
    PROJ_ROOT / "notebooks" if (PROJ_ROOT / "notebooks").is_dir() else PACKAGE_DIR / "notebooks"
)

#: Papermill parameter files (``papermill -f parameters/demo.yaml``).
PARAMETERS_DIR: Path = PROJ_ROOT / "parameters"

#: Generated data (git-ignored).
OUTPUTS_DIR: Path = PROJ_ROOT / "outputs"

#: The embedded demo week: notebooks run on it when no ``run_dir`` is given,
#: and ``make demo`` writes it.
DEFAULT_DEMO_DIR: Path = OUTPUTS_DIR / "demo"

#: Sub-folder of a run folder that holds the rendered notebooks (contract section 4).
REPORTS_DIRNAME: str = "reports"

#: Analysis files written beside the summaries by the pipeline (contract section 4).
ANOMALIES_FILE: str = "anomalies.jsonl"
BURNDOWN_FILE: str = "slo_burndown.json"
