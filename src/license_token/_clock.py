"""The one place that reads the clock: the system clock in UTC, or the caller's ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from ._errors import ConfigurationError

__all__ = ["Clock", "aware", "current_time", "utc_now"]

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
    return aware(clock() if now is None else now, "now (or the clock's reading)")


def aware(moment: object, what: str) -> datetime:
    """The one naive-datetime check: ``moment`` if it is a timezone-aware ``datetime``.

    Args:
        moment: the value to check.
        what: its name, for the message.

    Returns:
        ``moment``.

    Raises:
        ConfigurationError: ``moment`` is not a ``datetime``, or is naive (no time zone, or
            one whose ``utcoffset()`` is ``None``).
    """
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ConfigurationError(f"{what} must be a timezone-aware datetime, not {moment!r}")
    return moment
