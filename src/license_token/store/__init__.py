"""The offline license store: checkouts saved once, re-verified at every load.

Files hold only the raw checkout response (nothing that needs trusting) and are written
atomically and durably: a temporary file in the same directory, flush, fsync, rename,
fsync of the directory. Writers are serialised across processes by a file lock. The
store also keeps a high-water mark of trusted time to notice a clock turned back; its
``SeatLedger`` (``lifecycle.json``) records the seats this node may hold and the
renewal back-off.

Time comes in two kinds, never mixed: ``now`` is a real clock reading (the default is the
verifier's clock) and is checked against the mark and may advance it; ``as_of`` is a
what-if ("would this verify at that instant?") and neither reads nor moves the mark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._clock import aware, current_time
from .._errors import (
    ClockBehind,
    ConfigurationError,
    LicenseTokenError,
    NotInStore,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from .._files import fsync_directory, write_atomic
from .._log import Log
from .._response import Source
from .._verify import Verifier, verify_allowing_slow_clock
from ._entries import (
    MAX_ENTRY,
    LoadFailure,
    StoredLicense,
    as_document,
    entry_bytes,
    entry_name,
    entry_paths,
    named_license,
    read_entry,
    skipped_files,
)
from ._lifecycle import Backoff, SeatLedger, SeatRecord, SeatState
from ._mark import MAX_MARK_FILE, ClockMark, next_mark, read_mark
from ._writer import Writer

__all__ = [
    "DEFAULT_ROLLBACK_TOLERANCE",
    "MAX_ROLLBACK_TOLERANCE",
    "Backoff",
    "ClockBehind",
    "LicenseStore",
    "LoadFailure",
    "NotInStore",
    "SeatLedger",
    "SeatRecord",
    "SeatState",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "StoredLicense",
]

log = Log(__name__)

DEFAULT_ROLLBACK_TOLERANCE = timedelta(hours=24)
"""How far a clock reading may fall behind the store's mark before ``clock_rollback``."""
MAX_ROLLBACK_TOLERANCE = timedelta(days=366)
"""Largest rollback tolerance accepted (the clock mark is a date: it must stay one)."""


