"""AWS credentials for machines that have none: a License Manager token, exchanged.

AWS's path for customers without AWS credentials: their license administrator creates a
token for the software (License Manager ``CreateToken``); the software exchanges it with
License Manager ``GetAccessToken`` for an access token, then with STS
``AssumeRoleWithWebIdentity`` for temporary credentials, and calls the checkout APIs with
those. Both exchanges are unsigned calls. The credentials are botocore's own
refreshable credentials (``DeferredRefreshableCredentials`` fed by botocore's
``AssumeRoleWithWebIdentityCredentialFetcher``): botocore decides when to refresh.

The token is a secret: ``repr`` hides it, and it, the access token and the temporary
credentials are removed from botocore's debug log records (which print request and
response bodies)::

    session = token_session(LicenseToken.from_file("/etc/acme/license-token"),
                            role_arn="arn:aws:iam::123456789012:role/AWSLicenseManagerConsumptionRole",
                            region_name="us-east-1")
    manager = LicenseManager(verifier, session=session)
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    import boto3
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.credentials import (
        AssumeRoleWithWebIdentityCredentialFetcher,
        CredentialProvider,
        CredentialResolver,
        DeferredRefreshableCredentials,
    )
    from botocore.exceptions import ClientError
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        f"license_token.aws.credentials needs boto3 ({_missing}): install license-token[aws]",
        name=__name__,
    ) from _missing

from .._errors import (
    ConfigurationError,
    InvalidRequest,
    LicenseTokenError,
    NoCredentials,
    TokenRejected,
)
from .._files import read_bounded
from ._refresh import ExpiringCredentials, register_refresh_on_expiry
from ._retry import install_retries
from ._translate import translate

__all__ = [
    "LicenseToken",
    "LicenseTokenCredentialProvider",
    "TokenRejected",
    "token_credentials",
    "token_session",
]

_MAX_TOKEN = 16 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+", re.ASCII)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", re.ASCII)
_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 5})


_BOTOCORE_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.auth", "botocore.hooks",
                     "botocore.credentials")
"""botocore's loggers that print request and response bodies or signed headers at DEBUG."""


_SECRET_FIELDS = (
    (re.compile(r'("(?:Access)?Token"\s*:\s*")[^"]*(")'), r"\1<redacted>\2"),
    (re.compile(r"<(SecretAccessKey|SessionToken)>[^<]*</"), r"<\1><redacted></"),
    (re.compile(r"((?:WebIdentity)?Token=)[^&'\s]*"), r"\1<redacted>"),
)
"""Secret-bearing fields in the bodies botocore logs (JSON, XML, form-encoded)."""


class _Redactor(logging.Filter):
    """Removes the token exchange's secrets from botocore's debug log records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: deque[str] = deque(maxlen=64)
        self._lock = threading.Lock()
        self._installed = False

    def remember(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.extend(s for s in secrets if s and s not in self._secrets)
            if not self._installed:
                for name in _BOTOCORE_LOGGERS:
                    logging.getLogger(name).addFilter(self)
                self._installed = True

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is the handler's business
            return True
        redacted = message
        if "Token" in redacted or "SecretAccessKey" in redacted:
            for pattern, replacement in _SECRET_FIELDS:
                redacted = pattern.sub(replacement, redacted)
        for secret in tuple(self._secrets):
            redacted = redacted.replace(secret, "<redacted>")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _Redactor()


class LicenseToken:
    """The refresh token from ``CreateToken``, read from a file or given as a string.

    A file is read each time the token is needed, so a replaced file is picked up. The
    token is never shown (``repr`` hides it).

    Args:
        value: The token itself.
        path: A file holding the token (surrounding white space is ignored).
    """

    __slots__ = ("_path", "_value")

    def __init__(self, value: str | None = None, *,
                 path: str | os.PathLike[str] | None = None) -> None:
        if (value is None) == (path is None):
            raise ConfigurationError("give the license token as a value or a path: exactly one")
        self._value = None if value is None else _checked(value, "the license token")
        self._path = None if path is None else Path(path)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LicenseToken:
        """A token kept in ``path`` (read when credentials are needed, never cached).

        Args:
            path: the file holding the token.

        Returns:
            The token reference.
        """
        return cls(path=path)

    def __repr__(self) -> str:
        where = f"path={str(self._path)!r}" if self._path is not None else "value=<hidden>"
        return f"LicenseToken({where})"

    def read(self) -> str:
        """The token.

        Raises:
            ConfigurationError: The file cannot be read, or holds no well-formed token.
        """
        if self._value is not None or self._path is None:
            return self._value or ""
        try:
            data = read_bounded(self._path, _MAX_TOKEN)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the license token file {self._path}: "
                                     f"{exc.strerror}") from exc
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(f"{self._path} does not hold a license token") from None
        return _checked(text, str(self._path))


def _checked(value: object, what: str) -> str:
    """The token, stripped; its value is never put in a message."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string")
    token = value.strip()
    if not token or len(token) > _MAX_TOKEN or _TOKEN.fullmatch(token) is None:
        raise ConfigurationError(f"{what} is not a well-formed token (expected one line "
                                 "of base64url text, as CreateToken returns)")
    return token


