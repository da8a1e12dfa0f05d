"""The signed payload of a checkout token, as frozen values.

Fast paths, each beside its full check; ``tests/test_fast_paths.py`` holds each pair equal:

- ``slot_setters``: ``Entitlement`` and ``LicenseClaims`` built field by field after their
  checks, for attrs' ``__init__`` (``test_claims_built_directly_equal_claims_built_by_attrs``,
  ``test_entitlements_built_inline_agree_with_from_claim``,
  ``test_direct_construction_is_refused_for_a_class_it_would_not_build_faithfully``).
- ``LicenseClaims._from_payload``: the count of known claims, for computing ``extra``
  (the same claims test).
- ``Entitlement.number``: all ASCII digits, for the ``NUMBER`` grammar
  (``test_number_fast_path_agrees_with_the_grammar``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._clock import format_time, parse_time
from ._errors import EntitlementAmbiguous, EntitlementMissing, Malformed
from ._log import token_repr

__all__ = [
    "ENTITLEMENT_UNITS", "NUMBER", "Entitlement", "LicenseClaims", "entitlement_named",
    "entitlements_by_name", "parse_metadata",
]

ENTITLEMENT_UNITS = frozenset(
    """
    Count None Seconds Microseconds Milliseconds Percent
    Bits Kilobits Megabits Gigabits Terabits Bytes Kilobytes Megabytes Gigabytes Terabytes
    Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second
    Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second
    Count/Second
    """.split()
)
"""The 27 values of License Manager's ``EntitlementUnit``."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})
NUMBER = re.compile(r" *([0-9]+(?:\.[0-9]+)?) *", re.ASCII)
"""An entitlement number: ASCII digits with an optional ``.`` fraction, optionally surrounded by
ASCII spaces. No sign, exponent, ``_``, other digits or other spaces."""


_new = object.__new__


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of a frozen attrs class, for building it without attrs' ``__init__``.

    attrs' frozen ``__init__`` pays an ``object.__setattr__`` per field; the verify hot path
    builds its values (already checked by their ``from_*`` constructor) with ``_new(cls)``
    and these setters instead. The result is the same frozen, equal instance. Refused at
    import unless ``names`` are all the fields, in order, and none has a validator or converter
    that the shortcut would skip.
    """
    fields = attrs.fields(cls)
    if names != tuple(f.name for f in fields) or any(
            f.validator is not None or f.converter is not None for f in fields):
        raise TypeError(f"{cls.__name__}: fast construction needs every field, unchecked")
    return tuple(getattr(cls, name).__set__ for name in names)


@attrs.frozen(kw_only=True)
class Entitlement:
    """One granted entitlement, as the signed ``entitlementsAllowed`` carries it.

    Attributes:
        name: the entitlement's name, e.g. ``"Users"``.
        unit: its ``EntitlementUnit`` (``"Count"``, ``"None"``, ``"Seconds"``, …); an unknown
            unit is kept, see ``known_unit``.
        value: the value exactly as the token carries it (a string), or ``None``.
    """

    name: str
    unit: str
    value: str | None = None

    @property
    def known_unit(self) -> bool:
        """Whether ``unit`` is one of License Manager's 27 ``EntitlementUnit`` values."""
        return self.unit in ENTITLEMENT_UNITS

    @property
    def number(self) -> Decimal | None:
        """The value as a number, or ``None`` when it is not one (see ``NUMBER``)."""
        value = self.value
        if value is not None and value.isdigit() and value.isascii():  # the usual "10"
            return Decimal(value)
        match = None if value is None else NUMBER.fullmatch(value)
        return None if match is None else Decimal(match[1])

    @classmethod
    def from_claim(cls, obj: object, index: int) -> Entitlement:
        """Build from member ``index`` of the signed ``entitlementsAllowed`` list.

        Args:
            obj: the decoded JSON member.
            index: its position, used only to name it in error messages.

        Returns:
            The entitlement.

        Raises:
            Malformed: ``obj`` is not an object with string ``name`` and ``unit`` (and a
                string or absent ``value``).
        """
        entitlement = _entitlement(obj, index)
        if cls is Entitlement:
            return entitlement
        return cls(name=entitlement.name, unit=entitlement.unit, value=entitlement.value)


_set_name, _set_unit, _set_value = slot_setters(Entitlement, "name", "unit", "value")


