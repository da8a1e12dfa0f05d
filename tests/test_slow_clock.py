"""A clock that reads behind the service's: trusted time both ways.

A machine whose clock is a little slow (no NTP, a VM after a resume) is licensed at every
start: a fetched token whose signed ``issuedAt`` is ahead of the clock by up to the store's
rollback tolerance is accepted, the result says how slow the clock is, the same token keeps
loading at later offline starts, and expiry stays exact. Beyond the tolerance the user is
told ``clock_behind`` with the skew, never ``not_in_store``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import readme_recipe

from license_token import ClockBehind, Expired, NotYetValid, TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore
from license_token.testing import EmulatedLicense, LocalLicenseManager

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)
USER = [{"Name": "Users", "Unit": "Count", "Value": "1"}]


class Clocks:
    """The service's clock (real time) and this machine's, ``slow`` behind it."""

    def __init__(self) -> None:
        self.real = T0
        self.slow = timedelta(0)

    def service(self) -> datetime:
        return self.real

    def machine(self) -> datetime:
        return self.real - self.slow


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def emulator(clocks: Clocks) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(clock=clocks.service) as lm:
        yield lm


def _seats(emulator: LocalLicenseManager, lic: EmulatedLicense) -> int:
    return int(emulator.seats_in_use(lic.arn)["Users"])


def _renewer(emulator: LocalLicenseManager, lic: EmulatedLicense,
             clocks: Clocks) -> tuple[Verifier, BorrowRenewer]:
    verifier = Verifier(TrustStore.from_pem(emulator.public_key_pem(lic.key_id)),
                        node_id="node-1", clock=clocks.machine)
    manager = LicenseManager(verifier, client=emulator.client(
        retries={"mode": "standard", "total_max_attempts": 1}))
    return verifier, BorrowRenewer(manager=manager, license_arn=lic.arn, entitlements=USER)


def _run_readme_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clocks: Clocks,
                       emulator: LocalLicenseManager, lic: EmulatedLicense,
                       starts: int) -> list[Any]:
    """The README's startup recipe, pasted as is, started hourly on this machine."""
    recipe = readme_recipe(tmp_path, monkeypatch, emulator, lic.key_id, clocks.machine)
    results = []
    for _ in range(starts):
        namespace: dict[str, Any] = {"LICENSE_ARN": lic.arn, "log": logging.getLogger()}
        exec(compile(recipe, "README.md", "exec"), namespace)  # noqa: S102
        results.append(namespace["result"])
        assert _seats(emulator, lic) == 1  # never two, never none while licensed
        clocks.real += timedelta(hours=1)
    return results


def test_a_clock_two_minutes_slow_is_licensed_at_every_hourly_start_with_one_borrow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clocks: Clocks,
        emulator: LocalLicenseManager) -> None:
    """Before: the fresh token was "not yet valid", its seat checked back in, and the user
    saw ``not_in_store``: 72 of 72 starts unlicensed, a borrow and a check-in at each."""
    lic = emulator.add_license(entitlements={"Users": ("Count", 5)},
                               borrow_ttl_minutes=7 * 24 * 60)
    clocks.slow = timedelta(minutes=2)
    results = _run_readme_recipe(tmp_path, monkeypatch, clocks, emulator, lic, 72)
    assert [r.renewal_failed for r in results] == [False] * 72
    assert results[0].renewed and not any(r.renewed for r in results[1:])
    assert emulator.calls("CheckoutBorrowLicense") == 1
    assert emulator.calls("CheckInLicense") == 0
    assert results[0].clock_behind == timedelta(minutes=2)  # told at the fetch
    assert results[0].license.clock_behind == timedelta(minutes=2)
    assert results[1].clock_behind is None  # an hour on, the token proves nothing more
    assert {r.license.consumption_token for r in results} == {
        results[0].license.consumption_token}


