"""``license-token check-in``: give a borrowed seat back, e.g. for an air-gapped machine.

The admin of an air-gapped site borrowed on the online machine for the offline one; to
return that seat early, they run ``check-in`` on the online machine with the consumption
token, or with the saved response (``--from``). A seat that is already free (checked in
before, or expired) is success: running it twice is safe.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .._errors import AwsError, InvalidLicense, LicenseTokenError
from .._jws import loads_strict, parse_compact
from .._response import read_response
from ._common import EXIT_OK, UsageError, add_json_option, escape, non_empty, read_input
from ._online import add_aws_options, client_options, refuse_configuration, require_aws
from ._result import emit, refused, result
from ._token import add_token_options, client_options_with_token

if TYPE_CHECKING:
    from ..aws import LicenseManager

_NO_VERIFIER: Any = None
"""``LicenseManager.check_in`` verifies no token: the manager's verifier is never used."""


def register(sub: Any) -> None:
    """Add ``check-in`` to the ``license-token`` parser."""
    parser = sub.add_parser("check-in", help="CheckInLicense: give a borrowed seat back "
                                             "(online, boto3); already free is success")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--consumption-token", metavar="T", type=non_empty,
                       help="the checkout's LicenseConsumptionToken")
    which.add_argument("--from", dest="from_file", metavar="FILE",
                       help="a saved response (as checkout-borrow wrote it, or its "
                            ".unreturned.json); - for stdin")
    add_aws_options(parser)
    add_token_options(parser)
    add_json_option(parser)
    parser.set_defaults(handler=cmd_check_in)


def consumption_token_in(data: bytes) -> str:
    """The consumption token a saved response or bare token holds.

    Taken from the token's claims (not verified: returning a seat decides nothing, and
    the service knows whose it is); a response whose unsigned ``LicenseConsumptionToken``
    says otherwise is refused.

    Args:
        data: the file's bytes.

    Returns:
        The consumption token.

    Raises:
        UsageError: the file holds no consumption token, or two different ones.
    """
    try:
        response = read_response(data)
        claims = loads_strict(parse_compact(response.token).payload, "payload")
    except InvalidLicense as exc:
        raise UsageError(f"--from: not a checkout response or token: {exc}") from exc
    signed = claims.get("licenseConsumptionToken") if isinstance(claims, dict) else None
    unsigned = response.unsigned.get("LicenseConsumptionToken")
    if signed is not None and unsigned is not None and signed != unsigned:
        raise UsageError("--from: the response's LicenseConsumptionToken differs from its "
                         "token's: the file was edited")
    token = signed if signed is not None else unsigned
    if not isinstance(token, str) or not token:
        raise UsageError("--from: the response holds no consumption token")
    return token


def give_back(manager: LicenseManager, consumption_token: str) -> bool:
    """Check the seat in: ``True`` if it was returned now, ``False`` if it was already free.

    Args:
        manager: the ``LicenseManager`` to call.
        consumption_token: the checkout's consumption token.

    Returns:
        Whether a seat was returned by this call.

    Raises:
        AwsError: the service refused (``Conflict``: early check-in is not allowed).
    """
    from ..aws._seat import Returned, Seat
    from ..aws._seat import give_back as seat_give_back

    outcome = seat_give_back(Seat(consumption_token=consumption_token), manager.check_in)
    if outcome.error is not None:  # still held
        raise outcome.error
    return outcome.outcome is Returned.RETURNED


def cmd_check_in(args: argparse.Namespace) -> int:
    """``check-in``: return the seat; exit 0 when it is free afterwards (either way)."""
    token = args.consumption_token or consumption_token_in(read_input(args.from_file))
    require_aws()
    from ..aws import LicenseManager

    try:
        manager = LicenseManager(_NO_VERIFIER, **client_options_with_token(
            args, client_options(args)))
        returned = give_back(manager, token)
    except AwsError as exc:
        refuse_configuration(exc)
        retry = " (retrying later may help)" if exc.retryable else ""
        return refused(args, exc.code, f"{exc}{retry}; the seat is still held",
                       consumption_token=token)
    except LicenseTokenError as exc:
        return refused(args, exc.code, str(exc), consumption_token=token)
    message = (f"returned the seat of consumption {token}" if returned else
               f"already free: consumption {token} holds no seat (checked in before, or "
               "expired)")
    emit(result(valid=True, code=None, message=message, consumption_token=token,
                returned=returned), args.json, escape(message))
    return EXIT_OK
