"""The online half of a start: retry pending check-ins, renew when due, never two seats."""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from .._claims import LicenseClaims
from .._errors import (
    ClockRollback,
    ConfigurationError,
    LicenseTokenError,
    NodeMismatch,
    NotInStore,
    NotYetValid,
    token_prefix,
    token_repr,
)
from .._jws import loads_strict, parse_compact
from .._log import Log
from .._response import Source, read_response
from .._verify import VerifiedLicense, Verifier
from ..store import LicenseStore, RenewalState, StoreError
from ._policy import RenewalPolicy, Renewer
from ._result import StartupResult

__all__ = ["Renewal"]

log = Log("license_token.startup")

_GONE = "aws_resource_not_found"  # the consumption is already checked in or expired
_CONFLICT = "aws_conflict"  # transient, or the license forbids early check-in


def _new_client_token() -> str:
    import uuid  # when a checkout is due, not at every start with a renewer

    return uuid.uuid4().hex


def _unverified_claims(response: Source | None) -> LicenseClaims | None:
    """The claims of a stored or fetched response, UNVERIFIED: only to find its seat."""
    if response is None:
        return None
    try:
        jws = parse_compact(read_response(response).token)
        return LicenseClaims._from_payload(loads_strict(jws.payload, "payload"))
    except LicenseTokenError:
        return None


_Stored = VerifiedLicense | LicenseTokenError  # the stored license, or why there is none


@attrs.frozen(kw_only=True)
class _Seat:
    token: str = attrs.field(repr=token_repr)
    expires_at: datetime