def _entitlement(obj: object, index: int) -> Entitlement:
    """The one entitlement builder: member ``index`` of the signed ``entitlementsAllowed``."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise Malformed(f"claims entitlementsAllowed[{index}]: not an object")
    name, unit, value = obj.get("name"), obj.get("unit"), obj.get("value")
    if type(name) is not str or type(unit) is not str or not (
            value is None or type(value) is str):
        raise Malformed(f"claims entitlementsAllowed[{index}]: 'name' and 'unit' must be "
                        "strings, 'value' a string")
    entitlement = _new(Entitlement)  # every field checked just above: see slot_setters
    _set_name(entitlement, name)
    _set_unit(entitlement, unit)
    _set_value(entitlement, value)
    return entitlement


def _optional_string(payload: Mapping[str, Any], claim: str) -> str | None:
    value = payload.get(claim)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"claims: {claim!r} must be a string")
    return value


def entitlement_named(granted: Iterable[Entitlement], name: str, unit: str | None = None,
                      *, chosen: Iterable[Entitlement] = ()) -> Entitlement:
    """The one rule that reads an entitlement by name, for every result type.

    The one ``chosen`` entitlement (a requirement picked it) that matches, else the only
    granted entitlement that matches; several different ones are never guessed between.

    Args:
        granted: the entitlements granted, in token order.
        name: the entitlement's name, e.g. ``"Users"``.
        unit: its unit, e.g. ``"Count"``; any unit when ``None``.
        chosen: the entitlements a policy's requirements chose.

    Returns:
        The entitlement.

    Raises:
        EntitlementMissing: no entitlement matches.
        EntitlementAmbiguous: several differ and none was chosen.
    """
    def fits(entitlement: Entitlement) -> bool:
        return entitlement.name == name and (unit is None or entitlement.unit == unit)

    picked = list(dict.fromkeys(e for e in chosen if fits(e)))
    if len(picked) == 1:
        return picked[0]
    matches = list(dict.fromkeys(e for e in granted if fits(e)))
    if len(matches) == 1:
        return matches[0]
    wanted = name if unit is None else f"{name}:{unit}"
    if not matches:
        raise EntitlementMissing(f"no entitlement {wanted}")
    raise EntitlementAmbiguous(
        f"the token grants {len(matches)} entitlements {wanted}: require one "
        "(Requirement with a unit or a minimum) or read claims.entitlements_allowed")


def entitlements_by_name(granted: Iterable[Entitlement], *,
                         chosen: Iterable[Entitlement] = ()) -> Mapping[str, Entitlement]:
    """Entitlements by name, as ``entitlement_named()`` resolves a name alone.

    A name granted several times (differently) is left out unless one of them was chosen:
    the map never guesses which of several is meant.

    Args:
        granted: the entitlements granted, in token order.
        chosen: the entitlements a policy's requirements chose.

    Returns:
        A read-only map.
    """
    granted, chosen = tuple(granted), tuple(chosen)
    by_name: dict[str, Entitlement] = {}
    for name in dict.fromkeys(e.name for e in granted):
        try:
            by_name[name] = entitlement_named(granted, name, chosen=chosen)
        except EntitlementAmbiguous:
            continue
    return MappingProxyType(by_name)


def parse_metadata(value: object) -> Mapping[str, str]:
    """Checkout metadata as a read-only map, from a map or a list of name/value pairs.

    Args:
        value: a JSON object, a list of ``{"name"|"Name": …, "value"|"Value": …}``, or ``None``.

    Returns:
        The metadata by name (empty for ``None``).

    Raises:
        Malformed: another shape, a non-string name or value, or a duplicate name.
    """
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


_NONE: tuple[Any, ...] = ()  # no entitlementsAllowed claim


def _extra_claims(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = payload.keys() - _KNOWN
    return MappingProxyType({k: payload[k] for k in unknown}) if unknown else _EMPTY


_KNOWN = frozenset(
    {"licenseArn", "licenseConsumptionToken", "entitlementsAllowed", "nodeId", "issuedAt",
     "expiration", "checkoutMetadata"}
)


@attrs.frozen(kw_only=True)
class LicenseClaims:
    """The signed claims of a checkout token; every claim not modelled is kept in ``extra``.

    Attributes:
        license_arn: ``licenseArn``, the license checked out.
        issued_at: ``issuedAt`` as an aware UTC ``datetime`` (zone-less times read as UTC).
        expiration: ``expiration``, likewise.
        consumption_token: ``licenseConsumptionToken`` (for extend and check-in), if any.
        entitlements_allowed: ``entitlementsAllowed``, in token order (names may repeat;
            results read them by name: ``VerifiedLicense.entitlements``).
        node_id: ``nodeId``, the node the checkout is bound to, if any.
        checkout_metadata: ``checkoutMetadata`` as a read-only map.
        extra: every other claim, as decoded (read-only).
    """

    license_arn: str
    issued_at: datetime
    expiration: datetime
    consumption_token: str | None = attrs.field(default=None, repr=token_repr)
    entitlements_allowed: tuple[Entitlement, ...] = ()
    node_id: str | None = None
    checkout_metadata: Mapping[str, str] = _EMPTY
    extra: Mapping[str, Any] = _EMPTY

    @classmethod
    def _from_payload(cls, payload: Mapping[str, Any]) -> LicenseClaims:
        """Build from the decoded JSON payload of a token.

        Args:
            payload: the payload object.

        Returns:
            The claims.

        Raises:
            Malformed: a required claim is missing, a claim has the wrong type, a time is
                not ISO-8601, or ``expiration`` is before ``issuedAt``.
        """
        entitlements = payload.get("entitlementsAllowed", _NONE)
        if not isinstance(entitlements, (list, tuple)):
            raise Malformed("claims: 'entitlementsAllowed' must be a list")
        issued_at = parse_time(payload.get("issuedAt"), "claims 'issuedAt'")
        expiration = parse_time(payload.get("expiration"), "claims 'expiration'")
        if expiration < issued_at:
            raise Malformed("claims: 'expiration' is before 'issuedAt'")
        license_arn = payload.get("licenseArn")
        if not isinstance(license_arn, str):
            raise Malformed("claims: 'licenseArn' must be a string")
        consumption_token = _optional_string(payload, "licenseConsumptionToken")
        granted = tuple([_entitlement(entry, i) for i, entry in enumerate(entitlements)])
        node_id = _optional_string(payload, "nodeId")
        raw_metadata = payload.get("checkoutMetadata")
        metadata = _EMPTY if raw_metadata is None else parse_metadata(raw_metadata)
        # Known claims present: the three required ones and each optional one found. When
        # they are all the payload holds there is nothing else; otherwise compute exactly.
        known = 3 + (entitlements is not _NONE) + (consumption_token is not None) + (
            node_id is not None) + (raw_metadata is not None)
        extra = _EMPTY if len(payload) == known else _extra_claims(payload)
        if cls is not LicenseClaims:  # a subclass may add fields: its own __init__ builds it
            return cls(license_arn=license_arn, issued_at=issued_at, expiration=expiration,
                       consumption_token=consumption_token, entitlements_allowed=granted,
                       node_id=node_id, checkout_metadata=metadata, extra=extra)
        claims = _new(cls)
        _set_license_arn(claims, license_arn)
        _set_issued_at(claims, issued_at)
        _set_expiration(claims, expiration)
        _set_consumption_token(claims, consumption_token)
        _set_entitlements_allowed(claims, granted)
        _set_node_id(claims, node_id)
        _set_checkout_metadata(claims, metadata)
        _set_extra(claims, extra)
        return claims

    def to_json(self) -> dict[str, Any]:
        """The claims in their token spelling, ready for ``json.dumps``.

        Returns:
            A new dict; times are UTC ISO-8601 with ``Z``, absent optional claims omitted.
        """
        doc: dict[str, Any] = dict(self.extra)
        doc.update(
            licenseArn=self.license_arn,
            entitlementsAllowed=[
                {"name": e.name, "unit": e.unit}
                | ({} if e.value is None else {"value": e.value})
                for e in self.entitlements_allowed
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


(_set_license_arn, _set_issued_at, _set_expiration, _set_consumption_token,
 _set_entitlements_allowed, _set_node_id, _set_checkout_metadata, _set_extra) = slot_setters(
    LicenseClaims, "license_arn", "issued_at", "expiration", "consumption_token",
    "entitlements_allowed", "node_id", "checkout_metadata", "extra")
