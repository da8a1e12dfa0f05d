"""``GetLicense`` as typed values: what a vendor checks about a license before borrowing.

The answer is not signed: it rests on TLS and SigV4 to AWS, like every online-only result,
and is never evidence for an offline decision. Members follow License Manager's model
(``License``, ``IssuerDetails``, ``DatetimeRange``, ``Entitlement``,
``ConsumptionConfiguration``); a member the service leaves out is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._claims import parse_metadata
from .._clock import parse_time
from .._errors import Malformed

__all__ = ["ConsumptionConfiguration", "LicenseDetails", "LicenseEntitlement"]


@attrs.frozen(kw_only=True)
class LicenseEntitlement:
    """One entitlement of a license: ``max_count`` ``None`` and ``overage`` mean unlimited.

    Attributes:
        name: the entitlement's name.
        unit: its ``EntitlementUnit``.
        value: its value, for entitlements that carry one.
        max_count: the most that may be checked out, or ``None``.
        overage: whether use beyond ``max_count`` is allowed.
        allow_check_in: whether a checkout of it may be checked in.
    """

    name: str
    unit: str
    value: str | None = None
    max_count: int | None = None
    overage: bool = False
    allow_check_in: bool = False


@attrs.frozen(kw_only=True)
class ConsumptionConfiguration:
    """How the license may be consumed: renewal, provisional and borrow settings.

    Attributes:
        renew_type: ``None``, ``Weekly`` or ``Monthly`` as the service spells it.
        provisional_ttl: how long a provisional checkout lasts.
        borrow_ttl: the longest a borrow may last.
        allow_early_check_in: whether a borrow may be checked in before it expires.
    """

    renew_type: str | None = None
    provisional_ttl: timedelta | None = None
    borrow_ttl: timedelta | None = None
    allow_early_check_in: bool | None = None


@attrs.frozen(kw_only=True)
class LicenseDetails:
    """A license as ``GetLicense`` describes it (unsigned: an online-only result).

    Attributes:
        license_arn: the license ARN.
        name: the license's name.
        product_name: the product's name.
        product_sku: the product SKU (what ``CheckoutLicense`` asks for).
        status: e.g. ``AVAILABLE``, ``SUSPENDED``, ``EXPIRED``.
        version: the license version.
        home_region: the Region the license lives in.
        beneficiary: who the license was granted to.
        issuer_name: the issuer's name.
        key_fingerprint: the issuer's ``KeyFingerprint`` (a name, never a key hash).
        sign_key: the ARN of the issuer's KMS signing key.
        valid_from: the start of the license's validity.
        valid_until: its end, or ``None`` for open-ended.
        created_at: when this version was created.
        entitlements: the license's entitlements.
        consumption: its consumption settings.
        metadata: ``LicenseMetadata`` as a read-only map.
    """

    license_arn: str
    name: str | None
    product_name: str | None
    product_sku: str | None
    status: str | None
    version: str | None
    home_region: str | None
    beneficiary: str | None
    issuer_name: str | None
    key_fingerprint: str | None
    sign_key: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime | None
    entitlements: tuple[LicenseEntitlement, ...]
    consumption: ConsumptionConfiguration
    metadata: Mapping[str, str]

    @property
    def available(self) -> bool:
        """Whether the license's status is ``AVAILABLE``."""
        return self.status == "AVAILABLE"

    def entitlement(self, name: str) -> LicenseEntitlement | None:
        """Find the entitlement called ``name``.

        Args:
            name: the entitlement's name.

        Returns:
            The first entitlement of that name, or ``None``.
        """
        return next((e for e in self.entitlements if e.name == name), None)

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> LicenseDetails:
        """Read a ``GetLicense`` response (boto3's dict).

        Args:
            response: What ``get_license`` returned.

        Returns:
            The typed license.

        Raises:
            Malformed: The response does not have the model's shape.
        """
        lic = _object(response.get("License"), "License")
        arn = lic.get("LicenseArn")
        if not isinstance(arn, str):
            raise Malformed("GetLicense: License.LicenseArn is missing")
        issuer = _object(lic.get("Issuer", {}), "Issuer")
        validity = _object(lic.get("Validity", {}), "Validity")
        config = _object(lic.get("ConsumptionConfiguration", {}), "ConsumptionConfiguration")
        borrow = _object(config.get("BorrowConfiguration", {}), "BorrowConfiguration")
        provisional = _object(config.get("ProvisionalConfiguration", {}),
                              "ProvisionalConfiguration")
        entitlements = lic.get("Entitlements", [])
        if not isinstance(entitlements, list):
            raise Malformed("GetLicense: Entitlements must be a list")
        return cls(
            license_arn=arn, name=_text(lic, "LicenseName"), product_name=_text(lic, "ProductName"),
            product_sku=_text(lic, "ProductSKU"), status=_text(lic, "Status"),
            version=_text(lic, "Version"), home_region=_text(lic, "HomeRegion"),
            beneficiary=_text(lic, "Beneficiary"), issuer_name=_text(issuer, "Name"),
            key_fingerprint=_text(issuer, "KeyFingerprint"), sign_key=_text(issuer, "SignKey"),
            valid_from=_time(validity, "Begin"), valid_until=_time(validity, "End"),
            created_at=_time(lic, "CreateTime"),
            entitlements=tuple(_entitlement(_object(e, "Entitlement")) for e in entitlements),
            consumption=ConsumptionConfiguration(
                renew_type=_text(config, "RenewType"),
                provisional_ttl=_minutes(provisional, "MaxTimeToLiveInMinutes"),
                borrow_ttl=_minutes(borrow, "MaxTimeToLiveInMinutes"),
                allow_early_check_in=_flag(borrow, "AllowEarlyCheckIn"),
            ),
            metadata=parse_metadata(lic.get("LicenseMetadata")),
        )


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Malformed(f"GetLicense: {what} must be an object")
    return value


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"GetLicense: {key} must be a string")
    return value


def _flag(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise Malformed(f"GetLicense: {key} must be a boolean")
    return value


def _count(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0):
        raise Malformed(f"GetLicense: {key} must be a non-negative integer")
    return value


def _minutes(obj: Mapping[str, Any], key: str) -> timedelta | None:
    minutes = _count(obj, key)
    return None if minutes is None else timedelta(minutes=minutes)


def _time(obj: Mapping[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    return None if value is None else parse_time(value, f"GetLicense {key}")


def _entitlement(obj: Mapping[str, Any]) -> LicenseEntitlement:
    name, unit = _text(obj, "Name"), _text(obj, "Unit")
    if name is None or unit is None:
        raise Malformed("GetLicense: an entitlement needs Name and Unit")
    return LicenseEntitlement(name=name, unit=unit, value=_text(obj, "Value"),
                              max_count=_count(obj, "MaxCount"),
                              overage=bool(_flag(obj, "Overage")),
                              allow_check_in=bool(_flag(obj, "AllowCheckIn")))
