"""Online checkouts (``CheckoutLicense``), AWS Marketplace's among them.

AWS Marketplace issues its licenses itself (``KeyFingerprint``
``MARKETPLACE_KEY_FINGERPRINT``), and no public key has been published with which a
vendor could verify a Marketplace ``SignedToken`` offline. Its documented integration is
online: ``CheckoutLicense`` ``PROVISIONAL`` every 15 minutes (AMI products) or daily
(container products), retried for up to 30 minutes while the app runs on its last good
result; ``PERPETUAL`` for drawdown; tiered products ask for every tier and learn from the
answer which one was bought.

An ``OnlineLicense`` is therefore *not* a ``VerifiedLicense``:
its trust rests on TLS and SigV4 to AWS at the moment of the call, and it holds until
the answer's ``Expiration`` at the latest. Never save one for offline use. Its
``SignedToken``, when there is one, is verified only when a pinned key belongs to the
issuer (``pins_issuer()``); then ``OnlineLicense.signed`` holds the verified token.

No I/O here: ``EntitlementKeeper`` takes the checkout as a callable and the time as
an input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from .._claims import Entitlement, LicenseClaims, format_time
from .._clock import Clock, current_time, utc_now
from .._errors import ConfigurationError, LicenseTokenError, Malformed
from .._policy import Requirement
from .._verify import VerifiedLicense, Verifier

__all__ = [
    "AMI_INTERVAL",
    "CONTAINER_INTERVAL",
    "MARKETPLACE_KEY_FINGERPRINT",
    "RETRY_DELAY",
    "RETRY_WINDOW",
    "EntitlementKeeper",
    "OnlineLicense",
    "online_license",
    "pins_issuer",
]

log = logging.getLogger(__name__)

MARKETPLACE_KEY_FINGERPRINT = "aws:294406891311:AWS/Marketplace:issuer-fingerprint"
"""The ``KeyFingerprint`` of licenses issued by AWS Marketplace (it names the issuer)."""
AMI_INTERVAL = timedelta(minutes=15)
"""How often an AMI product checks out (``PROVISIONAL``), per the Marketplace seller guide."""
CONTAINER_INTERVAL = timedelta(days=1)
"""How often a container product checks out."""
RETRY_WINDOW = timedelta(minutes=30)
"""How long failed checkouts are retried while the app runs on its last good result."""
RETRY_DELAY = timedelta(minutes=1)
"""The pause between two retries."""

_CHECKOUT_TYPES = frozenset({"PROVISIONAL", "PERPETUAL"})
_CONSUMPTION_GONE = "aws_resource_not_found"
"""``aws.ResourceNotFound``'s code: a check-in that finds no consumption holds no seat."""


def pins_issuer(key_fingerprint: str, pinned_issuers: Collection[str] | None) -> bool:
    """Whether the app's pinned keys belong to the issuer named by ``key_fingerprint``.

    Args:
        key_fingerprint: The ``KeyFingerprint`` the checkout named.
        pinned_issuers: The fingerprints of the issuers whose keys the app pins; ``None``
            means every issuer but AWS Marketplace, whose signing key is not published.

    Returns:
        ``True`` when a ``SignedToken`` from that issuer must verify with the pinned keys.
    """
    if pinned_issuers is None:
        return key_fingerprint != MARKETPLACE_KEY_FINGERPRINT
    return key_fingerprint in pinned_issuers


