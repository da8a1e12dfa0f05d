from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from license_token.testing import TokenFactory

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
EXTERNAL_VECTORS = VECTORS / "external"


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The cases of one project vector file."""
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return cases


@pytest.fixture(scope="session")
def factory() -> TokenFactory:
    return TokenFactory()
