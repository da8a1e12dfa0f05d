"""The one place where botocore's exceptions become the library's typed errors.

The table covers every error botocore's service models list for the operations the
adapter calls (License Manager 2018-08-01: ``CheckoutBorrowLicense``, ``CheckoutLicense``,
``ExtendLicenseConsumption``, ``CheckInLicense``, ``GetLicense``, ``GetAccessToken``;
KMS 2014-11-01: ``GetPublicKey``), the common errors every AWS JSON service can send for
credentials and signatures, and botocore's own client-side errors. botocore is imported
by ``translate()`` only (an exception to translate comes from it): the table and
``redirect_region()`` are read without it.
``tests/test_aws_errors.py`` reads the models' error lists, so a newly modelled error
fails the suite until it is mapped here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .._errors import (
    AccessDenied,
    AnswerUnreadable,
    AwsError,
    Conflict,
    ConnectionFailed,
    CredentialsExpired,
    CredentialsRejected,
    EntitlementNotAllowed,
    InvalidRequest,
    KeyUnusable,
    NoCredentials,
    NoEntitlementsAllowed,
    Redirect,
    ResourceNotFound,
    ServiceUnavailable,
    Throttled,
    UnsupportedSignatureMethod,
)
from .._log import Log

__all__ = ["BY_AWS_CODE", "redirect_region", "translate"]

log = Log("license_token.aws")


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
    "ExpiredTokenException": CredentialsExpired,
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
"""AWS error code -> our class. Retryability is the class's: see ``tests/test_aws_errors.py``."""


def translate(exc: Exception) -> AwsError:
    """The typed error for an exception out of a boto call.

    Args:
        exc: What botocore (or boto3, or anything they called) raised.

    Returns:
        The matching ``AwsError``; an unknown code is a ``ServiceUnavailable`` when the
        status is 5xx, a bare ``AwsError`` otherwise. An answer botocore could not read (its
        parser's ``ResponseParserError``, or any other exception that is not one of
        botocore's, e.g. ``AttributeError`` on a ``200`` body of ``null``) is a retryable
        ``AnswerUnreadable``, logged with the exception's type.
    """
    from botocore import exceptions as sdk  # loaded already: the call went through botocore

    if not isinstance(exc, (sdk.ClientError, sdk.BotoCoreError)):  # the parser's errors too
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        log.warning("the AWS SDK failed on an answer (%s: %s): retried later", kind, exc)
        unreadable = AnswerUnreadable(f"the AWS SDK could not read the answer ({kind}: {exc})")
        unreadable.sdk_error = kind
        return unreadable
    if isinstance(exc, sdk.ClientError):
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
    if isinstance(exc, (sdk.ConnectionError, sdk.HTTPClientError)):
        return ConnectionFailed(f"cannot reach the service: {exc}")
    if isinstance(exc, (sdk.NoCredentialsError, sdk.PartialCredentialsError,
                        sdk.ProfileNotFound)):
        return NoCredentials(f"AWS credentials: {exc}")
    if isinstance(exc, sdk.NoRegionError):
        return InvalidRequest(f"AWS configuration: {exc} (pass region_name or --region)")
    if isinstance(exc, sdk.ParamValidationError):
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
