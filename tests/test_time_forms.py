"""Times as the service may print them: what parse_time takes, what it refuses, and how the
unsigned response times are compared with their signed twins (to the second)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from conftest import AT, UTC
from hypothesis import given
from hypothesis import strategies as st

from license_token import Malformed, ResponseMismatch, VerifiedLicense, Verifier, _clock
from license_token._clock import parse_time
from license_token.testing import TokenFactory, response_for


@pytest.mark.parametrize(("text", "expected"), [
    # minutes only: Java's LocalDateTime.toString() at a whole minute
    ("2021-04-13T05:35", AT),
    ("2021-04-13T05:35Z", AT),
    ("2021-04-13T07:35+02:00", AT),
    ("2021-04-13T00:05-05:30", AT),
    ("2021-04-13T05:35:00", AT),
    ("2021-04-13T05:35:47", AT.replace(second=47)),
    ("2021-04-13T05:35:47.4Z", AT.replace(second=47, microsecond=400000)),
    ("2021-04-13T05:35:47.412", AT.replace(second=47, microsecond=412000)),
    ("2021-04-13T05:35:47.412000001-00:00", AT.replace(second=47, microsecond=412000)),
])
@pytest.mark.parametrize("narrow_fromisoformat", [False, True], ids=["py311", "py310"])
def test_accepted_forms(monkeypatch: pytest.MonkeyPatch, text: str, expected: datetime,
                        narrow_fromisoformat: bool) -> None:
    if narrow_fromisoformat:  # the path Python 3.10 takes: its fromisoformat is narrower
        monkeypatch.setattr(_clock, "_FROMISOFORMAT_TAKES_ISO_8601", False)
    moment = parse_time(text, "t")
    assert (moment, moment.tzinfo) == (expected, UTC)


@pytest.mark.parametrize("text", [
    "2021-04-13",                    # date only
    "2021-04-13T05",                 # hours only
    "2021-04-13 05:35:47",           # space separator
    "2021-04-13 05:35",
    "2021-04-13t05:35:47",           # lowercase t
    "2021-04-13T05:35:47z",          # lowercase z
    "2021-04-13T05:35z",
    "2021-W15-2T05:35:47",           # week date
    "2021W152T053547",
    "2021-103T05:35:47",             # ordinal date
    "20210413T053547",               # basic format
    "2021-04-13T0535",
    "2021-04-13T05:35.5",            # a fraction of a minute
    "2021-04-13T05:35:47,412",       # comma fraction
    "2021-04-13T05:35:47.1234567890",  # more than nanoseconds
    "2021-04-13T05:35+0200",         # offset without colon
    "2021-04-13T05:35:47+02",        # hour-only offset
    "2021-04-13T05:35:47+02:00:00",  # offset with seconds
    "2021-04-13T05:35:47Z+00:00",
    "2021-04-13T24:00",
    "2021-04-13T05:60",
    "2021-04-13T05:35:60",           # leap second
    "+2021-04-13T05:35",
    "2021-04-13T05:35 ",
    " 2021-04-13T05:35",
])
def test_looser_forms_are_malformed(text: str) -> None:
    with pytest.raises(Malformed, match=r"not an ISO-8601 date-time|not a real date-time"):
        parse_time(text, "t")


_MOMENTS = st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(9998, 12, 30),
                        timezones=st.just(UTC))
_OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)


def _zone(offset_minutes: int | None) -> str:
    if offset_minutes is None:
        return ""
    if offset_minutes == 0:
        return "Z"
    sign = "+" if offset_minutes > 0 else "-"
    return f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"


def _render(moment: datetime, offset_minutes: int | None, digits: int) -> str:
    """``moment`` written in the zone, with ``digits`` fraction digits (-1: minutes only)."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes or 0)))
    text = local.strftime("%Y-%m-%dT%H:%M")
    if digits >= 0:
        text += local.strftime(":%S")
    if digits > 0:
        text += "." + f"{local.microsecond:06d}{'0' * 3}"[:digits]
    return text + _zone(offset_minutes)


@given(_MOMENTS, st.one_of(st.none(), _OFFSETS), st.integers(min_value=-1, max_value=9))
def test_every_accepted_rendering_is_the_same_instant(
        moment: datetime, offset_minutes: int | None, digits: int) -> None:
    if digits == -1:
        expected = moment.replace(second=0, microsecond=0)
    else:  # the fraction's digits beyond microseconds are dropped, as parse_time does
        scale = 10 ** (6 - min(digits, 6))
        expected = moment.replace(microsecond=moment.microsecond // scale * scale)
    assert parse_time(_render(moment, offset_minutes, digits), "t") == expected


_LOOSER: list[Callable[[str], str]] = [
    lambda text: text[:10],                           # date only
    lambda text: text.replace("T", " "),              # space separator
    lambda text: text.replace("T", "t"),
    lambda text: text[:-1] + "z" if text.endswith("Z") else text + "z",
    lambda text: text.replace("-", "", 2),            # basic date
    lambda text: text[:13],                           # hours only
]


@given(_MOMENTS, st.one_of(st.none(), _OFFSETS), st.integers(min_value=-1, max_value=9),
       st.sampled_from(range(len(_LOOSER))))
def test_every_looser_rendering_is_malformed(
        moment: datetime, offset_minutes: int | None, digits: int, loosen: int) -> None:
    with pytest.raises(Malformed):
        parse_time(_LOOSER[loosen](_render(moment, offset_minutes, digits)), "t")


@given(_MOMENTS, st.one_of(st.none(), _OFFSETS))
def test_a_week_date_is_malformed(moment: datetime, offset_minutes: int | None) -> None:
    year, week, day = moment.isocalendar()
    text = _render(moment, offset_minutes, 0)
    with pytest.raises(Malformed):
        parse_time(f"{year:04d}-W{week:02d}-{day}{text[10:]}", "t")


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
