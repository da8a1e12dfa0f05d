"""The signed claims as values: parsing, entitlements and their numbers, unknown claims, to_json."""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

import attrs
import pytest
from conftest import BASE_CLAIMS, NOW

from license_token import (
    Entitlement,
    EntitlementInsufficient,
    LicenseClaims,
    Malformed,
    Verifier,
)
from license_token.testing import TokenFactory

# -- the claims model --------------------------------------------------------------------------

def test_claims_model() -> None:
    claims = LicenseClaims._from_payload({
        "licenseArn": "arn", "issuedAt": "2021-01-01T00:00:00", "expiration": "2021-01-02T00:00:00",
        "entitlementsAllowed": [{"name": "Users", "unit": "Count", "value": " 5 "},
                                {"name": "Odd", "unit": "Widgets", "value": "NaN"}],
        "checkoutMetadata": [{"Name": "Mac", "Value": "aa"}], "somethingNew": [1],
    })
    assert claims.entitlements_allowed[0].number == Decimal(5)
    assert claims.entitlements_allowed[0].known_unit
    assert not claims.entitlements_allowed[1].known_unit
    assert claims.entitlements_allowed[1].number is None
    assert dict(claims.checkout_metadata) == {"Mac": "aa"}
    assert dict(claims.extra) == {"somethingNew": [1]}
    with pytest.raises(TypeError):
        claims.checkout_metadata["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize("change", [
    {"licenseArn": None}, {"licenseArn": 5}, {"entitlementsAllowed": {}},
    {"entitlementsAllowed": [5]}, {"entitlementsAllowed": [{"name": "x"}]},
    {"checkoutMetadata": 5}, {"checkoutMetadata": [5]}, {"checkoutMetadata": {"a": 1}},
    {"checkoutMetadata": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]},
    {"nodeId": 7}, {"expiration": "2020-01-01T00:00:00"},
])
def test_bad_claims(change: dict[str, object]) -> None:
    payload = {"licenseArn": "arn", "issuedAt": "2021-01-01T00:00:00",
               "expiration": "2021-01-02T00:00:00"} | change
    with pytest.raises(Malformed):
        LicenseClaims._from_payload({k: v for k, v in payload.items() if v is not None})


@pytest.mark.parametrize("present", [
    {}, {"entitlementsAllowed": []}, {"checkoutMetadata": {}}, {"nodeId": "n"},
    {"licenseConsumptionToken": "t"}, {"nodeId": None},
    {"entitlementsAllowed": [], "checkoutMetadata": {"Mac": "aa"}, "nodeId": "n",
     "licenseConsumptionToken": "t"}])
def test_one_unknown_claim_is_kept_whichever_known_claims_are_present(
        present: dict[str, object]) -> None:
    claims = LicenseClaims._from_payload(BASE_CLAIMS | present | {"somethingNew": [1]})
    assert dict(claims.extra) == {"somethingNew": [1]}
    assert dict(LicenseClaims._from_payload(BASE_CLAIMS | present).extra) == {}


@pytest.mark.parametrize("entry", [
    {"name": 5, "unit": "Count"}, {"name": "Users", "unit": 5},
    {"name": "Users", "unit": "Count", "value": 5}, {"name": None, "unit": "Count"}])
def test_signed_entitlement_members_of_the_wrong_type(entry: dict[str, object]) -> None:
    with pytest.raises(Malformed, match=r"entitlementsAllowed\[1\]: 'name' and 'unit' must"):
        LicenseClaims._from_payload(BASE_CLAIMS | {"entitlementsAllowed": [
            {"name": "Pro", "unit": "None"}, entry]})


def test_a_token_without_entitlements_grants_none(issuer: TokenFactory) -> None:
    claims = {k: v for k, v in issuer.claims().items() if k != "entitlementsAllowed"}
    lic = Verifier(issuer.trust_store()).verify(issuer.token(claims), now=NOW)
    assert lic.claims.entitlements_allowed == ()
    assert dict(lic.entitlements) == {}


# -- entitlements, and the numbers their values are --------------------------------------------