@contextmanager
def _exchange(step: str) -> Iterator[None]:
    """AWS errors of an exchange step: refusals become ``TokenRejected``."""
    try:
        yield
    except ClientError as exc:
        translated = translate(exc)
        if translated.retryable:
            raise translated from exc
        raise TokenRejected(f"{step}: {translated}", aws_code=translated.aws_code,
                            request_id=translated.request_id, status=translated.status) from exc
    except LicenseTokenError:
        raise
    except Exception as exc:  # botocore's own, or any other out of its parser or handlers
        raise translate(exc) from exc


class _NoCache(dict[str, Any]):
    """botocore's fetcher cache, disabled: the refreshable credentials hold the one copy."""

    def __contains__(self, key: object) -> bool:
        return False


class LicenseTokenCredentialProvider(CredentialProvider):  # type: ignore[misc]
    """A botocore credential provider for the token exchange (see the module docs).

    Args:
        token: The license token.
        role_arn: The role to assume, e.g. ``AWSLicenseManagerConsumptionRole``.
        region_name: The license's home Region (the exchange must be made there).
        endpoint_url: License Manager's endpoint, if not AWS's (e.g. the emulator).
        sts_endpoint_url: STS's endpoint, if not AWS's; ``endpoint_url`` by default.
        session_name: ``RoleSessionName`` (shows in the customer's CloudTrail).
        duration_seconds: ``DurationSeconds``; STS's default (one hour) if ``None``.
        time_fetcher: botocore's clock for refresh decisions (an aware ``datetime``).
    """

    METHOD = "license-manager-token"
    CANONICAL_NAME = "LicenseManagerToken"

    def __init__(self, token: LicenseToken | str, role_arn: str, *, region_name: str,
                 endpoint_url: str | None = None, sts_endpoint_url: str | None = None,
                 session_name: str = "license-token", duration_seconds: int | None = None,
                 time_fetcher: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        if isinstance(token, str):
            token = LicenseToken(token)
        if not isinstance(token, LicenseToken):
            raise ConfigurationError("token must be a LicenseToken or a string")
        if not isinstance(role_arn, str) or _ROLE_ARN.fullmatch(role_arn) is None:
            raise ConfigurationError(f"{role_arn!r} is not an IAM role ARN")
        if not region_name:
            raise ConfigurationError("region_name is required: the license's home Region")
        self.token, self.role_arn, self.region_name = token, role_arn, region_name
        self._endpoint_url = endpoint_url
        self._sts_endpoint_url = sts_endpoint_url or endpoint_url
        self._plain = botocore.session.Session()
        extra: dict[str, Any] = {"RoleSessionName": session_name}
        if duration_seconds is not None:
            extra["DurationSeconds"] = duration_seconds
        self._fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=self._sts_client, web_identity_token_loader=self._access_token,
            role_arn=role_arn, extra_args=extra, cache=_NoCache())
        self._time_fetcher = time_fetcher
        self.loaded: ExpiringCredentials | None = None
        """The credentials ``load()`` made last, or ``None``."""

    def __repr__(self) -> str:
        return (f"LicenseTokenCredentialProvider(token={self.token!r}, "
                f"role_arn={self.role_arn!r}, region_name={self.region_name!r})")

    def _create_client(self, service: str, endpoint_url: str | None, config: Config) -> Any:
        try:
            return self._plain.create_client(service, region_name=self.region_name,
                                             endpoint_url=endpoint_url, config=config)
        except ValueError as exc:  # botocore's plain ValueError for an unusable endpoint URL
            raise InvalidRequest(f"{service}: {exc}") from exc

    def _sts_client(self, service: str, config: Config | None = None) -> Any:
        return self._create_client(service, self._sts_endpoint_url,
                                   _RETRIES.merge(config) if config else _RETRIES)

    def _access_token(self) -> str:
        """License Manager ``GetAccessToken`` (unsigned): a fresh access token."""
        client = self._create_client("license-manager", self._endpoint_url,
                                     _RETRIES.merge(Config(signature_version=UNSIGNED)))
        install_retries(client)  # License Manager's own RateLimitExceededException too
        try:
            token = self.token.read()
        except ConfigurationError as exc:  # e.g. a file missing or empty mid-rotation
            raise NoCredentials(f"no credentials now: {exc}") from exc
        _REDACTOR.remember(token)
        with _exchange("License Manager GetAccessToken"):
            access: str = client.get_access_token(Token=token)["AccessToken"]
        _REDACTOR.remember(access)
        return access

    def _fetch(self) -> dict[str, Any]:
        with _exchange("STS AssumeRoleWithWebIdentity"):
            credentials: dict[str, Any] = self._fetcher.fetch_credentials()
        _REDACTOR.remember(credentials.get("secret_key"), credentials.get("token"))
        return credentials

    def load(self) -> DeferredRefreshableCredentials:
        """Refreshable credentials; nothing is fetched until the first signed call.

        They are refreshed by botocore's clock, and at once (once per call) when the
        service says they have expired, if the session was made by ``token_session()``.
        """
        options = {} if self._time_fetcher is None else {"time_fetcher": self._time_fetcher}
        self.loaded = ExpiringCredentials(refresh_using=self._fetch, method=self.METHOD,
                                          **options)
        return self.loaded


