"""TrustStore: every accepted key form, and every refusal at build time."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from conftest import VECTORS
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from license_token import KeyRejected, PinnedKey, TrustStore, Verifier
from license_token.testing import TokenFactory

KEYS = VECTORS / "keys"


def test_all_key_forms_pin_the_same_key() -> None:
    fingerprints = {
        TrustStore.from_file(KEYS / name).keys[0].fingerprint
        for name in ("a2048.pem", "a2048_oneline.pem", "a2048.der", "a2048.der.b64",
                     "a2048.pkcs1.pem", "a2048.jwk.json", "a2048.kms.json")
    }
    assert len(fingerprints) == 1


def test_explicit_constructors(factory: TokenFactory) -> None:
    der = factory.public_key_der()
    pem = factory.public_key_pem()
    stores = [
        TrustStore.from_pem(pem), TrustStore.from_pem(pem.decode()), TrustStore.from_der(der),
        TrustStore.from_base64_der(base64.b64encode(der).decode()),
        TrustStore.from_kms_public_key({"PublicKey": der, "KeySpec": "RSA_2048",
                                        "SigningAlgorithms": ["RSASSA_PSS_SHA_384"]}),
        TrustStore.from_bytes(pem), TrustStore.from_public_keys(factory.private_key.public_key()),
    ]
    token, expected = factory.token(), factory.trust_store().keys[0].fingerprint
    for store in stores:
        assert Verifier(store).verify(token).key.fingerprint == expected


def test_jwks_and_kid_ordering(factory: TokenFactory) -> None:
    store = TrustStore.from_file(KEYS / "rotation.jwks.json")
    assert [k.kid for k in store] == ["old", "current"]
    assert [k.kid for k in store.candidates("current")] == ["current", "old"]
    assert [k.kid for k in store.candidates("unknown")] == ["old", "current"]
    assert [k.kid for k in store.candidates(None)] == ["old", "current"]


def test_multiple_pem_blocks_and_union(factory: TokenFactory) -> None:
    other = TokenFactory()
    both = TrustStore.from_pem(other.public_key_pem() + factory.public_key_pem())
    assert len(both) == 2
    assert Verifier(both).verify(factory.token()).key.fingerprint == both.keys[1].fingerprint
    assert len(TrustStore.from_pem(other.public_key_pem()) | factory.trust_store()) == 2


def test_kms_response_checks() -> None:
    doc = json.loads((KEYS / "a2048.kms.json").read_text())
    assert TrustStore.from_kms_public_key(doc).keys[0].kid == doc["KeyId"]
    for change, needle in (({"KeySpec": "ECC_NIST_P256"}, "not RSA"),
                           ({"KeyUsage": "ENCRYPT_DECRYPT"}, "SIGN_VERIFY"),
                           ({"SigningAlgorithms": ["RSASSA_PSS_SHA_256"]}, "RSASSA_PSS_SHA_384"),
                           ({"PublicKey": 12}, "neither bytes"),
                           ({"PublicKey": "not base64!"}, "base64")):
        with pytest.raises(KeyRejected, match=needle):
            TrustStore.from_kms_public_key(doc | change)


def _pem(key: object, private: bool = False) -> bytes:
    if private:
        return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(("material", "needle"), [
    (b"", "empty"),
    (b"garbage", "not PEM, DER or base64 DER"),
    (b"\x30\x03\x02\x01\x01", "DER"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a public key"),
    (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "unreadable"),
    (b'{"kty":"EC","crv":"P-256"}', "not RSA"),
    (b'{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}', "private"),
    (b'{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256"}', "RS256"),
    (b'{"kty":"RSA","n":"AQAB","e":"AQAB","use":"enc"}', "use"),
    (b'{"kty":"RSA","n":"AQAB","e":"AQAB"}', "invalid RSA JWK"),
    (b'{"kty":"RSA","n":"' + b"_" * 171 + b'w","e":"AQAB"}', "bits, at least 2048"),
    (b'{"keys":[]}', "non-empty"),
    (b'{"hello":1}', "not a JWK"),
    (b"{not json", "invalid JSON"),
])
def test_refused_material(material: bytes, needle: str) -> None:
    with pytest.raises(KeyRejected, match=needle):
        TrustStore.from_bytes(material)


def test_refused_keys() -> None:
    cases = [
        (_pem(rsa.generate_private_key(65537, 1024).public_key()), "1024 bits"),
        (_pem(ec.generate_private_key(ec.SECP256R1()).public_key()), "not an RSA public key"),
        (_pem(ed25519.Ed25519PrivateKey.generate().public_key()), "not an RSA public key"),
        (_pem(rsa.generate_private_key(65537, 2048), private=True), "private key"),
    ]
    for material, needle in cases:
        with pytest.raises(KeyRejected, match=needle):
            TrustStore.from_bytes(material)
    assert issubclass(KeyRejected, ValueError)


def test_refused_key_files(tmp_path: Path) -> None:
    for name in ("ec_p256.pem", "rsa1024.pem"):
        with pytest.raises(KeyRejected, match=name):
            TrustStore.from_file(KEYS / name)
    with pytest.raises(KeyRejected, match="cannot read"):
        TrustStore.from_file(tmp_path / "missing.pem")
    big = tmp_path / "big.pem"
    big.write_bytes(b"A" * (2 * 1024 * 1024))
    with pytest.raises(KeyRejected, match="larger"):
        TrustStore.from_file(big)
    with pytest.raises(KeyRejected, match="at least one"):
        TrustStore([])
    with pytest.raises(KeyRejected, match="PinnedKey"):
        TrustStore(["not a key"])  # type: ignore[list-item]
    with pytest.raises(KeyRejected, match="not an RSA"):
        PinnedKey(public_key="nope")  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["crlf", "bom", "comment", "oneline_crlf"])
def test_pem_files_as_people_save_them(variant: str) -> None:
    pem = (KEYS / "a2048.pem").read_bytes()
    data = {
        "crlf": pem.replace(b"\n", b"\r\n"),
        "bom": b"\xef\xbb\xbf" + pem,
        "comment": b"# AcmeApp issuer key, from KMS GetPublicKey on 2026-03-01, "
                   b"arn:aws:kms:us-east-1:123456789012:key/1234abcd\n" + pem,
        "oneline_crlf": (KEYS / "a2048_oneline.pem").read_bytes().replace(b"\n", b"\r\n"),
    }[variant]
    expected = TrustStore.from_file(KEYS / "a2048.pem").keys[0].fingerprint
    assert TrustStore.from_bytes(data).keys[0].fingerprint == expected


def test_the_key_hint_never_hides_a_key(factory: TokenFactory) -> None:
    """Regression: a token whose kid names no pinned key still verifies, call after call."""
    single = Verifier(factory.trust_store())
    for _ in range(3):
        assert single.verify(factory.token(header={"kid": "abc"})).header["kid"] == "abc"
    other = TokenFactory()
    verifier = Verifier(TrustStore.from_pem(other.public_key_pem() + factory.public_key_pem()))
    for signer, kid in ((factory, "abc"), (factory, "abc"), (other, None), (other, "x"),
                        (factory, None), (factory, "zzz")):
        header = {"kid": kid} if kid else {}
        lic = verifier.verify(signer.token(header=header))
        assert lic.key.fingerprint == signer.trust_store().keys[0].fingerprint
