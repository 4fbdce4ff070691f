"""Flag values parsed once: positive numbers and the settings file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

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
