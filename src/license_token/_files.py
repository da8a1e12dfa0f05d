"""Bounded reads and atomic, durable file replacement, shared by keys, the store and the CLI."""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tempfile and pathlib cost the verify path's cold start: writers import
    from pathlib import Path

__all__ = ["NotRegularFile", "Rollback", "fsync_directory", "read_bounded", "read_regular",
           "write_atomic"]


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the file at ``path``, refusing a file larger than ``limit`` bytes.

    At most ``limit + 1`` bytes are read, whatever the file's size.

    Args:
        path: the file to read.
        limit: the largest size accepted, in bytes.

    Returns:
        The file's content.

    Raises:
        OSError: the file cannot be read; ``errno.EFBIG`` when it is larger than ``limit``.
    """
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
    return data

# O_NOFOLLOW: a symlink is refused (ELOOP); O_NONBLOCK: a FIFO opens without waiting for a
# writer. Platforms without them (Windows) have neither symlinks planted by users nor FIFOs.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | (
    getattr(os, "O_BINARY", 0))


class NotRegularFile(OSError):
    """The path names a directory, FIFO, device or socket, not a regular file."""


def read_regular(path: Path, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of the regular file ``path``, never following a symlink.

    For files the library owns (the store): a FIFO, device or planted symlink is refused
    instead of blocking, streaming forever or reading elsewhere.

    Args:
        path: the file to read.
        limit: the caller refuses more than ``limit`` bytes; ``limit + 1`` are read at most.

    Returns:
        The bytes read.

    Raises:
        NotRegularFile: ``path`` is not a regular file.
        OSError: it cannot be opened or read (``ELOOP`` for a symlink).
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{path}: not a regular file")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; on Windows a flushed replace is)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once; the old file stays until the new is durable.

    A temporary file in the same directory is written, flushed and fsynced, renamed over
    ``path`` with ``os.replace``, and the directory is fsynced. The file is created with
    mode 0600 (``mkstemp``): checkouts are the user's own.
    """
    import tempfile  # here, not at the top: only writers pay for it

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Rollback:
    """Files about to be replaced, kept so that a group of replacements is all or nothing.

    Before each replacement, ``keep()`` keeps the file as it is (a hard link, which needs
    no space; its bytes where hard links are not supported; its absence). If a later write
    fails, ``undo()`` puts every kept file back; ``discard()`` drops the copies once all
    writes succeeded.
    """

    def __init__(self) -> None:
        self._kept: list[tuple[Path, Path | bytes | None]] = []

    def keep(self, path: Path, limit: int) -> None:
        """Keep ``path`` as it is now, before it is replaced.

        Args:
            path: the file about to be replaced.
            limit: the largest file kept as bytes (where hard links are not supported).

        Raises:
            OSError: it cannot be kept (e.g. a directory, which cannot be replaced either).
        """
        import secrets

        backup = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
        try:
            os.link(path, backup, follow_symlinks=False)
        except FileNotFoundError:
            if os.path.lexists(path):  # pragma: no cover - removed again in between
                raise
            self._kept.append((path, None))
        except (OSError, NotImplementedError):  # no hard links here: keep the bytes
            data = read_regular(path, limit)
            if len(data) > limit:
                raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path)) from None
            self._kept.append((path, data))
        else:
            self._kept.append((path, backup))

    def undo(self) -> list[Path]:
        """Put every kept file back, the last kept first.

        Returns:
            The files that could not be put back (they hold what was written).
        """
        failed: list[Path] = []
        for path, kept in reversed(self._kept):
            try:
                if kept is None:
                    path.unlink(missing_ok=True)
                elif isinstance(kept, bytes):
                    if read_regular(path, len(kept)) != kept:  # else it was never replaced
                        write_atomic(path, kept)
                else:
                    os.replace(kept, path)
                    fsync_directory(path.parent)
            except OSError:
                failed.append(path)
        self.discard()
        return failed

    def discard(self) -> None:
        """Drop the kept copies (every replacement succeeded, or was undone)."""
        for _, kept in self._kept:
            if isinstance(kept, os.PathLike):
                try:
                    os.unlink(kept)
                except OSError:
                    pass
        self._kept = []
