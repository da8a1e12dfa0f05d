"""What a checkout answer must be: the request answered, and a refused seat accounted for
by its token's claims."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .._claims import LicenseClaims
from .._errors import LicenseTokenError, RequestMismatch
from .._jws import loads_strict, parse_compact
from .._keys import TrustStore
from .._verify import Verifier

__all__ = ["check_answers", "signed_claims", "token_claims"]


def _at_least(granted: str | None, asked: str | None) -> bool:
    if asked is None:
        return True
    try:
        return Decimal(granted or "") >= Decimal(asked)
    except InvalidOperation:
        return granted == asked


def check_answers(claims: LicenseClaims, *, license_arn: str, node_id: str | None,
                  entitlements: Sequence[Mapping[str, Any]]) -> None:
    """The signed claims answer the request: its license, its node (when one was given),
    and every entitlement asked, with the same unit and at least the value asked.

    Raises:
        RequestMismatch: they do not.
    """
    wrong = []
    if claims.license_arn != license_arn:
        wrong.append(f"license {claims.license_arn} instead of {license_arn}")
    if node_id is not None and claims.node_id != node_id:
        wrong.append(f"node {claims.node_id!r} instead of {node_id!r}")
    for asked in entitlements:
        name, unit, value = asked.get("Name"), asked.get("Unit"), asked.get("Value")
        if not any(e.name == name and e.unit == unit and _at_least(e.value, value)
                   for e in claims.entitlements_allowed):
            at_least = f" of at least {value}" if value is not None else ""
            wrong.append(f"entitlement {name} ({unit}){at_least} not granted")
    if wrong:
        raise RequestMismatch("the token does not answer the request: " + "; ".join(wrong))


def signed_claims(response: Mapping[str, Any], keys: TrustStore) -> LicenseClaims | None:
    """The claims of a refused answer's token, if a pinned key signed them.

    They name the seat the answer took (its consumption and expiry), whatever made the app
    refuse it (its node, the clock, an entitlement): judged at the token's own
    ``issuedAt``, with no policy. Only the token's own claims are read, never the answer's
    unsigned members: a proxy may have changed those.

    Args:
        response: the checkout answer.
        keys: the pinned keys.

    Returns:
        The claims, if a pinned key verifies the token; else ``None``.
    """
    claims = token_claims(response)
    if claims is None:
        return None
    try:
        return Verifier(keys).verify(response["SignedToken"], now=claims.issued_at).claims
    except LicenseTokenError:
        return None


def token_claims(response: Mapping[str, Any]) -> LicenseClaims | None:
    """The claims of the answer's ``SignedToken`` (not verified), or ``None`` when it has
    no readable token.

    For the seat of an answer no pinned key verifies (the app pins another key): its check-in
    goes to the service that signed it, which is the one that took the seat.

    Args:
        response: the checkout answer.

    Returns:
        The claims, unverified.
    """
    token = response.get("SignedToken")
    if not isinstance(token, str):
        return None
    try:
        return LicenseClaims._from_payload(loads_strict(parse_compact(token).payload,
                                                       "payload"))
    except LicenseTokenError:
        return None
