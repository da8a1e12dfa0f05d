"""Differential properties: every fast path of the verify hot path agrees with its full check.

Agreeing means the same result, or the same error code and message. Each reference below
is the straightforward check the fast path stands in for.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_token import (
    Entitlement,
    EntitlementInsufficient,
    EntitlementMissing,
    Expired,
    LicenseClaims,
    LicenseMismatch,
    LicenseTokenError,
    Malformed,
    NodeMismatch,
    NotYetValid,
    PinnedKey,
    Policy,
    Requirement,
    ResponseMismatch,
    TrustStore,
    VerifiedLicense,
    Verifier,
)
from license_token._claims import NUMBER, parse_metadata, slot_setters
from license_token._clock import format_time, parse_time, utc_now
from license_token._jws import (
    _DECODER,
    _HEADERS,
    _MAX_CACHED_HEADERS,
    MAX_JSON_DEPTH,
    CompactJWS,
    _decode,
    _depth_exceeds,
    _has_lone_surrogate,
    b64url_decode,
    loads_strict,
    parse_compact,
    verify_ps384,
)
from license_token._response import (
    CheckoutResponse,
    _copies_payload,
    check_consistency,
    compare_fully,
    read_response,
)
from license_token.testing import DEFAULT_ARN, TokenFactory, response_for
from license_token.testing._factory import aws_time

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
    """A subclass: ``_from_payload`` builds it with attrs' own ``__init__``."""


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
    fast = _outcome(lambda: LicenseClaims._from_payload(payload))
    full = _outcome(lambda: _FullClaims._from_payload(payload))
    entries = payload.get("entitlementsAllowed")
    if isinstance(entries, list):  # entitlements built inline vs one by one by from_claim
        one_by_one = _outcome(lambda: tuple(_attrs_rebuilt(_FullEntitlement.from_claim(e, i),
                                                           Entitlement)
                                            for i, e in enumerate(entries)))
        if fast[0] == "ok":
            assert one_by_one == ("ok", fast[1].entitlements_allowed)
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
    for entitlement in claims.entitlements_allowed:
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
    inline = _outcome(lambda: LicenseClaims._from_payload(payload).entitlements_allowed)
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
    (payload, LicenseClaims._from_payload(payload),
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


def test_direct_construction_builds_what_attrs_builds() -> None:
    """Protects ``slot_setters`` when it accepts a class: the setters it returns build the
    instance attrs' ``__init__`` builds. The library calls it only at import, where mutmut
    cannot switch a mutant on; this calls it at run time."""
    @attrs.frozen
    class Two:
        first: str
        second: int = 0

    set_first, set_second = slot_setters(Two, "first", "second")
    built = object.__new__(Two)
    set_first(built, "a")
    set_second(built, 2)
    assert built == Two(first="a", second=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.first = "b"  # type: ignore[misc]


def test_the_key_that_verified_last_is_tried_first_and_each_key_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects ``Verifier._verifying_key``'s hint: the key that verified last is tried first
    (also for a token without ``kid``), it is not tried again when it fails, and the rest are
    tried in ``candidates()`` order. The verdicts are the same without the hint; the keys
    tried (each an RSA verification) are not."""
    signers = [TokenFactory(), TokenFactory(), TokenFactory()]
    pinned = [PinnedKey(public_key=f.private_key.public_key(), kid=kid)
              for f, kid in zip(signers, ["a", "b", "c"], strict=True)]
    names = {id(key.public_key): key.kid for key in pinned}
    tried: list[str | None] = []

    def counted(key: Any, signing_input: bytes, signature: bytes, length: int | None = None
                ) -> bool:
        tried.append(names[id(key)])
        return verify_ps384(key, signing_input, signature, length)

    monkeypatch.setattr("license_token._verify.verify_ps384", counted)
    verifier = Verifier(TrustStore(pinned))

    def keys_tried(token: str) -> list[str | None]:
        tried.clear()
        verifier.verify(token)
        return list(tried)

    by_b, by_c = signers[1].token(), signers[2].token()  # no kid in their headers
    assert keys_tried(by_b) == ["a", "b"]
    assert keys_tried(by_b) == ["b"]  # the kept key first, though the token names none
    assert keys_tried(by_c) == ["b", "a", "c"]  # the kept key failed: not tried twice
    naming_c = TokenFactory(private_key=signers[2].private_key, kid="c").token()
    assert keys_tried(naming_c) == ["c"]  # the kept key, and the one the token names


# --- entitlement numbers: plain ASCII digits vs the NUMBER grammar ------------------------------


@SETTINGS
@given(st.one_of(st.text(alphabet="0123456789 .+-_eE\u0663\uff11\u00b2", max_size=8),
                 st.text(max_size=4), st.none()))
def test_number_fast_path_agrees_with_the_grammar(value: str | None) -> None:
    match = None if value is None else NUMBER.fullmatch(value)
    reference = None if match is None else Decimal(match[1])
    number = Entitlement(name="n", unit="Count", value=value).number
    assert repr(number) == repr(reference)


# --- headers: the cache of validated headers vs parsing every header afresh --------------------

_HEADER_MEMBERS = st.fixed_dictionaries({}, optional={
    "alg": st.sampled_from(["PS384", "PS384", "PS384", "RS256", "ps384", "none", "", None, 384]),
    "kid": st.one_of(st.sampled_from(["k1", "k2", ""]), st.text(max_size=3), st.integers(),
                     st.none()),
    "typ": st.sampled_from(["JWT", "jwt", 1, None, ["JWT"]]),
    "cty": st.sampled_from(["JWT", 2]),
    "crit": st.sampled_from([["exp"], []]),
    "jwk": st.just({"kty": "RSA"}),
    "x": _STRINGS,
})


def _header_text(members: dict[str, Any], spacing: str, reverse: bool) -> str:
    items = list(members.items())[::-1] if reverse else list(members.items())
    return "{" + ",".join(f"{spacing}{json.dumps(k)}:{spacing}{json.dumps(v)}"
                          for k, v in items) + "}"


_VALID_HEADER = st.fixed_dictionaries({"alg": st.just("PS384")}, optional={
    "kid": st.sampled_from(["k1", "k2", "", "\u00e9"]), "typ": st.sampled_from(["JWT", "x"]),
    "cty": st.just("JWT"), "x": _STRINGS})
_HEADER_TEXTS = st.one_of(  # valid headers twice as likely: only valid ones are cached
    st.builds(_header_text, _VALID_HEADER, st.sampled_from(["", " "]), st.booleans()),
    st.builds(_header_text, _VALID_HEADER, st.sampled_from(["", " "]), st.booleans()),
    st.builds(_header_text, _HEADER_MEMBERS, st.sampled_from(["", " "]), st.booleans()),
    st.sampled_from(['{"alg":"PS384","alg":"PS384"}', '{"alg":"PS384"} ', ' {"alg":"PS384"}',
                     '["alg"]', '{"alg":"PS384","kid":NaN}', '{"alg":"\\u0050S384"}',
                     '{"alg":"PS384","kid":"\\ud800"}', '{"alg":"PS384"}x', "", "{}"]),
    _JSON_TEXTS,
)
_HEADER_BYTES = st.one_of(_HEADER_TEXTS.map(lambda text: text.encode("utf-8", "surrogatepass")),
                          st.binary(max_size=8))
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _canonical(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _tail_bits_set(raw: bytes) -> bytes:
    """The canonical form with the last character's unused low bit set, where it has one."""
    segment = _canonical(raw)
    if len(segment) % 4 not in (2, 3):
        return segment
    return segment[:-1] + _ALPHABET[_ALPHABET.index(segment[-1]) + 1:][:1]


#: Spellings of the same header bytes: the cache must tell each from the canonical one.
_SPELLINGS: list[Callable[[bytes], bytes]] = [
    _canonical, base64.urlsafe_b64encode, lambda raw: base64.b64encode(raw).rstrip(b"="),
    _tail_bits_set, lambda raw: _canonical(raw) + b"=", lambda raw: b" " + _canonical(raw)]


@st.composite
def _header_sequences(draw: st.DrawFn) -> list[str]:
    """A few header texts, each in every spelling, and some other segments, in any order."""
    texts = draw(st.lists(_HEADER_BYTES, min_size=1, max_size=3))
    segments = [spell(raw) for raw in texts for spell in _SPELLINGS]
    segments += draw(st.lists(_SEGMENTS, max_size=2))
    return [segment.decode("latin-1") for segment in draw(st.permutations(segments))]


_REST_OF_TOKEN = ".e30.AAAA"  # payload {} and a 3-byte signature: parsed, never verified


def _parse_outcome(token: str) -> tuple[str, Any]:
    """``parse_compact``'s outcome, the header as its items in order (a proxy compares by value)."""
    fast = _outcome(lambda: parse_compact(token))
    if fast[0] == "error":
        return fast
    jws = fast[1]
    assert type(jws) is CompactJWS
    assert type(jws.header) is MappingProxyType  # read-only, cached or not
    return "ok", (list(jws.header.items()), jws.payload, jws.signing_input, jws.signature)


def _parse_uncached(token: str) -> tuple[str, Any]:
    """``parse_compact`` with an empty header cache, leaving the cache as it was."""
    kept = dict(_HEADERS)
    _HEADERS.clear()
    try:
        return _parse_outcome(token)
    finally:
        _HEADERS.clear()
        _HEADERS.update(kept)


@SETTINGS
@given(_header_sequences())
def test_the_header_cache_agrees_with_parsing_afresh(headers: list[str]) -> None:
    kept = dict(_HEADERS)
    _HEADERS.clear()  # each example starts empty: a full cache would cache nothing more
    try:
        for header in headers + headers:  # the second time round, every header was seen
            token = header + _REST_OF_TOKEN
            assert _parse_outcome(token) == _parse_uncached(token)
        assert all(isinstance(cached, MappingProxyType) for cached in _HEADERS.values())
    finally:
        _HEADERS.clear()
        _HEADERS.update(kept)


def test_a_full_header_cache_changes_no_result() -> None:
    kept = dict(_HEADERS)
    _HEADERS.clear()
    try:
        tokens = [base64.urlsafe_b64encode(json.dumps({"alg": "PS384", "kid": f"k{i}"}).encode())
                  .rstrip(b"=").decode() + _REST_OF_TOKEN for i in range(_MAX_CACHED_HEADERS + 3)]
        first = [_parse_outcome(token) for token in tokens]
        assert len(_HEADERS) == _MAX_CACHED_HEADERS  # bounded: the last three were not kept
        assert [_parse_outcome(token) for token in tokens] == first
        assert [_parse_uncached(token) for token in tokens] == first
    finally:
        _HEADERS.clear()
        _HEADERS.update(kept)


# --- responses: a plain dict with a str SignedToken vs the general Mapping path ---------------


class _Mapping(Mapping[str, Any]):
    """A Mapping that is no dict: ``read_response`` takes its general path."""

    def __init__(self, content: dict[str, Any]) -> None:
        self._content = content

    def __getitem__(self, key: str) -> Any:
        return self._content[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._content)

    def __len__(self) -> int:
        return len(self._content)


class _Dict(dict[str, Any]):
    """A dict subclass: not ``type(source) is dict``, so the general path too."""


class _Str(str):
    """A str subclass: a string, but not ``type(token) is str``."""

    __slots__ = ()


_TOKEN_VALUES = st.one_of(
    st.sampled_from(["a.b.c", "", " a.b.c\n", "{", "x" * 10, _Str("a.b.c"), _Str(""), b"a.b.c",
                     bytearray(b"a.b.c"), None, 0, 1.5, True, ["a.b.c"], {"t": "a.b.c"}]),
    st.text(max_size=6))
_RESPONSE_CONTENT = st.builds(
    lambda rest, token: rest if token is ... else rest | {"SignedToken": token},
    st.dictionaries(st.sampled_from(["LicenseArn", "NodeId", "ResponseMetadata", "signedToken",
                                     "SignedToken "]), _ANY, max_size=3),
    st.one_of(st.just(...), _TOKEN_VALUES))


def _read_outcome(source: Any) -> tuple[str, Any]:
    result = _outcome(lambda: read_response(source))
    if result[0] == "error":
        return result
    response = result[1]
    assert type(response) is CheckoutResponse
    return "ok", (type(response.token), response.token, dict(response.unsigned))


@SETTINGS
@given(_RESPONSE_CONTENT)
def test_the_dict_shortcut_agrees_with_the_mapping_path(content: dict[str, Any]) -> None:
    fast = _read_outcome(content)
    for general in (MappingProxyType(content), _Mapping(content), _Dict(content)):
        assert fast == _read_outcome(general)
    if fast[0] == "ok":  # the unsigned fields are the caller's own mapping, not a copy
        assert read_response(content).unsigned is content


# --- unsigned times and entitlements: the shortcuts inside compare_fully vs none ---------------


def _instant_reference(value: object, what: str) -> datetime:
    """Always parsed: a ``datetime`` as is (naive is UTC), anything else as ISO-8601 text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return parse_time(value, f"response {what!r}")


def _entitlement_bag_reference(value: object) -> Counter[tuple[Any, ...]]:
    """Always compared as a multiset of (Name, Unit, Value), each entry checked."""
    if not isinstance(value, list):
        raise Malformed("response 'EntitlementsAllowed' must be a list")
    bag: Counter[tuple[Any, ...]] = Counter()
    for entry in value:
        if not isinstance(entry, Mapping):
            raise Malformed("response 'EntitlementsAllowed' must hold objects")
        members = (entry.get("Name"), entry.get("Unit"), entry.get("Value"))
        if not all(member is None or isinstance(member, str) for member in members):
            raise Malformed("response 'EntitlementsAllowed' members must be strings")
        bag[members] += 1
    return bag


def _compare_reference(unsigned: Mapping[str, Any], claims: LicenseClaims) -> None:
    mismatched = [field for field, signed in (("LicenseArn", claims.license_arn),
                                              ("NodeId", claims.node_id),
                                              ("LicenseConsumptionToken", claims.consumption_token))
                  if field in unsigned and unsigned[field] != signed]
    for field, moment in (("IssuedAt", claims.issued_at), ("Expiration", claims.expiration)):
        if field in unsigned and _instant_reference(unsigned[field], field) != moment:
            mismatched.append(field)
    if "EntitlementsAllowed" in unsigned and _entitlement_bag_reference(
            unsigned["EntitlementsAllowed"]) != Counter((e.name, e.unit, e.value)
                                                        for e in claims.entitlements_allowed):
        mismatched.append("EntitlementsAllowed")
    if "CheckoutMetadata" in unsigned and parse_metadata(unsigned["CheckoutMetadata"]) != (
            claims.checkout_metadata):
        mismatched.append("CheckoutMetadata")
    if mismatched:
        raise ResponseMismatch(f"unsigned {', '.join(mismatched)} does not match the signed "
                               "token: the response was altered")


#: Repeated entries, a value left out, a name repeated under another unit: order matters.
_REPEATED = [{"name": "Users", "unit": "Count", "value": "10"},
             {"name": "Users", "unit": "Count", "value": "10"},
             {"name": "Users", "unit": "None", "value": "10"},
             {"name": "Pro", "unit": "None"}]
_PRESENCE_ONLY = [{"name": "Pro", "unit": "None"}, {"name": "Beta", "unit": "None"}]
_COMPARED = [(payload, LicenseClaims._from_payload(payload), response_for("t.t.t", payload))
             for payload in (_FACTORY.claims(entitlementsAllowed=_REPEATED),
                             _FACTORY.claims(entitlementsAllowed=_PRESENCE_ONLY),
                             _FACTORY.claims(entitlementsAllowed=[],
                                             checkoutMetadata=_METADATA_CLAIM),
                             _PAYLOAD)]
_ENTRY_EDITS = st.sampled_from([("Name", "Pro"), ("Unit", "Count"), ("Unit", "None"),
                                ("Value", "10"), ("Value", None), ("Value", "010"),
                                ("Value", "10"), ("Value", "x"),
                                ("Value", ...), ("Name", ...), ("Unit", ...), ("Value", 10),
                                ("Name", 1), ("Extra", "x"), ("*", "entry"), ("*", None),
                                ("*", ["Users", "Count", "10"])])


def _edited_entries(entries: list[dict[str, Any]], order: list[int], edit: tuple[str, Any],
                    index: int, how: str) -> Any:
    """The response's entries reordered, one of them edited, and the list retyped or resized."""
    edited: list[Any] = [dict(entries[i]) for i in order]
    if edited and edit[0] != "":
        key, value = edit
        target = index % len(edited)
        if key == "*":
            edited[target] = value
        elif value is ...:
            edited[target].pop(key, None)
        else:
            edited[target][key] = value
    return {"list": edited, "tuple": tuple(edited), "more": [*edited, *edited[:1]],
            "fewer": edited[1:], "proxy": [MappingProxyType(e) if isinstance(e, dict) else e
                                           for e in edited]}[how]


def _entries_edited(entries: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.builds(_edited_entries, st.just(entries), st.permutations(range(len(entries))),
                     st.one_of(st.just(("", None)), _ENTRY_EDITS), st.integers(0, 3),
                     st.sampled_from(["list", "list", "list", "tuple", "more", "fewer", "proxy"]))


def _instants(text: str, moment: datetime) -> st.SearchStrategy[Any]:
    return st.sampled_from([text, text + "Z", text + ".000000", text + "+00:00", text + "+01:00",
                            text.replace("T", " "), text[:-1] + "8", text + "z", moment,
                            moment.replace(tzinfo=None), moment + timedelta(seconds=1),
                            moment.astimezone(timezone(timedelta(hours=-5))), None, 0,
                            [text], text.encode()])


@st.composite
def _edited_responses(draw: st.DrawFn) -> tuple[dict[str, Any], LicenseClaims, dict[str, Any]]:
    payload, claims, response = draw(st.sampled_from(_COMPARED))
    unsigned = {k: v for k, v in response.items() if k != "SignedToken"}
    entries = unsigned.get("EntitlementsAllowed", [])
    if draw(st.sampled_from([True, True, False])):
        unsigned["EntitlementsAllowed"] = draw(_entries_edited(entries))
    for field, claim, moment in (("IssuedAt", "issuedAt", claims.issued_at),
                                 ("Expiration", "expiration", claims.expiration)):
        if draw(st.booleans()):
            unsigned[field] = draw(_instants(payload[claim], moment))
    for field in draw(st.sets(st.sampled_from(sorted(unsigned)), max_size=2)):
        if draw(st.booleans()):
            del unsigned[field]
        else:
            unsigned[field] = draw(_ANY)
    return payload, claims, unsigned


@SETTINGS
@given(_edited_responses())
def test_compare_fully_agrees_with_a_comparison_without_shortcuts(
        edited: tuple[dict[str, Any], LicenseClaims, dict[str, Any]]) -> None:
    payload, claims, unsigned = edited
    assert _outcome(lambda: compare_fully(unsigned, claims, payload)) == _outcome(
        lambda: _compare_reference(unsigned, claims))


@pytest.mark.parametrize("compared", _COMPARED,
                         ids=["repeated", "presence only", "metadata", "two entitlements"])
@SETTINGS
@given(data=st.data())
def test_compare_fully_agrees_on_the_entitlements_alone(
        compared: tuple[dict[str, Any], LicenseClaims, dict[str, Any]],
        data: st.DataObject) -> None:
    payload, claims, response = compared
    unsigned = {k: v for k, v in response.items() if k != "SignedToken"}
    unsigned["EntitlementsAllowed"] = data.draw(
        _entries_edited(unsigned.get("EntitlementsAllowed", [])))
    assert _outcome(lambda: compare_fully(unsigned, claims, payload)) == _outcome(
        lambda: _compare_reference(unsigned, claims))


# --- the policy: the inlined match, the one-requirement path, no requirement vs the rules ------


def _requirement_reference(requirement: Requirement, claims: LicenseClaims) -> Entitlement:
    """Written from ``Requirement``'s docstrings: the first match, or the largest enough."""
    matches = [e for e in claims.entitlements_allowed if requirement.matches(e)]
    if not matches:
        raise EntitlementMissing(f"no entitlement {requirement}")
    if requirement.at_least is None:
        return matches[0]
    at_least = requirement.at_least
    enough = [(e.number, e) for e in matches if e.number is not None and e.number >= at_least]
    if not enough:
        granted = ", ".join(repr(e.value) for e in claims.entitlements_allowed
                            if e.name == requirement.name)
        raise EntitlementInsufficient(f"entitlement {requirement} not met: granted {granted}")
    return max(enough, key=lambda pair: pair[0])[1]  # the first of equally large ones


def _policy_reference(policy: Policy, claims: LicenseClaims,
                      now: datetime) -> dict[Requirement, Entitlement]:
    """The window, then the pins, then every requirement (none: nothing granted)."""
    if now < claims.issued_at - policy.leeway:
        behind = claims.issued_at - now
        raise NotYetValid(f"issued at {format_time(claims.issued_at)}: the clock reads "
                          f"{timedelta(seconds=int(behind.total_seconds()))} behind it "
                          f"(leeway {policy.leeway}), now is {format_time(now)}")
    if now >= claims.expiration + policy.leeway:
        raise Expired(f"expired at {format_time(claims.expiration)}, now is {format_time(now)}")
    if policy.license_arn is not None and claims.license_arn != policy.license_arn:
        raise LicenseMismatch(f"token is for {claims.license_arn!r}, not {policy.license_arn!r}")
    if policy.node_id is not None and claims.node_id != policy.node_id:
        bound = "no node" if claims.node_id is None else repr(claims.node_id)
        raise NodeMismatch(f"token is bound to {bound}, not {policy.node_id!r}")
    return {r: _requirement_reference(r, claims) for r in policy.requirements}


_NAMES = st.sampled_from(["Users", "Users", "Pro", "users"])
_UNITS = st.sampled_from(["Count", "None", "Seconds"])
_VALUES = st.sampled_from(["10", "5", "010", "10.0", "1.5", "0", "Enabled", "", " 5", "-1",
                           "1e3", "\u0663", None])
_POLICY_ENTRIES = st.lists(st.builds(
    lambda name, unit, value: {"name": name, "unit": unit}
    | ({} if value is None else {"value": value}), _NAMES, _UNITS, _VALUES), min_size=1,
    max_size=6)
_MINIMA = st.one_of(st.none(), st.sampled_from(["0", "5", "10", "11", "1.5", 3, 10,
                                                Decimal("10.00")]))
_REQUIREMENTS = st.lists(st.builds(Requirement, _NAMES, unit=st.one_of(st.none(), _UNITS),
                                   at_least=_MINIMA), max_size=3)


def _requirements_of(entries: list[dict[str, Any]]) -> st.SearchStrategy[list[Requirement]]:
    """0-3 requirements, most of them naming an entry's name and unit: most can be met."""
    names = [e["name"] for e in entries] or ["Users"]
    units = [e["unit"] for e in entries] or ["Count"]
    one = st.builds(Requirement, st.one_of(st.sampled_from(names), _NAMES),
                    unit=st.one_of(st.none(), st.sampled_from(units), _UNITS), at_least=_MINIMA)
    return st.lists(one, max_size=3)


_ASKED = st.sampled_from([True] * 5 + [False]).flatmap(  # some tokens grant nothing
    lambda grants: _POLICY_ENTRIES if grants else st.just([])).flatmap(
    lambda entries: st.tuples(st.just(entries), _requirements_of(entries)))
_ISSUED = datetime(2026, 1, 1, tzinfo=timezone.utc)
_POLICY_NOW = st.sampled_from([_ISSUED + timedelta(hours=1)] * 5 + [
    _ISSUED - timedelta(hours=1), _ISSUED + timedelta(days=2), _ISSUED + timedelta(days=1)])


@SETTINGS
@given(_ASKED,
       st.sampled_from([None, None, DEFAULT_ARN, "arn:other"]),
       st.sampled_from([None, None, "node-7f3a", "node-other"]), st.booleans(), _POLICY_NOW)
def test_the_policy_agrees_with_its_documented_rules(
        asked: tuple[list[dict[str, Any]], list[Requirement]], license_arn: str | None,
        node_id: str | None, bound: bool, now: datetime) -> None:
    entries, requirements = asked
    claims = LicenseClaims._from_payload(_FACTORY.claims(
        entitlementsAllowed=entries, nodeId="node-7f3a" if bound else None,
        issuedAt=_ISSUED.isoformat(), expiration=(_ISSUED + timedelta(days=1)).isoformat()))
    pinned = Policy(license_arn=license_arn, node_id=node_id, requirements=requirements)
    for policy, at in ((pinned, now), (Policy(requirements=requirements), _ISSUED)):
        fast = _outcome(lambda: policy._check(claims, at))  # noqa: B023
        full = _outcome(lambda: _policy_reference(policy, claims, at))  # noqa: B023
        assert fast[0] == full[0]
        if fast[0] == "error":
            assert fast == full
            continue
        granted, expected = fast[1], full[1]
        assert type(granted) is MappingProxyType  # read-only
        assert list(granted) == list(expected)
        assert all(granted[r] is expected[r] for r in expected)  # the very entitlement chosen
    for requirement in requirements:  # each requirement alone, as Requirement.check
        assert _outcome(lambda: requirement._check(claims)) == _outcome(  # noqa: B023
            lambda: _requirement_reference(requirement, claims))  # noqa: B023


# --- the verifier: the default clock's shortcut vs an equal clock that is not utc_now ----------

_NOW = datetime.now(timezone.utc).replace(microsecond=0)
_CLOCK_FACTORY = TokenFactory(now=_NOW)
#: Verdicts that no clock reading during the test can flip: days from any boundary.
_WINDOWS = {"valid": (-1, 3), "expired": (-6, -3), "not yet valid": (3, 6)}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_WINDOWS)), st.booleans(), _REQUIREMENTS,
       st.sampled_from([None, _NOW - timedelta(days=5), _NOW + timedelta(days=4),
                        _NOW.replace(tzinfo=None)]))