@attrs.frozen(kw_only=True)
class OnlineLicense:
    """What an online ``CheckoutLicense`` granted. Not a ``VerifiedLicense``.

    ``answer`` holds the answer's fields, read as strictly as signed claims are, but
    they are not signed: they are as trustworthy as the TLS + SigV4 connection to AWS
    they came over. Decide with it now, online; never store it for offline use.

    Attributes:
        answer: the answer's fields, as claims (unsigned).
        product_sku: the SKU checked out.
        key_fingerprint: the issuer's ``KeyFingerprint`` asked for.
        checkout_type: ``PROVISIONAL`` or ``PERPETUAL``.
        received_at: when the answer arrived.
        signed: the verified token, when the answer carried one of a pinned issuer.
        response: the raw answer.
    """

    TRUST_BASIS: ClassVar[str] = "TLS and SigV4 to AWS License Manager; not signed"
    """Why this result can be believed."""

    answer: LicenseClaims
    product_sku: str
    key_fingerprint: str
    checkout_type: str
    received_at: datetime
    signed: VerifiedLicense | None = None
    response: Mapping[str, Any] = attrs.field(repr=False, factory=dict)

    @property
    def trust_basis(self) -> str:
        """``TLS+SigV4``, or also a pinned key's signature when ``signed`` is set."""
        if self.signed is not None:
            return "PS384 signature by a pinned key, and TLS and SigV4 to AWS"
        return self.TRUST_BASIS

    @property
    def from_marketplace(self) -> bool:
        """Whether AWS Marketplace issued the license (its ``KeyFingerprint``)."""
        return self.key_fingerprint == MARKETPLACE_KEY_FINGERPRINT

    @property
    def license_arn(self) -> str:
        """The answer's ``LicenseArn``."""
        return self.answer.license_arn

    @property
    def consumption_token(self) -> str | None:
        """The answer's ``LicenseConsumptionToken`` (for check-in), if any."""
        return self.answer.consumption_token

    @property
    def node_id(self) -> str | None:
        """The answer's ``NodeId``, if any."""
        return self.answer.node_id

    @property
    def issued_at(self) -> datetime:
        """The answer's ``IssuedAt`` (aware, UTC)."""
        return self.answer.issued_at

    @property
    def expires_at(self) -> datetime:
        """The answer's ``Expiration``: the result holds until then at the latest."""
        return self.answer.expiration

    @property
    def entitlements(self) -> Mapping[str, Entitlement]:
        """Granted entitlements by name (the first of a name)."""
        by_name: dict[str, Entitlement] = {}
        for entitlement in self.answer.entitlements:
            by_name.setdefault(entitlement.name, entitlement)
        return MappingProxyType(by_name)

    def is_current(self, now: datetime | None = None) -> bool:
        """Whether ``now`` is before the answer's ``Expiration``.

        Args:
            now: The time to judge at (timezone-aware); the system clock by default.

        Returns:
            ``True`` while the answer has not expired.

        Raises:
            ConfigurationError: ``now`` has no time zone.
        """
        return current_time(utc_now, now) < self.expires_at

    def check(self, requirements: Iterable[Requirement | str]) -> None:
        """Raise on the first requirement the granted entitlements do not meet.

        Args:
            requirements: ``Requirement`` values or their strings.

        Raises:
            EntitlementMissing: Nothing with that name (and unit) was granted.
            EntitlementInsufficient: It was, with a value below the minimum.
        """
        for requirement in requirements:
            _requirement(requirement)._check(self.answer)

    def satisfies(self, requirement: Requirement | str) -> bool:
        """Whether one requirement is met (for optional features).

        Args:
            requirement: a ``Requirement`` or its string.

        Returns:
            ``True`` when the granted entitlements meet it.
        """
        try:
            _requirement(requirement)._check(self.answer)
        except LicenseTokenError:
            return False
        return True

    def tier(self, tiers: Iterable[Requirement | str]) -> Requirement | None:
        """The first of ``tiers`` (list them best first) that the answer grants.

        A tiered product asks for every tier in one checkout and is granted the one
        bought; this says which.

        Args:
            tiers: requirements or their strings, best first.

        Returns:
            The first tier granted, or ``None``.
        """
        for tier in tiers:
            if self.satisfies(tier):
                return _requirement(tier)
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary that says what it rests on."""
        return {
            "answer": self.answer.to_json(),
            "checkout_type": self.checkout_type,
            "key_fingerprint": self.key_fingerprint,
            "product_sku": self.product_sku,
            "received_at": format_time(self.received_at),
            "signed": None if self.signed is None else self.signed.to_json(),
            "trust_basis": self.trust_basis,
        }


def _requirement(value: Requirement | str) -> Requirement:
    return value if isinstance(value, Requirement) else Requirement.parse(value)


def _answer(response: Mapping[str, Any]) -> LicenseClaims:
    """The answer's fields in claim spelling, parsed by the claims' own strict parser."""
    if not isinstance(response, Mapping):
        raise Malformed(f"a CheckoutLicense answer is a mapping, not {type(response).__name__}")
    entitlements = response.get("EntitlementsAllowed", [])
    if not isinstance(entitlements, list):
        raise Malformed("CheckoutLicense answer: 'EntitlementsAllowed' must be a list")
    payload: dict[str, Any] = {
        "licenseArn": response.get("LicenseArn"),
        "licenseConsumptionToken": response.get("LicenseConsumptionToken"),
        "entitlementsAllowed": [
            {"name": e.get("Name"), "unit": e.get("Unit"), "value": e.get("Value")}
            if isinstance(e, Mapping) else e for e in entitlements],
        "nodeId": response.get("NodeId"),
        "issuedAt": _text(response.get("IssuedAt")),
        "expiration": _text(response.get("Expiration")),
    }
    return LicenseClaims._from_payload({k: v for k, v in payload.items() if v is not None})


def _text(value: object) -> object:
    return format_time(value) if isinstance(value, datetime) else value


def online_license(response: Mapping[str, Any], *, product_sku: str, key_fingerprint: str,
                   checkout_type: str = "PROVISIONAL", verifier: Verifier | None = None,
                   pinned_issuers: Collection[str] | None = None,
                   now: datetime | None = None) -> OnlineLicense:
    """Read a ``CheckoutLicense`` answer.

    Args:
        response: The answer (a boto3 dict).
        product_sku: The SKU asked for.
        key_fingerprint: The issuer asked for.
        checkout_type: ``PROVISIONAL`` or ``PERPETUAL``.
        verifier: Verifies the ``SignedToken`` when ``pins_issuer()`` says the pinned
            keys belong to this issuer.
        pinned_issuers: See ``pins_issuer()``.
        now: When the answer arrived (timezone-aware); the verifier's clock (or the
            system's) by default.

    Returns:
        The online license; ``signed`` is set when the token was verified.

    Raises:
        ConfigurationError: ``now`` (or the clock's reading) has no time zone, or
            ``checkout_type`` is unknown.
        Malformed: The answer lacks a field or has one of the wrong type.
        InvalidLicense: A token from a pinned issuer failed verification.
    """
    if checkout_type not in _CHECKOUT_TYPES:
        raise ConfigurationError(f"checkout_type must be one of {sorted(_CHECKOUT_TYPES)}")
    moment = current_time(verifier.clock if verifier is not None else utc_now, now)
    answer = _answer(response)
    signed = None
    if (verifier is not None and response.get("SignedToken")
            and pins_issuer(key_fingerprint, pinned_issuers)):
        signed = verifier.verify(response, now=moment)
    return OnlineLicense(answer=answer, product_sku=product_sku,
                         key_fingerprint=key_fingerprint, checkout_type=checkout_type,
                         received_at=moment, signed=signed, response=dict(response))


@attrs.frozen
class _Seat:
    """A consumption this keeper took and has not given back yet."""

    token: str
    expires_at: datetime
    retry: bool = True


@attrs.define
class EntitlementKeeper:
    """The Marketplace cadence: check out every ``interval``, ride out failures a while.

    Call ``poll()`` from the app's own timer (e.g. every minute, or after
    ``next_due()``): it checks out when due and returns the license to run on. A
    checkout that fails with a retryable error (network, throttling, AWS unavailable) is
    retried every ``retry_delay`` for up to ``retry_window``, the last good result being
    returned meanwhile; then ``poll()`` raises the last error. A definitive answer (no
    entitlement, access denied, a requirement not met) raises at once.

    With ``check_in`` (for ``PROVISIONAL`` checkouts), the last consumption is checked in
    before the next checkout, so the app never holds two seats: a license with one seat
    left keeps working. A check-in that fails with a retryable error stops that attempt
    before any checkout: it is retried every ``retry_delay``, the app running on the last
    good result as for a failed checkout, until it succeeds or the consumption expires
    and frees its seat by itself. A check-in refused for good is not retried; that
    consumption stays in ``unreturned`` until it expires.

    Attributes:
        checkout: Makes one online checkout, e.g. ``lambda: manager.checkout_online(...)``.
        interval: ``AMI_INTERVAL`` or ``CONTAINER_INTERVAL``.
        retry_window: How long failures are ridden out.
        retry_delay: The pause between retries.
        check_in: Called with a consumption token to give its seat back.
        clock: The time when ``poll()`` is not given ``now``.
    """

    checkout: Callable[[], OnlineLicense]
    interval: timedelta = AMI_INTERVAL
    retry_window: timedelta = RETRY_WINDOW
    retry_delay: timedelta = RETRY_DELAY
    check_in: Callable[[str], object] | None = None
    clock: Clock = attrs.field(default=utc_now)
    last_good: OnlineLicense | None = attrs.field(default=None, init=False)
    last_error: LicenseTokenError | None = attrs.field(default=None, init=False)
    failing_since: datetime | None = attrs.field(default=None, init=False)
    _due: datetime | None = attrs.field(default=None, init=False)
    _held: list[_Seat] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        if min(self.interval, self.retry_window, self.retry_delay) <= timedelta(0):
            raise ConfigurationError("interval, retry_window and retry_delay must be positive")

    @property
    def unreturned(self) -> tuple[str, ...]:
        """Consumption tokens taken and not yet checked in (only with ``check_in``).

        The last good result's token is among them until the next attempt checks it in;
        one whose check-in failed stays until a retry succeeds or it expires.
        """
        return tuple(seat.token for seat in self._held)

    def next_due(self) -> datetime | None:
        """When ``poll()`` will next check out (``None``: at the first call)."""
        return self._due

    def poll(self, now: datetime | None = None) -> OnlineLicense:
        """Check out if due; the license to run on.

        Args:
            now: The current time (timezone-aware); the keeper's ``clock`` by default.

        Returns:
            The last good result.

        Raises:
            ConfigurationError: ``now`` (or the clock's reading) has no time zone.
            LicenseTokenError: No checkout has succeeded yet, the failures have lasted
                ``retry_window``, or AWS gave a definitive no.
        """
        moment = current_time(self.clock, now)
        if self._due is None or moment >= self._due:
            self._attempt(moment)
        error, good, since = self.last_error, self.last_good, self.failing_since
        if error is not None and (good is None or not getattr(error, "retryable", False)
                                  or since is None or moment - since >= self.retry_window):
            raise error
        if good is None:  # pragma: no cover - every attempt records a result or an error
            raise LicenseTokenError("no online checkout has been made")
        return good

    def _attempt(self, moment: datetime) -> None:
        try:
            self._give_seats_back(moment)
            fresh = self.checkout()
        except LicenseTokenError as exc:
            self.last_error, self.failing_since = exc, self.failing_since or moment
            self._due = moment + self.retry_delay
            if getattr(exc, "retryable", False):
                log.warning("online check-in or checkout failed (%s); retrying in %s, running "
                            "on the last good result", exc.code, self.retry_delay)
            return
        self.last_good, self.last_error, self.failing_since = fresh, None, None
        self._due = moment + self.interval
        if self.check_in is not None and fresh.consumption_token:
            self._held.append(_Seat(token=fresh.consumption_token,
                                    expires_at=fresh.expires_at))

    def _give_seats_back(self, moment: datetime) -> None:
        """Check in every seat still held, so one seat is always enough.

        Raises:
            LicenseTokenError: A check-in failed with a retryable error: no checkout now.
        """
        if self.check_in is None:
            return
        self._held = [seat for seat in self._held if seat.expires_at > moment]
        for seat in list(self._held):
            if not seat.retry:
                continue
            try:
                self.check_in(seat.token)
            except LicenseTokenError as exc:
                if getattr(exc, "retryable", False):
                    raise
                if exc.code != _CONSUMPTION_GONE:
                    log.info("consumption not checked in (%s); its seat is held until it "
                             "expires", exc.code)
                    self._held[self._held.index(seat)] = attrs.evolve(seat, retry=False)
                    continue
            self._held.remove(seat)
