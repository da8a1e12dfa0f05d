"""Every CLI path ends in a message and a documented exit code, never a traceback."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXIT_USAGE, VECTORS, cli_argv

from license_token import node
from license_token.cli import main
from license_token.testing import LocalLicenseManager, TokenFactory

UNREADABLE = "/proc/self/mem"  # exists, is a file, and reading it from offset 0 fails (EIO)
IMPOSSIBLE_DIR = "/proc/license-token-test/x"  # cannot be created, even by root


@pytest.fixture
def paths(tmp_path: Path, factory: TokenFactory) -> dict[str, str]:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    response = tmp_path / "response.json"
    response.write_text(json.dumps(factory.response()))
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    return {"key": str(key), "response": str(response), "dir": str(tmp_path),
            "missing": str(tmp_path / "absent"), "empty": str(empty),
            "ec_key": str(VECTORS / "keys" / "ec_p256.pem")}


BAD_PATHS = [
    # verify / inspect: the input
    ("verify {missing} --key {key}", "cannot read"),
    ("verify {dir} --key {key}", "cannot read"),
    (f"verify {UNREADABLE} --key {{key}}", "cannot read"),
    ("inspect {missing}", "cannot read"),
    ("inspect {dir}", "cannot read"),
    (f"inspect {UNREADABLE}", "cannot read"),
    # every command that takes --key: the key file
    ("verify {response} --key {missing}", "cannot read key file"),
    ("verify {response} --key {dir}", "cannot read key file"),
    (f"verify {{response}} --key {UNREADABLE}", "cannot read key file"),
    ("verify {response} --key {empty}", "empty key material"),
    ("verify {response} --key {ec_key}", "not an RSA public key"),
    ("store list --dir {dir} --key {missing}", "cannot read key file"),
    ("store show arn:x --dir {dir} --key {dir}", "cannot read key file"),
    ("store verify --dir {dir} --key {empty}", "empty key material"),
    ("checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {missing} "
     "--out {dir}/out.json", "cannot read key file"),
    # the store directory
    ("store list --dir {key} --key {key}", "is not a directory"),
    ("store show arn:x --dir {key} --key {key}", "is not a directory"),
    ("store verify --dir {key} --key {key}", "is not a directory"),
    ("store remove arn:x --dir {key}", "is not a directory"),
    # store import: the response and the store (--node-id: no machine ID is read)
    ("store import {missing} --dir {dir} --key {key} --node-id n", "cannot read"),
    ("store import {dir} --dir {dir} --key {key} --node-id n", "cannot read"),
    (f"store import {UNREADABLE} --dir {{dir}} --key {{key}} --node-id n", "cannot read"),
    ("store import {response} --dir {key} --key {key} --node-id n", "is not a directory"),
    ("store import {response} --dir {dir} --key {missing} --node-id n",
     "cannot read key file"),
    # node-id: the salt (an unusable installation file: see below)
    ("node-id --salt ''", "salt"),
    # checkout-borrow: the license token file
    ("checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} "
     "--out {dir}/o.json --license-token-file {missing} --role-arn arn:aws:iam::1:role/r "
     "--region us-east-1", "license token file"),
    # outputs
    ("demo --dir {key}", "is not a directory"),
    (f"demo --dir {IMPOSSIBLE_DIR}", "cannot create the directory"),
    ("checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} "
     "--out {dir}", "is a directory"),
    ("public-key --kms-key-id k --out {dir}", "is a directory"),
    # option values
    ("checkout-borrow --license-arn arn:x --entitlement Users --key {key} --out {dir}/o",
     "NAME:UNIT"),
    ("checkout-borrow --license-arn arn:x --entitlement Users:count=1 --key {key} "
     "--out {dir}/o", "NAME:UNIT"),
    ("checkout-borrow --license-arn arn:x --entitlement :Count=1 --key {key} --out {dir}/o",
     "name must not be empty"),
]


@pytest.mark.parametrize(("command", "message"), BAD_PATHS)
def test_bad_paths_end_in_a_message_and_exit_2(command: str, message: str,
                                               paths: dict[str, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(shlex.split(command.format(**paths))) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert message in err
    assert out == ""


@pytest.mark.parametrize("command", [
    "node-id --installation-file {dir}",
    f"node-id --installation-file {IMPOSSIBLE_DIR}/id",
])
def test_an_unusable_installation_file_is_node_id_unavailable(
        command: str, paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(shlex.split(command.format(**paths))) == EXIT_USAGE  # unreadable input
    out, err = capsys.readouterr()
    assert err.startswith("license-token: node_id_unavailable: ")
    assert out == ""


@pytest.mark.parametrize("command", [
    "verify {missing} --key {key} --json", "verify {response} --key {ec_key} --json",
    "store remove arn:x --dir {key} --json",
])
def test_usage_errors_under_json_print_the_usage_document(
        command: str, paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(command.format(**paths).split()) == EXIT_USAGE
    out = capsys.readouterr().out
    assert json.loads(out)["code"] == "usage"  # store remove: argparse refuses it, the same


@pytest.mark.parametrize("command", [
    "checkout-borrow --license-arn {arn} --entitlement Users:Count=1 --key {key} "
    "--endpoint-url {url} --region us-east-1 --out " + IMPOSSIBLE_DIR + "/r.json",
    "public-key --kms-key-id {key_id} --endpoint-url {url} --region us-east-1 "
    "--out " + IMPOSSIBLE_DIR + "/k.pem",
])
def test_an_unwritable_output_after_the_call_is_a_usage_error(
        command: str, tmp_path: Path, license_manager: LocalLicenseManager,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lic = license_manager.add_license(entitlements={"Users": ("Count", 3)})
    key = tmp_path / "issuer.pem"
    key.write_bytes(license_manager.public_key_pem(lic.key_id))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    argv = command.format(arn=lic.arn, key=key, url=license_manager.endpoint_url,
                          key_id=lic.key_id).split()
    assert main(argv) == EXIT_USAGE
    assert f"cannot write {IMPOSSIBLE_DIR}" in capsys.readouterr().err


def test_public_key_keeps_an_existing_out_unless_forced(
        tmp_path: Path, license_manager: LocalLicenseManager, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The same --out check as checkout-borrow: an existing file is replaced only with --force."""
    lic = license_manager.add_license(entitlements={"Users": ("Count", 3)})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    pinned = tmp_path / "issuer.pem"
    pinned.write_bytes(b"the key the app already pins\n")
    argv = ["public-key", "--kms-key-id", lic.key_id, "--endpoint-url",
            license_manager.endpoint_url, "--region", "us-east-1", "--out", str(pinned)]
    assert main(argv) == EXIT_USAGE
    assert f"--out {pinned} exists; pass --force to replace it" in capsys.readouterr().err
    assert pinned.read_bytes() == b"the key the app already pins\n"
    assert license_manager.calls("GetPublicKey") == 0  # refused before any call
    assert main([*argv, "--force"]) == 0
    assert pinned.read_bytes() == license_manager.public_key_pem(lic.key_id)


