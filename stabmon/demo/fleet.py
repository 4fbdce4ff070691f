"""The embedded demo fleet: a few synthetic services judged as one fleet, no server needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stabmon import store
from stabmon.core.fleet_summary import DEFAULT_SERVICE_LABEL, build_fleet_summary, fleet_entry
from stabmon.demo.week import run_demo_week
from stabmon.store.fleet import write_fleet_run, write_fleet_summary

#: The demo fleet's scenarios, cycled over the services.
DEMO_SCENARIOS = ("healthy", "healthy", "incident", "healthy", "latency_regression", "healthy")
#: Coarser scrapes than the single demo's: six services in about the time of one.
DEMO_FLEET_SCRAPE_SECONDS = 600


def build_demo_fleet(out_dir: str | Path, services: int = 6, *, seed: int = 42) -> dict[str, Any]:
    """Write a small synthetic fleet folder and its fleet summary; return the summary.

    Services ``svc-01`` ... get the scenarios of :data:`DEMO_SCENARIOS` in
    turn; each folder is exactly what ``stabmon demo`` writes for one service
    (baseline and its window's snapshots, run.json, snapshots, summaries).
    """
    out_dir = Path(out_dir)
    names = [f"svc-{i:02d}" for i in range(1, services + 1)]
    entries = []
    window = None
    for i, name in enumerate(names):
        folder = out_dir / store.service_folder(name)
        result = run_demo_week(folder, scenario=DEMO_SCENARIOS[i % len(DEMO_SCENARIOS)], seed=seed, fsync=False,
                               service=name, scrape_seconds=DEMO_FLEET_SCRAPE_SECONDS)
        window = result.window
        entries.append(fleet_entry(name, folder.name, result.weekly))
    assert window is not None, "a demo fleet has at least one service"
    write_fleet_run(out_dir, {
        "window": window.to_dict(), "service_label": DEFAULT_SERVICE_LABEL, "selector": None,
        "all_services": False, "shard": None,
        "services": [{"service": n, "folder": store.service_folder(n)} for n in names],
        "source": f"synthetic fleet seed={seed}", "prometheus_url": None, "baseline": None,
    })
    summary = build_fleet_summary(entries, window, service_label=DEFAULT_SERVICE_LABEL)
    write_fleet_summary(out_dir, summary)
    return summary
