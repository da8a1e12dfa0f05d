"""``license-token verify`` and ``inspect``: a saved response or bare token, offline."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any

from .._errors import InvalidLicense
from .._jws import loads_strict, parse_compact
from .._response import read_response
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    add_policy_options,
    escape,
    read_input,
    report,
    verifier_from_args,
    write,
)


def register(sub: Any) -> None:
    """Add ``verify`` and ``inspect`` to the ``license-token`` parser."""
    verify = sub.add_parser("verify", help="verify a saved response or bare token")
    verify.add_argument("file", metavar="FILE", help="response JSON or bare token; - for stdin")
    add_policy_options(verify)
    verify.set_defaults(handler=cmd_verify)

    inspect = sub.add_parser("inspect", help="decode WITHOUT verifying (debugging only)")
    inspect.add_argument("file", metavar="FILE", help="response JSON or bare token; - for stdin")
    inspect.set_defaults(handler=cmd_inspect)


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify``: one response or token against the pinned keys and the policy options."""
    verifier = verifier_from_args(args)
    try:
        return report(args, verifier.verify(read_input(args.file)), verifier)
    except InvalidLicense as exc:
        return report(args, exc, verifier)


def cmd_inspect(args: argparse.Namespace) -> int:
    """``inspect``: decode without verifying, marked UNVERIFIED on both streams."""
    try:
        jws = parse_compact(read_response(read_input(args.file)).token)
        payload: Any = loads_strict(jws.payload, "payload")
    except InvalidLicense as exc:
        write(f"license-token: cannot decode: {escape(exc)}")
        return EXIT_REJECTED
    doc = {
        "verified": False,
        "warning": "UNVERIFIED: decoded only; the signature and claims were NOT checked",
        "header": dict(jws.header),
        "claims": payload,
        "signature_bytes": len(jws.signature),
        "signature_b64u_prefix": base64.urlsafe_b64encode(jws.signature[:12]).decode(),
    }
    write("*** UNVERIFIED: nothing on stdout has been checked; do not trust it ***")
    write(json.dumps(doc, indent=2, sort_keys=True), sys.stdout)
    return EXIT_OK
