"""Seat contention over the emulator: N seats, N+1 pods, a day of keeping them.

N pods hold the N seats of a Marketplace license with :class:`EntitlementKeeper`; one more
pod waits, retrying its first checkout with the guide's back-off. For 24 hours on a shared
fake clock every pod polls each minute (in a shuffled order), License Manager throttles
everyone in bursts, and one seated pod crashes and restarts (a rolling deployment: the
waiting pod retries every minute meanwhile). The seated pods never lose their seats, the
waiting pod never holds one, and no seat is ever counted twice.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import ManualClock

from license_token import LicenseTokenError, Verifier
from license_token.aws import LicenseManager, NoEntitlementsAllowed, Throttled
from license_token.aws.marketplace import (
    AMI_INTERVAL,
    MARKETPLACE_KEY_FINGERPRINT,
    EntitlementKeeper,
    OnlineLicense,
)
from license_token.testing import EmulatedLicense, LocalLicenseManager, ServiceError, TokenFactory

SEATS = 3
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
DAY = 24 * 60
#: Minutes [from, to) during which License Manager throttles every call.
BURSTS = [(95, 115), (300, 325), (601, 607), (890, 914), (1203, 1211)]
CRASH, RESTART = 600, 603  # pod-1 is down for these minutes, its seat unreturned


class Bursts:
    """A request change that throttles every call during ``BURSTS`` (and counts them)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.throttled = clock, 0

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        minute = (self.clock() - START) // timedelta(minutes=1)
        if any(start <= minute < end for start, end in BURSTS):
            self.throttled += 1
            raise ServiceError("RateLimitExceededException", "Rate exceeded")
        return body


Day = tuple[LocalLicenseManager, EmulatedLicense, ManualClock, Bursts]
"""A day of the fleet: the emulator (throttling in bursts), the license, the clock."""


class Pod:
    """One app instance: its own manager and client, a stable ClientToken, a keeper."""

    def __init__(self, name: str, emulator: LocalLicenseManager, lic: EmulatedLicense,
                 clock: ManualClock, calls: Counter[str]) -> None:
        self.name, self.emulator, self.lic, self.clock, self.calls = (
            name, emulator, lic, clock, calls)
        self.next_try = clock.now
        self.pause = timedelta(minutes=1)
        self.keeper: EntitlementKeeper | None = self.start()

    def start(self) -> EntitlementKeeper:
        """A fresh process: a new client, a new keeper, the same ClientToken as before."""
        client = self.emulator.client(retries={"mode": "standard", "total_max_attempts": 1})
        client.meta.events.register("before-send", self._count)
        manager = LicenseManager(Verifier(TokenFactory().trust_store(), clock=self.clock),
                                 client=client)

        def checkout() -> OnlineLicense:
            return manager.checkout_online(
                self.lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                [{"Name": "Users", "Unit": "Count", "Value": "1"}], require=["Users:Count=1"],
                node_id=self.name, client_token=f"{self.name}-seat")

        self.next_try, self.pause = self.clock.now, timedelta(minutes=1)
        return EntitlementKeeper(checkout, interval=AMI_INTERVAL, extend=manager.extend,
                                 check_in=manager.check_in, clock=self.clock)

    def _count(self, **_: Any) -> None:
        self.calls[self.name] += 1

    def poll(self, keeper: EntitlementKeeper, rng: random.Random,
             eager: bool) -> OnlineLicense | LicenseTokenError | None:
        """The app's timer: poll, the first checkout retried with jittered back-off."""
        if keeper.last_good is None and self.clock.now < self.next_try and not eager:
            return None
        try:
            return keeper.poll()
        except (NoEntitlementsAllowed, Throttled) as exc:
            if keeper.last_good is None:  # no first result yet: back off
                self.next_try = self.clock.now + self.pause * rng.uniform(0.5, 1.0)
                self.pause = min(self.pause * 2, timedelta(hours=1))
            return exc


@pytest.fixture
def day() -> Iterator[Day]:
    clock = ManualClock(START)
    bursts = Bursts(clock)
    with LocalLicenseManager(clock=clock) as emulator:
        emulator.change(request=bursts)
        lic = emulator.add_marketplace_license(entitlements={"Users": ("Count", SEATS)},
                                               provisional_ttl_minutes=60)
        yield emulator, lic, clock, bursts


