"""The library's warnings during a command: on stderr, each distinct one once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ._common import write

__all__ = ["warnings_once"]


class _OnceHandler(logging.Handler):
    """Writes each distinct warning once, as ``license-token: warning: …`` (escaped)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.seen:
            self.seen.add(message)
            write(f"license-token: warning: {message}")


@contextmanager
def warnings_once() -> Iterator[None]:
    """While a command runs, the ``license_token`` loggers' warnings go to stderr once each
    (a garbled clock mark read twice is one warning), instead of Python's last-resort
    handler; the handler is removed afterwards, leaving logging as it was."""
    logger, handler = logging.getLogger("license_token"), _OnceHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
