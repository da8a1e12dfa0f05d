"""Startup cost as whole processes: ``python bench/startup.py [--rounds 11] [--importtime]``.

Vendors call the check at every start of their app, so what a user feels is the whole
process. Each round starts every scenario once, in a shuffled order (interleaved: the
machine's noise hits them alike); a child's CPU time (user + system, from ``wait4``), its
wall time and its peak RSS (``VmHWM``, printed by the child itself as it ends) are taken.
The report gives the median of the rounds with the spread (min–max), and each scenario's
ratio to the minimal process, round by round (the median of those ratios, min–max).

Scenarios (one signed checkout response, RSA-2048, on disk in a store directory):

* ``minimal``: ``cryptography`` loads the pinned PEM, one PSS verify, one ``json.loads``;
* ``floor``: the minimal process importing what the library's offline start needs beyond
  ``cryptography`` (``attrs``, ``datetime``, ``decimal``, ``pathlib``), running none of it;
* ``PyJWT`` and ``joserfc`` cold checks: their decode of the bare token with the PEM key;
* ``offline start``: ``TrustStore.from_file`` + ``Verifier`` + ``check_license(store,
  verifier)``, node and entitlement checked, the clock mark recent (nothing written);
* ``offline, mark moves``: the same, its clock mark over a minute old: the start writes it;
* ``recipe, nothing due``: the README's recipe (``LicenseManager`` + ``BorrowRenewer``), a
  start at which no renewal is due: nothing is sent;
* ``recipe, renewal due``: the same with a third of the token's lifetime left, against the
  local emulator (in this process): a check-in, a borrow, a save;
* ``license-token verify``: the CLI, ``verify FILE --key K --node-id N``.

Figures are printed (and written to ``bench/startup.json``), never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
from _minimal import MINIMAL, PEAK_RSS

import license_token
from license_token import TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.store import LicenseStore
from license_token.testing import LocalLicenseManager

HERE = Path(__file__).resolve().parent
NODE = "node-7f3a"
USERS = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
TTL = timedelta(hours=1)

SCRIPTS = {
    "minimal": MINIMAL,
    "floor": """
import attrs, datetime, decimal, pathlib  # what the offline start imports beyond cryptography
""",
    "PyJWT": """
import json, sys
import jwt
token = json.loads(open(sys.argv[2], "rb").read())["SignedToken"]
jwt.decode(token, open(sys.argv[1], "rb").read(), algorithms=["PS384"])
""",
    "joserfc": """
import json, sys
from joserfc import jws
from joserfc.jwk import RSAKey
token = json.loads(open(sys.argv[2], "rb").read())["SignedToken"]
key = RSAKey.import_key(open(sys.argv[1], "rb").read())
json.loads(jws.deserialize_compact(token, key, algorithms=["PS384"]).payload)
""",
    "offline": """
import sys
from license_token import TrustStore, Verifier
from license_token.startup import check_license
from license_token.store import LicenseStore

keys = TrustStore.from_file(sys.argv[1])
verifier = Verifier(keys, node_id=sys.argv[4], require=["Users:Count=1"])
result = check_license(LicenseStore(sys.argv[3]), verifier)
""",
    "recipe": """
import sys
from license_token import TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore

key, response, directory, node, arn, endpoint, due = sys.argv[1:8]
keys = TrustStore.from_file(key)
verifier = Verifier(keys, node_id=node, require=["Users:Count=1"])
store = LicenseStore(directory)
renewer = BorrowRenewer(manager=LicenseManager(verifier, region_name="us-east-1",
                                               endpoint_url=endpoint),
                        license_arn=arn,
                        entitlements=[{"Name": "Users", "Unit": "Count", "Value": "1"}])
result = check_license(store, verifier, renew=renewer)
assert result.renewed is (due == "due") and result.renewal_error is None, result
""",
    "verify": """
