"""Customers without AWS credentials: CreateToken -> GetAccessToken -> AssumeRoleWithWebIdentity.

Everything runs over HTTP against the emulator with real boto3 clients; the emulator
refuses License Manager calls not signed (SigV4) with the credentials it issued.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from conftest import ManualClock as Clock

from license_token import ConfigurationError, TrustStore, Verifier
from license_token.aws import AwsError, LicenseManager
from license_token.aws.credentials import (
    LicenseToken,
    LicenseTokenCredentialProvider,
    TokenRejected,
    token_credentials,
    token_session,
)
from license_token.cli import main
from license_token.testing import EmulatedLicense, LocalLicenseManager

ROLE = "arn:aws:iam::123456789012:role/AWSLicenseManagerConsumptionRole"
USERS = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
UUID = r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"


@pytest.fixture
def emulator(clock: Clock) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(clock=clock) as lm:
        lm.identity.require_issued_credentials = True
        yield lm


@pytest.fixture
def lic(emulator: LocalLicenseManager) -> EmulatedLicense:
    return emulator.add_license(entitlements={"Users": ("Count", 5)}, borrow_ttl_minutes=600)


def _manager(emulator: LocalLicenseManager, lic: EmulatedLicense, token: LicenseToken | str,
             clock: Clock, role: str = ROLE) -> LicenseManager:
    session = token_session(token, role, region_name="us-east-1",
                            endpoint_url=emulator.endpoint_url, time_fetcher=clock)
    verifier = Verifier(TrustStore.from_pem(emulator.public_key_pem(lic.key_id)), clock=clock)
    return LicenseManager(verifier, session=session, endpoint_url=emulator.endpoint_url)


def _static_client(emulator: LocalLicenseManager, *, config: Config | None = None,
                   **credentials: Any) -> Any:
    once = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("license-manager", region_name="us-east-1",
                        endpoint_url=emulator.endpoint_url,
                        config=once.merge(config) if config else once, **credentials)


def test_checkout_with_a_token_and_no_aws_credentials(
        emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock,
        tmp_path: Path) -> None:
    token_file = tmp_path / "license-token"
    token_file.write_text(emulator.create_token(lic.arn, role_arns=[ROLE]).token + "\n")
    manager = _manager(emulator, lic, LicenseToken.from_file(token_file), clock)
    checkout = manager.checkout_borrow(lic.arn, USERS, node_id="n-1")
    assert checkout.license is not None and checkout.license.node_id == "n-1"
    assert [op for op, _ in emulator.requests] == [
        "GetAccessToken", "AssumeRoleWithWebIdentity", "CheckoutBorrowLicense"]
    signer = emulator.identity.signers[-1]
    assert signer is not None and signer.startswith("ASIA")
    assert emulator.identity.signers[0] is None  # GetAccessToken went unsigned
    manager.check_in(checkout.license.consumption_token or "")
    assert emulator.seats_in_use(lic.arn)["Users"] == 0
    assert emulator.calls("AssumeRoleWithWebIdentity") == 1  # the credentials were reused


def test_the_create_token_token_has_the_real_shape_and_is_exchanged(
        emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock) -> None:
    """Header, issuer, audience, subject, roles and numeric times as License Manager's own
    tokens carry them (docs/explanation/real-service.md); the exchange takes that token."""
    created = emulator.create_token(lic.arn, role_arns=[ROLE], expiration_in_days=30)
    assert len(created.token) <= 4096  # the model's TokenString
    header = jwt.get_unverified_header(created.token)
    assert set(header) == {"alg", "typ", "kid"}
    assert (header["alg"], header["typ"]) == ("RS512", "JWS")
    assert re.fullmatch(f"us-east-1_{UUID}", header["kid"])
    claims = jwt.decode(created.token, emulator.identity.public_key_pem(), algorithms=["RS512"],
                        audience=lic.arn, issuer="https://openid-license-manager.amazonaws.com",
                        options={"verify_exp": False, "verify_iat": False})
    assert set(claims) == {"sub", "aud", "roles", "iss", "exp", "iat"}
    assert (claims["aud"], claims["roles"], claims["sub"]) == (lic.arn, [ROLE], created.token_id)
    assert re.fullmatch(UUID, claims["sub"])  # as the user guide's trust policy names one
    assert type(claims["exp"]) is int and type(claims["iat"]) is int
    assert claims["iat"] == int(clock.now.timestamp())
    assert claims["exp"] - claims["iat"] == 30 * 86400
    manager = _manager(emulator, lic, created.token, clock)
    assert manager.checkout_borrow(lic.arn, USERS, node_id="n-1").license is not None
    assert [op for op, _ in emulator.requests] == [
        "GetAccessToken", "AssumeRoleWithWebIdentity", "CheckoutBorrowLicense"]


def test_credentials_are_refreshed_by_botocore_before_and_after_they_expire(
        emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock) -> None:
    manager = _manager(emulator, lic, emulator.create_token(lic.arn).token, clock)
    first = manager.checkout_borrow(lic.arn, USERS, node_id="n-1")
    first_signer = emulator.identity.signers[-1]
    clock.now += timedelta(minutes=30)  # an hour's credentials, half used: no refresh
    manager.extend(first.license.consumption_token or "")
    assert emulator.identity.signers[-1] == first_signer
    assert emulator.calls("AssumeRoleWithWebIdentity") == 1
    clock.now += timedelta(minutes=25)  # five minutes left: botocore's mandatory refresh
    manager.extend(first.license.consumption_token or "")
    second_signer = emulator.identity.signers[-1]
    assert second_signer not in (None, first_signer)
    assert emulator.calls("AssumeRoleWithWebIdentity") == 2
    assert emulator.calls("GetAccessToken") == 2  # a fresh access token each time
    clock.now += timedelta(hours=3)  # long expired (the app slept): refreshed again
    manager.check_in(first.license.consumption_token or "")
    assert emulator.identity.signers[-1] not in (first_signer, second_signer)
    assert emulator.calls("AssumeRoleWithWebIdentity") == 3


def test_the_emulator_requires_the_issued_credentials(emulator: LocalLicenseManager,
                                                      lic: EmulatedLicense, clock: Clock) -> None:
    credentials = token_credentials(emulator.create_token(lic.arn).token, ROLE,
                                    region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                                    time_fetcher=clock).get_frozen_credentials()
    issued = {"aws_access_key_id": credentials.access_key,
              "aws_secret_access_key": credentials.secret_key,
              "aws_session_token": credentials.token}
    assert credentials.access_key.startswith("ASIA")
    assert _static_client(emulator, **issued).get_license(LicenseArn=lic.arn)["License"]
    cases = [
        ({**issued, "aws_secret_access_key": "wrong" * 8}, "InvalidSignatureException"),
        ({**issued, "aws_session_token": "forged"}, "UnrecognizedClientException"),
        ({"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "x"},
         "UnrecognizedClientException"),
        ({"config": Config(signature_version=UNSIGNED)}, "MissingAuthenticationTokenException"),
    ]
    for options, code in cases:
        client = _static_client(emulator, **options)
        with pytest.raises(client.exceptions.ClientError) as info:
            client.get_license(LicenseArn=lic.arn)
        assert info.value.response["Error"]["Code"] == code
    clock.now += timedelta(hours=1)
    client = _static_client(emulator, **issued)
    with pytest.raises(client.exceptions.ClientError) as info:
        client.get_license(LicenseArn=lic.arn)
    assert info.value.response["Error"]["Code"] == "ExpiredTokenException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("case", ["unknown", "expired", "revoked", "other-role", "other-account"])
def test_a_refused_token_is_typed_and_takes_no_seat(
        emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock, case: str) -> None:
    created = emulator.create_token(lic.arn, role_arns=[ROLE], expiration_in_days=1)
    token, role = created.token, ROLE
    if case == "unknown":
        token = created.token[:-8] + "AAAAAAAA"
    elif case == "expired":
        clock.now += timedelta(days=2)
    elif case == "revoked":
        emulator.identity.delete_token(created.token_id)
    elif case == "other-role":
        role = ROLE.replace("AWSLicenseManagerConsumptionRole", "Admin")
    else:
        role = ROLE.replace("123456789012", "999999999999")
    manager = _manager(emulator, lic, token, clock, role=role)
    with pytest.raises(TokenRejected) as info:
        manager.checkout_borrow(lic.arn, USERS, node_id="n-1")
    assert info.value.code == "aws_token_rejected" and not info.value.retryable
    expected = {"other-role": "AccessDenied", "other-account": "AccessDenied"}.get(
        case, "AuthorizationException")
    assert info.value.aws_code == expected
    assert created.token not in str(info.value)
    assert emulator.calls("CheckoutBorrowLicense") == 0
    assert emulator.seats_in_use(lic.arn)["Users"] == 0


def test_an_expired_or_unknown_access_token_is_refused_by_sts(
        emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock) -> None:
    unsigned = Config(signature_version=UNSIGNED)
    lm = boto3.client("license-manager", region_name="us-east-1",
                      endpoint_url=emulator.endpoint_url, config=unsigned)
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=emulator.endpoint_url,
                       config=unsigned)
    access = lm.get_access_token(Token=emulator.create_token(lic.arn).token)["AccessToken"]
    answer = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="app",
                                               WebIdentityToken=access)
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/"
                                                     "AWSLicenseManagerConsumptionRole/app")
    for web_token, code in ((access + "x", "InvalidIdentityToken"),):
        with pytest.raises(sts.exceptions.ClientError) as info:
            sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="app",
                                              WebIdentityToken=web_token)
        assert info.value.response["Error"]["Code"] == code
    clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(sts.exceptions.ExpiredTokenException):
        sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="app",
                                          WebIdentityToken=access)


def test_throttled_exchange_is_retried_by_botocore(emulator: LocalLicenseManager,
                                                   lic: EmulatedLicense, clock: Clock) -> None:
    manager = _manager(emulator, lic, emulator.create_token(lic.arn).token, clock)
    emulator.throttle(1)
    assert manager.checkout_borrow(lic.arn, USERS, node_id="n-1").license is not None
    assert emulator.calls("GetAccessToken") == 2


def test_no_secret_reaches_the_logs(emulator: LocalLicenseManager, lic: EmulatedLicense,
                                    clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    created = emulator.create_token(lic.arn)
    with caplog.at_level(logging.DEBUG):
        manager = _manager(emulator, lic, created.token, clock)
        manager.checkout_borrow(lic.arn, USERS, node_id="n-1")
        clock.now += timedelta(hours=2)
        manager.checkout_borrow(lic.arn, USERS, node_id="n-2")
    issued = list(emulator.identity._issued.values())
    secrets = [created.token, *emulator.identity._access]
    secrets += [i.secret_key for i in issued] + [i.session_token for i in issued]
    assert len(issued) == 2 and len(secrets) == 1 + 2 + 2 * 2
    messages = [record.getMessage() for record in caplog.records]
    assert any("GetAccessToken" in m for m in messages)  # botocore did log the exchange
    assert any("<redacted>" in m for m in messages)
    leaked = [m[:120] for m in messages if any(secret in m for secret in secrets)]
    assert leaked == []


def test_the_token_is_never_shown(tmp_path: Path) -> None:
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcm4ifQ.c2lnbmF0dXJl"
    token = LicenseToken(secret)
    provider = LicenseTokenCredentialProvider(token, ROLE, region_name="us-east-1")
    for shown in (repr(token), str(token), repr(provider)):
        assert secret not in shown
    assert repr(token) == "LicenseToken(value=<hidden>)"
    path = tmp_path / "token"
    path.write_text(f"  {secret}\n")
    from_file = LicenseToken.from_file(path)
    assert repr(from_file) == f"LicenseToken(path={str(path)!r})"
    assert from_file.read() == secret
    path.write_text("eyJuZXcifQ.eyJuZXcifQ.bmV3")  # replaced by the administrator
    assert from_file.read() == "eyJuZXcifQ.eyJuZXcifQ.bmV3"


@pytest.mark.parametrize("content", [b"", b"   \n", b"two words", b"\xff\xfe", b"a" * 20000,
                                     b"abc\ndef"])
def test_a_malformed_token_file_is_a_configuration_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="token") as info:
        LicenseToken.from_file(path).read()
    if content.strip():
        assert content.decode("ascii", "replace").split()[0][:8] not in str(info.value)


def test_bad_provider_arguments_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="as a value or a path: exactly one"):
        LicenseToken("abc", path=tmp_path / "t")
    with pytest.raises(ConfigurationError, match="as a value or a path: exactly one"):
        LicenseToken()
    with pytest.raises(ConfigurationError, match="cannot read"):
        LicenseToken.from_file(tmp_path / "missing").read()
    with pytest.raises(ConfigurationError, match="role ARN"):
        token_session("abc", "arn:aws:iam::1:user/bob", region_name="us-east-1")
    with pytest.raises(ConfigurationError, match="Region"):
        token_session("abc", ROLE, region_name="")


def test_checkout_borrow_cli_with_a_token_file_and_no_credentials(tmp_path: Path) -> None:
    with LocalLicenseManager() as emulator:
        emulator.identity.require_issued_credentials = True
        lic = emulator.add_license(entitlements={"Users": ("Count", 5)})
        key, token_file, out = tmp_path / "issuer.pem", tmp_path / "token", tmp_path / "out.json"
        key.write_bytes(emulator.public_key_pem(lic.key_id))
        token_file.write_text(emulator.create_token(lic.arn, role_arns=[ROLE]).token)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= {"AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "AWS_EC2_METADATA_DISABLED": "true"}
        base = [sys.executable, "-m", "license_token", "checkout-borrow", "--license-arn",
                lic.arn, "--entitlement", "Users:Count=1", "--key", str(key), "--node-id", "n-1",
                "--out", str(out), "--force", "--endpoint-url", emulator.endpoint_url]

        def run(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60,
                                  check=False, env=env)

        without = run("--region", "us-east-1")
        assert without.returncode == 2 and "aws_no_credentials" in without.stderr  # misconfigured
        done = run("--region", "us-east-1", "--license-token-file", str(token_file),
                   "--role-arn", ROLE)
        assert done.returncode == 0, done.stderr
        assert json.loads(out.read_text())["NodeId"] == "n-1"
        assert emulator.identity.signers[-1].startswith("ASIA")  # type: ignore[union-attr]
        assert token_file.read_text() not in done.stderr + done.stdout
        for extra in (["--license-token-file", str(token_file)],
                      ["--role-arn", ROLE],
                      ["--license-token-file", str(tmp_path / "missing"), "--role-arn", ROLE],
                      ["--license-token-file", str(token_file), "--role-arn", ROLE,
                       "--profile", "p"],
                      ["--license-token-file", str(token_file), "--role-arn", ROLE,
                       "--region", ""]):
            assert main([*base[3:], "--region", "us-east-1", *extra]) == 2  # usage, in-process
        bad_role = run("--region", "us-east-1", "--license-token-file", str(token_file),
                       "--role-arn", ROLE.replace("AWSLicense", "Other"))
        assert bad_role.returncode == 1 and "aws_token_rejected" in bad_role.stderr


def test_the_credentials_module_is_online_only() -> None:
    """The module is online-only: it imports boto3, unlike ``license_token`` itself."""
    code = ("import sys, license_token; assert 'boto3' not in sys.modules; "
            "import license_token.aws.credentials; assert 'boto3' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert issubclass(TokenRejected, AwsError)


@pytest.mark.parametrize(("body", "code"), [
    (b"Action=GetCallerIdentity&Version=2011-06-15", "InvalidAction"),
    (b"Action=AssumeRoleWithWebIdentity&RoleArn=x&RoleSessionName=s", "ValidationError"),
    (b"Action=AssumeRoleWithWebIdentity&RoleArn=x&RoleSessionName=s&WebIdentityToken=t"
     b"&DurationSeconds=soon", "ValidationError"),
    (b"\xff\xfe=&&==", "InvalidAction"),
])
def test_sts_answers_bad_requests_with_xml_errors(emulator: LocalLicenseManager,
                                                  body: bytes, code: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator
        emulator.endpoint_url, data=body, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the loopback emulator
    assert info.value.code == 400
    assert f"<Code>{code}</Code>".encode() in info.value.read()
