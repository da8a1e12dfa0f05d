"""The token exchange of customers without AWS credentials, emulated.

License Manager ``CreateToken`` (seeded with ``IdentityService.create_token()``) and
``GetAccessToken`` (JSON protocol), STS ``AssumeRoleWithWebIdentity`` (query protocol,
XML answers), and the temporary credentials they issue: a call signed with an issued
access key must carry its session token and a valid SigV4 signature, and fails once the
credentials expire. The tokens have the shape of License Manager's own (see
``docs/explanation/real-service.md``): an ``RS512`` JWS, header ``typ`` ``JWS`` and a
Region-prefixed ``kid``, issuer ``https://openid-license-manager.amazonaws.com``, the
license ARN as ``aud``, numeric ``iat``/``exp``; signed with a key of the emulator's own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import attrs

from ._factory import TokenFactory
from ._http import ServiceError

__all__ = ["CreatedToken", "IdentityService", "QueryError"]

_PROVIDER = "openid-license-manager.amazonaws.com"
"""The web identity provider License Manager's tokens name (``iss``) and roles trust."""
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([^,\s]+), ?"
                   r"Signature=([0-9a-f]{64})", re.ASCII)


class QueryError(Exception):
    """An STS error as the query protocol sends it: ``Code``, message, HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


@attrs.frozen(kw_only=True)
class CreatedToken:
    """What ``CreateToken`` answers: the refresh token (a JWT) and its ID.

    Attributes:
        token: The refresh token, the secret the customer's software keeps.
        token_id: Its ID (``delete_token`` takes it).
    """

    token: str = attrs.field(repr=False)
    token_id: str


@attrs.define
class _RefreshToken:
    token_id: str
    license_arn: str
    role_arns: tuple[str, ...]
    expires: datetime
    revoked: bool = False


@attrs.define
class _AccessToken:
    refresh: _RefreshToken
    expires: datetime


@attrs.define
class _Issued:
    secret_key: str
    session_token: str
    role_arn: str
    expires: datetime


class IdentityService:
    """Refresh tokens, access tokens and the temporary credentials issued for them.

    Args:
        clock: The emulator's clock (aware ``datetime``).
        account: The customer's account, in the role ARNs it accepts.
    """

    def __init__(self, clock: Callable[[], datetime], *, account: str = "123456789012",
                 region: str = "us-east-1") -> None:
        self.clock = clock
        self.account = account
        self.region = region
        self._signer: TokenFactory | None = None  # its RSA key is made at the first token
        self._kid = f"{region}_{uuid.uuid4()}"
        self.access_token_lifetime = timedelta(hours=1)
        """How long an access token of ``GetAccessToken`` lives."""
        self.credential_lifetime = timedelta(hours=1)
        """How long the temporary credentials of ``AssumeRoleWithWebIdentity`` live."""
        self.require_issued_credentials = False
        """Refuse License Manager calls not signed with credentials issued here."""
        self._refresh: dict[str, _RefreshToken] = {}
        self._access: dict[str, _AccessToken] = {}
        self._issued: dict[str, _Issued] = {}
        self.signers: list[str | None] = []
        """Access key IDs that signed each License Manager call, in order (``None``: none)."""

    # -- seeding (what the customer's license administrator does) ---------------------------
    def create_token(self, license_arn: str, *, role_arns: tuple[str, ...] = (),
                     expiration_in_days: int = 365) -> CreatedToken:
        """``CreateToken``: a refresh token for ``license_arn``, limited to ``role_arns``.

        Args:
            license_arn: The license the token is for.
            role_arns: The roles the token may assume.
            expiration_in_days: The token's lifetime.

        Returns:
            The token and its ID.
        """
        token_id = str(uuid.uuid4())  # a `sub` as a trust policy names it (user guide)
        now = self.clock()
        expires = now + timedelta(days=expiration_in_days)
        token = self._sign({"sub": token_id, "aud": license_arn, "roles": list(role_arns),
                            "iss": f"https://{_PROVIDER}", "exp": _seconds(expires),
                            "iat": _seconds(now)})
        self._refresh[token] = _RefreshToken(token_id, license_arn, tuple(role_arns), expires)
        return CreatedToken(token=token, token_id=token_id)

    def public_key_pem(self) -> bytes:
        """The public key the emulator's tokens are signed with (``RS512``), as PEM."""
        return self._signing_factory().public_key_pem()

    def _signing_factory(self) -> TokenFactory:
        if self._signer is None:
            self._signer = TokenFactory()  # a fresh RSA-2048 key
        return self._signer

    def _sign(self, claims: Mapping[str, Any]) -> str:
        header = {"alg": "RS512", "typ": "JWS", "kid": self._kid}
        return self._signing_factory().encode(header, claims, alg="RS512")

    def delete_token(self, token_id: str) -> None:
        """``DeleteToken``: the refresh token is refused from now on.

        Args:
            token_id: The ID ``create_token`` returned.
        """
        for refresh in self._refresh.values():
            if refresh.token_id == token_id:
                refresh.revoked = True

    def expire_credentials(self) -> None:
        """Every credential issued so far expires now (as if their hour had passed)."""
        for issued in self._issued.values():
            issued.expires = min(issued.expires, self.clock())

    # -- License Manager GetAccessToken (JSON protocol) -------------------------------------
    def get_access_token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """License Manager ``GetAccessToken`` (the HTTP handler's).

        Args:
            body: The parsed JSON body.

        Returns:
            The JSON answer: ``{"AccessToken": ...}``.

        Raises:
            ServiceError: The token is missing, unknown, revoked or expired.
        """
        token = body.get("Token")
        if not isinstance(token, str) or not token:
            raise ServiceError("ValidationException", "Token is required")
        refresh = self._refresh.get(token)
        if refresh is None:
            raise ServiceError("AuthorizationException", "The refresh token is invalid")
        if refresh.revoked:
            raise ServiceError("AuthorizationException", "The refresh token has been deleted")
        if self.clock() >= refresh.expires:
            raise ServiceError("AuthorizationException", "The refresh token has expired")
        now = self.clock()
        expires = now + self.access_token_lifetime
        access = self._sign({
            "sub": refresh.token_id, "aud": refresh.license_arn,
            "roles": list(refresh.role_arns), "iss": f"https://{_PROVIDER}",
            "amr": [f"aws:license-manager:token-issuer-account-id:{self.account}"],
            "exp": _seconds(expires), "iat": _seconds(now), "jti": uuid.uuid4().hex})
        self._access[access] = _AccessToken(refresh, expires)
        return {"AccessToken": access}

    # -- STS AssumeRoleWithWebIdentity (query protocol) -------------------------------------
    def handle_query(self, raw: bytes) -> tuple[int, bytes]:
        """One STS request body in; the HTTP status and XML answer (or XML error) out.

        Args:
            raw: The form-encoded body.

        Returns:
            The HTTP status and the XML answer.
        """
        try:
            return 200, self._query(raw)
        except QueryError as exc:
            return exc.status, query_error_xml(exc)
        except Exception as exc:  # a bug in the emulator: answer as the service would
            return 500, query_error_xml(QueryError("InternalFailure", repr(exc), 500))

    def _query(self, raw: bytes) -> bytes:
        params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"),
                                                keep_blank_values=True).items()}
        action = params.get("Action")
        if action != "AssumeRoleWithWebIdentity":
            raise QueryError("InvalidAction", f"Could not find operation {action}")
        return self._assume_role_with_web_identity(params)

    def _assume_role_with_web_identity(self, params: Mapping[str, str]) -> bytes:
        for name in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not params.get(name):
                raise QueryError("ValidationError", f"{name} is required")
        duration = params.get("DurationSeconds") or ""
        if duration and (not duration.isdigit() or not 900 <= int(duration) <= 43200):
            raise QueryError("ValidationError", "DurationSeconds must be 900 to 43200")
        access = self._access.get(params["WebIdentityToken"])
        if access is None:
            raise QueryError("InvalidIdentityToken", "The web identity token is not valid")
        now = self.clock()
        if now >= access.expires:
            raise QueryError("ExpiredTokenException", "Token expired: current date/time "
                             f"{now.isoformat()} must be before the expiration date/time "
                             f"{access.expires.isoformat()}")
        if access.refresh.revoked:
            raise QueryError("InvalidIdentityToken", "The web identity token was revoked")
        role = params["RoleArn"]
        allowed = access.refresh.role_arns
        if (allowed and role not in allowed) or f":{self.account}:role/" not in role:
            raise QueryError("AccessDenied", "Not authorized to perform "
                             "sts:AssumeRoleWithWebIdentity", 403)
        lifetime = timedelta(seconds=int(duration)) if duration else self.credential_lifetime
        key_id = "ASIA" + secrets.token_hex(8).upper()
        issued = _Issued(secret_key=secrets.token_urlsafe(30),
                         session_token=secrets.token_urlsafe(96), role_arn=role,
                         expires=now + lifetime)
        self._issued[key_id] = issued
        session = params["RoleSessionName"]
        role_name = role.rpartition("/")[2]
        return _xml("AssumeRoleWithWebIdentity", {
            "Credentials": {"AccessKeyId": key_id, "SecretAccessKey": issued.secret_key,
                            "SessionToken": issued.session_token,
                            "Expiration": issued.expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "SubjectFromWebIdentityToken": access.refresh.token_id,
            "AssumedRoleUser": {
                "Arn": f"arn:aws:sts::{self.account}:assumed-role/{role_name}/{session}",
                "AssumedRoleId": f"AROA{secrets.token_hex(8).upper()}:{session}"},
            "Provider": _PROVIDER,
            "Audience": access.refresh.license_arn,
        })

    # -- the credentials it issued ------------------------------------------------------------
    def authenticate(self, method: str, path: str, headers: Mapping[str, str],
                     body: bytes, *, operation: str) -> None:
        """Check a License Manager call's SigV4 signature when signed with issued keys.

        Args:
            method: The HTTP method.
            path: The request path.
            headers: The request headers.
            body: The raw body.
            operation: The License Manager operation called.

        Raises:
            ServiceError: ``UnrecognizedClientException``, ``ExpiredTokenException``,
                ``InvalidSignatureException`` or ``MissingAuthenticationTokenException``.
        """
        lower = {k.lower(): v for k, v in headers.items()}
        match = _AUTH.fullmatch(lower.get("authorization", "").strip())
        key_id = match.group(1).split("/")[0] if match else None
        self.signers.append(key_id)
        if operation == "GetAccessToken":
            return
        issued = self._issued.get(key_id or "")
        if issued is None:
            if not self.require_issued_credentials:
                return
            if match is None:
                raise ServiceError("MissingAuthenticationTokenException",
                                   "Missing Authentication Token", 403)
            raise ServiceError("UnrecognizedClientException",
                               "The security token included in the request is invalid.", 403)
        if match is None or lower.get("x-amz-security-token") != issued.session_token:
            raise ServiceError("UnrecognizedClientException",
                               "The security token included in the request is invalid.", 403)
        if self.clock() >= issued.expires:
            raise ServiceError("ExpiredTokenException",
                               "The security token included in the request is expired", 403)
        if not hmac.compare_digest(_signature(method, path, lower, body, match.group(1),
                                              match.group(2), issued.secret_key),
                                   match.group(3)):
            raise ServiceError("InvalidSignatureException", "The request signature we "
                               "calculated does not match the signature you provided.", 403)


def _seconds(moment: datetime) -> int:
    """A JWT ``NumericDate``: whole seconds since the epoch."""
    return int(moment.timestamp())


def _signature(method: str, path: str, headers: Mapping[str, str], body: bytes,
               credential: str, signed_headers: str, secret: str) -> str:
    """SigV4 (AWS4-HMAC-SHA256) of one request, as the signer computed it."""
    _, date, region, service, terminator = credential.split("/")
    names = signed_headers.split(";")
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names)
    canonical = "\n".join((method, path.partition("?")[0] or "/", path.partition("?")[2],
                           canonical_headers, signed_headers, hashlib.sha256(body).hexdigest()))
    scope = f"{date}/{region}/{service}/{terminator}"
    to_sign = "\n".join(("AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()))
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _xml_members(members: Mapping[str, Any]) -> str:
    return "".join(
        f"<{name}>{_xml_members(value) if isinstance(value, Mapping) else escape(str(value))}"
        f"</{name}>" for name, value in members.items())


def _xml(action: str, result: Mapping[str, Any]) -> bytes:
    return (f'<{action}Response xmlns="{_STS_NS}"><{action}Result>{_xml_members(result)}'
            f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            f"</ResponseMetadata></{action}Response>").encode()


def query_error_xml(error: QueryError) -> bytes:
    """The XML body of an STS error."""
    kind = "Sender" if error.status < 500 else "Receiver"
    return (f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(str(error))}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()
