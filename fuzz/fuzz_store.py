"""Fuzz the store reading arbitrary bytes as a checkout file and as its clock mark.

``load_all``, ``license_arns`` and ``high_water_mark`` must never raise: every bad file is
a ``LoadFailure`` (a ``LicenseTokenError``), an unreadable mark is ignored.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import _support

    from license_token import LicenseTokenError, TrustStore, Verifier
    from license_token.store import LicenseStore

VERIFIER = Verifier(TrustStore.from_file(_support.KEY_FILE), clock=lambda: _support.NOW)
DIRECTORY = Path(tempfile.mkdtemp(prefix="fuzz-store-"))
ENTRY = DIRECTORY / ("0" * 32 + ".json")
CLOCK = DIRECTORY / "clock.json"


def test_one_input(data: bytes) -> None:
    for path in (ENTRY, CLOCK):
        path.unlink(missing_ok=True)
    ENTRY.write_bytes(data)
    if len(data) % 3 == 0:
        CLOCK.write_bytes(data)
    store = LicenseStore(DIRECTORY)
    loaded, failed = store.load_all(VERIFIER)
    if len(loaded) + len(failed) != 1 or not all(
            isinstance(f.error, LicenseTokenError) for f in failed):
        raise AssertionError(f"load_all lost or mistyped the file: {data!r}")
    store.license_arns()
    store.high_water_mark()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    try:
        atheris.Fuzz()
    finally:
        shutil.rmtree(DIRECTORY, ignore_errors=True)
