"""The startup check with renewal against the emulator."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from license_token import Expired, TrustStore, Verifier
from license_token.aws import ConnectionFailed, LicenseManager
from license_token.startup import check_license
from license_token.store import LicenseStore, NotInStore
from license_token.testing import EmulatedLicense, LocalLicenseManager

NODE = "node-1"


def _setup(emulator: LocalLicenseManager, ttl_minutes: int) -> tuple[
        EmulatedLicense, Verifier, LicenseManager]:
    lic = emulator.add_license(entitlements={"Users": ("Count", 10)},
                               borrow_ttl_minutes=ttl_minutes)
    verifier = Verifier(TrustStore.from_pem(emulator.public_key_pem(lic.key_id)), node_id=NODE)
    manager = LicenseManager(verifier, client=emulator.client(
        retries={"mode": "standard", "total_max_attempts": 2},
        connect_timeout=1, read_timeout=2))
    return lic, verifier, manager


def _renewer(manager: LicenseManager, lic: EmulatedLicense) -> Any:
    def renew(_: object) -> Any:
        return manager.checkout_borrow(
            lic.arn, [{"Name": "Users", "Unit": "Count", "Value": "1"}], node_id=NODE).response
    return renew


def test_renewal_succeeds(tmp_path: Path, license_manager: LocalLicenseManager) -> None:
    lic, verifier, manager = _setup(license_manager, ttl_minutes=60)
    store = LicenseStore(tmp_path)
    first = store.save(_renewer(manager, lic)(None), verifier).license
    # not due: more than renew_within left
    result = check_license(store, verifier, renew=_renewer(manager, lic),
                           renew_within=timedelta(minutes=30))
    assert not result.renewed and result.license.consumption_token == first.consumption_token
    # due: the stored token expires within a day
    result = check_license(store, verifier, renew=_renewer(manager, lic))
    assert result.renewed and not result.renewal_failed
    assert result.license.consumption_token != first.consumption_token
    reloaded = store.load(lic.arn, verifier).license
    assert reloaded.consumption_token == result.license.consumption_token


def test_emulator_down_keeps_the_stored_token(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with LocalLicenseManager() as emulator:
        lic, verifier, manager = _setup(emulator, ttl_minutes=60)
        store = LicenseStore(tmp_path)
        saved = store.save(_renewer(manager, lic)(None), verifier)
    before = saved.path.read_bytes()  # the emulator is stopped from here on
    with caplog.at_level(logging.WARNING, logger="license_token.startup"):
        result = check_license(store, verifier, renew=_renewer(manager, lic))
    assert not result.renewed and result.renewal_failed
    assert isinstance(result.renewal_error, ConnectionFailed)
    assert result.license.consumption_token == saved.license.consumption_token
    assert "renewal failed" in caplog.text
    assert saved.path.read_bytes() == before


def test_expired_token_renews_or_raises(tmp_path: Path,
                                        license_manager: LocalLicenseManager) -> None:
    lic, verifier, manager = _setup(license_manager, ttl_minutes=60)
    store = LicenseStore(tmp_path)
    store.save(_renewer(manager, lic)(None), verifier)
    later = datetime.now(timezone.utc) + timedelta(hours=3)
    with pytest.raises(Expired):
        check_license(store, verifier, now=later)

    def broken(_: object) -> Any:
        raise ConnectionFailed("offline")

    with pytest.raises(Expired):
        check_license(store, verifier, renew=broken, now=later)
    with pytest.raises(NotInStore):
        check_license(LicenseStore(tmp_path / "empty"), verifier)
    fresh = check_license(LicenseStore(tmp_path / "empty"), verifier,
                          renew=_renewer(manager, lic))
    assert fresh.renewed
    stored = LicenseStore(tmp_path / "empty").load(lic.arn, verifier).path
    stored.write_bytes(b"\x00" * 10)  # corrupt: renewal replaces it
    assert check_license(LicenseStore(tmp_path / "empty"), verifier, license_arn=lic.arn,
                         renew=_renewer(manager, lic)).renewed
    assert LicenseStore(tmp_path / "empty").load(lic.arn, verifier)
