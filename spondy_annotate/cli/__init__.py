"""The ``spondy-annotate`` command line.

Each subcommand lives in its own module of this package with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``. Heavy libraries are imported inside ``run``
so that start-up stays fast. Errors of spondy_annotate are printed as one line on stderr with a
non-zero exit status, never as a traceback.

Front ends add subcommands of their own through the entry point group :data:`ENTRY_POINT_GROUP`
(the napari plugin contributes ``open``): each entry point names a callable
``add(subparsers) -> ArgumentParser`` that registers one subcommand and sets its ``run`` default.
The core finds them with :func:`importlib.metadata.entry_points` and never imports a front end.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from spondy_annotate.errors import SpondyError, one_line

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

logger = logging.getLogger(__name__)

#: Subcommand modules, in the order ``--help`` lists them (after the front ends' commands).
COMMANDS = (
    "index",
    "cases",
    "align",
    "sample",
    "export",
    "study",
    "merge",
    "sr",
    "sr_import",
    "analyze",
)
#: Entry point group of subcommands contributed by front ends (``open``: the napari plugin).
ENTRY_POINT_GROUP = "spondy_annotate.cli"


def _add_contributed(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the subcommands of :data:`ENTRY_POINT_GROUP`, in the order of their names."""
    from importlib.metadata import entry_points

    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        _add_one(entry_point, sub)


def _add_one(
    entry_point: EntryPoint, sub: argparse._SubParsersAction[argparse.ArgumentParser]
) -> None:
    """Register one contributed subcommand; a broken one is left out with a one-line warning, so
    that the core's commands still work."""
    try:
        entry_point.load()(sub)
    except Exception as exc:
        logger.warning("command %r not available: %s", entry_point.name, one_line(exc))


def build_parser(
    *, contributed: bool = True, commands: Sequence[str] = COMMANDS
) -> argparse.ArgumentParser:
    """Return the parser with the subcommands of ``commands`` (names in :data:`COMMANDS`)
    registered, and the front ends' too when ``contributed`` (looking them up and importing
    every command module cost tens of milliseconds of start-up)."""
    from spondy_annotate._version import __version__

    parser = argparse.ArgumentParser(
        prog="spondy-annotate",
        description="Grade baseline/follow-up spine MRI and correlate the change with lab values.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if contributed:
        _add_contributed(sub)
    for name in commands:
        module = importlib.import_module(f"spondy_annotate.cli.{name}_cmd")
        cmd = module.add_parser(sub)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), "")
    command = first.replace("-", "_")
    if command in COMMANDS:  # only that command's parser (and module) is needed
        parser = build_parser(contributed=False, commands=(command,))
    else:  # --help, --version, a front end's command or a typing error: all of them
        parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    # pydicom warns about every odd file it is shown; the index reports those files itself.
    # (a filter, not a level: pydicom sets its logger's level when it is first imported)
    if not args.verbose:
        logging.getLogger("pydicom").addFilter(lambda record: record.levelno >= logging.ERROR)
    warnings.filterwarnings("ignore", module="pydicom")
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except SpondyError as exc:
        print(f"spondy-annotate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spondy-annotate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
