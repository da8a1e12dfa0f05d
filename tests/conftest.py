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
    """A clock the test moves by hand (``clock.now += …``), shared by the emulator and the
    code under test so that time travels without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    """A fresh :class:`ManualClock` at the current second."""
    return ManualClock()


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
