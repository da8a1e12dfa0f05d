"""Hostile edges: every input ends in the library's typed error, never another exception."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from license_token import (
    ConfigurationError,
    Malformed,
    Verifier,
)
from license_token.store import LicenseStore, NotInStore, StoreCorrupt
from license_token.testing import TokenFactory

# -- dates ------------------------------------------------------------------------------------


def test_verify_cli_prints_json_for_a_perpetual_token(
        issuer: TokenFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from license_token.cli import main

    key, token = tmp_path / "key.pem", tmp_path / "token.json"
    key.write_bytes(issuer.public_key_pem())
    token.write_text(json.dumps(issuer.response(expiration="9999-12-31T23:59:59Z")))
    assert main(["verify", str(token), "--key", str(key), "--json",
                 "--at", "2026-03-15T12:00:00Z"]) == 1
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["code"] == "malformed"


@pytest.mark.parametrize("mark", ["0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_clock_mark_at_the_ends_of_time_is_ignored(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path, mark: str,
        caplog: pytest.LogCaptureFixture) -> None:
    store = LicenseStore(tmp_path)
    store.save(issuer.response(), verifier)
    (tmp_path / "clock.json").write_text(
        json.dumps({"format": "license-token/clock", "version": 1, "high_water": mark}))
    with caplog.at_level(logging.WARNING, logger="license_token.store"):
        loaded, failed = store.load_all(verifier)
    assert (len(loaded), failed) == (1, [])
    assert "clock mark" in caplog.text


# -- numbers ----------------------------------------------------------------------------------


def test_huge_exponent_value_gets_a_json_result_from_the_cli(
        issuer: TokenFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from license_token.cli import main

    claims = issuer.claims(entitlementsAllowed=[{"name": "Users", "unit": "Count",
                                                 "value": "1E+999999999"}])
    key, token = tmp_path / "key.pem", tmp_path / "token.json"
    key.write_bytes(issuer.public_key_pem())
    token.write_text(json.dumps(issuer.response(claims)))
    assert main(["verify", str(token), "--key", str(key), "--json", "--require",
                 "Users:Count=5", "--at", "2026-03-15T12:00:00Z"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == (
        "entitlement_insufficient")


def test_store_refuses_a_response_it_could_not_read_back(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path) -> None:
    response = issuer.response() | {"Extra": float("inf")}
    with pytest.raises(Malformed, match="cannot be stored"):
        LicenseStore(tmp_path).save(response, verifier)
    assert list(tmp_path.glob("*.json")) == []


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("extra", [
    "\ud800",        # json.dumps writes it as an escape that no strict reader accepts
    _nested(17),     # deeper than MAX_JSON_DEPTH: verify never reads unsigned extras
], ids=["lone surrogate", "nested 17 deep"])
def test_store_never_writes_what_it_would_refuse_to_read_back(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path, extra: Any) -> None:
    store = LicenseStore(tmp_path)
    with pytest.raises(Malformed, match="cannot be stored"):
        store.save(issuer.response() | {"Extra": extra}, verifier)
    assert list(tmp_path.glob("*.json")) == []
    assert store.load_all(verifier) == ([], [])


def _cycle() -> dict[str, Any]:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    return cycle


@pytest.mark.parametrize("extra", [_nested(100_000), _cycle()], ids=["very deep", "a cycle"])
def test_store_save_of_an_unwritable_response_is_malformed_not_a_recursion_error(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path, extra: Any) -> None:
    response = issuer.response() | {"Extra": extra}
    assert verifier.verify(response).license_arn  # unsigned extras are not read
    with pytest.raises(Malformed, match="cannot be stored"):
        LicenseStore(tmp_path).save(response, verifier)
    assert list(tmp_path.glob("*.json")) == []


@pytest.mark.parametrize("tolerance", [3600, timedelta(days=10**6), timedelta(seconds=-1), None])
def test_store_rollback_tolerance_is_checked_when_the_store_is_built(
        tmp_path: Path, tolerance: Any) -> None:
    with pytest.raises(ConfigurationError, match="rollback_tolerance"):
        LicenseStore(tmp_path, rollback_tolerance=tolerance)


# -- text -------------------------------------------------------------------------------------


def test_store_lookup_of_an_undecodable_arn_is_not_in_store(
        verifier: Verifier, tmp_path: Path) -> None:
    arn = b"\xff".decode("utf-8", "surrogateescape")  # what argv gives for $'\xff'
    store = LicenseStore(tmp_path)
    with pytest.raises(NotInStore):
        store.load(arn, verifier)
    with pytest.raises(NotInStore):
        store.remove(arn)


# -- entitlements -----------------------------------------------------------------------------


# -- keys -------------------------------------------------------------------------------------


# -- input encodings --------------------------------------------------------------------------


# -- store file handling ----------------------------------------------------------------------

_LOAD_IN_CHILD = """
import sys
from license_token import Verifier
from license_token.store import LicenseStore
from license_token.testing import TokenFactory
store = LicenseStore(sys.argv[1])
loaded, failed = store.load_all(Verifier(TokenFactory().trust_store()))
print(store.high_water_mark(), len(store.license_arns()), len(loaded),
      *[failure.error.code for failure in failed])
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX only")
@pytest.mark.parametrize(("name", "expected"), [
    ("clock.json", ["None", "0", "0"]),
    ("0" * 32 + ".json", ["None", "0", "0", "store_corrupt"]),
])
def test_a_fifo_in_the_store_does_not_hang(tmp_path: Path, name: str,
                                           expected: list[str]) -> None:
    os.mkfifo(tmp_path / name)
    child = subprocess.run([sys.executable, "-c", _LOAD_IN_CHILD, str(tmp_path)],
                           capture_output=True, text=True, timeout=30, check=True)
    assert child.stdout.split() == expected


