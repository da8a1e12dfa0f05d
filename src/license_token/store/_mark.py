"""The store's trusted-time mark (``clock.json``): the latest trusted time seen.

The mark holds two instants. ``high_water`` is the latest trusted time: real clock readings
at which a stored checkout verified, and the signed ``issuedAt`` of every token verified.
``signed`` is the greatest signed ``issuedAt`` seen, the part no clock can fake. A clock
reading earlier than ``high_water`` by more than the store's tolerance is a clock turned
back (``clock_rollback``). A token fetched online just now is evidence of real time: it
resets ``high_water`` (downwards too, so a machine whose clock was once ahead recovers), but
never below ``signed``, so a genuine old token replayed by a fake endpoint cannot take the
mark back.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import attrs

from .._clock import format_time, parse_time
from .._errors import ClockRollback, InvalidLicense, Malformed, StoreCorrupt
from .._files import read_regular
from .._jws import loads_strict
from .._log import Log

__all__ = ["MAX_MARK_FILE", "ClockMark", "next_mark", "read_mark"]

log = Log("license_token.store")

_FORMAT, _VERSION = "license-token/clock", 1
MAX_MARK_FILE = 4096
"""The largest ``clock.json`` read."""
_STEP = timedelta(seconds=60)  # the mark is rewritten only when it moves this much


@attrs.frozen(kw_only=True)
class ClockMark:
    """The two instants of the mark (aware, UTC).

    Attributes:
        high_water: the latest trusted time seen.
        signed: the greatest signed ``issuedAt`` seen, or ``None`` (a mark written before
            this was recorded).
    """

    high_water: datetime
    signed: datetime | None = None

    def to_bytes(self) -> bytes:
        """The ``clock.json`` document."""
        doc: dict[str, object] = {"format": _FORMAT, "version": _VERSION,
                                  "high_water": format_time(self.high_water)}
        if self.signed is not None:
            doc["signed_issued_at"] = format_time(self.signed)
        return json.dumps(doc).encode() + b"\n"

    def check(self, now: datetime, tolerance: timedelta, *, evidence: bool = False) -> None:
        """Refuse a clock reading that is earlier than the mark by more than ``tolerance``.

        Args:
            now: the clock reading.
            tolerance: the store's rollback tolerance.
            evidence: a token fetched just now vouches for ``now``: only ``signed`` counts.

        Raises:
            ClockRollback: ``now`` is too early.
        """
        seen = self.signed if evidence else self.high_water
        if seen is not None and now < seen - tolerance:
            raise ClockRollback(
                f"the clock reads {format_time(now)}, {seen - now} behind {format_time(seen)} "
                f"already seen (tolerance {tolerance}): was the clock turned back?")


def next_mark(mark: ClockMark | None, moment: datetime, issued_at: datetime, *,
              evidence: bool) -> ClockMark | None:
    """The mark after a token issued at ``issued_at`` verified at the reading ``moment``.

    Args:
        mark: the mark now (``None`` if there is none).
        moment: the real clock reading.
        issued_at: the verified token's signed ``issuedAt``.
        evidence: the token was fetched online just now and agrees with ``moment``.

    Returns:
        The mark to write, or ``None`` when the current one may stay.
    """
    signed = issued_at if mark is None or mark.signed is None else max(mark.signed, issued_at)
    if evidence:  # reset, downwards too, but never below a signed time already seen
        reset = ClockMark(high_water=max(moment, signed), signed=signed)
        return None if reset == mark else reset
    latest = max(moment, issued_at)
    if mark is None:
        return ClockMark(high_water=latest, signed=signed)
    if latest > mark.high_water + _STEP or signed != mark.signed:
        return ClockMark(high_water=max(latest, mark.high_water), signed=signed)
    return None


def read_mark(path: Path, tolerance: timedelta) -> ClockMark | None:
    """The mark in ``path``; ``None`` (logged) when it is absent or unreadable.

    Args:
        path: ``clock.json``.
        tolerance: the store's tolerance (a mark too close to the ends of time is ignored).

    Returns:
        The mark, or ``None``.
    """
    try:
        data = read_regular(path, MAX_MARK_FILE)
        if len(data) > MAX_MARK_FILE:
            raise StoreCorrupt(f"larger than {MAX_MARK_FILE} bytes", path)
        doc = loads_strict(data, "clock mark")
        if doc.get("format") != _FORMAT:
            raise Malformed("not a clock mark")
        signed = doc.get("signed_issued_at")
        mark = ClockMark(high_water=parse_time(doc.get("high_water"), "clock mark"),
                         signed=None if signed is None else parse_time(signed, "clock mark"))
        # The mark is compared with tolerances either side: it must leave room for them.
        for moment in (mark.high_water, mark.signed or mark.high_water):
            _ = (moment - tolerance, moment + _STEP)
    except FileNotFoundError:
        return None
    except (OSError, InvalidLicense, StoreCorrupt, OverflowError) as exc:
        log.warning("ignoring unreadable clock mark %s: %s", path, exc)
        return None
    return mark
