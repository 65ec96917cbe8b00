"""The ``dentsend`` command line: one engine, the same as the desktop app's.

Exit codes: 0 success, 1 a user-facing failure reported as one line on stderr, 2 a usage error.
Each subcommand lives in its own module and imports what it needs only when it runs, so
``dentsend --help`` and every command start without loading Qt or the imaging stack needlessly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from dentsend import __version__
from dentsend.errors import DentsendError

#: Modules that each add one or more subcommands through ``register(subparsers)``.
COMMAND_MODULES = (
    "dentsend.cli.images",
    "dentsend.cli.history",
    "dentsend.cli.clean",
    "dentsend.cli.keys",
    "dentsend.cli.pack",
    "dentsend.cli.unpack",
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Arguments that do not fit together; reported like argparse's own errors (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dentsend",
        usage="dentsend [--demo] [FILE ...] | dentsend COMMAND ...",
        description=(
            "Send dental radiographs to another doctor, de-identified and encrypted. "
            "Without a command, opens the desktop app."
        ),
    )
    parser.add_argument("--version", action="version", version=f"dentsend {__version__}")
    parser.add_argument(
        "--demo", action="store_true", help="open the app with bundled synthetic radiographs"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="exercise every part headless and exit 0 (all well) or 1",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    return parser


class _QuietLibraries(logging.Filter):
    """Hide pydicom's own log lines: it logs every decoder plugin that declined a file (with a
    traceback), and dentsend reports the outcome as one sentence. ``-v`` shows them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("pydicom") or record.levelno >= logging.CRITICAL


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="dentsend: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_QuietLibraries())


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # A bare "dentsend FILE..." opens the app with those files; argparse would otherwise read
    # the first file as an unknown command.
    commands = set(_subcommand_names(parser))
    first_positional = next((a for a in arguments if not a.startswith("-")), None)
    if first_positional is not None and first_positional not in commands:
        args = parser.parse_args([a for a in arguments if a.startswith("-")])
        args.open_files = [a for a in arguments if not a.startswith("-")]
    else:
        args = parser.parse_args(arguments)
        args.open_files = []
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if args.self_test:
        from dentsend.selftest import run_self_test

        return run_self_test()
    if handler is None:
        return _open_app(args)
    # A terminated command unwinds like Ctrl+C, so partial outputs are removed on the way out.
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        return handler(args)
    except UsageError as exc:
        parser.error(str(exc))
    except DentsendError as exc:
        print(f"dentsend: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("dentsend: cancelled", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _subcommand_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _open_app(args: argparse.Namespace) -> int:
    from dentsend.gui.app import run_app

    return run_app(files=args.open_files, demo=args.demo)
