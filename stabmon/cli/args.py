"""Flag values parsed once: positive numbers, sizes and cores, the preset flags and the settings file."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any, Callable

import yaml

from stabmon.core.errors import InputError
from stabmon.core.settings import Settings


def positive(kind: type = float) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite number > 0 of ``kind`` (``int`` or ``float``).

    The error names what was given; argparse adds the flag.
    """
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {'integer' if kind is int else 'number'}, "
                                             f"got {text!r}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def load_settings_file(path: str | None) -> Settings:
    """Read a YAML file of threshold overrides into :class:`Settings` (the defaults without one).

    Raises
    ------
    InputError
        One line naming the file: missing, not YAML, not a mapping, a bad value.
    """
    if not path:
        return Settings()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"settings file not found: {path}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"settings file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"settings file {path}: expected a mapping of setting: value")
    try:
        return Settings.from_mapping(data)
    except InputError as exc:
        raise InputError(f"settings file {path}: {exc}") from None


# Kubernetes quantity suffixes: decimal (k, M, G, T, P, E) and binary (Ki, Mi, Gi, Ti, Pi, Ei).
_BYTE_UNITS = {"": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5, "E": 1000**6,
               "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6}
_QUANTITY = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*")


def byte_size(text: str) -> float:
    """An argparse ``type`` for ``--memory-limit``: bytes, or a Kubernetes quantity (``512Mi``, ``1G``, ``1.5Gi``)."""
    match = _QUANTITY.fullmatch(text)
    unit = match.group(2) if match else None
    if unit is not None and unit.endswith("B") and unit != "B":
        unit = unit[:-1]  # 512MiB, 1GB: the B is the unit itself
    if match is None or (unit not in _BYTE_UNITS and unit != "B"):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or e.g. 512Mi, 1G, 1.5Gi)")
    value = float(match.group(1)) * _BYTE_UNITS.get(unit if unit != "B" else "", 1)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 bytes, got {text!r}")
    return value


def cpu_cores(text: str) -> float:
    """An argparse ``type`` for ``--cpu-limit``: cores (``0.5``, ``2``) or millicores (``500m``)."""
    match = _QUANTITY.fullmatch(text)
    if match is None or match.group(2) not in ("", "m"):
        raise argparse.ArgumentTypeError(f"not a number of cores: {text!r} (e.g. 0.5, 2 or 500m)")
    value = float(match.group(1)) / (1000.0 if match.group(2) == "m" else 1.0)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 cores, got {text!r}")
    return value


def add_preset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset``, ``--namespace``, ``--cpu-limit``, ``--memory-limit`` (monitor, baseline, check).

    See docs/presets.md.
    """
    parser.add_argument("--preset", metavar="HTTP[,RESOURCES]", default=None,
                        help="shipped query files for the stack, e.g. fastapi,process (default prometheus,cadvisor; "
                        "--queries overrides single expressions on top)")
    parser.add_argument("--namespace", metavar="NS", default=None,
                        help="the service's namespace: matches the preset's namespace label and namespace=\"NS\" "
                        "on ALERTS")
    parser.add_argument("--cpu-limit", metavar="CORES", type=cpu_cores, default=None,
                        help="CPU limit for presets that read no limit series (process): cores or millicores, "
                        "e.g. 0.5 or 500m")
    parser.add_argument("--memory-limit", metavar="BYTES", type=byte_size, default=None,
                        help="memory limit for presets that read no limit series (process): bytes or e.g. 512Mi, 1G")


def preset_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`~stabmon.collect.queries.build_catalogue` arguments of :func:`add_preset_arguments`' flags."""
    return {"preset": args.preset, "namespace": args.namespace, "cpu_limit": args.cpu_limit,
            "memory_limit": args.memory_limit}
