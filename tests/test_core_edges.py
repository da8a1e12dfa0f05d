"""Edges of the core: each test pins one behaviour that a changed line of the core would break.

Each test pins a rule with literal values (not the module's constants), so that changing the
rule in the code fails here.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from conftest import BASE_CLAIMS, NOW

from license_token import (
    ConfigurationError,
    EntitlementInsufficient,
    EntitlementMissing,
    Expired,
    LicenseClaims,
    NodeMismatch,
    NotYetValid,
    PinnedKey,
    Policy,
    Requirement,
    TrustStore,
    Verifier,
)
from license_token._policy import split_entitlement_spec
from license_token.testing import TokenFactory

# -- signatures and base64url -----------------------------------------------------------------


# -- JSON and size bounds, with literal numbers -----------------------------------------------


# -- unsigned fields ----------------------------------------------------------------------------


# -- policy ---------------------------------------------------------------------------------------

def test_the_default_leeway_is_60_seconds(issuer: TokenFactory) -> None:
    token = issuer.token(expiration="2026-03-15T12:00:00")
    default = Verifier(issuer.trust_store())
    assert default.verify(token, now=NOW + timedelta(seconds=59)).expires_at == NOW
    with pytest.raises(Expired):
        default.verify(token, now=NOW + timedelta(seconds=60))


@pytest.mark.parametrize("minimum", [Decimal("NaN"), Decimal("Infinity"), -1, Decimal(-1),
                                     1.5, True, object()])
def test_requirement_minimums_that_are_not_counts(minimum: object) -> None:
    with pytest.raises(ConfigurationError, match="at_least"):
        Requirement("Users", at_least=minimum)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", 5, None])
def test_a_requirement_needs_a_name(name: object) -> None:
    with pytest.raises(ConfigurationError, match="non-empty string"):
        Requirement(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["", ":Count", "=5", 5])
def test_entitlement_specs_without_a_name(spec: object) -> None:
    with pytest.raises(ConfigurationError):
        split_entitlement_spec(spec)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Requirement.parse(spec)  # type: ignore[arg-type]


def test_verifier_repr_names_the_policy_not_the_keys(issuer: TokenFactory) -> None:
    text = repr(Verifier(issuer.trust_store(), require=["Users:Count=5"]))
    assert text.startswith("Verifier(keys=1, policy=Policy(")
    assert "Users" in text


# -- keys -----------------------------------------------------------------------------------------


# -- the bounds, at their edges -------------------------------------------------------------------

def test_leeway_bound_is_366_days(issuer: TokenFactory) -> None:
    assert Verifier(issuer.trust_store(), leeway=timedelta(days=366)).policy.leeway == (
        timedelta(days=366))
    with pytest.raises(ConfigurationError, match="366 days"):
        Verifier(issuer.trust_store(), leeway=timedelta(days=366, microseconds=1))


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

def test_requirement_text_round_trips() -> None:
    for spec in ("Users", "Users:Count", "Users:Count=5", "Users=2.5", "urn:x:Users:Count=1"):
        assert str(Requirement.parse(spec)) == spec
    assert Requirement.parse("a=b:Count=5") == Requirement("a=b", unit="Count", at_least=5)
    assert Requirement("Users", at_least=0).at_least == 0
    assert split_entitlement_spec("Users") == ("Users", None, None)
    assert split_entitlement_spec("Users:Count") == ("Users", "Count", None)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_requirement_is_checked_however_many(issuer: TokenFactory, count: int) -> None:
    met = [Requirement("Users", unit="Count", at_least=10), Requirement("ProFeature")][:count - 1]
    token = issuer.token()
    both = Verifier(issuer.trust_store(), require=met).verify(token, now=NOW)
    assert {str(r): e.name for r, e in both.granted.items()} == {str(r): r.name for r in met}
    unmet = Verifier(issuer.trust_store(), require=[*met, "Seats:Count=1"])
    with pytest.raises(EntitlementMissing, match="no entitlement Seats:Count=1"):
        unmet.verify(token, now=NOW)


def test_the_first_of_equal_numbers_is_granted(issuer: TokenFactory) -> None:
    users = Requirement("Users", unit="Count", at_least=10)
    claims = issuer.claims(entitlementsAllowed=[
        {"name": "Users", "unit": "Count", "value": "50.0"},
        {"name": "Users", "unit": "Count", "value": "50"}])
    lic = Verifier(issuer.trust_store(), require=[users]).verify(issuer.token(claims), now=NOW)
    assert lic.granted[users].value == "50.0"


def test_shortfall_and_missing_messages_name_what_was_granted(issuer: TokenFactory) -> None:
    claims = issuer.claims(entitlementsAllowed=[
        {"name": "Users", "unit": "Count", "value": "3"},
        {"name": "Users", "unit": "Bits", "value": "x"},
        {"name": "Seats", "unit": "Count", "value": "9"}])
    token = issuer.token(claims)
    with pytest.raises(EntitlementInsufficient) as info:
        Verifier(issuer.trust_store(), require=["Users=5"]).verify(token, now=NOW)
    assert str(info.value) == "entitlement Users=5 not met: granted '3', 'x'"
    with pytest.raises(EntitlementMissing) as missing:
        Verifier(issuer.trust_store(), require=["Users:Seconds"]).verify(token, now=NOW)
    assert str(missing.value) == "no entitlement Users:Seconds"
    lic = Verifier(issuer.trust_store()).verify(token, now=NOW)
    with pytest.raises(EntitlementMissing) as lookup:
        lic.entitlement("Seats", "Bits")
    assert str(lookup.value) == "no entitlement Seats:Bits"
    with pytest.raises(EntitlementMissing) as by_name:
        lic.entitlement("Nothing")
    assert str(by_name.value) == "no entitlement Nothing"


def test_verified_license_json_summary(issuer: TokenFactory) -> None:
    lic = Verifier(issuer.trust_store()).verify(issuer.token(), now=NOW)
    assert lic.to_json() == {
        "claims": lic.claims.to_json(),
        "key_fingerprint_sha256": hashlib.sha256(issuer.public_key_der()).hexdigest(),
        "key_id": None,
        "verified_at": "2026-03-15T12:00:00Z",
    }


def test_a_token_that_expires_as_it_is_issued_is_valid_within_the_leeway() -> None:
    claims = LicenseClaims._from_payload(BASE_CLAIMS | {"expiration": "2021-01-01T00:00:00"})
    assert claims.expiration == claims.issued_at
    moment = claims.issued_at + timedelta(seconds=59)
    assert Policy(leeway=60)._check(claims, moment) == {}


def test_node_and_license_mismatch_messages(issuer: TokenFactory) -> None:
    bound, unbound = issuer.token(nodeId="a"), issuer.token(nodeId=None)
    keys = issuer.trust_store()
    with pytest.raises(NodeMismatch) as info:
        Verifier(keys, node_id="b").verify(bound, now=NOW)
    assert str(info.value) == "token is bound to 'a', not 'b'"
    with pytest.raises(NodeMismatch) as none:
        Verifier(keys, node_id="b").verify(unbound, now=NOW)
    assert str(none.value) == "token is bound to no node, not 'b'"
    with pytest.raises(NotYetValid, match="issued at 2026-03-15T11:00:00Z"):
        Verifier(keys).verify(bound, now=NOW - timedelta(hours=2))
