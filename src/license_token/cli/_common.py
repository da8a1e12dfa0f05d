"""What every command shares: exit codes, reading input, policy options, printing results."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, TextIO

from .. import _claims
from .._errors import ConfigurationError, InvalidLicense, LicenseTokenError
from .._keys import TrustStore
from .._policy import Requirement
from .._response import MAX_RESPONSE_LENGTH
from .._verify import VerifiedLicense, Verifier

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: exit 2."""


def write(text: str, stream: TextIO | None = None) -> None:
    """Print ``text`` on ``stream`` (stderr by default), never failing on its encoding.

    The process's streams are left as they are: text the stream's encoding cannot carry
    is written with backslash escapes instead.
    """
    stream = sys.stderr if stream is None else stream
    encoding = getattr(stream, "encoding", None) or "utf-8"
    line = text.encode(encoding, "backslashreplace").decode(encoding, "replace")
    stream.write(line + "\n")


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-`` for stdin), bounded to the largest response accepted."""
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
    add_json_option(parser)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: one result document on stdout."""
    parser.add_argument("--json", action="store_true",
                        help="print one JSON result object on stdout")


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


def emit(doc: dict[str, Any], as_json: bool, human: str) -> None:
    """The JSON document (if asked) on stdout; the human text always on stderr."""
    if as_json:
        write(json.dumps(doc, sort_keys=True), sys.stdout)
    write(human)


def _describe(lic: VerifiedLicense) -> str:
    rows = [
        f"VALID  {lic.license_arn}",
        f"  expires   {_claims.format_time(lic.expires_at)}",
        f"  node      {lic.node_id or '-'}",
        f"  key       sha256:{lic.key.fingerprint[:16]}… ({lic.key.key_size}-bit RSA)",
    ]
    rows += [f"  grants    {e.name} = {e.value} {e.unit}" for e in lic.claims.entitlements]
    return "\n".join(rows)


def report(args: argparse.Namespace, outcome: VerifiedLicense | LicenseTokenError) -> int:
    """Print one result in the fixed ``--json`` shape (and for people, on stderr)."""
    if isinstance(outcome, LicenseTokenError):
        doc = {"valid": False, "code": outcome.code, "message": str(outcome), "license": None}
        emit(doc, args.json, f"INVALID ({outcome.code}): {outcome}")
        return EXIT_REJECTED
    doc = {"valid": True, "code": None, "message": "verified", "license": outcome.to_json()}
    emit(doc, args.json, _describe(outcome))
    return EXIT_OK
