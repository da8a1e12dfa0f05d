"""``license-token store list|show|verify|import|remove``: the offline store from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from pathlib import Path
from typing import Any

from .._clock import format_time
from .._errors import ContainerNodeId, LicenseTokenError, StoreUnavailable
from ..startup import check_license
from ..store import LicenseStore
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    UsageError,
    add_json_option,
    add_policy_options,
    dump_json,
    escape,
    judged_at,
    read_input,
    table,
    verifier_from_args,
    write,
)
from ._node import DEFAULT_SALT, add_node_options, node_origin, this_node
from ._result import emit, failure, license_document, report, result, verification_rows

_IMPORT_NODE_HELP = (
    "the node ID the response must be bound to; without it, import checks this machine's "
    "node ID (as node-id prints it with --salt/--installation-file/--allow-container)")


def _store_dir(text: str) -> Path:
    """``--dir`` of a command that reads the store: it must be an existing directory."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such directory (store import creates one)")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path


def _new_store_dir(text: str) -> Path:
    """``store import --dir``: a directory, created when it does not exist yet."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path


def register(sub: Any) -> None:
    """Add ``store list|show|verify|import|remove`` to the ``license-token`` parser."""
    store = sub.add_parser("store", help="the offline license store")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="COMMAND",
                                   help="what to do with the store")
    for name, help_text, handler in (
            ("list", "every stored checkout, re-verified", cmd_list),
            ("show", "one stored checkout, re-verified", cmd_show),
            ("verify", "the startup check: the best stored license that verifies", cmd_verify)):
        action = actions.add_parser(name, help=help_text, description=help_text)
        if name == "show":
            action.add_argument("arn", metavar="LICENSE_ARN",
                                help="the license whose stored checkout to show")
        action.add_argument("--dir", type=_store_dir, required=True,
                            help="the store directory (it must exist)")
        add_policy_options(action)
        action.set_defaults(handler=handler)
    importing = actions.add_parser(
        "import", help="verify a response borrowed on another machine, then store it")
    importing.add_argument("file", metavar="FILE", help="the saved response; - for stdin")
    importing.add_argument("--dir", type=_new_store_dir, required=True,
                           help="the store directory (created if it does not exist)")
    add_policy_options(importing, what_if=False, node_help=_IMPORT_NODE_HELP)
    add_node_options(importing)  # without --node-id: this machine's
    importing.add_argument("--no-node-check", action="store_true",
                           help="import a token bound to no node: the node is NOT CHECKED")
    importing.set_defaults(handler=cmd_import)
    remove = actions.add_parser("remove", help="delete one stored checkout")
    remove.add_argument("arn", metavar="LICENSE_ARN",
                        help="the license whose stored checkout to delete")
    remove.add_argument("--dir", type=_store_dir, required=True,
                        help="the store directory (it must exist)")
    add_json_option(remove)
    remove.set_defaults(handler=cmd_remove)


def _skipped(store: LicenseStore, exclude: Collection[Path] = ()) -> list[dict[str, str]]:
    """The store's files no load could use (reported, never silently ignored)."""
    return [{"file": str(path), "reason": why} for path, why in store.skipped_files()
            if path not in exclude]


def _skipped_lines(skipped: list[dict[str, str]]) -> list[str]:
    if not skipped:
        return []
    files = "file" if len(skipped) == 1 else "files"
    return [f"{len(skipped)} {files} skipped:"] + [
        f"  skipped  {escape(Path(s['file']).name)}: {escape(s['reason'])}" for s in skipped]


def cmd_list(args: argparse.Namespace) -> int:
    """``store list``: every stored checkout, re-verified; exit 1 if any fails."""
    verifier, store = verifier_from_args(args), LicenseStore(args.dir)
    loaded, failed = store.load_all(verifier, as_of=args.at)
    rows: list[dict[str, Any]] = [
        {"file": str(s.path), "valid": True, "code": None,
         "license_arn": s.license.license_arn, "expires": format_time(s.license.expires_at)}
        for s in loaded
    ] + [{"file": str(f.path), "valid": False, "code": f.error.code, "message": str(f.error),
          "license_arn": f.license_arn} for f in failed]
    skipped = _skipped(store, {f.path for f in failed})  # failed entries are listed already
    head = f"{len(loaded)} valid, {len(failed)} invalid in {escape(args.dir)}"
    if skipped:
        head += f"; {len(skipped)} other {'file' if len(skipped) == 1 else 'files'} skipped"
    lines = [head]
    for row in rows:
        status = "valid" if row["valid"] else f"INVALID ({row['code']})"
        lines.append(f"  {status:<28} {escape(_entry_detail(row))}")
    lines += _skipped_lines(skipped)[1:]
    doc = result(valid=not failed, code=failed[0].error.code if failed else None,
                 message=head, entries=rows, skipped=skipped)
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
    verifier, store, now = verifier_from_args(args), LicenseStore(args.dir), judged_at(args)
    try:
        stored = store.load(args.arn, verifier, now=None if args.at else now, as_of=args.at)
    except LicenseTokenError as exc:
        return report(args, exc, verifier, store.read_unverified(args.arn), now)
    return report(args, stored.license, verifier, stored.response, now)


