"""The ``ci-toolkit`` command line.

Each subcommand is a :class:`Command`: a name, a help line, a function adding its flags and a
function running it. To add one, append to :data:`COMMANDS`.

Example
-------
``ci-toolkit emulator --profiles 10000 --seed 1``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from ci_toolkit import __version__

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class Command:
    """One ``ci-toolkit`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _emulator_arguments(parser: argparse.ArgumentParser) -> None:
    from ci_toolkit.emulator.cli import add_arguments

    add_arguments(parser)


def _emulator_run(args: argparse.Namespace) -> int:
    from ci_toolkit.emulator.cli import run

    return run(args, out=sys.stdout)


def _app_arguments(parser: argparse.ArgumentParser) -> None:
    from ci_toolkit._defaults import APP_PORT

    parser.add_argument("--port", type=int, default=APP_PORT, help="port (default %(default)s)")
    parser.add_argument("--ip", default="127.0.0.1", help="address (default %(default)s)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")


def _app_run(args: argparse.Namespace) -> int:
    from ci_toolkit.app import serve

    try:
        return serve(port=args.port, ip=args.ip, open_browser=not args.no_browser)
    except RuntimeError as error:
        print(f"ci-toolkit app: error: {error}", file=sys.stderr)
        return 2


COMMANDS: list[Command] = [
    Command(
        "emulator",
        "serve a local Customer Insights emulator (HTTPS API + Azure AD) until Ctrl-C",
        _emulator_arguments,
        _emulator_run,
    ),
    Command(
        "app",
        "serve the explorers as a dashboard app (Voilà; the emulator unless CI_* settings)",
        _app_arguments,
        _app_run,
    ),
]


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand of :data:`COMMANDS`."""
    parser = _Parser(prog="ci-toolkit", description="Customer Insights toolkit.")
    parser.add_argument("--version", action="version", version=f"ci-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(command_parser)
        command_parser.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ci-toolkit`` with ``argv`` (the process arguments when ``None``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    code: int = args._run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
