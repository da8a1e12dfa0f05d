"""Guards of ``_clock``'s time format that the example suites left to chance: the instant
``parse_time`` returns is in UTC whatever the machine's zone, and the Python 3.10 path hands
``fromisoformat`` only what 3.10's accepts (both found by mutation testing)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from license_token import _clock
from license_token._clock import parse_time

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


@pytest.fixture
def local_zone_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is UTC+05:30 for the test (a POSIX TZ string: no tzdata)."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset (POSIX)")
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    assert datetime(2021, 1, 1, tzinfo=timezone.utc).astimezone().utcoffset() == timedelta(
        hours=5, minutes=30)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone_not_utc")
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
