"""Edges of the core: each test pins one behaviour that a changed line of the core would break.

Each test pins a rule with literal values (not the module's constants), so that changing the
rule in the code fails here.
"""

from __future__ import annotations

import hashlib

from conftest import NOW

from license_token import (
    PinnedKey,
    TrustStore,
    Verifier,
)
from license_token.testing import TokenFactory

# -- signatures and base64url -----------------------------------------------------------------


# -- JSON and size bounds, with literal numbers -----------------------------------------------


# -- unsigned fields ----------------------------------------------------------------------------


# -- policy ---------------------------------------------------------------------------------------


def test_verifier_repr_names_the_policy_not_the_keys(issuer: TokenFactory) -> None:
    text = repr(Verifier(issuer.trust_store(), require=["Users:Count=5"]))
    assert text.startswith("Verifier(keys=1, policy=Policy(")
    assert "Users" in text


# -- keys -----------------------------------------------------------------------------------------


# -- the bounds, at their edges -------------------------------------------------------------------


# -- key loaders: what each one builds --------------------------------------------------------


def test_the_key_a_token_names_by_kid_is_the_one_reported(issuer: TokenFactory) -> None:
    """The same public key pinned under two kids (a rotation that kept the key)."""
    public = issuer.trust_store().keys[0].public_key
    keys = TrustStore([PinnedKey(public_key=public, kid=kid) for kid in ("old", "new")])
    fresh = Verifier(keys, clock=lambda: NOW)
    assert fresh.verify(issuer.token(header={"kid": "new"})).key.kid == "new"
    reused = Verifier(keys, clock=lambda: NOW)
    for kid in ("old", "new", "old"):
        assert reused.verify(issuer.token(header={"kid": kid})).key.kid == kid


# -- requirements and results: exact values -------------------------------------------------------


def test_verified_license_json_summary(issuer: TokenFactory) -> None:
    lic = Verifier(issuer.trust_store()).verify(issuer.token(), now=NOW)
    assert lic.to_json() == {
        "claims": lic.claims.to_json(),
        "key_fingerprint_sha256": hashlib.sha256(issuer.public_key_der()).hexdigest(),
        "key_id": None,
        "verified_at": "2026-03-15T12:00:00Z",
    }
