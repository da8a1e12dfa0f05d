"""Writing the store: one writer at a time across processes (a file lock), and groups of
files replaced all or nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import StoreUnavailable
from .._files import Rollback, write_atomic
from ._entries import unwritable

if TYPE_CHECKING:
    from filelock import FileLock

LOCK_TIMEOUT = 30.0
"""Seconds a store write (or a waiting renewal) waits for the store's lock."""


class Writer:
    """The writes of one store directory (``LicenseStore`` and its ``SeatLedger``).

    Args:
        directory: the store's directory.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock: tuple[int, FileLock] | None = None

    def _file_lock(self) -> FileLock:
        """This process's lock object (a lock object must not cross a fork)."""
        if self._lock is None or self._lock[0] != os.getpid():
            from filelock import FileLock  # imported by the starts that write only
            self._lock = (os.getpid(), FileLock(str(self.directory / ".lock"),
                                                timeout=LOCK_TIMEOUT))
        return self._lock[1]

    @contextmanager
    def locked(self, what: Path) -> Iterator[None]:
        """Hold the store lock (the directory made first) while the block writes.

        Raises:
            StoreUnavailable: another process holds the lock past ``LOCK_TIMEOUT``, or the
                directory cannot be written (``what`` is the file named).
        """
        from filelock import Timeout

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._file_lock():
                yield
        except Timeout as exc:
            raise StoreUnavailable("another process holds the store lock", what) from exc
        except OSError as exc:
            raise unwritable(exc, what) from exc

    def write_all(self, files: list[tuple[Path, bytes, int]]) -> tuple[Path, ...]:
        """Replace each file in turn, all or nothing (the caller holds the store lock).

        Raises:
            StoreUnavailable: a write failed; what was replaced before is put back (the
                error's ``written`` names what could not be).
        """
        rollback = Rollback()
        try:
            for target, data, limit in files:
                rollback.keep(target, limit)
                write_atomic(target, data)
        except OSError as exc:
            raise unwritable(exc, target, left=tuple(rollback.undo())) from exc
        rollback.discard()
        return tuple(target for target, _, _ in files)
