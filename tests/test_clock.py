"""The clock and the tokens' time format: one zone check everywhere, parse_time's forms, UTC out."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import AT, UTC, NoOffset
from hypothesis import given
from hypothesis import strategies as st

from license_token import ConfigurationError, Malformed, Verifier, _clock
from license_token._clock import _TIME, _fromisoformat_310, parse_time
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore
from license_token.testing import TokenFactory

# -- one clock, and one zone check for every time the library is given -------------------------

NAIVE = datetime(2030, 1, 1)  # no zone: the mistake under test


def test_current_time_is_the_one_clock_helper() -> None:
    from license_token._clock import current_time, utc_now

    fixed = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert current_time(utc_now, fixed) is fixed
    assert current_time(lambda: fixed, None) is fixed
    assert Verifier.DEFAULT_CLOCK is utc_now


def test_a_naive_time_is_a_configuration_error_in_verifier_store_and_startup(
        tmp_path: Path, factory: TokenFactory) -> None:
    verifier = Verifier(factory.trust_store())
    store = LicenseStore(tmp_path)
    arn = store.save(factory.response(), verifier).license.license_arn  # writes the clock mark
    naive_clock = Verifier(factory.trust_store(), clock=lambda: NAIVE)
    renewer = BorrowRenewer(manager=None,  # type: ignore[arg-type]  # never called
                            license_arn=arn, entitlements=[])
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        naive_clock.verify(factory.token())
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        store.load(arn, verifier, now=NAIVE)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check_license(store, naive_clock, renew=renewer)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check_license(store, verifier, now=NAIVE, renew=renewer)


def test_one_zone_check_for_every_time_the_library_is_given(factory: TokenFactory) -> None:
    import license_token.store
    import license_token.store._lifecycle
    from license_token._clock import aware

    assert vars(license_token.store)["aware"] is aware
    assert vars(license_token.store._lifecycle)["aware"] is aware
    nameless = datetime(2030, 1, 1, tzinfo=NoOffset())
    with pytest.raises(ConfigurationError, match="now must be a timezone-aware datetime"):
        Verifier(factory.trust_store()).verify(factory.token(), now=nameless)
    with pytest.raises(ConfigurationError, match="clock's reading must be a timezone-aware"):
        Verifier(factory.trust_store(), clock=lambda: nameless).verify(factory.token())


def test_online_results_read_the_clock_through_the_same_helper(factory: TokenFactory) -> None:
    from license_token.aws.marketplace import EntitlementKeeper, online_license

    online = online_license(factory.response(), product_sku="sku", key_fingerprint="aws:x")
    assert online.is_current(datetime(2000, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        online.is_current(NAIVE)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        online_license(factory.response(), product_sku="sku", key_fingerprint="aws:x",
                       now=NAIVE)
    keeper = EntitlementKeeper(checkout=lambda: online)
    assert keeper.poll() is online
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        keeper.poll(NAIVE)


# -- parse_time: the forms the service may print, and the looser ones it refuses ---------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2021-04-13T05:35:47", datetime(2021, 4, 13, 5, 35, 47, tzinfo=UTC)),
    ("2021-04-13T05:35:47Z", datetime(2021, 4, 13, 5, 35, 47, tzinfo=UTC)),
    ("2021-04-13T07:35:47+02:00", datetime(2021, 4, 13, 5, 35, 47, tzinfo=UTC)),
    ("2021-04-13T05:35:47.5Z", datetime(2021, 4, 13, 5, 35, 47, 500000, tzinfo=UTC)),
    ("2021-04-13T05:35:47.123456789", datetime(2021, 4, 13, 5, 35, 47, 123456, tzinfo=UTC)),
])
def test_times(text: str, expected: datetime) -> None:
    assert parse_time(text, "t") == expected
    match = _TIME.fullmatch(text)
    assert match is not None
    moment = _fromisoformat_310(match)  # the Python 3.10 path gives the same instant
    assert (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2021-04-13T05:35:47.123456789", datetime(2021, 4, 13, 5, 35, 47, 123456, tzinfo=UTC)),
    ("2021-04-13T07:35:47+02:00", datetime(2021, 4, 13, 5, 35, 47, tzinfo=UTC)),
    ("9999-12-31T23:00:00-05:00", None),  # past datetime's range once in UTC
])
def test_parse_time_takes_the_python_310_path_to_the_same_result(
        monkeypatch: pytest.MonkeyPatch, text: str, expected: datetime | None) -> None:
    """parse_time itself on the path Python 3.10 takes (its fromisoformat is narrower)."""
    monkeypatch.setattr(_clock, "_FROMISOFORMAT_TAKES_ISO_8601", False)
    if expected is None:
        with pytest.raises(Malformed, match="cannot be represented in UTC"):
            parse_time(text, "t")
    else:
        assert parse_time(text, "t") == expected


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
    "2021-04-13", "2021-04-13 05:35:47", "20210413T053547", "2021-02-30T00:00:00",
    "2021-04-13T25:00:00", "2021-04-13T05:35:47+24:00", "2021-04-13T05:35:47.", "", 1618292147,
    "２０２１-04-13T05:35:47", "2021-04-13T05:35:47z",
])
def test_bad_times(text: object) -> None:
    with pytest.raises(Malformed):
        parse_time(text, "t")


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


@pytest.mark.parametrize("text", ["2021-04-13T05:35:", "2021-04-13T05:35:4",
                                  "2021-04-13T05:35:4Z", "2021-04-13T05:3"])
def test_a_time_cut_short_is_malformed_though_its_separators_are_in_place(text: str) -> None:
    """``fromisoformat("2021-04-13T05:35:+00:00")`` is 05:35:00 on Python 3.11+."""
    with pytest.raises(Malformed, match="is not an ISO-8601 date-time"):
        parse_time(text, "t")


# -- parse_time on every rendering of an instant -----------------------------------------------

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


# -- format_time -------------------------------------------------------------------------------

@pytest.mark.usefixtures("local_zone_kolkata")
def test_times_are_printed_in_utc_whatever_the_local_zone() -> None:
    from license_token._clock import format_time

    assert format_time(datetime(2026, 3, 15, 12, tzinfo=timezone.utc)) == (
        "2026-03-15T12:00:00Z")


#: Forms of each zone kind and fraction length; the instants are written out by hand.
_FORMS = {
    "2021-04-13T05:35Z": datetime(2021, 4, 13, 5, 35, tzinfo=timezone.utc),
    "2021-04-13T05:35:47Z": datetime(2021, 4, 13, 5, 35, 47, tzinfo=timezone.utc),
    "2021-04-13T05:35:47.5Z": datetime(2021, 4, 13, 5, 35, 47, 500000, tzinfo=timezone.utc),
    "2021-04-13T05:35:47.1234": datetime(2021, 4, 13, 5, 35, 47, 123400, tzinfo=timezone.utc),
    "2021-04-13T05:35:47.123456789+02:00": datetime(2021, 4, 13, 3, 35, 47, 123456,
                                                    tzinfo=timezone.utc),
    "2021-04-13T05:35:47.1234567-03:30": datetime(2021, 4, 13, 9, 5, 47, 123456,
                                                  tzinfo=timezone.utc),
}


@pytest.mark.usefixtures("local_zone_kolkata")
@pytest.mark.parametrize("text", sorted(_FORMS))
def test_parsed_times_are_in_utc_whatever_the_local_zone(text: str) -> None:
    """Protects ``parse_time``'s conversion to UTC (``astimezone(timezone.utc)``): converted to
    the local zone instead, the instant would be equal but ``LicenseClaims.issued_at`` and
    ``expiration``, documented as UTC, would carry the machine's offset."""
    moment = parse_time(text, "t")
    assert moment == _FORMS[text]
    assert moment.utcoffset() == timedelta(0)
    assert moment.isoformat().endswith("+00:00")


