"""Fleet simulation: ``python bench/fleet.py [--nodes 1000] [--days 30] [--seed 1]``.

N nodes run the README's startup recipe (``check_license`` with a ``BorrowRenewer``)
against the License Manager emulator for D simulated days, on one injected clock shared
by the emulator, the verifiers and the stores. Each node starts at random (from several
times a day to once a week), has offline windows (hours to two weeks; offline means its
client points at a closed port), borrows with a TTL of 1 or 7 days; the service answers
bursts of ``RateLimitExceededException``; 1 % of the nodes start once with the clock 60
days ahead, 1 % see a key rotation (the license's signing key changes on a given day and
the app update pinning only the new key arrives at the node's first online start after it,
so the stored token fails with ``bad_signature`` and must be renewed); 5 % run with a clock
1 to 10 minutes slow all along; 1 % of the borrows lose their answer after the service
took the seat (cut mid-body, a proxy's HTML page, ``200 null``, a dropped connection:
a ``FaultProxy`` between the nodes and the service); 1 % of the nodes have an older copy
of their checkout file put back once (a backup restored).

Figures vary a little between runs with the same seed: the renewal jitter derives from
the emulator's random consumption tokens. It prints figures (no timings are asserted
anywhere) and checks the invariants:
  * seats: a node never holds more than one live consumption of its license (checked after
    every call the service answers, between the calls of one start too);
  * no start with a correct clock fails while the last token the node fetched is unexpired
    (and still verifies with the keys the app pins);
  * no node stays in ``clock_rollback`` after an online start;
  * no online start fails once its fault has ended: a start the service throttled, or whose
    own borrow answer was lost, or whose clock was 60 days ahead may fail; the next online
    one may not. A slow clock is a fault that never ends: a renewal with no valid stored
    token can fail on it (the fresh token is not valid yet by that clock; its seat is kept
    and fetched again at the next start, if that comes before it expires); these starts
    are counted apart.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from license_token import LicenseTokenError, NotYetValid, TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore, SeatLedger, SeatState
from license_token.testing import (
    FAULTS,
    EmulatedLicense,
    FaultProxy,
    LocalLicenseManager,
    ServiceError,
)

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
USER = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
HOUR = timedelta(hours=1)


class SimClock:
    """The one simulated clock."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class BurstyLicenseManager(LocalLicenseManager):
    """The emulator, answering ``RateLimitExceededException`` to most calls in a burst."""

    bursts: list[tuple[datetime, datetime]]
    rng: random.Random
    throttled = 0

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        if any(a <= now < b for a, b in self.bursts) and self.rng.random() < 0.7:
            self.throttled += 1
            raise ServiceError("RateLimitExceededException", "Rate exceeded")
        return super().handle(target, body)


@attrs.define
class Node:
    index: int
    license: EmulatedLicense
    ttl: timedelta
    starts: list[datetime]
    offline: list[tuple[datetime, datetime]]
    clock_ahead_at: datetime | None = None
    rotation_group: bool = False
    keys: TrustStore | None = None
    last_fetched_expiry: datetime | None = None
    online_since_wrong_clock: bool = True
    slow_by: timedelta = timedelta(0)
    restore_at: datetime | None = None
    backup: bytes | None = None
    excused: bool = False  # the last online start failed of its own fault: the next may not

    @property
    def node_id(self) -> str:
        return f"node-{self.index:05d}"

    def is_offline(self, moment: datetime) -> bool:
        return any(a <= moment < b for a, b in self.offline)


