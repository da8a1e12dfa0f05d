"""The seat ledger: every consumption this node may hold, kept in ``lifecycle.json``.

A seat is the customer's money, and the stored checkout file cannot say which seats are
held: it may be missing, copied from another machine, or an older file put back. The
ledger can: each consumption the renewal takes (or learns of) is a ``SeatRecord``
with its node, license, ``ClientToken``, consumption token, expiry and ``SeatState``,
written *before* the call that could take or return it, so that a lost answer or a
killed process leaves a record the next start acts on. The renewal (``startup``) decides
from the ledger what to check in, what to fetch again by its ``ClientToken``, and when a
new checkout may be taken; the ledger itself decides nothing.

The records and the document are in ``store._seats``. The document is small JSON, written
atomically under the store's lock; it is never guessed: a garbled or unknown document stops
renewal (``StoreCorrupt``) and is never written over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .._clock import aware
from .._errors import InvalidLicense, StoreCorrupt, StoreUnavailable
from .._files import read_regular, write_atomic
from ._seats import Backoff, LedgerState, SeatRecord, SeatState
from ._writer import LOCK_TIMEOUT

if TYPE_CHECKING:
    from . import LicenseStore

__all__ = ["LOCK_TIMEOUT", "Backoff", "LedgerState", "SeatLedger", "SeatRecord", "SeatState"]

_MAX_STATE_FILE = 1024 * 1024


class SeatLedger:
    """The seats this store's node may hold, and the renewal back-off (``lifecycle.json``).

    Handed the store whose directory and write lock it shares; read fresh at every call
    (other processes of the app write it too).

    Args:
        store: the ``LicenseStore`` it keeps the seats of.
    """

    def __init__(self, store: LicenseStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"SeatLedger({str(self.path)!r})"

    @property
    def path(self) -> Path:
        """The ledger's file."""
        return self.store.directory / "lifecycle.json"

    def state(self) -> LedgerState:
        """The document; never a guess: unknown seats could cost the customer one.

        Returns:
            The ledger as stored (empty when there is no file yet).

        Raises:
            StoreCorrupt: the file is garbled or of another version (left as it is).
            StoreUnavailable: the file cannot be read.
        """
        try:  # like every store file: no symlink, no FIFO or device, a bounded read
            data = read_regular(self.path, _MAX_STATE_FILE)
            if len(data) > _MAX_STATE_FILE:
                raise OSError(f"larger than {_MAX_STATE_FILE} bytes")
            return LedgerState.from_bytes(data)
        except FileNotFoundError:
            return LedgerState()
        except OSError as exc:
            raise StoreUnavailable(f"unreadable: {exc.strerror or exc}", self.path) from exc
        except InvalidLicense as exc:
            raise StoreCorrupt(
                f"{exc}; the seats it records are unknown, so nothing is borrowed: check in "
                "the consumptions it names, then move it aside", self.path) from exc

    def seats(self, license_arn: str | None = None) -> list[SeatRecord]:
        """The seat records, oldest first (of ``license_arn`` only, when given).

        Args:
            license_arn: only this license's records; every record when ``None``.

        Returns:
            The records.

        Raises:
            StoreError: the ledger cannot be read (``StoreCorrupt`` when garbled).
        """
        return [s for s in self.state().seats if license_arn in (None, s.license_arn)]

    def backoff(self, license_arn: str) -> Backoff:
        """The renewal back-off remembered for ``license_arn`` (none if never failed).

        Args:
            license_arn: the license.

        Returns:
            The back-off.

        Raises:
            StoreError: the ledger cannot be read (``StoreCorrupt`` when garbled).
        """
        return self.state().backoff.get(license_arn, Backoff())

    def update(self, change: Callable[[LedgerState], LedgerState]) -> LedgerState:
        """Apply ``change`` to the current document and write the result, under the lock.

        Args:
            change: makes the new document from the current one.

        Returns:
            The document written.

        Raises:
            StoreUnavailable: the directory cannot be written.
            StoreCorrupt: the ledger is garbled (it is not overwritten).
        """
        with self.store._writer.locked(self.path):
            new = change(self.state())
            write_atomic(self.path, new.to_bytes())
        return new

    def record(self, seat: SeatRecord) -> None:
        """Write ``seat``, replacing the record of the same seat.

        Args:
            seat: the record.

        Raises:
            StoreError: the ledger cannot be written.
        """
        self.update(lambda s: s.with_seat(seat))

    def set_backoff(self, license_arn: str, backoff: Backoff) -> None:
        """Remember the back-off of ``license_arn``.

        Args:
            license_arn: the license.
            backoff: its back-off.

        Raises:
            StoreError: the ledger cannot be written.
        """
        self.update(lambda s: attrs.evolve(s, backoff={**s.backoff, license_arn: backoff}))

    def return_later(self, license_arn: str, consumption_token: str, *, expires_at: datetime,
                     node_id: str | None) -> None:
        """Record a consumption of this node to check in before the next checkout.

        For a seat taken outside the renewal (say by a script) that this node should give
        back: the next online start checks it in first.

        Args:
            license_arn: the license.
            consumption_token: the consumption's ``licenseConsumptionToken``.
            expires_at: when it ends by itself.
            node_id: the node it was checked out for (the verifier's ``node_id``).

        Raises:
            StoreError: the ledger cannot be written.
            ConfigurationError: ``expires_at`` is naive.
        """
        self.record(SeatRecord(license_arn=license_arn, node_id=node_id,
                               state=SeatState.TO_RETURN, consumption_token=consumption_token,
                               expires_at=aware(expires_at, "expires_at")))

    @contextmanager
    def renewing(self, *, wait: bool) -> Iterator[bool]:
        """Serialise renewals across processes: yields ``True`` if this process may renew.

        Args:
            wait: wait up to ``LOCK_TIMEOUT`` for a renewal running elsewhere; with
                ``False`` one yields ``False`` at once.

        Yields:
            Whether this process holds the renewal lock.

        Raises:
            StoreUnavailable: the lock cannot be taken for another reason than another
                renewal (``.renew.lock`` a directory, a read-only or full store, …).
        """
        from filelock import FileLock, Timeout  # only a start that renews pays for it

        directory = self.store.directory
        lock = FileLock(str(directory / ".renew.lock"), timeout=LOCK_TIMEOUT if wait else 0)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            yield False
            return
        except OSError as exc:
            raise StoreUnavailable(f"cannot take the renewal lock: {exc.strerror or exc}",
                                   directory / ".renew.lock") from exc
        try:
            yield True
        finally:
            lock.release()
