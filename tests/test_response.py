"""Checkout responses: read strictly (type, encoding, size); unsigned fields match the signed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from conftest import AT, UTC

from license_token import (
    ConfigurationError,
    LicenseTokenError,
    Malformed,
    ResponseMismatch,
    VerifiedLicense,
    Verifier,
)
from license_token._response import MAX_RESPONSE_LENGTH, read_response, wire_form
from license_token.testing import DEFAULT_ARN, TokenFactory, response_for

# -- reading a response: its type, encoding and size -------------------------------------------

def test_a_response_as_any_mapping_and_the_token_it_carries(
        issuer: TokenFactory, verifier: Verifier) -> None:
    response = issuer.response()
    lic = verifier.verify(MappingProxyType(response))
    assert lic.token == response["SignedToken"]
    assert verifier.verify(response["SignedToken"]).token == response["SignedToken"]


@pytest.mark.parametrize("source", [["SignedToken"], 42, None, {"SignedToken": 42}, {}])
def test_a_response_of_the_wrong_type(source: object) -> None:
    with pytest.raises(Malformed):
        read_response(source)  # type: ignore[arg-type]


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode(),
    lambda text: text.encode("utf-16"),  # with its BOM, in the machine's byte order
    lambda text: b"\xff\xfe" + text.encode("utf-16-le"),
    lambda text: b"\xfe\xff" + text.encode("utf-16-be"),
    lambda text: b"\xef\xbb\xbf" + text.encode() + b"\r\n",
])
def test_response_files_with_a_byte_order_mark(
        issuer: TokenFactory, verifier: Verifier, encode: Any) -> None:
    response = issuer.response()
    for text in (json.dumps(response), response["SignedToken"]):
        assert verifier.verify(encode(text)).license_arn == DEFAULT_ARN


@pytest.mark.parametrize("data", [
    "\ufeff{}".encode("utf-16-le"),  # UTF-16 without a BOM
    b"\xff\xfe" + b"{\x00\x00\xd8}\x00",  # a lone surrogate in UTF-16
    b"\xef\xbb\xbf\xef\xbb\xbf{}",
])
def test_bad_encodings_are_malformed(verifier: Verifier, data: bytes) -> None:
    with pytest.raises(Malformed):
        verifier.verify(data)


@pytest.mark.parametrize("space", ["\x1c", "\x1f", "\x85", "\xa0", "\u3000", "\x0b", "\x0c"])
def test_only_json_whitespace_surrounds_a_token_or_a_response(
        issuer: TokenFactory, verifier: Verifier, space: str) -> None:
    response = issuer.response()
    for text in (space + response["SignedToken"], response["SignedToken"] + space,
                 space + json.dumps(response)):
        with pytest.raises(Malformed):
            verifier.verify(text)
        with pytest.raises(Malformed):
            verifier.verify(text.encode())
    assert verifier.verify(" \t\r\n" + response["SignedToken"] + "\r\n").license_arn == (
        DEFAULT_ARN)


def test_response_length_bound_is_256_kib(verifier: Verifier) -> None:
    for source in (b" " * 262145, " " * 262145):
        with pytest.raises(Malformed, match="262144"):
            verifier.verify(source)
    with pytest.raises(Malformed, match="empty"):
        verifier.verify(b" " * 262144)


@pytest.fixture(scope="module")
def factory_verifier(factory: TokenFactory) -> Verifier:
    """A verifier of ``factory``'s tokens, on the system clock."""
    return Verifier(factory.trust_store())


def test_bytes_are_bounded_in_bytes_not_characters(
        factory: TokenFactory, factory_verifier: Verifier) -> None:
    """Two-byte characters: fewer characters than the bound, more bytes than it."""
    import json

    response = factory.response()
    response.pop("ResponseMetadata")
    text = json.dumps(response | {"Padding": "é" * 140_000}, ensure_ascii=False)
    data = text.encode()
    assert len(text) < MAX_RESPONSE_LENGTH < len(data)  # the case that tells them apart
    factory_verifier.verify(text)  # as text it is within the bound (unknown fields are kept)
    with pytest.raises(Malformed, match=f"input larger than {MAX_RESPONSE_LENGTH} bytes"):
        factory_verifier.verify(data)


def test_text_is_bounded_in_characters(factory: TokenFactory, factory_verifier: Verifier) -> None:
    text = '{"SignedToken": "' + factory.token() + '", "P": "' + "a" * MAX_RESPONSE_LENGTH + '"}'
    with pytest.raises(LicenseTokenError, match=f"longer than {MAX_RESPONSE_LENGTH} characters"):
        factory_verifier.verify(text)


# -- unsigned entitlements against the signed ones ---------------------------------------------

