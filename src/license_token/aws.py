"""The thin boto3 adapter: checkout (borrow), extend, check-in, KMS public key.

Install with ``pip install 'license-token[aws]'``. Every token fetched is verified with
the caller's :class:`~license_token.Verifier` before it is returned; AWS errors become
typed :class:`AwsError` subclasses carrying the AWS code, request id and whether a retry
can help. Retries are botocore's own (``standard`` mode by default); one logical checkout
keeps one ``ClientToken`` across them, so a retry never takes a second seat.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import attrs

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        f"license_token.aws needs boto3 ({_missing}): install license-token[aws]",
        name=__name__,
    ) from _missing

from ._claims import Entitlement
from ._errors import LicenseTokenError
from ._keys import PinnedKey, TrustStore
from ._verify import VerifiedLicense, Verifier

__all__ = [
    "AccessDenied",
    "AwsError",
    "Checkout",
    "Conflict",
    "ConnectionFailed",
    "EntitlementNotAllowed",
    "InvalidRequest",
    "LicenseManager",
    "NoCredentials",
    "NoEntitlementsAllowed",
    "PublicKey",
    "Redirect",
    "ResourceNotFound",
    "ServiceUnavailable",
    "Throttled",
    "UnsupportedSignatureMethod",
    "fetch_public_key",
]

T = TypeVar("T")


class AwsError(LicenseTokenError):
    """A License Manager or KMS call failed."""

    code: ClassVar[str] = "aws_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, aws_code: str | None = None,
                 request_id: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.aws_code, self.request_id, self.status = aws_code, request_id, status


class Throttled(AwsError):
    code, retryable = "aws_throttled", True


class ServiceUnavailable(AwsError):
    code, retryable = "aws_unavailable", True


class ConnectionFailed(AwsError):
    code, retryable = "aws_connection_failed", True


class NoEntitlementsAllowed(AwsError):
    code = "aws_no_entitlements_allowed"


class EntitlementNotAllowed(AwsError):
    code = "aws_entitlement_not_allowed"


class ResourceNotFound(AwsError):
    code = "aws_resource_not_found"


class AccessDenied(AwsError):
    code = "aws_access_denied"


class InvalidRequest(AwsError):
    code = "aws_invalid_request"


class UnsupportedSignatureMethod(AwsError):
    code = "aws_unsupported_signature_method"


class Conflict(AwsError):
    code = "aws_conflict"


class NoCredentials(AwsError):
    """No usable AWS credentials or profile: configure them, retrying will not help."""

    code = "aws_no_credentials"


class Redirect(AwsError):
    """The resource lives in another Region: ``location`` says where."""

    code = "aws_redirect"
    location: str | None = None


_BY_AWS_CODE: Mapping[str, type[AwsError]] = {
    "RateLimitExceededException": Throttled, "ThrottlingException": Throttled,
    "Throttling": Throttled, "TooManyRequestsException": Throttled,
    "ServerInternalException": ServiceUnavailable, "InternalFailure": ServiceUnavailable,
    "ServiceUnavailable": ServiceUnavailable, "KMSInternalException": ServiceUnavailable,
    "NoEntitlementsAllowedException": NoEntitlementsAllowed,
    "EntitlementNotAllowedException": EntitlementNotAllowed,
    "ResourceNotFoundException": ResourceNotFound, "NotFoundException": ResourceNotFound,
    "AccessDeniedException": AccessDenied, "AuthorizationException": AccessDenied,
    "ValidationException": InvalidRequest, "InvalidParameterValueException": InvalidRequest,
    "InvalidKeyUsageException": InvalidRequest, "DisabledException": InvalidRequest,
    "UnsupportedDigitalSignatureMethodException": UnsupportedSignatureMethod,
    "RedirectException": Redirect, "ConflictException": Conflict,
}


def translate(exc: Exception) -> AwsError:
    """The one boundary where botocore errors become ours."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        aws_code = error.get("Code")
        status = meta.get("HTTPStatusCode")
        cls = _BY_AWS_CODE.get(aws_code or "")
        if cls is None:
            cls = ServiceUnavailable if isinstance(status, int) and status >= 500 else AwsError
        translated = cls(f"{aws_code}: {error.get('Message') or exc}", aws_code=aws_code,
                         request_id=meta.get("RequestId"), status=status)
        if isinstance(translated, Redirect):
            translated.location = error.get("Location") or exc.response.get("Location")
        return translated
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return ConnectionFailed(f"cannot reach the service: {exc}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, ProfileNotFound)):
        return NoCredentials(f"AWS credentials: {exc}")
    if isinstance(exc, NoRegionError):
        return InvalidRequest(f"AWS configuration: {exc} (pass region_name or --region)")
    return AwsError(f"AWS SDK error: {exc}")


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc


def make_client(service: str, *, client: Any = None, session: Any = None,
                region_name: str | None = None, profile_name: str | None = None,
                endpoint_url: str | None = None, retry_mode: str = "standard",
                max_attempts: int = 5) -> Any:
    """A boto3 client with botocore's retry mode configured; a given client is used as is."""
    if client is not None:
        return client
    config = Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts})
    with _translated():
        session = session or boto3.session.Session(profile_name=profile_name,
                                                   region_name=region_name)
        return session.client(service, endpoint_url=endpoint_url, config=config)


