"""Fuzz every ``TrustStore`` loader with the same bytes (and their text and JSON readings)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports():
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from license_token import LicenseTokenError, TrustStore

_FILE = Path(tempfile.mkdtemp(prefix="fuzz-keys-")) / "key"


def _loaders(data: bytes) -> list[Callable[[], TrustStore]]:
    text = data.decode("utf-8", "surrogateescape")
    loaders: list[Callable[[], TrustStore]] = [
        lambda: TrustStore.from_pem(data), lambda: TrustStore.from_pem(text),
        lambda: TrustStore.from_der(data), lambda: TrustStore.from_base64_der(data),
        lambda: TrustStore.from_base64_der(text), lambda: TrustStore.from_jwk(text),
        lambda: TrustStore.from_jwks(text), lambda: TrustStore.from_bytes(data),
        lambda: TrustStore.from_file(_FILE),
        lambda: TrustStore.from_kms_public_key({"PublicKey": data, "KeySpec": "RSA_2048",
                                                "SigningAlgorithms": ["RSASSA_PSS_SHA_384"]}),
        lambda: TrustStore.from_kms_public_key({"PublicKey": text, "KeySpec": "RSA_4096",
                                                "SigningAlgorithms": ["RSASSA_PSS_SHA_384"]}),
    ]
    try:
        doc: Any = json.loads(data)
    except (ValueError, RecursionError):
        return loaders
    if isinstance(doc, dict):
        loaders += [lambda: TrustStore.from_jwk(doc), lambda: TrustStore.from_jwks(doc),
                    lambda: TrustStore.from_kms_public_key(doc)]
    return loaders


def test_one_input(data: bytes) -> None:
    _FILE.write_bytes(data)
    for load in _loaders(data):
        try:
            store = load()
        except LicenseTokenError:
            continue
        for pinned in store:
            if not isinstance(pinned.public_key, RSAPublicKey) or pinned.key_size < 2048:
                raise AssertionError(f"accepted a key that is not RSA >= 2048: {data!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
