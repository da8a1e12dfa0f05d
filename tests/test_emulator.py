"""The emulator behaves as License Manager does; each test names its source.

"LM API" is the AWS License Manager API reference; "model" is botocore's service model.
Real boto3 clients over HTTP; time travel through the emulator's injected clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ManualClock as Clock

from license_token import TrustStore, Verifier
from license_token.aws import InvalidRequest, LicenseManager, NoEntitlementsAllowed
from license_token.testing import EmulatedLicense, LocalLicenseManager, ServiceError


@pytest.fixture
def lm(clock: Clock) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def raw(lm: LocalLicenseManager) -> Any:
    """A boto3 client that sends what it is given (the service validates, not botocore)."""
    return lm.client(parameter_validation=False,
                     retries={"mode": "standard", "total_max_attempts": 1})


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return str(info.value.response["Error"]["Code"])


def _borrow(raw: Any, lic: EmulatedLicense, entitlements: list[dict[str, str]],
            client_token: str = "", **extra: Any) -> Any:
    return raw.checkout_borrow_license(
        LicenseArn=lic.arn, Entitlements=entitlements, DigitalSignatureMethod="JWT_PS384",
        ClientToken=client_token or uuid.uuid4().hex, **extra)


def _checkout(raw: Any, lic: EmulatedLicense, entitlements: list[dict[str, str]],
              checkout_type: str = "PROVISIONAL", client_token: str = "") -> Any:
    return raw.checkout_license(
        ProductSKU=lic.product_sku, KeyFingerprint=lic.key_fingerprint,
        CheckoutType=checkout_type, Entitlements=entitlements,
        ClientToken=client_token or uuid.uuid4().hex)


def _e(name: str, unit: str = "None", value: str | None = None) -> dict[str, str]:
    return {"Name": name, "Unit": unit} | ({"Value": value} if value is not None else {})


def test_checkout_license_grants_the_subset_the_license_has_lm_api(
        lm: LocalLicenseManager) -> None:
    """LM API CheckoutLicense / AWS Marketplace tiers: ask for every tier, get the one bought.

    The emulator used to answer NoEntitlementsAllowedException here.
    """
    lic = lm.add_license(entitlements={"Tier2": ("None", None), "Users": ("Count", 5)})
    keys = TrustStore.from_pem(lm.public_key_pem(lic.key_id))
    manager = LicenseManager(Verifier(keys), client=lm.client())
    tiers = [_e("Tier1"), _e("Tier2"), _e("Tier3"), _e("Users", "Count", "9")]
    checkout = manager.checkout(lic.product_sku, lic.key_fingerprint, tiers)
    assert checkout.license is not None
    assert list(checkout.license.entitlements) == ["Tier2"]  # Users: 9 > 5, not granted
    assert checkout.response["EntitlementsAllowed"] == [
        {"Name": "Tier2", "Unit": "None", "Value": "1"}]
    with pytest.raises(NoEntitlementsAllowed):
        manager.checkout(lic.product_sku, lic.key_fingerprint, [_e("Tier1")])


def test_checkout_borrow_stays_all_or_nothing_lm_api(lm: LocalLicenseManager,
                                                     raw: Any) -> None:
    """LM API CheckoutBorrowLicense: "Partial checkouts are not supported"."""
    lic = lm.add_license(entitlements={"Users": ("Count", 5)})
    assert _code(lambda: _borrow(raw, lic, [_e("Users", "Count", "1"), _e("Tier1")])) == (
        "EntitlementNotAllowedException")
    assert _code(lambda: _borrow(raw, lic, [_e("Users", "Count", "6")])) == (
        "NoEntitlementsAllowedException")
    assert lm.seats_in_use(lic.arn)["Users"] == 0


def test_max_count_bounds_every_unit_but_none_lm_api(lm: LocalLicenseManager,
                                                     raw: Any) -> None:
    """LM API Entitlement.MaxCount; 3 x 80 GB of a 100 GB license used to get through."""
    lic = lm.add_license(entitlements={"Storage": ("Gigabytes", 100), "Pro": ("None", 1),
                                       "Time": ("Seconds", 60)})
    _borrow(raw, lic, [_e("Storage", "Gigabytes", "80")])
    assert _code(lambda: _borrow(raw, lic, [_e("Storage", "Gigabytes", "80")])) == (
        "NoEntitlementsAllowedException")
    _borrow(raw, lic, [_e("Storage", "Gigabytes", "20")])
    _borrow(raw, lic, [_e("Time", "Seconds", "59.5")])
    assert _code(lambda: _borrow(raw, lic, [_e("Time", "Seconds", "1")])) == (
        "NoEntitlementsAllowedException")
    for _ in range(3):  # a None unit is a feature flag: nothing to count
        _borrow(raw, lic, [_e("Pro", "None", "Enabled")])
    assert lm.seats_in_use(lic.arn) == {"Storage": 100, "Time": 59.5}


def test_perpetual_checkouts_never_expire_nor_come_back_lm_api(
        lm: LocalLicenseManager, raw: Any, clock: Clock) -> None:
    """LM API CheckoutType PERPETUAL: a drawdown, not returned to the pool."""
    lic = lm.add_license(entitlements={"Users": ("Count", 1)})
    token = _checkout(raw, lic, [_e("Users", "Count", "1")], "PERPETUAL")[
        "LicenseConsumptionToken"]
    clock.now += timedelta(days=3650)
    assert lm.seats_in_use(lic.arn)["Users"] == 1
    assert _code(lambda: raw.check_in_license(LicenseConsumptionToken=token)) == (
        "ValidationException")
    assert _code(lambda: raw.extend_license_consumption(LicenseConsumptionToken=token)) == (
        "ValidationException")
    assert _code(lambda: _checkout(raw, lic, [_e("Users", "Count", "1")],
                                   client_token="other")) == "NoEntitlementsAllowedException"


def test_client_token_reuse_with_other_parameters_is_refused_model(
        lm: LocalLicenseManager, raw: Any) -> None:
    """Model: no idempotency-mismatch error, so InvalidParameterValueException (see
    ``_lm_api._replay``); the token used to return the first checkout whatever was asked."""
    lic = lm.add_license(entitlements={"Users": ("Count", 5)})
    other = lm.add_license(entitlements={"Users": ("Count", 5)})
    users = [_e("Users", "Count", "1")]
    first = _borrow(raw, lic, users, "ct", NodeId="a")
    assert _borrow(raw, lic, users, "ct", NodeId="a")["LicenseConsumptionToken"] == first[
        "LicenseConsumptionToken"]
    for changed in (lambda: _borrow(raw, lic, users, "ct", NodeId="b"),
                    lambda: _borrow(raw, lic, [_e("Users", "Count", "2")], "ct", NodeId="a"),
                    lambda: _borrow(raw, other, users, "ct", NodeId="a")):
        assert _code(changed) == "InvalidParameterValueException"
    assert lm.seats_in_use(lic.arn)["Users"] == 1 and lm.seats_in_use(other.arn) == {}
    raw.check_in_license(LicenseConsumptionToken=first["LicenseConsumptionToken"])
    again = _borrow(raw, lic, users, "ct", NodeId="b")  # the token is free once checked in
    assert again["LicenseConsumptionToken"] != first["LicenseConsumptionToken"]


def test_the_adapter_surfaces_client_token_reuse_as_invalid_request(
        lm: LocalLicenseManager) -> None:
    lic = lm.add_license(entitlements={"Users": ("Count", 5)})
    keys = TrustStore.from_pem(lm.public_key_pem(lic.key_id))
    manager = LicenseManager(Verifier(keys), client=lm.client())
    manager.checkout_borrow(lic.arn, [_e("Users", "Count", "1")], client_token="ct",
                            node_id="a")
    with pytest.raises(InvalidRequest) as info:
        manager.checkout_borrow(lic.arn, [_e("Users", "Count", "1")], client_token="ct",
                                node_id="b")
    assert info.value.aws_code == "InvalidParameterValueException"


def test_an_expired_consumption_is_gone_and_cannot_be_revived(
        lm: LocalLicenseManager, raw: Any, clock: Clock) -> None:
    """Extending an expired consumption used to revive it: MaxCount 1 ended with 2 seats."""
    lic = lm.add_license(entitlements={"Users": ("Count", 1)}, borrow_ttl_minutes=60)
    users = [_e("Users", "Count", "1")]
    old = _borrow(raw, lic, users, "first")["LicenseConsumptionToken"]
    clock.now += timedelta(minutes=61)
    assert lm.seats_in_use(lic.arn) == {}
    _borrow(raw, lic, users, "second")
    for call in (raw.extend_license_consumption, raw.check_in_license):
        assert _code(lambda call=call: call(LicenseConsumptionToken=old)) == (
            "ResourceNotFoundException")
    assert lm.seats_in_use(lic.arn)["Users"] == 1


def test_a_license_not_available_or_out_of_validity_grants_nothing(
        lm: LocalLicenseManager, raw: Any, clock: Clock) -> None:
    """Model LicenseStatus and DatetimeRange: only an AVAILABLE license in its window."""
    lic = lm.add_license(entitlements={"Users": ("Count", 5)},
                         valid_until=clock.now + timedelta(days=1))
    users = [_e("Users", "Count", "1")]
    lm.update_license(lic.arn, status="SUSPENDED")
    assert _code(lambda: _borrow(raw, lic, users)) == "NoEntitlementsAllowedException"
    lm.update_license(lic.arn, status="AVAILABLE")
    _borrow(raw, lic, users)
    clock.now += timedelta(days=2)
    assert _code(lambda: _checkout(raw, lic, users)) == "NoEntitlementsAllowedException"


def test_get_license_is_complete_and_honours_versions_model(
        lm: LocalLicenseManager, raw: Any) -> None:
    lic = lm.add_license(entitlements={"Users": ("Count", 5), "Disk": ("Gigabytes", None)})
    got = raw.get_license(LicenseArn=lic.arn)["License"]
    assert {"LicenseName", "ProductName", "Validity", "Beneficiary", "Issuer", "CreateTime",
            "LicenseMetadata", "ConsumptionConfiguration", "HomeRegion"} <= got.keys()
    disk = next(e for e in got["Entitlements"] if e["Name"] == "Disk")
    assert disk["Overage"] is True and "MaxCount" not in disk  # unlimited
    lm.update_license(lic.arn, status="DEACTIVATED")
    assert raw.get_license(LicenseArn=lic.arn)["License"]["Version"] == "2"
    assert raw.get_license(LicenseArn=lic.arn, Version="1")["License"]["Status"] == "AVAILABLE"
    assert raw.get_license(LicenseArn=lic.arn, Version="2")["License"]["Status"] == (
        "DEACTIVATED")
    assert _code(lambda: raw.get_license(LicenseArn=lic.arn, Version="7")) == (
        "InvalidParameterValueException")
    assert _code(lambda: raw.get_license(LicenseArn=lic.arn + "0")) == (
        "InvalidParameterValueException")  # the model lists no ResourceNotFound here


ARN = "arn:aws:license-manager::123456789012:license:l-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def validating() -> Iterator[tuple[LocalLicenseManager, Any, EmulatedLicense]]:
    """One emulator for the validation cases: none of them may take a seat."""
    with LocalLicenseManager() as emulator:
        lic = emulator.add_license(entitlements={"Users": ("Count", 5),
                                                 "Disk": ("Gigabytes", 9)})
        yield emulator, emulator.client(parameter_validation=False, retries={
            "mode": "standard", "total_max_attempts": 1}), lic


@pytest.mark.parametrize(("operation", "params", "code"), [
    ("checkout_borrow_license", {"LicenseArn": "not-an-arn"}, "ValidationException"),
    ("checkout_borrow_license", {"LicenseArn": ARN + "x" * 2048}, "ValidationException"),
    ("checkout_borrow_license", {"ClientToken": "   "}, "ValidationException"),
    ("checkout_borrow_license", {"ClientToken": "x" * 2049}, "ValidationException"),
    ("checkout_borrow_license", {"Entitlements": []}, "ValidationException"),
    ("checkout_borrow_license", {"Entitlements": [_e("Users", "Parsecs")]},
     "ValidationException"),
    ("checkout_borrow_license", {"Entitlements": [_e("Users", "Count", "-1")]},
     "ValidationException"),
    ("checkout_borrow_license", {"Entitlements": [_e("Users", "Count", "1.5")]},
     "ValidationException"),
    ("checkout_borrow_license", {"Entitlements": [_e("Disk", "Gigabytes", "NaN")]},
     "ValidationException"),
    ("checkout_borrow_license", {"Entitlements": [{"Unit": "Count"}]}, "ValidationException"),
    ("checkout_borrow_license", {"NodeId": 7}, "ValidationException"),
    ("checkout_borrow_license", {"DigitalSignatureMethod": "JWT_RS256"},
     "UnsupportedDigitalSignatureMethodException"),
    ("checkout_license", {"CheckoutType": "SOMETIMES"}, "ValidationException"),
    ("extend_license_consumption", {"DryRun": "yes"}, "ValidationException"),
    ("check_in_license", {"LicenseConsumptionToken": None}, "ValidationException"),
    ("get_license", {"LicenseArn": "arn:aws:x"}, "ValidationException"),
])
def test_requests_are_validated_per_the_model(
        validating: tuple[LocalLicenseManager, Any, EmulatedLicense], operation: str,
        params: dict[str, Any], code: str) -> None:
    lm, raw, lic = validating
    base: dict[str, dict[str, Any]] = {
        "checkout_borrow_license": {
            "LicenseArn": lic.arn, "Entitlements": [_e("Users", "Count", "1")],
            "DigitalSignatureMethod": "JWT_PS384", "ClientToken": "ct"},
        "checkout_license": {
            "ProductSKU": lic.product_sku, "KeyFingerprint": lic.key_fingerprint,
            "CheckoutType": "PROVISIONAL", "Entitlements": [_e("Users", "Count", "1")],
            "ClientToken": "ct"},
        "extend_license_consumption": {"LicenseConsumptionToken": "t"},
        "check_in_license": {"LicenseConsumptionToken": "t"},
        "get_license": {"LicenseArn": lic.arn},
    }
    request = {k: v for k, v in (base[operation] | params).items() if v is not None}
    assert _code(lambda: getattr(raw, operation)(**request)) == code
    assert lm.seats_in_use(lic.arn) == {}


def test_kms_requests_are_validated_per_the_model(lm: LocalLicenseManager) -> None:
    kms = lm.client("kms", parameter_validation=False,
                    retries={"mode": "standard", "total_max_attempts": 1})
    key = lm.create_key()
    assert kms.get_public_key(KeyId=key.rpartition("/")[2])["KeyId"] == key  # key id or ARN
    assert _code(lambda: kms.get_public_key(KeyId="")) == "ValidationException"
    assert _code(lambda: kms.get_public_key(KeyId="k" * 2049)) == "ValidationException"
    assert _code(lambda: kms.get_public_key(KeyId=key, GrantTokens=["g"] * 11)) == (
        "ValidationException")
    lm.disable_key(key)
    assert _code(lambda: kms.get_public_key(KeyId=key)) == "DisabledException"


def test_the_default_throttle_is_the_services_error(lm: LocalLicenseManager,
                                                    raw: Any) -> None:
    """Model: License Manager's only throttling error is RateLimitExceededException."""
    lm.throttle(1)
    assert _code(lambda: raw.get_license(LicenseArn=ARN)) == "RateLimitExceededException"



