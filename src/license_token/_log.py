"""The library's loggers, looked up at their first message.

Importing ``logging`` costs about 3 ms, a fifteenth of a whole minimal verifying
process; a start that goes well logs nothing, so it does not pay for it. The messages are
the same as through ``logging.getLogger(name)``, attributed to the caller's line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["Log", "token_prefix", "token_repr", "when_logging"]

_waiting: list[Callable[[], None]] = []
_started = False  # a logger of the library was looked up: its messages may flow now


def when_logging(hook: Callable[[], None]) -> Callable[[], None]:
    """Call ``hook`` before the library's first message: at once, if it may have logged.

    For a handler on the ``license_token`` logger (the CLI's warnings) that should not
    import ``logging`` for a command that logs nothing: every message of the library goes
    through a :class:`Log`, which calls the waiting hooks when it first looks its logger up.

    Args:
        hook: What to call (once).

    Returns:
        A function that takes the hook back if it has not been called yet.
    """
    if _started:
        hook()
        return lambda: None
    _waiting.append(hook)
    return lambda: _waiting.remove(hook) if hook in _waiting else None


class Log:
    """``logging.getLogger(name)``, looked up when first used.

    Args:
        name: the logger's name, e.g. ``license_token.store``.
    """

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    @property
    def logger(self) -> logging.Logger:
        """The logger itself (``logging`` is imported the first time)."""
        if self._logger is None:
            import logging

            global _started
            _started = True
            while _waiting:
                _waiting.pop(0)()
            self._logger = logging.getLogger(self.name)
        return self._logger

    def debug(self, message: str, *args: object) -> None:
        """``Logger.debug``, attributed to the caller."""
        self.logger.debug(message, *args, stacklevel=2)

    def info(self, message: str, *args: object) -> None:
        """``Logger.info``, attributed to the caller."""
        self.logger.info(message, *args, stacklevel=2)

    def warning(self, message: str, *args: object) -> None:
        """``Logger.warning``, attributed to the caller."""
        self.logger.warning(message, *args, stacklevel=2)

    def error(self, message: str, *args: object) -> None:
        """``Logger.error``, attributed to the caller."""
        self.logger.error(message, *args, stacklevel=2)


def token_prefix(token: str) -> str:
    """The first characters of a token, enough to tell it apart in a log or a message."""
    return f"{token[:8]}..."


def token_repr(value: str | tuple[str, ...] | None) -> str:
    """``repr`` of a token, or of a tuple of them, shortened to ``token_prefix()`` as in logs.

    For the ``repr=`` of attrs fields that hold consumption tokens or ``ClientToken`` values.
    """
    if isinstance(value, tuple):
        return repr(tuple(token_prefix(token) for token in value))
    return repr(value if value is None else token_prefix(value))
