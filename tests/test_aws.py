"""The boto3 adapter against the local emulator over real HTTP, and against moto's KMS."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from moto import mock_aws

from license_token import BadSignature, Entitlement, TrustStore, Verifier
from license_token._clock import parse_time
from license_token.aws import (
    AwsError,
    Conflict,
    ConnectionFailed,
    EntitlementNotAllowed,
    InvalidRequest,
    LicenseManager,
    NoCredentials,
    NoEntitlementsAllowed,
    ResourceNotFound,
    ServiceUnavailable,
    Throttled,
    UnsupportedSignatureMethod,
    fetch_public_key,
)
from license_token.testing import EmulatedLicense, LocalLicenseManager
from license_token.testing._factory import b64u

USERS = [{"Name": "Users", "Unit": "Count", "Value": "2"}]


@pytest.fixture
def seeded(license_manager: LocalLicenseManager) -> tuple[LocalLicenseManager, EmulatedLicense]:
    lic = license_manager.add_license(
        entitlements={"Users": ("Count", 5), "ProFeature": ("None", None)},
        borrow_ttl_minutes=90, allow_early_check_in=True)
    return license_manager, lic


def _manager(emulator: LocalLicenseManager, lic: EmulatedLicense, **config: Any) -> LicenseManager:
    keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
    # botocore's back-off, capped low so that retried tests stay fast
    return LicenseManager(Verifier(keys), client=emulator.client(**config), max_backoff=0.05)


def test_checkout_borrow_verifies_and_counts_seats(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic)
    checkout = manager.checkout_borrow(
        lic.arn, [Entitlement(name="Users", unit="Count", value="2")], node_id="n-1",
        metadata={"Mac": "aa:bb"})
    assert checkout.license is not None
    verified = checkout.license
    assert verified.node_id == "n-1" and verified.entitlements["Users"].value == "2"
    assert dict(verified.claims.checkout_metadata) == {"Mac": "aa:bb"}
    assert verified.expires_at - verified.issued_at == __import__("datetime").timedelta(minutes=90)
    assert emulator.seats_in_use(lic.arn)["Users"] == 2
    assert checkout.response["ResponseMetadata"]["HTTPStatusCode"] == 200
    # the saved response verifies later, offline, as JSON
    again = manager.verifier.verify(json.dumps(checkout.response, default=str))
    assert again.consumption_token == verified.consumption_token
    sent = emulator.requests[-1][1]
    assert sent["DigitalSignatureMethod"] == "JWT_PS384" and sent["ClientToken"]


def test_same_client_token_is_one_consumption(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic)
    first = manager.checkout_borrow(lic.arn, USERS, client_token="ct-1")
    second = manager.checkout_borrow(lic.arn, USERS, client_token="ct-1")
    assert first.license and second.license
    assert first.license.consumption_token == second.license.consumption_token
    assert emulator.seats_in_use(lic.arn)["Users"] == 2


def test_rate_limit_exceeded_is_retried_with_one_client_token_and_one_seat(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    """License Manager's only modelled throttling error, retried inside botocore.

    This test used to throttle with ``ThrottlingException``, which the service never sends
    and which botocore's ``standard`` mode retries anyway: it proved retries the real
    service never got.
    """
    emulator, lic = seeded
    manager = _manager(emulator, lic)
    emulator.throttle(2)  # RateLimitExceededException, as the service throttles
    checkout = manager.checkout_borrow(lic.arn, USERS)
    borrows = [body for op, body in emulator.requests if op == "CheckoutBorrowLicense"]
    assert len(borrows) == 3  # two throttled, the third served
    assert {b["ClientToken"] for b in borrows} == {checkout.client_token}
    assert checkout.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert emulator.seats_in_use(lic.arn)["Users"] == 2


def test_server_errors_and_dropped_connections_are_retried(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic)
    emulator.fail(1)
    emulator.drop(1)
    checkout = manager.checkout_borrow(lic.arn, USERS)
    assert checkout.license is not None
    assert emulator.calls("CheckoutBorrowLicense") == 3
    assert emulator.seats_in_use(lic.arn)["Users"] == 2


def test_retries_exhausted_surface_as_retryable_errors(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic, retries={"mode": "standard", "total_max_attempts": 2})
    emulator.throttle(2)
    with pytest.raises(Throttled) as throttled:
        manager.checkout_borrow(lic.arn, USERS)
    assert throttled.value.retryable and throttled.value.aws_code == "RateLimitExceededException"
    assert throttled.value.request_id
    assert emulator.calls("CheckoutBorrowLicense") == 2  # both attempts spent
    emulator.fail(2)
    with pytest.raises(ServiceUnavailable) as failed:
        manager.checkout_borrow(lic.arn, USERS)
    assert failed.value.retryable and failed.value.status == 500
    emulator.drop(2)
    with pytest.raises(ConnectionFailed) as dropped:
        manager.checkout_borrow(lic.arn, USERS)
    assert dropped.value.retryable
    assert emulator.seats_in_use(lic.arn)["Users"] == 0


def test_service_errors_map_to_typed_exceptions(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic)
    cases: list[tuple[Any, type[AwsError], str]] = [
        (lambda: manager.checkout_borrow(lic.arn.replace("l-", "l-0"), USERS),
         ResourceNotFound, "ResourceNotFoundException"),
        (lambda: manager.checkout_borrow(lic.arn, [{"Name": "Users", "Unit": "Count",
                                                    "Value": "6"}]),
         NoEntitlementsAllowed, "NoEntitlementsAllowedException"),
        (lambda: manager.checkout_borrow(lic.arn, [*USERS, {"Name": "Admins", "Unit": "Count",
                                                            "Value": "1"}]),
         EntitlementNotAllowed, "EntitlementNotAllowedException"),
        (lambda: manager.check_in("no-such-token"), ResourceNotFound,
         "ResourceNotFoundException"),
        (lambda: manager.extend("no-such-token"), ResourceNotFound, "ResourceNotFoundException"),
        (lambda: manager.checkout("sku", "aws:1:x:issuer-fingerprint", USERS), ResourceNotFound,
         "ResourceNotFoundException"),
        (lambda: manager.checkout(lic.product_sku, lic.key_fingerprint, USERS,
                                  checkout_type="SOMETIMES"), InvalidRequest,
         "ValidationException"),
    ]
    for call, cls, aws_code in cases:
        with pytest.raises(cls) as info:
            call()
        assert info.value.aws_code == aws_code
        assert info.value.request_id
        assert not info.value.retryable
    assert emulator.seats_in_use(lic.arn)["Users"] == 0
    with pytest.raises(InvalidRequest):
        manager.checkout_borrow(lic.arn, [])


def test_unsupported_signature_method_is_typed(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    raw = emulator.client()
    from license_token.aws._translate import translate

    with pytest.raises(raw.exceptions.UnsupportedDigitalSignatureMethodException) as info:
        raw.checkout_borrow_license(LicenseArn=lic.arn, Entitlements=USERS,
                                    DigitalSignatureMethod="JWT_RS256", ClientToken="x")
    assert isinstance(translate(info.value), UnsupportedSignatureMethod)


def test_checkout_extend_check_in_cycle(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic)
    start = emulator.clock()
    emulator.clock = lambda: start  # the service's clock, moved by hand below
    checkout = manager.checkout(lic.product_sku, lic.key_fingerprint, USERS, node_id="n-2")
    assert checkout.license is not None and checkout.response["CheckoutType"] == "PROVISIONAL"
    token = checkout.license.consumption_token
    assert token is not None
    assert emulator.seats_in_use(lic.arn)["Users"] == 2
    emulator.clock = lambda: start + timedelta(minutes=10)
    dry = manager.extend(token, dry_run=True)
    assert dry["Expiration"] == checkout.response["Expiration"]  # a dry run changes nothing
    extended = manager.extend(token)
    assert extended["LicenseConsumptionToken"] == token
    assert parse_time(extended["Expiration"], "t") - parse_time(dry["Expiration"], "t") == (
        timedelta(minutes=10))
    manager.check_in(token)
    assert emulator.seats_in_use(lic.arn)["Users"] == 0
    with pytest.raises(ResourceNotFound):
        manager.check_in(token)


def test_early_check_in_refused_when_not_allowed(license_manager: LocalLicenseManager) -> None:
    lic = license_manager.add_license(entitlements={"Users": ("Count", 1)},
                                      allow_early_check_in=False)
    manager = _manager(license_manager, lic)
    checkout = manager.checkout_borrow(lic.arn, [{"Name": "Users", "Unit": "Count",
                                                  "Value": "1"}])
    assert checkout.license and checkout.license.consumption_token
    with pytest.raises(Conflict):
        manager.check_in(checkout.license.consumption_token)
    with pytest.raises(NoEntitlementsAllowed):
        manager.checkout_borrow(lic.arn, [{"Name": "Users", "Unit": "Count", "Value": "1"}])


def test_a_token_that_does_not_verify_is_never_returned(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    other = emulator.add_license(entitlements={"Users": ("Count", 5)})  # another issuer key
    manager = LicenseManager(Verifier(TrustStore.from_pem(emulator.public_key_pem(other.key_id))),
                             client=emulator.client())
    with pytest.raises(BadSignature, match="no pinned key"):
        manager.checkout_borrow(lic.arn, USERS)


def test_get_license_and_public_key_over_http(
        seeded: tuple[LocalLicenseManager, EmulatedLicense],
        monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, lic = seeded
    described = emulator.client().get_license(LicenseArn=lic.arn)["License"]
    assert described["Issuer"]["KeyFingerprint"] == lic.key_fingerprint
    assert described["ConsumptionConfiguration"]["BorrowConfiguration"][
        "MaxTimeToLiveInMinutes"] == 90
    key = fetch_public_key(lic.key_id, client=emulator.client("kms"))
    assert key.pem == emulator.public_key_pem(lic.key_id)
    assert key.pinned.key_size == 2048
    with pytest.raises(ResourceNotFound):
        fetch_public_key("arn:aws:kms:us-east-1:123456789012:key/none",
                         client=emulator.client("kms"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(NoCredentials):
        fetch_public_key(lic.key_id, endpoint_url=emulator.endpoint_url, region_name="us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    key2 = fetch_public_key(lic.key_id, endpoint_url=emulator.endpoint_url,
                            region_name="us-east-1")
    assert key2.pem == key.pem
    with pytest.raises(NoCredentials):
        fetch_public_key(lic.key_id, profile_name="no-such-profile")


@pytest.fixture
def moto_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1",
                           config=Config(retries={"mode": "standard"}))


def _kms_signed_token(kms: Any, key_id: str) -> str:
    claims = {"licenseArn": "arn:aws:license-manager::1:license:l-1", "nodeId": "n",
              "issuedAt": "2026-01-01T00:00:00", "expiration": "2099-01-01T00:00:00",
              "entitlementsAllowed": [{"name": "Users", "value": "3", "unit": "Count"}]}
    header = b64u(b'{"alg":"PS384"}')
    signing_input = f"{header}.{b64u(json.dumps(claims).encode())}"
    signature = kms.sign(KeyId=key_id, Message=signing_input.encode(), MessageType="RAW",
                         SigningAlgorithm="RSASSA_PSS_SHA_384")["Signature"]
    return f"{signing_input}.{b64u(signature)}"


def test_what_kms_signs_we_verify(moto_kms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An independent KMS (moto): RSA_4096 key, KMS ``Sign`` with RSASSA_PSS_SHA_384.

    AWS KMS salts RSASSA_PSS_SHA_384 with the digest length, 48 bytes (LocalStack had to
    fix the same divergence against real KMS: localstack/localstack#9602, #12467). moto
    5.2 still signs with ``PSS.MAX_LENGTH``; here moto is set to KMS's salt length, and
    the next test shows that moto's own salt is (rightly) refused.
    """
    monkeypatch.setattr(padding.PSS, "MAX_LENGTH", padding.PSS.DIGEST_LENGTH)
    key_id = moto_kms.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"]
    token = _kms_signed_token(moto_kms, key_id)
    public = fetch_public_key(key_id, client=moto_kms)
    assert public.pinned.key_size == 4096
    assert public.pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    lic = Verifier(public.trust_store, node_id="n", require=["Users:Count=3"]).verify(token)
    assert lic.entitlements["Users"].value == "3"
    head, payload, _ = token.split(".")
    other = _kms_signed_token(moto_kms, key_id).split(".")[2]
    second = Verifier(public.trust_store).verify(f"{head}.{payload}.{other}")
    assert second.consumption_token == lic.consumption_token
    assert second.key.fingerprint == public.pinned.fingerprint
    with pytest.raises(BadSignature):
        Verifier(public.trust_store).verify(f"{head}.{payload[:-2]}AA.{other}")


