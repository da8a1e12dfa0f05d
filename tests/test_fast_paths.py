"""Differential properties: every fast path of the verify hot path agrees with its full check.

Agreeing means the same result, or the same error code and message. Each reference below
is the straightforward check the fast path stands in for.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_token import (
    Entitlement,
    LicenseClaims,
    LicenseTokenError,
    Malformed,
    TrustStore,
    Verifier,
)
from license_token._claims import NUMBER, parse_time, slot_setters
from license_token._jws import (
    _DECODER,
    MAX_JSON_DEPTH,
    _decode,
    _depth_exceeds,
    _has_lone_surrogate,
    b64url_decode,
    loads_strict,
    verify_ps384,
)
from license_token._response import _copies_payload, check_consistency, compare_fully
from license_token.testing import TokenFactory, response_for

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", value)`` or ``("error", (code, message))`` for a library error."""
    try:
        return "ok", call()
    except LicenseTokenError as exc:
        return "error", (exc.code, str(exc))


# --- base64url: one translate + tail-bit rule vs the regex-and-stdlib spelling ---------------

_ZERO_TAIL = {2: b"AQgw", 3: b"AEIMQUYcgkosw048"}


def _b64url_reference(segment: bytes, what: str) -> bytes:
    from license_token import Malformed

    rest = len(segment) % 4
    if rest == 1:
        raise Malformed(f"{what}: impossible base64url length")
    if rest in _ZERO_TAIL and segment[-1] not in _ZERO_TAIL[rest]:
        raise Malformed(f"{what}: non-canonical base64url (unused bits set)")
    if re.fullmatch(rb"[A-Za-z0-9_-]*", segment) is None:
        raise Malformed(f"{what}: characters outside unpadded base64url")
    decoded = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    assert base64.urlsafe_b64encode(decoded).rstrip(b"=") == segment  # canonical
    return decoded


_B64_BYTES = st.sampled_from(list(b"AQgwEIMUYcko048-_+/=. \n\x00\xff") + list(range(256)))
_SEGMENTS = st.one_of(
    st.binary(max_size=40).map(lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=")),
    st.lists(_B64_BYTES, max_size=40).map(bytes),
    st.tuples(st.binary(max_size=30), _B64_BYTES, st.integers(0, 60)).map(
        lambda t: (lambda s: s[: t[2]] + bytes([t[1]]) + s[t[2] + 1:])(
            base64.urlsafe_b64encode(t[0]).rstrip(b"="))),
)


@SETTINGS
@given(_SEGMENTS)
def test_base64url_decode_agrees_with_the_reference(segment: bytes) -> None:
    assert _outcome(lambda: b64url_decode(segment, "payload")) == _outcome(
        lambda: _b64url_reference(segment, "payload"))


# --- JSON: the scanner called directly vs JSONDecoder.decode -----------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                  max_size=3),
    max_leaves=8,
)
_AROUND = st.sampled_from(["", " ", "\n", "\t ", "x", "}", "]", ",", " 1", "{}", "NaN"])
_JSON_TEXTS = st.one_of(
    st.tuples(_AROUND, _JSON_VALUES, _AROUND).map(
        lambda t: t[0] + json.dumps(t[1], separators=(",", ":")) + t[2]),
    st.text(alphabet='{}[]":,0123456789.eE+-truefalsnNIinfaNy \n\\u', max_size=30),
    st.sampled_from(['{"a":1,"a":2}', '{"a":NaN}', '{"a":-Infinity}', " {} ", "{}\n",
                     '{"a":[' * 20 + "]" * 20 + "}", "", "\ufeff{}", '{"a":1}x']),
)


def _json_outcome(decode: Callable[[str], Any], text: str) -> tuple[str, Any]:
    try:
        return "ok", decode(text)
    except LicenseTokenError as exc:
        return "error", (exc.code, str(exc))
    except (ValueError, RecursionError) as exc:
        return "error", (type(exc).__name__, str(exc))


@SETTINGS
@given(_JSON_TEXTS)
def test_scanning_directly_agrees_with_decode(text: str) -> None:
    fast, full = _json_outcome(_decode, text), _json_outcome(_DECODER.decode, text)
    assert fast == full or (fast[0] == full[0] == "ok" and json.dumps(fast[1]) == json.dumps(
        full[1]))  # NaN-free floats compare equal; -0.0/0.0 and such via their spelling


# --- JSON: one translate keeps the bytes the surrogate and depth checks need -----------------

