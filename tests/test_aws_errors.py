"""Every error botocore's models list for the operations we call maps to a typed error.

The cases are read from botocore's own service models, so an error AWS adds to one of
these operations fails here until ``aws._translate.BY_AWS_CODE`` (and ``EXPECTED``) maps it.
Each error is sent by the emulator over HTTP and received by a real boto3 client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from license_token.aws import (
    AccessDenied,
    AwsError,
    Conflict,
    CredentialsExpired,
    CredentialsRejected,
    EntitlementNotAllowed,
    InvalidRequest,
    KeyUnusable,
    LicenseManager,
    NoEntitlementsAllowed,
    Redirect,
    ResourceNotFound,
    ServiceUnavailable,
    Throttled,
    UnsupportedSignatureMethod,
)
from license_token.aws._translate import translate
from license_token.testing import LocalLicenseManager

OPERATIONS = {
    "license-manager": ["CheckoutBorrowLicense", "CheckoutLicense", "ExtendLicenseConsumption",
                        "CheckInLicense", "GetLicense", "GetAccessToken"],
    "kms": ["GetPublicKey"],
}
#: AWS API reference, "Common Errors": credential and signature failures.
COMMON_AUTH_ERRORS = ["ExpiredTokenException", "UnrecognizedClientException",
                      "InvalidSignatureException", "IncompleteSignature", "InvalidClientTokenId"]
#: AWS code -> (our class, retryable). Retryable: throttling, internal failures and
#: timeouts, and ``ConflictException`` ("Try your request again", says the model).
EXPECTED: dict[str, tuple[type[AwsError], bool]] = {
    "ValidationException": (InvalidRequest, False),
    "InvalidParameterValueException": (InvalidRequest, False),
    "ResourceNotFoundException": (ResourceNotFound, False),
    "NoEntitlementsAllowedException": (NoEntitlementsAllowed, False),
    "EntitlementNotAllowedException": (EntitlementNotAllowed, False),
    "UnsupportedDigitalSignatureMethodException": (UnsupportedSignatureMethod, False),
    "RedirectException": (Redirect, False),
    "AuthorizationException": (AccessDenied, False),
    "AccessDeniedException": (AccessDenied, False),
    "RateLimitExceededException": (Throttled, True),
    "ServerInternalException": (ServiceUnavailable, True),
    "ConflictException": (Conflict, True),
    "NotFoundException": (ResourceNotFound, False),
    "DisabledException": (KeyUnusable, False),
    "KeyUnavailableException": (ServiceUnavailable, True),
    "DependencyTimeoutException": (ServiceUnavailable, True),
    "UnsupportedOperationException": (KeyUnusable, False),
    "InvalidArnException": (InvalidRequest, False),
    "InvalidGrantTokenException": (InvalidRequest, False),
    "InvalidKeyUsageException": (KeyUnusable, False),
    "KMSInternalException": (ServiceUnavailable, True),
    "KMSInvalidStateException": (KeyUnusable, False),
    **{code: (CredentialsRejected, False) for code in COMMON_AUTH_ERRORS},
    "ExpiredTokenException": (CredentialsExpired, False),  # refreshed once, then raised
}
ARN = "arn:aws:license-manager::123456789012:license:l-0123456789abcdef0123456789abcdef"
ENTITLEMENTS = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
PARAMS: dict[str, dict[str, Any]] = {
    "CheckoutBorrowLicense": {"LicenseArn": ARN, "Entitlements": ENTITLEMENTS,
                              "DigitalSignatureMethod": "JWT_PS384", "ClientToken": "ct"},
    "CheckoutLicense": {"ProductSKU": "sku", "CheckoutType": "PROVISIONAL",
                        "KeyFingerprint": "aws:1:x:issuer-fingerprint",
                        "Entitlements": ENTITLEMENTS, "ClientToken": "ct"},
    "ExtendLicenseConsumption": {"LicenseConsumptionToken": "t"},
    "CheckInLicense": {"LicenseConsumptionToken": "t"},
    "GetLicense": {"LicenseArn": ARN},
    "GetPublicKey": {"KeyId": "arn:aws:kms:us-east-1:123456789012:key/k"},
    "GetAccessToken": {"Token": "refresh-token"},
}


def _modelled() -> list[tuple[str, str, str]]:
    session = botocore.session.get_session()
    cases = []
    for service, operations in OPERATIONS.items():
        model = session.get_service_model(service)
        for operation in operations:
            for shape in model.operation_model(operation).error_shapes:
                cases.append((service, operation, shape.error_code or shape.name))
            cases += [(service, operation, code) for code in COMMON_AUTH_ERRORS]
    return cases


MODELLED = _modelled()


@pytest.fixture(scope="module")
def emulator() -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager() as running:
        yield running


@pytest.fixture(scope="module")
def clients(emulator: LocalLicenseManager) -> dict[str, Any]:
    """One client per service, without retries: every error is seen at once."""
    return {service: emulator.client(service, retries={"mode": "standard",
                                                       "total_max_attempts": 1})
            for service in OPERATIONS}


def _method_name(client: Any, operation: str) -> str:
    names: dict[str, str] = {api: method for method, api in
                             client.meta.method_to_api_mapping.items()}
    return names[operation]


def test_the_models_list_what_this_test_expects() -> None:
    """Counts from botocore's data: a model change shows up here first."""
    assert len({code for _, _, code in MODELLED}) == len(EXPECTED)
    assert len(MODELLED) == 57 + 5 * 7


