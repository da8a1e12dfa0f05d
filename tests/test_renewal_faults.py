"""Renewal under the faults a real network and a real disk produce: lost and cut answers,
transient conflicts, a full disk, a copied store, a restored file, a damaged ledger."""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ONE_USER, ManualClock, Rig, checkout_file

from license_token import ConfigurationError, Expired, LicenseTokenError
from license_token.aws import LicenseManager, SeatNotReturned
from license_token.startup import RenewalPolicy
from license_token.store import LicenseStore, SeatLedger, SeatState, StoreCorrupt
from license_token.testing import FAULTS, Fault

DUE = timedelta(hours=20, minutes=5)  # a day-long borrow falls due 16 to 20 h after it
HOUR = timedelta(hours=1)


def _hourly(rig: Rig, clock: ManualClock, hours: int) -> list[bool]:
    """Start the app every hour; whether each start was licensed (one seat at most)."""
    licensed = []
    for _ in range(hours):
        clock.now += HOUR
        try:
            rig.start()
        except LicenseTokenError:
            licensed.append(False)
        else:
            licensed.append(True)
        assert rig.peak() <= 1
    return licensed


@pytest.mark.parametrize("fault", ["cut", "html_400", "drop"])
def test_a_lost_answer_keeps_its_client_token_and_a_one_seat_license_stays_licensed(
        make_rig: Callable[..., Rig], clock: ManualClock, fault: str) -> None:
    """The service took the seat and the answer was lost (cut mid-body: botocore parses an
    empty dict; a proxy's HTML page; a dropped connection): the next attempt sends the same
    ClientToken and gets the same seat back, so a one-seat license is never locked out."""
    rig = make_rig(seats=1)
    assert rig.start().renewed
    clock.now += DUE
    rig.proxy.inject(FAULTS[fault], operation="CheckoutBorrowLicense")
    lost = rig.start()  # runs on the stored token meanwhile
    assert lost.renewal_error is not None and rig.seats() == 1  # taken, answer lost
    assert all(_hourly(rig, clock, 96))  # through four more renewals
    tokens = rig.client_tokens()
    assert tokens[2] == tokens[1]  # the lost answer's ClientToken, sent again
    assert len(set(tokens)) == len(tokens) - 1
    assert rig.peak() == 1


def test_an_answer_sent_again_after_a_key_rotation_is_given_back_and_renewed_at_once(
        make_rig: Callable[..., Rig], clock: ManualClock) -> None:
    """A borrow's answer was lost; before the next start the vendor rotated the key and the
    app update pins only the new one. The answer sent again is signed with the old key:
    its seat (named by the token itself) is given back and a new one borrowed at once."""
    rig = make_rig(seats=1)
    rig.start()
    clock.now += DUE
    rig.proxy.inject(FAULTS["cut"], operation="CheckoutBorrowLicense")
    assert rig.start().renewal_failed
    rotated = rig.emulator.create_key()
    rig.license.issuer, rig.license.key_id = rig.emulator.key(rotated), rotated
    updated = rig.other_node("node-1", rig.store)  # the same node, pinning the new key
    clock.now += HOUR
    result = updated.start()
    assert result.renewed and result.license.key.fingerprint == (
        updated.verifier.keys.keys[0].fingerprint)
    assert updated.seats() == 1 and updated.peak() == 1
    tokens = rig.client_tokens()
    assert tokens[2] == tokens[1] != tokens[3]  # sent again, refused, then a new checkout


@pytest.mark.parametrize("fault", ["disk full", "clock 30 days ahead"])
def test_a_seat_that_early_check_in_forbids_returning_is_kept_and_fetched_again(
        make_rig: Callable[..., Rig], clock: ManualClock,
        disk_full: Callable[..., None], fault: str) -> None:
    """The stored borrow has expired and the new seat cannot be kept once (a full disk for
    that write, or a clock 30 days ahead refusing the fresh token as expired): with early
    check-in forbidden it cannot be returned either. It is kept by its ClientToken and
    fetched again at the next start, never a pending check-in that blocks every start. (A
    clock 2 minutes slow is no fault any more: the fresh token is accepted.)"""
    rig = make_rig(allow_early_check_in=False)
    rig.start()
    clock.now += timedelta(days=1, minutes=5)  # expired
    if fault == "disk full":
        disk_full(checkout_file)
    else:
        rig.skew = timedelta(days=30)
    with pytest.raises(Expired):
        rig.start()
    rig.skew = timedelta(0)
    assert rig.seats() == 1
    assert all(_hourly(rig, clock, 72))
    tokens = rig.client_tokens()
    assert tokens[2] == tokens[1]  # the kept seat, fetched again by its ClientToken
    assert rig.peak() == 1