import sys
from license_token.cli import main
code = main(["verify", sys.argv[2], "--key", sys.argv[1], "--node-id", sys.argv[4]])
assert code == 0, code
""",
}
ROWS = {  # scenario -> (script, store kind, label)
    "minimal": ("minimal", "fresh", "minimal (cryptography only)"),
    "floor": ("floor", "fresh", "minimal + import attrs, datetime, decimal, pathlib"),
    "PyJWT": ("PyJWT", "fresh", "PyJWT cold check"),
    "joserfc": ("joserfc", "fresh", "joserfc cold check"),
    "offline": ("offline", "fresh", "offline start"),
    "offline-mark": ("offline", "old-mark", "offline start, clock mark moves"),
    "recipe-idle": ("recipe", "fresh", "recipe, nothing due"),
    "recipe-due": ("recipe", "due", "recipe, renewal due (emulator)"),
    "verify": ("verify", "fresh", "license-token verify"),
}


@attrs.frozen
class Sample:
    cpu: float  # seconds, user + system, of the child
    wall: float  # seconds
    rss: float  # MiB


class Fixture:
    """The emulator, the pinned key, and a store directory per kind for every start."""

    def __init__(self, emulator: LocalLicenseManager, root: Path) -> None:
        self.emulator, self.root = emulator, root
        self.license = emulator.add_license(entitlements={"Users": ("Count", None)},
                                            borrow_ttl_minutes=int(TTL.total_seconds() // 60))
        self.key = root / "key.pem"
        self.key.write_bytes(emulator.public_key_pem(self.license.key_id))
        self.verifier = Verifier(TrustStore.from_file(self.key), node_id=NODE,
                                 require=["Users:Count=1"])
        self.manager = LicenseManager(self.verifier, client=emulator.client())
        self.response = root / "response.json"
        self.fresh = self._borrow()
        self.response.write_text(json.dumps(self.fresh))

    def _borrow(self) -> dict[str, Any]:
        checkout = self.manager.checkout_borrow(self.license.arn, USERS, node_id=NODE)
        return dict(checkout.response)

    def store(self, kind: str, run: int) -> Path:
        """A store directory for a round's starts: a fresh checkout (shared by the starts
        that write nothing), one whose clock mark is old, or one due for renewal."""
        directory = self.root / f"{kind}-{run}"
        if kind == "fresh" and directory.exists():
            return directory
        if kind == "due":  # borrowed "0.9 TTL ago": a tenth of its lifetime is left
            self.emulator.clock = _shifted(-TTL * 0.9)
            try:
                response = self._borrow()
            finally:
                self.emulator.clock = _shifted(timedelta(0))
        else:
            response = self.fresh
        LicenseStore(directory).save(response, self.verifier)
        if kind == "old-mark":
            _write_mark(directory, datetime.now(timezone.utc) - timedelta(minutes=2))
        return directory

    def argv(self, row: str, run: int) -> list[str]:
        script, kind, _ = ROWS[row]
        args = [str(self.key), str(self.response), str(self.store(kind, run)), NODE]
        if script == "recipe":
            args += [self.license.arn, self.emulator.endpoint_url, kind]
        return [sys.executable, str(self.root / f"start_{script}.py"), *args]


def _shifted(offset: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(timezone.utc).replace(microsecond=0) + offset


def _write_mark(directory: Path, moment: datetime) -> None:
    high_water = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    (directory / "clock.json").write_text(json.dumps(
        {"format": "license-token/clock", "version": 1, "high_water": high_water}))


def run_child(argv: list[str], env: dict[str, str]) -> Sample:
    """One start: its CPU time (``wait4``), wall time, and the peak RSS it printed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if child.returncode != 0:
            raise RuntimeError(f"{argv[1]} failed ({child.returncode}): {err.read().decode()}")
    last = text.strip().rsplit("\n", 1)[-1]
    if not last.isdigit():
        raise RuntimeError(f"{argv[1]} printed no peak RSS last: {text!r}")
    return Sample(cpu=usage.ru_utime + usage.ru_stime, wall=wall, rss=int(last) / 1024)