_ESCAPABLE = st.text(alphabet=st.sampled_from(["a", "\ud800", "\udfff", "\U0001f600", "\"", "\\",
                                               "{", "[", "\n", "\u00e9"]), max_size=4)


def _nest(depth: int, in_lists: bool) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value] if in_lists else {"k": value}
    return value


_DEEP = st.builds(_nest, st.integers(12, 18), st.booleans())  # around MAX_JSON_DEPTH
_NESTED = st.recursive(
    st.none() | st.integers() | _ESCAPABLE | _DEEP,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_ESCAPABLE, inner, max_size=2),
    max_leaves=24,
)


@SETTINGS
@given(st.dictionaries(_ESCAPABLE, _NESTED, max_size=3), st.booleans(), st.booleans())
def test_the_one_pass_prefilter_agrees_with_the_full_checks(
        value: dict[str, Any], ascii_only: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    data = text.encode("utf-8", "surrogatepass") if as_bytes else text
    decoded = _DECODER.decode(text)  # escaped surrogates next to each other form a pair
    if not ascii_only and _has_lone_surrogate(value):  # written raw: no UTF-8 text holds it
        expected = "not valid UTF-8"
    elif _has_lone_surrogate(decoded):
        expected = "a JSON string holds a lone surrogate"
    elif _depth_exceeds(decoded, MAX_JSON_DEPTH):
        expected = f"JSON nested deeper than {MAX_JSON_DEPTH}"
    else:
        assert loads_strict(data, "x") == decoded
        return
    with pytest.raises(Malformed, match=re.escape(expected)):
        loads_strict(data, "x")


# --- times: "+00:00" appended before fromisoformat vs .replace(tzinfo=utc) after --------------


def _time_reference(text: object, what: str) -> datetime:
    from license_token import Malformed

    if not isinstance(text, str):
        raise Malformed(f"{what}: a time must be an ISO-8601 string")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?"
                    r"(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?", text, re.ASCII) is None:
        raise Malformed(f"{what}: {text[:40]!r} is not an ISO-8601 date-time")
    base = re.sub(r"\.(\d{1,9})", lambda m: "." + m.group(1)[:6].ljust(6, "0"), text)
    try:
        moment = datetime.fromisoformat(base.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Malformed(f"{what}: {text!r} is not a real date-time") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise Malformed(f"{what}: {text!r} cannot be represented in UTC") from None


_MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
_ZONES = st.sampled_from(["", "Z", "+00:00", "-05:30", "+23:59", "+24:00", "+05", "z", " "])


def _one_char_changed(moment: datetime, index: int, char: str) -> str:
    text = moment.isoformat(timespec="seconds")
    return text[:index] + char + text[index + 1:]


_TIMES = st.one_of(
    st.builds(_one_char_changed, _MOMENTS, st.integers(0, 18),
              st.sampled_from(list("0123456789+- :Ta\u0663\uff11.Z\x00"))),
    st.tuples(_MOMENTS, st.sampled_from(["seconds", "milliseconds", "microseconds"]),
              _ZONES).map(lambda t: t[0].isoformat(timespec=t[1]) + t[2]),
    st.text(alphabet="0123456789-:T.Z+ ", max_size=30),
    st.sampled_from(["2021-02-30T00:00:00", "2021-04-13T24:00:00", "2021-04-13T05:35:47.1234567",
                     "2021-04-13 05:35:47", "0000-01-01T00:00:00", 20210413]),
)


@SETTINGS
@given(_TIMES)
def test_time_parsing_agrees_with_the_reference(text: object) -> None:
    fast = _outcome(lambda: parse_time(text, "claims 'issuedAt'"))
    full = _outcome(lambda: _time_reference(text, "claims 'issuedAt'"))
    assert fast == full
    if fast[0] == "ok":  # equal instants, and the same zone
        assert fast[1].utcoffset() == full[1].utcoffset()


# --- values built without attrs' __init__ vs built by it ---------------------------------------


@attrs.frozen(kw_only=True)
class _FullClaims(LicenseClaims):
    """A subclass: ``from_payload`` builds it with attrs' own ``__init__``."""


@attrs.frozen(kw_only=True)
class _FullEntitlement(Entitlement):
    """A subclass: ``from_claim`` builds it with attrs' own ``__init__``."""


def _attrs_rebuilt(value: Any, cls: type) -> Any:
    return cls(**{f.name: getattr(value, f.name) for f in attrs.fields(type(value))})


_STRINGS = st.one_of(st.text(max_size=6), st.none(), st.integers(),
                     st.lists(st.text(max_size=2), max_size=1))
_VALID_ENTRY = st.fixed_dictionaries(
    {"name": st.text(max_size=6), "unit": st.sampled_from(["Count", "None"])},
    optional={"value": st.one_of(st.text(max_size=4), st.none())})
_ENTRY_CLAIM = st.one_of(
    _VALID_ENTRY,
    st.fixed_dictionaries({"name": _STRINGS, "unit": st.sampled_from(["Count", "None", 3])},
                          optional={"value": _STRINGS}),
    st.integers(), st.lists(st.none(), max_size=1))
_PAYLOADS = st.fixed_dictionaries(
    {  # usually valid, so that building (not only refusing) is compared
        "licenseArn": st.one_of(st.just("arn:aws:license-manager::1:license:l-1"), _STRINGS),
        "issuedAt": st.sampled_from(["2021-04-13T05:35:47"] * 4 + ["2021-04-13T05:35:47Z", "x"]),
        "expiration": st.sampled_from(["2021-04-14T05:35:47"] * 4 + ["2021-04-13T00:00:00Z"]),
    },
    optional={
        "entitlementsAllowed": st.one_of(st.lists(_VALID_ENTRY, max_size=3),
                                         st.lists(_ENTRY_CLAIM, max_size=3), _STRINGS),
        "licenseConsumptionToken": _STRINGS, "nodeId": _STRINGS,
        "checkoutMetadata": st.one_of(st.dictionaries(st.text(max_size=2), _STRINGS, max_size=2),
                                      st.lists(st.fixed_dictionaries(
                                          {"Name": _STRINGS, "Value": _STRINGS}), max_size=2)),
        "extraClaim": _STRINGS, "other": st.none(),
    },
)


_MODELLED = {"licenseArn", "licenseConsumptionToken", "entitlementsAllowed", "nodeId",
             "issuedAt", "expiration", "checkoutMetadata"}


@SETTINGS
@given(_PAYLOADS)
def test_claims_built_directly_equal_claims_built_by_attrs(payload: dict[str, Any]) -> None:
    fast = _outcome(lambda: LicenseClaims.from_payload(payload))
    full = _outcome(lambda: _FullClaims.from_payload(payload))
    entries = payload.get("entitlementsAllowed")
    if isinstance(entries, list):  # entitlements built inline vs one by one by from_claim
        one_by_one = _outcome(lambda: tuple(_attrs_rebuilt(_FullEntitlement.from_claim(e, i),
                                                           Entitlement)
                                            for i, e in enumerate(entries)))
        if fast[0] == "ok":
            assert one_by_one == ("ok", fast[1].entitlements)
        elif fast[1][1].startswith("claims entitlementsAllowed["):
            assert one_by_one == fast
    assert fast[0] == full[0]
    if fast[0] == "error":
        assert fast == full
        return
    claims, reference = fast[1], full[1]
    assert dict(claims.extra) == {k: v for k, v in payload.items() if k not in _MODELLED}
    assert type(claims) is LicenseClaims
    assert claims == _attrs_rebuilt(reference, LicenseClaims)
    assert repr(claims) == repr(reference).replace("_FullClaims(", "LicenseClaims(")
    for entitlement in claims.entitlements:
        assert type(entitlement) is Entitlement
        assert entitlement == _attrs_rebuilt(
            _FullEntitlement.from_claim({"name": entitlement.name, "unit": entitlement.unit,
                                         "value": entitlement.value}, 0), Entitlement)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        claims.license_arn = "other"  # type: ignore[misc]


_MEMBER = st.one_of(st.text(max_size=4), st.none(), st.integers(), st.lists(st.none(), max_size=1))
_ANY_ENTRY = st.one_of(
    st.builds(lambda entry, key, member: entry | {key: member}, _VALID_ENTRY,
              st.sampled_from(["name", "unit", "value"]), _MEMBER),  # one member changed
    st.fixed_dictionaries({}, optional={"name": _MEMBER, "unit": _MEMBER, "value": _MEMBER}),
    _VALID_ENTRY, _MEMBER)
_BASE_PAYLOAD = {"licenseArn": "arn", "issuedAt": "2021-04-13T05:35:47",
                 "expiration": "2021-04-14T05:35:47"}


@SETTINGS
@given(st.lists(_ANY_ENTRY, max_size=3))
def test_entitlements_built_inline_agree_with_from_claim(entries: list[Any]) -> None:
    payload = _BASE_PAYLOAD | {"entitlementsAllowed": entries}
    inline = _outcome(lambda: LicenseClaims.from_payload(payload).entitlements)
    one_by_one = _outcome(lambda: tuple(
        _attrs_rebuilt(_FullEntitlement.from_claim(e, i), Entitlement)
        for i, e in enumerate(entries)))
    assert inline == one_by_one


# --- unsigned fields: the raw-JSON comparison vs the full comparison --------------------------

_FACTORY = TokenFactory(now=datetime(2026, 1, 1, tzinfo=timezone.utc))
_METADATA_CLAIM = {"Mac": "00:11", "Host": "h"}
#: (payload, claims, unsigned response fields): without checkout metadata, and with it
#: (a map in the token, a list of {Name, Value} in the response, as the API sends).
_SIGNED = [
    (payload, LicenseClaims.from_payload(payload),
     {k: v for k, v in response_for("t.t.t", payload).items() if k != "SignedToken"})
    for payload in (_FACTORY.claims(), _FACTORY.claims(checkoutMetadata=_METADATA_CLAIM))
]
_PAYLOAD, _CLAIMS, _RESPONSE = _SIGNED[1]

_ANY = st.one_of(st.none(), st.integers(), st.text(max_size=4), st.lists(st.none(), max_size=1))
_ENTRY = st.fixed_dictionaries({}, optional={
    "Name": st.sampled_from(["Users", "ProFeature", None, 1]),
    "Unit": st.sampled_from(["Count", "None", "Seconds"]),
    "Value": st.sampled_from(["10", "Enabled", None, "010", 10]),
})


def _altered(index: int, key: str, value: Any) -> list[Any]:
    """The response's entitlements with one member of one entry changed (``...``: removed)."""
    entries: list[Any] = [dict(e) for e in _RESPONSE["EntitlementsAllowed"]]
    if value is ...:
        entries[index].pop(key, None)
    elif key == "*":
        entries[index] = value
    else:
        entries[index][key] = value
    return entries


_OUTSIDE_ENTITLEMENTS = st.one_of(
    st.builds(_altered, st.integers(0, 1), st.sampled_from(["Name", "Unit", "Value", "*"]),
              st.one_of(st.just(...), _ENTRY.flatmap(lambda e: st.sampled_from(
                  [*e.values(), e])), _ANY)),
    st.permutations(_RESPONSE["EntitlementsAllowed"]),
    st.permutations(_RESPONSE["EntitlementsAllowed"]).map(tuple),  # not a list: refused
    st.lists(st.one_of(_ENTRY, st.sampled_from(_RESPONSE["EntitlementsAllowed"]), _ANY),
             max_size=3),
    _ANY,
)
_INSTANTS = st.sampled_from([_PAYLOAD["issuedAt"], _PAYLOAD["expiration"],
                             _PAYLOAD["issuedAt"] + "Z", _PAYLOAD["issuedAt"] + ".000",
                             _PAYLOAD["issuedAt"] + "+01:00", _PAYLOAD["expiration"] + "Z",
                             _PAYLOAD["expiration"].replace("T", " "),
                             _CLAIMS.issued_at, _CLAIMS.issued_at.replace(tzinfo=None),
                             _CLAIMS.expiration, datetime(2025, 12, 31, 23)])
_METADATA = st.one_of(
    st.sampled_from([[{"Name": "Mac", "Value": "00:11"}, {"Name": "Host", "Value": "h"}],
                     [{"name": "Host", "value": "h"}, {"name": "Mac", "value": "00:11"}],
                     {"Mac": "00:11", "Host": "h"}, {"Mac": "00:11"},
                     [{"Name": "Mac", "Value": "00:11"}] * 2, [1], {"Mac": 1}]),
    _ANY)
_FIELD_CHANGES = {
    "LicenseArn": st.one_of(st.just(_PAYLOAD["licenseArn"]), _ANY),
    "NodeId": st.one_of(st.just(_PAYLOAD["nodeId"]), _ANY),
    "LicenseConsumptionToken": st.one_of(st.just(_PAYLOAD["licenseConsumptionToken"]), _ANY),
    "IssuedAt": st.one_of(_INSTANTS, _ANY),
    "Expiration": st.one_of(_INSTANTS, _ANY),
    "EntitlementsAllowed": _OUTSIDE_ENTITLEMENTS,
    "CheckoutMetadata": _METADATA,
}
_FIELDS = st.sampled_from(sorted(_FIELD_CHANGES))
#: One or two fields changed: more change hides a fast path's error behind another mismatch.
_CHANGES = st.lists(_FIELDS, unique=True, max_size=2).flatmap(
    lambda names: st.fixed_dictionaries({name: _FIELD_CHANGES[name] for name in names}))


@SETTINGS
@given(st.sampled_from(_SIGNED), _CHANGES, st.sets(_FIELDS, max_size=2))
def test_raw_json_comparison_agrees_with_the_full_comparison(
        signed: tuple[dict[str, Any], LicenseClaims, dict[str, Any]], changes: dict[str, Any],
        dropped: set[str]) -> None:
    payload, claims, response = signed
    unsigned = {k: v for k, v in response.items() if k not in dropped} | changes
    fast = _outcome(lambda: check_consistency(unsigned, claims, payload))
    full = _outcome(lambda: compare_fully(unsigned, claims, payload))
    assert fast == full


@pytest.mark.parametrize("field", sorted(_FIELD_CHANGES))
@SETTINGS
@given(data=st.data())
def test_raw_json_comparison_agrees_for_each_field(field: str, data: st.DataObject) -> None:
    payload, claims, response = data.draw(st.sampled_from(_SIGNED))
    unsigned = response | {field: data.draw(_FIELD_CHANGES[field])}
    fast = _outcome(lambda: check_consistency(unsigned, claims, payload))
    full = _outcome(lambda: compare_fully(unsigned, claims, payload))
    assert fast == full


@pytest.mark.parametrize("signed", _SIGNED, ids=["no metadata", "metadata"])
def test_the_raw_json_comparison_accepts_an_untouched_response(
        signed: tuple[dict[str, Any], LicenseClaims, dict[str, Any]]) -> None:
    payload, claims, response = signed
    assert _copies_payload(response, claims, payload) is True


# --- the last verifying key kept with its signature length vs trying every key ----------------

_SIGNERS = [TokenFactory(), TokenFactory.with_key_size(3072), TokenFactory(kid="k1"),
            TokenFactory()]  # the last is not pinned
_PINNED = TrustStore.from_public_keys(*(f.private_key.public_key() for f in _SIGNERS[:2]))
_TOKENS = [f.token() for f in _SIGNERS] + [_SIGNERS[0].token()[:-4] + "AAAA"]


def _key_by_trying_all(token: str) -> tuple[str, Any]:
    head, payload, signature = token.encode().split(b".")
    raw = base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4))
    for key in _PINNED.keys:
        if verify_ps384(key.public_key, head + b"." + payload, raw):
            return "ok", key
    return "error", "bad_signature"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(_TOKENS) - 1), min_size=1, max_size=8))
