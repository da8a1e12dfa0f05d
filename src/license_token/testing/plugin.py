"""pytest plugin (entry point ``license_token``): fixtures for vendors' own tests."""

from __future__ import annotations

import pytest

from ._factory import TokenFactory


@pytest.fixture(scope="session")
def license_token_factory() -> TokenFactory:
    """A session-wide :class:`TokenFactory` with a fresh 2048-bit issuer key."""
    return TokenFactory()
