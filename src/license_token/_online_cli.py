"""CLI commands that reach AWS or the emulator (filled in by the adapter issue)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add the online sub-commands to the ``license-token`` parser."""
