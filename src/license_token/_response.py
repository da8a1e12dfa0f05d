"""Reading checkout responses and checking their unsigned fields against the signed claims.

Fast paths, each beside its full check; ``tests/test_fast_paths.py`` holds each pair equal:

- ``read_response``: a plain ``dict``, for the general ``Mapping`` path
  (``test_the_dict_shortcut_agrees_with_the_mapping_path``).
- ``_copies_payload``: the unsigned fields compared with the signed payload as raw JSON
  values, for ``compare_fully`` (``test_raw_json_comparison_agrees_with_the_full_comparison``,
  ``test_raw_json_comparison_agrees_for_each_field``,
  ``test_the_raw_json_comparison_accepts_an_untouched_response``).
- ``_same_entitlements``: the entries compared in order, for the multiset comparison
  (``test_compare_fully_agrees_with_a_comparison_without_shortcuts``,
  ``test_compare_fully_agrees_on_the_entitlements_alone``; a decoy member spelled otherwise
  never stands in for the real one: the decoy examples of ``tests/test_response.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

from ._claims import LicenseClaims, parse_metadata
from ._clock import format_time, parse_time
from ._errors import ConfigurationError, Malformed, ResponseMismatch
from ._jws import MAX_TOKEN_LENGTH, loads_strict

__all__ = ["MAX_RESPONSE_LENGTH", "CheckoutResponse", "check_consistency", "read_response",
           "wire_form"]

MAX_RESPONSE_LENGTH = 4 * MAX_TOKEN_LENGTH
"""Largest response document accepted (JSON text or bytes), checked before parsing."""

Source = Mapping[str, Any] | str | bytes
_new_tuple = tuple.__new__
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})  # around a bare token
_JSON_SPACE = " \t\n\r"
"""JSON's whitespace (RFC 8259 §2); ``str.strip()`` would also drop ``\x1c``, NBSP, …."""
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class CheckoutResponse(NamedTuple):
    """A token and the unsigned fields that came around it (empty for a bare token)."""

    token: str
    unsigned: Mapping[str, Any]


def read_response(source: Source) -> CheckoutResponse:
    """Accept a boto3 response dict, its JSON text/bytes (API body, AWS CLI), or a bare token."""
    if type(source) is dict:  # the common case first
        token = source.get("SignedToken")
        if type(token) is str:
            return _new_tuple(CheckoutResponse, (token, source))  # hot path: no Python __new__
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = bytes(source)
        if len(source) > MAX_RESPONSE_LENGTH:
            raise Malformed(f"input larger than {MAX_RESPONSE_LENGTH} bytes")
        source = _decode(source)
    if isinstance(source, str):
        if len(source) > MAX_RESPONSE_LENGTH:
            raise Malformed(f"input longer than {MAX_RESPONSE_LENGTH} characters")
        text = source.strip(_JSON_SPACE)
        if not text:
            raise Malformed("input is empty")
        if not text.startswith("{"):
            return _new_tuple(CheckoutResponse, (text, _NO_FIELDS))  # a bare token
        source = loads_strict(text, "response")
    if type(source) is not dict and not isinstance(source, Mapping):
        raise Malformed(f"a response must be a mapping, text or bytes, not {type(source).__name__}")
    token = source.get("SignedToken")
    if token is None:
        raise Malformed("response has no 'SignedToken'")
    if not isinstance(token, str):
        raise Malformed("response 'SignedToken' is not a string")
    return CheckoutResponse(token=token, unsigned=source)


def _decode(data: bytes) -> str:
    """UTF-8 text, or UTF-8 / UTF-16 text behind a byte order mark (as Windows tools write)."""
    try:
        if data[:2] in _UTF16_BOMS:
            return data.decode("utf-16")  # the BOM picks the byte order and is dropped
        return data.decode("utf-8-sig" if data[:3] == b"\xef\xbb\xbf" else "utf-8")
    except UnicodeDecodeError:
        raise Malformed("input is not UTF-8 or UTF-16 (with BOM) text") from None


