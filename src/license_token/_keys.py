"""``TrustStore``: the pinned RSA public keys a token may be signed with.

Keys come only from the caller (PEM, DER, base64 DER, JWK, JWKS, a KMS
``GetPublicKey`` response), never from the token. Anything that is not an RSA
public key of at least 2048 bits is refused when the store is built.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._errors import KeyRejected
from ._files import read_bounded

__all__ = ["MIN_KEY_BITS", "PinnedKey", "TrustStore"]

MIN_KEY_BITS = 2048
_MAX_KEY_FILE = 1024 * 1024
_PEM_BEGIN = b"-----BEGIN "
_KMS_ALGORITHM = "RSASSA_PSS_SHA_384"
#: Errors the key parsers raise for input they cannot take; each becomes ``KeyRejected``.
_LOAD_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, RecursionError)
_OID_RSASSA_PSS = bytes.fromhex("06092a864886f70d01010a")


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
        digest = hashes.Hash(hashes.SHA256())  # cryptography's: no hashlib import
        digest.update(_spki(self.public_key))
        return digest.finalize().hex()

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


def _pem_keys(data: bytes, source: str) -> list[PinnedKey]:
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


def _der_key(der: bytes, source: str) -> PinnedKey:
    try:
        key: object = serialization.load_der_public_key(der)
    except _LOAD_ERRORS as exc:
        raise KeyRejected(f"{source}: not a DER SubjectPublicKeyInfo public key") from exc
    _check_pss_parameters(der, source)
    return PinnedKey(public_key=_require_public(key, source), source=source)


def _b64_der_key(text: bytes | str, source: str) -> PinnedKey:
    try:
        compact = b"".join((text.encode() if isinstance(text, str) else text).split())
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise KeyRejected(f"{source}: not PEM, DER or base64 DER") from exc
    return _der_key(der, source)


def _jwk_key(jwk: object, source: str) -> PinnedKey:
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


def _json_keys(doc: object, source: str) -> list[PinnedKey]:
    if isinstance(doc, Mapping) and "keys" in doc:
        members = doc["keys"]
        if not isinstance(members, list) or not members:
            raise KeyRejected(f"{source}: JWKS 'keys' must be a non-empty list")
        return [_jwk_key(m, f"{source} keys[{i}]") for i, m in enumerate(members)]
    if isinstance(doc, Mapping) and "PublicKey" in doc:
        return [_kms_key(doc, source)]
    if isinstance(doc, Mapping) and "kty" in doc:
        return [_jwk_key(doc, source)]
    raise KeyRejected(f"{source}: JSON is not a JWK, JWKS or KMS GetPublicKey response")


def _kms_key(response: Mapping[str, Any], source: str) -> PinnedKey:
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
        pinned = _der_key(bytes(public), source)
    elif isinstance(public, str):
        pinned = _b64_der_key(public, source)
    else:
        raise KeyRejected(f"{source}: KMS PublicKey is neither bytes nor base64 text")
    return attrs.evolve(pinned, kid=key_id if isinstance(key_id, str) else None)


def _sniff(data: bytes, source: str) -> list[PinnedKey]:
    if data[:1] == b"\x30":  # binary DER: never strip, its last bytes may look like spaces
        return [_der_key(data, source)]
    stripped = data.strip()
    if not stripped:
        raise KeyRejected(f"{source}: empty key material")
    if _PEM_BEGIN in stripped:
        return _pem_keys(stripped, source)
    if stripped[:1] == b"{":
        try:
            doc = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise KeyRejected(f"{source}: invalid JSON key material") from exc
        return _json_keys(doc, source)
    return [_b64_der_key(stripped, source)]


def _key_tuple(keys: Iterable[PinnedKey]) -> tuple[PinnedKey, ...]:
    return tuple(keys)


@attrs.frozen
class TrustStore:
    """An ordered, non-empty set of pinned keys: the only keys a token may verify with.

    Build it from the key material shipped with the app; every constructor refuses
    anything but RSA public keys of at least 2048 bits. Stores combine with ``|``.

    Example:
        >>> keys = TrustStore.from_file("issuer-public-key.pem")  # doctest: +SKIP
        >>> keys = keys | TrustStore.from_jwks(rotation_jwks)  # doctest: +SKIP

    Attributes:
        keys: the pinned keys, in the order they are tried.

    Raises:
        KeyRejected: no key, or a value that is not a :class:`PinnedKey`.
    """

    keys: tuple[PinnedKey, ...] = attrs.field(converter=_key_tuple)

    @keys.validator
    def _check(self, _: attrs.Attribute[tuple[PinnedKey, ...]], keys: tuple[object, ...]) -> None:
        if not keys:
            raise KeyRejected("a TrustStore needs at least one key")
        for key in keys:
            if not isinstance(key, PinnedKey):
                raise KeyRejected(f"TrustStore holds PinnedKey values, not {type(key).__name__}")

    def __iter__(self) -> Iterator[PinnedKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __or__(self, other: TrustStore) -> TrustStore:
        return TrustStore(self.keys + other.keys)

    def candidates(self, kid: str | None) -> Sequence[PinnedKey]:
        """The keys in the order to try them: those whose ``kid`` matches first, then the rest.

        Args:
            kid: the token header's ``kid``, or ``None``.

        Returns:
            Every key, reordered; a ``kid`` never excludes a key.
        """
        if kid is None:
            return self.keys
        first = [k for k in self.keys if k.kid == kid]
        return (*first, *(k for k in self.keys if k.kid != kid)) if first else self.keys

    @classmethod
    def from_public_keys(cls, *keys: RSAPublicKey) -> TrustStore:
        """Pin ``cryptography`` RSA public key objects.

        Args:
            *keys: the public keys.

        Returns:
            The store.

        Raises:
            KeyRejected: no key, or one that is not an RSA public key of at least 2048 bits.
        """
        return cls(PinnedKey(public_key=k) for k in keys)

    @classmethod
    def from_pem(cls, data: bytes | str) -> TrustStore:
        """Pin every key of PEM text (``PUBLIC KEY`` or ``RSA PUBLIC KEY`` blocks).

        Args:
            data: the PEM text; AWS's one-line PEM is accepted.

        Returns:
            The store.

        Raises:
            KeyRejected: no PEM block, a private key, or a key that is not acceptable.
        """
        try:
            raw = data.encode() if isinstance(data, str) else data
        except UnicodeEncodeError as exc:
            raise KeyRejected("PEM: not ASCII text") from exc
        return cls(_pem_keys(raw, "PEM"))

    @classmethod
    def from_der(cls, data: bytes) -> TrustStore:
        """Pin a DER SubjectPublicKeyInfo (what KMS ``GetPublicKey`` returns).

        Args:
            data: the DER bytes.

        Returns:
            The store.

        Raises:
            KeyRejected: not a DER public key, or not an acceptable one.
        """
        return cls([_der_key(data, "DER")])

    @classmethod
    def from_base64_der(cls, text: str | bytes) -> TrustStore:
        """Pin a base64 DER SubjectPublicKeyInfo (the AWS CLI's ``PublicKey`` output).

        Args:
            text: the base64 text; whitespace is ignored.

        Returns:
            The store.

        Raises:
            KeyRejected: not base64 DER, or not an acceptable key.
        """
        return cls([_b64_der_key(text, "base64 DER")])

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str) -> TrustStore:
        """Pin one RSA JWK; for a key set use :meth:`from_jwks`.

        jwcrypto is imported here, only when a JWK is read.

        Args:
            jwk: the JWK as a mapping or JSON text; its ``kid`` is kept.

        Returns:
            The store.

        Raises:
            KeyRejected: not an RSA public JWK, declared for another ``alg`` or ``use``, or
                not an acceptable key.
        """
        return cls([_jwk_key(_load_json(jwk, "JWK"), "JWK")])

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | str) -> TrustStore:
        """Pin every key of a JWK Set (``{"keys": [...]}``), e.g. during a key rotation.

        Args:
            jwks: the set as a mapping or JSON text.

        Returns:
            The store, keys in set order.

        Raises:
            KeyRejected: not a JWK Set with a non-empty ``keys`` list, or a key that
                :meth:`from_jwk` refuses.
        """
        doc = _load_json(jwks, "JWKS")
        if not isinstance(doc, Mapping) or "keys" not in doc:
            raise KeyRejected("JWKS: a JSON object with a 'keys' list is needed")
        return cls(_json_keys(doc, "JWKS"))

    @classmethod
    def from_kms_public_key(cls, response: Mapping[str, Any]) -> TrustStore:
        """Pin the key of a KMS ``GetPublicKey`` response (boto3 dict or AWS CLI JSON).

        Args:
            response: the response; its ``KeyId`` becomes the key's ``kid``.

        Returns:
            The store.

        Raises:
            KeyRejected: the key is not RSA, not ``SIGN_VERIFY``, does not allow
                ``RSASSA_PSS_SHA_384``, or is not an acceptable key.
        """
        if not isinstance(response, Mapping):
            raise KeyRejected("KMS GetPublicKey response must be a mapping")
        return cls([_kms_key(response, "KMS GetPublicKey")])

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "key") -> TrustStore:
        """Pin key material of any supported form, recognised by its content.

        PEM, DER, base64 DER, JWK, JWKS or a KMS ``GetPublicKey`` JSON document.

        Args:
            data: the key material.
            source: names it in error messages.

        Returns:
            The store.

        Raises:
            KeyRejected: the material is none of these forms, or not an acceptable key.
        """
        return cls(_sniff(data, source))

    @classmethod
    def from_file(cls, *paths: str | os.PathLike[str]) -> TrustStore:
        """Pin the keys of one or more files, each of any form :meth:`from_bytes` takes.

        Args:
            *paths: the key files (at most 1 MiB each).

        Returns:
            The store, keys in file order.

        Raises:
            KeyRejected: a file cannot be read, is too large, or holds no acceptable key.
        """
        keys: list[PinnedKey] = []
        for path in paths:
            try:
                data = read_bounded(path, _MAX_KEY_FILE)
            except OSError as exc:
                raise KeyRejected(f"{path}: cannot read key file ({exc.strerror})") from exc
            except ValueError as exc:  # open() of a name with a NUL character
                raise KeyRejected(f"{path!r}: cannot read key file ({exc})") from exc
            keys.extend(_sniff(data, os.fspath(path)))
        return cls(keys)


def _load_json(value: Mapping[str, Any] | str, what: str) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise KeyRejected(f"{what}: invalid JSON") from exc
    return value
