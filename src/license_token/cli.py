"""``license-token``: verify and inspect tokens; fetch them from AWS or the emulator.

Only this module prints or decides exit codes: 0 verified, 1 rejected, 2 usage or key error.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from . import _claims
from ._errors import ConfigurationError, InvalidLicense, LicenseTokenError
from ._jws import loads_strict, parse_compact
from ._keys import TrustStore
from ._policy import Requirement
from ._response import MAX_RESPONSE_LENGTH, read_response
from ._verify import VerifiedLicense, Verifier

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: exit 2."""


def _read_input(path: str) -> bytes:
    limit = MAX_RESPONSE_LENGTH + 1
    if path == "-":
        return sys.stdin.buffer.read(limit)
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _instant(text: str) -> datetime:
    try:
        return _claims.parse_time(text, "--at")
    except InvalidLicense as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _requirement(text: str) -> Requirement:
    try:
        return Requirement.parse(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < 10**9:
        raise argparse.ArgumentTypeError("leeway must be between 0 and 10^9 seconds")
    return value


def _emit(doc: dict[str, Any], as_json: bool, human: str) -> None:
    """The JSON document (if asked) on stdout; the human text always on stderr."""
    if as_json:
        print(json.dumps(doc, sort_keys=True))
    print(human, file=sys.stderr)


def _describe(lic: VerifiedLicense) -> str:
    rows = [
        f"VALID  {lic.license_arn}",
        f"  expires   {_claims.format_time(lic.expires_at)}",
        f"  node      {lic.node_id or '-'}",
        f"  key       sha256:{lic.key.fingerprint[:16]}… ({lic.key.key_size}-bit RSA)",
    ]
    rows += [f"  grants    {e.name} = {e.value} {e.unit}" for e in lic.claims.entitlements]
    return "\n".join(rows)


def verifier_from_args(args: argparse.Namespace) -> Verifier:
    """The ``Verifier`` the policy options ask for; an unusable key file is a usage error."""
    try:
        keys = TrustStore.from_file(*args.key)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc
    at: datetime | None = args.at
    return Verifier(keys, license_arn=args.license_arn, node_id=args.node_id,
                    require=args.require, leeway=args.leeway,
                    clock=(lambda: at) if at is not None else Verifier.DEFAULT_CLOCK)


def report(args: argparse.Namespace, outcome: VerifiedLicense | LicenseTokenError) -> int:
    """Print one result in the fixed ``--json`` shape (and for people, on stderr)."""
    if isinstance(outcome, LicenseTokenError):
        doc = {"valid": False, "code": outcome.code, "message": str(outcome), "license": None}
        _emit(doc, args.json, f"INVALID ({outcome.code}): {outcome}")
        return EXIT_REJECTED
    doc = {"valid": True, "code": None, "message": "verified", "license": outcome.to_json()}
    _emit(doc, args.json, _describe(outcome))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    verifier = verifier_from_args(args)
    data = _read_input(args.file)
    try:
        return report(args, verifier.verify(data))
    except InvalidLicense as exc:
        return report(args, exc)


def cmd_inspect(args: argparse.Namespace) -> int:
    data = _read_input(args.file)
    try:
        jws = parse_compact(read_response(data).token)
        payload: Any = loads_strict(jws.payload, "payload")
    except InvalidLicense as exc:
        print(f"cannot decode: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    doc = {
        "verified": False,
        "warning": "UNVERIFIED: decoded only; the signature and claims were NOT checked",
        "header": dict(jws.header),
        "claims": payload,
        "signature_bytes": len(jws.signature),
        "signature_b64u_prefix": base64.urlsafe_b64encode(jws.signature[:12]).decode(),
    }
    print("*** UNVERIFIED: nothing below has been checked; do not trust it ***", file=sys.stderr)
    print(json.dumps(doc, indent=2, sort_keys=True))
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="license-token",
        description="Verify AWS License Manager checkout tokens offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser("verify", help="verify a saved response or bare token")
    verify.add_argument("file", metavar="FILE", help="response JSON or bare token; - for stdin")
    add_policy_options(verify)
    verify.set_defaults(handler=cmd_verify)

    inspect = sub.add_parser("inspect", help="decode WITHOUT verifying (debugging only)")
    inspect.add_argument("file", metavar="FILE", help="response JSON or bare token; - for stdin")
    inspect.set_defaults(handler=cmd_inspect)

    _add_online_commands(sub)
    return parser


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """``--key`` and the policy options shared by ``verify`` and ``store``."""
    parser.add_argument("--key", action="append", required=True, metavar="PATH",
                        help="pinned public key file (PEM, DER, base64 DER, JWK, JWKS); repeatable")
    parser.add_argument("--license-arn", metavar="ARN", help="the license the token must be for")
    parser.add_argument("--node-id", metavar="ID", help="the node the token must be bound to")
    parser.add_argument("--require", action="append", default=[], type=_requirement,
                        metavar="NAME[:UNIT][=MIN]", help="a required entitlement; repeatable")
    parser.add_argument("--at", type=_instant, metavar="ISO8601",
                        help="verify as of this instant instead of the system clock")
    parser.add_argument("--leeway", type=_seconds, default=60.0, metavar="SECONDS",
                        help="clock skew allowed on issuedAt and expiration (default 60)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON result object on stdout")


def _add_online_commands(sub: Any) -> None:
    """The commands that need boto3 or the emulator, registered without importing them."""
    from . import _online_cli, _store_cli  # small; boto3 only when a command runs

    _store_cli.register(sub)
    _online_cli.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # hostile text must not crash printing
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors by exiting
        return int(exc.code or 0)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"valid": False, "code": "usage", "message": str(exc),
                              "license": None}))
        print(f"license-token: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LicenseTokenError as exc:
        print(f"license-token: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_REJECTED if isinstance(exc, InvalidLicense) else EXIT_USAGE