class _Py310Datetime:
    """Stands in for ``datetime`` in ``_clock``: a ``fromisoformat`` as narrow as Python 3.10's,
    no ``Z`` and a fraction of exactly 3 or 6 digits (checked against CPython 3.10.13)."""

    @staticmethod
    def fromisoformat(date_string: str) -> datetime:
        fraction = re.search(r"\.([0-9]*)", date_string)
        if "Z" in date_string or (fraction is not None and len(fraction[1]) not in (3, 6)):
            raise ValueError(f"Invalid isoformat string: {date_string!r}")
        return datetime.fromisoformat(date_string)


@pytest.mark.parametrize("text", sorted(_FORMS))
def test_the_python_3_10_path_gives_fromisoformat_only_what_3_10_takes(
        monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Protects ``_fromisoformat_310``: ``Z`` becomes ``+00:00`` and the fraction is cut or
    padded to six digits. On 3.11+ ``fromisoformat`` takes either way, so only a 3.10-narrow
    stand-in shows a mistake there (which on 3.10 would refuse valid tokens)."""
    monkeypatch.setattr(_clock, "_FROMISOFORMAT_TAKES_ISO_8601", False)
    monkeypatch.setattr(_clock, "datetime", _Py310Datetime)
    assert parse_time(text, "t") == _FORMS[text]


@pytest.mark.parametrize("text", ["2021-04-13T05:35:47+02:60", "2021-04-13T05:35:47-00:99"])
def test_offset_minutes_past_59_are_no_iso_8601_time(text: str) -> None:
    """The grammar itself refuses offset minutes of 60 and more (not a later parse)."""
    with pytest.raises(Malformed, match="is not an ISO-8601 date-time"):
        parse_time(text, "t")
