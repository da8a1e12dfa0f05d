"""The library's loggers, looked up at their first message.

Importing ``logging`` costs about 3 ms, a fifteenth of a whole minimal verifying
process; a start that goes well logs nothing, so it does not pay for it. The messages are
the same as through ``logging.getLogger(name)``, attributed to the caller's line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["Log"]


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

            self._logger = logging.getLogger(self.name)
        return self._logger

    def info(self, message: str, *args: object) -> None:
        """``Logger.info``, attributed to the caller."""
        self.logger.info(message, *args, stacklevel=2)

    def warning(self, message: str, *args: object) -> None:
        """``Logger.warning``, attributed to the caller."""
        self.logger.warning(message, *args, stacklevel=2)

    def error(self, message: str, *args: object) -> None:
        """``Logger.error``, attributed to the caller."""
        self.logger.error(message, *args, stacklevel=2)
