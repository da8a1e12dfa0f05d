"""Online checkouts (``CheckoutLicense``), AWS Marketplace's among them.

AWS Marketplace issues its licenses itself (``KeyFingerprint``
``MARKETPLACE_KEY_FINGERPRINT``), and no public key has been published with which a
vendor could verify a Marketplace ``SignedToken`` offline. Its documented integration is
online: ``CheckoutLicense`` ``PROVISIONAL`` every 15 minutes (AMI products) or daily
(container products), retried for up to 30 minutes while the app runs on its last good
result; ``PERPETUAL`` for drawdown; tiered products ask for every tier and learn from the
answer which one was bought. ``EntitlementKeeper`` keeps that cadence and the seat.

An ``OnlineLicense`` is therefore *not* a ``VerifiedLicense``:
its trust rests on TLS and SigV4 to AWS itself at the moment of the call (the client for
it is pinned to AWS's own endpoint and CA bundle, see ``aws._endpoint``), and it holds
until the answer's ``Expiration`` at the latest. Never save one for offline use. Its
``SignedToken``, when there is one, is verified only when a pinned key belongs to the
issuer (``pins_issuer()``); then ``OnlineLicense.signed`` holds the verified token,
and every decision reads the signed claims.

No I/O here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from .._claims import Entitlement, LicenseClaims, entitlement_named, entitlements_by_name
from .._clock import current_time, format_time, utc_now
from .._errors import ConfigurationError, LicenseTokenError, Malformed
from .._policy import Requirement
from .._verify import VerifiedLicense, Verifier
from ._keeper import AMI_INTERVAL, CONTAINER_INTERVAL, RETRY_DELAY, RETRY_WINDOW, EntitlementKeeper

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

MARKETPLACE_KEY_FINGERPRINT = "aws:294406891311:AWS/Marketplace:issuer-fingerprint"
"""The ``KeyFingerprint`` of licenses issued by AWS Marketplace (it names the issuer)."""

_CHECKOUT_TYPES = frozenset({"PROVISIONAL", "PERPETUAL"})


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

    Every decision (``entitlements``, ``check()``, ``tier()``, the ARN, node and
    times) reads ``claims``: the signed claims when the answer carried a token that
    verified against a pinned key (``signed``), otherwise ``answer``, the answer's fields
    read as strictly as signed claims are but not signed: as trustworthy as the TLS +
    SigV4 connection to AWS they came over. Decide with it now, online; never store it
    for offline use. ``trust_basis`` says which.

    Attributes:
        answer: the answer's fields, as claims (unsigned; with ``signed``, only
            cross-checked against the signed claims).
        product_sku: the SKU checked out.
        key_fingerprint: the issuer's ``KeyFingerprint`` asked for.
        checkout_type: ``PROVISIONAL`` or ``PERPETUAL``.
        received_at: when the answer arrived.
        signed: the verified token, when the answer carried one of a pinned issuer.
        endpoint: the endpoint the application chose in code (``endpoint_url=``, or the
            client it passed); ``None`` when the answer came from AWS's own endpoint.
        extended_until: the ``Expiration`` of the last ``ExtendLicenseConsumption`` of
            this consumption (see ``EntitlementKeeper``), if it was extended.
        response: the raw answer.
    """

    TRUST_BASIS: ClassVar[str] = "TLS and SigV4 to AWS License Manager; not signed"
    """Why an unsigned result from AWS's own endpoint can be believed."""

    answer: LicenseClaims
    product_sku: str
    key_fingerprint: str
    checkout_type: str
    received_at: datetime
    signed: VerifiedLicense | None = None
    endpoint: str | None = None
    extended_until: datetime | None = None
    response: Mapping[str, Any] = attrs.field(repr=False, factory=dict)

    @property
    def claims(self) -> LicenseClaims:
        """What decisions read: the signed claims when ``signed`` is set, else ``answer``."""
        return self.answer if self.signed is None else self.signed.claims

    @property
    def trust_basis(self) -> str:
        """Why this result can be believed: a pinned key's signature, or the connection.

        The connection is ``TLS and SigV4 to AWS License Manager``, or, when the
        application chose the endpoint, ``endpoint chosen by the application: <url>``.
        """
        transport = (self.TRUST_BASIS.partition(";")[0] if self.endpoint is None
                     else f"endpoint chosen by the application: {self.endpoint}")
        if self.signed is None:
            basis = f"{transport}; not signed"
            return basis if self.extended_until is None else basis + "; Expiration extended"
        if self.extended_until is None:
            return ("PS384 signature by a pinned key: entitlements, license, node and times "
                    "from the signed claims")
        return ("PS384 signature by a pinned key: entitlements, license and node from the "
                f"signed claims; Expiration extended over {transport}")

    @property
    def from_marketplace(self) -> bool:
        """Whether AWS Marketplace issued the license (its ``KeyFingerprint``)."""
        return self.key_fingerprint == MARKETPLACE_KEY_FINGERPRINT

    @property
    def license_arn(self) -> str:
        """The ``licenseArn`` of ``claims``."""
        return self.claims.license_arn

    @property
    def consumption_token(self) -> str | None:
        """The ``licenseConsumptionToken`` of ``claims`` (for check-in), if any."""
        return self.claims.consumption_token

    @property
    def node_id(self) -> str | None:
        """The ``nodeId`` of ``claims``, if any."""
        return self.claims.node_id

    @property
    def issued_at(self) -> datetime:
        """The ``issuedAt`` of ``claims`` (aware, UTC)."""
        return self.claims.issued_at

    @property
    def expires_at(self) -> datetime:
        """Until when the result holds at the latest (``extended_until``, if extended)."""
        return self.claims.expiration if self.extended_until is None else self.extended_until

    @property
    def entitlements(self) -> Mapping[str, Entitlement]:
        """Granted entitlements by name, read from ``claims`` as a ``VerifiedLicense`` reads them.

        A name granted several times (differently) is left out: it is never guessed.
        """
        return entitlements_by_name(self.claims.entitlements_allowed)

    def entitlement(self, name: str, unit: str | None = None) -> Entitlement:
        """The entitlement ``name`` (with ``unit``, if given), as a ``VerifiedLicense`` reads it.

        Args:
            name: the entitlement's name, e.g. ``"Users"``.
            unit: its unit; any unit when ``None``.

        Returns:
            The entitlement.

        Raises:
            EntitlementMissing: no entitlement matches.
            EntitlementAmbiguous: several different ones match.
        """
        return entitlement_named(self.claims.entitlements_allowed, name, unit)

    def is_current(self, now: datetime | None = None) -> bool:
        """Whether ``now`` is before ``expires_at``.

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
            _requirement(requirement)._check(self.claims)

    def satisfies(self, requirement: Requirement | str) -> bool:
        """Whether one requirement is met (for optional features).

        Args:
            requirement: a ``Requirement`` or its string.

        Returns:
            ``True`` when the granted entitlements meet it.
        """
        try:
            _requirement(requirement)._check(self.claims)
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
            "endpoint": self.endpoint,
            "expires_at": format_time(self.expires_at),
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
                   now: datetime | None = None, endpoint: str | None = None) -> OnlineLicense:
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
        endpoint: The endpoint the application chose, when the answer did not come from
            AWS's own (see ``OnlineLicense.endpoint``).

    Returns:
        The online license; ``signed`` is set when the token was verified, and its
        decisions then read the signed claims.

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
                         received_at=moment, signed=signed, endpoint=endpoint,
                         response=dict(response))
