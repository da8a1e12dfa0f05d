"""AWS errors as typed exceptions: the one boundary where botocore errors become ours.

The table covers every error botocore's service models list for the operations the
adapter calls (License Manager 2018-08-01: ``CheckoutBorrowLicense``, ``CheckoutLicense``,
``ExtendLicenseConsumption``, ``CheckInLicense``, ``GetLicense``, ``GetAccessToken``;
KMS 2014-11-01: ``GetPublicKey``), the common errors every AWS JSON service can send for
credentials and signatures, and botocore's own client-side errors.
``tests/test_aws_errors.py`` reads the models' error lists, so a newly modelled error
fails the suite until it is mapped here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)

from .._errors import LicenseTokenError

__all__ = [
    "AccessDenied",
    "AwsError",
    "Conflict",
    "ConnectionFailed",
    "CredentialsRejected",
    "EntitlementNotAllowed",
    "InvalidRequest",
    "KeyUnusable",
    "NoCredentials",
    "NoEntitlementsAllowed",
    "Redirect",
    "ResourceNotFound",
    "ServiceUnavailable",
    "Throttled",
    "UnsupportedSignatureMethod",
    "redirect_region",
    "translate",
]


class AwsError(LicenseTokenError):
    """A License Manager or KMS call failed; ``retryable`` says whether trying later can help.

    Attributes:
        aws_code: The AWS error code (``__type``), when the service answered.
        request_id: The AWS request id, for support cases.
        status: The HTTP status of the answer.
    """

    code: ClassVar[str] = "aws_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, aws_code: str | None = None,
                 request_id: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.aws_code, self.request_id, self.status = aws_code, request_id, status


class Throttled(AwsError):
    """The service's rate limit, still hit once botocore's retries were spent."""

    code, retryable = "aws_throttled", True


class ServiceUnavailable(AwsError):
    """An internal failure or timeout on the service side."""

    code, retryable = "aws_unavailable", True


class ConnectionFailed(AwsError):
    """No answer: connection refused, reset or timed out."""

    code, retryable = "aws_connection_failed", True


class Conflict(AwsError):
    """A conflict processing the request; the model says to try again (``CheckInLicense``)."""

    code, retryable = "aws_conflict", True


class NoEntitlementsAllowed(AwsError):
    """None of the entitlements asked for can be granted now (e.g. no seat left)."""

    code = "aws_no_entitlements_allowed"


class EntitlementNotAllowed(AwsError):
    """An entitlement asked for is not part of the license (borrow is all-or-nothing)."""

    code = "aws_entitlement_not_allowed"


class ResourceNotFound(AwsError):
    """No such license, consumption or KMS key."""

    code = "aws_resource_not_found"


class AccessDenied(AwsError):
    """The caller's identity is not allowed to do this."""

    code = "aws_access_denied"


class CredentialsRejected(AwsError):
    """The service refused the credentials or the signature (expired, unknown, wrong)."""

    code = "aws_credentials_rejected"


class InvalidRequest(AwsError):
    """The request itself is wrong: a parameter, the configuration or botocore's validation."""

    code = "aws_invalid_request"


class KeyUnusable(AwsError):
    """The KMS key exists but cannot give a PS384 public key (disabled, wrong use or state)."""

    code = "aws_key_unusable"


class UnsupportedSignatureMethod(AwsError):
    """The service does not support the digital signature method asked for."""

    code = "aws_unsupported_signature_method"


class NoCredentials(AwsError):
    """No usable AWS credentials or profile: configure them, retrying will not help."""

    code = "aws_no_credentials"


class Redirect(AwsError):
    """The resource lives in another Region: ``location`` says where."""

    code = "aws_redirect"
    location: str | None = None


