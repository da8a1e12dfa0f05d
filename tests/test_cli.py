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
    assert human.stdout.startswith("INVALID (node_mismatch): ")
    assert human.stderr == ""


def test_verify_from_stdin(files: tuple[Path, Path]) -> None:
    key, response = files
    done = _run("verify", "-", "--key", str(key), "--json", stdin=response.read_text())
    assert done.returncode == 0, done.stderr
    token = json.loads(response.read_text())["SignedToken"]
    assert _run("verify", "-", "--key", str(key), stdin=token + "\n").returncode == 0


@pytest.mark.parametrize("extra", [
    [], ["--require", "Users:count"], ["--require", "Users=lots"], ["--at", "yesterday"],
    ["--leeway", "-5"], ["--leeway", "soon"], ["--bogus"], ["--at", "2099-13-01"],
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
    token.write_text(factory.token(licenseArn="arn:\u202e\x1b[31m", nodeId="n\u00e9\x07"))
    done = subprocess.run([sys.executable, "-m", "license_token", "verify", str(token), "--key",
                           str(key), "--json"], capture_output=True, timeout=60, check=False,
                          env={"PYTHONIOENCODING": "ascii", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["license"]["claims"]["nodeId"] == "n\u00e9\x07"
    assert b"Traceback" not in done.stderr
    # A lone surrogate is not text (I-JSON): the token is malformed, reported as such.
    token.write_text(factory.token(nodeId="\udfff"))
    done = subprocess.run([sys.executable, "-m", "license_token", "verify", str(token), "--key",
                           str(key), "--json"], capture_output=True, timeout=60, check=False,
                          env={"PYTHONIOENCODING": "ascii", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["code"] == "malformed"


def test_human_result_goes_to_stdout_so_it_can_be_redirected(files: tuple[Path, Path]) -> None:
    key, response = files
    done = _run("verify", str(response), "--key", str(key))
    assert done.returncode == 0
    assert done.stdout.startswith("VALID  arn:aws:license-manager::")
    assert done.stderr == ""


def test_under_json_stdout_is_only_the_json_line(files: tuple[Path, Path]) -> None:
    key, response = files
    for extra in ([], ["--node-id", "other"]):
        done = _run("verify", str(response), "--key", str(key), "--json", *extra)
        assert len(done.stdout.splitlines()) == 1
        doc = json.loads(done.stdout)
        assert sorted(doc) == ["checks", "code", "license", "message", "token", "valid"]
        assert done.stderr.startswith(("VALID", "INVALID"))


def test_checks_not_made_are_shown_as_not_checked(files: tuple[Path, Path]) -> None:
    key, response = files
    done = _run("verify", str(response), "--key", str(key))
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    for check in ("license", "node", "entitlements"):
        assert "NOT CHECKED" in rows[check], rows
    assert "NOT CHECKED" not in rows["signature"]
    doc = json.loads(_run("verify", str(response), "--key", str(key), "--json").stdout)
    assert doc["license"]["checks"] == {
        "entitlements": "not_checked", "license_arn": "not_checked", "node": "not_checked",
        "signature": "ok", "unsigned_fields": "ok", "validity": "ok"}
    arn = json.loads(response.read_text())["LicenseArn"]
    pinned = _run("verify", str(response), "--key", str(key), "--json", "--license-arn", arn,
                  "--node-id", "node-7f3a", "--require", "Users:Count=5")
    assert set(json.loads(pinned.stdout)["license"]["checks"].values()) == {"ok"}
    human = _run("verify", str(response), "--key", str(key), "--license-arn", arn,
                 "--node-id", "node-7f3a", "--require", "Users:Count=5")
    assert "NOT CHECKED" not in human.stdout
    assert "entitlement Users:Count=5  ok  granted 10 Count" in human.stdout


def test_a_none_unit_is_not_printed(tmp_path: Path, factory: TokenFactory) -> None:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    response = tmp_path / "response.json"
    response.write_text(json.dumps(factory.response(entitlementsAllowed=[
        {"name": "ProFeature", "unit": "None", "value": "Enabled"},
        {"name": "Beta", "unit": "None"}])))
    done = _run("verify", str(response), "--key", str(key), "--require", "ProFeature")
    assert "ProFeature: Enabled\n" in done.stdout
    assert "Beta: (no value)\n" in done.stdout
    assert "None" not in done.stdout


def test_version() -> None:
    from license_token import __version__

    done = _run("--version")
    assert (done.returncode, done.stdout) == (0, f"license-token {__version__}\n")


def test_at_takes_a_date_or_a_date_time_and_names_itself_once(
        files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    key, response = files
    for at in ("2099-01-01", "2099-01-01T00:00:00", "2099-01-01T00:00:00Z"):
        assert main(["verify", str(response), "--key", str(key), "--at", at, "--json"]) == 1
        doc = json.loads(capsys.readouterr().out)
        assert doc["code"] == "expired"
        assert doc["message"].endswith("now is 2099-01-01T00:00:00Z")
    assert main(["verify", str(response), "--key", str(key), "--at", "2021-02-30"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.count("--at") == 1
    assert "'2021-02-30' is not an ISO-8601 date or date-time" in err


def test_every_json_document_has_sorted_keys(tmp_path: Path, files: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    key, response = files
    store = tmp_path / "store"
    runs = [
        ["verify", str(response), "--key", str(key)],
        ["verify", str(response), "--key", str(key), "--node-id", "other"],
        ["verify", str(tmp_path / "absent"), "--key", str(key)],
        ["store", "list", "--dir", str(store), "--key", str(key)],
        ["store", "verify", "--dir", str(store), "--key", str(key)],
        ["store", "remove", "arn:x", "--dir", str(store)],
    ]
    for argv in runs:
        main([*argv, "--json"])
        line = capsys.readouterr().out
        assert line.endswith("\n") and line.count("\n") == 1, argv
        assert line == json.dumps(json.loads(line), sort_keys=True) + "\n", argv


def test_escape_sequences_from_a_token_never_reach_the_terminal(tmp_path: Path,
                                                                factory: TokenFactory) -> None:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    token = tmp_path / "token.txt"
    token.write_text(factory.token(licenseArn="arn:\x1b[31m\u202e", nodeId="n\x07"))
    done = _run("verify", str(token), "--key", str(key))
    assert done.returncode == 0
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "\x07" not in done.stdout
    assert "arn:\\x1b[31m\\u202e" in done.stdout
