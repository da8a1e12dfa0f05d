"""Renewal under the faults a real network and a real disk produce: lost answers, transient
conflicts, a damaged state file."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_startup import USER, SimClock, _seats, _setup

from license_token import ConfigurationError, Expired
from license_token.startup import RenewalPolicy, check_license
from license_token.store import LicenseStore, StoreCorrupt
from license_token.testing import LocalLicenseManager, ServiceError


class FaultyLicenseManager(LocalLicenseManager):
    """The emulator, with faults: ``lose_borrow_answers`` borrows are served (the seat is
    taken) but the connection is dropped before the answer; ``conflict_check_ins`` check-ins
    are refused with a transient ``ConflictException``."""

    lose_borrow_answers = 0
    conflict_check_ins = 0

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        if target.endswith("CheckInLicense") and self.conflict_check_ins:
            self.conflict_check_ins -= 1
            raise ServiceError("ConflictException", "a concurrent update is in progress")
        answer = super().handle(target, body)
        if target.endswith("CheckoutBorrowLicense") and self.lose_borrow_answers:
            self.lose_borrow_answers -= 1
            raise ConnectionAbortedError("the answer is lost on the way back")
        return answer


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def emulator(clock: SimClock) -> Iterator[FaultyLicenseManager]:
    lm = FaultyLicenseManager(clock=clock)
    with lm:
        yield lm


def test_a_lost_checkout_answer_does_not_take_a_second_seat(
        tmp_path: Path, clock: SimClock, emulator: FaultyLicenseManager) -> None:
    """The service took the seat, the answer was lost; the next attempt reuses
    the same ClientToken, so the service answers with that seat instead of a new one."""
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    assert check_license(store, verifier, renew=renewer).renewed
    clock.advance(hours=20)  # due
    emulator.lose_borrow_answers = 1
    lost = check_license(store, verifier, renew=renewer)
    assert lost.renewal_error is not None and lost.renewal_error.code == "aws_connection_failed"
    assert dict(emulator.seats_by_node(lic.arn)) == {"node-1": 1}  # taken, answer lost
    clock.advance(hours=1)
    again = check_license(store, verifier, renew=renewer)
    assert again.renewed and dict(emulator.seats_by_node(lic.arn)) == {"node-1": 1}
    assert emulator.calls("CheckoutBorrowLicense") == 3
    assert store.renewal_state(lic.arn).client_token is None  # saved: the token is spent
    clock.advance(hours=20)  # the next renewal is a new checkout, with a new token
    assert check_license(store, verifier, renew=renewer).renewed
    assert dict(emulator.seats_by_node(lic.arn)) == {"node-1": 1}
    assert len({r["ClientToken"] for r in _borrows(emulator)}) == 3


def _borrows(emulator: LocalLicenseManager) -> list[dict[str, Any]]:
    return [body for operation, body in emulator.requests
            if operation == "CheckoutBorrowLicense"]



def test_a_transient_conflict_only_backs_off(
        tmp_path: Path, clock: SimClock, emulator: FaultyLicenseManager) -> None:
    """A ``ConflictException`` on a license that allows early check-in is a retryable
    failure, not a lasting "early check-in forbidden"."""
    lic, verifier, renewer = _setup(emulator, clock, allow_early_check_in=True)
    store = LicenseStore(tmp_path)
    check_license(store, verifier, renew=renewer)
    clock.advance(hours=20)  # due
    emulator.conflict_check_ins = 1
    failed = check_license(store, verifier, renew=renewer)
    assert failed.renewal_error is not None and failed.renewal_error.code == "aws_conflict"
    assert not store.renewal_state(lic.arn).early_check_in_forbidden
    clock.advance(hours=1)  # past the first back-off
    renewed = check_license(store, verifier, renew=renewer)
    assert renewed.renewed and _seats(emulator, lic) == 1


def test_a_pending_check_in_survives_a_conflict(
        tmp_path: Path, clock: SimClock, emulator: FaultyLicenseManager,
        caplog: pytest.LogCaptureFixture) -> None:
    lic, verifier, renewer = _setup(emulator, clock, allow_early_check_in=True)
    store = LicenseStore(tmp_path)
    check_license(store, verifier, renew=renewer)
    stray = renewer.manager.checkout_borrow(lic.arn, USER, node_id="node-1").license
    store.remember_check_in(lic.arn, stray.consumption_token, expires_at=stray.expires_at)
    clock.advance(hours=20)
    emulator.conflict_check_ins = 1
    with caplog.at_level(logging.WARNING, logger="license_token"):
        failed = check_license(store, verifier, renew=renewer)
    assert failed.renewal_error is not None and failed.renewal_error.code == "aws_conflict"
    assert "failed (attempt 1): aws_conflict" in caplog.text
    (pending,) = store.pending_check_ins()
    assert pending.consumption_token == stray.consumption_token and pending.attempts == 1
    assert _seats(emulator, lic) == 2 and emulator.calls("CheckoutBorrowLicense") == 2
    clock.advance(hours=1)
    result = check_license(store, verifier, renew=renewer)
    assert result.renewed and stray.consumption_token in result.checked_in
    assert store.pending_check_ins() == [] and _seats(emulator, lic) == 1


@pytest.mark.parametrize("damage", [b'{"format": "license-token/lifecycle", "vers',
                                    b'{"format": "license-token/lifecycle", "version": 2}'],
                         ids=["truncated", "other version"])
def test_an_unreadable_lifecycle_file_stops_renewal_and_is_never_overwritten(
        tmp_path: Path, clock: SimClock, emulator: FaultyLicenseManager, damage: bytes) -> None:
    """Pending check-ins and the held seat are unknown: no borrow on top of them; the app
    runs on its stored license, and the file is left for a person to look at."""
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    stored = check_license(store, verifier, renew=renewer).license
    lifecycle = tmp_path / "lifecycle.json"
    lifecycle.write_bytes(damage)
    clock.advance(hours=20)  # due
    result = check_license(store, verifier, renew=renewer)
    assert result.license.consumption_token == stored.consumption_token
    assert result.renewal_error is not None and result.renewal_error.code == "store_corrupt"
    clock.advance(days=2)  # expired: still no borrow on unknown state
    with pytest.raises(Expired) as info:
        check_license(store, verifier, renew=renewer)
    assert getattr(info.value.__cause__, "code", None) == "store_corrupt"
    assert emulator.calls("CheckoutBorrowLicense") == 1
    assert emulator.calls("CheckInLicense") == 0
    assert lifecycle.read_bytes() == damage
    with pytest.raises(StoreCorrupt):
        store.remember_check_in(lic.arn, "c1", expires_at=clock.now)
    assert lifecycle.read_bytes() == damage


def test_a_renewal_policy_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="max_backoff"):
        RenewalPolicy(first_backoff=timedelta(hours=7))  # above the default six hours
    policy = RenewalPolicy(first_backoff=timedelta(minutes=10), max_backoff=timedelta(hours=1))
    rng = random.Random(1)  # noqa: S311 (back-off jitter)
    for failures in (0, -1):
        with pytest.raises(ConfigurationError, match="failures"):
            policy.backoff(failures, rng)
    waits = [policy.backoff(n, rng) for n in (1, 2, 3, 4, 40)]
    assert timedelta(minutes=5) <= waits[0] <= timedelta(minutes=10)
    assert all(timedelta(minutes=30) <= w <= timedelta(hours=1) for w in waits[3:])
