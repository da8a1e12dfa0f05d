"""The offline store with real files, real processes, real full and read-only disks."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW

from license_token import (
    ClockRollback,
    ConfigurationError,
    Expired,
    LicenseTokenError,
    Malformed,
    Verifier,
)
from license_token.cli import main
from license_token.store import (
    LicenseStore,
    NotInStore,
    StoreCorrupt,
    StoreUnavailable,
)
from license_token.testing import DEFAULT_ARN, TokenFactory


def _response(issuer: TokenFactory, arn: str = DEFAULT_ARN, *,
              tamper: dict[str, Any] | None = None, **claims: Any) -> dict[str, Any]:
    return issuer.response(issuer.claims(licenseArn=arn, **claims), tamper=tamper)


def test_save_load_round_trip(tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path / "store")
    saved = store.save(_response(issuer), verifier)
    assert saved.path.parent == tmp_path / "store"
    entry = json.loads(saved.path.read_text())
    assert entry["version"] == 1 and entry["response"]["SignedToken"]
    loaded = store.load(DEFAULT_ARN, verifier)
    assert loaded.license.consumption_token == saved.license.consumption_token
    assert store.license_arns() == [DEFAULT_ARN]
    other = "arn:aws:license-manager::123456789012:license:l-other"
    store.save(_response(issuer, other), verifier)
    assert sorted(store.license_arns()) == sorted([DEFAULT_ARN, other])
    store.remove(other)
    assert store.license_arns() == [DEFAULT_ARN]
    with pytest.raises(NotInStore):
        store.remove(other)
    with pytest.raises(NotInStore):
        store.load(other, verifier)
    assert not list((tmp_path / "store").glob(".*.tmp"))


def test_bare_token_and_json_text_are_stored(tmp_path: Path, issuer: TokenFactory,
                                             verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    store.save(issuer.token(issuer.claims()), verifier)
    assert store.load(DEFAULT_ARN, verifier).response.keys() == {"SignedToken"}
    store.save(json.dumps(_response(issuer)).encode(), verifier)
    assert "LicenseArn" in store.load(DEFAULT_ARN, verifier).response


def test_default_directory_from_platformdirs(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store = LicenseStore(app_name="AcmeApp")
    assert store.directory == tmp_path / "AcmeApp" / "licenses"
    with pytest.raises(ConfigurationError, match="app_name"):
        LicenseStore()


def test_invalid_response_is_never_written(tmp_path: Path, issuer: TokenFactory,
                                           verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    good = store.save(_response(issuer), verifier)
    before = good.path.read_bytes()
    for bad in (_response(issuer, tamper={"NodeId": "x"}),
                _response(TokenFactory(now=NOW)),
                _response(issuer, expiration="2026-03-14T00:00:00")):
        with pytest.raises(LicenseTokenError):
            store.save(bad, verifier)
    assert good.path.read_bytes() == before


def test_corrupt_files_are_named_and_do_not_stop_the_others(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    arns = [f"{DEFAULT_ARN}{i}" for i in range(4)]
    paths = [store.save(_response(issuer, arn), verifier).path for arn in arns]
    paths[0].write_bytes(paths[0].read_bytes()[:100])                     # truncated
    paths[1].write_bytes(os.urandom(3000))                                # random bytes
    paths[2].write_text(json.dumps({"format": "something-else"}))         # foreign
    loaded, failed = store.load_all(verifier)
    assert [s.license.license_arn for s in loaded] == [arns[3]]
    assert {f.path for f in failed} == set(paths[:3])
    for failure in failed:
        assert isinstance(failure.error, StoreCorrupt)
        assert str(failure.path) in str(failure.error)
    with pytest.raises(StoreCorrupt, match="truncated"):
        store.load(arns[0], verifier)


def test_file_swapped_between_licenses_is_refused(tmp_path: Path, issuer: TokenFactory,
                                                  verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    a = store.save(_response(issuer, DEFAULT_ARN + "a"), verifier).path
    b = store.save(_response(issuer, DEFAULT_ARN + "b"), verifier).path
    a.write_bytes(b.read_bytes())
    with pytest.raises(StoreCorrupt, match="does not belong"):
        store.load(DEFAULT_ARN + "a", verifier)


def test_expired_since_saving(tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    saved = store.save(_response(issuer), verifier)
    later = Verifier(verifier.keys, clock=lambda: NOW + timedelta(days=3))
    with pytest.raises(Expired):
        store.load(DEFAULT_ARN, later)
    assert saved.path.exists()  # kept: it may be renewed, and it is evidence


def test_clock_rollback(tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path, rollback_tolerance=timedelta(hours=24))
    month: dict[str, Any] = {"issuedAt": "2026-03-01T00:00:00",
                             "expiration": "2026-04-01T00:00:00"}
    store.save(_response(issuer, **month), verifier)
    assert store.high_water_mark() == NOW
    store.load(DEFAULT_ARN, verifier, now=NOW - timedelta(hours=23))  # within tolerance
    with pytest.raises(ClockRollback):
        store.load(DEFAULT_ARN, verifier, now=NOW - timedelta(hours=25))
    with pytest.raises(ClockRollback):
        store.save(_response(issuer, **month), verifier, now=NOW - timedelta(hours=25))
    store.load(DEFAULT_ARN, verifier, now=NOW + timedelta(hours=10))  # advances the mark
    assert store.high_water_mark() == NOW + timedelta(hours=10)
    with pytest.raises(ClockRollback):
        store.load(DEFAULT_ARN, verifier, now=NOW - timedelta(hours=15))
    (tmp_path / "clock.json").write_bytes(b"\x00garbage")
    assert store.high_water_mark() is None  # unreadable mark: logged, treated as absent
    store.load(DEFAULT_ARN, verifier)


# -- real disks that fail ---------------------------------------------------------------


#: Real full and read-only disks are tmpfs mounts, which need root (CI runs as root).
needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="mounting a tmpfs needs root (CI runs as root)")


@contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as fh:
        while True:
            fh.write(b"\0" * 4096)


@needs_root
def test_disk_full(tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    """A real ENOSPC: a 64 KiB tmpfs filled up; the earlier good copy survives."""
    with _tmpfs(tmp_path / "small", "64k") as disk:
        store = LicenseStore(disk)
        good = store.save(_response(issuer), verifier)
        with pytest.raises(OSError, match="No space") as full:
            _fill(disk / "filler")
        assert full.value.errno == errno.ENOSPC
        with pytest.raises(StoreUnavailable, match="disk full"):
            store.save(_response(issuer), verifier)
        assert store.load(DEFAULT_ARN, verifier).license.consumption_token == (
            good.license.consumption_token)
        assert not list(disk.glob(".*.tmp"))


@needs_root
def test_read_only_directory(tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    with _tmpfs(tmp_path / "ro", "1m") as disk:
        store = LicenseStore(disk)
        store.save(_response(issuer), verifier)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.save(_response(issuer), verifier)
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.remove(DEFAULT_ARN)
        still = store.load(DEFAULT_ARN, verifier, now=NOW + timedelta(hours=1))
        assert still.license.license_arn == DEFAULT_ARN  # still loads


# -- real processes ----------------------------------------------------------------------


def test_sigkill_during_saves_never_loses_the_license(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    """A child saving in a loop is SIGKILLed at random moments, 200 times.

    A kill that lands mid-write leaves the child's temporary file behind (its clean-up never
    runs): counting those proves the kills hit writes, not only the gaps between them.
    """
    store = LicenseStore(tmp_path)
    responses = [_response(issuer) for _ in range(8)]
    tokens = {r["LicenseConsumptionToken"] for r in responses}
    store.save(responses[0], verifier)
    rng = random.Random(2026)  # noqa: S311 - kill timing, not crypto
    kills = mid_write = 0
    for _ in range(200):
        pid = os.fork()
        if pid == 0:  # the child: save until killed
            try:
                i = 0
                while True:
                    store.save(responses[i % len(responses)], verifier)
                    i += 1
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        leftovers = list(tmp_path.glob(".*.tmp"))
        mid_write += bool(leftovers)
        for leftover in leftovers:
            leftover.unlink()
        loaded = store.load(DEFAULT_ARN, verifier)
        assert loaded.license.consumption_token in tokens
    assert kills == 200
    assert mid_write >= 5, f"only {mid_write} of 200 kills landed during a write"
    assert len(list(tmp_path.glob("*.json"))) == 2  # the checkout and the clock mark


def _worker(directory: str, responses: list[dict[str, Any]], keys: Any, rounds: int,
            out: Any) -> None:
    verifier = Verifier(keys, clock=lambda: NOW)
    store = LicenseStore(directory)
    errors: list[str] = []
    counts = {"saved": 0, "loaded": 0}
    for i in range(rounds):
        try:
            store.save(responses[i % len(responses)], verifier)
            counts["saved"] += 1
            loaded, failed = store.load_all(verifier)
            counts["loaded"] += len(loaded)
            errors += [f"{f.path}: {f.error}" for f in failed]
        except Exception as exc:  # reported to the parent
            errors.append(repr(exc))
    out.send((counts, errors))
    out.close()


def test_four_processes_share_one_store(tmp_path: Path, issuer: TokenFactory,
                                        verifier: Verifier) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    arns = [f"{DEFAULT_ARN}{i}" for i in range(3)]
    responses = [_response(issuer, arns[i % 3]) for i in range(12)]
    pipes, procs = [], []
    for n in range(4):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(str(tmp_path), responses[n::4] * 2,
                                                 issuer.trust_store(), 40, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert [errors for _, errors in results] == [[], [], [], []]
    assert sum(c["saved"] for c, _ in results) == 160
    loaded, failed = LicenseStore(tmp_path).load_all(verifier)
    assert failed == []
    assert sorted(s.license.license_arn for s in loaded) == sorted(arns)


# -- the CLI -------------------------------------------------------------------------------


def test_store_cli(tmp_path: Path, issuer: TokenFactory, verifier: Verifier,
                   capsys: pytest.CaptureFixture[str]) -> None:
    store = LicenseStore(tmp_path / "s")
    store.save(_response(issuer), verifier)
    key = tmp_path / "k.pem"
    key.write_bytes(issuer.public_key_pem())
    common = ["--dir", str(tmp_path / "s"), "--key", str(key), "--at", "2026-03-15T12:00:00Z",
              "--json"]
    assert main(["store", "list", *common]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert listed["valid"] is True and listed["entries"][0]["license_arn"] == DEFAULT_ARN
    assert main(["store", "show", DEFAULT_ARN, *common]) == 0
    shown = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert shown["license"]["claims"]["licenseArn"] == DEFAULT_ARN
    assert main(["store", "verify", *common, "--node-id", "node-7f3a"]) == 0
    capsys.readouterr()
    assert main(["store", "verify", *common, "--node-id", "elsewhere"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == "node_mismatch"
    later = [*common[:-3], "--at", "2026-04-30T00:00:00Z", "--json"]
    assert main(["store", "list", *later]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == "expired"
    assert main(["store", "remove", DEFAULT_ARN, "--dir", str(tmp_path / "s")]) == 0
    assert main(["store", "show", DEFAULT_ARN, *common]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == "not_in_store"


# -- what the store never writes, and files it does not trust ----------------------------------

def test_store_refuses_a_response_it_could_not_read_back(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path) -> None:
    response = issuer.response() | {"Extra": float("inf")}
    with pytest.raises(Malformed, match="cannot be stored"):
        LicenseStore(tmp_path).save(response, verifier)
    assert list(tmp_path.glob("*.json")) == []


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("extra", [
    "\ud800",        # json.dumps writes it as an escape that no strict reader accepts
    _nested(17),     # deeper than MAX_JSON_DEPTH: verify never reads unsigned extras
], ids=["lone surrogate", "nested 17 deep"])
def test_store_never_writes_what_it_would_refuse_to_read_back(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path, extra: Any) -> None:
    store = LicenseStore(tmp_path)
    with pytest.raises(Malformed, match="cannot be stored"):
        store.save(issuer.response() | {"Extra": extra}, verifier)
    assert list(tmp_path.glob("*.json")) == []
    assert store.load_all(verifier) == ([], [])


def _cycle() -> dict[str, Any]:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    return cycle


@pytest.mark.parametrize("extra", [_nested(100_000), _cycle()], ids=["very deep", "a cycle"])
def test_store_save_of_an_unwritable_response_is_malformed_not_a_recursion_error(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path, extra: Any) -> None:
    response = issuer.response() | {"Extra": extra}
    assert verifier.verify(response).license_arn  # unsigned extras are not read
    with pytest.raises(Malformed, match="cannot be stored"):
        LicenseStore(tmp_path).save(response, verifier)
    assert list(tmp_path.glob("*.json")) == []


@pytest.mark.parametrize("tolerance", [3600, timedelta(days=10**6), timedelta(seconds=-1), None])
def test_store_rollback_tolerance_is_checked_when_the_store_is_built(
        tmp_path: Path, tolerance: Any) -> None:
    with pytest.raises(ConfigurationError, match="rollback_tolerance"):
        LicenseStore(tmp_path, rollback_tolerance=tolerance)


def test_store_lookup_of_an_undecodable_arn_is_not_in_store(
        verifier: Verifier, tmp_path: Path) -> None:
    arn = b"\xff".decode("utf-8", "surrogateescape")  # what argv gives for $'\xff'
    store = LicenseStore(tmp_path)
    with pytest.raises(NotInStore):
        store.load(arn, verifier)
    with pytest.raises(NotInStore):
        store.remove(arn)


def test_the_store_lists_license_arns_without_shadowing_list() -> None:
    assert not hasattr(LicenseStore, "list")
    assert callable(LicenseStore.license_arns)


_LOAD_IN_CHILD = """
import sys
from license_token import Verifier
from license_token.store import LicenseStore
from license_token.testing import TokenFactory
store = LicenseStore(sys.argv[1])
loaded, failed = store.load_all(Verifier(TokenFactory().trust_store()))
print(store.high_water_mark(), len(store.license_arns()), len(loaded),
      *[failure.error.code for failure in failed])
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX only")
@pytest.mark.parametrize(("name", "expected"), [
    ("clock.json", ["None", "0", "0"]),
    ("0" * 32 + ".json", ["None", "0", "0", "store_corrupt"]),
])
def test_a_fifo_in_the_store_does_not_hang(tmp_path: Path, name: str,
                                           expected: list[str]) -> None:
    os.mkfifo(tmp_path / name)
    child = subprocess.run([sys.executable, "-c", _LOAD_IN_CHILD, str(tmp_path)],
                           capture_output=True, text=True, timeout=30, check=True)
    assert child.stdout.split() == expected


