"""The key forms a ``TrustStore`` reads, each parsed into ``PinnedKey`` values.

PEM (``PUBLIC KEY``, ``RSA PUBLIC KEY``, AWS's one-line PEM), DER and base64 DER
SubjectPublicKeyInfo, JWK and JWKS (jwcrypto, imported only for them), and a KMS
``GetPublicKey`` response. Private keys, non-RSA keys, keys under 2048 bits and PSS keys
restricted to other parameters than PS384's are refused with ``KeyRejected``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import attrs
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._errors import KeyRejected

__all__ = [
    "MIN_KEY_BITS",
    "PinnedKey",
    "b64_der_key",
    "der_key",
    "json_keys",
    "jwk_key",
    "kms_key",
    "load_json",
    "pem_keys",
    "sha256",
    "sniff",
]

MIN_KEY_BITS = 2048
_PEM_BEGIN = b"-----BEGIN "
_KMS_ALGORITHM = "RSASSA_PSS_SHA_384"
_LOAD_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, RecursionError)
"""Errors the key parsers raise for input they cannot take; each becomes ``KeyRejected``."""
_OID_RSASSA_PSS = bytes.fromhex("06092a864886f70d01010a")


def sha256(data: bytes) -> bytes:
    """SHA-256 with ``cryptography`` (loaded already: no ``hashlib`` import at a start)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _short_der(tag: int, body: bytes) -> bytes:
    return bytes([tag, len(body)]) + body  # every length here is below 128


# RSASSA-PSS-params (RFC 4055 §3.1) that restrict a key to exactly PS384: SHA-384,
# MGF1-SHA-384, salt 48, each hash AlgorithmIdentifier with or without its NULL parameter.
_PS384_PARAMS = frozenset(
    _short_der(0x30, _short_der(0xA0, sha384)
               + _short_der(0xA1, _short_der(0x30, bytes.fromhex("06092a864886f70d010108")
                                             + sha384))
               + _short_der(0xA2, b"\x02\x01\x30"))
    for oid in (bytes.fromhex("0609608648016503040202"),)
    for sha384 in (_short_der(0x30, oid), _short_der(0x30, oid + b"\x05\x00"))
)