class Renewal:
    """One start with a renewer: the online steps of ``check_license``, sharing state."""

    def __init__(self, store: LicenseStore, verifier: Verifier, renew: Renewer,
                 policy: RenewalPolicy, moment: datetime, rng: random.Random) -> None:
        self.store, self.verifier, self.renew = store, verifier, renew
        self.policy, self.moment, self.rng = policy, moment, rng
        self.arn = renew.license_arn
        self.checked_in: list[str] = []

    def run(self) -> StartupResult:
        stored = self._load()
        current = stored if isinstance(stored, VerifiedLicense) else None
        try:
            state = self.store.renewal_state(self.arn)
            if current is not None and not self._online_needed(current, state):
                return StartupResult(license=current)
        except StoreError as exc:
            return self._state_unknown(stored, exc)
        with contextlib.ExitStack() as held:
            try:
                mine = held.enter_context(self.store.renewing(wait=current is None))
            except StoreError as exc:  # the lock cannot be taken: an OS error, not a renewal
                log.error("license renewal is stopped: %s", exc)
                return self._without_renewal(stored, exc)
            if not mine:  # another process of this app is renewing right now
                return self._without_renewal(stored, None)
            stored = self._load()  # it may just have renewed
            try:
                state = self.store.renewal_state(self.arn)
            except StoreError as exc:
                return self._state_unknown(stored, exc)
            return self._renew(stored, state)

    def _state_unknown(self, stored: _Stored, error: StoreError) -> StartupResult:
        """The lifecycle state cannot be read: seats of this node may be held that it does
        not know of, so nothing is borrowed (the stored license still runs the app)."""
        log.error("license renewal is stopped until the lifecycle state is repaired: %s", error)
        return self._without_renewal(stored, error)

    def _load(self) -> _Stored:
        """The stored license, or why there is none."""
        try:
            return self.store.load(self.arn, self.verifier, now=self.moment).license
        except ConfigurationError:  # a mistake in the app, not a failure to renew
            raise
        except LicenseTokenError as exc:
            return exc

    def _online_needed(self, current: VerifiedLicense, state: RenewalState) -> bool:
        if state.next_attempt is not None and self.moment < state.next_attempt:
            return False
        pending = any(p.expires_at > self.moment for p in self.store.pending_check_ins())
        return pending or (self.policy.due(current, self.moment)
                           and not state.early_check_in_forbidden)

    def _without_renewal(self, stored: _Stored,
                         error: LicenseTokenError | None) -> StartupResult:
        if not isinstance(stored, VerifiedLicense):
            if isinstance(stored, NotInStore) and isinstance(error, (NotYetValid, ClockRollback)):
                raise error from stored  # the clock is the cause, not the empty store
            raise stored from error
        if error is not None:
            log.warning("license renewal failed, running on the stored token until %s: %s",
                        stored.expires_at.isoformat(), error)
        return StartupResult(license=stored, renewal_error=error,
                             checked_in=tuple(self.checked_in))

    # -- the online part --------------------------------------------------------------
    def _renew(self, stored: _Stored, state: RenewalState) -> StartupResult:
        current = stored if isinstance(stored, VerifiedLicense) else None
        error = self._retry_pending()
        if error is not None:  # a seat of ours may still be held: never borrow on top of it
            return self._failed(stored, state, error)
        if current is not None and not self.policy.due(current, self.moment):
            self._set_state(attrs.evolve(state, failures=0, next_attempt=None))
            return self._without_renewal(stored, None)
        if current is not None and state.early_check_in_forbidden:
            return self._without_renewal(stored, None)
        for seat in self._held_seats(stored, state):
            if state.early_check_in_forbidden:  # learnt before: no call, no second seat
                log.info("early check-in is not allowed: renewing once %s has expired",
                         seat.expires_at.isoformat())
                return self._without_renewal(stored, None)
            try:  # first return the seat: never two at once
                self._check_in(seat.token)
            except ConfigurationError:
                raise
            except LicenseTokenError as exc:
                if exc.code != _CONFLICT or not self._early_check_in_forbidden():
                    return self._failed(stored, state, exc)  # retried later
                self._set_state(attrs.evolve(state, early_check_in_forbidden=True,
                                             failures=0, next_attempt=None))
                log.info("early check-in is not allowed: renewing once %s has expired",
                         seat.expires_at.isoformat())
                return self._without_renewal(stored, exc if current is None else None)
            state = attrs.evolve(state, released=seat.token)
            self._set_state(state)
        client_token = state.client_token or _new_client_token()
        if state.client_token is None:  # recorded before the call: an answer may get lost
            state = attrs.evolve(state, client_token=client_token)
            try:
                self.store.set_renewal_state(self.arn, state)
            except StoreError as exc:  # no borrow that could not be recognised again
                return self._failed(stored, state, exc)
        try:
            response = self.renew.checkout(client_token=client_token)
        except ConfigurationError:
            raise
        except LicenseTokenError as exc:
            self._remember_unreturned(exc)
            if not getattr(exc, "retryable", False):  # answered for good: a new token next
                state = attrs.evolve(state, client_token=None)
            return self._failed(stored, state, exc)
        try:
            saved = self.store.save(response, self.verifier, now=self.moment, fetched_now=True)
        except LicenseTokenError as exc:  # the seat is taken but cannot be kept: return it
            self._return_fetched(response)
            if isinstance(exc, ConfigurationError):
                raise
            return self._failed(stored, attrs.evolve(state, client_token=None), exc)
        self._set_state(RenewalState(held=saved.license.consumption_token,
                                     held_until=saved.license.expires_at))
        return StartupResult(license=saved.license, renewed=True,
                             checked_in=tuple(self.checked_in))

    def _held_seats(self, stored: _Stored, state: RenewalState) -> list[_Seat]:
        """The seats this node still holds for the license, not yet checked in: the valid
        stored checkout's; or, when it failed, the one the last renewal recorded and the one
        in the file (unless the file belongs to another node, or has expired)."""
        if isinstance(stored, VerifiedLicense):
            token = stored.consumption_token
            return [] if token is None or token == state.released else [
                _Seat(token=token, expires_at=stored.expires_at)]
        seats = []
        if state.held and state.held_until and state.held_until > self.moment:
            seats.append(_Seat(token=state.held, expires_at=state.held_until))
        claims = None if isinstance(stored, NodeMismatch) else _unverified_claims(
            self.store.read_unverified(self.arn))
        node = self.verifier.policy.node_id
        if claims is not None and claims.consumption_token is not None \
                and claims.expiration > self.moment and claims.license_arn == self.arn \
                and (node is None or claims.node_id == node) \
                and claims.consumption_token != state.held:
            seats.append(_Seat(token=claims.consumption_token, expires_at=claims.expiration))
        return [seat for seat in seats if seat.token != state.released]

    def _early_check_in_forbidden(self) -> bool:
        """Whether the license's consumption configuration forbids early check-in (asked
        after a ``ConflictException``, which may also be transient); ``False`` if unknown."""
        ask = getattr(self.renew, "early_check_in_allowed", None)
        if not callable(ask):
            return False
        try:
            return ask() is False
        except ConfigurationError:
            raise
        except LicenseTokenError:
            return False

    def _return_fetched(self, response: Source) -> None:
        claims = _unverified_claims(response)
        if claims is not None and claims.consumption_token is not None:
            self._check_in_or_remember(_Seat(token=claims.consumption_token,
                                             expires_at=claims.expiration))

    def _remember_unreturned(self, exc: LicenseTokenError) -> None:
        token = getattr(exc, "consumption_token", None)  # aws.SeatNotReturned
        if isinstance(token, str):
            expires = getattr(exc, "expires_at", None)
            self._remember(token, expires if isinstance(expires, datetime)
                           else self.moment + timedelta(days=366))

    def _check_in_or_remember(self, seat: _Seat) -> None:
        try:
            self._check_in(seat.token)
        except ConfigurationError:
            raise
        except LicenseTokenError:
            self._remember(seat.token, seat.expires_at)  # held until it is returned

    def _check_in(self, consumption_token: str) -> None:
        try:
            self.renew.check_in(consumption_token)
        except LicenseTokenError as exc:
            if exc.code != _GONE:
                raise
        self.checked_in.append(consumption_token)

    def _retry_pending(self) -> LicenseTokenError | None:
        """Retry the pending check-ins; the first error that says "offline" stops them."""
        for pending in self.store.pending_check_ins():
            if pending.expires_at <= self.moment:
                self._forget(pending.consumption_token)
                continue
            try:
                self._check_in(pending.consumption_token)
            except ConfigurationError:
                raise
            except LicenseTokenError as exc:
                token = pending.consumption_token
                log.warning("pending check-in of consumption %s failed (attempt %d): %s",
                            token_prefix(token), pending.attempts + 1, exc.code)
                self._guard(functools.partial(self.store.check_in_failed, token))
                return exc
            self._forget(pending.consumption_token)
        return None

    def _failed(self, stored: _Stored, state: RenewalState,
                error: LicenseTokenError) -> StartupResult:
        failures = state.failures + 1
        wait = self.policy.backoff(failures, self.rng)
        self._set_state(attrs.evolve(state, failures=failures,
                                     next_attempt=self.moment + wait))
        return self._without_renewal(stored, error)

    # -- store writes that must not stop the app --------------------------------------
    def _remember(self, consumption_token: str, expires_at: datetime) -> None:
        log.warning("consumption %s could not be checked in: it is kept and retried at the "
                    "next starts", token_prefix(consumption_token))
        self._guard(lambda: self.store.remember_check_in(self.arn, consumption_token,
                                                         expires_at=expires_at))

    def _forget(self, consumption_token: str) -> None:
        self._guard(lambda: self.store.forget_check_in(consumption_token))

    def _set_state(self, state: RenewalState) -> None:
        self._guard(lambda: self.store.set_renewal_state(self.arn, state))

    @staticmethod
    def _guard(write: Callable[[], None]) -> None:
        try:
            write()
        except StoreError as exc:  # unwritable, or a garbled file (never written over)
            log.error("the license store cannot record the renewal state: %s", exc)

