"""``license-token verify`` and ``inspect``: a saved response or bare token, offline."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any

from .._errors import InvalidLicense
from .._jws import decode_unverified, loads_strict
from .._response import read_response
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    add_json_option,
    add_policy_options,
    dump_json,
    escape,
    judged_at,
    read_input,
    verifier_from_args,
    write,
)
from ._result import failure, report, result


def register(sub: Any) -> None:
    """Add ``verify`` and ``inspect`` to the ``license-token`` parser."""
    verify = sub.add_parser("verify", help="verify a saved response or bare token")
    verify.add_argument("file", metavar="FILE", help="response JSON or bare token; - for stdin")
    add_policy_options(verify)
    verify.set_defaults(handler=cmd_verify)

    inspect = sub.add_parser("inspect", help="decode WITHOUT verifying (debugging only)")
    inspect.add_argument("file", metavar="FILE", help="response JSON or bare token; - for stdin")
    add_json_option(inspect)
    inspect.set_defaults(handler=cmd_inspect)


def cmd_verify(args: argparse.Namespace) -> int:
    """``verify``: one response or token against the pinned keys and the policy options."""
    verifier, now = verifier_from_args(args), judged_at(args)
    data = read_input(args.file)
    try:
        return report(args, verifier.verify(data, now=now), verifier, data, now)
    except InvalidLicense as exc:
        return report(args, exc, verifier, data, now)


def cmd_inspect(args: argparse.Namespace) -> int:
    """``inspect``: decode any compact JWS without verifying, marked UNVERIFIED on both
    streams, naming why ``verify`` would refuse it (another algorithm, say)."""
    try:
        jws, refusal = decode_unverified(read_response(read_input(args.file)).token)
    except InvalidLicense as exc:
        if args.json:
            dump_json(failure(exc, verified=False))
        write(f"license-token: cannot decode: {escape(exc)}")
        return EXIT_REJECTED
    warning = "UNVERIFIED: decoded only; the signature and claims were NOT checked"
    doc = result(
        valid=False, code=None, message=warning, verified=False, warning=warning,
        header=dict(jws.header), **_payload(jws.payload), signature_bytes=len(jws.signature),
        signature_b64u_prefix=base64.urlsafe_b64encode(jws.signature[:12]).decode(),
        refused=None if refusal is None else {"code": refusal.code, "message": str(refusal)})
    write("*** UNVERIFIED: nothing on stdout has been checked; do not trust it ***")
    if refusal is not None:
        write(f"*** verify would refuse this token ({refusal.code}): {escape(refusal)} ***")
    if args.json:
        dump_json(doc)
    else:
        write(json.dumps(doc, indent=2, sort_keys=True), sys.stdout)
    return EXIT_OK


def _payload(payload: bytes) -> dict[str, Any]:
    """The payload as ``claims`` (a JSON object), else as text: a JWS may carry anything."""
    try:
        return {"claims": loads_strict(payload, "payload")}
    except InvalidLicense:
        return {"claims": None, "payload_text": payload.decode("utf-8", "backslashreplace")}
