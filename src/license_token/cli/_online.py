"""CLI commands that reach AWS or the emulator: ``demo``, ``checkout-borrow``, ``public-key``.

Registered on the parser without importing boto3; each command imports
``license_token.aws`` when it runs, and without the ``[aws]`` extra ends in a usage error
that says what to install.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from .._claims import ENTITLEMENT_UNITS, Entitlement, format_time
from .._clock import utc_now
from .._errors import ConfigurationError, InvalidLicense, LicenseTokenError
from .._files import read_regular, write_atomic
from .._keys import TrustStore
from .._policy import split_entitlement_spec
from .._response import MAX_RESPONSE_LENGTH, wire_form
from .._verify import Verifier
from ._common import (
    EXIT_OK,
    EXIT_REJECTED,
    UsageError,
    add_key_option,
    check_rows,
    escape,
    load_keys,
    non_empty,
    show,
    table,
    write,
)
from ._token import add_token_options, client_options_with_token

DEMO_NODE = "demo-node-7f3a"
DEMO_REQUIRE = ("Users:Count=5", "ProFeature:None")


def register(sub: Any) -> None:
    """Add the online sub-commands to the ``license-token`` parser."""
    demo = sub.add_parser("demo", help="fetch from the built-in emulator, then verify offline")
    demo.add_argument("--dir", type=Path, help="where to save the key and response "
                      "(default: a new temporary directory)")
    demo.add_argument("--force", action="store_true",
                      help="replace the key and response files already in --dir")
    demo.set_defaults(handler=cmd_demo)

    borrow = sub.add_parser("checkout-borrow", help="CheckoutBorrowLicense (online, boto3)")
    borrow.add_argument("--license-arn", required=True, metavar="ARN", type=non_empty)
    borrow.add_argument("--entitlement", action="append", required=True, type=_entitlement,
                        metavar="NAME:UNIT[=VALUE]", help="entitlement to borrow; repeatable")
    add_key_option(borrow)
    borrow.add_argument("--node-id", metavar="ID", type=non_empty)
    borrow.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="where to write the verified response (JSON)")
    borrow.add_argument("--force", action="store_true", help=(
        "replace an existing --out, checking in first the seat a checkout of the same "
        "license in it still holds"))
    _add_aws_options(borrow)
    add_token_options(borrow)
    borrow.set_defaults(handler=cmd_checkout_borrow)

    public = sub.add_parser("public-key", help="KMS GetPublicKey, checked and written as PEM")
    public.add_argument("--kms-key-id", required=True, metavar="ID")
    public.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="where to write the PEM key")
    public.add_argument("--force", action="store_true", help="replace an existing --out")
    _add_aws_options(public)
    public.set_defaults(handler=cmd_public_key)


def _add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS Region (default: from the profile/environment)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", metavar="URL", help="custom endpoint (e.g. emulator)")


def _entitlement(text: str) -> Entitlement:
    try:
        name, unit, value = split_entitlement_spec(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if unit not in ENTITLEMENT_UNITS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME:UNIT[=VALUE] with UNIT an EntitlementUnit "
            "(e.g. Count, None, Seconds, Count/Second)")
    return Entitlement(name=name, unit=unit, value=value or None)


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"region_name": args.region, "profile_name": args.profile,
            "endpoint_url": args.endpoint_url}


def _aws() -> ModuleType:
    """``license_token.aws``, or a usage error naming the extra to install."""
    try:
        from .. import aws
    except ImportError as exc:
        raise UsageError(f"{exc}") from exc
    return aws


def write_private(path: Path, data: bytes) -> None:
    """Create the parent directory, then replace ``path`` atomically (mode 0600).

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _response_bytes(response: Mapping[str, Any]) -> bytes:
    return json.dumps(wire_form(response), indent=2, sort_keys=True).encode() + b"\n"


