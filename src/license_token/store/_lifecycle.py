"""What the store remembers between starts besides checkouts: pending check-ins and renewal
back-off, kept as one small JSON document (``lifecycle.json``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .._claims import format_time, parse_time
from .._clock import aware
from .._errors import InvalidLicense, Malformed, StoreCorrupt, StoreUnavailable, token_repr
from .._files import read_regular, write_atomic
from .._jws import loads_strict
from .._log import Log

__all__ = ["LifecycleState", "PendingCheckIn", "RenewalState", "StoreState"]

_MAX_STATE_FILE = 1024 * 1024
log = Log("license_token.store")
LOCK_TIMEOUT = 30.0
"""Seconds a store write (or a waiting renewal) waits for the store's lock."""

_FORMAT, _VERSION = "license-token/lifecycle", 1


@attrs.frozen(kw_only=True)
class PendingCheckIn:
    """A consumption this store must still check in (its check-in failed, or never ran).

    Retried at later starts until it succeeds or ``expires_at`` passes (the service frees
    the seat by itself then); ``attempts`` counts the retries that failed (logged with each
    new failure).

    Attributes:
        license_arn: the license the consumption belongs to.
        consumption_token: the ``licenseConsumptionToken`` to check in.
        expires_at: when the consumption ends by itself.
        attempts: the check-ins tried so far that failed.
    """

    license_arn: str
    consumption_token: str = attrs.field(repr=token_repr)
    expires_at: datetime
    attempts: int = 0


@attrs.frozen(kw_only=True)
class RenewalState:
    """Renewal back-off for one license, remembered across starts.

    ``failures`` counts renewal attempts that failed in a row; no new attempt is made
    before ``next_attempt`` while a stored license is still valid.
    ``early_check_in_forbidden``: checking the held borrow in was refused and the
    license's configuration forbids early check-in, so renewal waits until that borrow
    has expired (learnt again for each borrow, never for good). ``held`` (until ``held_until``)
    is the consumption the last renewal took, so that its seat can be returned even if the
    stored file is lost; ``released`` is the consumption token of the stored checkout once
    it has been checked in (so it is not checked in twice). ``client_token`` is the
    ``ClientToken`` of a checkout in flight: recorded before the call and reused until a
    checkout is saved or the service refuses it for good, so that a checkout whose answer
    was lost is answered again with the same seat instead of a second one.

    Attributes:
        failures: renewal attempts that failed in a row.
        next_attempt: the earliest next attempt, or ``None``.
        early_check_in_forbidden: the held borrow's check-in was refused and the license
            forbids early check-in (learnt again for each borrow).
        held: the consumption token the last renewal took, or ``None``.
        held_until: when that consumption ends.
        released: the stored checkout's consumption token once checked in, or ``None``.
        client_token: the ``ClientToken`` of a checkout in flight, or ``None``.
    """

    failures: int = 0
    next_attempt: datetime | None = None
    early_check_in_forbidden: bool = False
    held: str | None = attrs.field(default=None, repr=token_repr)
    held_until: datetime | None = None
    released: str | None = attrs.field(default=None, repr=token_repr)
    client_token: str | None = attrs.field(default=None, repr=token_repr)


