"""``stabmon baseline``: capture the release-day baseline JSON from a past window."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stabmon import store
from stabmon.cli.args import positive, preset_inputs
from stabmon.cli.monitor import add_target_arguments
from stabmon.collect.capture import capture_baseline
from stabmon.collect.prom import ConnectionSettings, PrometheusClient
from stabmon.collect.queries import build_catalogue
from stabmon.collect.window import check_interval, parse_start
from stabmon.core.errors import InputError
from stabmon.core.model import format_time

DEFAULT_BASELINE_HOURS = 24.0


def add_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stabmon baseline`` flags to ``parser``."""
    add_target_arguments(parser)
    parser.add_argument("--start", metavar="ISO8601", required=True, help="start of the release-day window")
    end = parser.add_mutually_exclusive_group()
    end.add_argument("--end", metavar="ISO8601", default=None, help="end of the window")
    end.add_argument("--duration", metavar="HOURS", type=positive(float), default=None,
                     help="window length in hours (default 24)")
    parser.add_argument("--interval", metavar="MINUTES", type=positive(float), default=30.0,
                        help="minutes between the averaged snapshots (default 30)")
    parser.add_argument("--output", metavar="FILE", default=store.BASELINE_FILE,
                        help=f"where to write the baseline JSON (default {store.BASELINE_FILE})")


def run_baseline_command(args: argparse.Namespace) -> int:
    """``stabmon baseline``: capture a baseline JSON from a past window; return 0."""
    start = parse_start(args.start)
    if args.end is not None:
        end = parse_start(args.end, "--end")
    else:
        end = start + timedelta(hours=args.duration if args.duration is not None else DEFAULT_BASELINE_HOURS)
    if end <= start:
        raise InputError("--end: must be after --start")
    if end > datetime.now(timezone.utc):
        raise InputError(f"--end: the window must be in the past (ends {format_time(end)})")
    check_interval(args.interval)
    catalogue = build_catalogue(service=args.service, selector=args.selector,
                                interval_seconds=args.interval * 60.0, queries_file=args.queries,
                                **preset_inputs(args))
    connection = ConnectionSettings.from_env(args.prometheus_url)
    with PrometheusClient(connection) as client:
        baseline = capture_baseline(client, catalogue, start, end, args.interval, service=args.service)
    store.write_json_atomic(Path(args.output), baseline.to_dict())
    print(f"baseline written to {args.output} ({', '.join(f'{k}={v:g}' for k, v in baseline.values.items())})")
    return 0
