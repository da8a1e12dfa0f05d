from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest

from license_token import Verifier
from license_token.testing import TokenFactory

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
EXTERNAL_VECTORS = VECTORS / "external"
#: The instant the store, edge and trusted-time tests run at.
NOW = datetime(2026, 3, 15, 12, tzinfo=timezone.utc)


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The cases of one project vector file."""
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return cases


@pytest.fixture(scope="session")
def factory() -> TokenFactory:
    return TokenFactory()


@pytest.fixture(scope="module")
def issuer() -> TokenFactory:
    """An issuer whose tokens are valid at ``NOW``."""
    return TokenFactory(now=NOW)


@pytest.fixture
def verifier(issuer: TokenFactory) -> Verifier:
    """A verifier of ``issuer``'s tokens whose clock reads ``NOW``."""
    return Verifier(issuer.trust_store(), clock=lambda: NOW)


class ManualClock:
    """A clock the test moves by hand (``clock.now += …``), shared by the emulator and the
    code under test so that time travels without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    """A fresh :class:`ManualClock` at the current second."""
    return ManualClock()


class NoOffset(tzinfo):
    """A time zone that does not know its offset: a naive datetime in disguise."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None
