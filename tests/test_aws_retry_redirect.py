"""The adapter's retries, redirects and ``get_license``, with real boto3 over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext

from license_token import TrustStore, Verifier
from license_token.aws import LicenseDetails, LicenseManager, Redirect, Throttled
from license_token.aws._translate import redirect_region as region_of
from license_token.testing import EmulatedLicense, LocalLicenseManager

USERS = [{"Name": "Users", "Unit": "Count", "Value": "2"}]


@pytest.fixture
def seeded(license_manager: LocalLicenseManager) -> tuple[LocalLicenseManager, EmulatedLicense]:
    return license_manager, license_manager.add_license(entitlements={"Users": ("Count", 5)})


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off delays botocore's endpoint sleeps, recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=delays.append))
    return delays


def _verifier(emulator: LocalLicenseManager, lic: EmulatedLicense) -> Verifier:
    return Verifier(TrustStore.from_pem(emulator.public_key_pem(lic.key_id)))


def test_botocore_standard_mode_alone_gives_up_at_rate_limit_exceeded(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    """Why the adapter installs its own retry handler: the model does not mark the error
    retryable and it is not among botocore's throttling codes."""
    emulator, lic = seeded
    emulator.throttle(1)
    with pytest.raises(ClientError, match="RateLimitExceededException"):
        emulator.client().checkout_borrow_license(
            LicenseArn=lic.arn, Entitlements=USERS, DigitalSignatureMethod="JWT_PS384",
            ClientToken="ct")
    assert emulator.calls("CheckoutBorrowLicense") == 1


def test_rate_limit_exceeded_backs_off_exponentially_with_jitter(
        seeded: tuple[LocalLicenseManager, EmulatedLicense], sleeps: list[float]) -> None:
    emulator, lic = seeded
    manager = LicenseManager(_verifier(emulator, lic), client=emulator.client())  # 5 attempts
    emulator.throttle(4)
    checkout = manager.checkout_borrow(lic.arn, USERS)
    assert checkout.response["ResponseMetadata"]["RetryAttempts"] == 4
    assert len(sleeps) == 4 and len(set(sleeps)) == 4  # jitter: random delays
    # botocore's truncated binary exponential back-off: rand(0, 1) * 2 ** i seconds
    assert all(0 <= delay <= 2 ** i for i, delay in enumerate(sleeps))
    tokens = {body["ClientToken"] for op, body in emulator.requests
              if op == "CheckoutBorrowLicense"}
    assert tokens == {checkout.client_token}
    assert emulator.seats_in_use(lic.arn)["Users"] == 2


def test_rate_limit_exceeded_gets_throttling_back_off_and_quota_cost() -> None:
    """botocore scales throttling back-off by 1 s (others 50 ms) and charges its retry
    quota 5 (others 14): the rate-limit error is treated as throttling by both."""
    from license_token.aws._retry import _ThrottlingDetector

    detector = _ThrottlingDetector(None)
    context = RetryContext(attempt_number=1,
                           parsed_response={"Error": {"Code": "RateLimitExceededException"}})
    assert detector.is_throttling_error_from_context(context)
    other = RetryContext(attempt_number=1, parsed_response={"Error": {"Code": "Other"}})
    assert not detector.is_throttling_error_from_context(other)


