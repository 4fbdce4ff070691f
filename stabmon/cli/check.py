"""``stabmon check``: the preflight a new user runs first (and ``monitor`` runs before collecting).

One line per metric (expression, series, a recent value, coverage over
``--start/--duration``) and one per finding; exit 0 when every key metric
(availability, error rate, p99 latency) can be read, 1 otherwise. With
``--print`` it only prints the rendered PromQL of every query (no server).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from stabmon.cli.args import positive, preset_inputs
from stabmon.cli.monitor import DEFAULT_INTERVAL_MINUTES, add_target_arguments
from stabmon.collect.check import check_target
from stabmon.collect.prom import ConnectionSettings, PrometheusClient, public_url
from stabmon.collect.queries import QUERY_NAMES, QueryCatalogue, build_catalogue
from stabmon.collect.window import check_interval, make_window, parse_start
from stabmon.core.errors import InputError


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stabmon check`` flags (docs/contract.md §5) to ``parser``."""
    add_target_arguments(parser)
    parser.add_argument("--start", metavar="ISO8601", default=None,
                        help="with --duration: the window to measure each metric's coverage over")
    parser.add_argument("--duration", metavar="HOURS", type=positive(float), default=None,
                        help="with --start: the window's length in hours")
    parser.add_argument("--interval", metavar="MINUTES", type=positive(float), default=DEFAULT_INTERVAL_MINUTES,
                        help=f"minutes between snapshots, the queries' [w] (default {DEFAULT_INTERVAL_MINUTES:g})")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the rendered PromQL of every query and exit 0 (asks no server)")


def print_catalogue(catalogue: QueryCatalogue) -> None:
    """The presets, then ``NAME: PROMQL`` for every query (a withheld one says why)."""
    print(f"preset: {catalogue.preset}")
    withheld = catalogue.withheld
    for name in QUERY_NAMES:
        print(f"{name}: {catalogue.expression(name)}")
        if name in withheld:
            print(f"  withheld: {withheld[name]}")


def run_check_command(args: argparse.Namespace) -> int:
    """``stabmon check``: print the preflight of the target; return 0 or 1."""
    if (args.start is None) != (args.duration is None):
        raise InputError("--start and --duration go together (the window to measure coverage over)")
    interval_seconds = check_interval(args.interval)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    window = None
    at = now
    if args.start is not None:
        window = make_window(parse_start(args.start), args.duration, args.interval)
        if window.start > now:
            raise InputError(f"--start: {args.start} is in the future: no data to check yet")
        at = min(now, window.end)
    catalogue = build_catalogue(service=args.service, selector=args.selector, interval_seconds=interval_seconds,
                                queries_file=args.queries, **preset_inputs(args))
    if args.print_only:
        print_catalogue(catalogue)
        return 0
    connection = ConnectionSettings.from_env(args.prometheus_url)
    with PrometheusClient(connection) as client:
        client.check()
        report = check_target(client, catalogue, at=at, window=window, coverage=window is not None)
    print(f"Prometheus: {public_url(connection.url)}")
    for line in report.lines():
        print(line)
    return report.exit_code
