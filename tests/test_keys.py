"""TrustStore and its key forms (_key_forms): every accepted form, every refusal at build time."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, VECTORS
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from license_token import KeyRejected, PinnedKey, TrustStore, Verifier
from license_token._key_forms import _check_pss_parameters, _tlv
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
    """A token whose kid names no pinned key still verifies, call after call."""
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


# -- every loader: the source it names, the key it pins ----------------------------------------

def test_every_loader_names_its_source_and_pins_the_same_key() -> None:
    der = (KEYS / "a2048.der").read_bytes()
    kms = json.loads((KEYS / "a2048.kms.json").read_text())
    jwk = json.loads((KEYS / "a2048.jwk.json").read_text())
    stores = {
        "PEM": TrustStore.from_pem((KEYS / "a2048.pem").read_text()),
        "DER": TrustStore.from_der(der),
        "base64 DER": TrustStore.from_base64_der(base64.b64encode(der).decode()),
        "JWK": TrustStore.from_jwk(json.dumps(jwk)),
        "JWKS keys[0]": TrustStore.from_jwks({"keys": [jwk]}),
        "KMS GetPublicKey": TrustStore.from_kms_public_key(kms),
        "key": TrustStore.from_bytes(der),
        str(KEYS / "a2048.der"): TrustStore.from_file(KEYS / "a2048.der"),
    }
    stores |= {  # each form from_bytes / from_file recognise keeps the name it was given
        "kms.txt": TrustStore.from_bytes(json.dumps(kms).encode(), "kms.txt"),
        "jwk.txt": TrustStore.from_bytes(json.dumps(jwk).encode(), "jwk.txt"),
        "b64.txt": TrustStore.from_bytes((KEYS / "a2048.der.b64").read_bytes(), "b64.txt"),
        **{str(KEYS / name): TrustStore.from_file(KEYS / name)
           for name in ("a2048.kms.json", "a2048.jwk.json", "a2048.der.b64", "a2048.pem")},
    }
    fingerprint = hashlib.sha256(der).hexdigest()
    for source, store in stores.items():
        assert [(k.source, k.fingerprint) for k in store] == [(source, fingerprint)]
    raw_kms = TrustStore.from_kms_public_key(kms | {"PublicKey": der})  # boto3 gives bytes
    assert [(k.source, k.fingerprint) for k in raw_kms] == [("KMS GetPublicKey", fingerprint)]
    assert stores["KMS GetPublicKey"].keys[0].kid == kms["KeyId"]
    assert stores["JWK"].keys[0].kid == jwk.get("kid")


def test_the_fingerprint_is_sha256_of_the_der_spki(issuer: TokenFactory) -> None:
    pinned = issuer.trust_store().keys[0]
    assert pinned.fingerprint == hashlib.sha256(issuer.public_key_der()).hexdigest()


def test_jwks_from_text_and_mapping_keep_kids_in_order() -> None:
    text = (KEYS / "rotation.jwks.json").read_text()
    for source in (text, json.loads(text)):
        assert [k.kid for k in TrustStore.from_jwks(source)] == ["old", "current"]
    single = json.loads((KEYS / "a2048.jwk.json").read_text())
    with pytest.raises(KeyRejected, match="'keys' list"):
        TrustStore.from_jwks(single)  # a JWK is not a JWKS
    with pytest.raises(KeyRejected, match="'keys' list"):
        TrustStore.from_jwks(json.dumps(single))


def test_from_jwk_takes_one_jwk_only() -> None:
    jwks = json.loads((VECTORS / "keys" / "rotation.jwks.json").read_text())
    with pytest.raises(KeyRejected, match="not RSA"):
        TrustStore.from_jwk(jwks)
    assert len(TrustStore.from_jwks(jwks)) == len(jwks["keys"])
    assert len(TrustStore.from_jwk(jwks["keys"][0])) == 1


def test_a_jwk_with_any_private_member_is_refused() -> None:
    jwk = json.loads((KEYS / "a2048.jwk.json").read_text())
    for member in ("d", "p"):
        with pytest.raises(KeyRejected, match="private key material"):
            TrustStore.from_jwk(jwk | {member: "AQAB"})


def test_jwk_key_ops_must_allow_verify(factory: TokenFactory) -> None:
    jwk = json.loads((ROOT / "vectors" / "keys" / "a2048.jwk.json").read_text())
    for ops in (["encrypt"], [], "verify", [1]):
        with pytest.raises(KeyRejected, match="key_ops"):
            TrustStore.from_jwk(jwk | {"key_ops": ops})
    assert len(TrustStore.from_jwk(jwk | {"key_ops": ["verify"]})) == 1


def test_jwk_key_ops_that_is_not_a_list_says_so() -> None:
    jwk = json.loads((ROOT / "vectors" / "keys" / "a2048.jwk.json").read_text())
    with pytest.raises(KeyRejected, match="'key_ops' must be a list, not str"):
        TrustStore.from_jwk(jwk | {"key_ops": "verify"})


def test_kms_documents_old_spec_name_and_key_ids() -> None:
    kms = json.loads((KEYS / "a2048.kms.json").read_text())
    old = {k: v for k, v in kms.items() if k != "KeySpec"} | {"CustomerMasterKeySpec": "RSA_2048"}
    assert TrustStore.from_kms_public_key(old).keys[0].kid == kms["KeyId"]
    assert TrustStore.from_kms_public_key(kms | {"KeyId": 7}).keys[0].kid is None
    assert TrustStore.from_kms_public_key({k: v for k, v in kms.items() if k != "KeyId"}).keys[
        0].kid is None
    with pytest.raises(KeyRejected, match="KeySpec"):
        TrustStore.from_kms_public_key({k: v for k, v in kms.items() if k != "KeySpec"})


def test_base64_der_keys_with_line_breaks_but_no_stray_characters() -> None:
    der = (KEYS / "a2048.der").read_bytes()
    wrapped = base64.encodebytes(der)  # 76-character lines
    assert b"\n" in wrapped.strip()
    assert len(TrustStore.from_base64_der(wrapped)) == 1
    for junk in (b"*", b"!", b"."):
        with pytest.raises(KeyRejected, match="not PEM, DER or base64 DER"):
            TrustStore.from_base64_der(base64.b64encode(der) + junk)


# -- the DER reader, and RSASSA-PSS keys -------------------------------------------------------

def test_der_lengths_short_and_long_form() -> None:
    assert _tlv(b"\x04\x02ab rest") == (4, b"ab", b" rest")
    assert _tlv(b"\x04\x81\x02ab") == (4, b"ab", b"")
    assert _tlv(b"\x04\x82\x00\x01a") == (4, b"a", b"")


def test_der_reader_bounds_exactly() -> None:
    assert _tlv(b"\x05\x00") == (5, b"", b"")
    assert _tlv(b"\x04\x81\x00") == (4, b"", b"")
    assert _tlv(b"\x04\x84\x00\x00\x00\x01a") == (4, b"a", b"")
    for der in (b"\x05", b"\x30\x80", b"\x04\x85\x00\x00\x00\x00\x01a", b"\x04\x82\x00",
                b"\x04\x05ab", b"\x04\x81"):
        with pytest.raises(ValueError, match="DER"):
            _tlv(der)


@pytest.mark.parametrize("der", [
    b"", b"\x30", b"\x30\x05\x00", b"\x30\x85\x01\x02\x03\x04\x05", b"\x30\x80",
    b"\x30\x82\x01", b"\x30\x02\x30\x05",
])
def test_truncated_der_is_an_unreadable_spki(der: bytes) -> None:
    with pytest.raises(KeyRejected, match="unreadable SubjectPublicKeyInfo"):
        _check_pss_parameters(der, "key")


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = bytes([size]) if size < 128 else (
        bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes((size.bit_length() + 7)
                                                                         // 8, "big"))
    return bytes([tag]) + length + body


_SHA256, _SHA384 = "0609608648016503040201", "0609608648016503040202"


def _pss_spki(factory: TokenFactory, hash_oid: str | None, salt: int = 48) -> bytes:
    """The factory's key as ``id-RSASSA-PSS``, restricted to ``hash_oid`` (None: no params)."""
    def algorithm(oid: str) -> bytes:
        return _der(0x30, bytes.fromhex(oid) + b"\x05\x00")

    params = b""
    if hash_oid is not None:
        mgf = _der(0x30, bytes.fromhex("06092a864886f70d010108") + algorithm(hash_oid))
        params = _der(0x30, _der(0xA0, algorithm(hash_oid)) + _der(0xA1, mgf)
                      + _der(0xA2, _der(0x02, bytes([salt]))))
    bit_string = factory.public_key_der()[4 + 15:]
    oid = bytes.fromhex("06092a864886f70d01010a")
    return _der(0x30, _der(0x30, oid + params) + bit_string)


