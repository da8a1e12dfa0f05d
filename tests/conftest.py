from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest

from license_token import TrustStore, Verifier
from license_token.testing import TokenFactory

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
EXTERNAL_VECTORS = VECTORS / "external"
#: The instant the store, edge and trusted-time tests run at.
NOW = datetime(2026, 3, 15, 12, tzinfo=timezone.utc)


def vector_verifier(case: dict[str, Any]) -> Verifier:
    """The verifier a vector case describes: its keys, pins, requirements and leeway."""
    policy = case["policy"]
    keys = TrustStore.from_file(*(VECTORS / "keys" / k for k in case["keys"]))
    return Verifier(keys, license_arn=policy.get("license_arn"), node_id=policy.get("node_id"),
                    require=policy.get("require", ()),
                    leeway=timedelta(seconds=policy.get("leeway", 60)))


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The cases of one project vector file."""
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return cases


@pytest.fixture(scope="session")
def factory() -> TokenFactory:
    return TokenFactory()


@pytest.fixture(scope="module")
def issuer() -> TokenFactory:
    """An issuer whose tokens are valid at ``NOW``."""
    return TokenFactory(now=NOW)


@pytest.fixture
def verifier(issuer: TokenFactory) -> Verifier:
    """A verifier of ``issuer``'s tokens whose clock reads ``NOW``."""
    return Verifier(issuer.trust_store(), clock=lambda: NOW)


class ManualClock:
    """A clock the test moves by hand (``clock.now += …`` or ``clock.advance(hours=1)``),
    shared by the emulator and the code under test so that time travels without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock on by ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> ManualClock:
    """A fresh ``ManualClock``: at the test module's ``CLOCK_START`` if it sets one, else at
    the current second."""
    return ManualClock(getattr(request.module, "CLOCK_START", None))


def beside_request(**members: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A request change for ``LocalLicenseManager.change``: ``members`` replace the request's
    (``None`` removes one), so the service answers beside what was asked, signing honestly."""
    def change(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in (body | members).items() if v is not None}

    return change


def refusing(error_type: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A request change for ``LocalLicenseManager.change``: every call answered with this
    AWS error (for as long as the change is in place)."""
    def change(body: dict[str, Any]) -> dict[str, Any]:
        from license_token.testing import ServiceError

        raise ServiceError(error_type, "refused by the test")

    return change


class NoOffset(tzinfo):
    """A time zone that does not know its offset: a naive datetime in disguise."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


# -- `license-token emulator` as a process (tests/test_emulator_command.py, test_guides.py)
class Emulator:
    """A running ``license-token emulator`` process and what it printed first."""

    def __init__(self, process: subprocess.Popen[str], first_line: str) -> None:
        self.process, self.first_line = process, first_line

    def stop(self, how: signal.Signals | None = signal.SIGTERM) -> tuple[int, str, str]:
        """Signal it (``None``: let it end by itself); its exit code and the rest of its
        stdout and stderr."""
        if how is not None and self.process.poll() is None:
            self.process.send_signal(how)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


@contextmanager
def emulator_process(*options: str, command: list[str] | None = None,
                     env: dict[str, str] | None = None) -> Iterator[Emulator]:
    """Start ``license-token emulator`` (or ``command``); it yields once the first stdout
    line is there (or the process ended); stopped with SIGTERM at the end if the test did
    not stop it."""
    command = command or [sys.executable, "-W", "always::ResourceWarning", "-m",
                          "license_token", "emulator", *options]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env) as process:
        assert process.stdout is not None
        running = Emulator(process, process.stdout.readline())
        try:
            yield running
        finally:
            running.stop()


