"""``license-token emulator`` as a process, used by real clients: boto3, this CLI, the AWS CLI.

Each test starts the command, reads the line(s) it prints (the emulator is listening once
they are there), drives it with clients whose only configuration is what it printed, then
stops it with a signal and checks it exited 0, cleanly.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import client_env, emulator_process

from license_token import TrustStore, Verifier
from license_token.cli._emulator import is_loopback

CLI = [sys.executable, "-m", "license_token"]
AWS = Path(sys.executable).with_name("aws")  # the AWS CLI of the dev extra
KEYS = {"endpoint_url", "region", "license_arn", "kms_key_id", "aws_access_key_id",
        "aws_secret_access_key"}


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """The emulator's ``--json`` line, and a client environment made of it alone."""
    with emulator_process("--json") as running:
        doc = json.loads(running.first_line)
        yield doc, client_env(doc, tmp_path)
        code, rest, err = running.stop()
    assert (code, rest) == (0, ""), err
    assert "Traceback" not in err and "ResourceWarning" not in err, err


def test_the_json_line_says_what_a_client_needs(served: tuple[dict[str, Any], dict[str, str]],
                                                ) -> None:
    doc, _ = served
    assert set(doc) == KEYS
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", doc["endpoint_url"])
    assert match is not None and int(match.group(1)) > 0  # --port 0: a free port was picked
    assert doc["region"] == "us-east-1"
    assert re.fullmatch(r"arn:aws:license-manager::\d{12}:license:l-[0-9a-f]{32}",
                        doc["license_arn"])
    assert doc["kms_key_id"].startswith("arn:aws:kms:us-east-1:")


