"""Time: the one place that reads the clock (the system clock in UTC, or the caller's
``now``), and the tokens' time format (``parse_time``, ``format_time``).

Fast path, beside its full check (``tests/test_fast_paths.py``): ``parse_time`` reads the usual
``2021-04-13T05:35:47`` with one ``fromisoformat``, for the ``_TIME`` grammar and the zone
handling (``test_time_parsing_agrees_with_the_reference``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone

from ._errors import ConfigurationError, Malformed

__all__ = ["Clock", "aware", "current_time", "format_time", "parse_time", "utc_now"]

Clock = Callable[[], datetime]
"""A zero-argument callable returning a timezone-aware ``datetime``."""


def utc_now() -> datetime:
    """The system clock, in UTC.

    Returns:
        The current time as an aware ``datetime``.
    """
    return datetime.now(timezone.utc)


def aware(moment: object, what: str) -> datetime:
    """``moment`` itself, if it is a timezone-aware ``datetime``.

    Args:
        moment: the value to check.
        what: names it in the error message.

    Returns:
        ``moment``.

    Raises:
        ConfigurationError: ``moment`` is not a ``datetime`` with a UTC offset.
    """
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ConfigurationError(f"{what} must be a timezone-aware datetime, not {moment!r}")
    return moment


def current_time(clock: Clock, now: datetime | None) -> datetime:
    """``now`` when given, else a reading of ``clock``; either must carry a time zone.

    Args:
        clock: consulted only when ``now`` is ``None``.
        now: the instant the caller asks for, or ``None``.

    Returns:
        A timezone-aware ``datetime``.

    Raises:
        ConfigurationError: the instant is not a timezone-aware ``datetime``.
    """
    if now is not None:
        return aware(now, "now")
    return aware(clock(), "the clock's reading")


_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?:(:\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?",
    re.ASCII,
)
"""ISO-8601 extended date-time: minutes, optionally seconds and a fraction of up to nine digits,
then no zone (UTC), ``Z`` or ``±HH:MM``. Groups: date and ``HH:MM``, ``:SS``, the fraction's
digits, the zone."""


def _fromisoformat_310(match: re.Match[str]) -> datetime:
    """``fromisoformat`` before 3.11 takes neither ``Z`` nor fractions other than 3 or 6 digits."""
    minutes, seconds, fraction, zone = match.groups()
    fraction = "." + fraction[:6].ljust(6, "0") if fraction else ""
    zone = "+00:00" if zone == "Z" else (zone or "")
    return datetime.fromisoformat(minutes + (seconds or "") + fraction + zone)


_FROMISOFORMAT_TAKES_ISO_8601 = sys.version_info >= (3, 11)


def parse_time(text: object, what: str) -> datetime:
    """Parse an ISO-8601 date-time as the tokens write it; no zone means UTC.

    Minutes (``2021-04-13T05:35``, what Java's ``LocalDateTime.toString()`` prints at a
    whole minute), seconds, and seconds with a fraction of up to nine digits; no zone,
    ``Z`` or a ``±HH:MM`` offset. Nothing looser: no date alone, no space for ``T``, no
    lowercase ``t``/``z``, no week, ordinal or basic-format dates, no other offset forms.

    Args:
        text: the value to parse.
        what: names the value in error messages.

    Returns:
        An aware ``datetime``.

    Raises:
        Malformed: ``text`` is not a string, not an ISO-8601 date-time, or not a real instant.
    """
    # The usual form, ``2021-04-13T05:35:47``: its separators in place, and fromisoformat
    # takes only ASCII digits between them. Anything else, and any error, takes the full path.
    if type(text) is str and len(text) == 19 and text[4::3] == "--T::" and text.isascii():
        try:
            return datetime.fromisoformat(text + "+00:00")
        except ValueError:
            pass
    if not isinstance(text, str):
        raise Malformed(f"{what}: a time must be an ISO-8601 string")
    match = _TIME.fullmatch(text)
    if match is None:
        raise Malformed(f"{what}: {text[:40]!r} is not an ISO-8601 date-time")
    try:
        if _FROMISOFORMAT_TAKES_ISO_8601:  # no zone (group 4) is UTC: say so in the text
            moment = datetime.fromisoformat(text if match.lastindex == 4 else text + "+00:00")
        else:
            moment = _fromisoformat_310(match)
    except ValueError as exc:
        raise Malformed(f"{what}: {text!r} is not a real date-time") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise Malformed(f"{what}: {text!r} cannot be represented in UTC") from None


def format_time(moment: datetime) -> str:
    """Format an instant as UTC ISO-8601 with ``Z`` (microseconds only when present).

    Args:
        moment: an aware ``datetime``.

    Returns:
        e.g. ``"2021-04-13T05:35:47Z"``.
    """
    text = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    return text + "Z"
