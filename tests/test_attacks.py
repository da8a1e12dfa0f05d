"""One named regression test per attack class seen against JWT/JWS libraries."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from license_token import LicenseTokenError, TrustStore, Verifier
from license_token._jws import MAX_TOKEN_LENGTH
from license_token.testing import TokenFactory
from license_token.testing._factory import b64u


@pytest.fixture(scope="module")
def verifier(factory: TokenFactory) -> Verifier:
    return Verifier(factory.trust_store())


def _code(verifier: Verifier, source: Any) -> str:
    with pytest.raises(LicenseTokenError) as info:
        verifier.verify(source)
    return info.value.code


def test_sanity_genuine_token_verifies(verifier: Verifier, factory: TokenFactory) -> None:
    assert verifier.verify(factory.response()).node_id == "node-7f3a"


def test_alg_none(verifier: Verifier, factory: TokenFactory) -> None:
    token = factory.encode({"alg": "none"}, factory.claims(), alg="none")
    assert token.endswith(".")
    assert _code(verifier, token) == "unsupported_algorithm"


@pytest.mark.parametrize("alg", ["NONE", "None", "nOnE"])
def test_alg_none_case_variants(verifier: Verifier, factory: TokenFactory, alg: str) -> None:
    assert _code(verifier, factory.encode({"alg": alg}, factory.claims(), alg="none")) == (
        "unsupported_algorithm")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_public_key(verifier: Verifier, factory: TokenFactory, alg: str) -> None:
    """PyJWT CVE-2022-29217, python-jose CVE-2024-33663: the PEM used as an HMAC secret."""
    for secret in (factory.public_key_pem(), factory.public_key_der()):
        token = factory.encode({"alg": alg}, factory.claims(), alg=alg, secret=secret)
        assert _code(verifier, token) == "unsupported_algorithm"


@pytest.mark.parametrize("alg", ["RS384", "RS256", "PS256", "PS512"])
def test_other_rsa_algorithms_by_the_genuine_key(
        verifier: Verifier, factory: TokenFactory, alg: str) -> None:
    token = factory.encode({"alg": alg}, factory.claims(), alg=alg)
    assert _code(verifier, token) == "unsupported_algorithm"


def test_rs384_signature_under_ps384_header(verifier: Verifier, factory: TokenFactory) -> None:
    """A PKCS#1 v1.5 signature relabelled PS384 must not verify."""
    header = b64u(b'{"alg":"PS384"}')
    signing_input = f"{header}.{b64u(json.dumps(factory.claims()).encode())}"
    signature = factory.sign(signing_input.encode(), "RS384")
    assert _code(verifier, f"{signing_input}.{b64u(signature)}") == "bad_signature"


def test_unknown_crit(verifier: Verifier, factory: TokenFactory) -> None:
    """PyJWT GHSA-752w-5fwx-jx9f, Authlib CVE-2025-59420."""
    for crit in (["b64"], ["exp"], [], "exp"):
        token = factory.token(header={"crit": crit, "b64": True, "exp": 1})
        assert _code(verifier, token) == "malformed"


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
def test_key_in_token_header_is_never_used(verifier: Verifier, member: str) -> None:
    """Authlib CVE-2026-27962: a token signed by its own embedded key."""
    attacker = TokenFactory()
    numbers = attacker.private_key.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64u(numbers.n.to_bytes(256, "big")), "e": "AQAB"}
    value: Any = {"jwk": jwk, "jku": "https://attacker.example/jwks.json",
                  "x5u": "https://attacker.example/cert.pem",
                  "x5c": [base64.b64encode(attacker.public_key_der()).decode()]}[member]
    token = attacker.token(header={member: value})
    assert _code(verifier, token) == "bad_signature"


def test_oversize_token_rejected_before_decoding(verifier: Verifier) -> None:
    """Authlib CVE-2025-61920: unbounded segments as a DoS."""
    huge = "eyJhbGciOiJQUzM4NCJ9." + "A" * MAX_TOKEN_LENGTH + ".AAAA"
    assert _code(verifier, huge) == "malformed"
    assert _code(verifier, huge.encode()) == "malformed"
    assert _code(verifier, {"SignedToken": huge}) == "malformed"
    assert _code(verifier, "x" * (50 * 1024 * 1024)) == "malformed"