@attrs.define
class Report:
    nodes: int
    days: int
    starts: int = 0
    starts_ok: int = 0
    starts_failed_offline_expired: int = 0
    starts_failed_wrong_clock: int = 0
    starts_failed_throttled: int = 0
    starts_failed_answer_lost: int = 0
    starts_failed_slow_first: int = 0
    slow_clock_nodes: int = 0
    starts_slow_clock: int = 0
    answers_lost: int = 0
    backups_restored: int = 0
    renewals: int = 0
    renewal_errors: int = 0
    check_ins: int = 0
    check_ins_retried: int = 0
    max_seats_per_node: int = 0
    api_calls: int = 0
    throttled_calls: int = 0
    api_calls_by_operation: dict[str, int] = attrs.field(factory=dict)
    seat_violations: list[str] = attrs.field(factory=list)
    license_violations: list[str] = attrs.field(factory=list)
    rollback_violations: list[str] = attrs.field(factory=list)
    after_fault_violations: list[str] = attrs.field(factory=list)

    @property
    def api_calls_per_node_day(self) -> float:
        return self.api_calls / (self.nodes * self.days)

    def rows(self) -> list[tuple[str, str]]:
        by_op = ", ".join(f"{k} {v}" for k, v in sorted(self.api_calls_by_operation.items()))
        return [
            ("nodes x days", f"{self.nodes} x {self.days}"),
            ("starts", str(self.starts)),
            ("  ok", str(self.starts_ok)),
            ("  failed: offline, token expired", str(self.starts_failed_offline_expired)),
            ("  failed: clock 60 days ahead", str(self.starts_failed_wrong_clock)),
            ("  failed: throttled, token expired", str(self.starts_failed_throttled)),
            ("  failed: its own borrow answer lost", str(self.starts_failed_answer_lost)),
            ("  failed: clock slow, fresh token not valid yet (kept)",
             str(self.starts_failed_slow_first)),
            ("nodes with a clock 1-10 min slow (their starts)",
             f"{self.slow_clock_nodes} ({self.starts_slow_clock})"),
            ("borrow answers lost (cut, HTML, null, dropped)", str(self.answers_lost)),
            ("older checkout files put back", str(self.backups_restored)),
            ("renewals", str(self.renewals)),
            ("renewal errors (kept running or retried)", str(self.renewal_errors)),
            ("check-ins", str(self.check_ins)),
            ("  of which retried from the store", str(self.check_ins_retried)),
            ("API calls", f"{self.api_calls} ({by_op}; throttled {self.throttled_calls})"),
            ("API calls per node-day", f"{self.api_calls_per_node_day:.2f}"),
            ("max live seats per (license, node)", str(self.max_seats_per_node)),
            ("violations: seats > 1", str(len(self.seat_violations))),
            ("violations: valid token but no license", str(len(self.license_violations))),
            ("violations: clock_rollback after online", str(len(self.rollback_violations))),
            ("violations: online start failed after its fault ended",
             str(len(self.after_fault_violations))),
        ]

    def table(self) -> str:
        width = max(len(name) for name, _ in self.rows())
        lines = [f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name:<{width}} | {value} |" for name, value in self.rows()]
        return "\n".join(lines)


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _plan(rng: random.Random, index: int, licenses: dict[tuple[int, bool], EmulatedLicense],
          days: int, *, rotation_group: bool, clock_ahead: bool) -> Node:
    end = START + timedelta(days=days)
    ttl_days = rng.choice((1, 7))
    interval_hours = _log_uniform(rng, 4, 7 * 24)  # several a day .. once a week
    starts, moment = [], START + timedelta(hours=rng.uniform(0, interval_hours))
    while moment < end:
        starts.append(moment.replace(microsecond=0))
        moment += timedelta(hours=rng.expovariate(1 / interval_hours))
    offline = []
    for _ in range(rng.choice((0, 1, 1, 2))):
        begin = START + timedelta(hours=rng.uniform(0, days * 24))
        offline.append((begin, begin + timedelta(hours=_log_uniform(rng, 2, 14 * 24))))
    node = Node(index=index, license=licenses[(ttl_days, rotation_group)],
                ttl=timedelta(days=ttl_days), starts=starts, offline=offline,
                rotation_group=rotation_group)
    if clock_ahead and len(starts) > 1:
        node.clock_ahead_at = rng.choice(starts[:-1])
    return node


