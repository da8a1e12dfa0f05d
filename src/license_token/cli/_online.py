"""CLI commands that reach AWS or the emulator: ``demo``, ``checkout-borrow``, ``public-key``.

Registered on the parser without importing boto3; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._claims import format_time
from .._errors import LicenseTokenError
from .._files import write_atomic
from .._keys import TrustStore
from .._verify import VerifiedLicense, Verifier
from ._common import write

DEMO_NODE = "demo-node-7f3a"
DEMO_REQUIRE = ("Users:Count=5", "ProFeature:None")


def register(sub: Any) -> None:
    """Add the online sub-commands to the ``license-token`` parser."""
    demo = sub.add_parser("demo", help="fetch from the built-in emulator, then verify offline")
    demo.add_argument("--dir", type=Path, help="where to save the key and response "
                      "(default: a new temporary directory)")
    demo.set_defaults(handler=cmd_demo)

    borrow = sub.add_parser("checkout-borrow", help="CheckoutBorrowLicense (online, boto3)")
    borrow.add_argument("--license-arn", required=True, metavar="ARN")
    borrow.add_argument("--entitlement", action="append", required=True, type=_entitlement,
                        metavar="NAME:UNIT[=VALUE]", help="entitlement to borrow; repeatable")
    borrow.add_argument("--key", action="append", required=True, metavar="PATH",
                        help="pinned public key to verify the token with; repeatable")
    borrow.add_argument("--node-id", metavar="ID")
    borrow.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="where to write the verified response (JSON)")
    _add_aws_options(borrow)
    borrow.set_defaults(handler=cmd_checkout_borrow)

    public = sub.add_parser("public-key", help="KMS GetPublicKey, checked and written as PEM")
    public.add_argument("--kms-key-id", required=True, metavar="ID")
    public.add_argument("--out", type=Path, required=True, metavar="FILE")
    _add_aws_options(public)
    public.set_defaults(handler=cmd_public_key)


def _add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS Region (default: from the profile/environment)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", metavar="URL", help="custom endpoint (e.g. emulator)")


def _entitlement(text: str) -> dict[str, str]:
    spec, _, value = text.partition("=")
    name, _, unit = spec.rpartition(":")
    if not name or not unit:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:UNIT[=VALUE]")
    return {"Name": name, "Unit": unit} | ({"Value": value} if value else {})


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"region_name": args.region, "profile_name": args.profile,
            "endpoint_url": args.endpoint_url}


def write_private(path: Path, data: bytes) -> None:
    """Create the parent directory, then replace ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def _response_bytes(response: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(response), indent=2, default=str).encode() + b"\n"


def cmd_checkout_borrow(args: argparse.Namespace) -> int:
    from ..aws import AwsError, LicenseManager

    verifier = Verifier(TrustStore.from_file(*args.key), node_id=args.node_id)
    try:
        manager = LicenseManager(verifier, **_client_options(args))
        checkout = manager.checkout_borrow(args.license_arn, args.entitlement,
                                           node_id=args.node_id)
    except AwsError as exc:
        retry = " (retrying later may help)" if exc.retryable else ""
        write(f"license-token: {exc.code}: {exc}{retry}")
        return 1
    write_private(args.out, _response_bytes(checkout.response))
    if checkout.license is not None:  # always set by checkout_borrow, which verifies
        expires = format_time(checkout.license.expires_at)
        write(f"verified and saved to {args.out}; expires {expires}")
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    from ..aws import AwsError, fetch_public_key

    try:
        key = fetch_public_key(args.kms_key_id, **_client_options(args))
    except AwsError as exc:
        write(f"license-token: {exc.code}: {exc}")
        return 1
    write_private(args.out, key.pem)
    write(f"{key.pinned.key_size}-bit RSA key {key.key_id} written to {args.out}; "
          f"sha256 {key.pinned.fingerprint}")
    return 0


def _table(rows: list[tuple[str, str, str]]) -> str:
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"  {a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows)


def _check_rows(lic: VerifiedLicense, verifier: Verifier, now: datetime) -> list[
        tuple[str, str, str]]:
    left = lic.expires_at - now
    leeway = int(verifier.policy.leeway.total_seconds())
    rows = [
        ("check", "result", "detail"),
        ("signature PS384", "ok", f"{lic.key.key_size}-bit RSA, pinned key sha256:"
                                  f"{lic.key.fingerprint[:16]}"),
        ("unsigned fields", "ok", "match the signed claims"),
        ("issued", "ok", f"{format_time(lic.issued_at)} (leeway {leeway} s)"),
        ("expiry", "ok", f"{format_time(lic.expires_at)} ({int(left.total_seconds()) // 60} "
                         "min left)"),
        ("license", "ok", lic.license_arn),
        ("node", "ok", str(lic.node_id)),
    ]
    for requirement in verifier.policy.requirements:
        granted = lic.entitlements[requirement.name]
        rows.append((f"entitlement {requirement}", "ok",
                     f"granted {granted.value} {granted.unit}"))
    return rows


def cmd_demo(args: argparse.Namespace) -> int:
    from ..aws import LicenseManager, fetch_public_key
    from ..testing import LocalLicenseManager

    work = args.dir or Path(tempfile.mkdtemp(prefix="license-token-demo-"))
    key_file, saved = work / "issuer-public-key.pem", work / "license-response.json"
    print("ONLINE  (the built-in License Manager emulator; no AWS account needed)")
    with LocalLicenseManager() as emulator:
        print(f"  emulator   listening on {emulator.endpoint_url}")
        key_id = emulator.create_key()
        lic = emulator.add_license(key_id=key_id, borrow_ttl_minutes=24 * 60,
                                   entitlements={"Users": ("Count", 10),
                                                 "ProFeature": ("None", None)})
        public = fetch_public_key(key_id, client=emulator.client("kms"))
        write_private(key_file, public.pem)
        print(f"  kms        GetPublicKey {key_id} -> {key_file}")
        verifier = Verifier(public.trust_store, node_id=DEMO_NODE)
        manager = LicenseManager(verifier, client=emulator.client())
        checkout = manager.checkout_borrow(
            lic.arn, [{"Name": "Users", "Unit": "Count", "Value": "5"},
                      {"Name": "ProFeature", "Unit": "None", "Value": "Enabled"}],
            node_id=DEMO_NODE)
        write_private(saved, _response_bytes(checkout.response))
        print(f"  borrow     CheckoutBorrowLicense {lic.arn} -> {saved}")
    print("  emulator   stopped: from here on there is no network")
    print()
    print("OFFLINE (only the pinned key file and the saved response)")
    now = datetime.now(timezone.utc)
    offline = Verifier(TrustStore.from_file(key_file), license_arn=lic.arn, node_id=DEMO_NODE,
                       require=DEMO_REQUIRE)
    try:
        verified = offline.verify(saved.read_bytes(), now=now)
    except LicenseTokenError as exc:
        print(f"  REJECTED ({exc.code}): {exc}")
        return 1
    print(_table(_check_rows(verified, offline, now)))
    tampered = json.loads(saved.read_text()) | {"NodeId": "someone-elses-node"}
    try:
        offline.verify(tampered, now=now)
    except LicenseTokenError as exc:
        print(f"\n  and a copy with its unsigned NodeId edited is rejected: {exc.code}")
    print(f"\nVALID: license verified offline; files kept in {work}")
    return 0