def test_oversize_signature_segment(verifier: Verifier, factory: TokenFactory) -> None:
    head, payload, _ = factory.token().split(".")
    assert _code(verifier, f"{head}.{payload}.{'A' * 60000}") == "bad_signature"


def test_padding_is_rejected(verifier: Verifier, factory: TokenFactory) -> None:
    head, payload, signature = factory.token().split(".")
    for token in (f"{head}=.{payload}.{signature}", f"{head}.{payload}.{signature}=",
                  f"{head}.{payload}=.{signature}", f"{head}.{payload}.{signature}=="):
        assert _code(verifier, token) == "malformed"


def test_non_base64url_characters(verifier: Verifier, factory: TokenFactory) -> None:
    head, payload, signature = factory.token().split(".")
    standard = signature.replace("-", "+").replace("_", "/")
    for token in (f"{head}.{payload}.{signature[:-1]}+", f"{head}.{payload}.{signature[:-1]}/",
                  f"{head}.{payload}.{signature[:10]}\n{signature[10:]}",
                  f"{head}.{payload}.{signature[:-1]}é", f"{head} .{payload}.{signature}"):
        assert _code(verifier, token) == "malformed"
    # Surrounding whitespace of a bare token read from a file is trimmed; inside a
    # response the SignedToken string is taken exactly.
    assert _code(verifier, {"SignedToken": f"{head}.{payload}.{signature} "}) == "malformed"
    if standard != signature:
        assert _code(verifier, f"{head}.{payload}.{standard}") == "malformed"