class LicenseStore:
    """Saved checkouts in one directory: one file per license ARN, plus a clock mark.

    ``directory`` defaults to the per-user data directory of ``app_name``
    (``platformdirs``). Nothing read from disk is trusted: every load re-verifies.

    Example:
        ```python
        store = LicenseStore(app_name="AcmeApp")
        store.save(checkout.response, verifier)
        lic = store.load(license_arn, verifier).license
        ```

    Args:
        directory: the store directory (created on the first save).
        app_name: names the per-user data directory when ``directory`` is not given.
        app_author: the app's author, for that directory on Windows.
        rollback_tolerance: how far the clock may read before the latest trusted time seen
            without ``clock_rollback`` (24 h by default; at most
            ``MAX_ROLLBACK_TOLERANCE``).

    Raises:
        ConfigurationError: neither ``directory`` nor ``app_name`` was given, or
            ``rollback_tolerance`` is not a ``timedelta`` from 0 to 366 days.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, *,
                 app_name: str | None = None, app_author: str | None = None,
                 rollback_tolerance: timedelta = DEFAULT_ROLLBACK_TOLERANCE) -> None:
        if directory is None:
            if not app_name:
                raise ConfigurationError("LicenseStore needs a directory or an app_name")
            import platformdirs

            directory = Path(platformdirs.user_data_dir(app_name, app_author)) / "licenses"
        if not isinstance(rollback_tolerance, timedelta) or not (
                timedelta(0) <= rollback_tolerance <= MAX_ROLLBACK_TOLERANCE):
            raise ConfigurationError(f"rollback_tolerance must be a timedelta from 0 to "
                                     f"{MAX_ROLLBACK_TOLERANCE.days} days, not "
                                     f"{rollback_tolerance!r}")
        self.directory = Path(directory)
        self.rollback_tolerance = rollback_tolerance
        self._writer = Writer(self.directory)

    def __repr__(self) -> str:
        return f"LicenseStore({str(self.directory)!r})"

    # -- writing ----------------------------------------------------------------------
    def save(self, response: Source, verifier: Verifier, *, now: datetime | None = None,
             fetched_now: bool = False) -> StoredLicense:
        """Verify ``response`` at the real time ``now``, then store it durably.

        An invalid response is never written. ``datetime`` values in a response dict are
        written in the service's form (UTC with ``Z``). A signed ``issuedAt`` ahead of
        ``now`` by up to the rollback tolerance is accepted (the clock is slow: the
        license's ``clock_behind`` says by how much); expiry is judged exactly.
        ``fetched_now=True`` says the response was just fetched online: if its signed
        ``issuedAt`` is within the rollback tolerance of ``now``, it is evidence of real
        time and resets the clock mark (downwards too, never below a signed ``issuedAt``
        already seen), so a machine whose clock was once wrong recovers at its next online
        start.

        The clock mark is written first, then the checkout; when a write fails, what was
        already replaced is put back, so a ``StoreUnavailable`` means nothing changed
        (unless its ``written`` names what could not be put back).

        Args:
            response: a checkout response (dict, JSON text/bytes) or a bare token.
            verifier: the app's verifier (pinned keys and policy).
            now: a real clock reading (default: the verifier's clock).
            fetched_now: the response comes straight from the service.

        Returns:
            The stored license; ``written`` names the files written.

        Raises:
            InvalidLicense: the response does not verify (``ClockRollback`` and
                ``ClockBehind`` included).
            StoreUnavailable: the directory cannot be written.
            ConfigurationError: ``now`` is naive, or the response holds non-JSON values.
        """
        moment = current_time(verifier.clock, now)
        raw = as_document(response)
        lic = verify_allowing_slow_clock(verifier, raw, now=moment,
                                         tolerance=self.rollback_tolerance)
        path = self.directory / entry_name(lic.license_arn)
        evidence = fetched_now and abs(lic.issued_at - moment) <= self.rollback_tolerance
        data = entry_bytes(lic.license_arn, moment, raw)  # never written unless readable
        with self._writer.locked(path):
            mark = self._mark()
            if mark is not None:
                mark.check(moment, self.rollback_tolerance, evidence=evidence)
            moved = next_mark(mark, moment, lic.issued_at, evidence=evidence)
            marks = [] if moved is None else [(self._clock_path, moved.to_bytes(), MAX_MARK_FILE)]
            written = self._writer.write_all([*marks, (path, data, MAX_ENTRY)])
        return StoredLicense(path=path, license=lic, response=raw, saved_at=moment,
                             written=written)

    def import_response(self, response: Source, verifier: Verifier, *,
                        now: datetime | None = None) -> StoredLicense:
        """Store a response borrowed on another machine, for an air-gapped one.

        The response must pass every check of ``verifier`` (this machine's pinned keys,
        node ID, license and requirements) against this machine's clock; a file for
        another node, or one failing any check, raises and nothing is written. Unlike a
        checkout fetched here, an imported file is no evidence of the time on this
        machine: it never moves the clock mark back.

        Args:
            response: The saved response (JSON text or bytes, a dict) or bare token.
            verifier: This machine's policy.
            now: The instant to verify at; the verifier's clock by default.

        Returns:
            The stored, verified license.

        Raises:
            InvalidLicense: The response failed a check (``code`` says which).
            ClockRollback: This machine's clock reads earlier than time already seen.
            StoreError: The store cannot be written.
        """
        return self.save(response, verifier, now=now)

    def remove(self, license_arn: str) -> None:
        """Delete the checkout stored for ``license_arn`` (its seat is not checked in).

        Args:
            license_arn: the license.

        Raises:
            NotInStore: nothing is stored for it.
            StoreUnavailable: the store cannot be written.
        """
        path = self.directory / entry_name(license_arn)
        with self._writer.locked(path):
            try:
                path.unlink()
            except FileNotFoundError:
                raise NotInStore(f"no checkout stored for {license_arn}", path) from None
            fsync_directory(self.directory)

    # -- reading ----------------------------------------------------------------------
    def paths(self) -> list[Path]:
        """The stored checkout files, sorted."""
        return entry_paths(self.directory)

    def skipped_files(self) -> list[tuple[Path, str]]:
        """The files of the directory that no load can use, and why.

        A file is skipped when it is not a store entry (a response copied in by hand, say:
        ``import_response`` stores one), or when it is an entry that cannot be read.

        Returns:
            ``(path, why)`` pairs, sorted; empty when the directory cannot be listed.
        """
        return skipped_files(self.directory)

    def license_arns(self) -> list[str]:
        """License ARNs named by the stored files (unverified; use ``load`` to verify)."""
        return [arn for arn in map(named_license, self.paths()) if arn is not None]

    def load(self, license_arn: str, verifier: Verifier, *, now: datetime | None = None,
             as_of: datetime | None = None) -> StoredLicense:
        """Read and re-verify the checkout stored for ``license_arn``.

        Args:
            license_arn: the license whose checkout to load.
            verifier: the app's verifier.
            now: a real clock reading (default: the verifier's clock); checked against the
                clock mark, which it advances.
            as_of: instead of ``now``, a what-if instant: verify as of then, leaving the
                clock mark alone.

        Returns:
            The stored license, verified.

        Raises:
            NotInStore: nothing is stored for ``license_arn``.
            StoreCorrupt: the file is unreadable or belongs to another license.
            InvalidLicense: the stored checkout does not verify (``ClockRollback`` too).
            ConfigurationError: a naive ``now``/``as_of``, or both given.
        """
        path = self.directory / entry_name(license_arn)
        if not path.exists():
            raise NotInStore(f"no checkout stored for {license_arn}", path)
        return self.load_path(path, verifier, now=now, as_of=as_of)

    def load_path(self, path: Path, verifier: Verifier, *, now: datetime | None = None,
                  as_of: datetime | None = None) -> StoredLicense:
        """``load()`` for one file of the store.

        Args:
            path: a file of the store (see ``paths()``).
            verifier: checks the stored response.
            now: as for ``load()``.
            as_of: as for ``load()``.

        Returns:
            The stored license, verified.

        Raises:
            StoreCorrupt: the file is unreadable, garbled, or does not belong to its license.
            InvalidLicense: the stored response no longer verifies.
            ClockRollback: the clock reads earlier than time already seen.
        """
        what_if = self._as_of(now, as_of)
        moment = what_if or current_time(verifier.clock, now)
        arn, saved_at, response = read_entry(path)
        if what_if is None:
            mark = self._mark()
            if mark is not None:
                mark.check(moment, self.rollback_tolerance)
        lic = verify_allowing_slow_clock(verifier, response, now=moment,
                                         tolerance=self.rollback_tolerance)
        if lic.license_arn != arn or path.name != entry_name(arn):
            raise StoreCorrupt("the file does not belong to the license it holds", path)
        if what_if is None:
            self._advance_clock_quietly(moment, lic.issued_at)
        return StoredLicense(path=path, license=lic, response=response, saved_at=saved_at)

    def load_all(self, verifier: Verifier, *, now: datetime | None = None,
                 as_of: datetime | None = None) -> tuple[
            list[StoredLicense], list[LoadFailure]]:
        """Every stored checkout that verifies, and a failure record for each that does not.

        Args:
            verifier: checks each stored response.
            now: as for ``load()``.
            as_of: as for ``load()``.

        Returns:
            ``(loaded, failed)``: one list of ``StoredLicense``, one of
            ``LoadFailure``.
        """
        self._as_of(now, as_of)
        if as_of is None:
            now = current_time(verifier.clock, now)
        loaded, failed = [], []
        for path in self.paths():
            try:
                loaded.append(self.load_path(path, verifier, now=now, as_of=as_of))
            except LicenseTokenError as exc:
                if isinstance(exc, ConfigurationError):
                    raise
                failed.append(LoadFailure(path=path, error=exc,
                                          license_arn=named_license(path)))
        return loaded, failed

    def read_unverified(self, license_arn: str) -> Mapping[str, Any] | None:
        """The stored response for ``license_arn`` as written, UNVERIFIED.

        Only to explain a file that failed (``store show``/``store verify`` print its
        token's rows), never to decide whether the app may run nor which seat to check in
        (the seat ledger decides that).

        Args:
            license_arn: the license.

        Returns:
            The response, or ``None`` when nothing readable is stored.
        """
        try:
            return read_entry(self.directory / entry_name(license_arn))[2]
        except StoreError:
            return None

    # -- the clock mark (store/_mark.py) ------------------------------------------------
    @property
    def _clock_path(self) -> Path:
        return self.directory / "clock.json"

    def _mark(self) -> ClockMark | None:
        return read_mark(self._clock_path, self.rollback_tolerance)

    def high_water_mark(self) -> datetime | None:
        """The latest trusted time seen, or ``None`` before the first save."""
        mark = self._mark()
        return None if mark is None else mark.high_water

    def reset_clock_mark(self) -> None:
        """Forget the clock mark: support's recovery for an offline machine whose mark is wrong.

        The next start records the time again. Prefer an online start, which resets the mark
        from a fresh token's signed ``issuedAt``.

        Raises:
            StoreUnavailable: the store cannot be written.
        """
        with self._writer.locked(self._clock_path):
            try:
                self._clock_path.unlink()
            except FileNotFoundError:
                return
            fsync_directory(self.directory)

    def _advance_clock_quietly(self, moment: datetime, issued_at: datetime) -> None:
        """Loading must work on a read-only store: a mark that cannot advance is logged."""
        if next_mark(self._mark(), moment, issued_at, evidence=False) is None:
            return  # the usual load: no lock taken, nothing written
        try:
            with self._writer.locked(self._clock_path):
                moved = next_mark(self._mark(), moment, issued_at, evidence=False)
                if moved is not None:
                    write_atomic(self._clock_path, moved.to_bytes())
        except StoreUnavailable as exc:
            log.warning("clock mark not advanced: %s", exc)

    @staticmethod
    def _as_of(now: datetime | None, as_of: datetime | None) -> datetime | None:
        if as_of is None:
            return None
        if now is not None:
            raise ConfigurationError("give either now (a clock reading) or as_of (a what-if)")
        return aware(as_of, "as_of")


