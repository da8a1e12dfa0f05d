"""Uniform output contracts: ``--json`` on every command, one result shape, one exit table
(0 done, 1 rejected or AWS refused, 2 usage, unreadable or misconfigured), command by command."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from license_token import Verifier
from license_token.cli import _parser, main
from license_token.store import LicenseStore
from license_token.testing import EmulatedLicense, LocalLicenseManager, TokenFactory

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).with_name("license-token"))
BASE_KEYS = {"valid", "code", "message", "license"}
CLI_REFERENCE = (ROOT / "docs" / "reference" / "cli.md").read_text()


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
    for action in subcommands:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def test_every_command_takes_json() -> None:
    leaves = dict(_leaves(_parser()))
    assert {" ".join(path) for path in leaves} >= {
        "verify", "inspect", "store list", "store show", "store verify", "store import",
        "store remove", "node-id", "demo", "checkout-borrow", "public-key", "check-in"}
    for path, parser in leaves.items():
        assert "--json" in parser._option_string_actions, " ".join(path)


def test_no_command_builds_its_result_object_by_hand() -> None:
    """Only ``_result.result`` writes the four keys every JSON result holds."""
    by_hand = re.compile(r'\{"valid":|"license": None|"code": None, "message"')
    for module in sorted((ROOT / "src" / "license_token" / "cli").glob("*.py")):
        if module.name != "_result.py":
            assert not by_hand.findall(module.read_text()), module.name


@pytest.fixture(scope="module")
def emulator() -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager() as lm:
        yield lm


@pytest.fixture(scope="module")
def lic(emulator: LocalLicenseManager) -> EmulatedLicense:
    return emulator.add_license(entitlements={"Users": ("Count", 100)})


@pytest.fixture
def paths(tmp_path: Path, factory: TokenFactory, emulator: LocalLicenseManager,
          lic: EmulatedLicense, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Files for every case; AWS credentials and Region from the environment only."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    response = tmp_path / "response.json"
    response.write_text(json.dumps(factory.response()))
    store = tmp_path / "store"
    LicenseStore(store).save(factory.response(), Verifier(factory.trust_store()))
    empty = tmp_path / "empty"
    empty.mkdir()
    lm_key = tmp_path / "lm.pem"
    lm_key.write_bytes(emulator.public_key_pem(lic.key_id))
    return {"key": str(key), "response": str(response), "store": str(store),
            "empty": str(empty), "dir": str(tmp_path), "missing": str(tmp_path / "missing"),
            "arn": lic.arn, "kms": lic.key_id, "lm_key": str(lm_key),
            "aws": f"--region {emulator.region} --endpoint-url {emulator.endpoint_url}",
            "url": f"--endpoint-url {emulator.endpoint_url}"}


_BORROW = "checkout-borrow --license-arn {arn} --entitlement Users:Count=1 --key {lm_key} " \
          "--out {dir}/out.json"
_PUBLIC = "public-key --kms-key-id {kms} --out {dir}/key.pem"
_CASES = [
    ("verify {response} --key {key}", 0),
    ("verify {response} --key {key} --node-id other", 1),
    ("verify {missing} --key {key}", 2),
    ("verify {response}", 2),
    ("verify {response} --key {key} --leeway -5", 2),
    ("inspect {response}", 0),
    ("inspect {key}", 1),
    ("inspect {missing}", 2),
    ("store list --dir {store} --key {key}", 0),
    ("store list --dir {missing} --key {key}", 2),
    ("store show arn:x --dir {store} --key {key}", 1),
    ("store show arn:x --dir {missing} --key {key}", 2),
    ("store verify --dir {store} --key {key}", 0),
    ("store verify --dir {empty} --key {key}", 1),
    ("store verify --dir {missing} --key {key}", 2),
    ("store import {response} --dir {dir}/new --key {key} --node-id node-7f3a", 0),
    ("store import {response} --dir {dir}/new --key {key} --node-id other", 1),
    ("store import {missing} --dir {dir}/new --key {key} --node-id node-7f3a", 2),
    ("store remove arn:x --dir {store}", 1),
    ("store remove arn:x --dir {missing}", 2),
    ("node-id --installation-file {dir}/id", 0),
    ("node-id --installation-file {dir}", 2),
    ("demo --force", 2),
    (f"{_BORROW} {{aws}}", 0),
    (f"{_BORROW} --license-arn arn:aws:license-manager::1:license:l-0 {{aws}}", 1),
    (f"{_BORROW} {{url}}", 2),  # no Region
    (f"{_BORROW} {{aws}} --profile no-such-profile", 2),
    (f"{_PUBLIC} {{aws}}", 0),
    (f"{_PUBLIC} --kms-key-id arn:aws:kms:us-east-1:1:key/none {{aws}}", 1),
    (f"{_PUBLIC} {{url}}", 2),
    (f"{_PUBLIC} {{aws}} --profile no-such-profile", 2),
    ("check-in --consumption-token 0123 {aws}", 0),  # already free: success
    ("check-in --consumption-token 0123 {url}", 2),
    ("check-in --consumption-token 0123 {aws} --profile no-such-profile", 2),
]


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize(("command", "exit_code"), _CASES)
def test_the_exit_table_command_by_command(
        command: str, exit_code: int, as_json: bool, paths: dict[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = command.format(**paths).split() + (["--json"] if as_json else [])
    assert main(argv) == exit_code
    out, err = capsys.readouterr()
    if not as_json:
        return
    lines = out.splitlines()
    assert len(lines) == 1, out
    doc = json.loads(lines[0])
    assert BASE_KEYS <= set(doc), doc
    undocumented = [k for k in doc if f"`{k}`" not in CLI_REFERENCE]
    assert undocumented == [], "keys missing from docs/reference/cli.md"
    assert doc["valid"] is (exit_code == 0 and argv[0] != "inspect")  # inspect verifies nothing
    assert (doc["code"] is None) is (exit_code == 0)
    if exit_code == 2:  # a usage error, or a machine that gives no node ID (unreadable)
        assert doc["code"] in ("usage", "node_id_unavailable"), doc
    if exit_code:
        assert doc["license"] is None
        assert err


@pytest.mark.parametrize("command", [f"{_BORROW} {{aws}}", f"{_PUBLIC} {{aws}}",
                                     "check-in --consumption-token 0123 {aws}"])
def test_no_credentials_is_a_usage_error(command: str, paths: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main([*command.format(**paths).split(), "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["code"] == "usage"
    assert "aws_no_credentials: AWS credentials: Unable to locate credentials" in err
    assert not Path(paths["dir"], "out.json").exists()


def test_a_negative_leeway_names_a_readable_bound(capsys: pytest.CaptureFixture[str],
                                                  paths: dict[str, str]) -> None:
    assert main(["verify", paths["response"], "--key", paths["key"], "--leeway", "-5"]) == 2
    err = capsys.readouterr().err
    assert "'-5': leeway must be between 0 and 31622400 seconds (366 days)" in err


def test_inspect_json_is_one_line_marked_unverified(paths: dict[str, str]) -> None:
    done = subprocess.run([SCRIPT, "inspect", paths["response"], "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    [line] = done.stdout.splitlines()
    doc = json.loads(line)
    assert doc["verified"] is False and doc["valid"] is False and doc["license"] is None
    assert doc["code"] is None and doc["message"].startswith("UNVERIFIED")
    assert doc["header"] == {"alg": "PS384"} and doc["claims"]["nodeId"] == "node-7f3a"
    assert "UNVERIFIED" in done.stderr


def test_demo_json_is_one_line_and_its_text_goes_to_stderr(tmp_path: Path) -> None:
    done = subprocess.run([SCRIPT, "demo", "--dir", str(tmp_path / "demo"), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    doc: dict[str, Any] = json.loads(line)
    assert doc["valid"] is True and doc["message"] == "verified offline"
    assert set(doc["checks"].values()) == {"ok"}
    assert doc["license"]["claims"]["licenseArn"] == doc["license_arn"]
    assert doc["token"]["signature_verified"] is True
    assert Path(doc["key_file"]).is_file() and Path(doc["response_file"]).is_file()
    assert doc["verify_command"] in done.stderr and "OFFLINE" in done.stderr
    again = subprocess.run(["sh", "-c", doc["verify_command"]], capture_output=True,
                           text=True, timeout=60, check=False)
    assert again.returncode == 0, again.stderr


def test_the_quickstart_says_what_a_rerun_does(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    quickstart = " ".join((ROOT / "docs" / "quickstart.md").read_text().split())
    assert "It never replaces the files it finds there: it stops with exit 2 and says so; " \
           "add `--force` to replace them." in quickstart
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert "exists; pass --force to replace it" in capsys.readouterr().err
    assert main(["demo", "--dir", str(tmp_path), "--force"]) == 0


def test_public_key_json_names_the_key(paths: dict[str, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_PUBLIC.format(**paths).split(), *paths["aws"].split(), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["key_id"] == paths["kms"] and doc["key_size"] == 2048
    assert doc["out"] == str(Path(paths["dir"], "key.pem"))
    assert re.fullmatch(r"[0-9a-f]{64}", doc["key_fingerprint_sha256"])
