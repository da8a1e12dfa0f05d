"""CLI commands that reach AWS or the emulator: ``checkout-borrow``, ``public-key``.

Registered on the parser without importing boto3; each command imports
``license_token.aws`` when it runs, and without the ``[aws]`` extra ends in a usage error
that says what to install.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._claims import ENTITLEMENT_UNITS, Entitlement
from .._clock import format_time
from .._errors import (
    AwsError,
    ConfigurationError,
    InvalidLicense,
    InvalidRequest,
    LicenseTokenError,
    NoCredentials,
    SeatNotReturned,
)
from .._files import read_regular, write_atomic
from .._policy import split_entitlement_spec
from .._response import MAX_RESPONSE_LENGTH, wire_form
from .._verify import VerifiedLicense, Verifier

if TYPE_CHECKING:
    from ..aws import Checkout, LicenseManager

from ._common import (
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_json_option,
    add_key_option,
    escape,
    load_keys,
    non_empty,
    write,
)
from ._result import emit, license_document, refused, result, verification_rows
from ._token import add_token_options, client_options_with_token


def register(sub: Any) -> None:
    """Add the online sub-commands to the ``license-token`` parser."""
    borrow = sub.add_parser("checkout-borrow", help="CheckoutBorrowLicense (online, boto3)")
    borrow.add_argument("--license-arn", required=True, metavar="ARN", type=non_empty,
                        help="the license to borrow from")
    borrow.add_argument("--entitlement", action="append", required=True, type=_entitlement,
                        metavar="NAME:UNIT[=VALUE]", help="entitlement to borrow; repeatable")
    add_key_option(borrow)
    borrow.add_argument("--node-id", metavar="ID", type=non_empty,
                        help="the node ID to bind the token to: the machine that will use it "
                             "(as node-id prints it there); without it the token is bound to "
                             "no node")
    borrow.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="where to write the verified response (JSON)")
    borrow.add_argument("--force", action="store_true", help=(
        "replace an existing --out, checking in first the seat a checkout of the same "
        "license in it still holds"))
    add_aws_options(borrow)
    add_token_options(borrow)
    add_json_option(borrow)
    borrow.set_defaults(handler=cmd_checkout_borrow)

    public = sub.add_parser("public-key", help="KMS GetPublicKey, checked and written as PEM")
    public.add_argument("--kms-key-id", required=True, metavar="ID",
                        help="the KMS key (ID, ARN or alias) that signs the license's tokens")
    public.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="where to write the PEM key")
    public.add_argument("--force", action="store_true", help="replace an existing --out")
    add_aws_options(public)
    add_json_option(public)
    public.set_defaults(handler=cmd_public_key)


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """``--region``, ``--profile`` and ``--endpoint-url`` of an online command."""
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


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``make_client`` options of ``--region``, ``--profile`` and ``--endpoint-url``."""
    return {"region_name": args.region, "profile_name": args.profile,
            "endpoint_url": args.endpoint_url}


def require_aws() -> None:
    """Import ``license_token.aws`` (commands then import from it by name), or raise a usage
    error naming the extra to install.

    Raises:
        UsageError: boto3 is not installed.
    """
    try:
        from .. import aws  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"{exc}") from exc


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


def response_bytes(response: Mapping[str, Any]) -> bytes:
    return json.dumps(wire_form(response), indent=2, sort_keys=True).encode() + b"\n"


def writable_target(out: Path, force: bool, option: str = "--out") -> None:
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


def refuse_configuration(exc: LicenseTokenError) -> None:
    """What no service answered is a usage error: an ``InvalidRequest`` sent nowhere
    (no Region, ``--endpoint-url notaurl``) or no credentials (none found, no such
    profile); other AWS errors (AWS refused) are left to the caller."""
    if isinstance(exc, NoCredentials) or (isinstance(exc, InvalidRequest) and exc.status is None):
        raise UsageError(f"{exc.code}: {exc}") from exc


def _maybe_held(args: argparse.Namespace, client_token: str | None, reason: str) -> int:
    """The answer was lost, or names no consumption: a seat may be held all the same."""
    return refused(args, "aws_seat_not_returned",
                   f"{reason}; a seat may still be held under ClientToken {client_token} (the "
                   "answer was lost, or names no consumption): it frees itself when it "
                   "expires", consumption_token=None, client_token=client_token, kept=None)


def _keep_unreturned(args: argparse.Namespace, response: Mapping[str, Any], token: str,
                     reason: str) -> int:
    """The seat could not be checked back in: keep the response so nothing is lost."""
    data, out = response_bytes(response), args.out
    for target in (out.with_name(out.name + ".unreturned.json"),
                   Path(tempfile.gettempdir()) / f"license-token-unreturned-{token}.json"):
        try:
            write_atomic(target, data)
        except OSError:
            continue
        return refused(args, "aws_seat_not_returned",
                       f"{reason}; the seat (consumption {token}) is still held; the response "
                       f"is kept in {target}: check it in later (license-token check-in --from "
                       f"{target}), or it is freed when it expires",
                       consumption_token=token, kept=str(target))
    write(f"license-token: the seat (consumption {escape(token)}) is still held and the response "
          "could not be saved anywhere; here it is:")
    write(data.decode())
    return refused(args, "aws_seat_not_returned", f"{reason}; the seat (consumption {token}) "
                   "is still held and the response is printed on stderr",
                   consumption_token=token, kept=None)