def test_an_unsigned_entitlement_value_edited_in_place(
        issuer: TokenFactory, verifier: Verifier) -> None:
    response = issuer.response()
    text = json.dumps(response).replace('"Value": "10"', '"Value": "99"')
    with pytest.raises(ResponseMismatch, match="EntitlementsAllowed"):
        verifier.verify(text)
    dropped = json.loads(json.dumps(response))
    del dropped["EntitlementsAllowed"][0]["Value"]
    with pytest.raises(ResponseMismatch, match="EntitlementsAllowed"):
        verifier.verify(dropped)


def test_unsigned_entitlements_are_compared_as_a_multiset(
        issuer: TokenFactory, verifier: Verifier) -> None:
    a = {"name": "A", "unit": "Count", "value": "1"}
    b = {"name": "B", "unit": "Count", "value": "2"}
    response = issuer.response(issuer.claims(entitlementsAllowed=[a, a, b]))
    reordered = [response["EntitlementsAllowed"][i] for i in (2, 0, 1)]
    reread = verifier.verify(response | {"EntitlementsAllowed": reordered}).claims
    assert reread.entitlements_allowed[2].name == "B"
    same_set = [response["EntitlementsAllowed"][i] for i in (0, 2, 2)]
    with pytest.raises(ResponseMismatch):
        verifier.verify(response | {"EntitlementsAllowed": same_set})


@pytest.mark.parametrize("value", [[{"Name": 1, "Unit": "Count"}], "not a list", [1]])
def test_unsigned_entitlements_of_the_wrong_shape(
        issuer: TokenFactory, verifier: Verifier, value: object) -> None:
    with pytest.raises(Malformed):
        verifier.verify(issuer.response() | {"EntitlementsAllowed": value})


def test_unsigned_entitlements_must_be_a_list_even_with_equal_entries(
        issuer: TokenFactory, verifier: Verifier) -> None:
    response = issuer.response()
    as_tuple = tuple(response["EntitlementsAllowed"])
    with pytest.raises(Malformed, match="'EntitlementsAllowed' must be a list"):
        verifier.verify(response | {"EntitlementsAllowed": as_tuple})


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize(("member", "edited"), [
    ("Name", "OtherFeature"), ("Unit", "Count"), ("Value", "Disabled")])
def test_one_member_of_the_last_unsigned_entitlement_edited(
        issuer: TokenFactory, verifier: Verifier, member: str, edited: str, count: int) -> None:
    """Every member of every entry is compared, the last entry's too, one member at a time."""
    pro = {"name": "ProFeature", "value": "Enabled", "unit": "None"}
    users = {"name": "Users", "value": "10", "unit": "Count"}
    response = issuer.response(entitlementsAllowed=[users, pro][-count:])
    entries = [dict(e) for e in response["EntitlementsAllowed"]]
    assert entries[-1][member] != edited
    entries[-1][member] = edited
    with pytest.raises(ResponseMismatch, match="EntitlementsAllowed"):
        verifier.verify(response | {"EntitlementsAllowed": entries})


# -- a decoy member never stands in for the real one -------------------------------------------

# The unsigned ``EntitlementsAllowed`` is compared with the signed claims twice over: a
# shortcut for the usual response (the same members, in order) and the full comparison. A
# response whose real members disagree must be refused however a decoy member is spelled
# (``NAME``, ``name``, ``XXNameXX``), so a shortcut that read a member under another
# spelling is caught here.

SIGNED = {"name": "Users", "unit": "Count", "value": "10"}
WRONG = {"Name": "Admins", "Unit": "Seconds", "Value": "99"}


def _spellings(key: str) -> list[str]:
    return [key.upper(), key.lower(), f"XX{key}XX", key.swapcase()]


@pytest.mark.parametrize("key", ["Name", "Unit", "Value"])
@pytest.mark.parametrize("spelling", range(4))
def test_a_decoy_member_spelled_otherwise_never_stands_in_for_the_real_one(
        factory: TokenFactory, factory_verifier: Verifier, key: str, spelling: int) -> None:
    real = {"Name": "Users", "Unit": "Count", "Value": "10"}
    decoy = _spellings(key)[spelling]
    entry = real | {key: WRONG[key], decoy: real[key]}  # the real member is wrong
    response = factory.response(entitlementsAllowed=[SIGNED],
                                tamper={"EntitlementsAllowed": [entry]})
    with pytest.raises(ResponseMismatch, match="EntitlementsAllowed"):
        factory_verifier.verify(response)


