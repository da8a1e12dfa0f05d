"""The startup check with renewal against the emulator."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import ManualClock, beside_request, readme_recipe

from license_token import (
    BadSignature,
    ConfigurationError,
    Expired,
    LicenseTokenError,
    TrustStore,
    Verifier,
)
from license_token.aws import ConnectionFailed, LicenseManager
from license_token.startup import BorrowRenewer, RenewalPolicy, Renewer, check_license
from license_token.store import LicenseStore, NotInStore, SeatLedger, SeatState
from license_token.testing import EmulatedLicense, LocalLicenseManager
from license_token.testing._factory import aws_time

NODE = "node-1"
T0 = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)
USER = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
ROOT = Path(__file__).resolve().parent.parent


CLOCK_START = T0  # the ``clock`` fixture's


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(clock=clock) as lm:
        yield lm


def _setup(emulator: LocalLicenseManager, clock: ManualClock | None = None, *,
           seats: int = 10, ttl_minutes: int = 24 * 60, **settings: Any) -> tuple[
        EmulatedLicense, Verifier, BorrowRenewer]:
    lic = emulator.add_license(entitlements={"Users": ("Count", seats)},
                               borrow_ttl_minutes=ttl_minutes, **settings)
    keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
    verifier = Verifier(keys, node_id=NODE, clock=clock or Verifier.DEFAULT_CLOCK)
    manager = LicenseManager(verifier, client=emulator.client(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=1, read_timeout=2))
    return lic, verifier, BorrowRenewer(manager=manager, license_arn=lic.arn, entitlements=USER)


def _seats(emulator: LocalLicenseManager, lic: EmulatedLicense) -> int:
    return int(emulator.seats_in_use(lic.arn)["Users"])


def test_the_readme_recipe_started_12_times_hourly_holds_one_seat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: ManualClock,
        emulator: LocalLicenseManager) -> None:
    """Twelve hourly starts of the README recipe hold one seat (not one seat per start, which
    took all 5 by the 5th start and failed the 6th)."""
    lic = emulator.add_license(entitlements={"Users": ("Count", 5)}, borrow_ttl_minutes=24 * 60)
    recipe = readme_recipe(tmp_path, monkeypatch, emulator, lic.key_id, clock)
    renewed = []
    for _ in range(12):
        namespace: dict[str, Any] = {"LICENSE_ARN": lic.arn, "log": logging.getLogger()}
        exec(compile(recipe, "README.md", "exec"), namespace)  # noqa: S102
        result = namespace["result"]
        assert not result.renewal_failed
        renewed.append(result.renewed)
        assert _seats(emulator, lic) == 1
        clock.advance(hours=1)
    assert renewed[0] and renewed.count(True) == 1  # a day-long token: not renewed hourly
    for _ in range(12):  # and on through its renewal, due 16 to 20 hours after the borrow
        namespace = {"LICENSE_ARN": lic.arn, "log": logging.getLogger()}
        exec(compile(recipe, "README.md", "exec"), namespace)  # noqa: S102
        assert not namespace["result"].renewal_failed
        assert _seats(emulator, lic) == 1
        clock.advance(hours=1)
    assert emulator.calls("CheckoutBorrowLicense") == 2
    assert emulator.calls("CheckInLicense") == 1


def test_renewal_waits_for_the_fraction_of_the_lifetime(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    policy = RenewalPolicy(renew_below=0.25, jitter=0)
    first = check_license(store, verifier, renew=renewer, policy=policy)
    assert first.renewed
    clock.advance(hours=17, minutes=59)  # 6 h 1 min left: more than a quarter of a day
    assert not check_license(store, verifier, renew=renewer, policy=policy).renewed
    clock.advance(minutes=2)
    again = check_license(store, verifier, renew=renewer, policy=policy)
    assert again.renewed and again.checked_in == (first.license.consumption_token,)
    assert _seats(emulator, lic) == 1
    fleet = [check_license(LicenseStore(tmp_path / str(i)), verifier, renew=renewer).license
             for i in range(8)]
    # Jitter: each checkout of a day falls due at its own minute between 16 h (a third of its
    # lifetime left) and 20 h (half a third). Asking whether one given moment is due for some
    # and not others flaked once in 128 runs; 8 checkouts sharing one minute of 240 cannot.
    due_at = {next(m for m in range(24 * 60)
                   if RenewalPolicy().due(lic, lic.issued_at + timedelta(minutes=m)))
              for lic in fleet}
    assert len(due_at) > 1
    assert all(16 * 60 <= m <= 20 * 60 + 1 for m in due_at)


def test_a_full_license_still_renews(tmp_path: Path, clock: ManualClock,
                                     emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock, seats=1)
    store = LicenseStore(tmp_path)
    for _ in range(24 * 5):
        check_license(store, verifier, renew=renewer)
        assert _seats(emulator, lic) == 1
        clock.advance(hours=1)
    assert emulator.calls("CheckoutBorrowLicense") >= 5


def test_when_early_check_in_is_forbidden_no_second_seat_is_taken(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock, allow_early_check_in=False)
    store = LicenseStore(tmp_path)
    results = []
    for _ in range(24 * 3):
        results.append(check_license(store, verifier, renew=renewer))
        assert _seats(emulator, lic) <= 1
        clock.advance(hours=1)
    assert sum(r.renewed for r in results) == 3  # once a day, when the borrow has expired
    assert not any(r.renewal_failed for r in results)
    assert emulator.peak_seats_by_node(lic.arn) == {NODE: 1}
    # one refused check-in per borrow, confirmed by the license's own setting, then no call
    # until it has expired; then one check-in confirms that its seat is free before the next
    # borrow (a seat is never taken for free on this node's clock alone: it may be ahead)
    assert emulator.calls("GetLicense") == 3
    assert emulator.calls("CheckInLicense") == 3 + 2
    (held,) = [s for s in SeatLedger(store).seats(lic.arn) if s.state is SeatState.HELD]
    assert held.early_check_in_forbidden


def test_a_seat_that_cannot_be_returned_is_remembered_and_retried(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    emulator.change("CheckoutBorrowLicense", request=beside_request(NodeId="someone-else"))
    emulator.fail_with("RateLimitExceededException", operation="CheckInLicense")  # kept
    with pytest.raises(NotInStore) as info:
        check_license(store, verifier, renew=renewer)
    assert getattr(info.value.__cause__, "code", None) == "aws_seat_not_returned"
    (kept,) = SeatLedger(store).seats(lic.arn)  # its ClientToken, and the seat it named
    assert kept.state is SeatState.IN_FLIGHT and kept.consumption_token is not None
    assert _seats(emulator, lic) == 1  # held by the refused checkout, and remembered
    clock.advance(hours=1)
    emulator.clear_changes()
    result = check_license(store, verifier, renew=renewer)  # returned first, then renewed
    assert result.renewed and result.checked_in == (kept.consumption_token,)
    assert [s.state for s in SeatLedger(store).seats(lic.arn)] == [
        SeatState.RETURNED, SeatState.HELD]
    assert _seats(emulator, lic) == 1  # one seat at a time, whichever node it was bound to
    assert emulator.peak_seats_by_node(lic.arn) == {NODE: 1, "someone-else": 1}


def test_a_failed_stored_token_is_replaced_only_once_its_seat_is_back(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    old = check_license(store, verifier, renew=renewer).license
    rotated = emulator.create_key()  # the vendor rotates the key; the app pins the new one
    lic.issuer, lic.key_id = emulator.key(rotated), rotated
    verifier = Verifier(TrustStore.from_pem(emulator.public_key_pem(rotated)), node_id=NODE,
                        clock=clock)
    renewer = attrs.evolve(renewer, manager=LicenseManager(verifier,
                                                           client=renewer.manager.client))
    clock.advance(hours=1)
    emulator.fail_with("RateLimitExceededException", operation="CheckInLicense")  # not yet
    with pytest.raises(BadSignature):
        check_license(store, verifier, renew=renewer)
    assert emulator.calls("CheckoutBorrowLicense") == 1  # no second seat was taken
    assert _seats(emulator, lic) == 1
    clock.advance(hours=1)
    result = check_license(store, verifier, renew=renewer)  # bad_signature: renewed
    assert result.renewed and result.checked_in == (old.consumption_token,)
    assert _seats(emulator, lic) == 1


@pytest.mark.parametrize("damage", ["expired", "missing", "corrupt", "bad_signature",
                                    "node_mismatch", "license_mismatch", "clock_rollback",
                                    "malformed"])
def test_renews_on_every_failure_a_fresh_checkout_cures(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager, damage: str) -> None:
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    stored = check_license(store, verifier, renew=renewer)
    path = store.load(lic.arn, verifier).path
    if damage == "expired":
        clock.advance(days=2)
    elif damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(b"\x00" * 10)
    elif damage == "bad_signature":
        other = emulator.create_key()
        lic.issuer, lic.key_id = emulator.key(other), other
        verifier = Verifier(TrustStore.from_pem(emulator.public_key_pem(other)), node_id=NODE,
                            clock=clock)
        renewer = attrs.evolve(renewer, manager=LicenseManager(
            verifier, client=renewer.manager.client))
    elif damage == "node_mismatch":  # a store copied from another machine
        entry = json.loads(path.read_text())
        unbound = LicenseManager(Verifier(verifier.keys, clock=clock),
                                 client=renewer.manager.client)
        elsewhere = unbound.checkout_borrow(lic.arn, USER, node_id="node-2")
        entry["response"] = dict(elsewhere.response)
        path.write_text(json.dumps(entry))
    elif damage == "license_mismatch":  # the app now pins an upgraded license
        lic = emulator.add_license(key_id=lic.key_id, entitlements={"Users": ("Count", 10)})
        verifier = Verifier(verifier.keys, node_id=NODE, license_arn=lic.arn, clock=clock)
        renewer = attrs.evolve(renewer, license_arn=lic.arn)
        with pytest.raises(LicenseTokenError, match="license"):
            check_license(store, verifier)  # the old check picks the old license and fails
    elif damage == "clock_rollback":
        (tmp_path / "clock.json").write_text(json.dumps({
            "format": "license-token/clock", "version": 1,
            "high_water": aws_time(T0 + timedelta(days=60)) + "Z"}))
    elif damage == "malformed":  # saved by an older version from a dict with datetimes
        entry = json.loads(path.read_text())
        entry["response"]["IssuedAt"] = str(stored.license.issued_at)
        path.write_text(json.dumps(entry))
    if damage not in ("missing", "license_mismatch"):
        with pytest.raises(LicenseTokenError) as info:
            check_license(store, verifier)
        assert info.value.code == {"missing": "not_in_store", "corrupt": "store_corrupt"}.get(
            damage, damage)
    result = check_license(store, verifier, renew=renewer)
    assert result.renewed and result.license.license_arn == lic.arn
    assert check_license(store, verifier).license.consumption_token == (
        result.license.consumption_token)
    # one seat for this node (and the other machine's, whose store was copied, stays its own)
    assert _seats(emulator, lic) == (2 if damage == "node_mismatch" else 1)
    if damage == "clock_rollback":
        assert store.high_water_mark() == T0


def test_an_app_started_once_60_days_ahead_recovers_at_its_next_online_start(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock, ttl_minutes=90 * 24 * 60)
    store = LicenseStore(tmp_path)
    check_license(store, verifier, renew=renewer)
    ahead = T0 + timedelta(days=60)
    check_license(store, verifier, renew=renewer, now=ahead)  # the clock was wrong once
    assert store.high_water_mark() == ahead
    clock.advance(hours=1)
    with pytest.raises(LicenseTokenError, match="turned back"):
        check_license(store, verifier)  # offline: the mark is wrong
    result = check_license(store, verifier, renew=renewer)  # online: recovered
    assert result.renewed and _seats(emulator, lic) == 1
    assert store.high_water_mark() == clock.now
    clock.advance(hours=1)
    assert not check_license(store, verifier, renew=renewer).renewal_failed


def test_renewal_catches_only_the_librarys_typed_errors(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)

    @attrs.frozen
    class Buggy:
        license_arn: str

        def checkout(self, client_token: str) -> Any:
            raise KeyError("a bug in the vendor's code")

        def check_in(self, consumption_token: str) -> None:
            raise AssertionError("never called")

        def early_check_in_allowed(self) -> bool | None:
            raise AssertionError("never called")

    with pytest.raises(KeyError):
        check_license(store, verifier, renew=Buggy(lic.arn))
    with pytest.raises(ConfigurationError, match="Renewer"):
        check_license(store, verifier, renew=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check_license(store, verifier, renew=renewer, now=T0.replace(tzinfo=None))


def test_a_renewer_is_checked_against_the_protocol_before_any_call(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager) -> None:
    """``Renewer`` is a runtime-checkable protocol: a renewer without
    ``early_check_in_allowed`` is refused naming it; one that names ``Renewer`` as its base
    inherits it (``None``: the license does not say) and renews."""
    lic, verifier, renewer = _setup(emulator, clock)
    assert isinstance(renewer, Renewer)

    @attrs.frozen
    class Partial:
        license_arn: str

        def checkout(self, client_token: str) -> Any:
            raise AssertionError("never called")

        def check_in(self, consumption_token: str) -> None:
            raise AssertionError("never called")

    with pytest.raises(ConfigurationError, match="lacks early_check_in_allowed"):
        check_license(LicenseStore(tmp_path), verifier,
                      renew=Partial(lic.arn))  # type: ignore[arg-type]
    assert emulator.requests == []

    class Subclass(Renewer):
        license_arn = lic.arn

        def checkout(self, client_token: str) -> Any:
            return renewer.checkout(client_token)

        def check_in(self, consumption_token: str) -> None:
            renewer.check_in(consumption_token)

    assert Subclass().early_check_in_allowed() is None
    assert check_license(LicenseStore(tmp_path), verifier, renew=Subclass()).renewed


def test_failures_back_off_and_the_back_off_is_remembered(
        tmp_path: Path, clock: ManualClock, emulator: LocalLicenseManager,
        caplog: pytest.LogCaptureFixture) -> None:
    lic, verifier, renewer = _setup(emulator, clock)
    store = LicenseStore(tmp_path)
    check_license(store, verifier, renew=renewer)
    clock.advance(hours=23)  # due
    emulator.throttle(1, "RateLimitExceededException")
    with caplog.at_level(logging.WARNING, logger="license_token.startup"):
        failed = check_license(store, verifier, renew=renewer, rng=random.Random(1))  # noqa: S311
    assert failed.renewal_failed and failed.renewal_error is not None
    assert failed.renewal_error.code == "aws_throttled" and "renewal failed" in caplog.text
    state = SeatLedger(LicenseStore(tmp_path)).backoff(lic.arn)
    assert state.failures == 1 and state.next_attempt is not None
    assert timedelta(minutes=7) <= state.next_attempt - clock.now <= timedelta(minutes=15)
    calls = len(emulator.requests)
    clock.advance(minutes=5)
    assert not check_license(store, verifier, renew=renewer).renewed
    assert len(emulator.requests) == calls  # backing off: no call
    clock.advance(minutes=15)
    assert check_license(store, verifier, renew=renewer).renewed
    assert SeatLedger(store).backoff(lic.arn).failures == 0 and _seats(emulator, lic) == 1


def test_emulator_down_keeps_the_stored_token(tmp_path: Path) -> None:
    with LocalLicenseManager() as emulator:
        _, verifier, renewer = _setup(emulator)
        store = LicenseStore(tmp_path)
        saved = store.save(renewer.checkout(client_token="first"), verifier)
    before = saved.path.read_bytes()  # the emulator is stopped from here on
    result = check_license(store, verifier, renew=renewer,
                           now=saved.license.expires_at - timedelta(hours=1))
    assert not result.renewed and isinstance(result.renewal_error, ConnectionFailed)
    assert result.license.consumption_token == saved.license.consumption_token
    assert saved.path.read_bytes() == before
    with pytest.raises(Expired):
        check_license(store, verifier, renew=renewer,
                      now=saved.license.expires_at + timedelta(hours=1))
    with pytest.raises(NotInStore):
        check_license(LicenseStore(tmp_path / "empty"), verifier)


def test_renewal_is_an_explicit_state_machine() -> None:
    """A header naming every state, a transition table covering each, no step over 20
    lines, and every change of state through the one checked ``_move``."""
    import ast

    from license_token.startup import _renewal, _states

    header = _states.__doc__ or ""
    for state in _states.State:
        assert f"``{state.name}``" in header and state.name in header.split("::")[1], state
        assert state in _states.TRANSITIONS
    assert set(_states.CALLING) == {_states.State.RETURNING_SEAT,
                                    _states.State.CHECKOUT_IN_FLIGHT}
    tree = ast.parse((ROOT / "src" / "license_token" / "startup" / "_renewal.py").read_text())
    (machine,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Renewal"]
    for function in machine.body:
        if isinstance(function, ast.FunctionDef):
            body = function.body[1:] if isinstance(function.body[0], ast.Expr) else (
                function.body)
            assert function.end_lineno is not None
            assert function.end_lineno - body[0].lineno + 1 <= 20, function.name
    changes = [ast.unparse(n) for n in ast.walk(machine)
               if isinstance(n, ast.Assign) and "self.state" in ast.unparse(n.targets[0])]
    assert changes == ["self.state = to"]
    assert _renewal.Renewal._move.__doc__ and "one place state changes" in (
        _renewal.Renewal._move.__doc__)
