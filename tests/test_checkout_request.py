"""A fetched token must answer the request, and a seat taken is never lost (library and CLI)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import beside_request, refusing

from license_token import TrustStore, Verifier
from license_token._response import wire_form
from license_token.aws import LicenseManager, RequestMismatch, SeatNotReturned
from license_token.cli import main
from license_token.testing import EmulatedLicense, LocalLicenseManager

USERS_50 = [{"Name": "Users", "Unit": "Count", "Value": "50"}]
USERS_1 = [{"Name": "Users", "Unit": "Count", "Value": "1"}]


@pytest.fixture
def lying() -> Iterator[LocalLicenseManager]:
    """The emulator; a test makes it grant beside the request with ``change()``."""
    with LocalLicenseManager() as emulator:
        yield emulator


def _two_licenses(emulator: LocalLicenseManager) -> tuple[EmulatedLicense, EmulatedLicense]:
    key = emulator.create_key()
    entitlements = {"Users": ("Count", 100), "Pro": ("None", None)}
    return (emulator.add_license(key_id=key, entitlements=entitlements),
            emulator.add_license(key_id=key, entitlements=entitlements))


def _manager(emulator: LocalLicenseManager, lic: EmulatedLicense) -> LicenseManager:
    keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
    return LicenseManager(Verifier(keys), client=emulator.client())


@pytest.mark.parametrize(("rewrite", "request_node", "expected"), [
    ("other license", "n1", "license"),
    ({"NodeId": "n2"}, "n1", "node"),
    ({"NodeId": None}, "n1", "node"),
    ({"Entitlements": USERS_1}, "n1", "Users"),
    ({"Entitlements": USERS_50}, None, "Pro"),
])
def test_a_token_that_does_not_answer_the_request_is_refused_and_its_seat_returned(
        lying: Any, rewrite: Any, request_node: str | None, expected: str) -> None:
    asked, other = _two_licenses(lying)
    members = {"LicenseArn": other.arn} if rewrite == "other license" else rewrite
    lying.change("CheckoutBorrowLicense", request=beside_request(**members))
    manager = _manager(lying, asked)
    with pytest.raises(RequestMismatch, match=expected) as info:
        manager.checkout_borrow(asked.arn, [*USERS_50, {"Name": "Pro", "Unit": "None"}],
                                node_id=request_node)
    assert info.value.code == "request_mismatch"
    assert lying.calls("CheckInLicense") == 1
    assert not lying.seats_in_use(asked.arn) and not lying.seats_in_use(other.arn)


def test_the_granted_value_may_exceed_the_request(lying: Any) -> None:
    asked, _ = _two_licenses(lying)
    lying.change("CheckoutBorrowLicense", request=beside_request(Entitlements=USERS_50))
    checkout = _manager(lying, asked).checkout_borrow(asked.arn, USERS_1, node_id="n1")
    assert checkout.license is not None
    assert checkout.license.entitlements["Users"].value == "50"


@pytest.mark.parametrize("check_in_error", ["AccessDeniedException", "ConflictException"])
def test_when_the_seat_cannot_be_returned_the_error_says_which(
        lying: Any, check_in_error: str) -> None:
    """A ``ConflictException`` (no early check-in) leaves the seat held too: said, not hidden."""
    asked, _ = _two_licenses(lying)
    lying.change("CheckoutBorrowLicense", request=beside_request(NodeId="n2"))
    lying.change("CheckInLicense", request=refusing(check_in_error))
    with pytest.raises(SeatNotReturned) as info:
        _manager(lying, asked).checkout_borrow(asked.arn, USERS_1, node_id="n1")
    error = info.value
    assert isinstance(error.reason, RequestMismatch)
    assert error.consumption_token == error.response["LicenseConsumptionToken"]
    assert lying.seats_in_use(asked.arn)["Users"] == 1


# -- checkout-borrow on the command line --------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(name, value)


def _key_file(emulator: LocalLicenseManager, lic: EmulatedLicense, directory: Path) -> Path:
    """The license's issuer key, pinned in ``directory/key.pem``."""
    key = directory / "key.pem"
    key.write_bytes(emulator.public_key_pem(lic.key_id))
    return key


def _borrow(emulator: LocalLicenseManager, lic: EmulatedLicense, key: Path, out: Path,
            *extra: str) -> int:
    return main(["checkout-borrow", "--license-arn", lic.arn, "--entitlement", "Users:Count=1",
                 "--key", str(key), "--node-id", "n1", "--out", str(out),
                 "--endpoint-url", emulator.endpoint_url, "--region", "us-east-1", *extra])