def test_a_clock_that_drifts_slow_after_a_good_start_renews_all_week(
        tmp_path: Path, clocks: Clocks, emulator: LocalLicenseManager) -> None:
    """Before: the stored seat was checked in at the renewal, the new token refused, and the
    app was never licensed again (7 borrows and 7 check-ins in a week)."""
    lic = emulator.add_license(entitlements={"Users": ("Count", 1)}, borrow_ttl_minutes=24 * 60)
    verifier, renewer = _renewer(emulator, lic, clocks)
    store = LicenseStore(tmp_path)
    assert check_license(store, verifier, renew=renewer).renewed
    renewals = 0
    for hour in range(7 * 24):
        clocks.real += timedelta(hours=1)
        clocks.slow = min(timedelta(minutes=2), timedelta(seconds=30) * hour)
        result = check_license(store, verifier, renew=renewer)
        assert not result.renewal_failed, (hour, result.renewal_error)
        renewals += result.renewed
        assert _seats(emulator, lic) == 1
    assert 7 <= renewals <= 11  # renewed at 16-20 h of each day-long borrow
    assert emulator.calls("CheckoutBorrowLicense") == renewals + 1
    assert emulator.calls("CheckInLicense") == renewals  # each old seat, never a new one


def test_a_clock_slower_than_the_tolerance_is_told_clock_behind_and_takes_no_seat(
        tmp_path: Path, clocks: Clocks, emulator: LocalLicenseManager) -> None:
    lic = emulator.add_license(entitlements={"Users": ("Count", 1)}, borrow_ttl_minutes=24 * 60)
    verifier, renewer = _renewer(emulator, lic, clocks)
    clocks.slow = timedelta(days=2)  # the store's tolerance: 24 hours
    with pytest.raises(ClockBehind) as info:
        check_license(LicenseStore(tmp_path), verifier, renew=renewer)
    assert info.value.code == "clock_behind" and isinstance(info.value, NotYetValid)
    assert info.value.behind == timedelta(days=2)
    assert "2 days, 0:00:00 behind" in str(info.value) and "set the clock right" in str(
        info.value)
    assert _seats(emulator, lic) == 0  # the seat it could not keep was returned
    clocks.slow = timedelta(hours=2)  # a store that tolerates less
    with pytest.raises(ClockBehind, match="tolerance 1:00:00"):
        check_license(LicenseStore(tmp_path, rollback_tolerance=timedelta(hours=1)),
                      verifier, renew=renewer)
    assert _seats(emulator, lic) == 0
    wide = LicenseStore(tmp_path, rollback_tolerance=timedelta(days=3))  # and more: accepted
    clocks.slow = timedelta(days=2)
    result = check_license(wide, verifier, renew=renewer)
    assert result.renewed and result.clock_behind == timedelta(days=2)


def test_a_stored_token_ahead_of_a_slow_clock_loads_offline_and_expires_exactly(
        tmp_path: Path, clocks: Clocks, emulator: LocalLicenseManager) -> None:
    lic = emulator.add_license(entitlements={"Users": ("Count", 1)}, borrow_ttl_minutes=24 * 60)
    verifier, renewer = _renewer(emulator, lic, clocks)
    clocks.slow = timedelta(hours=3)
    store = LicenseStore(tmp_path)
    fetched = check_license(store, verifier, renew=renewer).license
    with pytest.raises(NotYetValid, match="reads 3:00:00 behind it") as plain:
        verifier.verify(store.load(lic.arn, verifier).response)  # plain verify: as documented
    assert type(plain.value) is NotYetValid and plain.value.behind == timedelta(hours=3)
    for hours in (0, 1, 2, 5):  # offline starts: the same token, never "not yet valid"
        at = fetched.issued_at - timedelta(hours=3) + timedelta(hours=hours)
        assert check_license(store, verifier, now=at).license.token == fetched.token
    expiry = fetched.expires_at + verifier.policy.leeway
    assert check_license(store, verifier, now=expiry - timedelta(seconds=1)).license
    with pytest.raises(Expired):  # the tolerance never stretches expiry
        check_license(store, verifier, now=expiry)