def token_credentials(token: LicenseToken | str, role_arn: str, *, region_name: str,
                      **options: Any) -> DeferredRefreshableCredentials:
    """Refreshable temporary credentials from a license token.

    Args:
        token: The license token (a ``LicenseToken``, or the token as a string).
        role_arn: The role to assume.
        region_name: The license's home Region.
        **options: For ``LicenseTokenCredentialProvider``.

    Returns:
        botocore credentials that fetch on first use and refresh before they expire.

    Raises:
        ConfigurationError: A malformed token, role ARN or Region.
    """
    return LicenseTokenCredentialProvider(token, role_arn, region_name=region_name,
                                          **options).load()


def token_session(token: LicenseToken | str, role_arn: str, *, region_name: str,
                  **options: Any) -> boto3.session.Session:
    """A boto3 session whose only credentials come from the license token.

    Pass it on: ``LicenseManager(verifier, session=token_session(...))``. The CLI's
    ``checkout-borrow --license-token-file F --role-arn ARN`` does the same.

    Args:
        token: The license token (a ``LicenseToken``, or the token as a string).
        role_arn: The role to assume.
        region_name: The license's home Region.
        **options: For ``LicenseTokenCredentialProvider``.

    Returns:
        A session in ``region_name``; signed calls made with it use refreshable
        temporary credentials.

    Raises:
        ConfigurationError: A malformed token, role ARN or Region.
    """
    provider = LicenseTokenCredentialProvider(token, role_arn, region_name=region_name,
                                              **options)
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver(providers=[provider]))
    register_refresh_on_expiry(core, lambda: provider.loaded)
    return boto3.session.Session(botocore_session=core, region_name=region_name)
