"""What renews, and when: the renewal's terms, imported by a start that has a renewer only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from .._claims import Entitlement, LicenseClaims
from .._errors import (
    ConfigurationError,
    EntitlementNotAllowed,
    InvalidRequest,
    LicenseTokenError,
    NoEntitlementsAllowed,
    ResourceNotFound,
    UnsupportedSignatureMethod,
)
from .._jws import loads_strict, parse_compact
from .._key_forms import sha256
from .._response import Source, read_response
from .._verify import VerifiedLicense
from ..store import MAX_ROLLBACK_TOLERANCE

if TYPE_CHECKING:
    import random

    from ..aws import LicenseManager

__all__ = ["DEFAULT_POLICY", "REFUSED_FOR_GOOD", "BorrowRenewer", "RenewalPolicy", "Renewer",
           "named_seat"]


@runtime_checkable
class Renewer(Protocol):
    """What ``check_license()`` needs to renew one license online.

    A class that names ``Renewer`` as its base inherits ``early_check_in_allowed()``
    (the license does not say); any other class provides all four members.
    """

    @property
    def license_arn(self) -> str:
        """The license this renewer checks out."""

    def checkout(self, client_token: str) -> Source:
        """Check out online.

        Args:
            client_token: the idempotency token to send (``ClientToken``): the same one
                again after an attempt whose answer was lost gets the same seat.

        Returns:
            A fresh checkout response that answers the request.

        Raises:
            SeatNotReturned: the answer was refused and its seat may still be held.
            InvalidLicense: the answer was refused and no seat of it is held.
            LicenseTokenError: the checkout failed (an AWS error).
        """

    def check_in(self, consumption_token: str) -> None:
        """Return a consumption's seats.

        Args:
            consumption_token: the consumption's ``licenseConsumptionToken``.

        Raises:
            LicenseTokenError: the check-in failed (an AWS error).
        """

    def early_check_in_allowed(self) -> bool | None:
        """The license's own ``AllowEarlyCheckIn`` setting.

        Asked once a check-in is refused with ``ConflictException``: ``False`` makes the
        renewal wait for the stored borrow to expire; ``None`` (the license does not say)
        retries the conflict with back-off. No second seat is taken either way.

        Returns:
            The setting, or ``None`` when the renewer cannot tell.

        Raises:
            LicenseTokenError: asking failed (an AWS error): treated as ``None``.
        """
        return None


def _fraction(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{attribute.name} must be between 0 and 1")


def _positive(_: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(f"{attribute.name} must be a positive timedelta")


@attrs.frozen(kw_only=True)
class RenewalPolicy:
    """When to renew, and how to back off.

    A stored license is renewed once less than ``renew_below`` of its own lifetime
    (``expiration - issuedAt``) is left, less a per-checkout jitter of up to ``jitter`` of
    that threshold (stable across starts, so a fleet spreads out). After a failed attempt,
    while the stored license is still valid, the next attempt waits ``first_backoff``,
    doubling per failure up to ``max_backoff``, each wait randomised to 50–100 %.

    Attributes:
        renew_below: the fraction of the token's lifetime left that triggers renewal.
        jitter: the largest fraction of that threshold taken off per checkout.
        first_backoff: the wait after the first failure.
        max_backoff: the longest wait.

    Raises:
        ConfigurationError: a fraction outside 0–1, or a wait that is not positive.
    """

    renew_below: float = attrs.field(default=1 / 3, validator=_fraction)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    first_backoff: timedelta = attrs.field(default=timedelta(minutes=15), validator=_positive)
    max_backoff: timedelta = attrs.field(default=timedelta(hours=6), validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.first_backoff > self.max_backoff:
            raise ConfigurationError("first_backoff must not exceed max_backoff")

    def due(self, lic: VerifiedLicense, now: datetime) -> bool:
        """Whether ``lic`` should be renewed at ``now``.

        Args:
            lic: the stored license.
            now: the current time (aware).

        Returns:
            ``True`` once less than the (jittered) threshold of its lifetime is left.
        """
        spread = int.from_bytes(sha256(lic.token.encode())[:8], "big") / 2**64
        lifetime = lic.expires_at - lic.issued_at
        threshold = lifetime * self.renew_below * (1 - self.jitter * spread)
        return lic.expires_at - now < threshold

    def backoff(self, failures: int, rng: random.Random) -> timedelta:
        """The wait after ``failures`` failed attempts in a row.

        Args:
            failures: the count of failures, at least 1.
            rng: the source of the randomisation.

        Returns:
            The wait before the next attempt.

        Raises:
            ConfigurationError: ``failures`` is less than 1.
        """
        if type(failures) is not int or failures < 1:
            raise ConfigurationError(f"failures must be a count of at least 1, not {failures!r}")
        wait = min(self.first_backoff * (1 << min(failures - 1, 32)), self.max_backoff)
        return wait * rng.uniform(0.5, 1.0)


DEFAULT_POLICY = RenewalPolicy()


@attrs.frozen(kw_only=True)
class BorrowRenewer:
    """Renew with ``CheckoutBorrowLicense`` through a ``LicenseManager``.

    ``node_id`` defaults to the node the manager's verifier is bound to; every token is
    checked against the request (license, node, entitlements) before it is returned.

    Attributes:
        manager: the ``LicenseManager`` to borrow with.
        license_arn: the license to borrow from.
        entitlements: what to borrow, as entitlements or ``{"Name", "Unit", "Value"}``.
        node_id: the node to bind the borrow to; the verifier's by default.
    """

    manager: LicenseManager
    license_arn: str
    entitlements: Sequence[Entitlement | Mapping[str, str]]
    node_id: str | None = None

    def checkout(self, client_token: str) -> Source:
        """Borrow once (``CheckoutBorrowLicense``).

        Args:
            client_token: the ``ClientToken``; the same one again is answered with the same
                seat, never a second one.

        Returns:
            The checkout response, its token verified and checked against the request (its
            ``issuedAt`` may be ahead of a slow clock: the store's tolerance decides).

        Raises:
            LicenseTokenError: the borrow failed, or its token does not answer the request.
        """
        node = self.node_id or self.manager.verifier.policy.node_id
        # A slow clock is for the store to judge (its rollback tolerance): the token is new.
        checkout = self.manager.checkout_borrow(self.license_arn, self.entitlements,
                                                node_id=node, client_token=client_token,
                                                clock_behind_tolerance=MAX_ROLLBACK_TOLERANCE)
        response: Source = checkout.response
        return response

    def check_in(self, consumption_token: str) -> None:
        """Return a consumption's seats (``CheckInLicense``).

        Args:
            consumption_token: the consumption's ``licenseConsumptionToken``.

        Raises:
            LicenseTokenError: the check-in failed (an AWS error).
        """
        self.manager.check_in(consumption_token)

    def early_check_in_allowed(self) -> bool | None:
        """The license's ``AllowEarlyCheckIn`` setting (``GetLicense``).

        Returns:
            The setting, or ``None`` when the license does not say.

        Raises:
            LicenseTokenError: ``GetLicense`` failed (an AWS error).
        """
        allowed: bool | None = self.manager.get_license(
            self.license_arn).consumption.allow_early_check_in
        return allowed


REFUSED_FOR_GOOD = (NoEntitlementsAllowed, EntitlementNotAllowed, ResourceNotFound,
                    UnsupportedSignatureMethod, InvalidRequest)
"""The errors by which AWS refuses a checkout itself: no seat is held under its
``ClientToken`` (when the service answered them: ``status`` set)."""


def named_seat(response: Source) -> tuple[str, datetime] | None:
    """The consumption and expiry a fetched answer names (its renewer verified it).

    Args:
        response: what ``Renewer.checkout`` returned.

    Returns:
        ``(consumption token, expiration)``, or ``None`` when the answer names none.
    """
    try:
        jws = parse_compact(read_response(response).token)
        claims = LicenseClaims._from_payload(loads_strict(jws.payload, "payload"))
    except LicenseTokenError:
        return None
    token = claims.consumption_token
    return None if token is None else (token, claims.expiration)
