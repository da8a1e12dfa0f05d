"""The one place that reads the clock: the system clock in UTC, or the caller's ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from ._errors import ConfigurationError

__all__ = ["Clock", "aware", "current_time", "utc_now"]

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
