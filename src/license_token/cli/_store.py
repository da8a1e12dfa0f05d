"""``license-token store list|show|verify|import|remove``: the offline store from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._claims import format_time
from .._errors import LicenseTokenError, StoreUnavailable
from ..startup import check_license
from ..store import LicenseStore
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    UsageError,
    add_json_option,
    add_policy_options,
    check_rows,
    checks,
    dump_json,
    emit,
    escape,
    read_input,
    report,
    table,
    verifier_from_args,
    write,
)
from ._node import DEFAULT_SALT, add_node_options, this_node


def _store_dir(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path


def register(sub: Any) -> None:
    """Add ``store list|show|verify|import|remove`` to the ``license-token`` parser."""
    store = sub.add_parser("store", help="the offline license store")
    actions = store.add_subparsers(dest="store_command", required=True)
    for name, help_text, handler in (
            ("list", "every stored checkout, re-verified", cmd_list),
            ("show", "one stored checkout, re-verified", cmd_show),
            ("verify", "the startup check: the best stored license that verifies", cmd_verify)):
        action = actions.add_parser(name, help=help_text)
        if name == "show":
            action.add_argument("arn", metavar="LICENSE_ARN")
        action.add_argument("--dir", type=_store_dir, required=True, help="the store directory")
        add_policy_options(action)
        action.set_defaults(handler=handler)
    importing = actions.add_parser(
        "import", help="verify a response borrowed on another machine, then store it")
    importing.add_argument("file", metavar="FILE", help="the saved response; - for stdin")
    importing.add_argument("--dir", type=_store_dir, required=True,
                           help="the store directory")
    add_policy_options(importing, what_if=False)  # the real clock: no --at
    add_node_options(importing, salt_default=None)  # without --node-id: this machine's
    importing.add_argument("--no-node-check", action="store_true",
                           help="import a token bound to no node: the node is NOT CHECKED")
    importing.set_defaults(handler=cmd_import)
    remove = actions.add_parser("remove", help="delete one stored checkout")
    remove.add_argument("arn", metavar="LICENSE_ARN")
    remove.add_argument("--dir", type=_store_dir, required=True, help="the store directory")
    add_json_option(remove)
    remove.set_defaults(handler=cmd_remove)


def cmd_list(args: argparse.Namespace) -> int:
    """``store list``: every stored checkout, re-verified; exit 1 if any fails."""
    verifier = verifier_from_args(args)
    loaded, failed = LicenseStore(args.dir).load_all(verifier, as_of=args.at)
    rows: list[dict[str, Any]] = [
        {"file": str(s.path), "valid": True, "code": None,
         "license_arn": s.license.license_arn, "expires": format_time(s.license.expires_at)}
        for s in loaded
    ] + [{"file": str(f.path), "valid": False, "code": f.error.code, "message": str(f.error),
          "license_arn": f.license_arn} for f in failed]
    lines = [f"{len(loaded)} valid, {len(failed)} invalid in {escape(args.dir)}"]
    for row in rows:
        status = "valid" if row["valid"] else f"INVALID ({row['code']})"
        lines.append(f"  {status:<28} {escape(_entry_detail(row))}")
    doc = {"valid": not failed, "code": failed[0].error.code if failed else None,
           "message": lines[0], "license": None, "entries": rows}
    emit(doc, args.json, "\n".join(lines))
    return EXIT_OK if not failed else EXIT_REJECTED


def _entry_detail(row: dict[str, Any]) -> str:
    """A ``store list`` row's detail: the license (else the file), and why it failed."""
    if row["valid"]:
        return str(row["license_arn"])
    message, named = str(row["message"]), row["license_arn"] or row["file"]
    return message if message.startswith(f"{named}:") else f"{named}: {message}"


def cmd_show(args: argparse.Namespace) -> int:
    """``store show``: the checkout stored for one license, re-verified."""
    verifier = verifier_from_args(args)
    try:
        return report(args, LicenseStore(args.dir).load(args.arn, verifier,
                                                        as_of=args.at).license, verifier)
    except LicenseTokenError as exc:
        return report(args, exc, verifier)


