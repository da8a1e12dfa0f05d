"""The online seat kept: ``EntitlementKeeper`` extends its consumption, rides out failures,
and never returns an answer whose ``Expiration`` has passed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import ManualClock
from hypothesis import given, settings
from hypothesis import strategies as st

from license_token import (
    ConfigurationError,
    EntitlementMissing,
    Expired,
    LicenseTokenError,
    Malformed,
    TrustStore,
    Verifier,
)
from license_token.aws import (
    AccessDenied,
    LicenseManager,
    NoEntitlementsAllowed,
    ResourceNotFound,
    ServiceUnavailable,
    Throttled,
)
from license_token.aws.marketplace import (
    AMI_INTERVAL,
    CONTAINER_INTERVAL,
    MARKETPLACE_KEY_FINGERPRINT,
    EntitlementKeeper,
    OnlineLicense,
    online_license,
)
from license_token.testing import LocalLicenseManager, TokenFactory
from license_token.testing._factory import aws_time

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
TTL = timedelta(hours=1)


class Service:
    """License Manager as a keeper sees it, on the test's clock: consumptions that live
    ``ttl`` from their checkout or last extension; ``fail[operation]`` errors to raise."""

    def __init__(self, clock: ManualClock, ttl: timedelta = TTL) -> None:
        self.clock, self.ttl = clock, ttl
        self.live: dict[str, datetime] = {}
        self.calls: list[str] = []
        self.fail: dict[str, list[LicenseTokenError]] = {"checkout": [], "extend": [],
                                                          "check_in": []}
        self.replay: str | None = None  # answer the next checkout with this consumption

    def _call(self, operation: str) -> datetime:
        self.calls.append(operation)
        if self.fail[operation]:
            raise self.fail[operation].pop(0)
        now = self.clock.now
        self.live = {t: until for t, until in self.live.items() if until > now}
        return now

    def checkout(self) -> OnlineLicense:
        now = self._call("checkout")
        token, self.replay = self.replay or uuid.uuid4().hex, None
        issued = now if token not in self.live else self.live[token] - 2 * self.ttl
        self.live.setdefault(token, now + self.ttl)
        response = {"LicenseArn": "arn:aws:license-manager::294406891311:license:l-1",
                    "LicenseConsumptionToken": token, "CheckoutType": "PROVISIONAL",
                    "EntitlementsAllowed": [{"Name": "Premium", "Unit": "None",
                                             "Value": "Enabled"}],
                    "IssuedAt": aws_time(issued) + "Z",
                    "Expiration": aws_time(issued + self.ttl) + "Z"}
        return online_license(response, product_sku="sku",
                              key_fingerprint=MARKETPLACE_KEY_FINGERPRINT, now=now)

    def extend(self, token: str) -> dict[str, Any]:
        now = self._call("extend")
        if token not in self.live:
            raise ResourceNotFound("License consumption not found")
        self.live[token] = now + self.ttl
        return {"LicenseConsumptionToken": token, "Expiration": aws_time(now + self.ttl) + "Z"}

    def check_in(self, token: str) -> None:
        self._call("check_in")
        if self.live.pop(token, None) is None:
            raise ResourceNotFound("License consumption not found")


CLOCK_START = START  # the ``clock`` fixture's


@pytest.fixture
def aws(clock: ManualClock) -> Service:
    return Service(clock)


def _keeper(aws: Service, clock: ManualClock, **options: Any) -> EntitlementKeeper:
    return EntitlementKeeper(aws.checkout, extend=aws.extend, check_in=aws.check_in,
                             clock=clock, **options)


def _minutes(clock: ManualClock, keeper: EntitlementKeeper, minutes: int) -> Iterator[Any]:
    """Poll once a minute for ``minutes`` minutes: each poll's result, or its error."""
    for _ in range(minutes):
        try:
            yield keeper.poll()
        except LicenseTokenError as exc:
            yield exc
        clock.now += timedelta(minutes=1)