def _as_instant(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return parse_time(value, f"response {what!r}")


def _fields(obj: object, names: tuple[str, ...], what: str) -> tuple[str | None, ...]:
    if not isinstance(obj, Mapping):
        raise Malformed(f"response {what!r} must hold objects")
    values = tuple(obj.get(name) for name in names)
    if not all(v is None or isinstance(v, str) for v in values):
        raise Malformed(f"response {what!r} members must be strings")
    return values


def _entitlement_bag(value: object) -> Counter[tuple[str | None, ...]]:
    if not isinstance(value, list):
        raise Malformed("response 'EntitlementsAllowed' must be a list")
    return Counter(_fields(e, ("Name", "Unit", "Value"), "EntitlementsAllowed") for e in value)


def _same_entitlements(outside: object, claims: LicenseClaims) -> bool:
    """Equal as unordered collections; the same order is checked first, cheaply."""
    signed = [(e.name, e.unit, e.value) for e in claims.entitlements_allowed]
    if isinstance(outside, list) and len(outside) == len(signed):
        try:
            if [(e["Name"], e["Unit"], e.get("Value")) for e in outside] == signed:
                return True
        except (KeyError, TypeError, AttributeError):
            pass
    return _entitlement_bag(outside) == Counter(signed)


def _same_instant(outside: object, signed_text: object, signed: datetime, what: str) -> bool:
    """Whether the unsigned time is its signed twin, compared as instants to the second.

    The response's ``ISO8601DateTime`` (whose model pattern requires a zone) may carry a
    fraction that the zone-less, whole-second token does not: within the same second, it is
    the same time. Decisions still use the signed claim alone.
    """
    if outside == signed_text:  # the usual case: the service copied the same string
        return True
    # ``signed`` is UTC; the difference of aware datetimes is exact whatever the other's zone
    return _NO_TIME <= _as_instant(outside, what) - signed.replace(microsecond=0) < _ONE_SECOND


_NO_TIME, _ONE_SECOND = timedelta(0), timedelta(seconds=1)


_UNSIGNED_COPIES = itemgetter("LicenseArn", "NodeId", "LicenseConsumptionToken", "IssuedAt",
                              "Expiration")
"""The unsigned response fields that copy a signed claim, and those claims, in one order."""
_SIGNED_ORIGINALS = itemgetter("licenseArn", "nodeId", "licenseConsumptionToken", "issuedAt",
                               "expiration")


def _copies_payload(unsigned: Mapping[str, Any], claims: LicenseClaims,
                    payload: Mapping[str, Any]) -> bool:
    """Whether the unsigned fields are, all present, the signed claims' raw JSON values.

    The usual response, decided without parsing anything. ``False`` only means "not shown
    equal here" (a field or member missing, another type, another spelling): the full
    comparison then decides, with its exact errors.
    """
    try:
        if _UNSIGNED_COPIES(unsigned) != _SIGNED_ORIGINALS(payload):
            return False
        if "EntitlementsAllowed" in unsigned:
            outside, signed = unsigned["EntitlementsAllowed"], payload["entitlementsAllowed"]
            if type(outside) is not list or len(outside) != len(signed):
                return False
            for theirs, ours in zip(outside, signed, strict=True):  # lengths checked above
                if theirs["Name"] != ours["name"] or theirs["Unit"] != ours["unit"] or (
                        theirs["Value"] != ours["value"]):
                    return False
    except (KeyError, TypeError):
        return False
    if "CheckoutMetadata" in unsigned:  # the API's list of {Name, Value}, the token's map
        outside = unsigned["CheckoutMetadata"]
        try:
            if outside != payload.get("checkoutMetadata") and parse_metadata(
                    outside) != claims.checkout_metadata:
                return False
        except Malformed:
            return False
    return True


def check_consistency(unsigned: Mapping[str, Any], claims: LicenseClaims,
                      payload: Mapping[str, Any]) -> None:
    """Every unsigned field present must equal its signed twin, else ``ResponseMismatch``.

    ``payload`` is the decoded JSON ``claims`` was built from: raw values equal to the
    unsigned ones settle the usual case without parsing; anything else is compared fully.
    """
    if unsigned and not _copies_payload(unsigned, claims, payload):
        compare_fully(unsigned, claims, payload)


def compare_fully(unsigned: Mapping[str, Any], claims: LicenseClaims,
                  raw: Mapping[str, Any]) -> None:
    """The full comparison behind ``check_consistency``, with its exact errors."""
    mismatched = [
        field for field, signed in (("LicenseArn", claims.license_arn),
                                    ("NodeId", claims.node_id),
                                    ("LicenseConsumptionToken", claims.consumption_token))
        if field in unsigned and unsigned[field] != signed
    ]
    if "IssuedAt" in unsigned and not _same_instant(
            unsigned["IssuedAt"], raw.get("issuedAt"), claims.issued_at, "IssuedAt"):
        mismatched.append("IssuedAt")
    if "Expiration" in unsigned and not _same_instant(
            unsigned["Expiration"], raw.get("expiration"), claims.expiration, "Expiration"):
        mismatched.append("Expiration")
    if "EntitlementsAllowed" in unsigned and not _same_entitlements(
            unsigned["EntitlementsAllowed"], claims):
        mismatched.append("EntitlementsAllowed")
    if "CheckoutMetadata" in unsigned and parse_metadata(unsigned["CheckoutMetadata"]) != (
            claims.checkout_metadata):
        mismatched.append("CheckoutMetadata")
    if mismatched:
        raise ResponseMismatch(
            f"unsigned {', '.join(mismatched)} does not match the signed token: "
            "the response was altered")


def wire_form(value: object) -> Any:
    """``value`` JSON-ready as the service sends it: a ``datetime`` in the model's
    ``ISO8601DateTime`` form, UTC with ``Z`` (a naive one is taken as UTC).

    Raises:
        ConfigurationError: a value JSON cannot hold.
    """
    if isinstance(value, datetime):
        return format_time(value if value.utcoffset() is not None
                           else value.replace(tzinfo=timezone.utc))
    if isinstance(value, Mapping):
        return {str(k): wire_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_form(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ConfigurationError(f"a response value of type {type(value).__name__} is not JSON")
