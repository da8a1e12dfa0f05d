"""The signed payload of a checkout token, as frozen values, and its time format."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._errors import Malformed

__all__ = [
    "ENTITLEMENT_UNITS", "NUMBER", "Entitlement", "LicenseClaims", "parse_metadata", "parse_time",
]

#: The 27 values of License Manager's ``EntitlementUnit``.
ENTITLEMENT_UNITS = frozenset(
    """
    Count None Seconds Microseconds Milliseconds Percent
    Bits Kilobits Megabits Gigabits Terabits Bytes Kilobytes Megabytes Gigabytes Terabytes
    Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second
    Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second
    Count/Second
    """.split()
)

_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?",
    re.ASCII,
)
_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: An entitlement number: ASCII digits with an optional ``.`` fraction, optionally
#: surrounded by ASCII spaces. No sign, exponent, ``_``, other digits or other spaces.
NUMBER = re.compile(r" *([0-9]+(?:\.[0-9]+)?) *", re.ASCII)


def _fromisoformat_310(match: re.Match[str]) -> datetime:
    """``fromisoformat`` before 3.11 takes neither ``Z`` nor fractions other than 3 or 6 digits."""
    base, fraction, zone = match.groups()
    fraction = "." + fraction[:6].ljust(6, "0") if fraction else ""
    zone = "+00:00" if zone == "Z" else (zone or "")
    return datetime.fromisoformat(base + fraction + zone)


_FROMISOFORMAT_TAKES_ISO_8601 = sys.version_info >= (3, 11)


def parse_time(text: object, what: str) -> datetime:
    """ISO-8601 date-time; no zone means UTC; ``Z``, offsets and fractions accepted."""
    if not isinstance(text, str):
        raise Malformed(f"{what}: a time must be an ISO-8601 string")
    match = _TIME.fullmatch(text)
    if match is None:
        raise Malformed(f"{what}: {text[:40]!r} is not an ISO-8601 date-time")
    try:
        moment = (datetime.fromisoformat(text) if _FROMISOFORMAT_TAKES_ISO_8601
                  else _fromisoformat_310(match))
    except ValueError as exc:
        raise Malformed(f"{what}: {text!r} is not a real date-time") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise Malformed(f"{what}: {text!r} cannot be represented in UTC") from None


def _string(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise Malformed(f"{where}: {key!r} must be a string")
    return value


def _optional_string(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _string(obj, key, where)


@attrs.frozen(kw_only=True)
class Entitlement:
    """One granted entitlement: ``value`` stays the string the token carries."""

    name: str
    unit: str
    value: str | None = None

    @property
    def known_unit(self) -> bool:
        """Whether ``unit`` is one of License Manager's 27 ``EntitlementUnit`` values."""
        return self.unit in ENTITLEMENT_UNITS

    @property
    def number(self) -> Decimal | None:
        """The value as a number, or ``None`` when it is not one (see :data:`NUMBER`)."""
        match = None if self.value is None else NUMBER.fullmatch(self.value)
        return None if match is None else Decimal(match[1])

    @classmethod
    def from_claim(cls, obj: object, index: int) -> Entitlement:
        """Member ``index`` of ``entitlementsAllowed`` (the index only names it in errors)."""
        if type(obj) is not dict and not isinstance(obj, Mapping):
            raise Malformed(f"claims entitlementsAllowed[{index}]: not an object")
        name, unit, value = obj.get("name"), obj.get("unit"), obj.get("value")
        if type(name) is not str or type(unit) is not str or not (
                value is None or type(value) is str):
            raise Malformed(f"claims entitlementsAllowed[{index}]: 'name' and 'unit' must be "
                            "strings, 'value' a string")
        return cls(name=name, unit=unit, value=value)


def parse_metadata(value: object) -> Mapping[str, str]:
    """Checkout metadata as a map, from a map or a list of name/value pairs (either case)."""
    if value is None:
        return _EMPTY
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for pair in value:
            if not isinstance(pair, Mapping):
                raise Malformed("checkoutMetadata: list items must be objects")
            name = pair.get("name", pair.get("Name"))
            items.append((name, pair.get("value", pair.get("Value"))))
    else:
        raise Malformed("checkoutMetadata: must be an object or a list of name/value pairs")
    result: dict[str, str] = {}
    for name, item in items:
        if not isinstance(name, str) or not isinstance(item, str):
            raise Malformed("checkoutMetadata: names and values must be strings")
        if name in result:
            raise Malformed(f"checkoutMetadata: duplicate name {name!r}")
        result[name] = item
    return MappingProxyType(result)


_KNOWN = frozenset(
    {"licenseArn", "licenseConsumptionToken", "entitlementsAllowed", "nodeId", "issuedAt",
     "expiration", "checkoutMetadata"}
)


@attrs.frozen(kw_only=True)
class LicenseClaims:
    """The signed claims; every claim not modelled here is kept in ``extra``."""

    license_arn: str
    issued_at: datetime
    expiration: datetime
    consumption_token: str | None = None
    entitlements: tuple[Entitlement, ...] = ()
    node_id: str | None = None
    checkout_metadata: Mapping[str, str] = _EMPTY
    extra: Mapping[str, Any] = _EMPTY

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LicenseClaims:
        """Build from the decoded JSON payload; a missing or mistyped claim is ``Malformed``."""
        entitlements = payload.get("entitlementsAllowed", ())
        if not isinstance(entitlements, (list, tuple)):
            raise Malformed("claims: 'entitlementsAllowed' must be a list")
        issued_at = parse_time(payload.get("issuedAt"), "claims 'issuedAt'")
        expiration = parse_time(payload.get("expiration"), "claims 'expiration'")
        if expiration < issued_at:
            raise Malformed("claims: 'expiration' is before 'issuedAt'")
        unknown = payload.keys() - _KNOWN
        return cls(
            license_arn=_string(payload, "licenseArn", "claims"),
            issued_at=issued_at,
            expiration=expiration,
            consumption_token=_optional_string(payload, "licenseConsumptionToken", "claims"),
            entitlements=tuple([Entitlement.from_claim(e, i) for i, e in enumerate(entitlements)]),
            node_id=_optional_string(payload, "nodeId", "claims"),
            checkout_metadata=parse_metadata(payload.get("checkoutMetadata")),
            extra=MappingProxyType({k: payload[k] for k in unknown}) if unknown else _EMPTY,
        )

    def to_json(self) -> dict[str, Any]:
        """The claims in their token spelling (times as UTC ISO-8601 with ``Z``)."""
        doc: dict[str, Any] = dict(self.extra)
        doc.update(
            licenseArn=self.license_arn,
            entitlementsAllowed=[
                {"name": e.name, "unit": e.unit}
                | ({} if e.value is None else {"value": e.value})
                for e in self.entitlements
            ],
            issuedAt=format_time(self.issued_at),
            expiration=format_time(self.expiration),
        )
        if self.consumption_token is not None:
            doc["licenseConsumptionToken"] = self.consumption_token
        if self.node_id is not None:
            doc["nodeId"] = self.node_id
        if self.checkout_metadata:
            doc["checkoutMetadata"] = dict(self.checkout_metadata)
        return doc


def format_time(moment: datetime) -> str:
    """UTC ISO-8601 with ``Z``; microseconds only when present."""
    text = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    return text + "Z"