def _writable_target(out: Path, force: bool, option: str = "--out") -> None:
    """``out`` can be written: its directory exists and is writable, it is no directory
    nor any other non-regular file, and it does not exist yet (unless ``force``). Checked
    before any network call (so before any seat is taken), by every command that writes a
    file; ``option`` names the option that chose the path in the messages."""
    directory = out.parent
    if out.is_dir():
        raise UsageError(f"{option} {out} is a directory, not a file")
    if out.exists() and not out.is_file():  # a device node, a FIFO, a socket: never replaced
        raise UsageError(f"{option} {out} is not a regular file; --force replaces only those")
    if not directory.is_dir():
        raise UsageError(f"cannot write {directory}: no such directory ({option})")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {directory}: permission denied ({option})")
    if out.exists() and not force:
        raise UsageError(f"{option} {out} exists; pass --force to replace it")


def _refuse_configuration(aws: ModuleType, exc: LicenseTokenError) -> None:
    """An ``InvalidRequest`` no service answered (e.g. ``--endpoint-url notaurl``) is a
    usage error; other AWS errors are left to the caller."""
    if isinstance(exc, aws.InvalidRequest) and exc.status is None:
        raise UsageError(f"{exc.code}: {exc}") from exc


def _keep_unreturned(out: Path, response: Mapping[str, Any], token: str) -> int:
    """The seat could not be checked back in: keep the response so nothing is lost."""
    data = _response_bytes(response)
    for target in (out.with_name(out.name + ".unreturned.json"),
                   Path(tempfile.gettempdir()) / f"license-token-unreturned-{token}.json"):
        try:
            write_atomic(target, data)
        except OSError:
            continue
        write(f"license-token: the seat (consumption {escape(token)}) is still held; the "
              f"response is kept in {escape(target)}: check it in later, or it is freed when "
              "it expires")
        return EXIT_REJECTED
    write(f"license-token: the seat (consumption {escape(token)}) is still held and the response "
          "could not be saved anywhere; here it is:")
    write(data.decode())
    return EXIT_REJECTED


def _seat_held_in(out: Path, verifier: Verifier, license_arn: str) -> str | None:
    """The consumption token of the checkout of ``license_arn`` saved in ``out``, if it
    still holds a seat (it verifies now); the file is the only record of it."""
    try:
        saved = verifier.verify(read_regular(out, MAX_RESPONSE_LENGTH))
    except (OSError, LicenseTokenError):  # no file, or one that holds no live seat of ours
        return None
    return saved.consumption_token if saved.license_arn == license_arn else None


def _checked_in(aws: ModuleType, manager: Any, consumption_token: str, out: Path) -> bool:
    """Check in the seat of the checkout ``--force`` is about to replace; ``False`` (and
    why, on stderr) if it is still held, so that the borrow does not take a second one."""
    try:
        manager.check_in(consumption_token)
    except aws.ResourceNotFound:  # already checked in, or expired: no seat is held
        return True
    except aws.AwsError as exc:
        write(f"license-token: {escape(out)} still holds a seat (consumption "
              f"{escape(consumption_token)}) that could not be checked in: {exc.code}: "
              f"{escape(exc)}; nothing was borrowed and the file is kept (it frees itself "
              "when it expires)")
        return False
    return True


