"""The one place that reads the clock: the system clock in UTC, or the caller's ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from ._errors import ConfigurationError

__all__ = ["Clock", "current_time", "utc_now"]

#: A zero-argument callable returning a timezone-aware ``datetime``.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, in UTC.

    Returns:
        The current time as an aware ``datetime``.
    """
    return datetime.now(timezone.utc)


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
    moment = clock() if now is None else now
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ConfigurationError("now must be a timezone-aware datetime (the clock's too)")
    return moment
