"""``TokenFactory``: a throwaway issuer key and tokens/responses in the real AWS shape."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .._keys import TrustStore

__all__ = ["DEFAULT_ARN", "TokenFactory", "aws_time", "b64u"]

DEFAULT_ARN = "arn:aws:license-manager::123456789012:license:l-0123456789abcdef0123456789abcdef"
"""The license ARN of ``TokenFactory``'s tokens unless told otherwise."""
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512,
}


def b64u(data: bytes) -> str:
    """Encode as unpadded base64url, as JWS uses.

    Args:
        data: the bytes to encode.

    Returns:
        The ASCII text.
    """
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def aws_time(moment: datetime) -> str:
    """Format an instant as the service does: UTC, no zone, whole seconds.

    Args:
        moment: an aware ``datetime``.

    Returns:
        e.g. ``"2021-04-13T05:35:47"``.
    """
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _json(value: Mapping[str, Any] | bytes) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()


@attrs.define
class TokenFactory:
    """Mints checkout tokens like License Manager does, with any claims or defects.

    ```python
    factory = TokenFactory()
    response = factory.response(nodeId="node-1")      # a boto3-shaped dict
    keys = factory.trust_store()                       # pin the factory's public key
    ```

    Attributes:
        private_key: the issuer's RSA private key (a fresh 2048-bit key by default).
        kid: a ``kid`` to put in every header, or ``None``.
        now: the instant default claims are relative to (the current second by default).
    """

    private_key: rsa.RSAPrivateKey = attrs.field(
        factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        repr=False,
    )
    kid: str | None = None
    now: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))

    @classmethod
    def with_key_size(cls, bits: int, **kwargs: Any) -> TokenFactory:
        """A factory with a fresh issuer key of ``bits`` bits.

        Args:
            bits: the RSA modulus size.
            **kwargs: other attributes (``kid``, ``now``).

        Returns:
            The factory.
        """
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return cls(private_key=key, **kwargs)

    def public_key_pem(self) -> bytes:
        """The issuer's public key as PEM, the form an app pins."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_key_der(self) -> bytes:
        """The issuer's public key as DER SubjectPublicKeyInfo (KMS ``GetPublicKey``'s form)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def trust_store(self) -> TrustStore:
        """A ``TrustStore`` pinning the issuer's public key."""
        return TrustStore.from_pem(self.public_key_pem())

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Default claims, amended: issued an hour ago, valid for a day, two entitlements.

        The defaults grant ``Users`` = 10 (``Count``) and ``ProFeature`` = ``Enabled``
        (unit ``None``) for node ``node-7f3a`` under ``DEFAULT_ARN``.

        Args:
            **overrides: claims to set; a value of ``None`` removes the claim.

        Returns:
            The claims, as a new dict.
        """
        claims: dict[str, Any] = {
            "licenseArn": DEFAULT_ARN,
            "licenseConsumptionToken": uuid.uuid4().hex,
            "entitlementsAllowed": [
                {"name": "Users", "value": "10", "unit": "Count"},
                {"name": "ProFeature", "value": "Enabled", "unit": "None"},
            ],
            "nodeId": "node-7f3a",
            "issuedAt": aws_time(self.now - timedelta(hours=1)),
            "expiration": aws_time(self.now + timedelta(days=1)),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, signing_input: bytes, alg: str = "PS384", *, salt_length: int = 48,
             secret: bytes = b"") -> bytes:
        """Sign as ``alg`` would, including the algorithms a verifier must refuse.

        Args:
            signing_input: ``b64u(header).b64u(payload)`` as bytes.
            alg: ``PS256``/``PS384``/``PS512``, ``RS*``, ``HS*`` (with ``secret``) or ``none``.
            salt_length: the PSS salt length (48 is the only one PS384 tokens may use).
            secret: the HMAC key for ``HS*``.

        Returns:
            The raw signature (empty for ``none``).
        """
        if alg == "none":
            return b""
        digest = _HASHES[alg[2:]]()
        if alg.startswith("HS"):
            return hmac.new(secret, signing_input, getattr(hashlib, digest.name)).digest()
        if alg.startswith("RS"):
            return self.private_key.sign(signing_input, padding.PKCS1v15(), digest)
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=salt_length)
        return self.private_key.sign(signing_input, pss, digest)

    def encode(self, header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes,
               *, alg: str = "PS384", salt_length: int = 48, secret: bytes = b"") -> str:
        """A compact JWS of exactly these header and payload (objects or raw bytes).

        Args:
            header: the protected header, as an object or exact bytes.
            payload: the payload, as an object or exact bytes.
            alg: the algorithm to sign with (see ``sign()``).
            salt_length: the PSS salt length.
            secret: the HMAC key for ``HS*``.

        Returns:
            ``header.payload.signature`` in base64url.
        """
        signing_input = f"{b64u(_json(header))}.{b64u(_json(payload))}".encode()
        signature = self.sign(signing_input, alg, salt_length=salt_length, secret=secret)
        return f"{signing_input.decode()}.{b64u(signature)}"

    def token(self, claims: Mapping[str, Any] | None = None, *, alg: str = "PS384",
              header: Mapping[str, Any] | None = None, **overrides: Any) -> str:
        """A signed token; ``claims`` replaces the defaults, ``overrides`` amend them.

        Args:
            claims: the whole payload, or ``None`` for ``claims()``.
            alg: the algorithm, also written to the header.
            header: extra header members.
            **overrides: claims to set on top.

        Returns:
            The compact JWS.
        """
        payload = dict(claims) if claims is not None else self.claims()
        payload.update(overrides)
        head = {"alg": alg} | ({"kid": self.kid} if self.kid else {}) | dict(header or {})
        return self.encode(head, payload, alg=alg)

    def response(self, claims: Mapping[str, Any] | None = None, *,
                 tamper: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """A boto3-shaped ``CheckoutBorrowLicense`` response around a fresh token.

        Args:
            claims: the whole payload, or ``None`` for ``claims()``.
            tamper: unsigned fields to replace afterwards, as an attacker editing the saved
                file would.
            **overrides: claims to set on top.

        Returns:
            The response dict, ``ResponseMetadata`` included.
        """
        payload = dict(claims) if claims is not None else self.claims()
        payload.update(overrides)
        return response_for(self.token(payload), payload, tamper=tamper)


def response_for(token: str, claims: Mapping[str, Any], *,
                 tamper: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Wrap ``token`` in the unsigned response fields License Manager puts around it.

    Args:
        token: the compact JWS.
        claims: its payload, copied into the unsigned fields.
        tamper: unsigned fields to replace afterwards.

    Returns:
        A boto3-shaped response dict.
    """
    response: dict[str, Any] = {
        "LicenseArn": claims.get("licenseArn"),
        "LicenseConsumptionToken": claims.get("licenseConsumptionToken"),
        "EntitlementsAllowed": [
            {"Name": e["name"], "Value": e.get("value"), "Unit": e["unit"]}
            for e in claims.get("entitlementsAllowed", [])
        ],
        "NodeId": claims.get("nodeId"),
        "SignedToken": token,
        "IssuedAt": claims.get("issuedAt"),
        "Expiration": claims.get("expiration"),
    }
    metadata = claims.get("checkoutMetadata")
    if isinstance(metadata, Mapping):
        response["CheckoutMetadata"] = [{"Name": k, "Value": v} for k, v in metadata.items()]
    response = {k: v for k, v in response.items() if v is not None}
    response.update(tamper or {})
    response["ResponseMetadata"] = {
        "RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "RetryAttempts": 0,
    }
    return response
