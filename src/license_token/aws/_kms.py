"""KMS ``GetPublicKey``: the issuer's public key, checked for PS384 use, ready to pin."""

from __future__ import annotations

from typing import Any

import attrs

from .._keys import PinnedKey, TrustStore
from ._client import make_client, translated


@attrs.frozen(kw_only=True)
class PublicKey:
    """A KMS public key, checked for PS384 use: pin ``pem`` in the app.

    Attributes:
        key_id: the key's ARN as KMS names it.
        pem: the public key as PEM, the file to ship with the app.
        trust_store: a store pinning just this key.
    """

    key_id: str
    pem: bytes
    trust_store: TrustStore

    @property
    def pinned(self) -> PinnedKey:
        """The key as a ``PinnedKey`` (size, fingerprint)."""
        return self.trust_store.keys[0]


def fetch_public_key(kms_key_id: str, *, client: Any = None, **client_options: Any) -> PublicKey:
    """KMS ``GetPublicKey``, checked (RSA, ``RSASSA_PSS_SHA_384``), ready to pin.

    Example:
        ```python
        key = fetch_public_key("alias/license-signing")
        open("issuer-public-key.pem", "wb").write(key.pem)
        ```

    Args:
        kms_key_id: the key's ID, ARN or alias.
        client: a ready ``kms`` client; made from ``client_options`` if not given.
        **client_options: for ``make_client()`` (``region_name``, ``profile_name``, …).

    Returns:
        The checked public key.

    Raises:
        AwsError: the call failed.
        KeyRejected: the key cannot verify PS384 tokens.
    """
    kms = make_client("kms", client=client, **client_options)
    with translated():
        response = kms.get_public_key(KeyId=kms_key_id)
    store = TrustStore.from_kms_public_key(response)
    return PublicKey(key_id=str(response.get("KeyId", kms_key_id)), pem=store.keys[0].to_pem(),
                     trust_store=store)
