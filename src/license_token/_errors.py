"""The whole exception tree, in one dependency-free module; every class has a stable ``code``.

Nothing here imports botocore, the store or the network: the core, the lifecycle and the
Marketplace keeper all test these classes (never code strings), and ``retryable`` is a class
attribute of every one. botocore's exceptions become these in one place only
(``license_token.aws._translate``). The public modules re-export the classes they raise.

```text
LicenseTokenError                      code "error"; (R) marks retryable = True
├── InvalidLicense                     untrusted input was rejected
│   ├── Malformed, UnsupportedAlgorithm, BadSignature, Expired,
│   │   NodeMismatch, LicenseMismatch, EntitlementMissing, EntitlementInsufficient,
│   │   ResponseMismatch, ClockRollback
│   ├── NotYetValid
│   │   └── ClockBehind                behind signed time by more than the store allows
│   └── RequestMismatch                a fetched token that does not answer the request
├── EntitlementAmbiguous (LookupError) a name matches several entitlements
├── ConfigurationError (ValueError)    our side is wrong
│   └── KeyRejected
├── StoreError                         the offline store
│   └── StoreCorrupt, StoreUnavailable, NotInStore
├── NodeIdUnavailable
│   └── ContainerNodeId
└── AwsError                           a License Manager, KMS or STS call failed
    ├── Throttled (R), ServiceUnavailable (R), ConnectionFailed (R), Conflict (R),
    │   NoEntitlementsAllowed, EntitlementNotAllowed, ResourceNotFound, AccessDenied,
    │   InvalidRequest, KeyUnusable, UnsupportedSignatureMethod,
    │   NoCredentials, Redirect, TokenRejected, AnswerUnreadable (R)
    ├── CredentialsRejected
    │   └── CredentialsExpired         expired temporary credentials (refreshed once)
    └── SeatNotReturned                a refused checkout whose seat could not be returned
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime, timedelta
    from pathlib import Path

__all__ = [
    "AccessDenied", "AnswerUnreadable", "AwsError", "BadSignature", "ClockBehind",
    "ClockRollback", "ConfigurationError", "Conflict", "ConnectionFailed", "ContainerNodeId",
    "CredentialsExpired", "CredentialsRejected", "EntitlementAmbiguous",
    "EntitlementInsufficient", "EntitlementMissing", "EntitlementNotAllowed", "Expired",
    "InvalidLicense", "InvalidRequest", "KeyRejected", "KeyUnusable", "LicenseMismatch",
    "LicenseTokenError", "Malformed", "NoCredentials", "NoEntitlementsAllowed",
    "NodeIdUnavailable", "NodeMismatch", "NotInStore", "NotYetValid", "Redirect",
    "RequestMismatch", "ResourceNotFound", "ResponseMismatch", "SeatNotReturned",
    "ServiceUnavailable", "StoreCorrupt", "StoreError", "StoreUnavailable", "Throttled",
    "TokenRejected", "UnsupportedAlgorithm", "UnsupportedSignatureMethod"
]


class LicenseTokenError(Exception):
    """Base of every error this library raises; ``code`` is stable and machine-readable."""

    code: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False
    """Whether trying the same thing later can succeed (a class attribute: test classes)."""


class InvalidLicense(LicenseTokenError):
    """The token or response (untrusted input) was rejected."""

    code = "invalid"


class Malformed(InvalidLicense):
    """Not a well-formed token, response or claim set."""

    code = "malformed"


class UnsupportedAlgorithm(InvalidLicense):
    """The header names an algorithm other than PS384."""

    code = "unsupported_algorithm"


class BadSignature(InvalidLicense):
    """No pinned key verifies the signature."""

    code = "bad_signature"


class Expired(InvalidLicense):
    """``now`` is at or after ``expiration`` + leeway."""

    code = "expired"


class NotYetValid(InvalidLicense):
    """``now`` is before ``issuedAt`` − leeway: the clock reads behind the token's issue time.

    Attributes:
        behind: how far the clock read behind the signed ``issuedAt`` (a signed ``issuedAt``
            is a past instant of the service's clock, so this is how slow the clock is, at
            least).
    """

    code = "not_yet_valid"
    behind: timedelta | None = None


class ClockBehind(NotYetValid):
    """The clock reads behind a token's signed ``issuedAt`` by more than the store tolerates.

    The store and the startup accept a clock that is behind by up to the store's
    ``rollback_tolerance`` (see ``docs/explanation/trusted-time.md``); beyond that the
    clock must be set right. ``behind`` says by how much it is slow.
    """

    code = "clock_behind"


class NodeMismatch(InvalidLicense):
    """The token is bound to another node, or to none when one is required."""

    code = "node_mismatch"


class LicenseMismatch(InvalidLicense):
    """The token is for another license ARN than the one pinned."""

    code = "license_mismatch"


class EntitlementMissing(InvalidLicense):
    """No entitlement with the required name (and unit)."""

    code = "entitlement_missing"


class EntitlementInsufficient(InvalidLicense):
    """The entitlement exists but its value is below the required minimum."""

    code = "entitlement_insufficient"


class EntitlementAmbiguous(LicenseTokenError, LookupError):
    """A name (and unit) matches several entitlements and nothing says which one is meant."""

    code = "entitlement_ambiguous"


class ResponseMismatch(InvalidLicense):
    """An unsigned response field disagrees with its signed twin: the response was altered."""

    code = "response_mismatch"


class ClockRollback(InvalidLicense):
    """The clock reads earlier than time already seen: it was probably turned back."""

    code = "clock_rollback"


class ConfigurationError(LicenseTokenError, ValueError):
    """Our side is wrong: a bad key, requirement, leeway or clock value."""

    code = "configuration"


class KeyRejected(ConfigurationError):
    """Key material that is not an RSA public key of at least 2048 bits."""

    code = "key_rejected"


class StoreError(LicenseTokenError):
    """The store could not be read or written; ``path`` names the file."""

    code = "store_error"

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class StoreCorrupt(StoreError):
    """A stored file is truncated, garbled, foreign or of an unknown version."""

    code = "store_corrupt"


class StoreUnavailable(StoreError):
    """The store cannot be used: a file cannot be written, read or locked.

    Disk full, read-only, permissions, an unreadable ``lifecycle.json``, a lock held too long.
    A failed save puts back what it had replaced: nothing changed, unless ``written`` names
    files that could not be put back (they hold what that save wrote).
    """

    code = "store_unavailable"
    written: tuple[Path, ...] = ()


class NotInStore(StoreError):
    """No checkout is stored for that license."""

    code = "not_in_store"


class NodeIdUnavailable(LicenseTokenError):
    """No machine identifier can be read here; pass your own ``node_id`` instead."""

    code = "node_id_unavailable"


class ContainerNodeId(NodeIdUnavailable):
    """This process runs in a container, whose machine ID an image may share.

    Use ``installation_node_id()`` or ``derive_node_id()``, or mount the host's
    machine ID into the container, or pass ``allow_container=True`` when you know the
    machine ID in this container is its own.
    """

    code = "node_id_container"


class AwsError(LicenseTokenError):
    """A License Manager or KMS call failed; ``retryable`` says whether trying later can help.

    Attributes:
        aws_code: The AWS error code (``__type``), when the service answered.
        request_id: The AWS request id, for support cases.
        status: The HTTP status of the answer.
    """

    code: ClassVar[str] = "aws_error"

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


class CredentialsExpired(CredentialsRejected):
    """The temporary credentials had expired (``ExpiredTokenException``).

    botocore refreshes credentials by the local clock: a slow clock keeps using expired
    ones. Credentials from a license token are refreshed once, at once, after this error.
    """

    code = "aws_credentials_expired"


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


class AnswerUnreadable(AwsError):
    """The AWS SDK failed on the call's answer (a garbled, cut or foreign body).

    The request may have been served, so the same request (same ``ClientToken``) is tried
    again later; ``sdk_error`` names the SDK's exception type.
    """

    code, retryable = "aws_answer_unreadable", True
    sdk_error: str | None = None


class RequestMismatch(InvalidLicense):
    """A genuine token that does not answer the request.

    It is for another license or node, or grants less than was asked. The consumption has
    been checked back in.
    """

    code = "request_mismatch"


class SeatNotReturned(AwsError):
    """A fetched checkout was refused (``reason``) and its seat may still be held.

    Checking it back in failed, or the answer (cut, unsigned, not verifiable) names no
    consumption a pinned key signed. ``consumption_token`` (signed; ``None`` when unknown)
    names the seat held until ``expires_at``: check it in later (``LicenseManager.check_in``),
    or let it expire. ``client_token`` is the checkout's ``ClientToken``: the same one
    fetches the same seat again while it is held. ``response`` is the raw answer.
    """

    code = "aws_seat_not_returned"

    def __init__(self, message: str, *, reason: LicenseTokenError,
                 consumption_token: str | None, response: Mapping[str, Any],
                 expires_at: datetime | None, client_token: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.consumption_token = reason, consumption_token
        self.response, self.expires_at, self.client_token = response, expires_at, client_token


class TokenRejected(AwsError):
    """License Manager or STS refused the token, the access token or the role.

    The token is unknown, expired or deleted, or the role does not trust License
    Manager's tokens: ask the license administrator for a new token. Retrying will not help.
    """

    code = "aws_token_rejected"
