"""Where things live: every path the package reads or writes by default is defined here, once.

Notebooks, parameter examples and schemas ship inside the package
(``stabmon/notebooks``, ``stabmon/parameters``, ``stabmon/store/schemas``), so
they are found from the package's own location whether it runs from a
checkout, an editable install or a wheel, never from the working directory.

Generated data that has no folder given (the embedded demo week and demo
fleet that a notebook falls back to) goes to the checkout's ``outputs/`` when
the package runs from a checkout, and to a per-user cache folder otherwise: an
installed package has no project folder, and its own folder may be read-only.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Mapping

#: The package folder (``stabmon/``).
PACKAGE_DIR: Path = Path(__file__).resolve().parent.parent

#: The parameterised notebooks (package data).
NOTEBOOKS_DIR: Path = PACKAGE_DIR / "notebooks"

#: Example papermill parameter files (package data), e.g.
#: ``papermill -f stabmon/parameters/demo.yaml``.
PARAMETERS_DIR: Path = PACKAGE_DIR / "parameters"

#: The JSON Schemas of the run-folder documents (package data).
SCHEMAS_DIR: Path = PACKAGE_DIR / "store" / "schemas"



def find_checkout(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The project checkout the package runs from, or ``None`` when it is installed.

    A checkout is the folder beside the package holding stabmon's own
    ``pyproject.toml``; the project name is checked so that a ``pyproject.toml``
    that happens to sit beside an installed package (``pip install --target``
    into a project folder) is not taken for one.

    Parameters
    ----------
    package_dir
        The ``stabmon/`` package folder.

    Returns
    -------
    Path or None
        The checkout's root folder.
    """
    pyproject = package_dir.parent / "pyproject.toml"
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return package_dir.parent if name == "stabmon" else None


def user_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user cache folder of stabmon: ``$XDG_CACHE_HOME/stabmon``, else ``~/.cache/stabmon``.

    Parameters
    ----------
    environ
        The environment to read ``XDG_CACHE_HOME`` from.

    Returns
    -------
    Path
        The folder (not created here).
    """
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "stabmon"


def default_outputs_dir(package_dir: Path = PACKAGE_DIR, environ: Mapping[str, str] = os.environ) -> Path:
    """Where generated data goes by default: the checkout's ``outputs/``, else the user cache folder.

    Parameters
    ----------
    package_dir
        The ``stabmon/`` package folder.
    environ
        The environment (for ``XDG_CACHE_HOME``).

    Returns
    -------
    Path
        The folder (not created here).
    """
    checkout = find_checkout(package_dir)
    return checkout / "outputs" if checkout is not None else user_cache_dir(environ)


#: The project checkout (the folder holding ``pyproject.toml``), or ``None``
#: when the package is installed from a wheel.
PROJ_ROOT: Path | None = find_checkout()

#: Generated data with no folder given (git-ignored in a checkout).
OUTPUTS_DIR: Path = default_outputs_dir()

#: The embedded demo week: notebooks run on it when no ``run_dir`` is given,
#: and ``make demo`` writes it.
DEFAULT_DEMO_DIR: Path = OUTPUTS_DIR / "demo"

#: The embedded demo fleet: the fleet notebook runs on it when no ``fleet_dir`` is given.
DEMO_FLEET_DIR: Path = OUTPUTS_DIR / "demo_fleet"