def _spki(key: RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@attrs.frozen(kw_only=True)
class PinnedKey:
    """One trusted RSA public key, with an optional ``kid`` and a SHA-256 fingerprint.

    Attributes:
        public_key: the RSA public key (at least 2048 bits).
        kid: the key ID a token's header may name to have this key tried first, or ``None``.
        source: where the key came from, for error messages (a file name, ``"PEM"``, …).

    Raises:
        KeyRejected: the key is not an RSA public key of at least 2048 bits.
    """

    public_key: RSAPublicKey = attrs.field(repr=False)
    kid: str | None = None
    source: str = "caller"

    @public_key.validator
    def _check(self, _: attrs.Attribute[RSAPublicKey], key: object) -> None:
        size = _require_public(key, self.source).key_size
        if size < MIN_KEY_BITS:
            raise KeyRejected(f"{self.source}: RSA key of {size} bits, at least {MIN_KEY_BITS} "
                              "needed")

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER SubjectPublicKeyInfo, in hex."""
        return sha256(_spki(self.public_key)).hex()

    @property
    def key_size(self) -> int:
        """The modulus size in bits."""
        return self.public_key.key_size

    def to_pem(self) -> bytes:
        """The key as a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) block, the form to pin.

        Returns:
            The PEM bytes.
        """
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _require_public(key: object, source: str) -> RSAPublicKey:
    if not isinstance(key, RSAPublicKey):
        raise KeyRejected(f"{source}: not an RSA public key ({type(key).__name__})")
    return key


def _tlv(data: bytes) -> tuple[int, bytes, bytes]:
    """One DER tag-length-value: ``(tag, value, rest)``; ``ValueError`` if truncated."""
    if len(data) < 2:
        raise ValueError("truncated DER")
    tag, size, offset = data[0], data[1], 2
    if size & 0x80:
        count, size = size & 0x7F, 0
        if not 0 < count <= 4 or len(data) < 2 + count:
            raise ValueError("bad DER length")
        size, offset = int.from_bytes(data[2:2 + count], "big"), 2 + count
    if len(data) < offset + size:
        raise ValueError("truncated DER")
    return tag, data[offset:offset + size], data[offset + size:]


def _check_pss_parameters(der: bytes, source: str) -> None:
    """An ``id-RSASSA-PSS`` key whose parameters restrict it to other than PS384 is refused.

    ``der`` is a SubjectPublicKeyInfo that ``cryptography`` already loaded; it drops the
    parameters (RFC 4055 §3.1: when present, they restrict what the key may verify).
    """
    try:
        _, spki, _ = _tlv(der)
        _, algorithm, _ = _tlv(spki)
        _, oid, params = _tlv(algorithm)
    except ValueError as exc:
        raise KeyRejected(f"{source}: unreadable SubjectPublicKeyInfo") from exc
    if algorithm[:2 + len(oid)] == _OID_RSASSA_PSS and params and params not in _PS384_PARAMS:
        raise KeyRejected(f"{source}: RSASSA-PSS key restricted to parameters other than "
                          "PS384's (SHA-384, MGF1-SHA-384, salt 48)")


def pem_keys(data: bytes, source: str) -> list[PinnedKey]:
    keys = []
    for block in data.split(_PEM_BEGIN)[1:]:
        label = block.split(b"-----", 1)[0].decode("ascii", "replace")
        if "PRIVATE" in label:
            raise KeyRejected(f"{source}: holds a private key; pin only the public key")
        if label not in ("PUBLIC KEY", "RSA PUBLIC KEY"):
            raise KeyRejected(f"{source}: PEM block {label[:40]!r} is not a public key")
        pem = _PEM_BEGIN + block
        try:
            key = serialization.load_pem_public_key(pem)
            if label == "PUBLIC KEY":
                body = block.split(b"-----", 2)[1]
                _check_pss_parameters(base64.b64decode(b"".join(body.split())), source)
        except _LOAD_ERRORS as exc:
            raise KeyRejected(f"{source}: unreadable PEM public key ({exc})") from exc
        keys.append(PinnedKey(public_key=_require_public(key, source), source=source))
    if not keys:
        raise KeyRejected(f"{source}: no PEM block found")
    return keys


def der_key(der: bytes, source: str) -> PinnedKey:
    try:
        key: object = serialization.load_der_public_key(der)
    except _LOAD_ERRORS as exc:
        raise KeyRejected(f"{source}: not a DER SubjectPublicKeyInfo public key") from exc
    _check_pss_parameters(der, source)
    return PinnedKey(public_key=_require_public(key, source), source=source)


def b64_der_key(text: bytes | str, source: str) -> PinnedKey:
    try:
        compact = b"".join((text.encode() if isinstance(text, str) else text).split())
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise KeyRejected(f"{source}: not PEM, DER or base64 DER") from exc
    return der_key(der, source)


def jwk_key(jwk: object, source: str) -> PinnedKey:
    if not isinstance(jwk, Mapping):
        raise KeyRejected(f"{source}: a JWK must be a JSON object")
    if jwk.get("kty") != "RSA":
        raise KeyRejected(f"{source}: JWK kty {jwk.get('kty')!r} is not RSA")
    if "d" in jwk or "p" in jwk:
        raise KeyRejected(f"{source}: JWK holds private key material; pin only the public key")
    if jwk.get("alg", "PS384") != "PS384":
        raise KeyRejected(f"{source}: JWK is declared for {jwk['alg']!r}, not PS384")
    if jwk.get("use", "sig") != "sig":
        raise KeyRejected(f"{source}: JWK 'use' is {jwk['use']!r}, not 'sig'")
    ops = jwk.get("key_ops", ["verify"])
    if not isinstance(ops, list):
        raise KeyRejected(f"{source}: JWK 'key_ops' must be a list, not {type(ops).__name__}")
    if "verify" not in ops:
        raise KeyRejected(f"{source}: JWK 'key_ops' {repr(ops)[:80]} does not allow 'verify'")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise KeyRejected(f"{source}: JWK 'kid' is not a string")
    from jwcrypto.common import JWException  # lazy: only JWK input needs jwcrypto
    from jwcrypto.jwk import JWK

    try:
        key = JWK(**{k: v for k, v in jwk.items() if k in ("kty", "n", "e", "kid")})
        public = key.get_op_key("verify")
    except (JWException, *_LOAD_ERRORS) as exc:
        raise KeyRejected(f"{source}: invalid RSA JWK ({exc})") from exc
    return PinnedKey(public_key=_require_public(public, source), kid=kid, source=source)


def json_keys(doc: object, source: str) -> list[PinnedKey]:
    if isinstance(doc, Mapping) and "keys" in doc:
        members = doc["keys"]
        if not isinstance(members, list) or not members:
            raise KeyRejected(f"{source}: JWKS 'keys' must be a non-empty list")
        return [jwk_key(m, f"{source} keys[{i}]") for i, m in enumerate(members)]
    if isinstance(doc, Mapping) and "PublicKey" in doc:
        return [kms_key(doc, source)]
    if isinstance(doc, Mapping) and "kty" in doc:
        return [jwk_key(doc, source)]
    raise KeyRejected(f"{source}: JSON is not a JWK, JWKS or KMS GetPublicKey response")


def kms_key(response: Mapping[str, Any], source: str) -> PinnedKey:
    spec = response.get("KeySpec", response.get("CustomerMasterKeySpec"))
    if not isinstance(spec, str) or not spec.startswith("RSA_"):
        raise KeyRejected(f"{source}: KMS KeySpec {spec!r} is not RSA")
    usage = response.get("KeyUsage", "SIGN_VERIFY")
    if usage != "SIGN_VERIFY":
        raise KeyRejected(f"{source}: KMS KeyUsage {usage!r} is not SIGN_VERIFY")
    algorithms = response.get("SigningAlgorithms")
    if not isinstance(algorithms, list) or _KMS_ALGORITHM not in algorithms:
        raise KeyRejected(f"{source}: KMS key does not allow {_KMS_ALGORITHM}")
    public = response.get("PublicKey")
    key_id = response.get("KeyId")
    if isinstance(public, (bytes, bytearray, memoryview)):
        pinned = der_key(bytes(public), source)
    elif isinstance(public, str):
        pinned = b64_der_key(public, source)
    else:
        raise KeyRejected(f"{source}: KMS PublicKey is neither bytes nor base64 text")
    return attrs.evolve(pinned, kid=key_id if isinstance(key_id, str) else None)


def sniff(data: bytes, source: str) -> list[PinnedKey]:
    if data[:1] == b"\x30":  # binary DER: never strip, its last bytes may look like spaces
        return [der_key(data, source)]
    stripped = data.strip()
    if not stripped:
        raise KeyRejected(f"{source}: empty key material")
    if _PEM_BEGIN in stripped:
        return pem_keys(stripped, source)
    if stripped[:1] == b"{":
        try:
            doc = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise KeyRejected(f"{source}: invalid JSON key material") from exc
        return json_keys(doc, source)
    return [b64_der_key(stripped, source)]



def load_json(value: Mapping[str, Any] | str, what: str) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise KeyRejected(f"{what}: invalid JSON") from exc
    return value
