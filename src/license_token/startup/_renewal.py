"""Renewal as an explicit state machine: the online half of a start, never two seats.

``Renewal`` works out the state of one license on one node from the seat ledger, the
stored checkout and the clock (``_assess``), then runs the step of each state that makes a
call until one ends the start; ``_states`` names the states and holds the transition
table every change goes through (``_move``). ``RETURNING_SEAT``: ``_return_seat``, then
``_not_returned`` for a refused check-in. ``CHECKOUT_IN_FLIGHT``: ``_checkout``, then
``_checkout_failed``/``_refused_answer`` or ``_hold``/``_not_saved``. The ledger, not the
stored file, decides what to check in; every record a call could make stale is written
before the call.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import datetime

import attrs

from .._errors import (
    ClockRollback,
    ConfigurationError,
    Conflict,
    InvalidLicense,
    LicenseTokenError,
    NotInStore,
    NotYetValid,
    SeatNotReturned,
    StoreError,
)
from .._log import Log, token_prefix
from .._response import Source
from .._verify import VerifiedLicense, Verifier
from ..store import Backoff, LicenseStore, SeatLedger, SeatRecord, SeatState
from ..store._seats import LedgerState
from ._policy import REFUSED_FOR_GOOD, RenewalPolicy, Renewer, named_seat
from ._result import StartupResult
from ._states import CALLING, TRANSITIONS, State

__all__ = ["Renewal"]

log = Log("license_token.startup")
_MAX_STEPS = 12  # calls in one start: more means a bug; the start then ends
_CURED_BY_FETCHING = ("malformed", "response_mismatch", "node_mismatch", "clock_rollback",
                      "expired")
"""Stored failures the held seat, fetched again, cures (not ``bad_signature``: it comes back
with it); ``expired`` too, as a held seat is fetched only before its own expiry."""

_Stored = VerifiedLicense | LicenseTokenError  # the stored license, or why there is none


class Renewal:
    """One start with a renewer: the state machine, its facts, and its steps."""

    def __init__(self, store: LicenseStore, verifier: Verifier, renew: Renewer,
                 policy: RenewalPolicy, moment: datetime, rng: random.Random) -> None:
        self.store, self.ledger, self.verifier = store, SeatLedger(store), verifier
        self.renew, self.policy, self.moment, self.rng = renew, policy, moment, rng
        self.arn, self.node = renew.license_arn, verifier.policy.node_id
        self.state: State | None = None
        self.view = LedgerState()
        self.stored: _Stored = LicenseTokenError("not loaded")
        self.error: LicenseTokenError | None = None  # the failure this start ends with
        self.checked_in: list[str] = []
        self.renewed = False
        self._forbidden: bool | None = None
        self._fresh: set[str] = set()  # the ClientTokens recorded at this start

    # -- the machine --------------------------------------------------------------------
    def run(self) -> StartupResult:
        """Load, reconcile, and step from state to state until no call is left to make."""
        if not self._read() or self._assess(first=True) not in CALLING:
            return self._result()
        with contextlib.ExitStack() as lock:
            try:
                mine = lock.enter_context(self.ledger.renewing(
                    wait=not isinstance(self.stored, VerifiedLicense)))
            except StoreError as exc:  # the lock cannot be taken: an OS error, not a renewal
                log.error("license renewal is stopped: %s", exc)
                self.error = exc
                return self._result()
            if mine and self._read(renewing=True):  # else another process is renewing
                self._steps()
            return self._result()

    def _steps(self) -> None:
        """From the state the facts give, the steps that make calls, until one ends."""
        state = self._move(self._assess(first=True))
        for _ in range(_MAX_STEPS):
            if state not in CALLING:
                break
            step = self._return_seat if state is State.RETURNING_SEAT else self._checkout
            state = self._move(step())

    def _move(self, to: State) -> State:
        """Enter ``to`` (the table allows it, or it is a bug); the one place state changes."""
        if to not in TRANSITIONS[self.state]:
            raise AssertionError(f"renewal: no transition {self.state} -> {to}")
        log.debug("renewal of %s: %s -> %s", self.arn, self.state, to)
        self.state = to
        return to

    def _assess(self, *, first: bool = False) -> State:
        """The state the facts put this license in (``first``: at the start of an attempt)."""
        mine = self._mine()
        held = next((s for s in mine if s.state is SeatState.HELD), None)
        if any(s.early_check_in_forbidden and s.live_at(self.moment) for s in mine):
            return State.WAITING_FOR_EXPIRY
        if first and self._backing_off():
            return State.BACKING_OFF
        if any(s.state is SeatState.TO_RETURN for s in mine) or (
                held is not None and self._to_replace(held)):
            return State.RETURNING_SEAT
        if held is None or not self._holds(held) or any(
                s.state is SeatState.IN_FLIGHT for s in mine):
            return State.CHECKOUT_IN_FLIGHT
        return State.NOT_DUE

    # -- facts ----------------------------------------------------------------------------
    def _mine(self) -> list[SeatRecord]:
        """This node's records of the license that may hold a seat."""
        return [s for s in self.view.mine(self.arn, self.node)
                if s.state is not SeatState.RETURNED]

    def _holds(self, held: SeatRecord) -> bool:
        """Whether the stored checkout verifies and is the ``held`` seat."""
        stored = self.stored
        return isinstance(stored, VerifiedLicense) and (
            stored.consumption_token == held.consumption_token)

    def _to_replace(self, held: SeatRecord) -> bool:
        """The held seat is returned: its renewal is due, or it is not stored and cannot be
        fetched again (expired by this clock, no ``ClientToken``, a token that fails), or a
        checkout to replace it is already in flight."""
        if self._in_flight() is not None:  # recorded before this seat's return began
            return True
        stored = self.stored
        if isinstance(stored, VerifiedLicense) and self._holds(held):
            return self.policy.due(stored, self.moment)
        return not self._fetchable(held)

    def _fetchable(self, record: SeatRecord) -> bool:
        stored = self.stored
        cured = isinstance(stored, VerifiedLicense | StoreError) or stored.code in (
            _CURED_BY_FETCHING)
        return record.client_token is not None and record.live_at(self.moment) and cured

    def _backing_off(self) -> bool:
        """Waiting after a failure (not for a next attempt past the longest back-off)."""
        next_attempt = self.view.backoff.get(self.arn, Backoff()).next_attempt
        return (next_attempt is not None and isinstance(self.stored, VerifiedLicense)
                and self.moment < next_attempt <= self.moment + self.policy.max_backoff)

    def _early_check_in_forbidden(self) -> bool:
        """Whether the license forbids early check-in (asked once, after a conflict, which
        may also be transient); ``False`` when the renewer cannot tell."""
        if self._forbidden is None:
            try:
                self._forbidden = self.renew.early_check_in_allowed() is False
            except ConfigurationError:
                raise
            except LicenseTokenError:
                self._forbidden = False
        return self._forbidden

    # -- reading ------------------------------------------------------------------------
    def _read(self, *, renewing: bool = False) -> bool:
        """Load the stored license and the ledger; ``False`` when the ledger is unknown."""
        self.stored = self._load()
        try:
            self.view = self.ledger.state()
        except StoreError as exc:  # seats of this node may be held that it does not know of
            log.error("license renewal is stopped until the lifecycle state is repaired: "
                      "%s", exc)
            self.error = exc
            return False
        self._reconcile(write=renewing)
        return True

    def _load(self) -> _Stored:
        try:
            return self.store.load(self.arn, self.verifier, now=self.moment).license
        except ConfigurationError:  # a mistake in the app, not a failure to renew
            raise
        except LicenseTokenError as exc:
            return exc

    def _reconcile(self, *, write: bool) -> None:
        """A valid stored seat the ledger does not know (imported, saved by hand) is held,
        the ledger's other held one to return (written by a start that renews only)."""
        stored = self.stored
        if not isinstance(stored, VerifiedLicense) or stored.consumption_token is None:
            return
        token = stored.consumption_token
        if any(s.consumption_token == token for s in self.view.seats):
            return
        seat = SeatRecord(license_arn=self.arn, node_id=self.node, state=SeatState.HELD,
                          consumption_token=token, expires_at=stored.expires_at)
        if not write:
            self.view = self.view.with_held(seat)
            return
        log.info("the stored consumption %s is new to the ledger: recorded as held",
                 token_prefix(token))
        self._write(lambda s: s.with_held(seat))

    # -- RETURNING_SEAT -----------------------------------------------------------------
    def _return_seat(self) -> State:
        """Check in the next seat not to keep; a held seat only once a checkout to follow
        is recorded (so that a full disk stops the renewal before the seat is given up)."""
        mine = self._mine()
        record = ([s for s in mine if s.state is SeatState.TO_RETURN]
                  or [s for s in mine if s.state is SeatState.HELD])[0]
        if record.state is SeatState.HELD and self._in_flight() is None:
            try:
                self._write_ahead()
            except StoreError as exc:
                return self._failed(exc)
        from ..aws._seat import Seat, give_back  # boto3 is there once a renewer runs

        token = _known(record.consumption_token)
        answer = give_back(Seat(consumption_token=token, expires_at=record.expires_at),
                           self.renew.check_in)
        if answer.error is not None:  # still held
            return self._not_returned(record, answer.error)
        self.checked_in.append(token)
        self._write(lambda s: s.with_seat(attrs.evolve(record, state=SeatState.RETURNED)))
        return self._assess()

    def _not_returned(self, record: SeatRecord, error: LicenseTokenError) -> State:
        """The check-in failed: wait for the seat's expiry if early check-in is forbidden,
        else back off (the seat stays to return, and nothing is borrowed on top of it)."""
        if isinstance(error, Conflict) and self._early_check_in_forbidden():
            log.info("early check-in is not allowed: renewing once %s has expired",
                     record.expires_at.isoformat() if record.expires_at else "it")
            self._write(lambda s: s.with_seat(attrs.evolve(
                record, early_check_in_forbidden=True)))
            if not isinstance(self.stored, VerifiedLicense):  # no license until it expires
                self.error = error
            return State.WAITING_FOR_EXPIRY
        log.warning("consumption %s could not be checked in (attempt %d): %s",
                    token_prefix(record.consumption_token or ""),
                    record.failed_check_ins + 1, error.code)
        self._write(lambda s: s.with_seat(attrs.evolve(
            record, failed_check_ins=record.failed_check_ins + 1)))
        return self._failed(error)

    # -- CHECKOUT_IN_FLIGHT -------------------------------------------------------------
    def _checkout(self) -> State:
        """Send the recorded ``ClientToken`` (recording a new one first if none is)."""
        record = self._in_flight() or self._held_to_fetch()
        if record is None:
            try:
                record = self._write_ahead()
            except StoreError as exc:  # no checkout that could not be recognised again
                return self._failed(exc)
        try:
            response = self.renew.checkout(client_token=_known(record.client_token))
        except ConfigurationError:
            raise
        except LicenseTokenError as exc:
            return self._checkout_failed(record, exc)
        return self._hold(record, response)

    def _checkout_failed(self, record: SeatRecord, error: LicenseTokenError) -> State:
        """Keep the ``ClientToken`` unless the seat is known to be free or AWS refused the
        checkout itself; a seat the answer named is recorded with it."""
        if isinstance(error, SeatNotReturned):
            named = error.consumption_token
            if named is not None and error.expires_at is not None and (
                    record.state is SeatState.IN_FLIGHT):
                self._write(lambda s: s.with_seat(attrs.evolve(
                    record, consumption_token=named, expires_at=error.expires_at)))
            return self._failed(error)
        if isinstance(error, InvalidLicense):
            return self._refused_answer(record, error)
        if isinstance(error, REFUSED_FOR_GOOD) and error.status is not None:
            if record.consumption_token is None:
                self._write(lambda s: s.without(record))
                return self._failed(error)
            self._write(lambda s: s.with_seat(attrs.evolve(  # its seat may be held:
                record, state=SeatState.TO_RETURN)))          # return it first
            return State.RETURNING_SEAT
        return self._failed(error)

    def _refused_answer(self, record: SeatRecord, error: InvalidLicense) -> State:
        """The answer was refused and its seat given back (the renewer says so with an
        ``InvalidLicense``). An answer sent again from an earlier start may be refused for
        what changed since (the app now pins a rotated key): once per start, a new
        checkout follows at once."""
        if record.consumption_token is None:
            self._write(lambda s: s.without(record))
        else:
            self._write(lambda s: s.with_seat(attrs.evolve(record, state=SeatState.RETURNED)))
        if self._fresh:  # a new checkout was made (or recorded) at this start already
            return self._failed(error)
        log.info("an answer sent again was refused (%s): checking out anew", error.code)
        return State.CHECKOUT_IN_FLIGHT

    def _hold(self, record: SeatRecord, response: Source) -> State:
        """Record the seat the answer names, save the answer, then record it as the held
        seat (see ``_not_saved`` when the save fails)."""
        named = named_seat(response)
        if named is not None and record.consumption_token is None:
            record = attrs.evolve(record, consumption_token=named[0], expires_at=named[1])
            self._write(lambda s: s.with_seat(record))  # a crash after the save knows it
        try:
            saved = self.store.save(response, self.verifier, now=self.moment,
                                    fetched_now=True).license
        except ConfigurationError:
            raise
        except LicenseTokenError as exc:
            return self._not_saved(record, exc)
        held = SeatRecord(license_arn=self.arn, node_id=self.node, state=SeatState.HELD,
                          client_token=record.client_token, expires_at=saved.expires_at,
                          consumption_token=_known(saved.consumption_token))
        self._write(lambda s: attrs.evolve(s.without(record).with_held(held),
                                           backoff={**s.backoff, self.arn: Backoff()}))
        self.stored, self.renewed = saved, True
        return State.HOLDING

    def _not_saved(self, record: SeatRecord, error: LicenseTokenError) -> State:
        """The answer cannot be saved (a full disk, a clock the store refuses): its seat is
        given back; one that cannot be (early check-in forbidden) stays recorded by its
        ``ClientToken``, fetched again and saved at the next start, never a check-in that
        blocks every start."""
        token = record.consumption_token
        if token is not None:
            from ..aws._seat import Seat, give_back

            answer = give_back(Seat(consumption_token=token, expires_at=record.expires_at),
                               self.renew.check_in)
            if answer.error is None:  # returned, or already free
                self.checked_in.append(token)
                self._write(lambda s: s.with_seat(attrs.evolve(record,
                                                               state=SeatState.RETURNED)))
        return self._failed(error)

    def _in_flight(self) -> SeatRecord | None:
        return next((s for s in self._mine() if s.state is SeatState.IN_FLIGHT), None)

    def _held_to_fetch(self) -> SeatRecord | None:
        held = next((s for s in self._mine() if s.state is SeatState.HELD), None)
        return held if held is not None and not self._holds(held) else None

    def _write_ahead(self) -> SeatRecord:
        """Record a new ``ClientToken`` before it is sent (an answer may get lost).

        Raises:
            StoreError: it cannot be recorded: nothing may be sent.
        """
        import uuid  # when a checkout is due, not at every start with a renewer

        token = uuid.uuid4().hex
        record = SeatRecord(license_arn=self.arn, node_id=self.node,
                            state=SeatState.IN_FLIGHT, client_token=token)
        self.view = self.ledger.update(lambda s: s.with_seat(record).pruned(self.moment))
        self._fresh.add(token)
        return record

    def _failed(self, error: LicenseTokenError) -> State:
        """Remember the failure and when to try again."""
        failures = self.view.backoff.get(self.arn, Backoff()).failures + 1
        wait = self.policy.backoff(failures, self.rng)
        backoff = Backoff(failures=failures, next_attempt=self.moment + wait)
        self._write(lambda s: attrs.evolve(s, backoff={**s.backoff, self.arn: backoff}))
        self.error = error
        return State.BACKING_OFF

    def _result(self) -> StartupResult:
        """The license to run on, or the stored failure chained from the renewal's."""
        stored, error = self.stored, self.error
        if not isinstance(stored, VerifiedLicense):
            if isinstance(stored, NotInStore) and isinstance(error, NotYetValid | ClockRollback):
                raise error from stored  # the clock is the cause, not the empty store
            raise stored from error
        if error is not None:
            log.warning("license renewal failed, running on the stored token until %s: %s",
                        stored.expires_at.isoformat(), error)
        return StartupResult(license=stored, renewed=self.renewed, renewal_error=error,
                             checked_in=tuple(self.checked_in))

    def _write(self, change: Callable[[LedgerState], LedgerState]) -> None:
        """Record what a step learnt; a store that cannot be written must not stop the app
        (the next start learns it again: a seat already free, an answer fetched again)."""
        try:
            self.view = self.ledger.update(lambda s: change(s).pruned(self.moment))
        except StoreError as exc:
            log.error("the license store cannot record the renewal state: %s", exc)
            self.view = change(self.view)


def _known(value: str | None) -> str:
    """A token the ledger's invariants say is there (see ``SeatRecord``)."""
    if value is None:
        raise AssertionError("the seat ledger lost a token it must hold")
    return value
