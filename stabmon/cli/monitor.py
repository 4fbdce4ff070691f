"""``stabmon monitor``: collect and judge a window, for one service or a fleet.

The only place that chooses between one target and many: ``--services`` or
``--all-services`` make the run a fleet (queries grouped by the service
label, one folder per service); otherwise the run's one target writes
``--output`` itself. Everything else is the same run.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stabmon import store
from stabmon.cli.args import add_preset_arguments, positive, preset_inputs
from stabmon.cli.gate import add_gate_argument, folder_verdict, gate_exit
from stabmon.cli.report import render_folder
from stabmon.collect.prom import ConnectionSettings
from stabmon.collect.queries import build_catalogue
from stabmon.collect.run import RunOptions, monitor
from stabmon.collect.targets import parse_service_list, parse_shard
from stabmon.collect.window import make_window, parse_start
from stabmon.core.baseline import load_baseline
from stabmon.core.errors import BaselineError, InputError, ReportError
from stabmon.core.fleet_summary import DEFAULT_SERVICE_LABEL
from stabmon.core.model import Window, format_time, parse_time
from stabmon.report.due import reports_as_days_close
from stabmon.store.cluster import resolve_scheduler
from stabmon.store.fleet import read_fleet_run

DEFAULT_DURATION_HOURS = 168.0
DEFAULT_INTERVAL_MINUTES = 30.0
#: ``--test-mode`` (the original design's rule): a run of at most 2 hours takes a snapshot every 10 minutes.
TEST_MODE_MAX_HOURS = 2.0
TEST_MODE_INTERVAL_MINUTES = 10.0


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--prometheus-url``, ``--service``/``--selector`` and ``--queries`` (monitor and baseline)."""
    parser.add_argument("--prometheus-url", metavar="URL", default=None,
                        help="Prometheus (or compatible) base URL (default: $STABMON_PROMETHEUS_URL, "
                        "else http://localhost:9090); credentials come only from the environment")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--service", metavar="NAME", default=None, help='the service: matches the preset\'s service label (service="NAME" by default, job for '
                     'fastapi, otel, process)')
    who.add_argument("--selector", metavar="MATCHERS", default=None,
                     help='any PromQL matcher list instead of --service, e.g. job="api",env="prod"')
    parser.add_argument("--queries", metavar="FILE", default=None,
                        help="YAML file overriding expressions by metric name (placeholders {sel}, [w], [d], {by}; "
                        "docs/presets.md)")
    add_preset_arguments(parser)


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``stabmon monitor`` flags (docs/contract.md §5) to ``parser``."""
    parser.add_argument("--baseline", metavar="FILE", required=True,
                        help="release-day baseline JSON (a fleet: one file for all, or a folder of <service>.json)")
    add_target_arguments(parser)
    parser.add_argument("--start", metavar="ISO8601", default=None,
                        help="window start (UTC unless an offset is given); default: now, or the "
                        "start recorded in --output when resuming")
    parser.add_argument("--duration", metavar="HOURS", type=positive(float), default=None,
                        help="window length in hours (default 168)")
    parser.add_argument("--interval", metavar="MINUTES", type=positive(float), default=None,
                        help="minutes between snapshots, fractions allowed (e.g. 0.5 = 30 s; default 30)")
    parser.add_argument("--output", metavar="DIR", default=None, help=f"run folder (default {store.DEFAULT_OUTPUT})")
    parser.add_argument("--test-mode", action="store_true",
                        help="with --duration <= 2, take a snapshot every 10 minutes")
    parser.add_argument("--report", action="store_true",
                        help="render each day's notebook as the day closes, the weekly and retrospective when "
                        "the window ends (a day already rendered is rendered again only when its data changed)")
    parser.add_argument("--catch-up", action="store_true",
                        help="collect every snapshot whose time has passed, write the closed days, the current "
                        "day (partial) and the week so far, then exit 0 (for cron, a CronJob, Airflow)")
    add_release_arguments(parser)
    add_gate_argument(parser)
    group = parser.add_argument_group("fleet (many services in one run)")
    choose = group.add_mutually_exclusive_group()
    choose.add_argument("--services", metavar="A,B,C", default=None,
                        help="judge these services in one run (output: DIR/<service>/ and DIR/fleet_summary.json)")
    choose.add_argument("--all-services", action="store_true",
                        help="judge every value of the service label with data in the window")
    group.add_argument("--service-label", metavar="NAME", default=None,
                       help="label that names the service (default: the preset's service label, "
                       f"{DEFAULT_SERVICE_LABEL} for prometheus)")
    group.add_argument("--shard", metavar="I/N", default=None,
                       help="take only part I of N of the services (stable hash of the name); merge the shards' "
                       "folders with 'stabmon analyze --input DIR'")
    group.add_argument("--jobs", metavar="N", type=positive(int), default=None,
                       help="processes writing the services' folders (default: the CPUs available)")
    group.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="run each service's analysis (with --report, its notebooks too) as tasks on this Dask "
                       "scheduler (tcp://HOST:PORT; 'local' starts a LocalCluster of --jobs workers; default: "
                       "$STABMON_DASK_SCHEDULER, else local processes); needs pip install 'stabmon[dask]'")


def add_release_arguments(parser: argparse.ArgumentParser, *, defaults: dict[str, str] | None = None) -> None:
    """``--release``, ``--commit``, ``--deployed-at``: what the window follows (recorded in ``run.json``)."""
    defaults = defaults or {}
    group = parser.add_argument_group("release (recorded in run.json, shown on every report)")
    group.add_argument("--release", metavar="NAME", default=defaults.get("name"),
                       help="the release's name or version, e.g. v1.4.2")
    group.add_argument("--commit", metavar="SHA", default=defaults.get("commit"), help="the release's commit")
    group.add_argument("--deployed-at", metavar="ISO8601", default=defaults.get("deployed_at"),
                       help="when the release was deployed (UTC unless an offset is given)")


def release_info(args: argparse.Namespace, recorded: dict[str, Any] | None = None) -> dict[str, str | None] | None:
    """The ``run.json`` ``release`` record from the flags; the recorded one when no flag is given (a resume).

    Raises
    ------
    InputError
        ``--deployed-at`` that is not an ISO 8601 time.
    """
    name, commit, deployed = (getattr(args, "release", None), getattr(args, "commit", None),
                              getattr(args, "deployed_at", None))
    if name is None and commit is None and deployed is None:
        return (recorded or {}).get("release")
    if deployed is not None:
        try:
            deployed = format_time(parse_time(deployed))
        except ValueError:
            raise InputError(f"--deployed-at {deployed!r} is not an ISO 8601 time, e.g. 2026-11-20T09:30:00Z") from None
    return {"name": name, "commit": commit, "deployed_at": deployed}


def resolve_window(args: argparse.Namespace, recorded: dict[str, Any] | None, now: datetime) -> Window:
    """The run's window from ``--start/--duration/--interval/--test-mode`` and a recorded run.

    Without ``--start``, re-running the same command resumes the window
    recorded in the folder (``recorded``: its ``run.json`` or
    ``fleet_run.json``); with nothing recorded the window starts now.
    """
    duration, interval = args.duration, args.interval
    if args.test_mode and (duration if duration is not None else DEFAULT_DURATION_HOURS) <= TEST_MODE_MAX_HOURS:
        interval = TEST_MODE_INTERVAL_MINUTES
    if args.start is not None:
        start = parse_start(args.start)
    elif recorded is not None:
        previous = store.window_from_run_info(recorded)
        start = previous.start
        duration = previous.duration_hours if duration is None else duration
        interval = previous.interval_minutes if interval is None else interval
    else:
        start = now.replace(microsecond=0)
    return make_window(start, DEFAULT_DURATION_HOURS if duration is None else duration,
                       DEFAULT_INTERVAL_MINUTES if interval is None else interval)


def is_fleet_request(args: argparse.Namespace) -> bool:
    """Whether the command asks for a fleet (``--services`` or ``--all-services``).

    Raises
    ------
    InputError
        Fleet-only flags without a fleet, or ``--service`` with one.
    """
    fleet = bool(args.services) or bool(args.all_services)
    if not fleet:
        for flag, value in (("--shard", args.shard), ("--service-label", args.service_label)):
            if value is not None:
                raise InputError(f"{flag} needs --services or --all-services")
    elif args.service is not None:
        raise InputError("--service cannot be combined with --services/--all-services")
    return fleet


def resolve_run_options(args: argparse.Namespace, now: datetime) -> RunOptions:
    """Resolve the command line into :class:`RunOptions` (one target or a fleet).

    Raises
    ------
    InputError
        Conflicting or bad flags, a missing baseline.
    """
    fleet = is_fleet_request(args)
    scheduler = resolve_scheduler(getattr(args, "scheduler", None))
    out_dir = Path(args.output or store.DEFAULT_OUTPUT)
    if fleet:
        recorded = read_fleet_run(out_dir)
    else:
        recorded = store.read_run_info(out_dir) if (out_dir / store.RUN_FILE).exists() else None
    window = resolve_window(args, recorded, now)
    interval_seconds = window.interval_minutes * 60.0
    connection = ConnectionSettings.from_env(args.prometheus_url)
    if not fleet:
        catalogue = build_catalogue(service=args.service, selector=args.selector, interval_seconds=interval_seconds,
                                    queries_file=args.queries, **preset_inputs(args))
        return RunOptions(out_dir=out_dir, window=window, catalogue=catalogue, connection=connection,
                          baseline=load_baseline(args.baseline), service=args.service, selector=args.selector,
                          jobs=args.jobs, catch_up=args.catch_up, release=release_info(args, recorded),
                          scheduler=scheduler)
    catalogue = build_catalogue(selector=args.selector, interval_seconds=interval_seconds, queries_file=args.queries,
                                label=args.service_label, fleet=True, **preset_inputs(args))
    baseline_path = Path(args.baseline)
    if not baseline_path.exists():
        raise BaselineError(f"baseline file or folder not found: {baseline_path}")
    return RunOptions(out_dir=out_dir, window=window, catalogue=catalogue, connection=connection,
                      services=None if args.all_services else parse_service_list(args.services),
                      baseline_path=baseline_path, shard=parse_shard(args.shard) if args.shard else None,
                      jobs=args.jobs, catch_up=args.catch_up, release=release_info(args, recorded),
                      scheduler=scheduler)


def _named(services: list[str]) -> str:
    return f" ({', '.join(services[:10])}{' ...' if len(services) > 10 else ''})" if services else ""


def print_fleet_verdict(folder: Path, summary: dict[str, Any]) -> str:
    """The fleet's verdict in three lines: how many to roll back and how many are inconclusive (named),
    and where the summary is; return the fleet's verdict (its worst service's)."""
    rollback = summary["rollback_recommended"]
    inconclusive = summary.get("inconclusive") or []
    verdict = summary.get("verdict") or ("rollback" if rollback else "pass")
    print(f"fleet of {summary['service_count']} services in {folder}: {len(rollback)} to roll back{_named(rollback)}, "
          f"{len(inconclusive)} inconclusive{_named(inconclusive)}")
    print(f"verdict: {verdict.upper()}")
    print(f"fleet summary: {folder / store.FLEET_SUMMARY_MD}")
    return verdict


def run_monitor_command(args: argparse.Namespace) -> int:
    """``stabmon monitor``: collect and analyse a window; return the exit code.

    0 when the run finished (under ``--gate``: 0 pass, 2 rollback, 3
    inconclusive), 130 when interrupted.
    """
    options = resolve_run_options(args, datetime.now(timezone.utc))
    # A fleet renders when the window ends; one service renders each day as it closes.
    on_close = (reports_as_days_close(options.out_dir, week_so_far=options.catch_up)
                if args.report and not options.fleet else None)
    outcome = monitor(options, on_close=on_close)
    if outcome.nothing_passed:
        print(f"{options.out_dir}: nothing has passed yet: the window starts at {format_time(options.window.start)}")
        return 0
    if outcome.exit_code != 0:
        return outcome.exit_code
    verdict = "inconclusive"  # a fleet run that wrote no summary judged nothing
    if options.fleet and outcome.summary is not None:
        verdict = print_fleet_verdict(options.out_dir, outcome.summary)
    elif not options.fleet:
        verdict = folder_verdict(options.out_dir)
        print(f"{options.out_dir}: {options.window.snapshot_count} snapshots, "
              f"weekly summary in {options.out_dir / store.WEEKLY_JSON}")
        print(f"verdict: {verdict.upper()}")
    if not outcome.window_complete:
        print(f"window not over: {len(outcome.days_closed)} of {options.window.day_count} days closed; "
              "the verdict cannot be PASS before the window ends")
    if args.report and options.fleet and outcome.window_complete:
        render_folder(options.out_dir, scheduler=options.scheduler)
    if on_close is not None:
        if on_close.failures:
            raise ReportError("; ".join(on_close.failures))
        print(f"reports: {options.out_dir / store.REPORTS_DIR}"
              + ("" if on_close.rendered else " (nothing new to render)"))
    return gate_exit(verdict, args.gate)