def _live_tokens(emulator: LocalLicenseManager, lic: EmulatedLicense) -> dict[str, str]:
    """Node -> the token of its live consumption (asserting one per node)."""
    now = emulator.clock()
    live = [c for c in emulator.consumptions.values() if c.license.arn == lic.arn
            and c.live_at(now)]
    nodes = Counter(c.node_id for c in live)
    assert all(count == 1 for count in nodes.values()), nodes  # no seat counted twice
    return {str(c.node_id): c.token for c in live}


def test_n_seats_n_plus_one_pods_a_day_of_polling(day: Day) -> None:
    emulator, lic, clock, bursts = day
    rng = random.Random(18)  # noqa: S311 - a reproducible schedule, not a secret
    calls: Counter[str] = Counter()
    pods = [Pod(f"pod-{i}", emulator, lic, clock, calls) for i in range(SEATS + 1)]
    first = {pod.name: pod.poll(keeper, rng, eager=False)
             for pod, keeper in _running(pods)}
    seated = {name: r.consumption_token for name, r in first.items()
              if isinstance(r, OnlineLicense)}
    (waiting,) = [pod for pod in pods if pod.name not in seated]
    assert len(seated) == SEATS and isinstance(first[waiting.name], NoEntitlementsAllowed)
    restarted = pods[1]
    assert restarted.name in seated

    for minute in range(1, DAY):
        clock.now = START + timedelta(minutes=minute)
        if minute == CRASH:  # pod-1 dies: no close(), its consumption unreturned
            restarted.keeper = None
        if minute == RESTART:
            restarted.keeper = restarted.start()
        for pod, keeper in _running(rng.sample(pods, len(pods))):
            result = pod.poll(keeper, rng, eager=pod is waiting and CRASH <= minute < RESTART + 10)
            _check(pod, keeper, result, seated.get(pod.name))
        assert _live_tokens(emulator, lic) == seated, minute  # never lost, never taken
        assert emulator.seats_in_use(lic.arn)["Users"] == SEATS

    keepers = [keeper for _, keeper in _running(pods)]
    assert len(keepers) == len(pods) and restarted.keeper is not None
    assert restarted.keeper.last_good is not None
    assert restarted.keeper.last_good.consumption_token == seated[restarted.name]
    assert bursts.throttled > 0 and emulator.calls("CheckInLicense") == 0
    for keeper in keepers:
        keeper.close()
    assert emulator.seats_in_use(lic.arn)["Users"] == 0
    per_hour = {name: calls[name] / 24 for name in sorted(calls)}
    print(f"\nAPI calls per keeper-hour over 24 h (throttled calls {bursts.throttled} "
          f"included): {per_hour}")
    for name in seated:  # 4 extends an hour, the bursts' retries, pod-1's restart
        assert per_hour[name] <= 6.5, per_hour
    assert per_hour[waiting.name] <= 3, per_hour


def _running(pods: list[Pod]) -> Iterator[tuple[Pod, EntitlementKeeper]]:
    return ((pod, pod.keeper) for pod in pods if pod.keeper is not None)


def _check(pod: Pod, keeper: EntitlementKeeper,
           result: OnlineLicense | LicenseTokenError | None, token: str | None) -> None:
    """A seated pod runs on its own seat; the waiting pod never has one."""
    if token is None:  # the waiting pod: every try refused (or throttled)
        assert result is None or isinstance(result, (NoEntitlementsAllowed, Throttled))
        assert keeper.last_good is None
        return
    if keeper.last_good is None:  # the restarted pod, throttled at its first checkout
        assert result is None or isinstance(result, Throttled), result
        return
    assert isinstance(result, OnlineLicense), result
    assert result.is_current(pod.clock.now) and result.consumption_token == token


def test_the_restart_only_works_with_the_same_client_token(
        day: Day) -> None:
    """Without its ClientToken, a restarted pod has no seat until its old one expires: the
    seat is never taken twice, and the waiting pod may win it then."""
    emulator, lic, clock, _ = day
    manager = LicenseManager(Verifier(TokenFactory().trust_store()), client=emulator.client(
        retries={"mode": "standard", "total_max_attempts": 1}))
    checkout: Callable[[], OnlineLicense] = lambda: manager.checkout_online(  # noqa: E731
        lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
        [{"Name": "Users", "Unit": "Count", "Value": str(SEATS)}])
    EntitlementKeeper(checkout, extend=manager.extend, clock=clock).poll()  # then it dies
    with pytest.raises(NoEntitlementsAllowed):
        EntitlementKeeper(checkout, extend=manager.extend, clock=clock).poll()
    assert emulator.seats_in_use(lic.arn)["Users"] == SEATS