def test_the_issue_s_decoy_is_refused(factory: TokenFactory, factory_verifier: Verifier) -> None:
    """An upper-case ``NAME`` decoy beside a wrong ``Name`` is refused."""
    response = factory.response(entitlementsAllowed=[SIGNED], tamper={"EntitlementsAllowed": [
        {"Name": "Admins", "NAME": "Users", "Unit": "Count", "Value": "10"}]})
    with pytest.raises(ResponseMismatch):
        factory_verifier.verify(response)


@pytest.mark.parametrize("decoys", [
    {"NAME": "Users", "UNIT": "Count", "VALUE": "10"},
    {"name": "Users", "unit": "Count", "value": "10"},
])
def test_a_decoy_set_beside_wrong_members_is_refused_in_every_position(
        factory: TokenFactory, factory_verifier: Verifier, decoys: dict[str, str]) -> None:
    signed = [SIGNED, {"name": "Admin", "unit": "None"}]
    unsigned: list[dict[str, Any]] = [{"Name": "Users", "Unit": "Count", "Value": "10"},
                                      {"Name": "Admin", "Unit": "None"}]
    for position in range(2):
        entries = [dict(e) for e in unsigned]
        entries[position] = dict(WRONG) | decoys | (
            {} if position == 0 else {"NAME": "Admin", "UNIT": "None"})
        response = factory.response(entitlementsAllowed=signed,
                                    tamper={"EntitlementsAllowed": entries})
        with pytest.raises(ResponseMismatch):
            factory_verifier.verify(response)


# -- the other unsigned fields -----------------------------------------------------------------

def test_unsigned_metadata_the_token_does_not_carry(
        issuer: TokenFactory, verifier: Verifier) -> None:
    response = issuer.response()  # the token has no checkoutMetadata
    added = response | {"CheckoutMetadata": [{"Name": "Mac", "Value": "aa"}]}
    with pytest.raises(ResponseMismatch, match="CheckoutMetadata"):
        verifier.verify(added)
    assert verifier.verify(response | {"CheckoutMetadata": []}).claims.checkout_metadata == {}


def test_the_mismatch_message_names_each_altered_field(
        issuer: TokenFactory, verifier: Verifier) -> None:
    response = issuer.response(issuer.claims(checkoutMetadata={"Mac": "aa"}))
    with pytest.raises(ResponseMismatch) as info:
        verifier.verify(response | {"NodeId": "other",
                                    "CheckoutMetadata": [{"Name": "Mac", "Value": "bb"}]})
    assert str(info.value) == ("unsigned NodeId, CheckoutMetadata does not match the signed "
                               "token: the response was altered")
    later = datetime.fromisoformat(response["Expiration"]) + timedelta(days=1)
    with pytest.raises(ResponseMismatch) as info:
        verifier.verify(response | {"IssuedAt": response["Expiration"], "Expiration": later,
                                    "EntitlementsAllowed": []})
    assert str(info.value) == ("unsigned IssuedAt, Expiration, EntitlementsAllowed does not "
                               "match the signed token: the response was altered")


# -- unsigned times: the same second is the same time ------------------------------------------

def test_unsigned_times_as_datetimes(issuer: TokenFactory, verifier: Verifier) -> None:
    """boto3 may hand back datetimes; a naive one is UTC, as the service's strings are."""
    claims = issuer.claims()
    issued = datetime.fromisoformat(claims["issuedAt"])
    response = issuer.response(claims) | {"IssuedAt": issued}
    assert verifier.verify(response).issued_at == issued.replace(tzinfo=timezone.utc)
    with pytest.raises(ResponseMismatch, match="IssuedAt"):
        verifier.verify(response | {"IssuedAt": issued + timedelta(seconds=1)})


def test_unsigned_times_as_aware_datetimes_in_any_zone(
        issuer: TokenFactory, verifier: Verifier) -> None:
    claims = issuer.claims()
    issued = datetime.fromisoformat(claims["issuedAt"]).replace(tzinfo=timezone.utc)
    plus_two = issued.astimezone(timezone(timedelta(hours=2)))
    assert verifier.verify(issuer.response(claims) | {"IssuedAt": plus_two}).issued_at == issued


@pytest.mark.parametrize("field", ["IssuedAt", "Expiration"])
def test_an_unsigned_time_that_is_null_is_malformed(
        issuer: TokenFactory, verifier: Verifier, field: str) -> None:
    with pytest.raises(Malformed, match=f"response {field!r}: a time must be"):
        verifier.verify(issuer.response() | {field: None})