def test_change_rewrites_requests_and_answers_until_cleared(lm: LocalLicenseManager,
                                                             raw: Any) -> None:
    """``change()``: a request changed before it is served, an answer after, per operation
    or for all; a change may answer with an AWS error; ``clear_changes()`` ends them."""
    lic = lm.add_license(entitlements={"Users": ("Count", 5)})
    seen: list[str] = []

    def note(body: dict[str, Any]) -> dict[str, Any]:
        seen.append("any")
        return body

    lm.change(request=note)
    lm.change("GetLicense", answer=lambda answer: answer | {"Edited": "yes"})
    assert raw.get_license(LicenseArn=lic.arn)["License"]["LicenseArn"] == lic.arn
    assert lm.changed_answer("GetLicense", {}) == {"Edited": "yes"}
    assert lm.changed_answer("CheckInLicense", {}) == {}  # another operation: as it was
    assert seen == ["any"]

    def refuse(body: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError("AccessDeniedException", "no")

    lm.change("GetLicense", request=refuse)
    assert _code(lambda: raw.get_license(LicenseArn=lic.arn)) == "AccessDeniedException"
    lm.clear_changes()
    assert raw.get_license(LicenseArn=lic.arn)["License"]["LicenseArn"] == lic.arn
    assert seen == ["any", "any"]  # the refused call went through the first change too