def child_env(emulator: LocalLicenseManager) -> dict[str, str]:
    """The children's environment: the emulator's dummy credentials, no AWS config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {"AWS_ACCESS_KEY_ID": "AKIDEMULATOR", "AWS_SECRET_ACCESS_KEY": "emulator",
                  "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                  "AWS_EC2_METADATA_DISABLED": "true"}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(rounds: int) -> dict[str, Any]:
    """Every scenario ``rounds`` times, interleaved (a warm-up round first, not counted)."""
    samples: dict[str, list[Sample]] = {row: [] for row in ROWS}
    with tempfile.TemporaryDirectory() as tmp, LocalLicenseManager() as emulator:
        root = Path(tmp)
        for name, code in SCRIPTS.items():
            prefix = SCRIPTS["minimal"] if name == "floor" else ""
            (root / f"start_{name}.py").write_text(prefix + code + "\n" + PEAK_RSS)
        fixture, env = Fixture(emulator, root), child_env(emulator)
        order = list(ROWS)
        for run in range(rounds + 1):
            random.shuffle(order)
            for row in order:
                sample = run_child(fixture.argv(row, run), env)
                if run:
                    samples[row].append(sample)
    return summarise(samples)


def _ratios(samples: dict[str, list[Sample]], row: str, base: str,
            field: str) -> dict[str, float]:
    return _spread([getattr(a, field) / getattr(b, field)
                    for a, b in zip(samples[row], samples[base], strict=True)])


def summarise(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    rows = {row: {"label": ROWS[row][2],
                  "cpu_ms": _spread([s.cpu * 1e3 for s in got]),
                  "wall_ms": _spread([s.wall * 1e3 for s in got]),
                  "peak_rss_mib": _spread([s.rss for s in got]),
                  "cpu_ratio": _ratios(samples, row, "minimal", "cpu"),
                  "wall_ratio": _ratios(samples, row, "minimal", "wall")}
            for row, got in samples.items()}
    targets = {
        "offline / minimal, CPU (<= 1.5)": _ratios(samples, "offline", "minimal", "cpu"),
        "floor / minimal, CPU (what the dependencies take of that)":
            _ratios(samples, "floor", "minimal", "cpu"),
        "recipe nothing due / offline, CPU (<= 1.1)":
            _ratios(samples, "recipe-idle", "offline", "cpu"),
        "recipe nothing due / offline, peak RSS (<= 1.1)":
            _ratios(samples, "recipe-idle", "offline", "rss"),
        "verify / minimal, CPU (<= 1.8)": _ratios(samples, "verify", "minimal", "cpu"),
    }
    return {"rounds": len(samples["minimal"]), "rows": rows, "targets": targets}


def _cell(spread: dict[str, float], digits: int = 1, unit: str = "") -> str:
    return (f"{spread['median']:.{digits}f}{unit} ({spread['min']:.{digits}f}.."
            f"{spread['max']:.{digits}f})")


def print_report(report: dict[str, Any]) -> None:
    print(f"Python {sys.version.split()[0]}, license-token {license_token.__version__}; "
          f"median of {report['rounds']} interleaved rounds (min..max)\n")
    print("| start | CPU ms | x minimal | wall ms | x minimal | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for row in report["rows"].values():
        print(f"| {row['label']} | {_cell(row['cpu_ms'])} | {_cell(row['cpu_ratio'], 2, 'x')} "
              f"| {_cell(row['wall_ms'])} | {_cell(row['wall_ratio'], 2, 'x')} "
              f"| {_cell(row['peak_rss_mib'])} |")
    print()
    for name, spread in report["targets"].items():
        print(f"{name}: {_cell(spread, 2, 'x')}")


def importtime(runs: int) -> None:
    """``-X importtime`` of the offline start: each module's least time over ``runs``."""
    with tempfile.TemporaryDirectory() as tmp, LocalLicenseManager() as emulator:
        root = Path(tmp)
        (root / "start_offline.py").write_text(SCRIPTS["offline"])
        fixture = Fixture(emulator, root)
        argv = fixture.argv("offline", 0)
        best: dict[str, tuple[int, int]] = {}
        order: list[tuple[int, str]] = []
        for run in range(runs):
            done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], check=True,
                                  capture_output=True, text=True, env=child_env(emulator))
            for m in re.finditer(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$",
                                 done.stderr, re.M):
                own, total, name = int(m[1]), int(m[2]), m[4]
                if not run:
                    order.append((len(m[3]) // 2, name))
                was = best.get(name, (own, total))
                best[name] = (min(own, was[0]), min(total, was[1]))
    print("| module | self ms | cumulative ms |\n|---|---|---|")
    for depth, name in order:
        own, total = best[name]
        if depth <= 2 and total >= 300:
            print(f"| {'· ' * depth}{name} | {own / 1e3:.1f} | {total / 1e3:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds counted (default 11)")
    parser.add_argument("--importtime", action="store_true",
                        help="print the -X importtime breakdown of the offline start instead")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q",  # as a wheel install leaves it
                    str(Path(license_token.__file__).parent)], check=True)
    began = time.perf_counter()
    if args.importtime:
        importtime(max(args.rounds, 5))
        print(f"\nthe run took {time.perf_counter() - began:.0f} s")
        return
    report = measure(args.rounds)
    report["seconds"] = time.perf_counter() - began
    print_report(report)
    (HERE / "startup.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {HERE / 'startup.json'}; the run took {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