def test_non_canonical_trailing_bits(verifier: Verifier, factory: TokenFactory) -> None:
    token = factory.token()
    head, payload, signature = token.split(".")
    assert len(signature) % 4 in (2, 3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(signature + "==")
    assert _code(verifier, f"{head}.{payload}.{twin}") == "malformed"


def test_duplicate_alg_in_header(verifier: Verifier, factory: TokenFactory) -> None:
    for header in (b'{"alg":"HS256","alg":"PS384"}', b'{"alg":"PS384","alg":"PS384"}'):
        assert _code(verifier, factory.encode(header, factory.claims())) == "malformed"


def test_duplicate_kid_in_header(verifier: Verifier, factory: TokenFactory) -> None:
    header = b'{"alg":"PS384","kid":"a","kid":"b"}'
    assert _code(verifier, factory.encode(header, factory.claims())) == "malformed"


def test_duplicate_claim_in_payload(verifier: Verifier, factory: TokenFactory) -> None:
    body = json.dumps(factory.claims()).encode()[:-1] + b',"nodeId":"evil"}'
    assert _code(verifier, factory.encode({"alg": "PS384"}, body)) == "malformed"
    nested = json.dumps(factory.claims(checkoutMetadata={"a": "1"})).encode()
    nested = nested.replace(b'{"a": "1"}', b'{"a": "1", "a": "2"}')
    assert _code(verifier, factory.encode({"alg": "PS384"}, nested)) == "malformed"


@pytest.mark.parametrize("depth", [17, 100, 10_000, 40_000])
def test_deep_nesting(verifier: Verifier, factory: TokenFactory, depth: int) -> None:
    deep = b'{"licenseArn":"x","x":' + b"[" * depth + b"]" * depth + b"}"
    assert _code(verifier, factory.encode({"alg": "PS384"}, deep)) == "malformed"
    header = b'{"alg":"PS384","x":' + b"[" * depth + b"]" * depth + b"}"
    assert _code(verifier, factory.encode(header, factory.claims())) == "malformed"


def test_deep_nesting_in_response_document(verifier: Verifier) -> None:
    assert _code(verifier, '{"SignedToken":"a.b.c","x":' + "[" * 50_000 + "]" * 50_000 + "}") == (
        "malformed")


def test_nan_and_huge_numbers(verifier: Verifier, factory: TokenFactory) -> None:
    for body in (b'{"licenseArn":NaN}', b'{"x":Infinity}', b'{"x":' + b"9" * 5000 + b"}"):
        assert _code(verifier, factory.encode({"alg": "PS384"}, body)) == "malformed"


def test_non_utf8_json(verifier: Verifier, factory: TokenFactory) -> None:
    utf16 = json.dumps(factory.claims()).encode("utf-16")
    assert _code(verifier, factory.encode({"alg": "PS384"}, utf16)) == "malformed"


@pytest.mark.parametrize("field", ["NodeId", "LicenseArn", "Expiration", "IssuedAt",
                                   "LicenseConsumptionToken", "EntitlementsAllowed",
                                   "CheckoutMetadata"])
def test_unsigned_field_tampering(verifier: Verifier, factory: TokenFactory, field: str) -> None:
    response = factory.response(checkoutMetadata={"Mac": "aa"})
    edits: dict[str, Any] = {
        "NodeId": "attacker", "LicenseArn": response["LicenseArn"] + "0",
        "Expiration": "2099-01-01T00:00:00", "IssuedAt": "2000-01-01T00:00:00",
        "LicenseConsumptionToken": "f" * 32,
        "EntitlementsAllowed": [{"Name": "Users", "Value": "9999", "Unit": "Count"}],
        "CheckoutMetadata": [{"Name": "Mac", "Value": "bb"}],
    }
    verifier.verify(response)
    assert _code(verifier, response | {field: edits[field]}) == "response_mismatch"


def test_unsigned_metadata_with_a_duplicate_name(verifier: Verifier,
                                                 factory: TokenFactory) -> None:
    response = factory.response(checkoutMetadata={"Mac": "aa"})
    doubled = [{"Name": "Mac", "Value": "evil"}, {"Name": "Mac", "Value": "aa"}]
    assert _code(verifier, response | {"CheckoutMetadata": doubled}) == "malformed"


def test_unsigned_entitlement_added(verifier: Verifier, factory: TokenFactory) -> None:
    response = factory.response()
    extra = response["EntitlementsAllowed"] + [{"Name": "Admin", "Value": "1", "Unit": "Count"}]
    assert _code(verifier, response | {"EntitlementsAllowed": extra}) == "response_mismatch"


def test_signature_from_small_key_not_accepted(factory: TokenFactory) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(LicenseTokenError) as info:
        TrustStore.from_public_keys(small.public_key())
    assert info.value.code == "key_rejected"


def test_salt_length_is_exactly_48(verifier: Verifier, factory: TokenFactory) -> None:
    """cryptography's PSS.AUTO / MAX_LENGTH would let OpenSSL accept any salt length."""
    for salt in (0, 20, 32, 47, 49, 64, 100):
        token = factory.encode({"alg": "PS384"}, factory.claims(), salt_length=salt)
        assert _code(verifier, token) == "bad_signature", salt
    claims = factory.claims()
    lic = verifier.verify(factory.encode({"alg": "PS384"}, claims, salt_length=48))
    assert lic.consumption_token == claims["licenseConsumptionToken"]


def test_truncated_and_extended_signature(verifier: Verifier, factory: TokenFactory) -> None:
    head, payload, signature = factory.token().split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    for bad in (raw[1:], b"\x00" + raw, raw + b"\x00", raw[:-1]):
        assert _code(verifier, f"{head}.{payload}.{b64u(bad)}") == "bad_signature"


def test_equivalent_unsigned_fields_are_not_a_mismatch(verifier: Verifier,
                                                       factory: TokenFactory) -> None:
    """Entitlements compare as an unordered collection, times as instants."""
    response = factory.response()
    reordered = response | {
        "EntitlementsAllowed": list(reversed(response["EntitlementsAllowed"])),
        "IssuedAt": response["IssuedAt"] + "Z",
        "Expiration": response["Expiration"] + ".000+00:00",
    }
    assert verifier.verify(reordered).license_arn == response["LicenseArn"]
    shifted = response | {"Expiration": response["Expiration"] + "+01:00"}
    assert _code(verifier, shifted) == "response_mismatch"