def test_the_default_clock_shortcut_agrees_with_an_equal_clock(
        window: str, as_response: bool, requirements: list[Requirement],
        now: datetime | None) -> None:
    start, end = _WINDOWS[window]
    claims = _CLOCK_FACTORY.claims(issuedAt=aws_time(_NOW + timedelta(days=start)),
                                   expiration=aws_time(_NOW + timedelta(days=end)))
    source = (_CLOCK_FACTORY.response(claims) if as_response
              else _CLOCK_FACTORY.token(claims))
    keys = _CLOCK_FACTORY.trust_store()
    default = Verifier(keys, require=requirements)
    other = Verifier(keys, require=requirements, clock=lambda: utc_now())
    assert default.clock is utc_now and other.clock is not utc_now
    fast = _outcome(lambda: default.verify(source, now=now))
    full = _outcome(lambda: other.verify(source, now=now))
    assert fast[0] == full[0]
    if fast[0] == "error":  # the same code and message, but for the clock's reading
        (code, message), (full_code, full_message) = fast[1], full[1]
        reading = re.compile(r"now is (\S+)$")
        behind = re.compile(r"reads ([^a-z]+(?:days?, )?[0-9:]+) behind")  # issuedAt - now
        assert (code, behind.sub("", reading.sub("", message))) == (
            full_code, behind.sub("", reading.sub("", full_message)))
        for text in (message, full_message):
            match = reading.search(text)
            if match is not None:
                assert datetime.fromisoformat(match[1]).utcoffset() == timedelta(0)
                if code == "not_yet_valid":  # the skew shown is the one at that reading
                    shown = behind.search(text)
                    assert shown is not None
                    skew = _NOW + timedelta(days=start) - datetime.fromisoformat(match[1])
                    assert shown[1] == str(skew - timedelta(microseconds=skew.microseconds))
        return
    verified, expected = fast[1], full[1]
    assert verified.verified_at.tzinfo is expected.verified_at.tzinfo is timezone.utc
    if now is not None:
        assert verified.verified_at == expected.verified_at == now
    assert VerifiedLicense._build(**attrs.asdict(verified, recurse=False) | {
        "verified_at": expected.verified_at}) == expected


