"""``license-token node-id``: this machine's node ID, for borrowing on its behalf elsewhere."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import node
from .._errors import ConfigurationError, LicenseTokenError
from ._common import EXIT_OK, EXIT_REJECTED, UsageError, add_json_option, escape, write

DEFAULT_SALT = "license-token"
"""The salt used without ``--salt``; an app that passes its own salt gets other IDs."""


def add_node_options(parser: argparse.ArgumentParser, *, salt_default: str | None) -> None:
    """``--salt``, ``--installation-file`` and ``--allow-container``: this machine's node ID.

    ``salt_default=None`` lets the command tell a given ``--salt`` from none; it then
    uses ``DEFAULT_SALT`` itself.
    """
    parser.add_argument("--salt", default=salt_default, metavar="SALT",
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
    add_node_options(parser, salt_default=DEFAULT_SALT)
    add_json_option(parser)
    parser.set_defaults(handler=cmd_node_id)


def this_node(salt: str, *, installation_file: Path | None = None,
              allow_container: bool = False) -> tuple[str, str]:
    """The node ID and where it came from; an empty salt is a usage error."""
    try:
        if installation_file is not None:
            return (node.installation_node_id(salt, installation_file),
                    f"installation ID in {installation_file}")
        return node.node_id(salt, allow_container=allow_container), "machine ID"
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def cmd_node_id(args: argparse.Namespace) -> int:
    try:
        value, source = this_node(args.salt, installation_file=args.installation_file,
                                  allow_container=args.allow_container)
    except LicenseTokenError as exc:
        if args.json:
            write(json.dumps({"code": exc.code, "message": str(exc), "node_id": None},
                             sort_keys=True), sys.stdout)
        write(f"license-token: {exc.code}: {escape(exc)}")
        if isinstance(exc, node.ContainerNodeId):
            write("license-token: from the shell: pass --installation-file PATH (a file on "
                  "the container's volume) or --allow-container (this container's machine "
                  "ID is its own)")
        return EXIT_REJECTED
    write(f"node ID from the {source}, salt {args.salt!r}")
    if args.json:
        write(json.dumps({"code": None, "message": f"from the {source}", "node_id": value,
                          "salt": args.salt}, sort_keys=True), sys.stdout)
    else:
        write(value, sys.stdout)
    return EXIT_OK