def test_an_entitlement_from_a_claim_equals_one_built_by_attrs() -> None:
    """from_claim's fast construction gives the same frozen value as the attrs __init__."""
    built = Entitlement.from_claim({"name": "Users", "unit": "Count", "value": "5"}, 0)
    assert built == Entitlement(name="Users", unit="Count", value="5")
    assert Entitlement.from_claim({"name": "Pro", "unit": "None"}, 1) == Entitlement(
        name="Pro", unit="None", value=None)


def test_an_entitlement_from_any_mapping() -> None:
    """``from_claim`` is public: a read-only mapping is an object too."""
    entry = MappingProxyType({"name": "Users", "unit": "Count", "value": "5"})
    assert Entitlement.from_claim(entry, 0) == Entitlement(name="Users", unit="Count", value="5")


@pytest.mark.parametrize(("value", "number"), [
    ("50", Decimal(50)), (" 7 ", Decimal(7)), ("0.5", Decimal("0.5")), ("007", Decimal(7)),
    ("1" + "0" * 5000, Decimal(10) ** 5000),
])
def test_ascii_decimal_numbers(value: str, number: Decimal) -> None:
    assert Entitlement(name="Users", unit="Count", value=value).number == number


@pytest.mark.parametrize("value", [
    "٥٠", "５０", "૧૦", "1_000", "1e3", "1E+999999999", "10\u00a0", "\u200710", "NaN",
    "Infinity", "-50", "+50", "0x50", "50.", ".5", "5 0", "", "\t50\n",
])
def test_only_ascii_decimal_numbers_meet_a_numeric_requirement(
        issuer: TokenFactory, verifier: Verifier, value: str) -> None:
    claims = issuer.claims(entitlementsAllowed=[{"name": "Users", "unit": "Count",
                                                 "value": value}])
    assert Entitlement(name="Users", unit="Count", value=value).number is None
    strict = Verifier(issuer.trust_store(), require=["Users:Count=5"])
    with pytest.raises(EntitlementInsufficient):
        strict.verify(issuer.response(claims), now=NOW)
    assert verifier.verify(issuer.response(claims)).claims.entitlements_allowed[0].value == value


# -- subclasses of the claims and of Entitlement -----------------------------------------------

@attrs.frozen(kw_only=True)
class _TaggedEntitlement(Entitlement):
    tag: str = "app"


@attrs.frozen(kw_only=True)
class _TaggedClaims(LicenseClaims):
    tag: str = "app"


def test_a_subclass_with_a_field_of_its_own_gets_every_claim_and_its_default() -> None:
    entry = {"name": "Users", "unit": "Count", "value": "5"}
    payload = BASE_CLAIMS | {"nodeId": "n", "licenseConsumptionToken": "t", "somethingNew": 1,
                              "checkoutMetadata": {"Mac": "aa"}, "entitlementsAllowed": [entry]}
    claims = _TaggedClaims._from_payload(payload)
    assert isinstance(claims, _TaggedClaims)
    assert claims.tag == "app"
    assert attrs.asdict(claims, recurse=False) == attrs.asdict(
        LicenseClaims._from_payload(payload), recurse=False) | {"tag": "app"}
    entitlement = _TaggedEntitlement.from_claim(entry, 0)
    assert isinstance(entitlement, _TaggedEntitlement)
    assert entitlement.tag == "app"
    assert (entitlement.name, entitlement.unit, entitlement.value) == ("Users", "Count", "5")


# -- to_json -----------------------------------------------------------------------------------

def test_claims_json_leaves_out_what_the_token_left_out(issuer: TokenFactory) -> None:
    claims = issuer.claims(licenseConsumptionToken=None, nodeId=None, entitlementsAllowed=[
        {"name": "ProFeature", "unit": "None"}])
    doc = Verifier(issuer.trust_store()).verify(issuer.token(claims), now=NOW).claims.to_json()
    assert "licenseConsumptionToken" not in doc and "nodeId" not in doc
    assert doc["entitlementsAllowed"] == [{"name": "ProFeature", "unit": "None"}]


def test_claims_json_is_the_token_s_claims_with_utc_times(issuer: TokenFactory) -> None:
    claims = issuer.claims(checkoutMetadata={"Mac": "aa"}, somethingNew=[1])
    doc = Verifier(issuer.trust_store()).verify(issuer.token(claims), now=NOW).claims.to_json()
    assert doc == claims | {"issuedAt": claims["issuedAt"] + "Z",
                            "expiration": claims["expiration"] + "Z"}
