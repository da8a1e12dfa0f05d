"""The fault matrix: every renewal step x every field fault x early check-in allowed or
forbidden. At every instant a node holds at most one seat, and once the fault is gone the
next start is licensed (docs/explanation/renewal.md draws the transition each one takes).

One node starts hourly with day-long borrows (no jitter: due at 17 h, expired at 24 h) for
two days, through two renewals. With early check-in allowed, a renewal records its
checkout (ledger write 1), returns the held seat (``CheckInLicense``), records that (write
2), checks out (``CheckoutBorrowLicense``), records the seat the answer names (write 3),
saves it (the checkout file) and records it as held (write 4). Forbidden, the due start
records its checkout (write 1), its check-in is refused (``ConflictException``), the
license is asked (``GetLicense``) and that is recorded (write 2); at expiry the renewal
confirms the old seat is free (``CheckInLicense``), records it (write 3), checks out,
records the seat named (write 4), saves it and records it as held (write 5). A SIGKILL is
a real child process killed at the step, before or after it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ManualClock, Rig, checkout_file

from license_token import LicenseTokenError
from license_token.startup import RenewalPolicy
from license_token.testing import FAULTS

HOURS = [1, 8, 16, *range(17, 50)]  # due at 17 h and 34 h; expired at 24 h and 48 h
MODES = {"allowed": True, "forbidden": False}
#: (mode, step) -> (operation, calls of it to skip first): the network steps.
CALLS = {
    ("allowed", "return the held seat"): ("CheckInLicense", 0),
    ("allowed", "check out"): ("CheckoutBorrowLicense", 0),
    ("forbidden", "return the held seat (refused)"): ("CheckInLicense", 0),
    ("forbidden", "ask the license"): ("GetLicense", 0),
    ("forbidden", "confirm the expired seat is free"): ("CheckInLicense", 1),
    ("forbidden", "check out"): ("CheckoutBorrowLicense", 0),
}
#: (mode, step) -> (file, writes of it to skip first): the disk steps.
WRITES = {
    ("allowed", "record the checkout"): ("lifecycle.json", 0),
    ("allowed", "record the return"): ("lifecycle.json", 1),
    ("allowed", "record the seat the answer names"): ("lifecycle.json", 2),
    ("allowed", "save the checkout"): ("checkout", 0),
    ("allowed", "record the held seat"): ("lifecycle.json", 3),
    ("forbidden", "record the checkout"): ("lifecycle.json", 0),
    ("forbidden", "record that early check-in is forbidden"): ("lifecycle.json", 1),
    ("forbidden", "record the return"): ("lifecycle.json", 2),
    ("forbidden", "record the seat the answer names"): ("lifecycle.json", 3),
    ("forbidden", "save the checkout"): ("checkout", 0),
    ("forbidden", "record the held seat"): ("lifecycle.json", 4),
}
#: (mode, hour of the start) for the clock faults: the due start, and the expiry start.
RENEWAL_STARTS = [("allowed", 17), ("forbidden", 17), ("forbidden", 24)]
CLOCKS = {"2 min slow": -timedelta(minutes=2), "30 days ahead": timedelta(days=30)}


def _node(make_rig: Callable[..., Rig], mode: str) -> Rig:
    rig = make_rig(allow_early_check_in=MODES[mode])
    rig.policy = RenewalPolicy(jitter=0)
    return rig


def _starts(rig: Rig, clock: ManualClock, fired: Callable[[], bool],
            before: Callable[[int], None] = lambda hour: None, *,
            faulted_may_fail: bool = True) -> int:
    """Start hourly for two days; the hour of the start the fault hit. Every other start
    is licensed (the faulted one may fail, with the library's error only, unless
    ``faulted_may_fail`` is false), and the node never holds two seats."""
    begin, hit = clock.now, None
    hits: list[int] = []
    rig.start()
    for hour in HOURS:
        clock.now = begin + timedelta(hours=hour)
        before(hour)  # a SIGKILLed start runs here, in a child process
        was = fired()
        try:
            rig.start()
            licensed = True
        except LicenseTokenError:
            licensed = False
        rig.skew = timedelta(0)
        if fired() and not hits:
            hits.append(hour)
        hit = hits[0] if hits else None
        if not licensed and not (faulted_may_fail and fired() and not was):  # only the faulted
            pytest.fail(f"unlicensed at +{hour} h (the fault hit at +{hit} h)")
        assert rig.peak() <= 1, f"two seats at +{hour} h"
    assert hits, "the fault never hit its step"
    return hits[0]


def _network_cases() -> Iterator[Any]:
    for (mode, step), call in CALLS.items():
        for fault in FAULTS:
            yield pytest.param(mode, call, fault, id=f"{mode}-{step}-{fault}")


@pytest.mark.parametrize(("mode", "call", "fault"), list(_network_cases()))
def test_network_faults(make_rig: Callable[..., Rig], clock: ManualClock, mode: str,
                        call: tuple[str, int], fault: str) -> None:
    rig = _node(make_rig, mode)
    operation, skip = call
    armed: list[bool] = []

    def arm(hour: int) -> None:
        if not armed:  # after the first borrow: the faults are the renewal's
            rig.proxy.inject(FAULTS[fault], operation=operation, skip=skip)
            armed.append(True)

    _starts(rig, clock, lambda: rig.proxy.faulted() > 0, arm)


@pytest.mark.parametrize(("mode", "write"), [
    pytest.param(mode, write, id=f"{mode}-{step}") for (mode, step), write in WRITES.items()])
def test_disk_full(make_rig: Callable[..., Rig], clock: ManualClock, disk_full: Any,
                   mode: str, write: tuple[str, int]) -> None:
    rig = _node(make_rig, mode)
    name, skip = write
    matches = checkout_file if name == "checkout" else (lambda n: n == name)
    armed: list[bool] = []

    def arm(hour: int) -> None:
        if not armed:
            disk_full(matches, skip=skip)
            armed.append(True)

    _starts(rig, clock, lambda: disk_full.failed > 0, arm)


@pytest.mark.parametrize(("mode", "hour", "skew"), [
    pytest.param(mode, hour, skew, id=f"{mode}-at {hour} h-{name}")
    for mode, hour in RENEWAL_STARTS for name, skew in CLOCKS.items()])
def test_clock_wrong_at_a_renewal(make_rig: Callable[..., Rig], clock: ManualClock,
                                  mode: str, hour: int, skew: timedelta) -> None:
    rig = _node(make_rig, mode)
    skewed: list[int] = []

    def wrong(at: int) -> None:
        if at == hour:
            rig.skew = skew
            skewed.append(at)

    def ran() -> bool:  # the skew is reset after its start
        return bool(skewed) and rig.skew == timedelta(0)

    slow = skew < timedelta(0)  # a fresh token ahead of a slow clock is accepted
    assert _starts(rig, clock, ran, wrong, faulted_may_fail=not slow) == hour


# -- SIGKILL: a real process killed at a step ----------------------------------------------

_CHILD = r"""
import json, os, signal, sys
from datetime import datetime
import boto3
from botocore.config import Config
from license_token import TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.startup import BorrowRenewer, RenewalPolicy, check_license
from license_token.store import LicenseStore

