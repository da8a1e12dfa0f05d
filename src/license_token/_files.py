"""Bounded reads and atomic, durable file replacement, shared by keys, the store and the CLI."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tempfile and pathlib cost the verify path's cold start: writers import
    from pathlib import Path

__all__ = ["fsync_directory", "read_bounded", "write_atomic"]


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