# -- the seat is kept ---------------------------------------------------------------------------
def test_a_kept_seat_is_extended_never_checked_in_and_out(aws: Service,
                                                          clock: ManualClock) -> None:
    """Each check extends the kept seat: checking it in, then out, let another pod take it
    between the two."""
    keeper = _keeper(aws, clock)
    first = keeper.poll()
    assert keeper.next_due() == START + AMI_INTERVAL
    results = list(_minutes(clock, keeper, 4 * 60))
    assert all(r.consumption_token == first.consumption_token for r in results)
    last = keeper.poll()
    assert aws.calls == ["checkout"] + ["extend"] * 16  # one every 15 minutes, 4 an hour
    assert list(aws.live) == [first.consumption_token]
    assert last.expires_at == START + 4 * 60 * timedelta(minutes=1) + TTL
    assert last.extended_until == last.expires_at and first.extended_until is None
    assert last.trust_basis == "TLS and SigV4 to AWS License Manager; not signed; " \
        "Expiration extended"
    assert keeper.unreturned == (first.consumption_token,)


def test_a_long_cadence_still_extends_before_the_seat_lapses(aws: Service,
                                                             clock: ManualClock) -> None:
    """Daily checks, a 60-minute consumption: extended every 30 minutes, never lapsing."""
    keeper = _keeper(aws, clock, interval=CONTAINER_INTERVAL)
    first = keeper.poll()
    assert keeper.next_due() == START + TTL / 2
    results = list(_minutes(clock, keeper, 24 * 60))
    assert {r.consumption_token for r in results} == {first.consumption_token}
    assert aws.calls == ["checkout"] + ["extend"] * 47  # minutes 30, 60, ... 1410: 2 an hour


