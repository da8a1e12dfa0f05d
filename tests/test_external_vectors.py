"""External vectors: Wycheproof RSA-PSS SHA-384 salt 48, and RFC 7520 §4.2 (PS384 JWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import EXTERNAL_VECTORS
from cryptography.hazmat.primitives.serialization import load_der_public_key

from license_token import Malformed, TrustStore, Verifier
from license_token._jws import parse_compact, verify_ps384

# Named, not globbed: a missing file fails collection instead of leaving an empty, skipped set.
WYCHEPROOF = [EXTERNAL_VECTORS / "wycheproof" / f"rsa_pss_{bits}_sha384_mgf1_48_test.json"
              for bits in (2048, 4096)]


def _wycheproof_cases() -> list[Any]:
    cases = []
    for path in WYCHEPROOF:
        doc = json.loads(path.read_text())  # FileNotFoundError: a vector is missing
        for group in doc["testGroups"]:
            assert (group["sha"], group["mgfSha"], group["sLen"]) == ("SHA-384", "SHA-384", 48)
            for test in group["tests"]:
                cases.append(pytest.param(group["publicKeyDer"], test,
                                          id=f"{path.stem}-{test['tcId']}"))
    return cases


def test_external_vectors_are_present() -> None:
    assert len(WYCHEPROOF) == 2
    assert len(_wycheproof_cases()) == 282


@pytest.mark.parametrize(("key_der", "test"), _wycheproof_cases())
def test_wycheproof_ps384(key_der: str, test: dict[str, Any]) -> None:
    key = load_der_public_key(bytes.fromhex(key_der))
    verified = verify_ps384(key, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))  # type: ignore[arg-type]
    assert test["result"] in ("valid", "invalid")
    assert verified is (test["result"] == "valid"), test["comment"]


def test_rfc7520_4_2_through_the_jws_layer() -> None:
    doc = json.loads((EXTERNAL_VECTORS / "rfc7520" / "4_2.rsa-pss_signature.json").read_text())
    jwk = {k: doc["input"]["key"][k] for k in ("kty", "kid", "n", "e", "use")}
    store = TrustStore.from_jwk(jwk)
    jws = parse_compact(doc["output"]["compact"])
    assert jws.header == doc["signing"]["protected"]
    assert jws.payload.decode() == doc["input"]["payload"]
    assert jws.kid == "bilbo.baggins@hobbiton.example"
    assert verify_ps384(store.keys[0].public_key, jws.signing_input, jws.signature)
    flipped = jws.signature[:-1] + bytes([jws.signature[-1] ^ 1])
    assert not verify_ps384(store.keys[0].public_key, jws.signing_input, flipped)


def test_rfc7520_is_signature_valid_but_not_a_license() -> None:
    """The cookbook payload is prose: the signature passes, the claims do not parse."""
    doc = json.loads((EXTERNAL_VECTORS / "rfc7520" / "4_2.rsa-pss_signature.json").read_text())
    jwk = {k: doc["input"]["key"][k] for k in ("kty", "n", "e")}
    with pytest.raises(Malformed, match="payload"):
        Verifier(TrustStore.from_jwk(jwk)).verify(doc["output"]["compact"])
