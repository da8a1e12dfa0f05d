"""Bounded reads (``_files``): the one read that refuses oversized key files and store entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from license_token import KeyRejected, TrustStore, Verifier
from license_token.store import LicenseStore, StoreCorrupt
from license_token.testing import TokenFactory


def test_oversized_files_are_refused_by_the_one_bounded_read(tmp_path: Path,
                                                             factory: TokenFactory) -> None:
    big_key = tmp_path / "big.pem"
    big_key.write_bytes(factory.public_key_pem() + b" " * (1024 * 1024))
    with pytest.raises(KeyRejected, match="larger than 1048576 bytes"):
        TrustStore.from_file(big_key)
    verifier = Verifier(factory.trust_store())
    store = LicenseStore(tmp_path / "store")
    saved = store.save(factory.response(), verifier)
    saved.path.write_bytes(saved.path.read_bytes() + b" " * (512 * 1024 + 1))
    with pytest.raises(StoreCorrupt, match="larger than"):
        store.load(saved.license.license_arn, verifier)