SIGNED_ISSUED, SIGNED_EXPIRES = "2021-04-13T05:35:47", "2021-04-14T05:35:47"
NOW_2021 = datetime(2021, 4, 13, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuer_2021() -> TokenFactory:
    """An issuer whose tokens are valid at ``NOW_2021``."""
    return TokenFactory(now=NOW_2021)


def _verify(issuer: TokenFactory, response: dict[str, object]) -> VerifiedLicense:
    return Verifier(issuer.trust_store()).verify(response, now=NOW_2021)


def _response(issuer: TokenFactory, issued: object, expires: object,
              signed: tuple[str, str] = (SIGNED_ISSUED, SIGNED_EXPIRES)) -> dict[str, object]:
    claims = issuer.claims(issuedAt=signed[0], expiration=signed[1])
    return response_for(issuer.token(claims), claims,
                        tamper={"IssuedAt": issued, "Expiration": expires})


@pytest.mark.parametrize(("issued", "expires"), [
    ("2021-04-13T05:35:47.412Z", "2021-04-14T05:35:47.999Z"),
    ("2021-04-13T05:35:47.000Z", "2021-04-14T05:35:47Z"),
    ("2021-04-13T07:35:47.5+02:00", "2021-04-14T05:35:47.000000001"),
    (datetime(2021, 4, 13, 5, 35, 47, 999999, tzinfo=UTC), datetime(2021, 4, 14, 5, 35, 47, 1)),
])
def test_an_unsigned_time_within_the_signed_second_is_the_same_time(
        issuer_2021: TokenFactory, issued: object, expires: object) -> None:
    lic = _verify(issuer_2021, _response(issuer_2021, issued, expires))
    # the decision rests on the signed claims, not on the unsigned fractions
    assert (lic.claims.issued_at, lic.expires_at) == (
        datetime(2021, 4, 13, 5, 35, 47, tzinfo=UTC), datetime(2021, 4, 14, 5, 35, 47, tzinfo=UTC))


def test_a_signed_fraction_matches_an_unsigned_whole_second(issuer_2021: TokenFactory) -> None:
    response = _response(issuer_2021, "2021-04-13T05:35:47Z", "2021-04-14T05:35:47Z",
                         signed=("2021-04-13T05:35:47.250", "2021-04-14T05:35:47.750"))
    lic = _verify(issuer_2021, response)
    assert lic.expires_at == datetime(2021, 4, 14, 5, 35, 47, 750000, tzinfo=UTC)


def test_a_signed_time_in_minutes_matches_the_response_in_seconds(
        issuer_2021: TokenFactory) -> None:
    response = _response(issuer_2021, "2021-04-13T05:35:00.000Z", "2021-04-14T05:35:00Z",
                         signed=("2021-04-13T05:35", "2021-04-14T05:35"))
    lic = _verify(issuer_2021, response)
    assert lic.claims.issued_at == AT


@pytest.mark.parametrize(("issued", "expires", "field"), [
    ("2021-04-13T05:35:48.000Z", SIGNED_EXPIRES, "IssuedAt"),      # the next second
    ("2021-04-13T05:35:46.999Z", SIGNED_EXPIRES, "IssuedAt"),      # the second before
    (SIGNED_ISSUED, "2021-04-14T05:35:48Z", "Expiration"),
    (SIGNED_ISSUED, datetime(2021, 4, 14, 5, 35, 48, tzinfo=UTC), "Expiration"),
])
def test_an_unsigned_time_in_another_second_is_a_mismatch(
        issuer_2021: TokenFactory, issued: object, expires: object, field: str) -> None:
    with pytest.raises(ResponseMismatch, match=f"unsigned {field} does not match"):
        _verify(issuer_2021, _response(issuer_2021, issued, expires))


# -- the wire form -----------------------------------------------------------------------------

@pytest.mark.usefixtures("local_zone_kolkata")
def test_wire_form_writes_times_as_the_service_does_whatever_the_local_zone() -> None:
    """A naive datetime is UTC, not local time; an aware one keeps its instant."""
    plus_two = timezone(timedelta(hours=2))
    response = {"IssuedAt": datetime(2026, 3, 15, 12),
                "Expiration": datetime(2026, 3, 16, 12, tzinfo=plus_two),
                "EntitlementsAllowed": ({"Name": "Users", "Value": None, "Unit": "Count"},),
                3: [True, 1.5, 7, "x"]}
    assert wire_form(response) == {
        "IssuedAt": "2026-03-15T12:00:00Z", "Expiration": "2026-03-16T10:00:00Z",
        "EntitlementsAllowed": [{"Name": "Users", "Value": None, "Unit": "Count"}],
        "3": [True, 1.5, 7, "x"]}


def test_wire_form_refuses_what_json_cannot_hold() -> None:
    assert wire_form(None) is None
    with pytest.raises(ConfigurationError, match="a response value of type Decimal is not JSON"):
        wire_form({"Value": [Decimal(1)]})
