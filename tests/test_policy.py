"""The decision: the validity window and leeway, node and license pins, requirements and grants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import BASE_CLAIMS, NOW, UTC

from license_token import (
    ConfigurationError,
    Entitlement,
    EntitlementAmbiguous,
    EntitlementInsufficient,
    EntitlementMissing,
    Expired,
    LicenseClaims,
    LicenseTokenError,
    Malformed,
    NodeMismatch,
    NotYetValid,
    Policy,
    Requirement,
    Verifier,
)
from license_token._policy import split_entitlement_spec
from license_token.cli import _parser
from license_token.testing import TokenFactory

# -- the validity window and the leeway --------------------------------------------------------

def test_validity_window_boundaries() -> None:
    factory = TokenFactory(now=datetime(2026, 1, 10, tzinfo=UTC))
    token = factory.token(issuedAt="2026-01-10T00:00:00", expiration="2026-01-11T00:00:00")
    verifier = Verifier(factory.trust_store(), leeway=timedelta(seconds=60))
    issued, expiry = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)
    verifier.verify(token, now=issued - timedelta(seconds=60))
    verifier.verify(token, now=expiry + timedelta(seconds=59, microseconds=999999))
    for moment, code in ((issued - timedelta(seconds=60, microseconds=1), "not_yet_valid"),
                         (expiry + timedelta(seconds=60), "expired")):
        with pytest.raises(LicenseTokenError) as info:
            verifier.verify(token, now=moment)
        assert getattr(info.value, "code", "") == code


def test_the_default_leeway_is_60_seconds(issuer: TokenFactory) -> None:
    token = issuer.token(expiration="2026-03-15T12:00:00")
    default = Verifier(issuer.trust_store())
    assert default.verify(token, now=NOW + timedelta(seconds=59)).expires_at == NOW
    with pytest.raises(Expired):
        default.verify(token, now=NOW + timedelta(seconds=60))


def test_a_token_that_expires_as_it_is_issued_is_valid_within_the_leeway() -> None:
    claims = LicenseClaims._from_payload(BASE_CLAIMS | {"expiration": "2021-01-01T00:00:00"})
    assert claims.expiration == claims.issued_at
    moment = claims.issued_at + timedelta(seconds=59)
    assert Policy(leeway=60)._check(claims, moment) == {}


def test_leeway_bound_is_366_days(issuer: TokenFactory) -> None:
    assert Verifier(issuer.trust_store(), leeway=timedelta(days=366)).policy.leeway == (
        timedelta(days=366))
    with pytest.raises(ConfigurationError, match="366 days"):
        Verifier(issuer.trust_store(), leeway=timedelta(days=366, microseconds=1))


def test_absurd_leeway_is_a_configuration_error(issuer: TokenFactory) -> None:
    with pytest.raises(ConfigurationError, match="leeway"):
        Verifier(issuer.trust_store(), leeway=timedelta(days=800_000))


@pytest.mark.parametrize("claims", [
    {"expiration": "9999-12-31T23:59:59"},
    {"expiration": "9999-12-31T23:59:59Z"},
    {"expiration": "9999-12-31T23:59:59-01:00"},
    {"expiration": "9999-12-31T23:00:00-05:00"},
    {"issuedAt": "0001-01-01T00:00:00"},
    {"issuedAt": "0001-01-01T00:30:00+01:00"},
])
def test_instants_beyond_datetime_with_leeway_are_malformed(
        issuer: TokenFactory, verifier: Verifier, claims: dict[str, str]) -> None:
    with pytest.raises(Malformed, match="cannot be represented"):
        verifier.verify(issuer.response(issuer.claims(**claims)))


def test_perpetual_expiration_without_leeway_verifies_and_prints(issuer: TokenFactory) -> None:
    lic = Verifier(issuer.trust_store(), leeway=0).verify(
        issuer.response(expiration="9999-12-31T23:59:59"), now=NOW)
    assert lic.to_json()["claims"]["expiration"] == "9999-12-31T23:59:59Z"


# -- node and license pins ---------------------------------------------------------------------

@pytest.mark.parametrize(("pin", "value"), [
    ("node_id", ""), ("license_arn", ""), ("node_id", 5), ("license_arn", b"arn"),
])
def test_an_empty_or_non_string_pin_is_a_configuration_error(
        factory: TokenFactory, pin: str, value: object) -> None:
    """``node_id=""`` would reject every token with a misleading node_mismatch at verify time."""
    with pytest.raises(ConfigurationError, match=f"{pin} must be a non-empty string or None"):
        Verifier(factory.trust_store(), **{pin: value})  # type: ignore[arg-type]


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


# -- requirements: the entitlement notation, the name and the minimum --------------------------

def test_requirement_parsing() -> None:
    assert Requirement.parse("Users") == Requirement("Users")
    assert Requirement.parse("Users:Count") == Requirement("Users", unit="Count")
    assert Requirement.parse("Users:Count=5") == Requirement("Users", unit="Count", at_least=5)
    assert Requirement.parse("Rate:Count/Second=1.5").at_least == Decimal("1.5")
    assert Requirement.parse("urn:x:Users:Count=2").name == "urn:x:Users"
    assert str(Requirement("Users", unit="Count", at_least="5")) == "Users:Count=5"
    for bad in ("", ":Count", "Users:count", "Users=abc", "Users=NaN", "Users=Infinity"):
        with pytest.raises(ConfigurationError):
            Requirement.parse(bad)
    with pytest.raises(ConfigurationError):
        Requirement("Users", at_least=1.5)  # type: ignore[arg-type]


def test_requirement_text_round_trips() -> None:
    for spec in ("Users", "Users:Count", "Users:Count=5", "Users=2.5", "urn:x:Users:Count=1"):
        assert str(Requirement.parse(spec)) == spec
    assert Requirement.parse("a=b:Count=5") == Requirement("a=b", unit="Count", at_least=5)
    assert Requirement("Users", at_least=0).at_least == 0
    assert split_entitlement_spec("Users") == ("Users", None, None)
    assert split_entitlement_spec("Users:Count") == ("Users", "Count", None)


@pytest.mark.parametrize(("spec", "parts"), [
    ("Users", ("Users", None, None)),
    ("Users:Count", ("Users", "Count", None)),
    ("Users:Count=5", ("Users", "Count", "5")),
    ("urn:x:Users:Count=2", ("urn:x:Users", "Count", "2")),
    ("a=b:Count=3", ("a=b", "Count", "3")),
    ("Users=5", ("Users", None, "5")),
])
def test_one_entitlement_notation(spec: str, parts: tuple[str, str | None, str | None]) -> None:
    assert split_entitlement_spec(spec) == parts
    name, unit, _ = parts
    requirement = Requirement.parse(spec)
    assert (requirement.name, requirement.unit) == (name, unit)
    if unit is not None:  # checkout-borrow needs a unit: the same split, the same names
        args = _parser().parse_args(["checkout-borrow", "--license-arn", "a", "--key", "k",
                                     "--out", "o", "--entitlement", spec])
        (entitlement,) = args.entitlement
        assert (entitlement.name, entitlement.unit, entitlement.value) == parts


@pytest.mark.parametrize("spec", ["Users:count=1", ":Count=1", "Users:=1", "Users:Dollars"])
def test_the_cli_and_requirement_refuse_the_same_entitlements(
        spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigurationError):
        Requirement.parse(spec)
    with pytest.raises(SystemExit):
        _parser().parse_args(["checkout-borrow", "--license-arn", "a", "--key", "k", "--out",
                              "o", "--entitlement", spec])
    assert "--entitlement" in capsys.readouterr().err


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


@pytest.mark.parametrize("minimum", [Decimal("NaN"), Decimal("Infinity"), -1, Decimal(-1),
                                     1.5, True, object()])
def test_requirement_minimums_that_are_not_counts(minimum: object) -> None:
    with pytest.raises(ConfigurationError, match="at_least"):
        Requirement("Users", at_least=minimum)  # type: ignore[arg-type]


def test_requirement_minimum_follows_the_same_grammar() -> None:
    assert Requirement.parse("Users:Count=2.5").at_least == Decimal("2.5")
    for spec in ("Users=٥", "Users=1e3", "Users=1_0", "Users=-1"):
        with pytest.raises(ConfigurationError):
            Requirement.parse(spec)


@pytest.mark.parametrize("build", [
    lambda: Requirement("Users", unit="Count", at_least=-1),
    lambda: Requirement("Users", at_least="-0.5"),
    lambda: Requirement.parse("Users:Count=-1"),
])
def test_a_negative_minimum_is_a_configuration_error(build: Callable[[], Requirement]) -> None:
    with pytest.raises(ConfigurationError, match=r"at_least .?-"):
        build()


def test_a_zero_minimum_is_accepted() -> None:
    assert Requirement.parse("Users:Count=0").at_least == 0


# -- what the requirements grant ---------------------------------------------------------------

def test_requirement_matching() -> None:
    claims = LicenseClaims._from_payload({
        "licenseArn": "arn", "issuedAt": "2021-01-01T00:00:00", "expiration": "2021-01-02T00:00:00",
        "entitlementsAllowed": [{"name": "Users", "unit": "Count", "value": "3"},
                                {"name": "Users", "unit": "Seconds", "value": "100"}],
    })
    assert Requirement("Users", unit="Count", at_least=3)._check(claims).unit == "Count"
    # any unit: the Seconds one satisfies it
    assert Requirement("Users", at_least=50)._check(claims).unit == "Seconds"
    with pytest.raises(EntitlementInsufficient, match="not met"):
        Requirement("Users", unit="Count", at_least=4)._check(claims)
    assert Entitlement(name="a", unit="Count").number is None


def test_requirement_matches_by_name_and_any_or_the_given_unit() -> None:
    users, users_count = Requirement("Users"), Requirement("Users", unit="Count")
    count = Entitlement(name="Users", unit="Count", value="5")
    bits = Entitlement(name="Users", unit="Bits", value="5")
    seats = Entitlement(name="Seats", unit="Count", value="5")
    assert [users.matches(e) for e in (count, bits, seats)] == [True, True, False]
    assert [users_count.matches(e) for e in (count, bits, seats)] == [True, False, False]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_requirement_is_checked_however_many(issuer: TokenFactory, count: int) -> None:
    met = [Requirement("Users", unit="Count", at_least=10), Requirement("ProFeature")][:count - 1]
    token = issuer.token()
    both = Verifier(issuer.trust_store(), require=met).verify(token, now=NOW)
    assert {str(r): e.name for r, e in both.granted.items()} == {str(r): r.name for r in met}
    unmet = Verifier(issuer.trust_store(), require=[*met, "Seats:Count=1"])
    with pytest.raises(EntitlementMissing, match="no entitlement Seats:Count=1"):
        unmet.verify(token, now=NOW)


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


def test_the_first_of_equal_numbers_is_granted(issuer: TokenFactory) -> None:
    users = Requirement("Users", unit="Count", at_least=10)
    claims = issuer.claims(entitlementsAllowed=[
        {"name": "Users", "unit": "Count", "value": "50.0"},
        {"name": "Users", "unit": "Count", "value": "50"}])
    lic = Verifier(issuer.trust_store(), require=[users]).verify(issuer.token(claims), now=NOW)
    assert lic.granted[users].value == "50.0"


def _with(issuer: TokenFactory, *entitlements: tuple[str, str, str]) -> dict[str, Any]:
    return issuer.response(issuer.claims(entitlementsAllowed=[
        {"name": n, "unit": u, "value": v} for n, u, v in entitlements]))


def test_granted_is_the_entitlement_the_requirement_checked(issuer: TokenFactory) -> None:
    users = Requirement("Users", unit="Count", at_least=5)
    lic = Verifier(issuer.trust_store(), require=[users]).verify(
        _with(issuer, ("Users", "Bits", "1000000"), ("Users", "Count", "5")), now=NOW)
    assert lic.granted[users] == Entitlement(name="Users", unit="Count", value="5")
    assert lic.entitlement("Users", "Count").value == "5"
    assert lic.entitlement("Users").unit == "Count"  # the requirement chose it
    assert "Users" in lic.entitlements
    assert lic.entitlements["Users"].unit == "Count"


@pytest.mark.parametrize("values", [("1", "50", "20"), ("20", "50", "30")],
                         ids=["one below the minimum", "the first meets it too"])
def test_granted_is_the_largest_that_meets_the_minimum(
        issuer: TokenFactory, values: tuple[str, ...]) -> None:
    users = Requirement("Users", unit="Count", at_least=10)
    lic = Verifier(issuer.trust_store(), require=[users]).verify(
        _with(issuer, *(("Users", "Count", v) for v in values)), now=NOW)
    assert lic.granted[users].value == "50"
    assert lic.entitlement("Users", "Count").value == "50"


@pytest.mark.parametrize("spec", ["Users", "Users:Count"])
def test_a_requirement_without_minimum_met_by_several_chooses_none_of_them(
        issuer: TokenFactory, spec: str) -> None:
    """Presence is met by any match: the first one is no choice, so the name stays
    ambiguous instead of silently reading whichever entitlement the token lists first."""
    lic = Verifier(issuer.trust_store(), require=[spec]).verify(
        _with(issuer, ("Users", "Bits", "1000000"), ("Users", "Count", "5"),
              ("Users", "Count", "7")), now=NOW)
    with pytest.raises(EntitlementAmbiguous):
        lic.entitlement("Users")
    with pytest.raises(EntitlementAmbiguous):
        lic.entitlement("Users", "Count")
    assert "Users" not in lic.entitlements
    assert lic.entitlement("Users", "Bits").value == "1000000"  # the only one of its unit


def test_a_requirement_without_minimum_met_by_one_entitlement_chooses_it(
        issuer: TokenFactory) -> None:
    lic = Verifier(issuer.trust_store(), require=["Users:Count"]).verify(
        _with(issuer, ("Users", "Bits", "1000000"), ("Users", "Count", "5")), now=NOW)
    assert lic.entitlement("Users").unit == "Count"
    assert lic.entitlements["Users"].value == "5"


def test_a_repeated_name_no_requirement_chose_is_ambiguous(
        issuer: TokenFactory, verifier: Verifier) -> None:
    lic = verifier.verify(_with(issuer, ("Users", "Count", "1"), ("Users", "Count", "50"),
                                ("Seats", "Count", "3")))
    assert dict(lic.granted) == {}
    with pytest.raises(EntitlementAmbiguous, match="2 entitlements"):
        lic.entitlement("Users")
    assert "Users" not in lic.entitlements
    assert lic.entitlements.get("Users") is None
    assert lic.entitlements["Seats"].value == "3"
    with pytest.raises(EntitlementMissing):
        lic.entitlement("Seats", "Bits")
