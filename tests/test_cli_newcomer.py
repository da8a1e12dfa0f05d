"""Regression tests for the CLI problems a newcomer's first trial found."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from conftest import EXIT_USAGE, cli_argv

from license_token import Verifier, node
from license_token.cli import main
from license_token.store import LicenseStore
from license_token.testing import LocalLicenseManager, TokenFactory

ROLE = "arn:aws:iam::123456789012:role/AWSLicenseManagerConsumptionRole"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("url", ["notaurl", "http://[::1"])
@pytest.mark.parametrize("command", [
    "checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} "
    "--out {dir}/r.json --region us-east-1 --endpoint-url {url}",
    "public-key --kms-key-id k --out {dir}/k.pem --region us-east-1 --endpoint-url {url}",
])
def test_a_bad_endpoint_url_is_a_usage_error(command: str, url: str, key_file: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = shlex.split(command.format(key=key_file, dir=key_file.parent, url=shlex.quote(url)))
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert "aws_invalid_request" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("aws_env")
def test_a_bad_sts_endpoint_url_is_a_usage_error(
        key_file: Path, license_manager: LocalLicenseManager,
        capsys: pytest.CaptureFixture[str]) -> None:
    lic = license_manager.add_license(entitlements={"Users": ("Count", 3)})
    token = key_file.parent / "token.txt"
    token.write_text(license_manager.create_token(lic.arn, role_arns=[ROLE]).token)
    argv = ["checkout-borrow", "--license-arn", lic.arn, "--entitlement", "Users:Count=1",
            "--key", str(key_file), "--out", str(key_file.parent / "r.json"),
            "--region", "us-east-1", "--endpoint-url", license_manager.endpoint_url,
            "--license-token-file", str(token), "--role-arn", ROLE,
            "--sts-endpoint-url", "notaurl"]
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert "aws_invalid_request: sts: " in err


def test_make_client_turns_a_bad_endpoint_into_invalid_request() -> None:
    from license_token.aws import InvalidRequest
    from license_token.aws._client import make_client

    with pytest.raises(InvalidRequest, match="notaurl"):
        make_client("kms", region_name="us-east-1", endpoint_url="notaurl")


@pytest.mark.parametrize("command", [
    "verify {response} --key {key} --json --at notadate",
    "verify {response} --key {key} --json --bogus",
    "verify {response} --json",
    "store list --dir {key} --key {key} --json",
    "node-id --json --bogus",
    "store list --dir {dir} --key {key} --json --at x",
])
def test_argparse_usage_errors_under_json_print_the_usage_document(
        command: str, key_file: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli_argv(command, key_file, factory)
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc == {"code": "usage", "license": None, "message": doc["message"],
                   "valid": False}
    assert doc["message"] in err
    assert "usage: license-token" in err


def test_argparse_usage_errors_without_json_print_nothing_on_stdout(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node-id", "--bogus"]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: unrecognized arguments: --bogus" in err


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the container check is Linux's")
@pytest.mark.parametrize("as_json", [False, True])
def test_node_id_in_a_container_names_the_cli_options(
        as_json: bool, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(node, "detect_container", lambda **_: "/.dockerenv exists")
    assert main(["node-id", *(["--json"] if as_json else [])]) == 1
    out, err = capsys.readouterr()
    assert "license-token: node_id_container: " in err
    assert "--installation-file PATH" in err
    assert "--allow-container" in err
    _assert_refusal_on_stdout(out, "node_id_container", as_json)


@pytest.mark.parametrize("command", [
    "node-id --salt ''",
    "store import {response} --dir {dir}/store --key {key} --salt ''",
    "store import {response} --dir {dir}/store --key {key} --salt '' --json",
])
def test_an_empty_salt_is_a_usage_error(command: str, key_file: Path, factory: TokenFactory,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli_argv(command, key_file, factory)
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert "license-token: error: app_salt must not be empty" in err
    if "--json" in argv:
        assert json.loads(out)["code"] == "usage"
    else:
        assert out == ""
    assert not (key_file.parent / "store").exists()


@pytest.mark.parametrize("as_json", [False, True])
def test_store_list_names_the_license_of_a_failed_entry(
        as_json: bool, key_file: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = key_file.parent / "store"
    saved = LicenseStore(store).save(factory.response(), Verifier(factory.trust_store()))
    garbled = store / ("0" * 32 + ".json")
    garbled.write_text("{not json")
    argv = ["store", "list", "--dir", str(store), "--key", str(key_file), "--at", "2999-01-01"]
    assert main([*argv, *(["--json"] if as_json else [])]) == 1
    out = capsys.readouterr().out
    arn = saved.license.license_arn
    if as_json:
        entries = {e["file"]: e for e in json.loads(out)["entries"]}
        assert entries[str(saved.path)]["license_arn"] == arn
        assert entries[str(saved.path)]["code"] == "expired"
        assert entries[str(garbled)]["license_arn"] is None
        assert entries[str(garbled)]["code"] == "store_corrupt"
    else:
        rows = {line.split(None, 2)[1]: line.split(None, 2)[2] for line in out.splitlines()[1:]}
        assert rows["(expired)"].startswith(f"{arn}: ")
        assert rows["(store_corrupt)"].startswith(f"{garbled}: truncated or garbled")
        assert rows["(store_corrupt)"].count(str(garbled)) == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_store_remove_failure_goes_to_stderr(as_json: bool, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["store", "remove", "arn:aws:license-manager::1:license/l-x", "--dir", str(tmp_path)]
    assert main([*argv, *(["--json"] if as_json else [])]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("license-token: not_in_store: ")
    _assert_refusal_on_stdout(out, "not_in_store", as_json)


@pytest.mark.parametrize("command", [
    "checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} --out {out}",
    "public-key --kms-key-id k --out {out}",
])
@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("force", [False, True])
def test_out_must_be_a_regular_file_even_with_force(
        command: str, kind: str, force: bool, key_file: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "fifo":
        out = key_file.parent / "pipe"
        os.mkfifo(out)
    else:
        out = Path(os.devnull)
        assert out.is_char_device()
    argv = shlex.split(command.format(key=key_file, out=out)) + (["--force"] if force else [])
    assert main(argv) == EXIT_USAGE
    stdout, err = capsys.readouterr()
    assert f"--out {out} is not a regular file" in err
    assert stdout == ""
    assert out.exists() and not out.is_file()


@pytest.mark.parametrize(("command", "message"), [
    ("verify {response} --key {key} --require Users:Count=-1", "at_least '-1' is not a number"),
    ("verify {response} --key {key} --license-arn ''", "--license-arn: must not be empty"),
    ("verify {response} --key {key} --node-id ''", "--node-id: must not be empty"),
    ("store verify --dir {dir} --key {key} --license-arn ''", "--license-arn: must not be"),
    ("store import {response} --dir {dir}/s --key {key} --node-id ''", "--node-id: must not"),
    ("checkout-borrow --license-arn '' --entitlement Users:Count=1 --key {key} "
     "--out {dir}/r.json", "--license-arn: must not be empty"),
    ("checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} "
     "--node-id '' --out {dir}/r.json", "--node-id: must not be empty"),
])
def test_empty_pins_and_negative_minimums_are_usage_errors(
        command: str, message: str, key_file: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli_argv(command, key_file, factory)
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert message in err
    assert out == ""


def _assert_refusal_on_stdout(out: str, code: str, as_json: bool) -> None:
    """Under ``--json`` stdout is the one result line with ``code``; else it is empty."""
    if as_json:
        assert json.loads(out)["code"] == code
    else:
        assert out == ""


@pytest.mark.parametrize("existing", ["license-response.json", "issuer-public-key.pem"])
def test_demo_never_replaces_a_file_without_force(
        existing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``demo --dir .`` in an app's directory must not overwrite its real checkout or key."""
    kept = tmp_path / existing
    kept.write_text("the user's own file")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert f"{existing} exists; pass --force to replace it" in capsys.readouterr().err
    assert kept.read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert main(["demo", "--dir", str(tmp_path), "--force"]) == 0
    assert kept.read_text() != "the user's own file"
