"""pytest plugin (entry point ``license_token``): fixtures for vendors' own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._emulator import LocalLicenseManager
from ._factory import TokenFactory


@pytest.fixture(scope="session")
def license_token_factory() -> TokenFactory:
    """A session-wide ``TokenFactory`` with a fresh 2048-bit issuer key."""
    return TokenFactory()


@pytest.fixture
def license_manager() -> Iterator[LocalLicenseManager]:
    """A running ``LocalLicenseManager`` on 127.0.0.1, stopped after the test."""
    with LocalLicenseManager() as emulator:
        yield emulator