@pytest.mark.parametrize(("service", "operation", "aws_code"), MODELLED,
                         ids=[f"{op}-{code}" for _, op, code in MODELLED])
def test_every_modelled_error_is_typed_with_its_retryability(
        emulator: LocalLicenseManager, clients: dict[str, Any], service: str, operation: str,
        aws_code: str) -> None:
    assert aws_code in EXPECTED, f"{aws_code} of {operation} is not mapped"
    cls, retryable = EXPECTED[aws_code]
    client = clients[service]
    status = 500 if "Internal" in aws_code else 400
    emulator.fail_with(aws_code, status=status)
    method = getattr(client, _method_name(client, operation))
    with pytest.raises(ClientError) as info:
        method(**PARAMS[operation])
    translated = translate(info.value)
    assert type(translated) is cls
    assert translated.retryable is retryable
    assert translated.aws_code == aws_code and translated.status == status
    assert translated.request_id


def test_a_redirect_carries_its_location(license_manager: LocalLicenseManager) -> None:
    client = license_manager.client(retries={"mode": "standard", "total_max_attempts": 1})
    license_manager.fail_with("RedirectException",
                              Location="https://license-manager.eu-west-1.amazonaws.com")
    with pytest.raises(ClientError) as info:
        client.get_license(LicenseArn=ARN)
    translated = translate(info.value)
    assert isinstance(translated, Redirect)
    assert translated.location == "https://license-manager.eu-west-1.amazonaws.com"


def test_botocore_param_validation_is_an_invalid_request(
        license_manager: LocalLicenseManager) -> None:
    """botocore refuses a mistyped parameter before sending: typed, not a bare AwsError."""
    manager = LicenseManager(verifier=None, client=license_manager.client())  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="before sending") as info:
        manager.check_in(12345)  # type: ignore[arg-type]
    assert not info.value.retryable
    assert license_manager.requests == []


def test_an_unsigned_call_where_signatures_are_required_is_credentials_rejected(
        emulator: LocalLicenseManager, clients: dict[str, Any]) -> None:
    """The emulator's identity service answers as AWS JSON services do (HTTP 403)."""
    unsigned = emulator.client(signature_version=UNSIGNED,
                               retries={"mode": "standard", "total_max_attempts": 1})
    emulator.identity.require_issued_credentials = True
    try:
        for client, aws_code in ((clients["license-manager"], "UnrecognizedClientException"),
                                 (unsigned, "MissingAuthenticationTokenException")):
            with pytest.raises(ClientError) as info:
                client.check_in_license(LicenseConsumptionToken="t")
            translated = translate(info.value)
            assert type(translated) is CredentialsRejected
            assert (translated.aws_code, translated.status) == (aws_code, 403)
    finally:
        emulator.identity.require_issued_credentials = False


def test_an_unknown_code_is_a_bare_aws_error_or_unavailable_when_5xx(
        license_manager: LocalLicenseManager) -> None:
    client = license_manager.client(retries={"mode": "standard", "total_max_attempts": 1})
    for status, cls in ((400, AwsError), (503, ServiceUnavailable)):
        license_manager.fail_with("SomethingNewException", status=status)
        with pytest.raises(ClientError) as info:
            client.check_in_license(LicenseConsumptionToken="t")
        assert type(translate(info.value)) is cls


def test_make_client_turns_a_bad_endpoint_into_invalid_request() -> None:
    from license_token.aws import InvalidRequest
    from license_token.aws._client import make_client

    with pytest.raises(InvalidRequest, match="notaurl"):
        make_client("kms", region_name="us-east-1", endpoint_url="notaurl")
