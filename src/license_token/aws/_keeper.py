"""The online seat kept: ``EntitlementKeeper``, the Marketplace cadence as a state machine.

A keeper checks out once and then *keeps* that consumption: before it expires it is
extended (``ExtendLicenseConsumption``), so its seat is never let go while the app runs
and no other pod can take it in between. It checks out anew only when the consumption is
gone (the service no longer knows it) or has expired, and checks it in only when the app
stops (``close()``) or needs other entitlements
(``change()``).

States, and what moves a keeper between them (``poll`` acts only when due, or at once
when the result it holds has expired)::

    state     holds                             poll() returns
    --------  --------------------------------  -------------------------------------
    NONE      nothing                           raises the last error (or checks out)
    KEPT      a current result and its seat     the result
    RIDING    a current result; failures since  the result, until ``retry_window``,
              ``failing_since``                 then raises the last error

    from         event                                          to
    -----------  ---------------------------------------------  ------
    NONE         checkout works                                 KEPT
    NONE         checkout fails (any error, no seat is taken)   NONE
    KEPT/RIDING  due: extend works                              KEPT   (Expiration moved)
    KEPT/RIDING  due: extend finds the consumption gone, then
                 a new checkout works                           KEPT   (a new seat)
    KEPT         due: retryable error or NoEntitlementsAllowed  RIDING
    KEPT/RIDING  due: another error (access denied, unmet
                 requirement)                                   raises at once; seat kept
    any          the result's Expiration passes                 NONE   (checks out at once)
    any          close() / change()                             NONE   (seat checked in)

Without ``extend`` a keeper keeps no seat: it checks out anew every ``interval`` and each
consumption expires by itself (drawdown ``PERPETUAL`` checkouts, or a license without a
seat limit). No I/O here: the calls are the callables given, the time an input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from .._clock import Clock, current_time, format_time, parse_time, utc_now
from .._errors import (
    ConfigurationError,
    Expired,
    LicenseTokenError,
    Malformed,
    NoEntitlementsAllowed,
    ResourceNotFound,
)
from .._log import Log, token_repr
from ._seat import Seat, give_back

if TYPE_CHECKING:
    from .marketplace import OnlineLicense

__all__ = ["AMI_INTERVAL", "CONTAINER_INTERVAL", "RETRY_DELAY", "RETRY_WINDOW",
           "EntitlementKeeper"]

log = Log("license_token.aws.marketplace")

AMI_INTERVAL = timedelta(minutes=15)
"""How often an AMI product checks (``PROVISIONAL``), per the Marketplace seller guide."""
CONTAINER_INTERVAL = timedelta(days=1)
"""How often a container product checks."""
RETRY_WINDOW = timedelta(minutes=30)
"""How long failed checks are retried while the app runs on its last good result."""
RETRY_DELAY = timedelta(minutes=1)
"""The pause between two retries."""


@attrs.frozen
class _Seat:
    """A consumption this keeper holds: its token, and when it expires unless extended."""

    token: str = attrs.field(repr=token_repr)
    expires_at: datetime

    def as_seat(self) -> Seat:
        """The seat, as ``give_back()`` returns it."""
        return Seat(consumption_token=self.token, expires_at=self.expires_at)


def _rides_out(error: LicenseTokenError) -> bool:
    """Whether a current result outlives this failure: retryable errors and, while a
    valid result is held, ``NoEntitlementsAllowed`` (the seat held is still held)."""
    return error.retryable or isinstance(error, NoEntitlementsAllowed)


def _new_expiration(answer: Mapping[str, Any], token: str) -> datetime:
    """The ``Expiration`` of an ``ExtendLicenseConsumption`` answer for ``token``."""
    if not isinstance(answer, Mapping):
        raise Malformed("an ExtendLicenseConsumption answer is a mapping")
    if answer.get("LicenseConsumptionToken", token) != token:
        raise Malformed("ExtendLicenseConsumption answered for another consumption")
    expiration = answer.get("Expiration")
    if isinstance(expiration, datetime):
        expiration = format_time(expiration)
    return parse_time(expiration, "ExtendLicenseConsumption Expiration")


@attrs.define
class EntitlementKeeper:
    """The Marketplace cadence, keeping one seat: check, extend, ride out failures a while.

    Call ``poll()`` from the app's own timer (e.g. every minute, or after
    ``next_due()``): it acts when due and returns the license to run on, never one
    whose ``Expiration`` has passed. With ``extend`` (and ``check_in``) it keeps the seat
    it took: the consumption is extended every ``interval``, and sooner when half of its
    remaining lifetime is shorter, so that a ``PROVISIONAL`` consumption never lapses.

    A check that fails with a retryable error (network, throttling, AWS unavailable), or
    with ``NoEntitlementsAllowed`` while a current result is held, is retried every
    ``retry_delay``; the last good result is returned meanwhile for up to ``retry_window``
    and never past its ``Expiration``; then ``poll()`` raises the last error (and keeps
    retrying at each call). Any other error (access denied, a requirement no longer met)
    raises at once. A first checkout that fails raises: with every seat taken,
    ``NoEntitlementsAllowed``; retry it with back-off (see the Marketplace guide).

    Use it as a context manager, or call ``close()`` when the app stops: the seat is
    checked in then, and only then (or in ``change()``).

    Attributes:
        checkout: Makes one online checkout, e.g. ``lambda: manager.checkout_online(...)``.
        interval: ``AMI_INTERVAL`` or ``CONTAINER_INTERVAL``.
        retry_window: How long failures are ridden out.
        retry_delay: The pause between retries.
        check_in: Gives a seat back, e.g. ``manager.check_in``; needs ``extend``.
        extend: Extends a consumption, e.g. ``manager.extend`` (the same manager's):
            called with the consumption token, it returns the answer with the new
            ``Expiration``.
        clock: The time when ``poll()`` is not given ``now``.
    """

    checkout: Callable[[], OnlineLicense]
    interval: timedelta = AMI_INTERVAL
    retry_window: timedelta = RETRY_WINDOW
    retry_delay: timedelta = RETRY_DELAY
    check_in: Callable[[str], object] | None = None
    extend: Callable[[str], Mapping[str, Any]] | None = None
    clock: Clock = attrs.field(default=utc_now)
    last_good: OnlineLicense | None = attrs.field(default=None, init=False)
    last_error: LicenseTokenError | None = attrs.field(default=None, init=False)
    failing_since: datetime | None = attrs.field(default=None, init=False)
    _due: datetime | None = attrs.field(default=None, init=False)
    _seat: _Seat | None = attrs.field(default=None, init=False)
    _unreturned: list[_Seat] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        if min(self.interval, self.retry_window, self.retry_delay) <= timedelta(0):
            raise ConfigurationError("interval, retry_window and retry_delay must be positive")
        if self.check_in is not None and self.extend is None:
            raise ConfigurationError("check_in= needs extend=: a kept seat is extended, never "
                                     "checked in and out again (another pod could take it)")

    def __enter__(self) -> EntitlementKeeper:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def unreturned(self) -> tuple[str, ...]:
        """Consumption tokens taken and not checked in (only with ``check_in``).

        The kept seat's, and any whose check-in at ``close()`` failed: those hold their
        seat until they expire.
        """
        if self.check_in is None:
            return ()
        kept = () if self._seat is None else (self._seat.token,)
        return tuple(seat.token for seat in self._unreturned) + kept

    def next_due(self) -> datetime | None:
        """When ``poll()`` will next act (``None``: at the first call)."""
        return self._due

    def poll(self, now: datetime | None = None) -> OnlineLicense:
        """Check (extend the seat, or check out) if due; the license to run on.

        Args:
            now: The current time (timezone-aware); the keeper's ``clock`` by default.

        Returns:
            The last good result, current at ``now``.

        Raises:
            ConfigurationError: ``now`` (or the clock's reading) has no time zone.
            LicenseTokenError: No check has succeeded yet, the last result has expired and
                a new one could not be had, the failures have lasted ``retry_window``, or
                AWS gave a definitive no.
        """
        moment = current_time(self.clock, now)
        self._unreturned = [seat for seat in self._unreturned if seat.expires_at > moment]
        good = self.last_good
        if self._due is None or moment >= self._due or (
                good is not None and not good.is_current(moment)):
            self._attempt(moment)
        error, good, since = self.last_error, self.last_good, self.failing_since
        current = good is not None and good.is_current(moment)
        if error is not None and (not current or not _rides_out(error) or since is None
                                  or moment - since >= self.retry_window):
            raise error
        if good is None or not current:  # pragma: no cover - an attempt leaves one or the other
            raise LicenseTokenError("no current online result")
        return good

    def _attempt(self, moment: datetime) -> None:
        try:
            fresh = self._renewed(moment)
        except LicenseTokenError as exc:
            self.last_error, self.failing_since = exc, self.failing_since or moment
            self._due = moment + self.retry_delay
            if _rides_out(exc):
                log.warning("online check failed (%s); retrying in %s, running on the last "
                            "good result while it is current", exc.code, self.retry_delay)
            return
        self.last_good, self.last_error, self.failing_since = fresh, None, None
        due = moment + self.interval
        if self._seat is not None:  # extend while half its lifetime is left, at the latest
            due = min(due, moment + (self._seat.expires_at - moment) / 2)
        self._due = due

    def _renewed(self, moment: datetime) -> OnlineLicense:
        """The kept seat extended; or, with none current, a new checkout."""
        seat, good, extend = self._seat, self.last_good, self.extend
        if seat is not None and extend is not None and good is not None and good.is_current(
                moment):
            try:
                return self._extended(good, seat.token, extend)
            except ResourceNotFound:
                log.info("consumption %s is gone; checking out anew", seat.token[:8])
        self._seat = None  # gone or expired: it holds no seat any more
        fresh = self.checkout()
        token = fresh.consumption_token
        if extend is not None and token and fresh.checkout_type == "PROVISIONAL":
            self._seat = _Seat(token, fresh.expires_at)
            if not fresh.is_current(moment):  # a repeated ClientToken's first answer
                fresh = self._extended(fresh, token, extend)
        if not fresh.is_current(moment):
            raise Expired(f"the online answer expired at {format_time(fresh.expires_at)}")
        return fresh

    def _extended(self, lic: OnlineLicense, token: str,
                  extend: Callable[[str], Mapping[str, Any]]) -> OnlineLicense:
        expiration = _new_expiration(extend(token), token)
        self._seat = _Seat(token, expiration)
        return attrs.evolve(lic, extended_until=expiration)

    def change(self, checkout: Callable[[], OnlineLicense]) -> None:
        """The app needs other entitlements: give the kept seat back, check out anew.

        The next ``poll()`` checks out with ``checkout`` as a first checkout does.

        Args:
            checkout: Makes the new online checkout.

        Raises:
            LicenseTokenError: The check-in failed; nothing changed, the seat is kept.
        """
        if self._seat is not None and self.check_in is not None:
            outcome = give_back(self._seat.as_seat(), self.check_in)
            if outcome.error is not None:  # still held: nothing changed
                raise outcome.error
        self._forget()
        self.checkout = checkout

    def close(self) -> None:
        """The app stops: check the kept seat in (with ``check_in``) and forget the result.

        A check-in that fails is logged, not raised; its token stays in
        ``unreturned`` until the consumption expires.
        """
        seat = self._seat
        self._forget()
        if seat is None or self.check_in is None:
            return
        outcome = give_back(seat.as_seat(), self.check_in)
        if outcome.error is not None:
            log.warning("the seat was not checked in (%s); it is held until %s",
                        outcome.error.code, format_time(seat.expires_at))
            self._unreturned.append(seat)

    def _forget(self) -> None:
        self._seat = self.last_good = self.last_error = None
        self.failing_since = self._due = None
