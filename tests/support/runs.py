"""What many tests share to start a run: the hostile service name and the run options."""

from __future__ import annotations

from pathlib import Path

from stabmon.collect.prom import ConnectionSettings
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions
from stabmon.core.model import Window

#: A service name made to break a naively built query: quotes, braces, a
#: PromQL injection, a comment, a regex, a backslash, a newline, a placeholder.
HOSTILE_SERVICE = 'we"ird} or vector(1) # {x=~".*"}\\ \n[w]'


def options(url: str, out_dir: Path, window: Window, *, baseline=None, service: str | None = "checkout",
            selector: str | None = None, queries: str | Path | None = None,
            connection: ConnectionSettings | None = None, **kw) -> RunOptions:
    """RunOptions of an in-process single-service run (no credentials from the environment, no progress bar)."""
    return RunOptions(
        out_dir=Path(out_dir),
        window=window,
        catalogue=build_catalogue(service=service, selector=selector,
                                  interval_seconds=window.interval_minutes * 60, queries_file=queries),
        connection=connection or ConnectionSettings.from_env(url, env={}),
        baseline=baseline,
        service=service,
        selector=selector,
        progress=False,
        **kw,
    )
