"""The emulator's data: seeded licenses and the consumptions taken from them."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._factory import TokenFactory

__all__ = ["Consumption", "EmulatedLicense"]


@attrs.define
class EmulatedLicense:
    """A seeded license, with the members ``GetLicense`` describes.

    ``entitlements`` maps a name to ``(unit, max count)``; a max count of ``None`` is
    unlimited (``Overage`` true in ``GetLicense``). The max count bounds the sum of the
    values checked out for every unit but ``None``.

    Attributes:
        arn: the license ARN.
        product_sku: the product SKU.
        issuer: the signer of the license's tokens.
        key_id: the ARN of the signing key.
        entitlements: name to ``(unit, max count or None)``.
        borrow_ttl_minutes: how long a borrow lasts.
        provisional_ttl_minutes: how long a provisional checkout lasts.
        allow_early_check_in: whether a borrow may be checked in before it expires.
        issuer_name: the issuer's name (in the ``KeyFingerprint``).
        account: the issuer's account (in the ``KeyFingerprint``).
        name: the license's name.
        product_name: the product's name.
        beneficiary: who the license was granted to.
        home_region: the Region the license lives in.
        status: ``AVAILABLE`` or another status, which refuses checkouts.
        valid_from: the start of the license's validity, if any.
        valid_until: its end, if any.
        created_at: when this version was created.
        renew_type: ``None``, ``Weekly`` or ``Monthly``.
        metadata: ``LicenseMetadata``.
        version: the license version (``update_license`` increments it).
    """

    arn: str
    product_sku: str
    issuer: TokenFactory
    key_id: str
    entitlements: dict[str, tuple[str, int | None]]
    borrow_ttl_minutes: int = 60 * 24
    provisional_ttl_minutes: int = 60
    allow_early_check_in: bool = True
    issuer_name: str = "Vendor"
    account: str = "123456789012"
    name: str = "Emulated license"
    product_name: str = "Emulated product"
    beneficiary: str = "123456789012"
    home_region: str = "us-east-1"
    status: str = "AVAILABLE"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    created_at: datetime | None = None
    renew_type: str = "None"
    metadata: dict[str, str] = attrs.field(factory=dict)
    version: str = "1"

    @property
    def key_fingerprint(self) -> str:
        """The issuer's ``KeyFingerprint``, as ``CheckoutLicense`` takes it."""
        return f"aws:{self.account}:{self.issuer_name}:issuer-fingerprint"

    def usable_at(self, now: datetime) -> bool:
        """Whether the license can be checked out at ``now``.

        Args:
            now: the service's time.

        Returns:
            ``True`` when ``AVAILABLE`` and inside its validity window.
        """
        if self.status != "AVAILABLE":
            return False
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until


@attrs.define
class Consumption:
    """Seats taken by one checkout; ``expiration`` ``None`` is a ``PERPETUAL`` drawdown."""

    token: str
    license: EmulatedLicense
    entitlements: list[dict[str, str]]
    amounts: Mapping[str, Decimal]
    node_id: str | None
    borrowed: bool
    expiration: datetime | None
    response: dict[str, Any]
    checked_in: bool = False

    def live_at(self, now: datetime) -> bool:
        """Still holding its seats: neither checked in nor expired."""
        return not self.checked_in and (self.expiration is None or now < self.expiration)


class SeatPeaks:
    """The most live consumptions each (license, node) held at once, noted after each
    checkout (seats are only ever taken by one)."""

    def __init__(self) -> None:
        self._peaks: Counter[tuple[str, str | None]] = Counter()
        self._live: defaultdict[tuple[str, str | None], list[str]] = defaultdict(list)

    def note(self, consumptions: Mapping[str, Consumption], token: object,
             now: datetime) -> None:
        """After a checkout answered with ``token``: its (license, node)'s live count.

        Args:
            consumptions: the emulator's consumptions, by token.
            token: the answer's ``LicenseConsumptionToken`` (anything else is ignored).
            now: the service's time.
        """
        consumption = consumptions.get(token) if isinstance(token, str) else None
        if consumption is None:
            return
        key = (consumption.license.arn, consumption.node_id)
        live = [t for t in self._live[key] if t != consumption.token
                and consumptions[t].live_at(now)]
        self._live[key] = [*live, consumption.token]
        self._peaks[key] = max(self._peaks[key], len(live) + consumption.live_at(now))

    def by_node(self, license_arn: str) -> Counter[str | None]:
        """The peaks of ``license_arn``, by node.

        Args:
            license_arn: the license.

        Returns:
            Node ID to the highest count of live consumptions seen at once.
        """
        return Counter({node: count for (arn, node), count in self._peaks.items()
                        if arn == license_arn})