def cmd_checkout_borrow(args: argparse.Namespace) -> int:
    """``checkout-borrow``: borrow online, verify the token, save the response.

    Everything local (key file, ``--out``) is checked before the seat is taken; after it,
    any failure checks the seat back in, or keeps the response and prints its token. With
    ``--force``, the seat a replaced checkout still holds is checked in first.
    """
    aws = _aws()
    _writable_target(args.out, args.force)
    verifier = Verifier(load_keys(args.key), node_id=args.node_id)
    held = _seat_held_in(args.out, verifier, args.license_arn) if args.force else None
    try:
        manager = aws.LicenseManager(verifier, **client_options_with_token(
            args, _client_options(args)))
        if held is not None and not _checked_in(aws, manager, held, args.out):
            return EXIT_REJECTED
        checkout = manager.checkout_borrow(args.license_arn, args.entitlement,
                                           node_id=args.node_id)
    except aws.SeatNotReturned as exc:
        write(f"license-token: {exc.reason.code}: {escape(exc.reason)}")
        return _keep_unreturned(args.out, exc.response, exc.consumption_token)
    except aws.AwsError as exc:
        _refuse_configuration(aws, exc)
        retry = " (retrying later may help)" if exc.retryable else ""
        write(f"license-token: {exc.code}: {escape(exc)}{retry}")
        return EXIT_REJECTED
    except InvalidLicense as exc:  # the answer was refused, and no seat of it is held
        write(f"license-token: {exc.code}: {escape(exc)} (no seat is held: it was checked back in)")
        return EXIT_REJECTED
    except LicenseTokenError as exc:
        write(f"license-token: {exc.code}: {escape(exc)}")
        return EXIT_REJECTED
    token = str(checkout.license.consumption_token if checkout.license else "")
    try:
        write_atomic(args.out, _response_bytes(checkout.response))
        lic = verifier.verify(args.out.read_bytes())  # what was saved, as it will be offline
    except (OSError, LicenseTokenError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"{exc.code}: {escape(exc)}"
        write(f"license-token: cannot save {escape(args.out)}: {reason or escape(exc)}")
        try:
            manager.check_in(token)
        except aws.AwsError as check_in_error:
            write(f"license-token: checking the seat back in failed: {check_in_error.code}")
            return _keep_unreturned(args.out, checkout.response, token)
        write("license-token: the seat was checked back in")
        return EXIT_REJECTED
    show(f"verified and saved to {escape(args.out)}; expires {format_time(lic.expires_at)}")
    return EXIT_OK


def cmd_public_key(args: argparse.Namespace) -> int:
    """``public-key``: KMS GetPublicKey, checked for PS384, written as PEM."""
    aws = _aws()
    _writable_target(args.out, args.force)
    try:
        key = aws.fetch_public_key(args.kms_key_id, **_client_options(args))
    except aws.AwsError as exc:
        _refuse_configuration(aws, exc)
        write(f"license-token: {exc.code}: {escape(exc)}")
        return EXIT_REJECTED
    write_private(args.out, key.pem)
    show(f"{key.pinned.key_size}-bit RSA key {escape(key.key_id)} written to {escape(args.out)}; "
         f"sha256 {key.pinned.fingerprint}")
    return EXIT_OK


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


def cmd_demo(args: argparse.Namespace) -> int:
    """``demo``: the emulator, a KMS key, a borrow, then verification offline."""
    aws = _aws()
    from ..testing import LocalLicenseManager
    from ._emulator import add_sample_license

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
        _writable_target(target, args.force, option="--dir")
    show("ONLINE  (the built-in License Manager emulator; no AWS account needed)")
    with LocalLicenseManager() as emulator:
        show(f"  emulator   listening on {emulator.endpoint_url}")
        lic = add_sample_license(emulator)  # the same as `license-token emulator` serves
        key_id = lic.key_id
        public = aws.fetch_public_key(key_id, client=emulator.client("kms"))
        write_private(key_file, public.pem)
        show(f"  kms        GetPublicKey {key_id} -> {key_file}")
        verifier = Verifier(public.trust_store, node_id=DEMO_NODE)
        manager = aws.LicenseManager(verifier, client=emulator.client())
        checkout = manager.checkout_borrow(
            lic.arn, [Entitlement(name="Users", unit="Count", value="5"),
                      Entitlement(name="ProFeature", unit="None", value="Enabled")],
            node_id=DEMO_NODE)
        write_private(saved, _response_bytes(checkout.response))
        show(f"  borrow     CheckoutBorrowLicense {lic.arn} -> {saved}")
    show("  emulator   stopped: from here on there is no network\n")
    show("OFFLINE (only the pinned key file and the saved response)")
    now = utc_now()
    offline = Verifier(TrustStore.from_file(key_file), license_arn=lic.arn, node_id=DEMO_NODE,
                       require=DEMO_REQUIRE)
    try:
        verified = offline.verify(saved.read_bytes(), now=now)
    except LicenseTokenError as exc:
        show(f"  REJECTED ({exc.code}): {escape(exc)}")
        return EXIT_REJECTED
    show(table([("check", "result", "detail"), *check_rows(verified, offline.policy, now)]))
    tampered = json.loads(saved.read_text()) | {"NodeId": "someone-elses-node"}
    try:
        offline.verify(tampered, now=now)
    except LicenseTokenError as exc:
        show(f"\n  and a copy with its unsigned NodeId edited is rejected: {exc.code}")
    show(f"\nVALID: license verified offline; files kept in {work}")
    show("Repeat the offline check with:")
    show(f"  {verify_command(saved, key_file, lic.arn)}")
    return EXIT_OK