_BLOCK_BOTO3 = """
import sys

class _NoBoto3:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("boto3", "botocore"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoBoto3())
"""


def _without_boto3(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCK_BOTO3 + code], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("argv", [
    ["demo"],
    ["checkout-borrow", "--license-arn", "arn:x", "--entitlement", "Users:Count=1", "--key",
     "{key}", "--out", "{dir}/r.json"],
    ["public-key", "--kms-key-id", "k", "--out", "{dir}/k.pem"],
    ["check-in", "--consumption-token", "t"],
    ["check-in", "--consumption-token", "t", "--json"],
])
def test_without_the_aws_extra_commands_say_what_to_install(
        argv: list[str], paths: dict[str, str]) -> None:
    args = [a.format(**paths) for a in argv]
    done = _without_boto3(f"from license_token.cli import main; sys.exit(main({args!r}))")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert "install license-token[aws]" in done.stderr
    assert not Path(paths["dir"], "r.json").exists()


@pytest.mark.parametrize("module", ["license_token.aws", "license_token.aws.credentials"])
def test_without_boto3_importing_the_adapter_says_what_to_install(module: str) -> None:
    done = _without_boto3(
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "import license_token, license_token.testing\n"  # the offline path still imports
        "print('offline ok')\n")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("ImportError license_token.aws needs boto3")  # the package says it
    assert first.endswith("install license-token[aws]")
    assert second == "offline ok"


def test_without_boto3_the_emulator_client_says_what_to_install() -> None:
    """The emulator serves without boto3; only its ``client()`` needs it, and says so."""
    done = _without_boto3(
        "from license_token.testing import LocalLicenseManager\n"
        "with LocalLicenseManager() as emulator:\n"
        "    try:\n"
        "        emulator.client()\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, exc)\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImportError LocalLicenseManager.client() needs boto3")
    assert done.stdout.rstrip().endswith("install license-token[aws]")


# -- verify --json on the edges of time and numbers --------------------------------------------

def test_verify_cli_prints_json_for_a_perpetual_token(
        issuer: TokenFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from license_token.cli import main

    key, token = tmp_path / "key.pem", tmp_path / "token.json"
    key.write_bytes(issuer.public_key_pem())
    token.write_text(json.dumps(issuer.response(expiration="9999-12-31T23:59:59Z")))
    assert main(["verify", str(token), "--key", str(key), "--json",
                 "--at", "2026-03-15T12:00:00Z"]) == 1
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["code"] == "malformed"


def test_huge_exponent_value_gets_a_json_result_from_the_cli(
        issuer: TokenFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from license_token.cli import main

    claims = issuer.claims(entitlementsAllowed=[{"name": "Users", "unit": "Count",
                                                 "value": "1E+999999999"}])
    key, token = tmp_path / "key.pem", tmp_path / "token.json"
    key.write_bytes(issuer.public_key_pem())
    token.write_text(json.dumps(issuer.response(claims)))
    assert main(["verify", str(token), "--key", str(key), "--json", "--require",
                 "Users:Count=5", "--at", "2026-03-15T12:00:00Z"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == (
        "entitlement_insufficient")


# -- bad endpoint URLs, argparse's usage errors, refusals on stderr ----------------------------

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


def _assert_refusal_on_stdout(out: str, code: str, as_json: bool) -> None:
    """Under ``--json`` stdout is the one result line with ``code``; else it is empty."""
    if as_json:
        assert json.loads(out)["code"] == code
    else:
        assert out == ""


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


@pytest.mark.parametrize("as_json", [False, True])
def test_store_remove_failure_goes_to_stderr(as_json: bool, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["store", "remove", "arn:aws:license-manager::1:license/l-x", "--dir", str(tmp_path)]
    assert main([*argv, *(["--json"] if as_json else [])]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("license-token: not_in_store: ")
    _assert_refusal_on_stdout(out, "not_in_store", as_json)
