"""``license-token check-in``: a borrowed seat given back from the shell, idempotently,
against the emulator over HTTP."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from license_token.testing import LocalLicenseManager

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).with_name("license-token"))


@pytest.fixture
def emulator() -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager() as lm:
        yield lm


@pytest.fixture
def env(tmp_path: Path, emulator: LocalLicenseManager) -> dict[str, str]:
    """An environment with dummy credentials and no AWS configuration of the machine's."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return clean | {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                    "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
                    "AWS_EC2_METADATA_DISABLED": "true"}


def _run(env: dict[str, str], *args: str, cwd: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env, cwd=cwd)


def _online(emulator: LocalLicenseManager) -> list[str]:
    return ["--region", emulator.region, "--endpoint-url", emulator.endpoint_url]


def _borrow(emulator: LocalLicenseManager, env: dict[str, str], tmp_path: Path,
            **settings: Any) -> tuple[str, Path, dict[str, Any]]:
    """A seat borrowed with ``checkout-borrow --json``; returns (license ARN, file, doc)."""
    lic = emulator.add_license(entitlements={"Users": ("Count", 5)}, **settings)
    key = tmp_path / "issuer-public-key.pem"
    key.write_bytes(emulator.public_key_pem(lic.key_id))
    out = tmp_path / "borrowed.json"
    done = _run(env, "checkout-borrow", "--license-arn", lic.arn, "--entitlement",
                "Users:Count=1", "--key", str(key), "--node-id", "air-gapped-node", "--out",
                str(out), "--json", *_online(emulator))
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    assert emulator.seats_in_use(lic.arn)["Users"] == 1
    return lic.arn, out, doc


def test_check_in_from_the_saved_response_returns_the_seat_and_is_idempotent(
        emulator: LocalLicenseManager, env: dict[str, str], tmp_path: Path) -> None:
    arn, out, borrowed = _borrow(emulator, env, tmp_path)
    assert borrowed["valid"] is True and borrowed["out"] == str(out)
    token = borrowed["license"]["claims"]["licenseConsumptionToken"]
    done = _run(env, "check-in", "--from", str(out), "--json", *_online(emulator))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "valid": True, "code": None, "license": None, "consumption_token": token,
        "returned": True, "message": f"returned the seat of consumption {token}"}
    assert not emulator.seats_in_use(arn)["Users"]
    again = _run(env, "check-in", "--consumption-token", token, *_online(emulator))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"already free: consumption {token} holds no seat")
    assert emulator.calls("CheckInLicense") == 2


def test_check_in_with_the_consumption_token_from_stdin(
        emulator: LocalLicenseManager, env: dict[str, str], tmp_path: Path) -> None:
    arn, out, _ = _borrow(emulator, env, tmp_path)
    done = subprocess.run([SCRIPT, "check-in", "--from", "-", *_online(emulator)],
                          input=out.read_text(), capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("returned the seat of consumption ")
    assert not emulator.seats_in_use(arn)["Users"]


def test_a_license_that_forbids_early_check_in_keeps_the_seat_and_says_so(
        emulator: LocalLicenseManager, env: dict[str, str], tmp_path: Path) -> None:
    arn, out, _ = _borrow(emulator, env, tmp_path, allow_early_check_in=False)
    done = _run(env, "check-in", "--from", str(out), "--json", *_online(emulator))
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["valid"] is False and doc["code"] == "aws_conflict"
    assert doc["message"].endswith("the seat is still held")
    assert emulator.seats_in_use(arn)["Users"] == 1


@pytest.mark.parametrize("argv", [
    ["check-in"],
    ["check-in", "--consumption-token", "t", "--from", "f"],
    ["check-in", "--consumption-token", ""],
])
def test_check_in_needs_exactly_one_consumption(argv: list[str], env: dict[str, str]) -> None:
    done = _run(env, *argv)
    assert done.returncode == 2 and done.stdout == ""
    assert "usage: license-token check-in" in done.stderr


def test_check_in_refuses_a_response_whose_unsigned_token_was_edited(
        emulator: LocalLicenseManager, env: dict[str, str], tmp_path: Path) -> None:
    arn, out, _ = _borrow(emulator, env, tmp_path)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(json.loads(out.read_text())
                                 | {"LicenseConsumptionToken": "someone-elses"}))
    done = _run(env, "check-in", "--from", str(edited), *_online(emulator))
    assert done.returncode == 2
    assert "differs from its token's" in done.stderr
    assert emulator.seats_in_use(arn)["Users"] == 1 and not emulator.calls("CheckInLicense")


def test_the_air_gapped_guide_returns_the_seat_with_check_in(
        emulator: LocalLicenseManager, env: dict[str, str], tmp_path: Path) -> None:
    """The guide's own command line, run as written in the directory of ``borrowed.json``."""
    guide = (ROOT / "docs" / "guides" / "air-gapped.md").read_text()
    [line] = [line for line in guide.splitlines() if line.startswith("license-token check-in")]
    arn, _, _ = _borrow(emulator, env, tmp_path)
    words = shlex.split(line)
    assert words[:3] == ["license-token", "check-in", "--from"]
    done = _run(env | {"AWS_ENDPOINT_URL": emulator.endpoint_url}, *words[1:], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not emulator.seats_in_use(arn)["Users"]
    assert "aws license-manager check-in-license" not in guide
