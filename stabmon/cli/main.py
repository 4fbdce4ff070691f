"""The ``stabmon`` command line: monitor, analyze, report, demo, baseline.

Exit codes: 0 success, 1 failure (one line on stderr, no traceback for an
expected error), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from stabmon import __version__
from stabmon.core.errors import InputError, StabmonError

log = logging.getLogger("stabmon")

#: Environment variables whose values must never appear in any log line.
SECRET_ENV = ("STABMON_PROMETHEUS_TOKEN", "STABMON_PROMETHEUS_PASSWORD", "STABMON_PROMETHEUS_USER")


class RedactingFilter(logging.Filter):
    """Replace credential values and Authorization headers in log records."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets = [v for v in (os.environ.get(k) for k in SECRET_ENV) if v and len(v) >= 3]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self.secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact(text: str, secrets: Sequence[str] | None = None) -> str:
    """Remove credentials from ``text``: known secret values and Authorization header values."""
    import re

    if secrets is None:
        secrets = [v for v in (os.environ.get(k) for k in SECRET_ENV) if v and len(v) >= 3]
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    # Credentials written into a URL (http://user:password@host) are not in the environment.
    text = re.sub(r"(://)[^/@\s:]+:[^/@\s]+@", r"\1***@", text)
    return re.sub(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic)?\s*[^'\",}\s]+",
                  lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + "***", text)


def setup_logging(verbose: bool) -> None:
    """Log to stderr: warnings by default, debug with ``--verbose``; credentials redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Third-party chatter stays at warnings even with --verbose.
    for name in ("urllib3", "matplotlib", "papermill", "traitlets", "asyncio", "PIL", "nbconvert"):
        logging.getLogger(name).setLevel(logging.WARNING)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits 1 with one line (the contract has no exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"stabmon: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# ---------------------------------------------------------------------------
# analyze


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", required=True, metavar="DIR", help="run folder holding day_NN_raw/ snapshots")
    parser.add_argument("--baseline", metavar="FILE",
                        help="baseline JSON (for a fleet folder: one file or a folder of <service>.json); "
                        "when given, drift is recomputed from it (default: the one in run.json)")
    parser.add_argument("--settings", metavar="FILE", help="YAML file of threshold overrides (see stabmon.settings)")


def load_settings_file(path: str | None):
    """Read a YAML file of threshold overrides into :class:`Settings`."""
    from stabmon.core.settings import Settings

    if not path:
        return Settings()
    import yaml

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


def run_analyze(args: argparse.Namespace) -> int:
    from stabmon.core.baseline import load_baseline
    from stabmon.store.rebuild import rebuild_summaries

    folder = Path(args.input)
    if not folder.is_dir():
        raise InputError(f"--input {folder}: no such folder")
    from stabmon.collect.fleet import is_fleet_folder, run_fleet_analyze  # fleet folders and shard folders (issue 7)

    if is_fleet_folder(folder):
        return run_fleet_analyze(folder, baseline_path=args.baseline, settings=load_settings_file(args.settings))
    baseline = load_baseline(args.baseline) if args.baseline else None
    settings = load_settings_file(args.settings)
    result = rebuild_summaries(folder, baseline=baseline, settings=settings, recompute_drift=baseline is not None)
    for warning in result.warnings:
        log.warning("%s", warning)
    weekly = result.weekly
    print(f"analyzed {weekly['total_snapshots']} snapshots over {len(result.daily)} days in {folder}")
    print(f"stability score {weekly['stability_score']} grade {weekly['stability_grade']}; "
          f"rollback {'RECOMMENDED' if weekly['rollback_recommended'] else 'not recommended'}")
    print(f"report: {folder / 'weekly_summary.md'}")
    return 0


# ---------------------------------------------------------------------------
# demo


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="incident", metavar="NAME",
                        help="synthetic week to run: healthy, incident, latency_regression (default: incident)")
    parser.add_argument("--output", "-o", default="outputs/demo", metavar="DIR", help="output folder (default: outputs/demo)")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the synthetic week (default: 42)")
    parser.add_argument("--no-report", action="store_true", help="skip rendering the notebooks")
    parser.add_argument("--jobs", type=positive_int, default=2, help="notebooks rendered in parallel (default: 2)")


def run_demo(args: argparse.Namespace) -> int:
    from stabmon.demo.week import run_demo_week
    from stabmon.demo.synthetic import SCENARIOS

    if args.scenario not in SCENARIOS:
        raise InputError(f"--scenario {args.scenario!r}: choose one of {', '.join(sorted(SCENARIOS))}")
    out = Path(args.output)
    result = run_demo_week(out, scenario=args.scenario, seed=args.seed)
    weekly = result.weekly
    print(f"demo ({args.scenario}): {weekly['total_snapshots']} snapshots, {len(result.daily)} daily summaries in {out}")
    print(f"stability score {weekly['stability_score']} grade {weekly['stability_grade']}; "
          f"rollback {'RECOMMENDED' if weekly['rollback_recommended'] else 'not recommended'}")
    print(f"weekly report: {out / 'weekly_summary.md'}")
    if not args.no_report:
        from stabmon.report.render import render_reports

        rendered = render_reports(out, jobs=args.jobs)
        print(f"rendered reports: {rendered.index}")
    return 0


# ---------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="stabmon",
        description="Is the release stable? Collect a week of golden signals from Prometheus, "
        "compare with the release-day baseline, score it and say whether to roll back.",
    )
    parser.add_argument("--version", action="version", version=f"stabmon {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging (credentials are redacted)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True

    from stabmon.collect import run as collect
    from stabmon.report import render as report

    commands = [
        ("monitor", "collect a week (live or past) from Prometheus and analyse it",
         collect.add_monitor_arguments, collect.run_monitor_command),
        ("analyze", "rebuild every summary from a folder's raw snapshots", add_analyze_arguments, run_analyze),
        ("report", "render the notebooks of a run folder to HTML and Markdown",
         report.add_report_arguments, report.run_report_command),
        ("demo", "run a synthetic week through the whole pipeline (no server needed)", add_demo_arguments, run_demo),
        ("baseline", "capture a baseline JSON from a past window in Prometheus",
         collect.add_baseline_arguments, collect.run_baseline_command),
    ]
    for name, help_text, add_arguments, run in commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                       help="debug logging (credentials are redacted)")
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stabmon`` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("stabmon: interrupted", file=sys.stderr)
        return 130
    except StabmonError as exc:
        print(f"stabmon: error: {redact(str(exc))}", file=sys.stderr)
        return 130 if exc.__class__.__name__ == "Interrupted" else 1
    except BrokenPipeError:
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