def _der_pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN PUBLIC KEY-----\n" + lines + b"\n-----END PUBLIC KEY-----\n"


@pytest.mark.parametrize(("hash_oid", "salt"), [(_SHA256, 32), (_SHA384, 32), (_SHA256, 48)])
def test_pss_key_restricted_to_other_parameters_is_rejected(
        factory: TokenFactory, hash_oid: str, salt: int) -> None:
    der = _pss_spki(factory, hash_oid, salt)
    for load in (TrustStore.from_der, TrustStore.from_bytes,
                 lambda d: TrustStore.from_pem(_der_pem(d)),
                 lambda d: TrustStore.from_base64_der(base64.b64encode(d))):
        with pytest.raises(KeyRejected, match="RSASSA-PSS"):
            load(der)


@pytest.mark.parametrize("hash_oid", [None, _SHA384])
def test_pss_key_unrestricted_or_for_ps384_is_accepted(
        factory: TokenFactory, hash_oid: str | None) -> None:
    der = _pss_spki(factory, hash_oid)
    for store in (TrustStore.from_der(der), TrustStore.from_pem(_der_pem(der))):
        assert Verifier(store).verify(factory.token()).key.key_size == 2048


# -- refusals: KeyRejected only, with a bounded message ----------------------------------------

@pytest.mark.parametrize("load", [
    lambda: TrustStore.from_pem(b"no block here"),
    lambda: TrustStore.from_jwks({"keys": [1]}),
    lambda: TrustStore.from_jwks({"kty": "RSA"}),
    lambda: TrustStore.from_jwks("[]"),
    lambda: TrustStore.from_kms_public_key([("PublicKey", b"")]),  # type: ignore[arg-type]
    lambda: TrustStore.from_jwk({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": 7}),
])
def test_key_documents_of_the_wrong_shape(load: object) -> None:
    with pytest.raises(KeyRejected):
        load()  # type: ignore[operator]


def test_a_pem_label_that_is_not_ascii_is_refused() -> None:
    with pytest.raises(KeyRejected, match="is not a public key"):
        TrustStore.from_pem("-----BEGIN PÜBLIC KEY-----\nAAAA\n-----END PÜBLIC KEY-----\n")


def test_a_huge_pem_label_is_not_echoed_in_full() -> None:
    pem = b"-----BEGIN " + b"X" * 100_000 + b"-----\nAAAA\n-----END X-----\n"
    with pytest.raises(KeyRejected, match="is not a public key") as info:
        TrustStore.from_pem(pem)
    assert len(str(info.value)) < 300


def test_a_key_file_name_with_a_nul_is_key_rejected() -> None:
    with pytest.raises(KeyRejected, match="cannot read key file"):
        TrustStore.from_file("a\x00b")


_UNKNOWN_OID_KEY = bytes.fromhex("300b300606042a030405030100")


@pytest.mark.parametrize("load", [
    lambda: TrustStore.from_der(_UNKNOWN_OID_KEY),
    lambda: TrustStore.from_bytes(_UNKNOWN_OID_KEY),
    lambda: TrustStore.from_pem(_der_pem(_UNKNOWN_OID_KEY)),
    lambda: TrustStore.from_base64_der(base64.b64encode(_UNKNOWN_OID_KEY)),
    lambda: TrustStore.from_kms_public_key({"PublicKey": _UNKNOWN_OID_KEY, "KeySpec": "RSA_2048",
                                            "SigningAlgorithms": ["RSASSA_PSS_SHA_384"]}),
    lambda: TrustStore.from_pem("\ud800"),
    lambda: TrustStore.from_base64_der("\ud800"),
    lambda: TrustStore.from_kms_public_key({"PublicKey": "\ud800", "KeySpec": "RSA_2048",
                                            "SigningAlgorithms": ["RSASSA_PSS_SHA_384"]}),
    lambda: TrustStore.from_jwk("[" * 100_000),
    lambda: TrustStore.from_jwks("{\"keys\": " + "[" * 100_000),
    lambda: TrustStore.from_bytes(b"{" + b'"a":[' * 50_000),
    lambda: TrustStore.from_bytes(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    lambda: TrustStore.from_jwk({"kty": "RSA", "n": "\ud800", "e": "AQAB"}),
])
def test_key_loaders_raise_only_key_rejected(load: Any) -> None:
    with pytest.raises(KeyRejected):
        load()


def test_key_file_with_an_unknown_algorithm_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "key.der"
    path.write_bytes(_UNKNOWN_OID_KEY)
    with pytest.raises(KeyRejected, match="DER"):
        TrustStore.from_file(path)
    nested = tmp_path / "nested.json"
    nested.write_bytes(b'{"kty":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(KeyRejected, match="JSON"):
        TrustStore.from_file(nested)


# -- the bounds --------------------------------------------------------------------------------

def test_the_smallest_key_is_2048_bits() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=2047).public_key()
    with pytest.raises(KeyRejected, match="2047 bits"):
        TrustStore.from_public_keys(small)


def test_key_files_up_to_1_mib(tmp_path: Path, issuer: TokenFactory) -> None:
    pem = issuer.public_key_pem()
    path = tmp_path / "key.pem"
    path.write_bytes(pem + b"\n" * (1024 * 1024 - len(pem)))
    assert len(TrustStore.from_file(path)) == 1
    path.write_bytes(pem + b"\n" * (1024 * 1024 + 1 - len(pem)))
    with pytest.raises(KeyRejected, match="larger than"):
        TrustStore.from_file(path)
