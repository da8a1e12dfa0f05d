"""The library's warnings during a command: on stderr, each distinct one once.

The handler is put on the ``license_token`` logger just before the library's first message
(``license_token._log.when_logging``): a command that logs nothing never imports ``logging``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .._log import when_logging
from ._common import write

if TYPE_CHECKING:
    import logging

__all__ = ["warnings_once"]


def _once_handler() -> logging.Handler:
    """A handler writing each distinct warning once, as ``license-token: warning: …``."""
    import logging

    class OnceHandler(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.seen: set[str] = set()

        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message not in self.seen:
                self.seen.add(message)
                write(f"license-token: warning: {message}")

    return OnceHandler()


@contextmanager
def warnings_once() -> Iterator[None]:
    """While a command runs, the ``license_token`` loggers' warnings go to stderr once each
    (a garbled clock mark read twice is one warning), instead of Python's last-resort
    handler; the handler is removed afterwards, leaving logging as it was."""
    attached: list[logging.Handler] = []

    def attach() -> None:
        import logging

        handler = _once_handler()
        logging.getLogger("license_token").addHandler(handler)
        attached.append(handler)

    cancel = when_logging(attach)
    try:
        yield
    finally:
        cancel()
        if attached:
            import logging

            logging.getLogger("license_token").removeHandler(attached[0])
