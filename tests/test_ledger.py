"""The seat ledger (``store.SeatLedger``): an object of its own, persisted crash-safely in
``lifecycle.json``, never guessed; the store keeps no renewal bookkeeping of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, ROOT

from license_token import ConfigurationError
from license_token.store import (
    Backoff,
    LicenseStore,
    SeatLedger,
    SeatRecord,
    SeatState,
    StoreCorrupt,
)
from license_token.testing import DEFAULT_ARN

DAY = timedelta(days=1)


def _held(consumption: str = "c-1", client: str | None = "t-1") -> SeatRecord:
    return SeatRecord(license_arn=DEFAULT_ARN, node_id="node-1", state=SeatState.HELD,
                      client_token=client, consumption_token=consumption,
                      expires_at=NOW + DAY)


def test_the_store_has_no_renewal_methods_of_its_own() -> None:
    """The renewal-only methods the store once inherited are the ledger's business. Of the
    eight, ``read_unverified`` stays, documented: the CLI explains a failed file with it;
    the renewal no longer reads it (the ledger names the seats)."""
    for name in ("remember_check_in", "check_in_failed", "forget_check_in", "renewal_state",
                 "set_renewal_state", "renewing", "pending_check_ins"):
        assert not hasattr(LicenseStore, name), name
    assert LicenseStore.__mro__ == (LicenseStore, object)
    source = (ROOT / "src" / "license_token" / "startup" / "_renewal.py").read_text()
    assert "read_unverified" not in source


def test_seats_and_back_off_survive_a_restart(tmp_path: Path) -> None:
    ledger = SeatLedger(LicenseStore(tmp_path))
    assert ledger.seats() == [] and ledger.backoff(DEFAULT_ARN) == Backoff()
    flight = SeatRecord(license_arn=DEFAULT_ARN, node_id="node-1",
                        state=SeatState.IN_FLIGHT, client_token="t-2")
    ledger.record(_held())
    ledger.record(flight)
    ledger.return_later(DEFAULT_ARN, "c-3", expires_at=NOW + 2 * DAY, node_id="node-1")
    ledger.set_backoff(DEFAULT_ARN, Backoff(failures=2, next_attempt=NOW))
    again = SeatLedger(LicenseStore(tmp_path))
    assert [(s.state, s.consumption_token) for s in again.seats()] == [
        (SeatState.HELD, "c-1"), (SeatState.IN_FLIGHT, None), (SeatState.TO_RETURN, "c-3")]
    assert again.seats(DEFAULT_ARN)[0] == _held()
    assert again.backoff(DEFAULT_ARN) == Backoff(failures=2, next_attempt=NOW)
    answered = SeatRecord(license_arn=DEFAULT_ARN, node_id="node-1", state=SeatState.HELD,
                          client_token="t-2", consumption_token="c-2", expires_at=NOW + DAY)
    again.record(answered)  # the checkout in flight was answered: the same seat, replaced
    assert [s.consumption_token for s in again.seats()] == ["c-1", "c-3", "c-2"]
    assert LicenseStore(tmp_path).license_arns() == []  # the ledger is not a checkout


def test_returned_seats_are_kept_until_they_would_have_expired(tmp_path: Path) -> None:
    ledger = SeatLedger(LicenseStore(tmp_path))
    returned = SeatRecord(license_arn=DEFAULT_ARN, node_id="n", state=SeatState.RETURNED,
                          consumption_token="c-9", expires_at=NOW + DAY)
    state = ledger.update(lambda s: s.with_seat(returned).with_seat(_held()))
    assert state.pruned(NOW).seats == state.seats
    assert state.pruned(NOW + 30 * DAY).seats == state.seats  # a file may still verify
    assert state.pruned(NOW + 32 * DAY).seats == (_held(),)  # a held seat is never forgotten
    assert not returned.live_at(NOW) and _held().live_at(NOW)


@pytest.mark.parametrize("record", [
    {"state": SeatState.IN_FLIGHT},                                      # no ClientToken
    {"state": SeatState.HELD, "client_token": "t"},                      # no consumption
    {"state": SeatState.TO_RETURN, "consumption_token": "c"},            # no expiry
])
def test_a_record_that_could_not_be_acted_on_cannot_exist(record: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SeatRecord(license_arn=DEFAULT_ARN, node_id=None, **record)  # type: ignore[arg-type]


@pytest.mark.parametrize("damage", [
    b"\x00garbage",
    b'{"format": "license-token/lifecycle", "version": 1, "pending_check_ins": []}',
    "unknown state",
    "in flight without a ClientToken",
])
def test_a_damaged_ledger_is_never_guessed_nor_written_over(
        tmp_path: Path, damage: bytes | str) -> None:
    ledger = SeatLedger(LicenseStore(tmp_path))
    ledger.record(_held())
    if isinstance(damage, str):
        doc = json.loads(ledger.path.read_text())
        if damage == "unknown state":
            doc["seats"][0]["state"] = "borrowed"
        else:
            doc["seats"][0] |= {"state": "in_flight", "client_token": None}
        damage = json.dumps(doc).encode()
    ledger.path.write_bytes(damage)
    with pytest.raises(StoreCorrupt, match="nothing is borrowed"):
        ledger.seats()
    with pytest.raises(StoreCorrupt):
        ledger.record(_held("c-2"))
    assert ledger.path.read_bytes() == damage


def test_a_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    ledger = SeatLedger(LicenseStore(tmp_path))
    for n in range(20):
        ledger.record(_held(f"c-{n}", f"t-{n}"))
    assert len(ledger.seats()) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "lifecycle.json"]
    assert repr(ledger) == f"SeatLedger({str(tmp_path / 'lifecycle.json')!r})"


# -- a ledger file that is a FIFO or /dev/zero -------------------------------------------------

_LIFECYCLE_IN_CHILD = """
import resource, sys
from license_token.store import LicenseStore, SeatLedger, StoreUnavailable
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # an unbounded read fails fast
try:
    print(SeatLedger(LicenseStore(sys.argv[1])).seats())
except StoreUnavailable as exc:  # never guessed empty: unknown pending seats could be lost
    print(exc.code)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="FIFOs and /dev/zero are POSIX only")
def test_lifecycle_state_that_is_a_fifo_or_dev_zero_is_refused_without_hanging(
        tmp_path: Path) -> None:
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "lifecycle.json")
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "lifecycle.json").symlink_to("/dev/zero")
    for store in ("fifo", "zero"):
        child = subprocess.run([sys.executable, "-c", _LIFECYCLE_IN_CHILD, str(tmp_path / store)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert (child.returncode, child.stdout) == (0, "store_unavailable\n"), child.stderr[-500:]
