"""Synthetic weeks written out for real servers: OpenMetrics files and VictoriaMetrics import lines.

Tests and benchmarks load these into Prometheus (``promtool tsdb
create-blocks-from openmetrics``) or VictoriaMetrics
(``/api/v1/import/prometheus``) and collect them back; the product itself
never writes scrape data. The series come from the generator in
:mod:`stabmon.demo.synthetic`, regenerated from a week's seed when written,
so memory holds one service's scrape series at a time.

- :func:`generate_week` / :func:`generate_fleet`: the generator's weeks as
  :class:`ExportableWeek` objects.
- :meth:`ExportableWeek.write_openmetrics`, :func:`write_fleet_openmetrics`:
  OpenMetrics text with timestamps in seconds.
- :meth:`ExportableWeek.iter_vm_import_lines`: Prometheus text lines with
  millisecond timestamps.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import orjson

from stabmon.demo import synthetic
from stabmon.demo.synthetic import _FAMILIES, SyntheticWeek, _Series, _simulate


class ExportableWeek(SyntheticWeek):
    """A :class:`~stabmon.demo.synthetic.SyntheticWeek` that can write its scrape series out."""

    @classmethod
    def of(cls, week: SyntheticWeek) -> "ExportableWeek":
        """The same week (same spec, values and planted facts)."""
        return cls(**{f.name: getattr(week, f.name) for f in fields(week)})

    def write_openmetrics(self, path: str | os.PathLike[str]) -> None:
        """Write the week's scrape series as OpenMetrics text with timestamps.

        Timestamps are in seconds; the file ends with ``# EOF``. Each metric
        family is written once, its series one after the other with rising
        timestamps, as ``promtool tsdb create-blocks-from openmetrics``
        requires. The file is written to a temporary name and renamed, so a
        reader never sees half of it.

        Parameters
        ----------
        path : str or path-like
            Target file.
        """
        write_fleet_openmetrics([self], path)

    def iter_vm_import_lines(self) -> Iterator[str]:
        """Yield the week's samples as Prometheus text lines with millisecond timestamps.

        The format of VictoriaMetrics' ``/api/v1/import/prometheus``. Every
        line ends with ``"\\n"``, so ``"".join(...)`` is a request body and the
        generator can be streamed as one (encode each line).

        Yields
        ------
        str
            ``name{labels} value timestamp_ms\\n``.
        """
        scrapes = _simulate(self._spec)
        ts_ms = [str(t) for t in scrapes.times_ms.tolist()]
        for series in scrapes.series:
            yield from _series_text(series, ts_ms).splitlines(keepends=True)


    def iter_vm_json_lines(self) -> Iterator[bytes]:
        """Yield the week as VictoriaMetrics' JSON line import (``/api/v1/import``): one line per series.

        Each line is ``{"metric": {"__name__": ..., labels}, "values": [...],
        "timestamps": [ms ...]}`` and ends with ``b"\\n"``: a fleet of 10,000
        services loads in minutes this way, where a line per sample takes
        hours.
        """
        scrapes = _simulate(self._spec)
        for series in scrapes.series:
            values = series.values.astype(np.int64) if series.integer else series.values
            times = scrapes.times_ms if series.index is None else scrapes.times_ms[series.index]
            metric = {"__name__": series.name, **dict(series.labels)}
            yield orjson.dumps({"metric": metric, "values": values, "timestamps": times.astype(np.int64)},
                               option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)

def generate_week(scenario: str = "healthy", **kw: Any) -> ExportableWeek:
    """:func:`stabmon.demo.synthetic.generate_week`, as a week that can be written out."""
    return ExportableWeek.of(synthetic.generate_week(scenario, **kw))


def generate_fleet(services: dict[str, str] | Iterable[tuple[str, str]], **kw: Any) -> list[ExportableWeek]:
    """Generate several services' runs over the same window.

    Parameters
    ----------
    services : dict or iterable of (name, scenario)
        Service name -> scenario, in output order.
    **kw
        Passed to :func:`generate_week` (``start``, ``duration_hours``,
        ``interval_minutes``, ``seed``, ``scrape_seconds``). Each service's
        noise is drawn from ``(seed, name)``, so services differ and one
        service's data does not depend on the others in the fleet.

    Returns
    -------
    list of ExportableWeek

    Raises
    ------
    ValueError
        When a service name appears twice or a scenario is unknown.
    """
    if "service" in kw or "scenario" in kw:
        raise ValueError("service and scenario come from `services`")
    pairs = list(services.items()) if isinstance(services, dict) else [tuple(p) for p in services]
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("service names must be unique")
    return [generate_week(scenario, service=name, **kw) for name, scenario in pairs]


# ---------------------------------------------------------------------------
# text output


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series_text(series: _Series, timestamps: list[str]) -> str:
    """All samples of one series, one line each (``name{labels} value ts``)."""
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in series.labels)
    prefix = f"{series.name}{{{labels}}} "
    values = series.values.astype(np.int64) if series.integer else series.values
    ts = timestamps if series.index is None else [timestamps[i] for i in series.index.tolist()]
    return "".join([f"{prefix}{v} {t}\n" for v, t in zip(values.tolist(), ts)])


def _seconds_strings(times_ms: np.ndarray) -> list[str]:
    if np.all(times_ms % 1000 == 0):
        return [str(t) for t in (times_ms // 1000).tolist()]
    return [f"{t / 1000:.3f}" for t in times_ms.tolist()]


def write_fleet_openmetrics(weeks: Iterable[SyntheticWeek], path: str | os.PathLike[str]) -> None:
    """Write several services' weeks into one OpenMetrics file.

    Each metric family appears once (``# HELP``/``# TYPE`` then every
    service's series), timestamps in seconds, ``# EOF`` at the end. Each week
    is simulated once and its series are spread over one temporary file per
    family, which are then concatenated: memory holds one service at a time.
    The target is written under a temporary name and renamed.

    Parameters
    ----------
    weeks : iterable of SyntheticWeek
        The services to write (any generator week, e.g. from :func:`generate_fleet`).
    path : str or path-like
        Target file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        parts = [open(Path(tmp) / f"{i:02d}.om", "w", encoding="utf-8") for i in range(len(_FAMILIES))]
        try:
            for week in weeks:
                scrapes = _simulate(week._spec)
                ts = _seconds_strings(scrapes.times_ms)
                for series in scrapes.series:
                    parts[series.family].write(_series_text(series, ts))
                del scrapes
        finally:
            for part in parts:
                part.close()
        staging = Path(tmp) / "out.om"
        with open(staging, "w", encoding="utf-8") as out:
            for i, (family, kind, help_text) in enumerate(_FAMILIES):
                out.write(f"# HELP {family} {help_text}\n# TYPE {family} {kind}\n")
                with open(Path(tmp) / f"{i:02d}.om", encoding="utf-8") as part:
                    while chunk := part.read(1 << 20):
                        out.write(chunk)
            out.write("# EOF\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, target)