def client_env(doc: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """A process environment holding only the printed settings (no profile, no config)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return env | {"AWS_ENDPOINT_URL": doc["endpoint_url"], "AWS_DEFAULT_REGION": doc["region"],
                  "AWS_ACCESS_KEY_ID": doc["aws_access_key_id"],
                  "AWS_SECRET_ACCESS_KEY": doc["aws_secret_access_key"],
                  "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                  "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
                  "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``mkdocs build --strict`` of the docs site, once: its directory and the build's log."""
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--verbose",
                           "--site-dir", str(site)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return site, done.stdout + done.stderr


def readme_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Any,
                  key_id: str, clock: Callable[[], datetime]) -> str:
    """The README's startup recipe, to ``exec`` as one start of a machine whose clock is
    ``clock``: its AWS calls reach ``emulator``, its key and store live in ``tmp_path``."""
    import license_token

    class ClockedVerifier(Verifier):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, clock=clock, **kwargs)

    monkeypatch.setattr(license_token, "Verifier", ClockedVerifier)
    monkeypatch.setattr("license_token.node.detect_container", lambda **_: None)  # as a host
    (tmp_path / "issuer-public-key.pem").write_bytes(emulator.public_key_pem(key_id))
    for name, value in {"AWS_ENDPOINT_URL": emulator.endpoint_url, "AWS_ACCESS_KEY_ID": "x",
                        "AWS_SECRET_ACCESS_KEY": "y",
                        "XDG_DATA_HOME": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    recipe: str = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    assert "check_license(store, verifier, renew=renewer)" in recipe
    return recipe


# -- one node's app against the emulator, through a fault proxy (renewal and seat tests) ----

#: What the renewal tests borrow: one seat of ``Users``.
ONE_USER = [{"Name": "Users", "Unit": "Count", "Value": "1"}]


class Rig:
    """One node running the startup recipe against the emulator, through a ``FaultProxy``,
    on a clock the test moves by hand; ``skew`` is how far the node's clock is off."""

    def __init__(self, emulator: Any, proxy: Any, lic: Any, store: Any, node: str) -> None:
        from license_token import TrustStore
        from license_token.aws import LicenseManager
        from license_token.startup import BorrowRenewer, RenewalPolicy

        self.emulator, self.proxy, self.license, self.store = emulator, proxy, lic, store
        self.node, self.skew, self.policy = node, timedelta(0), RenewalPolicy()
        keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
        self.verifier = Verifier(keys, node_id=node, clock=lambda: emulator.clock() + self.skew)
        client = proxy.client(retries={"mode": "standard", "total_max_attempts": 1},
                              connect_timeout=2, read_timeout=5)
        self.renewer = BorrowRenewer(manager=LicenseManager(self.verifier, client=client),
                                     license_arn=lic.arn, entitlements=ONE_USER)

    def start(self) -> Any:
        """One start of the app: ``check_license`` with the renewer."""
        import random

        from license_token.startup import check_license

        return check_license(self.store, self.verifier, renew=self.renewer, policy=self.policy,
                             rng=random.Random(7))  # noqa: S311 (back-off jitter)

    def seats(self) -> int:
        """The live seats of this node now."""
        return int(self.emulator.seats_by_node(self.license.arn)[self.node])

    def peak(self) -> int:
        """The most seats this node held at once, after any call so far."""
        return int(self.emulator.peak_seats_by_node(self.license.arn)[self.node])

    def client_tokens(self) -> list[str]:
        """The ``ClientToken`` of every borrow the service received, in order."""
        return [body["ClientToken"] for op, body in self.emulator.requests
                if op == "CheckoutBorrowLicense"]

    def other_node(self, node: str, store: Any) -> Rig:
        """Another node of the same fleet (same license, emulator and proxy)."""
        return Rig(self.emulator, self.proxy, self.license, store, node)


@pytest.fixture
def make_rig(tmp_path: Path, clock: ManualClock) -> Iterator[Callable[..., Rig]]:
    """Builds :class:`Rig` nodes: ``make_rig(seats=10, ttl_minutes=1440, **license_settings)``."""
    import tempfile

    from license_token.store import LicenseStore
    from license_token.testing import FaultProxy, LocalLicenseManager

    # Stores in memory where there is some: each write is fsynced twice, and the renewal
    # tests start apps hundreds of times (the fsync is the store's own test's business).
    shm = Path("/dev/shm")  # noqa: S108 (scratch stores, removed after the test)
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else tmp_path) as scratch, \
            LocalLicenseManager(clock=clock) as emulator, \
            FaultProxy(emulator.endpoint_url, region=emulator.region) as proxy:
        def make(*, seats: int = 10, ttl_minutes: int = 24 * 60, node: str = "node-1",
                 **settings: Any) -> Rig:
            lic = emulator.add_license(entitlements={"Users": ("Count", seats)},
                                       borrow_ttl_minutes=ttl_minutes, **settings)
            return Rig(emulator, proxy, lic, LicenseStore(Path(scratch) / node), node)

        yield make


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``disk_full(matches, count=1, skip=0)``: the next ``count`` replacements of a file whose
    name ``matches`` (a function of the name), after ``skip`` of them, fail with ENOSPC as on
    a full disk; ``disk_full.failed`` counts the failures so far."""
    import errno
    import os

    real_replace = os.replace

    class DiskFull:
        failed = 0

        def __call__(self, matches: Callable[[str], bool], count: int = 1,
                     skip: int = 0) -> None:
            plan = {"skip": skip, "left": count}

            def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
                if plan["left"] > 0 and matches(Path(dst).name):
                    if plan["skip"] == 0:
                        plan["left"] -= 1
                        self.failed += 1
                        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
                    plan["skip"] -= 1
                real_replace(src, dst, *args, **kwargs)

            monkeypatch.setattr(os, "replace", replace)

    return DiskFull()


def checkout_file(name: str) -> bool:
    """Whether a store file name is a stored checkout's."""
    return len(name) == 37 and name.endswith(".json")


# -- shared by the core modules' tests (claims, policy, clock, response) ----------------------

UTC = timezone.utc
#: 2021-04-13T05:35Z: the instant the time-format tests write in many forms.
AT = datetime(2021, 4, 13, 5, 35, tzinfo=UTC)
#: The three claims every token carries, for ``LicenseClaims._from_payload``.
BASE_CLAIMS = {"licenseArn": "arn", "issuedAt": "2021-01-01T00:00:00",
               "expiration": "2021-01-02T00:00:00"}


@pytest.fixture
def local_zone_kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is UTC+05:30 for the test (a POSIX TZ string, so no
    tzdata is needed; the offset is checked to have taken effect)."""
    import time

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    assert datetime(2021, 1, 1, tzinfo=UTC).astimezone().utcoffset() == timedelta(
        hours=5, minutes=30)
    yield
    monkeypatch.undo()
    time.tzset()


# -- shared by the CLI tests (test_cli_errors, test_cli_mistakes) ----------------------------

#: The CLI's exit code for a usage error (and for unreadable or misconfigured input).
EXIT_USAGE = 2


@pytest.fixture
def key_file(tmp_path: Path, factory: TokenFactory) -> Path:
    """``factory``'s public key, as ``issuer.pem`` in ``tmp_path``."""
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    return key


def cli_argv(template: str, key_file: Path, factory: TokenFactory) -> list[str]:
    """``template``'s argv, with ``{key}``, ``{dir}`` and a fresh ``{response}`` filled in."""
    import shlex

    response = key_file.parent / "response.json"
    response.write_text(json.dumps(factory.response()))
    return shlex.split(template.format(key=key_file, dir=key_file.parent, response=response))
