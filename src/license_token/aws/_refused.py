"""The seat of a refused checkout answer: named by its token, given back, or kept.

A checkout whose token the app refuses still took a seat. It is the one the token's own
claims name (verified by a pinned key when one signed it), never the answer's unsigned
``LicenseConsumptionToken``, which a proxy may have changed. It is given back with
``give_back()``; only a genuine token refused as ``not_yet_valid`` (this
machine's clock is behind) keeps its seat, for the same ``ClientToken`` to fetch again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from .._clock import parse_time
from .._errors import (
    InvalidLicense,
    LicenseTokenError,
    NotYetValid,
    RequestMismatch,
    SeatNotReturned,
)
from .._keys import TrustStore
from .._log import token_prefix
from ._checkout import check_answers, signed_claims, token_claims
from ._seat import Seat, give_back

__all__ = ["refused_borrow", "refused_provisional"]


def refused_borrow(response: Mapping[str, Any], reason: InvalidLicense, *, client_token: str,
                   request: Mapping[str, Any], keys: TrustStore,
                   check_in: Callable[[str], object]) -> NoReturn:
    """Give the seat of a refused borrow back, then raise why it was refused.

    A genuine token that does not answer the request (another node, another license, less
    than asked) is refused as ``RequestMismatch``, whatever the app's own policy said
    first.

    Args:
        response: the refused answer.
        reason: why it was refused.
        client_token: the checkout's ``ClientToken``.
        request: the request (``license_arn``, ``node_id``, ``entitlements``).
        keys: the pinned keys.
        check_in: ``CheckInLicense`` for one consumption token.

    Raises:
        InvalidLicense: the reason, when no seat is held any more (checked back in, or
            already free).
        SeatNotReturned: the seat may still be held (the check-in failed, the seat is kept,
            or no token names it), chained from the reason.
    """
    signed = signed_claims(response, keys)
    if signed is not None and not isinstance(reason, RequestMismatch):
        try:
            check_answers(signed, **request)
        except RequestMismatch as mismatch:
            reason = mismatch
    claims = signed or token_claims(response)  # no pinned key: the token's own claims
    token = None if claims is None else claims.consumption_token
    seat = None if token is None or claims is None else Seat(
        consumption_token=token, expires_at=claims.expiration, client_token=client_token)
    if seat is not None and signed is not None and isinstance(reason, NotYetValid):
        raise SeatNotReturned(  # this machine's clock is behind, not the token wrong
            f"{reason.code}: {reason}; the seat is kept: the same ClientToken "
            f"{token_prefix(client_token)} fetches it again once this clock has caught up",
            reason=reason, consumption_token=seat.consumption_token, response=response,
            expires_at=seat.expires_at, client_token=client_token) from reason
    _give_back(seat, response, reason, client_token, check_in)


def refused_provisional(response: Mapping[str, Any], reason: LicenseTokenError, *,
                        client_token: str, keys: TrustStore,
                        check_in: Callable[[str], object]) -> NoReturn:
    """Give the ``PROVISIONAL`` consumption of a refused ``CheckoutLicense`` back, then raise.

    The seat is the one the answer's token names; without a token (an online-only result,
    which rests on TLS and SigV4 to AWS) the one the answer names.

    Args:
        response: the refused answer.
        reason: why it was refused.
        client_token: the checkout's ``ClientToken``.
        keys: the pinned keys.
        check_in: ``CheckInLicense`` for one consumption token.

    Raises:
        LicenseTokenError: the reason, when no seat is held any more (or none is named).
        SeatNotReturned: the check-in failed, chained from the reason.
    """
    claims = signed_claims(response, keys) or token_claims(response)
    token = response.get("LicenseConsumptionToken") if claims is None else (
        claims.consumption_token)
    if not isinstance(token, str) or not token:
        raise reason
    try:
        expires = claims.expiration if claims is not None else parse_time(
            response.get("Expiration"), "Expiration")
    except InvalidLicense:
        expires = None
    _give_back(Seat(consumption_token=token, expires_at=expires, client_token=client_token),
               response, reason, client_token, check_in)


def _give_back(seat: Seat | None, response: Mapping[str, Any], reason: LicenseTokenError,
               client_token: str, check_in: Callable[[str], object]) -> NoReturn:
    """Return ``seat`` (a refused answer's) and raise ``reason``, or ``SeatNotReturned``."""
    if seat is None:
        raise SeatNotReturned(
            f"{reason.code}: {reason}; the answer names no consumption, so a seat may be held "
            f"under ClientToken {token_prefix(client_token)} until it expires (the same "
            "ClientToken fetches it again)", reason=reason, consumption_token=None,
            response=response, expires_at=None, client_token=client_token) from reason
    answer = give_back(seat, check_in)
    if answer.error is None:  # returned, or already free
        raise reason
    raise SeatNotReturned(
        f"{reason.code}: {reason}; checking the seat back in failed too "
        f"({answer.error.code}): consumption {token_prefix(seat.consumption_token)} is held "
        "until it expires", reason=reason, consumption_token=seat.consumption_token,
        response=response, expires_at=seat.expires_at, client_token=client_token,
    ) from reason