def test_boto3_borrows_the_demos_sample_license(
        served: tuple[dict[str, Any], dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    doc, env = served
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    kms = boto3.client("kms")  # endpoint, Region and credentials from the environment
    lm = boto3.client("license-manager")
    try:
        keys = TrustStore.from_kms_public_key(kms.get_public_key(KeyId=doc["kms_key_id"]))
        # the demo's license: 10 Users and ProFeature, borrowed all together
        response = lm.checkout_borrow_license(
            LicenseArn=doc["license_arn"], DigitalSignatureMethod="JWT_PS384", NodeId="n-1",
            ClientToken="boto3-1", Entitlements=[
                {"Name": "Users", "Unit": "Count", "Value": "10"},
                {"Name": "ProFeature", "Unit": "None", "Value": "Enabled"}])
        lic = Verifier(keys, license_arn=doc["license_arn"], node_id="n-1",
                       require=["Users:Count=10", "ProFeature:None"]).verify(response)
        assert lic.entitlement("Users", "Count").value == "10"
        with pytest.raises(lm.exceptions.NoEntitlementsAllowedException):
            lm.checkout_borrow_license(
                LicenseArn=doc["license_arn"], DigitalSignatureMethod="JWT_PS384",
                NodeId="n-2", ClientToken="boto3-2",
                Entitlements=[{"Name": "Users", "Unit": "Count", "Value": "1"}])
    finally:
        kms.close()
        lm.close()


def test_this_cli_borrows_and_verifies_with_only_the_printed_settings(
        served: tuple[dict[str, Any], dict[str, str]], tmp_path: Path) -> None:
    doc, env = served
    steps = [
        ["public-key", "--kms-key-id", doc["kms_key_id"], "--out", "key.pem"],
        ["checkout-borrow", "--license-arn", doc["license_arn"], "--entitlement",
         "Users:Count=2", "--node-id", "n-1", "--key", "key.pem", "--out", "borrowed.json"],
        ["verify", "borrowed.json", "--key", "key.pem", "--license-arn", doc["license_arn"],
         "--node-id", "n-1", "--require", "Users:Count=2"],
    ]
    for step in steps:
        done = run([*CLI, *step], env, tmp_path)
        assert done.returncode == 0, (step, done.stdout, done.stderr)
    assert done.stdout.startswith("VALID")


def test_the_aws_cli_borrows_fetches_the_key_and_checks_in(
        served: tuple[dict[str, Any], dict[str, str]], tmp_path: Path) -> None:
    doc, env = served
    assert AWS.exists(), f"no AWS CLI at {AWS}: the dev extra installs awscli"
    borrow = run([str(AWS), "license-manager", "checkout-borrow-license",
                  "--license-arn", doc["license_arn"], "--digital-signature-method",
                  "JWT_PS384", "--entitlements", "Name=Users,Unit=Count,Value=1",
                  "--node-id", "n-1", "--client-token", "aws-cli-1"], env, tmp_path)
    assert borrow.returncode == 0, borrow.stderr
    (tmp_path / "borrowed.json").write_text(borrow.stdout)
    key = run([str(AWS), "kms", "get-public-key", "--key-id", doc["kms_key_id"]], env, tmp_path)
    assert key.returncode == 0, key.stderr
    (tmp_path / "kms-key.json").write_text(key.stdout)
    verify = run([*CLI, "verify", "borrowed.json", "--key", "kms-key.json", "--license-arn",
                  doc["license_arn"], "--node-id", "n-1", "--require", "Users:Count=1",
                  "--json"], env, tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout.splitlines()[-1])["valid"] is True
    token = json.loads(borrow.stdout)["LicenseConsumptionToken"]
    check_in = [str(AWS), "license-manager", "check-in-license",
                "--license-consumption-token", token]
    assert run(check_in, env, tmp_path).returncode == 0
    again = run(check_in, env, tmp_path)  # the seat is gone: the service no longer knows it
    assert again.returncode != 0 and "ResourceNotFoundException" in again.stderr


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_it_cleanly(how: signal.Signals) -> None:
    with emulator_process("--json") as running:
        doc = json.loads(running.first_line)
        code, rest, err = running.stop(how)
    assert (code, rest) == (0, "")
    assert err.splitlines() == [
        f"license-token: emulator listening on {doc['endpoint_url']}; Ctrl-C (SIGINT) or "
        "SIGTERM stops it", "license-token: emulator stopped"]
    host, port = doc["endpoint_url"].removeprefix("http://").split(":")
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect((host, int(port)))  # the port is closed: nothing left listening


def test_the_human_form_is_a_script_whose_suggested_commands_run(tmp_path: Path) -> None:
    with emulator_process() as running:
        assert running.process.stdout is not None
        lines = [running.first_line]
        while not lines[-1].startswith("#   aws "):  # the last suggestion
            line = running.process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        script = "".join(lines)
        assert re.search(r"^export AWS_ENDPOINT_URL=http://127\.0\.0\.1:\d+ "
                         r"AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=\S+ "
                         r"AWS_SECRET_ACCESS_KEY=\S+$", script, re.M)
        assert all(line.startswith(("#", "export ")) for line in lines), script
        suggested = [line[4:] for line in lines if line.startswith("#   ")]
        (tmp_path / "emulator.sh").write_text(script)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("AWS_")} | {
            "AWS_CONFIG_FILE": str(tmp_path / "none"), "PATH": f"{AWS.parent}:{os.environ['PATH']}"}
        done = run(["bash", "-euc", ". ./emulator.sh\n" + "".join(suggested)], env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "VALID" in done.stdout and '"LicenseConsumptionToken"' in done.stdout
        code, _, err = running.stop()
    assert code == 0, err


def test_no_sample_starts_empty() -> None:
    with emulator_process("--no-sample", "--json") as running:
        doc = json.loads(running.first_line)
        assert set(doc) == KEYS
        assert (doc["license_arn"], doc["kms_key_id"]) == (None, None)


def test_a_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with emulator_process("--port", str(port), "--json") as running:
            code, rest, err = running.stop(None)
    assert (code, rest) == (2, "")
    message = f"cannot listen on 127.0.0.1 port {port}: Address already in use"
    assert json.loads(running.first_line) == {"code": "usage", "license": None,
                                              "message": message, "valid": False}
    assert err.splitlines() == [f"license-token: error: {message}"]


def test_another_host_is_warned_about() -> None:
    """192.0.2.1 (TEST-NET-1) is no address of this machine: warned, then refused."""
    with emulator_process("--host", "192.0.2.1") as running:
        code, _, err = running.stop(None)
    assert code == 2
    warning, error = err.splitlines()[-2:]
    assert warning.startswith("license-token: warning: listening on 192.0.2.1: this is a test "
                              "server with no authentication")
    assert error.startswith("license-token: error: cannot listen on 192.0.2.1 port 0")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("::", False),  # noqa: S104
    ("example.com", False),
])
def test_only_loopback_addresses_go_unwarned(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("port", ["-1", "65536", "http", ""])
def test_a_bad_port_is_a_usage_error(port: str, tmp_path: Path) -> None:
    done = run([*CLI, "emulator", "--port", port], dict(os.environ), tmp_path)
    assert done.returncode == 2
    assert "is not a TCP port" in done.stderr or "expected one argument" in done.stderr
    assert shlex.split(done.stderr)  # said something, no traceback
    assert "Traceback" not in done.stderr