def test_a_consumption_that_is_gone_is_checked_out_anew(aws: Service,
                                                        clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    first = keeper.poll()
    aws.live.clear()  # checked in by someone else, or lost by the service
    clock.now += AMI_INTERVAL
    second = keeper.poll()
    assert second.consumption_token != first.consumption_token
    assert aws.calls == ["checkout", "extend", "checkout"]
    assert keeper.unreturned == (second.consumption_token,)


def test_a_repeated_client_tokens_stale_answer_is_extended_at_once(aws: Service,
                                                                    clock: ManualClock) -> None:
    """A restarted pod's checkout replays its live consumption with the first Expiration."""
    held = EntitlementKeeper(aws.checkout, extend=aws.extend, clock=clock)
    token = held.poll().consumption_token
    assert token is not None
    for _ in range(5):
        clock.now += AMI_INTERVAL
        held.poll()
    aws.replay = token  # the pod restarts: same ClientToken, same consumption
    restarted = _keeper(aws, clock)
    result = restarted.poll()
    assert result.consumption_token == token and result.is_current(clock.now)
    assert result.expires_at == clock.now + TTL and aws.calls[-2:] == ["checkout", "extend"]


# -- failures are ridden out, never past Expiration ------------------------------------------
def test_thirty_minutes_of_failures_are_ridden_out_on_the_kept_seat(aws: Service,
                                                                    clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    keeper.poll()
    clock.now += AMI_INTERVAL
    kept = keeper.poll()  # extended: holds until START + 75 min
    clock.now += AMI_INTERVAL
    aws.fail["extend"] = [ServiceUnavailable("ServerInternalException")] * 40
    outage = clock.now
    results = list(_minutes(clock, keeper, 30))
    assert all(r is kept for r in results)  # retried every minute, the app runs on
    assert keeper.failing_since == outage and aws.calls.count("extend") == 1 + 30
    with pytest.raises(ServiceUnavailable):  # thirty minutes of failures: stop
        keeper.poll()
    aws.fail["extend"] = []
    clock.now += timedelta(minutes=1)
    recovered = keeper.poll()  # the seat was never let go: the same consumption
    assert recovered.consumption_token == kept.consumption_token
    assert keeper.last_error is None and "check_in" not in aws.calls


def test_an_expired_result_is_never_returned(aws: Service, clock: ManualClock) -> None:
    """``poll()`` never returns an expired answer, on the daily cadence too (it could return
    one expired for 23 hours)."""
    keeper = EntitlementKeeper(aws.checkout, interval=CONTAINER_INTERVAL, clock=clock)
    first = keeper.poll()
    clock.now = first.expires_at - timedelta(seconds=1)
    assert keeper.poll() is first and aws.calls == ["checkout"]
    clock.now = first.expires_at
    aws.fail["checkout"] = [ServiceUnavailable("down")]
    with pytest.raises(ServiceUnavailable):  # expired: check out at once, or raise
        keeper.poll()
    clock.now += timedelta(minutes=1)
    second = keeper.poll()
    assert aws.calls == ["checkout"] * 3 and second.is_current(clock.now)


def test_a_long_retry_window_stops_at_the_expiration(aws: Service, clock: ManualClock) -> None:
    keeper = _keeper(aws, clock, retry_window=timedelta(hours=5))
    first = keeper.poll()
    aws.fail["extend"] = [Throttled("Rate exceeded")] * 1000
    aws.fail["checkout"] = [Throttled("Rate exceeded")] * 1000
    results = list(_minutes(clock, keeper, 90))
    assert all(r is first for r in results[:60])
    assert all(isinstance(r, Throttled) for r in results[60:])  # expired at 60 minutes


def test_no_entitlements_while_a_current_result_is_held_is_ridden_out(
        aws: Service, clock: ManualClock) -> None:
    """The seat is gone, every other seat is taken: the result holds until it expires."""
    keeper = _keeper(aws, clock)
    first = keeper.poll()
    aws.live.clear()
    aws.fail["checkout"] = [NoEntitlementsAllowed("none allowed")] * 100
    clock.now += AMI_INTERVAL
    results = list(_minutes(clock, keeper, 50))
    assert all(r is first for r in results[:30])  # the retry window
    assert all(isinstance(r, NoEntitlementsAllowed) for r in results[30:])
    assert isinstance(keeper.last_error, NoEntitlementsAllowed)


def test_without_extend_no_entitlements_is_ridden_out_until_expiry(aws: Service,
                                                                   clock: ManualClock) -> None:
    keeper = EntitlementKeeper(aws.checkout, clock=clock, retry_window=timedelta(hours=2))
    first = keeper.poll()
    aws.fail["checkout"] = [NoEntitlementsAllowed("none allowed")] * 100
    results = list(_minutes(clock, keeper, 70))
    assert all(r is first for r in results[:60])
    assert all(isinstance(r, NoEntitlementsAllowed) for r in results[60:])


def test_a_first_checkout_refused_raises_and_is_retried_later(aws: Service,
                                                              clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    aws.fail["checkout"] = [NoEntitlementsAllowed("every seat is taken")]
    with pytest.raises(NoEntitlementsAllowed):
        keeper.poll()
    with pytest.raises(NoEntitlementsAllowed):  # not retried before retry_delay
        keeper.poll(clock.now + timedelta(seconds=59))
    assert aws.calls == ["checkout"] and keeper.unreturned == ()
    clock.now += timedelta(minutes=1)
    assert keeper.poll().consumption_token in aws.live


@pytest.mark.parametrize("error", [AccessDenied("no"), EntitlementMissing("Premium")])
def test_a_definitive_no_raises_at_once_and_keeps_the_seat(aws: Service, clock: ManualClock,
                                                           error: LicenseTokenError) -> None:
    keeper = _keeper(aws, clock)
    first = keeper.poll()
    clock.now += AMI_INTERVAL
    aws.fail["extend"] = [error]
    with pytest.raises(type(error)):
        keeper.poll()
    assert keeper.unreturned == (first.consumption_token,) and "check_in" not in aws.calls
    clock.now += timedelta(minutes=1)
    assert keeper.poll().consumption_token == first.consumption_token


def test_an_answer_expired_on_arrival_is_refused(clock: ManualClock) -> None:
    aws = Service(clock, ttl=timedelta(0))
    keeper = EntitlementKeeper(aws.checkout, clock=clock)
    with pytest.raises(Expired):
        keeper.poll()


# -- the seat is given back only when the app stops or changes -----------------------------
def test_close_checks_the_seat_in_once(aws: Service, clock: ManualClock) -> None:
    with _keeper(aws, clock) as keeper:
        token = keeper.poll().consumption_token
        clock.now += AMI_INTERVAL
        keeper.poll()
    assert aws.calls == ["checkout", "extend", "check_in"] and aws.live == {}
    assert keeper.unreturned == () and keeper.last_good is None and keeper.next_due() is None
    assert token is not None


def test_a_failed_check_in_at_close_is_listed_until_it_expires(aws: Service,
                                                               clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    token = keeper.poll().consumption_token
    aws.fail["check_in"] = [Throttled("Rate exceeded")]
    keeper.close()  # logged, not raised: the app is stopping
    assert keeper.unreturned == (token,)
    clock.now += TTL
    aws.fail["checkout"] = [NoEntitlementsAllowed("x")]
    with pytest.raises(NoEntitlementsAllowed):
        keeper.poll()
    assert len(keeper.unreturned) == 0  # expired: its seat is free again


def test_close_of_a_consumption_already_gone_is_quiet(aws: Service, clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    keeper.poll()
    aws.live.clear()
    keeper.close()
    assert keeper.unreturned == () and aws.calls == ["checkout", "check_in"]


def test_change_gives_the_seat_back_then_checks_out_anew(aws: Service,
                                                         clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    first = keeper.poll()
    aws.fail["check_in"] = [Throttled("Rate exceeded")]
    with pytest.raises(Throttled):  # nothing changed: the seat is still kept
        keeper.change(aws.checkout)
    assert keeper.poll() is first
    keeper.change(aws.checkout)
    assert first.consumption_token not in aws.live and keeper.last_good is None
    second = keeper.poll()
    assert second.consumption_token != first.consumption_token and len(aws.live) == 1


def test_check_in_needs_extend(aws: Service) -> None:
    with pytest.raises(ConfigurationError, match="extend"):
        EntitlementKeeper(aws.checkout, check_in=aws.check_in)
    with pytest.raises(ConfigurationError, match="positive"):
        EntitlementKeeper(aws.checkout, interval=timedelta(0))


# -- properties --------------------------------------------------------------------------------
_ERRORS = st.sampled_from([None, None, None, ServiceUnavailable("down"), Throttled("slow"),
                           NoEntitlementsAllowed("none"), AccessDenied("no")])


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 90), _ERRORS, _ERRORS, st.booleans()),
                      max_size=40),
       extend=st.booleans(), window=st.integers(1, 180))
def test_poll_never_returns_an_expired_result_nor_holds_two_seats(
        steps: list[tuple[int, LicenseTokenError | None, LicenseTokenError | None, bool]],
        extend: bool, window: int) -> None:
    clock = ManualClock()
    clock.now = START
    aws = Service(clock)
    keeper = EntitlementKeeper(aws.checkout, extend=aws.extend if extend else None,
                               check_in=aws.check_in if extend else None, clock=clock,
                               retry_window=timedelta(minutes=window))
    for minutes, checkout_error, extend_error, gone in steps:
        clock.now += timedelta(minutes=minutes)
        if gone:  # the service lost every consumption
            aws.live.clear()
        aws.fail["checkout"] = [checkout_error] if checkout_error else []
        aws.fail["extend"] = [extend_error] if extend_error else []
        try:
            result = keeper.poll()
        except LicenseTokenError:
            continue
        assert result.is_current(clock.now)
        if extend:  # one seat at most, and it is the result's
            assert set(aws.live) <= {result.consumption_token}
    assert "check_in" not in aws.calls


# -- over HTTP, with the emulator --------------------------------------------------------------
def test_the_recipe_keeps_one_seat_on_the_emulator(clock: ManualClock) -> None:
    """An AMI product, one seat: an outage ridden out, the same consumption throughout."""
    with LocalLicenseManager(clock=clock) as emulator:
        lic = emulator.add_marketplace_license(entitlements={"Users": ("Count", 1)})
        manager = LicenseManager(Verifier(TokenFactory().trust_store()), client=emulator.client(
            retries={"mode": "standard", "total_max_attempts": 1}))
        keeper = EntitlementKeeper(
            lambda: manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                            [{"Name": "Users", "Unit": "Count", "Value": "1"}],
                                            require=["Users:Count=1"]),
            interval=AMI_INTERVAL, extend=manager.extend, check_in=manager.check_in,
            clock=clock)
        first = keeper.poll()
        for _ in range(8):
            clock.now += AMI_INTERVAL
            assert keeper.poll().consumption_token == first.consumption_token
            assert emulator.seats_in_use(lic.arn)["Users"] == 1
        good = keeper.last_good
        clock.now += AMI_INTERVAL
        emulator.fail(20)  # AWS unavailable for 20 minutes: the seat is kept meanwhile
        for _ in range(20):
            assert keeper.poll() is good
            clock.now += timedelta(minutes=1)
        assert keeper.poll().consumption_token == first.consumption_token
        assert emulator.calls("CheckoutLicense") == 1 and emulator.calls("CheckInLicense") == 0
        keeper.close()
        assert emulator.calls("CheckInLicense") == 1
        assert emulator.seats_in_use(lic.arn)["Users"] == 0


@pytest.mark.parametrize(("answer", "match"), [
    (["not", "a", "mapping"], "is a mapping"),
    ({"LicenseConsumptionToken": "someone-else", "Expiration": "2026-01-01T02:00:00Z"},
     "another consumption"),
    ({"Expiration": "soon"}, "Expiration"),
])
def test_a_malformed_extend_answer_is_refused(aws: Service, clock: ManualClock,
                                              answer: Any, match: str) -> None:
    keeper = EntitlementKeeper(aws.checkout, extend=lambda token: answer, clock=clock)
    keeper.poll()
    clock.now += AMI_INTERVAL
    with pytest.raises(Malformed, match=match):
        keeper.poll()


def test_an_extend_answer_with_a_datetime_is_read(aws: Service, clock: ManualClock) -> None:
    """boto3 hands ``Expiration`` over as a string; a parsed datetime is read too."""
    until = START + timedelta(hours=3)
    keeper = EntitlementKeeper(aws.checkout, extend=lambda token: {"Expiration": until},
                               clock=clock)
    keeper.poll()
    clock.now += AMI_INTERVAL
    assert keeper.poll().expires_at == until


def test_change_without_a_seat_or_with_one_gone_just_checks_out_anew(
        aws: Service, clock: ManualClock) -> None:
    keeper = _keeper(aws, clock)
    keeper.change(aws.checkout)  # nothing held yet
    first = keeper.poll()
    aws.live.clear()
    keeper.change(aws.checkout)  # its consumption is gone already: nothing to give back
    assert aws.calls == ["checkout", "check_in"] and keeper.last_good is None
    assert keeper.poll().consumption_token != first.consumption_token


def test_a_signed_result_extended_says_what_rests_on_what(clock: ManualClock) -> None:
    """A vendor-issued license checked out online: signed claims, an online extension."""
    with LocalLicenseManager(clock=clock) as emulator:
        lic = emulator.add_license(entitlements={"Premium": ("None", None)})
        keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
        manager = LicenseManager(Verifier(keys, clock=clock), client=emulator.client())
        keeper = EntitlementKeeper(
            lambda: manager.checkout_online(lic.product_sku, lic.key_fingerprint,
                                            [{"Name": "Premium", "Unit": "None"}]),
            extend=manager.extend, clock=clock)
        first = keeper.poll()
        clock.now += AMI_INTERVAL
        extended = keeper.poll()
        url = emulator.endpoint_url
    assert first.signed is not None and extended.signed is first.signed
    assert extended.expires_at == clock.now + timedelta(minutes=lic.provisional_ttl_minutes)
    assert extended.expires_at > first.signed.expires_at
    assert extended.trust_basis == (
        "PS384 signature by a pinned key: entitlements, license and node from the signed "
        f"claims; Expiration extended over endpoint chosen by the application: {url}")
    assert keeper.unreturned == ()  # no check_in: nothing is tracked for giving back