def cmd_verify(args: argparse.Namespace) -> int:
    """``store verify``: the startup check, offline (no renewal); skipped files are named."""
    verifier, store, now = verifier_from_args(args), LicenseStore(args.dir), judged_at(args)
    skipped = _skipped(store)
    lines = _skipped_lines(skipped)
    if lines:
        write("license-token: " + "\n".join(lines))
    try:
        lic = check_license(store, verifier, license_arn=args.license_arn,
                            now=None if args.at else now, as_of=args.at).license
    except LicenseTokenError as exc:
        arns = [args.license_arn] if args.license_arn else store.license_arns()
        source = store.read_unverified(arns[0]) if len(arns) == 1 else None
        return report(args, exc, verifier, source, now, skipped=skipped)
    return report(args, lic, verifier, store.read_unverified(lic.license_arn), now,
                  skipped=skipped)


def cmd_remove(args: argparse.Namespace) -> int:
    """``store remove``: delete one stored checkout (its seat is not checked in)."""
    try:
        LicenseStore(args.dir).remove(args.arn)
    except LicenseTokenError as exc:
        if args.json:
            dump_json(failure(exc))
        write(f"license-token: {exc.code}: {escape(exc)}")  # a diagnostic: stderr, always
        return EXIT_REJECTED
    emit(result(valid=True, code=None, message=f"removed {args.arn}"),
         args.json, f"removed {escape(args.arn)}")
    return EXIT_OK


def _refused(args: argparse.Namespace, exc: LicenseTokenError, *,
             hint: str = "", **extra: Any) -> int:
    """Exit 1, saying what the refused import left written: nothing, unless a failed write
    could not be put back (``StoreUnavailable.written``)."""
    rows = extra.pop("rows", None)
    message = f"{exc}; {hint}" if hint else str(exc)
    left = exc.written if isinstance(exc, StoreUnavailable) else ()
    doc = failure(exc, **extra) | {"message": message,
                                   "written": [str(path) for path in left]}
    wrote = ("left written: " + ", ".join(escape(path) for path in left) if left
             else "nothing was written")
    human = f"REFUSED ({exc.code}): {escape(message)}; {wrote}"
    emit(doc, args.json, human + (f"\n{table(rows)}" if rows else ""))
    return EXIT_REJECTED


def _import_node(args: argparse.Namespace) -> tuple[str, str] | None:
    """The node ID to check (``--node-id``, else this machine's) and where it came from;
    ``None`` with ``--no-node-check``. Conflicting options are a usage error."""
    sources = [name for name, given in (
        ("--salt", args.salt is not None), ("--installation-file", args.installation_file),
        ("--allow-container", args.allow_container)) if given]
    if args.no_node_check and (args.node_id is not None or sources):
        raise UsageError(f"--no-node-check checks no node: leave out "
                         f"{(['--node-id'] if args.node_id is not None else sources)[0]}")
    if args.node_id is not None and sources:
        raise UsageError(f"give --node-id or {sources[0]}, not both")
    if args.node_id is not None:
        return args.node_id, "--node-id"
    if args.no_node_check:
        return None
    salt = DEFAULT_SALT if args.salt is None else args.salt
    value, source = this_node(salt, installation_file=args.installation_file,
                              allow_container=args.allow_container)
    return value, node_origin(source, args.salt)


def cmd_import(args: argparse.Namespace) -> int:
    """``store import``: verify against this machine's policy and clock, then store.

    The node checked is ``--node-id``, else this machine's (as ``node-id`` prints it with
    the same options), unless ``--no-node-check``. A response that fails any check is
    refused with its code (exit 1): nothing is written.
    """
    try:
        node = _import_node(args)
    except ContainerNodeId as exc:
        write("license-token: this machine's node ID is needed to check the file: give "
              "--node-id ID, or --installation-file PATH or --allow-container as for "
              "node-id (--no-node-check for a token bound to no node)")
        return _refused(args, exc, checks=None, token=None)
    args.node_id = None if node is None else node[0]
    verifier, data = verifier_from_args(args), read_input(args.file)
    now = judged_at(args)
    try:
        stored = LicenseStore(args.dir).import_response(data, verifier, now=now)
    except LicenseTokenError as exc:
        findings = verification_rows(data, verifier, now, exc)
        hint = (f"this machine's node ID {node[0]} is from {node[1]}"
                if exc.code == "node_mismatch" and node is not None else "")
        return _refused(args, exc, hint=hint, checks=findings.checks(), token=findings.token,
                        rows=findings.table_rows())
    lic = stored.license
    findings = verification_rows(stored.response, verifier, now, lic)
    doc = result(valid=True, code=None, message=f"imported into {stored.path}",
                 license=license_document(lic, findings), file=str(stored.path),
                 checks=findings.checks(), token=findings.token,
                 written=[str(path) for path in stored.written])
    human = (f"IMPORTED into {escape(stored.path)} (wrote "
             + ", ".join(escape(path.name) for path in stored.written) + ")\n"
             + table(findings.table_rows())
             + f"\n  borrow again before {format_time(lic.expires_at)}")
    emit(doc, args.json, human)
    return EXIT_OK
