"""The license store's errors (shared by the store and its lifecycle state)."""

from __future__ import annotations

from pathlib import Path

from .._errors import LicenseTokenError

__all__ = ["NotInStore", "StoreCorrupt", "StoreError", "StoreUnavailable"]


class StoreError(LicenseTokenError):
    """The store could not be read or written; ``path`` names the file."""

    code = "store_error"

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class StoreCorrupt(StoreError):
    """A stored file is truncated, garbled, foreign or of an unknown version."""

    code = "store_corrupt"


class StoreUnavailable(StoreError):
    """The store directory cannot be written (disk full, read-only, permissions, lock)."""

    code = "store_unavailable"


class NotInStore(StoreError):
    """No checkout is stored for that license."""

    code = "not_in_store"
