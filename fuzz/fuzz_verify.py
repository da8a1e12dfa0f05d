"""Fuzz ``Verifier.verify`` on bytes (response JSON, bare token, any encoding).

Run: ``python fuzz/fuzz_verify.py fuzz/corpus/verify -max_total_time=20``
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import _support

    from license_token import LicenseTokenError, TrustStore, Verifier

KEY = _support.pinned_key()
VERIFIER = Verifier(TrustStore.from_file(_support.KEY_FILE), clock=lambda: _support.NOW)


def test_one_input(data: bytes) -> None:
    try:
        lic = VERIFIER.verify(data)
    except LicenseTokenError:
        return
    token = _support.signed_token_of(data)
    if token != lic.token or not _support.reference_accepts(lic.token, KEY):
        raise AssertionError(f"accepted what the reference rejects: {data!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
