"""``license-token node-id``: this machine's node ID, for borrowing on its behalf elsewhere."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import node
from .._errors import ConfigurationError, LicenseTokenError
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    UsageError,
    add_json_option,
    dump_json,
    escape,
    write,
)
from ._result import failure, result

DEFAULT_SALT = "license-token"
"""The salt used without ``--salt``; an app that passes its own salt gets other IDs."""


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """``--salt``, ``--installation-file`` and ``--allow-container``: this machine's node ID.

    ``--salt`` defaults to ``None``, so that the command tells a given salt from none (and
    says so); it then uses ``DEFAULT_SALT``.
    """
    parser.add_argument("--salt", metavar="SALT",
                        help="the app's node-ID salt, as it passes to node_id() "
                             f"(default {DEFAULT_SALT!r})")
    parser.add_argument("--installation-file", type=Path, metavar="PATH",
                        help="use (or create once) an installation ID kept in PATH, e.g. on "
                             "a container's volume, instead of the machine ID")
    parser.add_argument("--allow-container", action="store_true",
                        help="use the machine ID even in a container (it is this container's "
                             "own or the host's)")


def register(sub: Any) -> None:
    """Add ``node-id`` to the ``license-token`` parser."""
    parser = sub.add_parser("node-id", help="this machine's node ID (last line of stdout)")
    add_node_options(parser)
    add_json_option(parser)
    parser.set_defaults(handler=cmd_node_id)


def this_node(salt: str, *, installation_file: Path | None = None,
              allow_container: bool = False) -> tuple[str, str]:
    """The node ID and where it came from; an empty salt is a usage error."""
    try:
        if installation_file is not None:
            return (node.installation_node_id(salt, installation_file),
                    f"the installation ID in {installation_file}")
        return node.node_id(salt, allow_container=allow_container), "the machine ID"
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def node_origin(source: str, salt: str | None) -> str:
    """Which source and salt made a node ID, as a hint for a node that does not match.

    Args:
        source: where the ID came from (as ``this_node()`` says).
        salt: the ``--salt`` given, or ``None`` (the default salt).

    Returns:
        e.g. ``the machine ID with the default salt 'license-token' (no --salt: give the
        one the app passes to node_id())``.
    """
    if salt is not None:
        return f"{source} with salt {salt!r}"
    return (f"{source} with the default salt {DEFAULT_SALT!r} (no --salt: give the one the "
            "app passes to node_id())")


def cmd_node_id(args: argparse.Namespace) -> int:
    """``node-id``: print this machine's node ID; 1 refused in a container, 2 unreadable."""
    salt = DEFAULT_SALT if args.salt is None else args.salt
    try:
        value, source = this_node(salt, installation_file=args.installation_file,
                                  allow_container=args.allow_container)
    except LicenseTokenError as exc:
        if args.json:
            dump_json(failure(exc, node_id=None))
        write(f"license-token: {exc.code}: {escape(exc)}")
        if isinstance(exc, node.ContainerNodeId):
            write("license-token: from the shell: pass --installation-file PATH (a file on "
                  "the container's volume) or --allow-container (this container's machine "
                  "ID is its own)")
            return EXIT_REJECTED
        return EXIT_USAGE  # no ID could be read or kept: an unreadable input
    origin = node_origin(source, args.salt)
    write(f"node ID from {origin}")
    if args.json:
        dump_json(result(valid=True, code=None, message=f"from {origin}", node_id=value,
                         salt=salt))
    else:
        write(value, sys.stdout)
    return EXIT_OK
