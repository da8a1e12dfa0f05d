"""Cross-checks with independent JOSE implementations: PyJWT, joserfc, jwcrypto."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from conftest import load_vectors, vector_verifier
from joserfc import jws as joserfc_jws
from joserfc.jwk import RSAKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from license_token import LicenseTokenError, TrustStore, Verifier
from license_token._clock import parse_time
from license_token.testing import TokenFactory

VALID = [c for name in ("valid.json", "published.json") for c in load_vectors(name)
         if c["expected"]["valid"] and (c["input_form"] == "token"
                                        or json.loads(c["input"]).get("SignedToken"))]


def _token(case: dict[str, Any]) -> str:
    text = str(case["input"])
    return text.strip() if case["input_form"] == "token" else json.loads(text)["SignedToken"]


@pytest.mark.parametrize("case", VALID, ids=[c["id"] for c in VALID])
def test_valid_vectors_verify_with_pyjwt(case: dict[str, Any]) -> None:
    verifier = vector_verifier(case)
    lic = verifier.verify(_token(case), now=parse_time(case["now"], "now"))
    decoded = jwt.decode(_token(case), lic.key.public_key, algorithms=["PS384"],
                         options={"verify_exp": False, "verify_iat": False})
    assert decoded["licenseArn"] == lic.license_arn


@pytest.mark.parametrize("case", VALID, ids=[c["id"] for c in VALID])
def test_valid_vectors_verify_with_joserfc(case: dict[str, Any]) -> None:
    verifier = vector_verifier(case)
    lic = verifier.verify(_token(case), now=parse_time(case["now"], "now"))
    key = RSAKey.import_key(lic.key.to_pem())
    obj = joserfc_jws.deserialize_compact(_token(case), key, algorithms=["PS384"])
    assert json.loads(obj.payload)["licenseArn"] == lic.license_arn


def test_tokens_minted_by_pyjwt_verify(factory: TokenFactory) -> None:
    claims = factory.claims()
    token = jwt.encode(claims, factory.private_key, algorithm="PS384")
    assert Verifier(factory.trust_store()).verify(token).consumption_token == (
        claims["licenseConsumptionToken"])


def test_tokens_minted_by_joserfc_verify(factory: TokenFactory) -> None:
    claims = factory.claims()
    key = RSAKey.import_key(factory.private_key)
    token = joserfc_jws.serialize_compact({"alg": "PS384"}, json.dumps(claims), key,
                                          algorithms=["PS384"])
    assert Verifier(factory.trust_store()).verify(token).node_id == claims["nodeId"]


def test_tokens_minted_by_jwcrypto_verify(factory: TokenFactory) -> None:
    claims = factory.claims()
    key = jwcrypto_jwk.JWK.from_pyca(factory.private_key)
    signer = jwcrypto_jws.JWS(json.dumps(claims).encode())
    signer.add_signature(key, alg="PS384", protected=json.dumps({"alg": "PS384", "kid": "k1"}))
    token = signer.serialize(compact=True)
    lic = Verifier(factory.trust_store()).verify(token)
    assert lic.header["kid"] == "k1"


def test_jwcrypto_jwk_export_is_accepted_by_trust_store(factory: TokenFactory) -> None:
    key = jwcrypto_jwk.JWK.from_pyca(factory.private_key.public_key())
    store = TrustStore.from_jwk(key.export_public())
    assert Verifier(store).verify(factory.token()).key.fingerprint == (
        factory.trust_store().keys[0].fingerprint)


def test_our_tokens_are_accepted_by_pyjwt_and_ours_reject_what_pyjwt_rejects(
        factory: TokenFactory) -> None:
    claims = factory.claims()
    token = factory.token(claims)
    assert jwt.decode(token, factory.private_key.public_key(), algorithms=["PS384"]) == claims
    other = TokenFactory()
    forged = other.token()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, factory.private_key.public_key(), algorithms=["PS384"])
    with pytest.raises(LicenseTokenError):
        Verifier(factory.trust_store()).verify(forged)
