"""``license-token``: verify and inspect tokens; fetch them from AWS or the emulator.

One module per command group (``_verify``, ``_store``, ``_node``, ``_online``), all built on
``_common``. Exit codes: 0 verified (or done), 1 rejected, 2 usage error, unreadable
input, unwritable output, unusable key or missing extra. Commands that need boto3
import it only when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from .._errors import InvalidLicense, LicenseTokenError
from . import _emulator, _node, _online, _store, _verify
from ._common import (
    EXIT_REJECTED,
    EXIT_USAGE,
    ArgumentParser,
    ArgumentRefused,
    UsageError,
    dump_json,
    escape,
    write,
)

__all__ = ["main"]


def _wants_json(argv: Sequence[str]) -> bool:
    """``--json`` (or an abbreviation argparse would accept) is among the arguments."""
    return any(len(arg) >= 3 and "--json".startswith(arg) for arg in argv)


def _usage_json(message: str) -> None:
    dump_json({"code": "usage", "license": None, "message": message, "valid": False})


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="license-token",
        description="Verify AWS License Manager checkout tokens offline.",
        epilog="exit codes: 0 verified or done, 1 rejected (the code says why), 2 usage "
               "error, unreadable input, unwritable output, unusable key or missing extra",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (_verify, _store, _node, _online, _emulator):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``license-token`` command; returns the exit code (the process is left alone).

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        0 verified (or done), 1 rejected, 2 usage error or unusable key.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except ArgumentRefused as exc:  # reported on stderr; under --json the JSON line too
        if _wants_json(argv):
            _usage_json(exc.message)
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
        write(f"license-token: {exc.code}: {escape(exc)}")
        return EXIT_REJECTED if isinstance(exc, InvalidLicense) else EXIT_USAGE
    if getattr(args, "json", False):
        _usage_json(message)
    write(f"license-token: error: {escape(message)}")
    return EXIT_USAGE