a = json.loads(sys.argv[1])
now = datetime.fromisoformat(a["now"])
kind, name, nth, when = a["kill"]
seen = {"n": 0}

def at_step(this_kind, this_name):
    if (this_kind, this_name) != (kind, name):
        return False
    seen["n"] += 1
    return seen["n"] == nth + 1

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    base = os.path.basename(dst)
    target = "checkout" if len(base) == 37 and base != "lifecycle.json" else base
    hit = at_step("write", target)
    if hit and when == "before":
        die()
    real_replace(src, dst, *args, **kwargs)
    if hit:
        die()
os.replace = replace

class Killing:
    def __init__(self, inner):
        self.inner, self.license_arn = inner, inner.license_arn
    def _call(self, operation, call, *args):
        hit = at_step("call", operation)
        if hit and when == "before":
            die()
        try:
            return call(*args)
        finally:  # answered, or refused: the service has acted either way
            if hit:
                die()
    def checkout(self, client_token):
        return self._call("CheckoutBorrowLicense", self.inner.checkout, client_token)
    def check_in(self, token):
        return self._call("CheckInLicense", self.inner.check_in, token)
    def early_check_in_allowed(self):
        return self._call("GetLicense", self.inner.early_check_in_allowed)

keys = TrustStore.from_file(a["key"])
verifier = Verifier(keys, node_id=a["node"], clock=lambda: now)
client = boto3.client("license-manager", endpoint_url=a["endpoint"], region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="y",
                      config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
renewer = BorrowRenewer(manager=LicenseManager(verifier, client=client),
                        license_arn=a["arn"], entitlements=a["entitlements"])
check_license(LicenseStore(a["store"]), verifier, renew=Killing(renewer),
              policy=RenewalPolicy(jitter=0))
sys.exit(3)  # the kill never landed
"""

#: (mode, hour of the start killed) -> the kill points: (kind, name, skip, before/after).
KILLS: dict[tuple[str, int], list[tuple[str, str, int, str]]] = {
    ("allowed", 17): [
        ("write", "lifecycle.json", 0, "before"), ("write", "lifecycle.json", 0, "after"),
        ("call", "CheckInLicense", 0, "before"), ("call", "CheckInLicense", 0, "after"),
        ("write", "lifecycle.json", 1, "after"),
        ("call", "CheckoutBorrowLicense", 0, "before"),
        ("call", "CheckoutBorrowLicense", 0, "after"),
        ("write", "lifecycle.json", 2, "after"),
        ("write", "checkout", 0, "before"), ("write", "checkout", 0, "after"),
        ("write", "lifecycle.json", 3, "before")],
    ("forbidden", 17): [
        ("write", "lifecycle.json", 0, "before"), ("call", "CheckInLicense", 0, "after"),
        ("call", "GetLicense", 0, "after"), ("write", "lifecycle.json", 1, "before")],
    ("forbidden", 24): [
        ("call", "CheckInLicense", 0, "after"), ("write", "lifecycle.json", 0, "after"),
        ("call", "CheckoutBorrowLicense", 0, "after"), ("write", "lifecycle.json", 1, "after"),
        ("write", "checkout", 0, "after"), ("write", "lifecycle.json", 2, "before")],
}


def _kill_in_child(rig: Rig, now: datetime, kill: tuple[str, str, int, str],
                   tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(rig.emulator.public_key_pem(rig.license.key_id))
    args = {"now": now.isoformat(), "kill": kill, "key": str(key), "node": rig.node,
            "endpoint": rig.proxy.endpoint_url, "arn": rig.license.arn,
            "entitlements": list(rig.renewer.entitlements), "store": str(rig.store.directory)}
    child = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)],
                           capture_output=True, text=True, timeout=120, check=False,
                           env=os.environ | {"PYTHONWARNINGS": "ignore"})
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "hour", "kill"), [
    pytest.param(mode, hour, kill, id=f"{mode}-at {hour} h-{kill[3]} {kill[1]} #{kill[2] + 1}")
    for (mode, hour), kills in KILLS.items() for kill in kills])
def test_sigkill(make_rig: Callable[..., Rig], clock: ManualClock, tmp_path: Path, mode: str,
                 hour: int, kill: tuple[str, str, int, str]) -> None:
    rig = _node(make_rig, mode)
    killed: list[int] = []

    def kill_here(at: int) -> None:
        if at == hour:
            _kill_in_child(rig, clock.now, kill, tmp_path)
            killed.append(at)

    assert _starts(rig, clock, lambda: bool(killed), kill_here) == hour