def test_the_kept_key_agrees_with_trying_every_key(order: list[int]) -> None:
    verifier = Verifier(_PINNED)
    for index in order:
        fast = _outcome(lambda: verifier.verify(_TOKENS[index]).key)  # noqa: B023
        full = _key_by_trying_all(_TOKENS[index])
        assert fast[0] == full[0]
        if fast[0] == "ok":
            assert fast[1] is full[1]
        else:
            assert fast[1][0] == full[1]


def test_direct_construction_is_refused_for_a_class_it_would_not_build_faithfully() -> None:
    @attrs.frozen
    class Checked:
        name: str = attrs.field(validator=attrs.validators.instance_of(str))

    @attrs.frozen
    class Two:
        first: str
        second: str

    with pytest.raises(TypeError, match="Checked: fast construction needs every field"):
        slot_setters(Checked, "name")  # the validator would be skipped
    with pytest.raises(TypeError, match="Two: fast construction needs every field"):
        slot_setters(Two, "first")  # "second" would be left unset
    with pytest.raises(TypeError, match="Two: fast construction needs every field"):
        slot_setters(Two, "second", "first")


# --- entitlement numbers: plain ASCII digits vs the NUMBER grammar ------------------------------


@SETTINGS
@given(st.one_of(st.text(alphabet="0123456789 .+-_eE\u0663\uff11\u00b2", max_size=8),
                 st.text(max_size=4), st.none()))
def test_number_fast_path_agrees_with_the_grammar(value: str | None) -> None:
    match = None if value is None else NUMBER.fullmatch(value)
    reference = None if match is None else Decimal(match[1])
    number = Entitlement(name="n", unit="Count", value=value).number
    assert repr(number) == repr(reference)