@pytest.mark.usefixtures("cli_env")
def test_checkout_borrow_checks_everything_local_before_taking_a_seat(
        lying: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lic, _ = _two_licenses(lying)
    key = _key_file(lying, lic, tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    existing = tmp_path / "existing.json"
    existing.write_text("keep me")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [
        (garbage, tmp_path / "a.json"),            # the key file does not load
        (tmp_path / "missing.pem", tmp_path / "b.json"),
        (key, tmp_path / "no-such-dir" / "c.json"),  # --out's directory does not exist
        (key, tmp_path),                             # --out is a directory
        (key, existing),                             # kept without --force
    ]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((key, locked / "d.json"))
    for key_file, out in cases:
        assert _borrow(lying, lic, key_file, out) == 2, (key_file, out)
        assert "Traceback" not in capsys.readouterr().err
    assert lying.calls("CheckoutBorrowLicense") == 0
    assert existing.read_text() == "keep me"
    assert _borrow(lying, lic, key, existing, "--force") == 0
    assert json.loads(existing.read_text())["LicenseArn"] == lic.arn


@pytest.mark.usefixtures("cli_env")
def test_checkout_borrow_returns_the_seat_when_the_token_is_refused(
        lying: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lic, _ = _two_licenses(lying)
    key = _key_file(lying, lic, tmp_path)
    lying.change("CheckoutBorrowLicense", request=beside_request(
        Entitlements=[{"Name": "Users", "Unit": "Count", "Value": "0"}]))
    assert _borrow(lying, lic, key, tmp_path / "out.json") == 1
    err = capsys.readouterr().err
    assert "request_mismatch" in err and "checked back in" in err
    assert not (tmp_path / "out.json").exists()
    assert not lying.seats_in_use(lic.arn)


@pytest.mark.usefixtures("cli_env")
def test_checkout_borrow_returns_the_seat_when_out_cannot_be_written_after_all(
        lying: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from license_token.cli import _online

    lic, _ = _two_licenses(lying)
    key = _key_file(lying, lic, tmp_path)

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_online, "write_atomic", disk_full)
    assert _borrow(lying, lic, key, tmp_path / "out.json") == 2  # an unwritable output
    err = capsys.readouterr().err
    assert "No space left" in err and "checked back in" in err and "Traceback" not in err
    assert not lying.seats_in_use(lic.arn)
    lying.change("CheckInLicense", request=refusing("AccessDeniedException"))  # printed, not lost
    assert _borrow(lying, lic, key, tmp_path / "out.json") == 1
    err = capsys.readouterr().err
    assert "still held" in err and '"SignedToken"' in err
    assert lying.seats_in_use(lic.arn)["Users"] == 1


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("check_in_error", ["AccessDeniedException", "ConflictException"])
def test_checkout_borrow_keeps_the_response_when_the_seat_cannot_be_returned(
        lying: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        check_in_error: str) -> None:
    lic, _ = _two_licenses(lying)
    key = _key_file(lying, lic, tmp_path)
    lying.change("CheckoutBorrowLicense", request=beside_request(NodeId="n2"))
    lying.change("CheckInLicense", request=refusing(check_in_error))
    out = tmp_path / "out.json"
    assert _borrow(lying, lic, key, out) == 1
    captured = capsys.readouterr()
    kept = tmp_path / "out.json.unreturned.json"
    response = json.loads(kept.read_text())
    assert response["LicenseConsumptionToken"] in captured.err
    assert str(kept) in captured.err and "Traceback" not in captured.err
    assert "checked back in" not in captured.err
    assert not out.exists()
    assert lying.seats_in_use(lic.arn)["Users"] == 1


@pytest.mark.usefixtures("cli_env")
def test_checkout_borrow_force_checks_the_replaced_checkout_in_first(
        lying: Any, tmp_path: Path) -> None:
    """Replacing a saved checkout that still holds a seat must not leave two seats held:
    the file is the only record of the old consumption."""
    lic, _ = _two_licenses(lying)
    key, out = _key_file(lying, lic, tmp_path), tmp_path / "out.json"
    assert _borrow(lying, lic, key, out) == 0
    first = json.loads(out.read_text())["LicenseConsumptionToken"]
    assert _borrow(lying, lic, key, out, "--force") == 0
    assert json.loads(out.read_text())["LicenseConsumptionToken"] != first
    assert lying.calls("CheckInLicense") == 1
    assert lying.seats_by_node(lic.arn) == {"n1": 1}


@pytest.mark.usefixtures("cli_env")
def test_checkout_borrow_force_keeps_a_checkout_it_cannot_check_in(
        lying: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lic, _ = _two_licenses(lying)
    key, out = _key_file(lying, lic, tmp_path), tmp_path / "out.json"
    assert _borrow(lying, lic, key, out) == 0
    saved = out.read_bytes()
    lying.change("CheckInLicense", request=refusing("ConflictException"))
    assert _borrow(lying, lic, key, out, "--force") == 1
    err = capsys.readouterr().err
    assert "still holds a seat" in err and "aws_conflict" in err and "nothing was borrowed" in err
    assert out.read_bytes() == saved
    assert lying.calls("CheckoutBorrowLicense") == 1
    assert lying.seats_by_node(lic.arn) == {"n1": 1}


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(("old", "attempts"), [
    ("expired", 0), ("other license", 0), ("not a checkout", 0),
    ("checked in", 1),  # verifies, so it is tried; the service no longer knows it
])
def test_checkout_borrow_force_replaces_a_file_that_holds_no_seat_of_this_license(
        lying: Any, tmp_path: Path, old: str, attempts: int) -> None:
    lic, other = _two_licenses(lying)
    key, out = _key_file(lying, lic, tmp_path), tmp_path / "out.json"
    if old == "expired":  # borrowed 30 days ago: expired by now, here and at the service
        real_clock = lying.clock
        lying.clock = lambda: real_clock() - timedelta(days=30)
        out.write_text(json.dumps(wire_form(lying.client().checkout_borrow_license(
            LicenseArn=lic.arn, Entitlements=USERS_1, NodeId="n1",
            DigitalSignatureMethod="JWT_PS384", ClientToken="old"))))
        lying.clock = real_clock
    elif old == "not a checkout":
        out.write_text("{}")
    else:
        assert _borrow(lying, other if old == "other license" else lic, key, out) == 0
    if old == "checked in":
        _manager(lying, lic).check_in(json.loads(out.read_text())["LicenseConsumptionToken"])
    check_ins = lying.calls("CheckInLicense")
    assert _borrow(lying, lic, key, out, "--force") == 0
    assert json.loads(out.read_text())["LicenseArn"] == lic.arn
    assert lying.calls("CheckInLicense") == check_ins + attempts
    assert lying.seats_by_node(lic.arn) == {"n1": 1}
