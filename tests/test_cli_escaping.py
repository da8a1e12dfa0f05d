"""Every human line the CLI prints escapes what a terminal would act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from license_token import Verifier
from license_token.cli import main
from license_token.cli._common import escape
from license_token.store import LicenseStore
from license_token.testing import LocalLicenseManager, TokenFactory

#: What must never reach a terminal raw: CR, ESC (CSI, OSC title), BEL, BS, C1 CSI, bidi.
DANGEROUS = "\r\x1b\x07\x08\x9b\u202e\u2066"


def _clean(text: str) -> None:
    assert [c for c in text if c in DANGEROUS] == []


@pytest.mark.parametrize(("raw", "shown"), [
    ("Users = 10", "Users = 10"),
    ("1\r\x1b[KUsers = 100000", "1\\r\\x1b[KUsers = 100000"),
    ("a\nVALID b", "a\\nVALID b"),
    ("\u202eevil\u2066", "\\u202eevil\\u2066"),
    ("\ud800", "\\ud800"),
    ("\x9b2J", "\\x9b2J"),
])
def test_escape_makes_one_printable_line(raw: str, shown: str) -> None:
    assert escape(raw) == shown


@pytest.fixture
def key(tmp_path: Path, factory: TokenFactory) -> Path:
    path = tmp_path / "issuer.pem"
    path.write_bytes(factory.public_key_pem())
    return path


def test_claims_cannot_redraw_or_add_lines(
        tmp_path: Path, key: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    arn = "arn:x\x1b]0;pwned\x07\x1b[2J\nVALID  arn:forged"
    token = tmp_path / "token.txt"
    token.write_text(factory.token(licenseArn=arn, entitlementsAllowed=[
        {"name": "Users", "unit": "Count", "value": "1\r\x1b[KUsers = 100000"}]))
    for json_flag in ([], ["--json"]):
        assert main(["verify", str(token), "--key", str(key), "--require", "Users",
                     *json_flag]) == 0
        out, err = capsys.readouterr()
        _clean(out + err)
        human = err if json_flag else out
        assert [line for line in human.splitlines() if line.startswith("VALID")] == [
            "VALID  arn:x\\x1b]0;pwned\\x07\\x1b[2J\\nVALID  arn:forged"]
        assert "1\\r\\x1b[KUsers = 100000" in human


def test_store_list_escapes_file_names_and_messages(
        tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "x\x1b[2J\nVALID forged"
    store.mkdir()
    (store / ("0" * 32 + ".json")).write_text("{}")
    assert main(["store", "list", "--dir", str(store), "--key", str(key)]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    shown = f"{tmp_path}/x\\x1b[2J\\nVALID forged"
    assert out.splitlines()[0] == f"0 valid, 1 invalid in {shown}"
    assert out.splitlines()[1] == (f"  INVALID (store_corrupt)      {shown}/{'0' * 32}.json: "
                                   "not a license-token checkout file")


def test_store_show_and_remove_of_undecodable_arn(
        tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arn = b"\xff\x1b[2J".decode("utf-8", "surrogateescape")  # argv for $'\xff\e[2J'
    (tmp_path / "store").mkdir()
    common = ["--dir", str(tmp_path / "store")]
    assert main(["store", "show", arn, *common, "--key", str(key)]) == 1
    assert main(["store", "remove", arn, *common]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "not_in_store" in out + err
    assert "\\udcff\\x1b[2J" in out + err


def test_usage_errors_quote_arguments_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "token", "--key", "k", "x\x1b[2J\rforged", "\u202e"]) == 2
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "unrecognized arguments: x\\x1b[2J\\rforged \\u202e" in err


def test_aws_error_messages_are_escaped(
        license_manager: LocalLicenseManager, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(name, value)
    license_manager.fail_with("AccessDeniedException",
                              message="denied\x1b]0;pwned\x07\r\nVALID forged")
    key_id = license_manager.create_key()
    assert main(["public-key", "--kms-key-id", key_id, "--out", str(tmp_path / "k.pem"),
                 "--endpoint-url", license_manager.endpoint_url, "--region", "us-east-1"]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "denied\\x1b]0;pwned\\x07\\r\\nVALID forged" in err
    assert not any(line.startswith("VALID") for line in (out + err).splitlines())


def test_granted_row_is_the_entitlement_the_policy_checked(
        tmp_path: Path, key: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token.txt"
    token.write_text(factory.token(entitlementsAllowed=[
        {"name": "Users", "unit": "Bits", "value": "1000000"},
        {"name": "Users", "unit": "Count", "value": "1"},
        {"name": "Users", "unit": "Count", "value": "50"},
        {"name": "Users", "unit": "Count", "value": "20"}]))
    assert main(["verify", str(token), "--key", str(key), "--require", "Users:Count=10"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if "entitlement Users" in line]
    assert rows == [["entitlement", "Users:Count=10", "ok", "granted", "50", "Count"]]


def test_store_save_then_list_with_hostile_text(
        tmp_path: Path, key: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    verifier = Verifier(factory.trust_store())
    LicenseStore(tmp_path).save(factory.response(licenseArn="arn:\x1b[2J\r"), verifier)
    assert main(["store", "list", "--dir", str(tmp_path), "--key", str(key), "--json"]) == 0
    out, err = capsys.readouterr()
    _clean(out + err)
    assert json.loads(out.splitlines()[-1])["entries"][0]["license_arn"] == "arn:\x1b[2J\r"