def _seat_held_in(out: Path, verifier: Verifier, license_arn: str) -> str | None:
    """The consumption token of the checkout of ``license_arn`` saved in ``out``, if it
    still holds a seat (it verifies now); the file is the only record of it."""
    try:
        saved = verifier.verify(read_regular(out, MAX_RESPONSE_LENGTH))
    except (OSError, LicenseTokenError):  # no file, or one that holds no live seat of ours
        return None
    return saved.consumption_token if saved.license_arn == license_arn else None


def _checked_in(manager: LicenseManager, consumption_token: str,
                args: argparse.Namespace) -> int | None:
    """Check in the seat of the checkout ``--force`` is about to replace; an exit code (and
    why) if it is still held, so that the borrow does not take a second one."""
    from ..aws import Seat, give_back

    answer = give_back(Seat(consumption_token=consumption_token), manager.check_in)
    if answer.error is not None:  # still held
        return refused(args, answer.error.code, f"{args.out} still holds a seat (consumption "
                       f"{consumption_token}) that could not be checked in: {answer.error}; "
                       "nothing was borrowed and the file is kept (it frees itself when it "
                       "expires)")
    return None


def _borrow(args: argparse.Namespace, verifier: Verifier
            ) -> tuple[LicenseManager, Checkout[VerifiedLicense]] | int:
    """Check in what ``--force`` replaces, then borrow: ``(manager, checkout)``, or the exit
    code of a refusal."""
    held = _seat_held_in(args.out, verifier, args.license_arn) if args.force else None
    from ..aws import LicenseManager, answer_lost

    client_token = uuid.uuid4().hex  # said if the answer is lost: it names the seat
    try:
        manager = LicenseManager(verifier, **client_options_with_token(
            args, client_options(args)))
        if held is not None and (refusal := _checked_in(manager, held, args)) is not None:
            return refusal
        return manager, manager.checkout_borrow(args.license_arn, args.entitlement,
                                                node_id=args.node_id, client_token=client_token)
    except SeatNotReturned as exc:
        if exc.consumption_token is None:
            return _maybe_held(args, exc.client_token, f"{exc.reason.code}: {exc.reason}")
        return _keep_unreturned(args, exc.response, exc.consumption_token,
                                f"{exc.reason.code}: {exc.reason}")
    except AwsError as exc:
        refuse_configuration(exc)
        retry = " (retrying later may help)" if exc.retryable else ""
        if answer_lost(exc):
            return _maybe_held(args, client_token, f"{exc.code}: {exc}{retry}")
        return refused(args, exc.code, f"{exc}{retry}")
    except InvalidLicense as exc:  # the answer was refused, and no seat of it is held
        return refused(args, exc.code, f"{exc} (no seat is held: it was checked back in)")
    except LicenseTokenError as exc:
        return refused(args, exc.code, str(exc))


def cmd_checkout_borrow(args: argparse.Namespace) -> int:
    """``checkout-borrow``: borrow online, verify the token, save the response.

    Everything local (key file, ``--out``) is checked before the seat is taken; after it,
    any failure checks the seat back in, or keeps the response and prints its token. With
    ``--force``, the seat a replaced checkout still holds is checked in first.
    """
    require_aws()
    from ..aws import Seat, give_back

    writable_target(args.out, args.force)
    verifier = Verifier(load_keys(args.key), node_id=args.node_id)
    borrowed = _borrow(args, verifier)
    if isinstance(borrowed, int):
        return borrowed
    manager, checkout = borrowed
    token = checkout.license.consumption_token or ""
    try:
        write_atomic(args.out, response_bytes(checkout.response))
        saved = args.out.read_bytes()
        lic = verifier.verify(saved)  # what was saved, as it will be offline
    except (OSError, LicenseTokenError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"{exc.code}: {exc}"
        reason = f"cannot save {args.out}: {reason or exc}"
        answer = give_back(Seat(consumption_token=token), manager.check_in)
        if answer.error is not None:  # still held
            return _keep_unreturned(args, checkout.response, token, f"{reason}; checking "
                                    f"the seat back in failed: {answer.error.code}")
        return refused(args, "usage", f"{reason}; the seat was checked back in",
                       exit_code=EXIT_USAGE)
    findings = verification_rows(saved, verifier, lic.verified_at, lic)
    message = f"verified and saved to {args.out}; expires {format_time(lic.expires_at)}"
    emit(result(valid=True, code=None, message=message, out=str(args.out),
                license=license_document(lic, findings), checks=findings.checks(),
                token=findings.token), args.json, escape(message))
    return EXIT_OK


def cmd_public_key(args: argparse.Namespace) -> int:
    """``public-key``: KMS GetPublicKey, checked for PS384, written as PEM."""
    require_aws()
    from ..aws import fetch_public_key

    writable_target(args.out, args.force)
    try:
        key = fetch_public_key(args.kms_key_id, **client_options(args))
    except AwsError as exc:
        refuse_configuration(exc)
        return refused(args, exc.code, str(exc))
    write_private(args.out, key.pem)
    message = (f"{key.pinned.key_size}-bit RSA key {key.key_id} written to {args.out}; "
               f"sha256 {key.pinned.fingerprint}")
    emit(result(valid=True, code=None, message=message, out=str(args.out), key_id=key.key_id,
                key_size=key.pinned.key_size, key_fingerprint_sha256=key.pinned.fingerprint),
         args.json, escape(message))
    return EXIT_OK