# --- VerifiedLicense: built by verify vs built from fields computed on their own ------------


def _hash_outcome(value: object) -> tuple[str, Any]:
    try:
        return "ok", hash(value)
    except TypeError as exc:
        return "error", str(exc)


_LICENSE_FACTORIES = [TokenFactory(now=_ISSUED), TokenFactory(now=_ISSUED, kid="k1")]
_KEYS = TrustStore.from_public_keys(*(f.private_key.public_key() for f in _LICENSE_FACTORIES))
_AT = _ISSUED + timedelta(minutes=1)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_LICENSE_FACTORIES), _ASKED,
       st.sampled_from([None, _METADATA_CLAIM, {}]), st.sampled_from([None, "node-7f3a"]),
       st.sampled_from(["dict", "proxy", "json", "token"]), st.sampled_from([{}, {"x": 1}]))
def test_a_verified_license_equals_one_built_by_attrs(
        factory: TokenFactory, asked: tuple[list[dict[str, Any]], list[Requirement]],
        metadata: dict[str, str] | None, node_id: str | None, form: str,
        header: dict[str, Any]) -> None:
    entries, requirements = asked
    payload = factory.claims(entitlementsAllowed=entries, checkoutMetadata=metadata,
                             nodeId=node_id)
    token = factory.token(payload, header=header)
    response = response_for(token, payload)
    source: Any = {"dict": response, "proxy": MappingProxyType(response),
                   "json": json.dumps(response), "token": token}[form]
    verifier = Verifier(_KEYS, require=requirements)
    result = _outcome(lambda: verifier.verify(source, now=_AT))
    if result[0] == "error":  # only a requirement refuses these tokens
        assert result[1][0] in {"entitlement_missing", "entitlement_insufficient"}
        return
    verified = result[1]
    by_attrs = VerifiedLicense._build(**{f.name: getattr(verified, f.name)
                                         for f in attrs.fields(VerifiedLicense)})
    claims = LicenseClaims._from_payload(payload)
    from_parts = VerifiedLicense._build(  # each field computed on its own
        claims=claims, key=_KEYS.keys[_LICENSE_FACTORIES.index(factory)],
        header=MappingProxyType({"alg": "PS384"} | ({"kid": factory.kid} if factory.kid else {})
                                | header),
        token=token, verified_at=_AT, granted=verifier.policy._check(claims, _AT))
    for reference in (by_attrs, from_parts):
        assert type(verified) is VerifiedLicense
        assert verified == reference and not verified != reference
        assert _hash_outcome(verified) == _hash_outcome(reference)
        assert repr(verified) == repr(reference)
        assert verified.to_json() == reference.to_json()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        verified.token = "other"
