"""``TrustStore``: the pinned RSA public keys a token may be signed with.

Keys come only from the caller (PEM, DER, base64 DER, JWK, JWKS, a KMS
``GetPublicKey`` response), never from the token. Anything that is not an RSA
public key of at least 2048 bits is refused when the store is built.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._errors import KeyRejected
from ._files import read_bounded
from ._key_forms import (
    MIN_KEY_BITS,
    PinnedKey,
    b64_der_key,
    der_key,
    json_keys,
    jwk_key,
    kms_key,
    load_json,
    pem_keys,
    sniff,
)

__all__ = ["MIN_KEY_BITS", "PinnedKey", "TrustStore"]

_MAX_KEY_FILE = 1024 * 1024


def _key_tuple(keys: Iterable[PinnedKey]) -> tuple[PinnedKey, ...]:
    return tuple(keys)


@attrs.frozen
class TrustStore:
    """An ordered, non-empty set of pinned keys: the only keys a token may verify with.

    Build it from the key material shipped with the app; every constructor refuses
    anything but RSA public keys of at least 2048 bits. Stores combine with ``|``.

    Example:
        ```python
        keys = TrustStore.from_file("issuer-public-key.pem")
        keys = keys | TrustStore.from_jwks(rotation_jwks)
        ```

    Attributes:
        keys: the pinned keys, in the order they are tried.

    Raises:
        KeyRejected: no key, or a value that is not a ``PinnedKey``.
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
        return cls(pem_keys(raw, "PEM"))

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
        return cls([der_key(data, "DER")])

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
        return cls([b64_der_key(text, "base64 DER")])

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str) -> TrustStore:
        """Pin one RSA JWK; for a key set use ``from_jwks()``.

        jwcrypto is imported here, only when a JWK is read.

        Args:
            jwk: the JWK as a mapping or JSON text; its ``kid`` is kept.

        Returns:
            The store.

        Raises:
            KeyRejected: not an RSA public JWK, declared for another ``alg`` or ``use``, or
                not an acceptable key.
        """
        return cls([jwk_key(load_json(jwk, "JWK"), "JWK")])

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any] | str) -> TrustStore:
        """Pin every key of a JWK Set (``{"keys": [...]}``), e.g. during a key rotation.

        Args:
            jwks: the set as a mapping or JSON text.

        Returns:
            The store, keys in set order.

        Raises:
            KeyRejected: not a JWK Set with a non-empty ``keys`` list, or a key that
                ``from_jwk()`` refuses.
        """
        doc = load_json(jwks, "JWKS")
        if not isinstance(doc, Mapping) or "keys" not in doc:
            raise KeyRejected("JWKS: a JSON object with a 'keys' list is needed")
        return cls(json_keys(doc, "JWKS"))

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
        return cls([kms_key(response, "KMS GetPublicKey")])

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
        return cls(sniff(data, source))

    @classmethod
    def from_file(cls, *paths: str | os.PathLike[str]) -> TrustStore:
        """Pin the keys of one or more files, each of any form ``from_bytes()`` takes.

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
            keys.extend(sniff(data, os.fspath(path)))
        return cls(keys)