#: AWS error code -> our class. Retryability is the class's: see ``tests/test_aws_errors.py``.
BY_AWS_CODE: Mapping[str, type[AwsError]] = {
    # License Manager 2018-08-01
    "ValidationException": InvalidRequest,
    "InvalidParameterValueException": InvalidRequest,
    "ResourceNotFoundException": ResourceNotFound,
    "NoEntitlementsAllowedException": NoEntitlementsAllowed,
    "EntitlementNotAllowedException": EntitlementNotAllowed,
    "UnsupportedDigitalSignatureMethodException": UnsupportedSignatureMethod,
    "RedirectException": Redirect,
    "AuthorizationException": AccessDenied,
    "AccessDeniedException": AccessDenied,
    "RateLimitExceededException": Throttled,
    "ServerInternalException": ServiceUnavailable,
    "ConflictException": Conflict,
    # KMS 2014-11-01, GetPublicKey
    "NotFoundException": ResourceNotFound,
    "DisabledException": KeyUnusable,
    "KeyUnavailableException": ServiceUnavailable,
    "DependencyTimeoutException": ServiceUnavailable,
    "UnsupportedOperationException": KeyUnusable,
    "InvalidArnException": InvalidRequest,
    "InvalidGrantTokenException": InvalidRequest,
    "InvalidKeyUsageException": KeyUnusable,
    "KMSInternalException": ServiceUnavailable,
    "KMSInvalidStateException": KeyUnusable,
    # Common to every AWS JSON service (AWS API reference, "Common Errors")
    "ExpiredTokenException": CredentialsRejected,
    "UnrecognizedClientException": CredentialsRejected,
    "InvalidSignatureException": CredentialsRejected,
    "IncompleteSignature": CredentialsRejected,
    "InvalidClientTokenId": CredentialsRejected,
    "MissingAuthenticationToken": CredentialsRejected,
    "MissingAuthenticationTokenException": CredentialsRejected,  # JSON services' spelling
    "SignatureDoesNotMatch": CredentialsRejected,
    "AccessDenied": AccessDenied,
    "ThrottlingException": Throttled,
    "Throttling": Throttled,
    "TooManyRequestsException": Throttled,
    "InternalFailure": ServiceUnavailable,
    "ServiceUnavailable": ServiceUnavailable,
    "InvalidParameterValue": InvalidRequest,
    "InvalidParameterCombination": InvalidRequest,
    "MissingParameter": InvalidRequest,
}


def translate(exc: Exception) -> AwsError:
    """The typed error for a botocore exception.

    Args:
        exc: What botocore raised.

    Returns:
        The matching :class:`AwsError`; an unknown code is a :class:`ServiceUnavailable`
        when the status is 5xx, a bare :class:`AwsError` otherwise.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        aws_code = error.get("Code")
        status = meta.get("HTTPStatusCode")
        cls = BY_AWS_CODE.get(aws_code or "")
        if cls is None:
            cls = ServiceUnavailable if isinstance(status, int) and status >= 500 else AwsError
        translated = cls(f"{aws_code}: {error.get('Message') or exc}", aws_code=aws_code,
                         request_id=meta.get("RequestId"), status=status)
        if isinstance(translated, Redirect):
            translated.location = exc.response.get("Location") or error.get("Location")
        return translated
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return ConnectionFailed(f"cannot reach the service: {exc}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, ProfileNotFound)):
        return NoCredentials(f"AWS credentials: {exc}")
    if isinstance(exc, NoRegionError):
        return InvalidRequest(f"AWS configuration: {exc} (pass region_name or --region)")
    if isinstance(exc, ParamValidationError):
        return InvalidRequest(f"request refused by botocore before sending: {exc}")
    return AwsError(f"AWS SDK error: {exc}")


_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", re.ASCII)
_REGIONAL_HOST = re.compile(
    r"license-manager(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(?:\.cn)?",
    re.ASCII)


def redirect_region(location: str | None) -> str | None:
    """The Region a ``RedirectException``'s ``Location`` names, or ``None``.

    A bare Region name or an ``https`` URL of License Manager's regional endpoint is
    understood; any other host is never contacted (the request is signed for AWS).

    Args:
        location: the exception's ``Location``.

    Returns:
        The Region name, or ``None`` when ``location`` names none that may be followed.
    """
    if not location:
        return None
    if _REGION.fullmatch(location):
        return location
    url = urlsplit(location)
    match = _REGIONAL_HOST.fullmatch(url.hostname or "") if url.scheme == "https" else None
    return match.group(1) if match else None