_LIFECYCLE_IN_CHILD = """
import resource, sys
from license_token.store import LicenseStore, SeatLedger, StoreUnavailable
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # an unbounded read fails fast
try:
    print(SeatLedger(LicenseStore(sys.argv[1])).seats())
except StoreUnavailable as exc:  # never guessed empty: unknown pending seats could be lost
    print(exc.code)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="FIFOs and /dev/zero are POSIX only")
def test_lifecycle_state_that_is_a_fifo_or_dev_zero_is_refused_without_hanging(
        tmp_path: Path) -> None:
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "lifecycle.json")
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "lifecycle.json").symlink_to("/dev/zero")
    for store in ("fifo", "zero"):
        child = subprocess.run([sys.executable, "-c", _LIFECYCLE_IN_CHILD, str(tmp_path / store)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert (child.returncode, child.stdout) == (0, "store_unavailable\n"), child.stderr[-500:]


_MARK_IN_CHILD = """
import resource, sys
from license_token.store import LicenseStore
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # an unbounded read fails fast
print(LicenseStore(sys.argv[1]).high_water_mark())
"""


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero (POSIX)")
def test_clock_mark_symlink_to_dev_zero_or_a_huge_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "clock.json").symlink_to("/dev/zero")
    (tmp_path / "sparse").mkdir()
    with (tmp_path / "sparse" / "clock.json").open("wb") as fh:
        fh.truncate(1 << 30)  # sparse: 1 GiB that must never be read
    for store in ("zero", "sparse"):
        child = subprocess.run([sys.executable, "-c", _MARK_IN_CHILD, str(tmp_path / store)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert (child.returncode, child.stdout) == (0, "None\n"), child.stderr[-500:]


def test_store_entry_symlink_is_not_followed(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path) -> None:
    saved = LicenseStore(tmp_path / "a").save(issuer.response(), verifier)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / saved.path.name).symlink_to(saved.path)
    loaded, failed = LicenseStore(tmp_path / "b").load_all(verifier)
    assert (loaded, [type(f.error) for f in failed]) == ([], [StoreCorrupt])


def test_clock_mark_read_is_bounded(tmp_path: Path) -> None:
    doc = json.dumps({"format": "license-token/clock", "version": 1,
                      "high_water": "2026-01-01T00:00:00Z"})
    path = tmp_path / "clock.json"
    path.write_text(doc)
    assert LicenseStore(tmp_path).high_water_mark() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    path.write_text(doc + " " * (4096 - len(doc)))  # the bound: 4 KiB
    assert LicenseStore(tmp_path).high_water_mark() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    path.write_text(doc + " " * (4097 - len(doc)))
    assert LicenseStore(tmp_path).high_water_mark() is None


# -- dependencies -----------------------------------------------------------------------------

def test_filelock_floor_is_past_the_symlink_cves() -> None:
    floors = re.findall(r'"filelock>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    # CVE-2025-68146 (lock-file symlink truncation) is fixed in 3.20.1, CVE-2026-22701 in 3.20.3.
    assert [tuple(int(part) for part in floor.split(".")) >= (3, 20, 3) for floor in floors] == [
        True]
