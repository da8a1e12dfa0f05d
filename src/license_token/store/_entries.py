"""The store's entry files: their names, their format, reading and writing them whole.

An entry is ``<32 hex>.json`` holding ``{"format", "version", "license_arn", "saved_at",
"response"}``: the raw checkout response, nothing that needs trusting.
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .._clock import format_time, parse_time
from .._errors import LicenseTokenError, Malformed, StoreCorrupt, StoreError, StoreUnavailable
from .._files import NotRegularFile, read_regular
from .._jws import loads_strict
from .._key_forms import sha256
from .._response import MAX_RESPONSE_LENGTH, Source, read_response, wire_form
from .._verify import VerifiedLicense

ENTRY_FORMAT, VERSION = "license-token/checkout", 1
ENTRY_NAME = re.compile(r"[0-9a-f]{32}\.json")
OWN_FILE = re.compile(r"clock\.json|lifecycle\.json|\.lock|\.renew\.lock|\..+\.tmp", re.ASCII)
"""The store's own files besides its entries (clock mark, lifecycle, locks, temp files)."""
MAX_ENTRY = 2 * MAX_RESPONSE_LENGTH


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


def entry_name(license_arn: str) -> str:
    # surrogatepass: an ARN typed on a command line may hold undecodable bytes.
    return sha256(license_arn.encode("utf-8", "surrogatepass")).hex()[:32] + ".json"


def read_file(path: Path, limit: int) -> bytes:
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


def read_entry(path: Path) -> tuple[str, datetime, dict[str, Any]]:
    """A stored entry's ``(license ARN, saved at, response)``, unverified.

Raises:
    StoreCorrupt: it is missing, unreadable, or not an entry of this format.
    """
    try:
        data = read_file(path, MAX_ENTRY)
    except FileNotFoundError as exc:
        raise StoreCorrupt("unreadable: no such file", path) from exc
    try:
        entry = loads_strict(data, "stored checkout")
        if entry.get("format") != ENTRY_FORMAT:
            raise StoreCorrupt("not a license-token checkout file", path)
        if entry.get("version") != VERSION:
            raise StoreCorrupt(f"unsupported version {entry.get('version')!r}", path)
        arn, response = entry.get("license_arn"), entry.get("response")
        if not isinstance(arn, str) or not isinstance(response, dict):
            raise StoreCorrupt("missing license_arn or response", path)
        return arn, parse_time(entry.get("saved_at"), "saved_at"), response
    except Malformed as exc:
        raise StoreCorrupt(f"truncated or garbled ({exc})", path) from exc


def unwritable(exc: OSError, path: Path, *, left: tuple[Path, ...] = ()) -> StoreUnavailable:
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


def entry_bytes(license_arn: str, saved_at: datetime, response: dict[str, Any]) -> bytes:
    """The stored form of an entry; what the store could not read back is never written.

    Raises:
        Malformed: the response holds what JSON cannot, or is too large to store.
    """
    entry = {"format": ENTRY_FORMAT, "version": VERSION, "license_arn": license_arn,
             "saved_at": format_time(saved_at), "response": response}
    try:
        data = json.dumps(entry, indent=2, allow_nan=False).encode() + b"\n"
    except (TypeError, ValueError, RecursionError) as exc:  # not JSON, NaN, a cycle, deep
        raise Malformed(f"the response cannot be stored: {exc}") from None
    if len(data) > MAX_ENTRY:
        raise Malformed(f"the response cannot be stored: larger than {MAX_ENTRY} bytes")
    try:
        loads_strict(data, "stored checkout")
    except Malformed as exc:
        raise Malformed(f"the response cannot be stored: {exc}") from None
    return data


def as_document(response: Source) -> dict[str, Any]:
    """The response as a JSON-ready dict (a bare token is kept as ``{"SignedToken": …}``)."""
    if isinstance(response, Mapping):
        try:
            return dict(wire_form(response))
        except RecursionError:  # a value that contains itself, or nests past the stack
            raise Malformed("the response cannot be stored: a value contains itself or "
                            "nests too deeply") from None
    checkout = read_response(response)
    return dict(checkout.unsigned) or {"SignedToken": checkout.token}


def entry_paths(directory: Path) -> list[Path]:
    """The entry files of ``directory``, sorted; none when it cannot be listed."""
    try:
        return sorted(p for p in directory.glob("*.json") if ENTRY_NAME.fullmatch(p.name))
    except OSError:
        return []


def named_license(path: Path) -> str | None:
    """The license ARN an entry names, unverified; ``None`` if it is unreadable."""
    try:
        return read_entry(path)[0]
    except StoreError:
        return None


def skipped_files(directory: Path) -> list[tuple[Path, str]]:
    """The files of ``directory`` no load can use, and why (see
    ``LicenseStore.skipped_files``)."""
    entries = set(entry_paths(directory))
    try:
        names = sorted(directory.iterdir())
    except OSError:
        return []
    skipped = []
    for path in names:
        if path in entries:
            try:
                read_entry(path)
            except StoreError as exc:
                skipped.append((path, f"{exc.code}: {exc}"))
        elif not OWN_FILE.fullmatch(path.name):
            skipped.append((path, "not a store entry"))
    return skipped
