"""``license-token``: verify and inspect tokens; fetch them from AWS or the emulator.

One module per command group (``_verify``, ``_store``, ``_node``, ``_online``, ``_demo``,
``_checkin``, ``_emulator``), all built on ``_common`` and ``_result`` and listed in
``COMMANDS``: a command imports its own group's module only (``--help`` and an unknown
command import them all). Exit codes: 0 verified (or done),
1 rejected or AWS refused, 2 usage error, unreadable input, unwritable output, unusable
key, AWS not configured (no Region, credentials or profile) or missing extra; 130
interrupted (Ctrl-C). Commands that need boto3 import it only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from .._errors import InvalidLicense, LicenseTokenError
from ._args import ArgumentParser, ArgumentRefused
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_REJECTED,
    EXIT_USAGE,
    UsageError,
    dump_json,
    escape,
    write,
)
from ._logs import warnings_once
from ._result import refused, result

__all__ = ["main"]

COMMANDS: dict[str, tuple[str, ...]] = {
    "_verify": ("verify", "inspect"),
    "_store": ("store",),
    "_node": ("node-id",),
    "_demo": ("demo",),
    "_online": ("checkout-borrow", "public-key"),
    "_checkin": ("check-in",),
    "_emulator": ("emulator",),
}
"""Each command group's module (its ``register(sub)`` adds them) and the commands it adds,
in the order ``--help`` lists them."""


def _groups(argv: Sequence[str]) -> list[str]:
    """The modules to register: the named command's, or every one (help, a typo)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return [m for m, names in COMMANDS.items() if command in names] or list(COMMANDS)


def _wants_json(argv: Sequence[str]) -> bool:
    """``--json`` is among the arguments (options are never abbreviated)."""
    return "--json" in argv


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="license-token",
        description="Verify AWS License Manager checkout tokens offline.",
        epilog="exit codes: 0 verified or done, 1 rejected (the code says why) or AWS "
               "refused, 2 usage error, unreadable input, unwritable output, unusable key, "
               "AWS not configured (no Region, credentials or profile) or missing extra, "
               "130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (COMMAND --help says more)")
    for group in _groups(argv):
        importlib.import_module(f"{__name__}.{group}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``license-token`` command; returns the exit code (the process is left alone).

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        0 verified (or done), 1 rejected or AWS refused, 2 usage error, unreadable input
        or misconfiguration, 130 interrupted.
    """
    try:
        with warnings_once():
            return _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        write("license-token: interrupted")
        return EXIT_INTERRUPTED


def _run(argv: list[str]) -> int:
    parser = _parser(argv)
    try:
        args = parser.parse_args(argv)
    except ArgumentRefused as exc:  # reported on stderr; under --json the JSON line too
        if _wants_json(argv):
            dump_json(result(valid=False, code="usage", message=exc.message))
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        message = str(exc)
    except OSError as exc:  # a file the command could not read or write
        message = f"{exc.filename or 'I/O'}: {exc.strerror or exc}"
    except LicenseTokenError as exc:
        return refused(args, exc.code, str(exc), exit_code=EXIT_REJECTED
                       if isinstance(exc, InvalidLicense) else EXIT_USAGE)
    if getattr(args, "json", False):
        dump_json(result(valid=False, code="usage", message=message))
    write(f"license-token: error: {escape(message)}")
    return EXIT_USAGE