@attrs.frozen(kw_only=True)
class LifecycleState:
    """The whole document: pending check-ins in order, renewal state by license ARN."""

    pending: tuple[PendingCheckIn, ...] = ()
    renewal: Mapping[str, RenewalState] = attrs.field(factory=dict)

    def to_bytes(self) -> bytes:
        import json

        doc = {
            "format": _FORMAT, "version": _VERSION,
            "pending_check_ins": [
                {"license_arn": p.license_arn, "consumption_token": p.consumption_token,
                 "expires_at": format_time(p.expires_at), "attempts": p.attempts}
                for p in self.pending],
            "renewal": {
                arn: {"failures": s.failures,
                      "next_attempt": _time(s.next_attempt),
                      "early_check_in_forbidden": s.early_check_in_forbidden,
                      "held": s.held, "held_until": _time(s.held_until),
                      "released": s.released, "client_token": s.client_token}
                for arn, s in sorted(self.renewal.items())},
        }
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> LifecycleState:
        """Parse the document; raises ``InvalidLicense`` (``Malformed``) when it is not one."""
        doc = loads_strict(data, "lifecycle state")
        if doc.get("format") != _FORMAT or doc.get("version") != _VERSION:
            raise Malformed("not a lifecycle state document of a known version")
        try:
            pending = tuple(
                PendingCheckIn(license_arn=_str(p["license_arn"]),
                               consumption_token=_str(p["consumption_token"]),
                               expires_at=parse_time(p["expires_at"], "expires_at"),
                               attempts=_int(p["attempts"]))
                for p in doc["pending_check_ins"])
            renewal = {
                _str(arn): RenewalState(
                    failures=_int(s["failures"]),
                    next_attempt=_parse(s["next_attempt"]),
                    early_check_in_forbidden=s["early_check_in_forbidden"] is True,
                    held=None if s["held"] is None else _str(s["held"]),
                    held_until=_parse(s["held_until"]),
                    released=None if s["released"] is None else _str(s["released"]),
                    client_token=_optional_str(s.get("client_token")))
                for arn, s in doc["renewal"].items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise Malformed(f"lifecycle state: missing or wrong member {exc}") from exc
        return cls(pending=pending, renewal=renewal)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _parse(text: object) -> datetime | None:
    return None if text is None else parse_time(text, "lifecycle state time")


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a string")
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise TypeError("expected a count")
    return value


class StoreState:
    """The store's lifecycle state (``lifecycle.json``): pending check-ins, renewal back-off.

    Mixed into ``LicenseStore``, which provides ``directory``
    and ``_writing`` (the store's cross-process write lock).
    """

    directory: Path

    def _writing(self, what: Path) -> AbstractContextManager[None]:
        raise NotImplementedError

    @property
    def _state_path(self) -> Path:
        return self.directory / "lifecycle.json"

    def _state(self) -> LifecycleState:
        """The document; never a guess: unknown pending check-ins could cost a seat.

        Raises:
            StoreCorrupt: the file is garbled or of another version (left as it is).
            StoreUnavailable: the file cannot be read.
        """
        try:  # like every store file: no symlink, no FIFO or device, a bounded read
            data = read_regular(self._state_path, _MAX_STATE_FILE)
            if len(data) > _MAX_STATE_FILE:
                raise OSError(f"larger than {_MAX_STATE_FILE} bytes")
            return LifecycleState.from_bytes(data)
        except FileNotFoundError:
            return LifecycleState()
        except OSError as exc:
            raise StoreUnavailable(f"unreadable: {exc.strerror or exc}", self._state_path) from exc
        except InvalidLicense as exc:
            raise StoreCorrupt(
                f"{exc}; the pending check-ins and held seats it records are unknown, so "
                "nothing is borrowed: check in the consumptions it names, then move it aside",
                self._state_path) from exc

    def _update_state(self, change: Callable[[LifecycleState], LifecycleState]) -> None:
        with self._writing(self._state_path):
            write_atomic(self._state_path, change(self._state()).to_bytes())

    def pending_check_ins(self) -> list[PendingCheckIn]:
        """Consumptions still to check in, oldest first.

        Raises:
            StoreError: ``lifecycle.json`` is unreadable (``StoreCorrupt`` when garbled).
        """
        return list(self._state().pending)

    def remember_check_in(self, license_arn: str, consumption_token: str, *,
                          expires_at: datetime) -> None:
        """Record a consumption to check in at a later start (kept once per token).

        Raises:
            StoreUnavailable: the directory cannot be written.
            StoreCorrupt: ``lifecycle.json`` is garbled (it is not overwritten).
        """
        pending = PendingCheckIn(license_arn=license_arn, consumption_token=consumption_token,
                                 expires_at=aware(expires_at, "expires_at"))
        self._update_state(lambda s: s if any(
            p.consumption_token == consumption_token for p in s.pending)
            else attrs.evolve(s, pending=(*s.pending, pending)))

    def check_in_failed(self, consumption_token: str) -> None:
        """Count one more failed attempt for a pending check-in."""
        self._update_state(lambda s: attrs.evolve(s, pending=tuple(
            attrs.evolve(p, attempts=p.attempts + 1) if p.consumption_token == consumption_token
            else p for p in s.pending)))

    def forget_check_in(self, consumption_token: str) -> None:
        """Drop a pending check-in (it succeeded, or its consumption has expired)."""
        self._update_state(lambda s: attrs.evolve(s, pending=tuple(
            p for p in s.pending if p.consumption_token != consumption_token)))

    def renewal_state(self, license_arn: str) -> RenewalState:
        """The renewal back-off remembered for ``license_arn`` (a fresh state if none).

        Raises:
            StoreError: ``lifecycle.json`` is unreadable (``StoreCorrupt`` when garbled).
        """
        return self._state().renewal.get(license_arn, RenewalState())

    def set_renewal_state(self, license_arn: str, state: RenewalState) -> None:
        """Remember ``state`` for ``license_arn``.

        Raises:
            StoreUnavailable: the directory cannot be written.
            StoreCorrupt: ``lifecycle.json`` is garbled (it is not overwritten).
        """
        self._update_state(lambda s: attrs.evolve(
            s, renewal={**s.renewal, license_arn: state}))

    @contextmanager
    def renewing(self, *, wait: bool) -> Iterator[bool]:
        """Serialise renewals across processes: yields ``True`` if this process may renew.

        With ``wait=False`` a renewal already running elsewhere yields ``False`` at once.

        Raises:
            StoreUnavailable: the lock cannot be taken for another reason than another
                renewal (``.renew.lock`` a directory, a read-only or full store, …).
        """
        from filelock import FileLock, Timeout  # only a start that renews pays for it

        lock = FileLock(str(self.directory / ".renew.lock"), timeout=LOCK_TIMEOUT if wait else 0)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            yield False
            return
        except OSError as exc:
            raise StoreUnavailable(f"cannot take the renewal lock: {exc.strerror or exc}",
                                   self.directory / ".renew.lock") from exc
        try:
            yield True
        finally:
            lock.release()
