"""``license-token demo``: the built-in emulator, a borrow, then verification offline."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._claims import Entitlement
from .._clock import utc_now
from .._errors import LicenseTokenError
from .._keys import TrustStore
from .._verify import Verifier
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    UsageError,
    add_json_option,
    dump_json,
    escape,
    show,
    table,
    write,
)
from ._online import require_aws, response_bytes, writable_target, write_private
from ._result import failure, license_document, result, verification_rows

DEMO_NODE = "demo-node-7f3a"
DEMO_REQUIRE = ("Users:Count=5", "ProFeature:None")


def register(sub: Any) -> None:
    """Add ``demo`` to the ``license-token`` parser."""
    demo = sub.add_parser("demo", help="fetch from the built-in emulator, then verify offline")
    demo.add_argument("--dir", type=Path, help="where to save the key and response "
                      "(default: a new temporary directory)")
    demo.add_argument("--force", action="store_true",
                      help="replace the key and response files already in --dir (needs --dir)")
    add_json_option(demo)
    demo.set_defaults(handler=cmd_demo)


def _program() -> list[str]:
    """How to start this very CLI again from a shell: its name when ``PATH`` finds it,
    else its script's full path (a venv that is not activated), else ``python -m``."""
    script = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    on_path = shutil.which("license-token")
    if on_path is not None and os.path.realpath(on_path) == script:
        return ["license-token"]
    if os.path.basename(script).startswith("license-token"):
        return [script]
    return [sys.executable, "-m", "license_token"]


def verify_command(response: Path, key: Path, license_arn: str) -> str:
    """The ``license-token verify`` command line that repeats the demo's offline check.

    Args:
        response: the saved response.
        key: the pinned public key file.
        license_arn: the license the demo borrowed.

    Returns:
        A shell command line that runs as printed, also from a venv that is not activated.
    """
    words = [*_program(), "verify", str(response), "--key", str(key),
             "--license-arn", license_arn, "--node-id", DEMO_NODE]
    for requirement in DEMO_REQUIRE:
        words += ["--require", requirement]
    return shlex.join(words)


def _demo_dir(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The demo's directory, key file and response file, checked before anything starts."""
    if args.force and args.dir is None:
        raise UsageError("--force replaces the files in --dir: give --dir DIR too")
    work = args.dir or Path(tempfile.mkdtemp(prefix="license-token-demo-"))
    if work.exists() and not work.is_dir():
        raise UsageError(f"--dir {work} is not a directory")
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--dir {work}: cannot create the directory: "
                         f"{exc.strerror or exc}") from exc
    key_file, saved = work / "issuer-public-key.pem", work / "license-response.json"
    for target in (key_file, saved):  # --dir may be an app's own directory: keep its files
        writable_target(target, args.force, option="--dir")
    return work, key_file, saved


def _demo_fetch(say: Callable[[str], None], key_file: Path, saved: Path) -> str:
    """The online half: emulator, KMS key, borrow; the key and response saved. Returns the
    license's ARN."""
    require_aws()
    from ..aws import LicenseManager, fetch_public_key
    from ..testing import LocalLicenseManager
    from ._emulator import add_sample_license

    say("ONLINE  (the built-in License Manager emulator; no AWS account needed)")
    with LocalLicenseManager() as emulator:
        say(f"  emulator   listening on {emulator.endpoint_url}")
        lic = add_sample_license(emulator)  # the same as `license-token emulator` serves
        key_id = lic.key_id
        public = fetch_public_key(key_id, client=emulator.client("kms"))
        write_private(key_file, public.pem)
        say(f"  kms        GetPublicKey {key_id} -> {escape(key_file)}")
        verifier = Verifier(public.trust_store, node_id=DEMO_NODE)
        manager = LicenseManager(verifier, client=emulator.client())
        checkout = manager.checkout_borrow(
            lic.arn, [Entitlement(name="Users", unit="Count", value="5"),
                      Entitlement(name="ProFeature", unit="None", value="Enabled")],
            node_id=DEMO_NODE)
        write_private(saved, response_bytes(checkout.response))
        say(f"  borrow     CheckoutBorrowLicense {lic.arn} -> {escape(saved)}")
    say("  emulator   stopped: from here on there is no network\n")
    return str(lic.arn)


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: the emulator, a KMS key, a borrow, then verification offline."""
    work, key_file, saved = _demo_dir(args)
    say = write if args.json else show
    arn = _demo_fetch(say, key_file, saved)
    say("OFFLINE (only the pinned key file and the saved response)")
    now, data = utc_now(), saved.read_bytes()
    offline = Verifier(TrustStore.from_file(key_file), license_arn=arn, node_id=DEMO_NODE,
                       require=DEMO_REQUIRE)
    files = {"dir": str(work), "key_file": str(key_file), "response_file": str(saved)}
    try:
        verified = offline.verify(data, now=now)
    except LicenseTokenError as exc:
        findings = verification_rows(data, offline, now, exc)
        say(f"  REJECTED ({exc.code}): {escape(exc)}\n{table(findings.table_rows())}")
        if args.json:
            dump_json(failure(exc, checks=findings.checks(), token=findings.token, **files))
        return EXIT_REJECTED
    findings = verification_rows(data, offline, now, verified)
    say(table([("check", "result", "detail"), *findings.table_rows()]))
    tampered = json.loads(data) | {"NodeId": "someone-elses-node"}
    try:
        offline.verify(tampered, now=now)
    except LicenseTokenError as exc:
        say(f"\n  and a copy with its unsigned NodeId edited is rejected: {exc.code}")
    command = verify_command(saved, key_file, arn)
    say(f"\nVALID: license verified offline; files kept in {escape(work)}")
    say("Repeat the offline check with:")
    say(f"  {command}")
    if args.json:
        dump_json(result(valid=True, code=None, message="verified offline",
                         license=license_document(verified, findings), checks=findings.checks(),
                         token=findings.token, license_arn=arn, verify_command=command, **files))
    return EXIT_OK