def test_attempts_are_configurable_and_throttled_only_once_spent(
        seeded: tuple[LocalLicenseManager, EmulatedLicense], sleeps: list[float],
        monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, lic = seeded
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    manager = LicenseManager(_verifier(emulator, lic), endpoint_url=emulator.endpoint_url,
                             region_name="us-east-1", max_attempts=3)
    emulator.throttle(3)
    with pytest.raises(Throttled) as info:
        manager.checkout_borrow(lic.arn, USERS)
    assert info.value.retryable and emulator.calls("CheckoutBorrowLicense") == 3
    assert len(sleeps) == 2
    assert emulator.seats_in_use(lic.arn)["Users"] == 0
    emulator.throttle(2)
    assert manager.checkout_borrow(lic.arn, USERS).license is not None


@pytest.fixture
def eu() -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(region="eu-west-1") as emulator:
        yield emulator


def _redirected(us: LocalLicenseManager, eu: LocalLicenseManager,
                made: list[str]) -> tuple[EmulatedLicense, LicenseManager]:
    lic = eu.add_license(entitlements={"Users": ("Count", 5)})
    us.redirect(lic.arn, "eu-west-1")

    def client_for_region(region: str) -> Any:
        made.append(region)
        return {"eu-west-1": eu}[region].client()

    return lic, LicenseManager(_verifier(eu, lic), client=us.client(),
                               client_for_region=client_for_region)


def test_a_redirect_is_followed_once_with_the_same_client_token(
        license_manager: LocalLicenseManager, eu: LocalLicenseManager) -> None:
    made: list[str] = []
    lic, manager = _redirected(license_manager, eu, made)
    checkout = manager.checkout_borrow(lic.arn, USERS)
    assert checkout.license is not None and checkout.license.license_arn == lic.arn
    sent = [b["ClientToken"] for lm in (license_manager, eu) for op, b in lm.requests
            if op == "CheckoutBorrowLicense"]
    assert sent == [checkout.client_token, checkout.client_token]
    assert eu.seats_in_use(lic.arn)["Users"] == 2 and made == ["eu-west-1"]
    assert manager.get_license(lic.arn).home_region == "eu-west-1"
    assert made == ["eu-west-1"]  # the regional client is kept


def test_a_repeated_redirect_is_raised(license_manager: LocalLicenseManager,
                                       eu: LocalLicenseManager) -> None:
    made: list[str] = []
    lic, manager = _redirected(license_manager, eu, made)
    eu.redirect(lic.arn, "eu-west-1")
    with pytest.raises(Redirect) as info:
        manager.checkout_borrow(lic.arn, USERS)
    assert info.value.location == "https://license-manager.eu-west-1.amazonaws.com"
    assert license_manager.calls("CheckoutBorrowLicense") == eu.calls(
        "CheckoutBorrowLicense") == 1


def test_a_redirect_to_a_foreign_host_is_not_followed(
        seeded: tuple[LocalLicenseManager, EmulatedLicense]) -> None:
    emulator, lic = seeded
    made: list[str] = []
    manager = LicenseManager(_verifier(emulator, lic), client=emulator.client(),
                             client_for_region=made.append)
    emulator.fail_with("RedirectException", Location="https://attacker.example/eu-west-1")
    with pytest.raises(Redirect):
        manager.checkout_borrow(lic.arn, USERS)
    assert made == []


def test_a_redirect_is_raised_when_no_region_client_can_be_made(
        license_manager: LocalLicenseManager, eu: LocalLicenseManager,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With an explicit endpoint the other Region's endpoint is unknown."""
    lic = eu.add_license(entitlements={"Users": ("Count", 5)})
    license_manager.redirect(lic.arn, "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    manager = LicenseManager(_verifier(eu, lic), endpoint_url=license_manager.endpoint_url,
                             region_name="us-east-1")
    with pytest.raises(Redirect):
        manager.checkout_borrow(lic.arn, USERS)


@pytest.mark.parametrize(("location", "region"), [
    ("eu-west-1", "eu-west-1"),
    ("https://license-manager.eu-west-1.amazonaws.com", "eu-west-1"),
    ("https://license-manager.cn-north-1.amazonaws.com.cn/", "cn-north-1"),
    ("https://license-manager-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ("http://license-manager.eu-west-1.amazonaws.com", None),
    ("https://license-manager.eu-west-1.amazonaws.com.attacker.example", None),
    ("https://kms.eu-west-1.amazonaws.com", None),
    ("eu-west-1; rm -rf", None),
    (None, None),
])
def test_redirect_locations_understood(location: str | None, region: str | None) -> None:
    assert region_of(location) == region


def test_get_license_is_typed(license_manager: LocalLicenseManager) -> None:
    begin = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lic = license_manager.add_license(
        entitlements={"Users": ("Count", 5), "Storage": ("Gigabytes", None)},
        name="Pro", product_name="Widget Pro", valid_from=begin,
        valid_until=begin + timedelta(days=365), metadata={"Tier": "gold"},
        borrow_ttl_minutes=90, allow_early_check_in=False)
    manager = LicenseManager(_verifier(license_manager, lic), client=license_manager.client())
    details = manager.get_license(lic.arn)
    assert isinstance(details, LicenseDetails)
    assert (details.license_arn, details.name, details.product_name, details.product_sku) == (
        lic.arn, "Pro", "Widget Pro", lic.product_sku)
    assert details.available and details.status == "AVAILABLE" and details.version == "1"
    assert (details.valid_from, details.valid_until) == (begin, begin + timedelta(days=365))
    assert details.beneficiary == "123456789012" and details.issuer_name == "Vendor"
    assert details.key_fingerprint == lic.key_fingerprint and details.sign_key == lic.key_id
    users, storage = details.entitlement("Users"), details.entitlement("Storage")
    assert users is not None and (users.max_count, users.overage) == (5, False)
    assert storage is not None and (storage.max_count, storage.overage) == (None, True)
    assert details.consumption.borrow_ttl == timedelta(minutes=90)
    assert details.consumption.allow_early_check_in is False
    assert details.consumption.provisional_ttl == timedelta(minutes=60)
    assert dict(details.metadata) == {"Tier": "gold"}
    license_manager.update_license(lic.arn, status="SUSPENDED")
    assert manager.get_license(lic.arn).status == "SUSPENDED"
    old = manager.get_license(lic.arn, version="1")
    assert (old.version, old.status) == ("1", "AVAILABLE")


def test_a_manager_that_made_its_own_client_makes_the_regional_one_alike(
        license_manager: LocalLicenseManager, eu: LocalLicenseManager,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without an endpoint, the redirect's client is made with the same options but the
    Region (here each Region's "AWS" is an emulator)."""
    import license_token.aws._manager as aws

    (tmp_path / "config").write_text("[profile vendor]\n")  # the profile must exist
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    lic = eu.add_license(entitlements={"Users": ("Count", 5)})
    license_manager.redirect(lic.arn, "eu-west-1")
    made: list[dict[str, Any]] = []

    def make_client(service: str, **options: Any) -> Any:
        made.append(options)
        regions = {"us-east-1": license_manager, "eu-west-1": eu}
        return regions[options["region_name"]].client(service)

    monkeypatch.setattr(aws, "make_client", make_client)
    manager = LicenseManager(_verifier(eu, lic), region_name="us-east-1",
                             profile_name="vendor", max_attempts=3)
    assert manager.checkout_borrow(lic.arn, USERS).license is not None
    assert made == [{"client": None, "region_name": "us-east-1", "profile_name": "vendor",
                     "max_attempts": 3},
                    {"region_name": "eu-west-1", "profile_name": "vendor", "max_attempts": 3}]


def test_a_redirect_is_followed_with_a_session(license_manager: LocalLicenseManager,
                                               eu: LocalLicenseManager) -> None:
    """With ``session=`` the regional client is made in the Region the redirect names.

    Each Region's AWS host is routed to its emulator (``before-send``), so the client's own
    Region decides where a call goes, as it does on AWS.
    """
    import boto3

    lic = eu.add_license(entitlements={"Users": ("Count", 5)})
    license_manager.redirect(lic.arn, "eu-west-1")
    regions = {"us-east-1": license_manager, "eu-west-1": eu}
    hosts: list[str] = []

    def to_emulator(request: Any, **_: Any) -> None:
        host = request.url.split("/")[2]
        hosts.append(host)
        region = host.split(".")[1]
        request.url = regions[region].endpoint_url + "/" + request.url.split("/", 3)[3]

    session = boto3.session.Session(aws_access_key_id="AKIDEMULATOR",
                                    aws_secret_access_key="emulator-secret",
                                    region_name="us-east-1")
    session.events.register("before-send.license-manager", to_emulator)
    manager = LicenseManager(_verifier(eu, lic), session=session, max_attempts=1)
    checkout = manager.checkout_borrow(lic.arn, USERS)
    assert checkout.license is not None and checkout.license.license_arn == lic.arn
    assert hosts == ["license-manager.us-east-1.amazonaws.com",
                     "license-manager.eu-west-1.amazonaws.com"]
    assert eu.seats_in_use(lic.arn)["Users"] == 2
    assert license_manager.calls("CheckoutBorrowLicense") == 1