def test_a_fresh_token_not_valid_yet_by_a_slow_clock_keeps_its_seat(
        make_rig: Callable[..., Rig], clock: ManualClock) -> None:
    """A plain ``LicenseManager`` (no slow-clock tolerance) refuses a fresh token as "not
    yet valid" on a clock 5 minutes slow: its seat is kept, not checked in, and the same
    ClientToken fetches it again once the clock has caught up with its issuedAt. The
    renewal itself is licensed from the first start on such a clock (trusted time)."""
    rig = make_rig(seats=1)
    rig.skew = -timedelta(minutes=5)
    plain = LicenseManager(rig.verifier, client=rig.renewer.manager.client)
    with pytest.raises(SeatNotReturned, match="the seat is kept") as info:
        plain.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1", client_token="c1")
    assert info.value.consumption_token is not None and info.value.client_token == "c1"
    assert rig.seats() == 1 and rig.emulator.calls("CheckInLicense") == 0
    clock.now += timedelta(minutes=10)
    again = plain.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1",
                                  client_token="c1")
    assert again.license is not None
    assert again.license.consumption_token == info.value.consumption_token
    assert rig.peak() == 1
    plain.check_in(info.value.consumption_token)  # that seat was this test's, not the app's
    assert all(_hourly(rig, clock, 48))  # the renewal, on the slow clock all along
    assert rig.peak() == 1 and rig.emulator.calls("CheckoutBorrowLicense") == 2 + 3


def test_a_store_copied_to_another_node_never_returns_the_first_nodes_seat(
        make_rig: Callable[..., Rig], clock: ManualClock, tmp_path: Path) -> None:
    """The data directory (the ledger included) is copied to node-2: node-2 borrows its own
    seat and leaves node-1's alone, as the online guide promises."""
    node1 = make_rig()
    first = node1.start().license
    clock.now += HOUR
    shutil.copytree(node1.store.directory, tmp_path / "node-2")
    node2 = node1.other_node("node-2", LicenseStore(tmp_path / "node-2"))
    assert node2.start().renewed
    assert dict(node1.emulator.seats_by_node(node1.license.arn)) == {"node-1": 1, "node-2": 1}
    assert node1.emulator.calls("CheckInLicense") == 0
    again = node1.start()
    assert not again.renewed and again.license.consumption_token == first.consumption_token


def test_a_restored_older_checkout_file_never_makes_two_seats(
        make_rig: Callable[..., Rig], clock: ManualClock) -> None:
    """After a renewal, an older checkout that still verifies is put back (a backup restore):
    the ledger knows its seat was returned, so the held one is fetched again instead of a
    second seat taken on top of it."""
    rig = make_rig()
    rig.start()
    (path,) = [p for p in rig.store.paths()]
    older = path.read_bytes()
    clock.now += DUE
    assert rig.start().renewed
    path.write_bytes(older)  # still valid: 24 h borrows, 20 h old
    clock.now += timedelta(minutes=30)
    restored = rig.start()
    assert rig.seats() == 1
    assert all(_hourly(rig, clock, 72))
    assert restored.license.consumption_token != rig.client_tokens()[0]
    assert rig.peak() == 1


def test_a_checkout_saved_outside_the_renewal_becomes_the_held_seat(
        make_rig: Callable[..., Rig], clock: ManualClock) -> None:
    """A checkout saved by hand (or imported) is new to the ledger: the starts that make no
    call write nothing, and the renewal that replaces it returns its seat first."""
    rig = make_rig()
    saved = rig.store.save(rig.renewer.checkout(client_token="by-hand"), rig.verifier)
    ledger = SeatLedger(rig.store)
    clock.now += HOUR
    assert not rig.start().renewed and ledger.seats() == []  # nothing due: nothing written
    clock.now += DUE
    renewed = rig.start()
    assert renewed.renewed and renewed.checked_in == (saved.license.consumption_token,)
    assert rig.seats() == 1 and rig.peak() == 1


