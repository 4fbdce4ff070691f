"""The ``stabmon`` command line: monitor, analyze, report, demo, baseline, check, compare.

The only place that parses flags. Exit codes: 0 success, 1 failure (one
line on stderr, no traceback for an expected error), 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
from typing import Sequence

from stabmon import __version__
from stabmon.cli.analyze import add_analyze_arguments, run_analyze
from stabmon.cli.baseline import add_baseline_arguments, run_baseline_command
from stabmon.cli.check import add_check_arguments, run_check_command
from stabmon.cli.compare import add_compare_arguments, run_compare_command
from stabmon.cli.demo import add_demo_arguments, run_demo
from stabmon.cli.monitor import add_monitor_arguments, run_monitor_command
from stabmon.cli.report import add_report_arguments, run_report_command
from stabmon.collect.redact import RedactingFilter, redact
from stabmon.core.errors import StabmonError
from stabmon.store.schemas import keep_out_iri_grammar

log = logging.getLogger("stabmon")

#: Third-party loggers kept at warnings even with --verbose.
QUIET_LIBRARIES = ("urllib3", "matplotlib", "papermill", "traitlets", "asyncio", "PIL", "nbconvert")


def setup_logging(verbose: bool) -> None:
    """Log to stderr: info by default, debug with ``--verbose``; credentials redacted in every record.

    The filter sits on the handler, so it sees the records of every library
    logger (urllib3, requests) that propagate to it.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits 1 with one line (the contract has no exit code 2)."""

    #: The subcommands' parsers, by name (set on the top-level parser by :func:`build_parser`).
    commands: dict[str, "ArgumentParser"]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"stabmon: error: {message} (see {self.prog} --help)\n")

    def flags(self) -> list[str]:
        """Every option string this parser accepts (``--output``, ``-o``, ...)."""
        return [flag for action in self._actions for flag in action.option_strings]


#: What argparse takes for a negative number (a value, not a flag).
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _unknown_flags(parser: ArgumentParser, tokens: Sequence[str]) -> list[str]:
    """Flags among ``tokens`` that ``parser`` does not know, each with a did-you-mean when one is close.

    A unique prefix of a long flag is known (argparse accepts ``--out`` for
    ``--output``), as is a short flag with its value attached (``-j4``).
    """
    known = parser.flags()
    longs = [flag for flag in known if flag.startswith("--")]
    found = []
    for token in tokens:
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or _NEGATIVE_NUMBER.match(token):
            continue
        name = token.split("=", 1)[0]
        if name in known or (name.startswith("--") and any(flag.startswith(name) for flag in longs)):
            continue
        if not name.startswith("--") and name[:2] in known and "-" + name not in longs:
            continue  # -j4; but -output is --output with a dash missing, not -o utput
        close = difflib.get_close_matches(name, longs, n=1, cutoff=0.75)
        found.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return found


def check_arguments(parser: ArgumentParser, argv: Sequence[str]) -> None:
    """Name an unknown command or a mistyped flag before argparse reports what follows from it.

    Without this, ``stabmon report --inpt DIR`` says that ``--input`` is
    missing rather than that ``--inpt`` is not a flag. Exits 1 with one line,
    as every usage error does.
    """
    tokens = list(argv)
    position = next((i for i, token in enumerate(tokens) if not token.startswith("-")), None)
    if position is None:
        return  # no command: argparse says so (or --help, --version)
    unknown = _unknown_flags(parser, tokens[:position])
    if unknown:
        parser.error(f"unrecognized arguments: {', '.join(unknown)}")
    command = tokens[position]
    if command not in parser.commands:
        close = difflib.get_close_matches(command, list(parser.commands), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else f" (choose from {', '.join(parser.commands)})"
        parser.error(f"unknown command {command!r}{hint}")
    subparser = parser.commands[command]
    unknown = _unknown_flags(subparser, tokens[position + 1:])
    if unknown:
        subparser.error(f"unrecognized arguments: {', '.join(unknown)}")


def build_parser() -> argparse.ArgumentParser:
    """The ``stabmon`` parser with its subcommands."""
    parser = ArgumentParser(
        prog="stabmon",
        description="Is the release stable? Collect a week of golden signals from Prometheus, "
        "compare with the release-day baseline, score it and say whether to roll back.",
    )
    parser.add_argument("--version", action="version", version=f"stabmon {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging (credentials are redacted)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    commands = [
        ("monitor", "collect a week (live or past) from Prometheus and analyse it",
         add_monitor_arguments, run_monitor_command),
        ("analyze", "rebuild every summary from a folder's raw snapshots", add_analyze_arguments, run_analyze),
        ("report", "render the notebooks of a run folder to HTML and Markdown",
         add_report_arguments, run_report_command),
        ("demo", "run a synthetic week through the whole pipeline (no server needed)", add_demo_arguments, run_demo),
        ("baseline", "capture a baseline JSON from a past window in Prometheus",
         add_baseline_arguments, run_baseline_command),
        ("check", "preflight: can the queries read this service, and can their figures be trusted?",
         add_check_arguments, run_check_command),
        ("compare", "this release's week against earlier releases' weeks, day by day",
         add_compare_arguments, run_compare_command),
    ]
    for name, help_text, add_arguments, run in commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                       help="debug logging (credentials are redacted)")
        add_arguments(p)
        p.set_defaults(func=run)
    parser.commands = dict(sub.choices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stabmon`` console command."""
    keep_out_iri_grammar()  # before anything imports the notebook stack
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    check_arguments(parser, argv)
    args, extras = parser.parse_known_args(argv)
    if extras:  # positional leftovers: named by the subcommand that did not take them
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
    setup_logging(getattr(args, "verbose", False))
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("stabmon: interrupted", file=sys.stderr)
        return 130
    except StabmonError as exc:
        print(f"stabmon: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
