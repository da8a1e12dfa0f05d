"""Times as the service may print them: what parse_time takes, what it refuses, and how the
unsigned response times are compared with their signed twins (to the second)."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import AT, UTC

from license_token import ResponseMismatch, VerifiedLicense, Verifier
from license_token.testing import TokenFactory, response_for

# -- the unsigned response times against the signed ones: the same second is the same time --

SIGNED_ISSUED, SIGNED_EXPIRES = "2021-04-13T05:35:47", "2021-04-14T05:35:47"
NOW = datetime(2021, 4, 13, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuer() -> TokenFactory:
    return TokenFactory(now=NOW)


def _verify(issuer: TokenFactory, response: dict[str, object]) -> VerifiedLicense:
    return Verifier(issuer.trust_store()).verify(response, now=NOW)


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
        issuer: TokenFactory, issued: object, expires: object) -> None:
    lic = _verify(issuer, _response(issuer, issued, expires))
    # the decision rests on the signed claims, not on the unsigned fractions
    assert (lic.claims.issued_at, lic.expires_at) == (
        datetime(2021, 4, 13, 5, 35, 47, tzinfo=UTC), datetime(2021, 4, 14, 5, 35, 47, tzinfo=UTC))


def test_a_signed_fraction_matches_an_unsigned_whole_second(issuer: TokenFactory) -> None:
    response = _response(issuer, "2021-04-13T05:35:47Z", "2021-04-14T05:35:47Z",
                         signed=("2021-04-13T05:35:47.250", "2021-04-14T05:35:47.750"))
    lic = _verify(issuer, response)
    assert lic.expires_at == datetime(2021, 4, 14, 5, 35, 47, 750000, tzinfo=UTC)


def test_a_signed_time_in_minutes_matches_the_response_in_seconds(issuer: TokenFactory) -> None:
    response = _response(issuer, "2021-04-13T05:35:00.000Z", "2021-04-14T05:35:00Z",
                         signed=("2021-04-13T05:35", "2021-04-14T05:35"))
    lic = _verify(issuer, response)
    assert lic.claims.issued_at == AT


@pytest.mark.parametrize(("issued", "expires", "field"), [
    ("2021-04-13T05:35:48.000Z", SIGNED_EXPIRES, "IssuedAt"),      # the next second
    ("2021-04-13T05:35:46.999Z", SIGNED_EXPIRES, "IssuedAt"),      # the second before
    (SIGNED_ISSUED, "2021-04-14T05:35:48Z", "Expiration"),
    (SIGNED_ISSUED, datetime(2021, 4, 14, 5, 35, 48, tzinfo=UTC), "Expiration"),
])
def test_an_unsigned_time_in_another_second_is_a_mismatch(
        issuer: TokenFactory, issued: object, expires: object, field: str) -> None:
    with pytest.raises(ResponseMismatch, match=f"unsigned {field} does not match"):
        _verify(issuer, _response(issuer, issued, expires))