def test_store_entry_symlink_is_not_followed(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path) -> None:
    saved = LicenseStore(tmp_path / "a").save(issuer.response(), verifier)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / saved.path.name).symlink_to(saved.path)
    loaded, failed = LicenseStore(tmp_path / "b").load_all(verifier)
    assert (loaded, [type(f.error) for f in failed]) == ([], [StoreCorrupt])


@pytest.mark.parametrize("mark", ["0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_clock_mark_at_the_ends_of_time_is_ignored(
        issuer: TokenFactory, verifier: Verifier, tmp_path: Path, mark: str,
        caplog: pytest.LogCaptureFixture) -> None:
    store = LicenseStore(tmp_path)
    store.save(issuer.response(), verifier)
    (tmp_path / "clock.json").write_text(
        json.dumps({"format": "license-token/clock", "version": 1, "high_water": mark}))
    with caplog.at_level(logging.WARNING, logger="license_token.store"):
        loaded, failed = store.load_all(verifier)
    assert (len(loaded), failed) == (1, [])
    assert "clock mark" in caplog.text


def test_clock_mark_read_is_bounded(tmp_path: Path) -> None:
    doc = json.dumps({"format": "license-token/clock", "version": 1,
                      "high_water": "2026-01-01T00:00:00Z"})
    path = tmp_path / "clock.json"
    path.write_text(doc)
    assert LicenseStore(tmp_path).high_water_mark() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    path.write_text(doc + " " * (4096 - len(doc)))  # the bound: 4 KiB
    assert LicenseStore(tmp_path).high_water_mark() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    path.write_text(doc + " " * (4097 - len(doc)))
    assert LicenseStore(tmp_path).high_water_mark() is None


_MARK_IN_CHILD = """
import resource, sys
from license_token.store import LicenseStore
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # an unbounded read fails fast
print(LicenseStore(sys.argv[1]).high_water_mark())
"""


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero (POSIX)")
def test_clock_mark_symlink_to_dev_zero_or_a_huge_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "clock.json").symlink_to("/dev/zero")
    (tmp_path / "sparse").mkdir()
    with (tmp_path / "sparse" / "clock.json").open("wb") as fh:
        fh.truncate(1 << 30)  # sparse: 1 GiB that must never be read
    for store in ("zero", "sparse"):
        child = subprocess.run([sys.executable, "-c", _MARK_IN_CHILD, str(tmp_path / store)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert (child.returncode, child.stdout) == (0, "None\n"), child.stderr[-500:]
