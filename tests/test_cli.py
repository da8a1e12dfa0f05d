"""The CLI as users run it: subprocesses, stdin, usage errors, inspect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from license_token.cli import main
from license_token.testing import TokenFactory


@pytest.fixture
def files(tmp_path: Path, factory: TokenFactory) -> tuple[Path, Path]:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    response = tmp_path / "response.json"
    response.write_text(json.dumps(factory.response()))
    return key, response


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "license_token", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_verify_as_a_process(files: tuple[Path, Path]) -> None:
    key, response = files
    done = _run("verify", str(response), "--key", str(key), "--require", "Users:Count=5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["valid"] is True
    assert result["license"]["claims"]["nodeId"] == "node-7f3a"
    assert "VALID" in done.stderr
    human = _run("verify", str(response), "--key", str(key), "--node-id", "other")
    assert human.returncode == 1
    assert human.stdout == ""
    assert "node_mismatch" in human.stderr


def test_verify_from_stdin(files: tuple[Path, Path]) -> None:
    key, response = files
    done = _run("verify", "-", "--key", str(key), "--json", stdin=response.read_text())
    assert done.returncode == 0, done.stderr
    token = json.loads(response.read_text())["SignedToken"]
    assert _run("verify", "-", "--key", str(key), stdin=token + "\n").returncode == 0


@pytest.mark.parametrize("extra", [
    [], ["--require", "Users:count"], ["--require", "Users=lots"], ["--at", "yesterday"],
    ["--leeway", "-5"], ["--leeway", "soon"], ["--bogus"],
])
def test_usage_errors_exit_2(files: tuple[Path, Path], extra: list[str],
                             capsys: pytest.CaptureFixture[str]) -> None:
    key, response = files
    argv = ["verify", str(response), *(["--key", str(key)] if extra else []), *extra]
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_key_and_input_errors_exit_2(tmp_path: Path, files: tuple[Path, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    key, response = files
    ec_key = Path(__file__).resolve().parent.parent / "vectors" / "keys" / "ec_p256.pem"
    assert main(["verify", str(response), "--key", str(ec_key), "--json"]) == 2
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out == {"valid": False, "code": "usage", "license": None, "message": out["message"]}
    assert "not an RSA public key" in out["message"]
    assert main(["verify", str(tmp_path / "absent.json"), "--key", str(key)]) == 2
    assert main(["verify", str(tmp_path), "--key", str(key)]) == 2


def test_garbage_input_is_rejected_not_crashed(tmp_path: Path, files: tuple[Path, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    key, _ = files
    for blob in (b"\xff\xfe\x00garbage", b"{", b"{}", b"[1,2]", b"a.b.c", b"x" * 300_000):
        path = tmp_path / "in.bin"
        path.write_bytes(blob)
        assert main(["verify", str(path), "--key", str(key), "--json"]) == 1
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == "malformed"


def test_inspect_is_loudly_unverified(files: tuple[Path, Path]) -> None:
    _, response = files
    forged = json.loads(response.read_text())
    done = _run("inspect", str(response))
    assert done.returncode == 0
    assert "UNVERIFIED" in done.stderr
    doc = json.loads(done.stdout)
    assert doc["verified"] is False
    assert doc["header"] == {"alg": "PS384"}
    assert doc["claims"]["licenseArn"] == forged["LicenseArn"]
    bad = _run("inspect", "-", stdin="not a token")
    assert bad.returncode == 1
    assert "cannot decode" in bad.stderr


def test_help_lists_commands() -> None:
    done = _run("--help")
    assert done.returncode == 0
    for command in ("verify", "inspect"):
        assert command in done.stdout


def test_hostile_text_in_a_valid_token_is_printed_safely(tmp_path: Path,
                                                         factory: TokenFactory) -> None:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    token = tmp_path / "token.txt"
    token.write_text(factory.token(licenseArn="arn:\ud800\u202e\x1b[31m", nodeId="\udfff"))
    done = subprocess.run([sys.executable, "-m", "license_token", "verify", str(token), "--key",
                           str(key), "--json"], capture_output=True, timeout=60, check=False,
                          env={"PYTHONIOENCODING": "ascii", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["license"]["claims"]["nodeId"] == "\udfff"
    assert b"Traceback" not in done.stderr