def cmd_verify(args: argparse.Namespace) -> int:
    """``store verify``: the startup check, offline (no renewal)."""
    verifier = verifier_from_args(args)
    try:
        return report(args, check_license(LicenseStore(args.dir), verifier,
                                          license_arn=args.license_arn,
                                          as_of=args.at).license, verifier)
    except LicenseTokenError as exc:
        return report(args, exc, verifier)


def cmd_remove(args: argparse.Namespace) -> int:
    """``store remove``: delete one stored checkout (its seat is not checked in)."""
    try:
        LicenseStore(args.dir).remove(args.arn)
    except LicenseTokenError as exc:
        if args.json:
            dump_json({"valid": False, "code": exc.code, "message": str(exc), "license": None})
        write(f"license-token: {exc.code}: {escape(exc)}")  # a diagnostic: stderr, always
        return EXIT_REJECTED
    emit({"valid": True, "code": None, "message": f"removed {args.arn}", "license": None},
         args.json, f"removed {escape(args.arn)}")
    return EXIT_OK


def _refused(args: argparse.Namespace, exc: LicenseTokenError) -> int:
    """Exit 1, saying what the refused import left written: nothing, unless a failed write
    could not be put back (``StoreUnavailable.written``)."""
    left = exc.written if isinstance(exc, StoreUnavailable) else ()
    doc = {"valid": False, "code": exc.code, "message": str(exc), "license": None,
           "written": [str(path) for path in left]}
    wrote = ("left written: " + ", ".join(escape(path) for path in left) if left
             else "nothing was written")
    emit(doc, args.json, f"REFUSED ({exc.code}): {escape(exc)}; {wrote}")
    return EXIT_REJECTED


def cmd_import(args: argparse.Namespace) -> int:
    """``store import``: verify against this machine's policy and clock, then store.

    The node checked is ``--node-id``, else this machine's (as ``node-id`` prints it with
    the same options), unless ``--no-node-check``. A response that fails any check is
    refused with its code (exit 1): nothing is written.
    """
    sources = [name for name, given in (
        ("--salt", args.salt is not None), ("--installation-file", args.installation_file),
        ("--allow-container", args.allow_container)) if given]
    if args.no_node_check and (args.node_id is not None or sources):
        raise UsageError(f"--no-node-check checks no node: leave out "
                         f"{(['--node-id'] if args.node_id is not None else sources)[0]}")
    if args.node_id is not None and sources:
        raise UsageError(f"give --node-id or {sources[0]}, not both")
    if args.node_id is None and not args.no_node_check:
        try:
            args.node_id = this_node(DEFAULT_SALT if args.salt is None else args.salt,
                                     installation_file=args.installation_file,
                                     allow_container=args.allow_container)[0]
        except LicenseTokenError as exc:
            write("license-token: this machine's node ID is needed to check the file: give "
                  "--node-id ID, or --installation-file PATH or --allow-container as for "
                  "node-id (--no-node-check for a token bound to no node)")
            return _refused(args, exc)
    verifier = verifier_from_args(args)
    data = read_input(args.file)
    try:
        stored = LicenseStore(args.dir).import_response(data, verifier)
    except LicenseTokenError as exc:
        return _refused(args, exc)
    lic, policy = stored.license, verifier.policy
    doc = {"valid": True, "code": None, "message": f"imported into {stored.path}",
           "license": lic.to_json() | {"checks": checks(policy)}, "file": str(stored.path),
           "written": [str(path) for path in stored.written]}
    human = (f"IMPORTED into {escape(stored.path)} (wrote "
             + ", ".join(escape(path.name) for path in stored.written) + ")\n"
             + table(check_rows(lic, policy, lic.verified_at))
             + f"\n  borrow again before {format_time(lic.expires_at)}")
    emit(doc, args.json, human)
    return EXIT_OK
