"""Fleet simulation: ``python bench/fleet.py [--nodes 1000] [--days 30] [--seed 1]``.

N nodes run the README's startup recipe (``check_license`` with a ``BorrowRenewer``)
against the License Manager emulator for D simulated days, on one injected clock shared
by the emulator, the verifiers and the stores. Each node starts at random (from several
times a day to once a week), has offline windows (hours to two weeks; offline means its
client points at a closed port), borrows with a TTL of 1 or 7 days; the service answers
bursts of ``RateLimitExceededException``; 1 % of the nodes start once with the clock 60
days ahead, 1 % see a key rotation (the license's signing key changes on a given day and
the app update pinning only the new key arrives at the node's first online start after it,
so the stored token fails with ``bad_signature`` and must be renewed).

Figures vary a little between runs with the same seed: the renewal jitter derives from
the emulator's random consumption tokens. It prints figures (no timings are asserted
anywhere) and checks the invariants:
  * seats: a node never holds more than one live consumption of its license (checked after
    every start);
  * no start with a correct clock fails while the last token the node fetched is unexpired
    (and still verifies with the keys the app pins);
  * no node stays in ``clock_rollback`` after an online start.
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

from license_token import LicenseTokenError, TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore
from license_token.testing import EmulatedLicense, LocalLicenseManager, ServiceError

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


def simulate(nodes: int, days: int, seed: int, workdir: Path) -> Report:
    """Run the fleet; returns the figures and every invariant violation seen."""
    rng = random.Random(seed)  # noqa: S311 (a simulation, not secrets)
    clock = SimClock()
    report = Report(nodes=nodes, days=days)
    emulator = BurstyLicenseManager(clock=clock)
    emulator.bursts, emulator.rng = [], random.Random(seed + 1)  # noqa: S311
    for _ in range(days * 2):  # about two bursts a day, 5 to 60 minutes each
        begin = START + timedelta(hours=rng.uniform(0, days * 24))
        emulator.bursts.append((begin, begin + timedelta(minutes=rng.uniform(5, 60))))
    with emulator, _closed_port_url() as nowhere:
        licenses = {(ttl, rotating): emulator.add_license(
            entitlements={"Users": ("Count", nodes)}, borrow_ttl_minutes=ttl * 24 * 60)
            for ttl in (1, 7) for rotating in (False, True)}
        rotation_day = START + timedelta(days=days / 2)
        old_keys = {arn: TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
                    for arn, lic in ((lic.arn, lic) for lic in licenses.values())}
        new_key = emulator.create_key()
        new_keys = TrustStore.from_pem(emulator.public_key_pem(new_key))
        rotated = False
        config: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1},
                                  "connect_timeout": 1, "read_timeout": 5}
        online = emulator.client("license-manager", **config)
        offline = _client(nowhere, config)
        one_percent = max(1, nodes // 100)  # at least one node of each kind, even in small runs
        rotating = set(rng.sample(range(nodes), one_percent))
        ahead = set(rng.sample(range(nodes), one_percent))
        fleet = [_plan(rng, i, licenses, days, rotation_group=i in rotating,
                       clock_ahead=i in ahead) for i in range(nodes)]
        for node in fleet:
            node.keys = old_keys[node.license.arn]
        events = sorted((moment, node.index) for node in fleet for moment in node.starts)
        for moment, index in events:
            clock.now = moment
            if not rotated and moment >= rotation_day:
                rotated = True
                for (_, with_rotation), lic in licenses.items():
                    if with_rotation:
                        lic.issuer, lic.key_id = emulator.key(new_key), new_key
            _start(fleet[index], moment, emulator, online, offline, new_keys, rotated,
                   workdir, report, rng)
        report.throttled_calls = emulator.throttled
        report.api_calls = len(emulator.requests) + emulator.throttled
        for operation, _ in emulator.requests:
            report.api_calls_by_operation[operation] = (
                report.api_calls_by_operation.get(operation, 0) + 1)
    return report


def _start(node: Node, moment: datetime, emulator: LocalLicenseManager, online: Any,
           offline: Any, new_keys: TrustStore, rotated: bool, workdir: Path, report: Report,
           rng: random.Random) -> None:
    is_offline = node.is_offline(moment)
    wrong_clock = node.clock_ahead_at == moment
    if rotated and node.rotation_group and not is_offline and node.keys is not new_keys:
        node.keys = new_keys  # the app update arrives with the network, pinning the new key:
        node.last_fetched_expiry = None  # the stored token is no license for it any more
    assert node.keys is not None
    reading = moment + timedelta(days=60) if wrong_clock else moment
    verifier = Verifier(node.keys, node_id=node.node_id, clock=lambda: reading)
    manager = LicenseManager(verifier, client=offline if is_offline else online)
    renewer = BorrowRenewer(manager=manager, license_arn=node.license.arn, entitlements=USER)
    store = LicenseStore(workdir / node.node_id)
    pending_before = {p.consumption_token for p in store.pending_check_ins()}
    calls_before = len(emulator.requests)
    report.starts += 1
    try:
        result = check_license(store, verifier, renew=renewer, rng=rng)
    except LicenseTokenError as exc:
        _failed_start(node, moment, exc, is_offline, wrong_clock, report)
    else:
        report.starts_ok += 1
        report.renewals += result.renewed
        report.renewal_errors += result.renewal_failed
        report.check_ins += len(result.checked_in)
        report.check_ins_retried += len(pending_before & set(result.checked_in))
        if result.renewed:
            node.last_fetched_expiry = result.license.expires_at
    if wrong_clock:
        node.online_since_wrong_clock = False
    elif not is_offline and len(emulator.requests) > calls_before:
        node.online_since_wrong_clock = True
    seats = emulator.seats_by_node(node.license.arn)[node.node_id]
    report.max_seats_per_node = max(report.max_seats_per_node, seats)
    if seats > 1:
        report.seat_violations.append(f"{node.node_id} holds {seats} seats at {moment}")


def _failed_start(node: Node, moment: datetime, exc: LicenseTokenError, is_offline: bool,
                  wrong_clock: bool, report: Report) -> None:
    what = f"{node.node_id} at {moment}: {exc.code}: {exc}"
    if exc.code == "clock_rollback" and node.online_since_wrong_clock and not wrong_clock:
        report.rollback_violations.append(what)
    if wrong_clock:
        report.starts_failed_wrong_clock += 1
        return
    if node.last_fetched_expiry is not None and moment < node.last_fetched_expiry:
        report.license_violations.append(what)
    throttled = getattr(exc.__cause__, "code", None) == "aws_throttled"
    if is_offline:
        report.starts_failed_offline_expired += 1
    elif throttled:
        report.starts_failed_throttled += 1
    else:
        report.license_violations.append(f"online start failed: {what}")


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
    for violation in (report.seat_violations + report.license_violations
                      + report.rollback_violations)[:20]:
        print("VIOLATION", violation)
    bad = report.seat_violations or report.license_violations or report.rollback_violations
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