@attrs.frozen(kw_only=True)
class Checkout:
    """A verified checkout: the license, and the raw response to save for offline use."""

    license: VerifiedLicense | None
    response: Mapping[str, Any]
    client_token: str


@attrs.frozen(kw_only=True)
class PublicKey:
    """A KMS public key, checked for PS384 use: pin ``pem`` in the app."""

    key_id: str
    pem: bytes
    trust_store: TrustStore

    @property
    def pinned(self) -> PinnedKey:
        return self.trust_store.keys[0]


def _entitlement_data(entitlements: Sequence[Entitlement | Mapping[str, str]]) -> list[Any]:
    data = []
    for e in entitlements:
        if isinstance(e, Entitlement):
            item = {"Name": e.name, "Unit": e.unit} | ({"Value": e.value} if e.value else {})
        else:
            item = dict(e)
        data.append(item)
    if not data:
        raise InvalidRequest("at least one entitlement is needed")
    return data


class LicenseManager:
    """License Manager calls for one app; ``verifier`` checks every token fetched."""

    def __init__(self, verifier: Verifier, *, client: Any = None, **client_options: Any) -> None:
        self.verifier = verifier
        self.client = make_client("license-manager", client=client, **client_options)

    def _call(self, operation: Callable[..., T], **params: Any) -> T:
        with _translated():
            return operation(**{k: v for k, v in params.items() if v is not None})

    def checkout_borrow(self, license_arn: str,
                        entitlements: Sequence[Entitlement | Mapping[str, str]], *,
                        node_id: str | None = None, metadata: Mapping[str, str] | None = None,
                        client_token: str | None = None) -> Checkout:
        """``CheckoutBorrowLicense`` with PS384; the token is verified before returning."""
        client_token = client_token or uuid.uuid4().hex
        response = self._call(
            self.client.checkout_borrow_license, LicenseArn=license_arn,
            Entitlements=_entitlement_data(entitlements), DigitalSignatureMethod="JWT_PS384",
            NodeId=node_id, ClientToken=client_token,
            CheckoutMetadata=[{"Name": k, "Value": v} for k, v in (metadata or {}).items()]
            or None,
        )
        return Checkout(license=self.verifier.verify(response), response=response,
                        client_token=client_token)

    def checkout(self, product_sku: str, key_fingerprint: str,
                 entitlements: Sequence[Entitlement | Mapping[str, str]], *,
                 checkout_type: str = "PROVISIONAL", node_id: str | None = None,
                 beneficiary: str | None = None, client_token: str | None = None) -> Checkout:
        """``CheckoutLicense`` for online apps; a ``SignedToken`` in the answer is verified."""
        client_token = client_token or uuid.uuid4().hex
        response = self._call(
            self.client.checkout_license, ProductSKU=product_sku, CheckoutType=checkout_type,
            KeyFingerprint=key_fingerprint, Entitlements=_entitlement_data(entitlements),
            NodeId=node_id, Beneficiary=beneficiary, ClientToken=client_token,
        )
        verified = self.verifier.verify(response) if response.get("SignedToken") else None
        return Checkout(license=verified, response=response, client_token=client_token)

    def extend(self, consumption_token: str, *, dry_run: bool = False) -> Mapping[str, Any]:
        """``ExtendLicenseConsumption``: the new ``Expiration`` of the consumption."""
        return self._call(self.client.extend_license_consumption,
                          LicenseConsumptionToken=consumption_token, DryRun=dry_run)

    def check_in(self, consumption_token: str, *, beneficiary: str | None = None) -> None:
        """``CheckInLicense``: return the seats."""
        self._call(self.client.check_in_license, LicenseConsumptionToken=consumption_token,
                   Beneficiary=beneficiary)


def fetch_public_key(kms_key_id: str, *, client: Any = None, **client_options: Any) -> PublicKey:
    """KMS ``GetPublicKey``, checked (RSA, ``RSASSA_PSS_SHA_384``), ready to pin."""
    kms = make_client("kms", client=client, **client_options)
    with _translated():
        response = kms.get_public_key(KeyId=kms_key_id)
    store = TrustStore.from_kms_public_key(response)
    return PublicKey(key_id=str(response.get("KeyId", kms_key_id)), pem=store.keys[0].to_pem(),
                     trust_store=store)