def _faults(rng: random.Random, fleet: list[Node], days: int) -> None:
    """5 % of the nodes slow by 1-10 min all along; 1 % with an old file put back once."""
    count = max(1, len(fleet) // 20)
    for node in rng.sample(fleet, count):
        node.slow_by = timedelta(minutes=rng.uniform(1, 10))
    for node in rng.sample(fleet, max(1, len(fleet) // 100)):
        node.restore_at = START + timedelta(days=rng.uniform(days / 3, days))


@contextmanager
def _closed_port_url() -> Iterator[str]:
    """An endpoint nobody listens on: connection refused at once (the node is offline)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _client(endpoint_url: str, config: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("license-manager", endpoint_url=endpoint_url, region_name="us-east-1",
                        aws_access_key_id="AKIDEMULATOR",
                        aws_secret_access_key="emulator-secret",  # noqa: S106
                        config=Config(**config))


@attrs.define
class _World:
    """What every start shares: the service, the network paths, the figures."""

    emulator: BurstyLicenseManager
    proxy: FaultProxy
    online: Any
    offline: Any
    new_keys: TrustStore
    workdir: Path
    report: Report
    rng: random.Random
    fault_rng: random.Random
    rotated: bool = False


def _licenses(emulator: LocalLicenseManager, nodes: int) -> dict[tuple[int, bool],
                                                                 EmulatedLicense]:
    return {(ttl, rotating): emulator.add_license(
        entitlements={"Users": ("Count", nodes)}, borrow_ttl_minutes=ttl * 24 * 60)
        for ttl in (1, 7) for rotating in (False, True)}


def simulate(nodes: int, days: int, seed: int, workdir: Path) -> Report:
    """Run the fleet; returns the figures and every invariant violation seen."""
    rng = random.Random(seed)  # noqa: S311 (a simulation, not secrets)
    clock = SimClock()
    emulator = BurstyLicenseManager(clock=clock)
    emulator.bursts, emulator.rng = [], random.Random(seed + 1)  # noqa: S311
    for _ in range(days * 2):  # about two bursts a day, 5 to 60 minutes each
        begin = START + timedelta(hours=rng.uniform(0, days * 24))
        emulator.bursts.append((begin, begin + timedelta(minutes=rng.uniform(5, 60))))
    with emulator, FaultProxy(emulator.endpoint_url) as proxy, _closed_port_url() as nowhere:
        licenses = _licenses(emulator, nodes)
        old_keys = {lic.arn: TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
                    for lic in licenses.values()}
        new_key = emulator.create_key()
        config: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1},
                                  "connect_timeout": 1, "read_timeout": 5}
        world = _World(emulator=emulator, proxy=proxy, online=_client(proxy.endpoint_url, config),
                       offline=_client(nowhere, config), workdir=workdir,
                       new_keys=TrustStore.from_pem(emulator.public_key_pem(new_key)),
                       report=Report(nodes=nodes, days=days), rng=rng,
                       fault_rng=random.Random(seed + 2))  # noqa: S311
        one_percent = max(1, nodes // 100)  # at least one node of each kind, even in small runs
        rotating = set(rng.sample(range(nodes), one_percent))
        ahead = set(rng.sample(range(nodes), one_percent))
        fleet = [_plan(rng, i, licenses, days, rotation_group=i in rotating,
                       clock_ahead=i in ahead) for i in range(nodes)]
        _faults(world.fault_rng, fleet, days)
        for node in fleet:
            node.keys = old_keys[node.license.arn]
        rotation_day = START + timedelta(days=days / 2)
        for moment, index in sorted((m, node.index) for node in fleet for m in node.starts):
            clock.now = moment
            if not world.rotated and moment >= rotation_day:
                world.rotated = True
                for (_, with_rotation), lic in licenses.items():
                    if with_rotation:
                        lic.issuer, lic.key_id = emulator.key(new_key), new_key
            _start(fleet[index], moment, world)
        _count_calls(world, fleet)
    return world.report


def _count_calls(world: _World, fleet: list[Node]) -> None:
    report, emulator = world.report, world.emulator
    report.throttled_calls = emulator.throttled
    report.api_calls = len(emulator.requests) + emulator.throttled
    for operation, _ in emulator.requests:
        report.api_calls_by_operation[operation] = (
            report.api_calls_by_operation.get(operation, 0) + 1)
    report.slow_clock_nodes = sum(1 for node in fleet if node.slow_by)
    for node in fleet:  # between the calls of one start too
        peak = emulator.peak_seats_by_node(node.license.arn)[node.node_id]
        report.max_seats_per_node = max(report.max_seats_per_node, peak)
        if peak > 1:
            report.seat_violations.append(f"{node.node_id} held {peak} seats at once")


def _prepare(node: Node, moment: datetime, world: _World, is_offline: bool) -> bool:
    """Apply this start's faults; whether its borrow answer, if any, is to be lost."""
    if world.rotated and node.rotation_group and not is_offline and (
            node.keys is not world.new_keys):
        node.keys = world.new_keys  # the app update arrives with the network, pinning the
        node.last_fetched_expiry = None  # new key: the stored token is no license any more
    files = sorted((world.workdir / node.node_id).glob("[0-9a-f]*.json"))
    if node.restore_at is not None and moment >= node.restore_at and node.backup and files:
        files[0].write_bytes(node.backup)  # an older copy of the checkout, put back
        node.restore_at, node.last_fetched_expiry = None, None  # not what it fetched
        world.report.backups_restored += 1
    lose = not is_offline and world.fault_rng.random() < 0.01
    if lose:
        fault = world.fault_rng.choice(sorted(FAULTS))
        world.proxy.inject(FAULTS[fault], operation="CheckoutBorrowLicense")
    return lose


def _start(node: Node, moment: datetime, world: _World) -> None:
    report = world.report
    is_offline = node.is_offline(moment)
    wrong_clock = node.clock_ahead_at == moment
    lose = _prepare(node, moment, world, is_offline)
    faulted = world.proxy.faulted()
    assert node.keys is not None
    reading = (moment + timedelta(days=60) if wrong_clock else moment) - node.slow_by
    verifier = Verifier(node.keys, node_id=node.node_id, clock=lambda: reading)
    manager = LicenseManager(verifier, client=world.offline if is_offline else world.online)
    renewer = BorrowRenewer(manager=manager, license_arn=node.license.arn, entitlements=USER)
    store = LicenseStore(world.workdir / node.node_id)
    ledger = SeatLedger(store)
    to_return = {s.consumption_token for s in ledger.seats() if s.state is SeatState.TO_RETURN}
    files = store.paths() if node.restore_at is not None else []
    before = files[0].read_bytes() if files else None  # what a renewal would replace
    calls_before = len(world.emulator.requests)
    report.starts += 1
    report.starts_slow_clock += bool(node.slow_by)
    try:
        result = check_license(store, verifier, renew=renewer, rng=world.rng)
    except LicenseTokenError as exc:
        lost = world.proxy.faulted() > faulted
        _failed_start(node, moment, exc, is_offline, wrong_clock, lost, report)
    else:
        node.excused = node.excused and is_offline  # an online start made good
        _licensed(node, result, to_return, report)
        if result.renewed and before is not None:
            node.backup = before  # the backup a restore puts back: older, maybe still valid
    if lose:
        report.answers_lost += world.proxy.faulted() > faulted
        world.proxy.clear()
    if wrong_clock:
        node.online_since_wrong_clock = False
    elif not is_offline and len(world.emulator.requests) > calls_before:
        node.online_since_wrong_clock = True
    seats = world.emulator.seats_by_node(node.license.arn)[node.node_id]
    report.max_seats_per_node = max(report.max_seats_per_node, seats)
    if seats > 1:
        report.seat_violations.append(f"{node.node_id} holds {seats} seats at {moment}")


def _licensed(node: Node, result: Any, to_return: set[str | None], report: Report) -> None:
    report.starts_ok += 1
    report.renewals += result.renewed
    report.renewal_errors += result.renewal_failed
    report.check_ins += len(result.checked_in)
    report.check_ins_retried += len(to_return & set(result.checked_in))
    if result.renewed:
        node.last_fetched_expiry = result.license.expires_at


def _failed_start(node: Node, moment: datetime, exc: LicenseTokenError, is_offline: bool,
                  wrong_clock: bool, lost: bool, report: Report) -> None:
    what = f"{node.node_id} at {moment}: {exc.code}: {exc}"
    if exc.code == "clock_rollback" and node.online_since_wrong_clock and not wrong_clock:
        report.rollback_violations.append(what)
    if wrong_clock:
        report.starts_failed_wrong_clock += 1
        return
    if node.last_fetched_expiry is not None and moment < node.last_fetched_expiry:
        report.license_violations.append(what)
    cause = exc.__cause__
    if is_offline:
        report.starts_failed_offline_expired += 1
        return
    if getattr(cause, "code", None) == "aws_throttled":
        report.starts_failed_throttled += 1
        return
    if node.slow_by and isinstance(getattr(cause, "reason", None), NotYetValid):
        report.starts_failed_slow_first += 1  # the fault has not ended: the clock is slow
        return
    excused, node.excused = node.excused, False
    if lost:  # its own borrow answer was lost (again, maybe)
        report.starts_failed_answer_lost += 1
        node.excused = True
    elif excused:  # the start after its fault
        report.after_fault_violations.append(f"the start after a fault failed: {what} "
                                             f"(from {cause!r})")
    else:
        report.after_fault_violations.append(f"online start failed: {what} (from {cause!r})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logging.getLogger("license_token").setLevel(logging.ERROR)  # renewal warnings: counted
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 (scratch stores)
    with tempfile.TemporaryDirectory(prefix="license-token-fleet-", dir=base) as work:
        report = simulate(args.nodes, args.days, args.seed, Path(work))
    print(report.table())
    violations = (report.seat_violations + report.license_violations
                  + report.rollback_violations + report.after_fault_violations)
    for violation in violations[:20]:
        print("VIOLATION", violation)
    bad = bool(violations)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