def test_a_transient_conflict_only_backs_off(
        make_rig: Callable[..., Rig], clock: ManualClock) -> None:
    """A ``ConflictException`` on a license that allows early check-in is a retryable
    failure, not a lasting "early check-in forbidden"."""
    rig = make_rig(allow_early_check_in=True)
    rig.start()
    clock.now += DUE
    rig.emulator.fail_with("ConflictException", operation="CheckInLicense")
    failed = rig.start()
    assert failed.renewal_error is not None and failed.renewal_error.code == "aws_conflict"
    assert not any(s.early_check_in_forbidden for s in SeatLedger(rig.store).seats())
    clock.now += HOUR  # past the first back-off
    renewed = rig.start()
    assert renewed.renewed and rig.seats() == 1 and rig.peak() == 1


def test_a_seat_to_return_survives_a_conflict(
        make_rig: Callable[..., Rig], clock: ManualClock,
        caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(allow_early_check_in=True)
    rig.start()
    stray = rig.renewer.manager.checkout_borrow(rig.license.arn, rig.renewer.entitlements,
                                                node_id="node-1").license
    assert stray.consumption_token is not None
    ledger = SeatLedger(rig.store)
    ledger.return_later(rig.license.arn, stray.consumption_token, expires_at=stray.expires_at,
                        node_id="node-1")
    clock.now += DUE
    rig.emulator.fail_with("ConflictException", operation="CheckInLicense")
    with caplog.at_level(logging.WARNING, logger="license_token"):
        failed = rig.start()
    assert failed.renewal_error is not None and failed.renewal_error.code == "aws_conflict"
    assert "could not be checked in (attempt 1): aws_conflict" in caplog.text
    (kept,) = [s for s in ledger.seats() if s.state is SeatState.TO_RETURN]
    assert kept.consumption_token == stray.consumption_token and kept.failed_check_ins == 1
    assert rig.seats() == 2 and rig.emulator.calls("CheckoutBorrowLicense") == 2
    clock.now += HOUR
    result = rig.start()
    assert result.renewed and stray.consumption_token in result.checked_in
    assert [s.state for s in ledger.seats() if s.state is not SeatState.RETURNED] == [
        SeatState.HELD]
    assert rig.seats() == 1


def test_a_drop_before_the_service_saw_the_borrow_is_sent_again_too(
        make_rig: Callable[..., Rig], clock: ManualClock) -> None:
    """Whether or not the service took the seat, the same ClientToken is sent again."""
    rig = make_rig(seats=1)
    rig.proxy.inject(Fault.drop(forward=False), operation="CheckoutBorrowLicense")
    with pytest.raises(LicenseTokenError):
        rig.start()
    assert rig.seats() == 0
    clock.now += HOUR
    assert rig.start().renewed
    assert len(set(rig.client_tokens())) == 1


@pytest.mark.parametrize("damage", [b'{"format": "license-token/lifecycle", "vers',
                                    b'{"format": "license-token/lifecycle", "version": 3}'],
                         ids=["truncated", "other version"])
def test_an_unreadable_ledger_stops_renewal_and_is_never_overwritten(
        make_rig: Callable[..., Rig], clock: ManualClock, damage: bytes) -> None:
    """The seats this node holds are unknown: no borrow on top of them; the app runs on its
    stored license, and the file is left for a person to look at."""
    rig = make_rig()
    stored = rig.start().license
    lifecycle = rig.store.directory / "lifecycle.json"
    lifecycle.write_bytes(damage)
    clock.now += DUE
    result = rig.start()
    assert result.license.consumption_token == stored.consumption_token
    assert result.renewal_error is not None and result.renewal_error.code == "store_corrupt"
    clock.now += timedelta(days=2)  # expired: still no borrow on unknown state
    with pytest.raises(Expired) as info:
        rig.start()
    assert getattr(info.value.__cause__, "code", None) == "store_corrupt"
    assert rig.emulator.calls("CheckoutBorrowLicense") == 1
    assert rig.emulator.calls("CheckInLicense") == 0
    assert lifecycle.read_bytes() == damage
    with pytest.raises(StoreCorrupt):
        SeatLedger(rig.store).return_later(rig.license.arn, "c1", expires_at=clock.now,
                                           node_id="node-1")
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