def test_moto_max_length_salt_is_refused(moto_kms: Any) -> None:
    """moto signs RSASSA_PSS_SHA_384 with the largest salt: not PS384, so not accepted."""
    key_id = moto_kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"]
    token = _kms_signed_token(moto_kms, key_id)
    public = fetch_public_key(key_id, client=moto_kms)
    with pytest.raises(BadSignature):
        Verifier(public.trust_store).verify(token)
    key = public.pinned.public_key
    signing_input, _, signature = token.rpartition(".")
    key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
               signing_input.encode(),
               padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.AUTO),
               hashes.SHA384())  # what a lax verifier would accept


def test_kms_key_not_for_pss_is_refused(moto_kms: Any) -> None:
    key_id = moto_kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"]
    from license_token import KeyRejected
    with pytest.raises(KeyRejected, match="not RSA"):
        fetch_public_key(key_id, client=moto_kms)


def test_demo_runs_green_as_a_process(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "license_token", "demo", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "VALID" in done.stdout and "response_mismatch" in done.stdout
    for check in ("signature PS384", "expiry", "node", "entitlement Users:Count=5"):
        assert check in done.stdout
    saved = tmp_path / "license-response.json"
    verify = subprocess.run(
        [sys.executable, "-m", "license_token", "verify", str(saved), "--key",
         str(tmp_path / "issuer-public-key.pem"), "--node-id", "demo-node-7f3a", "--json"],
        capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stderr


def test_cli_online_commands_against_the_emulator(
        seeded: tuple[LocalLicenseManager, EmulatedLicense], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from license_token.cli import main

    emulator, lic = seeded
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(name, value)
    common = ["--endpoint-url", emulator.endpoint_url, "--region", "us-east-1"]
    pem = tmp_path / "key.pem"
    assert main(["public-key", "--kms-key-id", lic.key_id, "--out", str(pem), *common]) == 0
    out = tmp_path / "resp.json"
    assert main(["checkout-borrow", "--license-arn", lic.arn, "--entitlement", "Users:Count=1",
                 "--key", str(pem), "--node-id", "n", "--out", str(out), *common]) == 0
    assert main(["verify", str(out), "--key", str(pem), "--node-id", "n"]) == 0
    assert main(["checkout-borrow", "--license-arn", lic.arn, "--entitlement", "Users:Count=9",
                 "--key", str(pem), "--out", str(tmp_path / "no.json"), *common]) == 1
    assert not (tmp_path / "no.json").exists()


def test_latency_beyond_the_read_timeout_is_a_retryable_connection_failure(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    manager = _manager(emulator, lic, read_timeout=0.3,
                       retries={"mode": "standard", "total_max_attempts": 1})
    emulator.delay(5.0)  # far beyond the timeout: no race with a slow machine
    with pytest.raises(ConnectionFailed) as info:
        manager.checkout_borrow(lic.arn, USERS)
    assert info.value.retryable
    emulator.delay(0.0)
    # The service is back: a client with ordinary timeouts gets its checkout.
    again = _manager(emulator, lic).checkout_borrow(lic.arn, USERS).license
    assert again is not None and again.license_arn == lic.arn
