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

import errno
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._claims import format_time, parse_time
from .._clock import aware, current_time
from .._errors import (
    ClockBehind,
    ConfigurationError,
    LicenseTokenError,
    Malformed,
    NotInStore,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from .._files import NotRegularFile, Rollback, fsync_directory, read_regular, write_atomic
from .._jws import loads_strict
from .._key_forms import sha256
from .._log import Log
from .._response import MAX_RESPONSE_LENGTH, Source, read_response, wire_form
from .._verify import VerifiedLicense, Verifier, verify_allowing_slow_clock
from ._lifecycle import LOCK_TIMEOUT, Backoff, SeatLedger, SeatRecord, SeatState
from ._mark import MAX_MARK_FILE, ClockMark, next_mark, read_mark

if TYPE_CHECKING:
    from filelock import FileLock

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
_ENTRY_FORMAT, _VERSION = "license-token/checkout", 1
_ENTRY_NAME = re.compile(r"[0-9a-f]{32}\.json")
_OWN_FILE = re.compile(r"clock\.json|lifecycle\.json|\.lock|\.renew\.lock|\..+\.tmp", re.ASCII)
"""The store's own files besides its entries (clock mark, lifecycle, locks, temp files)."""
_MAX_ENTRY = 2 * MAX_RESPONSE_LENGTH


@attrs.frozen(kw_only=True)
class StoredLicense:
    """A stored checkout that verified just now.

    Attributes:
        path: the file it was read from.
        license: the verified license.
        response: the stored response, as saved.
        saved_at: when it was saved (the store's clock reading then).
        written: the files this call wrote (by ``save``: the checkout, and ``clock.json``
            when the mark moved; nothing by ``load``).
    """

    path: Path
    license: VerifiedLicense
    response: Mapping[str, Any] = attrs.field(repr=False)  # holds the signed token
    saved_at: datetime
    written: tuple[Path, ...] = ()


@attrs.frozen(kw_only=True)
class LoadFailure:
    """A stored file that did not load; the others are unaffected.

    Attributes:
        path: the file.
        error: why it did not load (``store_corrupt``, ``expired``, ``bad_signature``, …).
        license_arn: the license the file names, UNVERIFIED (to tell the user which
            license failed, never to decide anything); ``None`` if it names none.
    """

    path: Path
    error: LicenseTokenError
    license_arn: str | None = None


def _entry_name(license_arn: str) -> str:
    # surrogatepass: an ARN typed on a command line may hold undecodable bytes.
    return sha256(license_arn.encode("utf-8", "surrogatepass")).hex()[:32] + ".json"


def _read(path: Path, limit: int) -> bytes:
    """A stored file, if it is a regular file (no symlink) of at most ``limit`` bytes."""
    try:
        data = read_regular(path, limit)
    except NotRegularFile:
        raise StoreCorrupt("not a regular file", path) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreCorrupt(f"unreadable: {exc.strerror or exc}", path) from exc
    if len(data) > limit:
        raise StoreCorrupt(f"larger than {limit} bytes", path)
    return data


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
        self._lock: tuple[int, FileLock] | None = None

    def _file_lock(self) -> FileLock:
        """This process's lock object (a lock object must not cross a fork)."""
        if self._lock is None or self._lock[0] != os.getpid():
            from filelock import FileLock  # imported by the starts that write only
            self._lock = (os.getpid(), FileLock(str(self.directory / ".lock"),
                                                timeout=LOCK_TIMEOUT))
        return self._lock[1]

    def __repr__(self) -> str:
        return f"LicenseStore({str(self.directory)!r})"

    # -- writing ----------------------------------------------------------------------
    @contextmanager
    def _writing(self, what: Path) -> Iterator[None]:
        from filelock import Timeout

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._file_lock():
                yield
        except Timeout as exc:
            raise StoreUnavailable("another process holds the store lock", what) from exc
        except OSError as exc:
            raise _unwritable(exc, what) from exc

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
        moment = self._now(verifier, now)
        raw = _as_document(response)
        lic = verify_allowing_slow_clock(verifier, raw, now=moment,
                                         tolerance=self.rollback_tolerance)
        path = self.directory / _entry_name(lic.license_arn)
        entry = {"format": _ENTRY_FORMAT, "version": _VERSION, "license_arn": lic.license_arn,
                 "saved_at": format_time(moment), "response": raw}
        evidence = fetched_now and abs(lic.issued_at - moment) <= self.rollback_tolerance
        data = _entry_bytes(entry)  # what could not be read back is never written
        with self._writing(path):
            mark = self._mark()
            if mark is not None:
                mark.check(moment, self.rollback_tolerance, evidence=evidence)
            moved = next_mark(mark, moment, lic.issued_at, evidence=evidence)
            marks = [] if moved is None else [(self._clock_path, moved.to_bytes(), MAX_MARK_FILE)]
            written = self._write_all([*marks, (path, data, _MAX_ENTRY)])
        return StoredLicense(path=path, license=lic, response=raw, saved_at=moment,
                             written=written)

    def _write_all(self, files: list[tuple[Path, bytes, int]]) -> tuple[Path, ...]:
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
            raise _unwritable(exc, target, left=tuple(rollback.undo())) from exc
        rollback.discard()
        return tuple(target for target, _, _ in files)

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
        path = self.directory / _entry_name(license_arn)
        with self._writing(path):
            try:
                path.unlink()
            except FileNotFoundError:
                raise NotInStore(f"no checkout stored for {license_arn}", path) from None
            fsync_directory(self.directory)

    # -- reading ----------------------------------------------------------------------
    def paths(self) -> list[Path]:
        """The stored checkout files, sorted."""
        try:
            return sorted(p for p in self.directory.glob("*.json")
                          if _ENTRY_NAME.fullmatch(p.name))
        except OSError:
            return []

    def skipped_files(self) -> list[tuple[Path, str]]:
        """The files of the directory that no load can use, and why.

        A file is skipped when it is not a store entry (a response copied in by hand, say:
        ``import_response`` stores one), or when it is an entry that cannot be read.

        Returns:
            ``(path, why)`` pairs, sorted; empty when the directory cannot be listed.
        """
        entries = set(self.paths())
        try:
            names = sorted(self.directory.iterdir())
        except OSError:
            return []
        skipped = []
        for path in names:
            if path in entries:
                try:
                    self._read_entry(path)
                except StoreError as exc:
                    skipped.append((path, f"{exc.code}: {exc}"))
            elif not _OWN_FILE.fullmatch(path.name):
                skipped.append((path, "not a store entry"))
        return skipped

    def license_arns(self) -> list[str]:
        """License ARNs named by the stored files (unverified; use ``load`` to verify)."""
        arns = []
        for path in self.paths():
            try:
                arns.append(self._read_entry(path)[0])
            except StoreError:
                continue
        return arns

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
        path = self.directory / _entry_name(license_arn)
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
        moment = what_if or self._now(verifier, now)
        arn, saved_at, response = self._read_entry(path)
        if what_if is None:
            mark = self._mark()
            if mark is not None:
                mark.check(moment, self.rollback_tolerance)
        lic = verify_allowing_slow_clock(verifier, response, now=moment,
                                         tolerance=self.rollback_tolerance)
        if lic.license_arn != arn or path.name != _entry_name(arn):
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
            now = self._now(verifier, now)
        loaded, failed = [], []
        for path in self.paths():
            try:
                loaded.append(self.load_path(path, verifier, now=now, as_of=as_of))
            except LicenseTokenError as exc:
                if isinstance(exc, ConfigurationError):
                    raise
                failed.append(LoadFailure(path=path, error=exc,
                                          license_arn=self._named_license(path)))
        return loaded, failed

    def _named_license(self, path: Path) -> str | None:
        """The license ARN a stored file names, unverified; ``None`` if unreadable."""
        try:
            return self._read_entry(path)[0]
        except StoreError:
            return None

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
            return self._read_entry(self.directory / _entry_name(license_arn))[2]
        except StoreError:
            return None

    def _read_entry(self, path: Path) -> tuple[str, datetime, dict[str, Any]]:
        try:
            data = _read(path, _MAX_ENTRY)
        except FileNotFoundError as exc:
            raise StoreCorrupt("unreadable: no such file", path) from exc
        try:
            entry = loads_strict(data, "stored checkout")
            if entry.get("format") != _ENTRY_FORMAT:
                raise StoreCorrupt("not a license-token checkout file", path)
            if entry.get("version") != _VERSION:
                raise StoreCorrupt(f"unsupported version {entry.get('version')!r}", path)
            arn, response = entry.get("license_arn"), entry.get("response")
            if not isinstance(arn, str) or not isinstance(response, dict):
                raise StoreCorrupt("missing license_arn or response", path)
            return arn, parse_time(entry.get("saved_at"), "saved_at"), response
        except Malformed as exc:
            raise StoreCorrupt(f"truncated or garbled ({exc})", path) from exc

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
        with self._writing(self._clock_path):
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
            with self._writing(self._clock_path):
                moved = next_mark(self._mark(), moment, issued_at, evidence=False)
                if moved is not None:
                    write_atomic(self._clock_path, moved.to_bytes())
        except StoreUnavailable as exc:
            log.warning("clock mark not advanced: %s", exc)

    @staticmethod
    def _now(verifier: Verifier, now: datetime | None) -> datetime:
        return current_time(verifier.clock, now)

    @staticmethod
    def _as_of(now: datetime | None, as_of: datetime | None) -> datetime | None:
        if as_of is None:
            return None
        if now is not None:
            raise ConfigurationError("give either now (a clock reading) or as_of (a what-if)")
        return aware(as_of, "as_of")


def _unwritable(exc: OSError, path: Path, *, left: tuple[Path, ...] = ()) -> StoreUnavailable:
    """The error for a write that failed; ``left``: files that hold what was written."""
    reason = {errno.ENOSPC: "disk full", errno.EROFS: "read-only file system",
              errno.EACCES: "permission denied", errno.EDQUOT: "quota exceeded"}.get(
        exc.errno or 0, exc.strerror or str(exc))
    if left:
        names = ", ".join(p.name for p in left)
        error = StoreUnavailable(f"cannot write: {reason}; {names} could not be put back "
                                 "and hold what was written", path)
        error.written = left
        return error
    return StoreUnavailable(f"cannot write: {reason}", path)


def _entry_bytes(entry: dict[str, Any]) -> bytes:
    """The stored form of ``entry``; what the store could not read back is never written."""
    try:
        data = json.dumps(entry, indent=2, allow_nan=False).encode() + b"\n"
    except (TypeError, ValueError, RecursionError) as exc:  # not JSON, NaN, a cycle, deep
        raise Malformed(f"the response cannot be stored: {exc}") from None
    if len(data) > _MAX_ENTRY:
        raise Malformed(f"the response cannot be stored: larger than {_MAX_ENTRY} bytes")
    try:
        loads_strict(data, "stored checkout")
    except Malformed as exc:
        raise Malformed(f"the response cannot be stored: {exc}") from None
    return data


def _as_document(response: Source) -> dict[str, Any]:
    """The response as a JSON-ready dict (a bare token is kept as ``{"SignedToken": …}``)."""
    if isinstance(response, Mapping):
        try:
            return dict(wire_form(response))
        except RecursionError:  # a value that contains itself, or nests past the stack
            raise Malformed("the response cannot be stored: a value contains itself or "
                            "nests too deeply") from None
    checkout = read_response(response)
    return dict(checkout.unsigned) or {"SignedToken": checkout.token}

