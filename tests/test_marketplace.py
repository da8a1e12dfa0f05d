"""Online checkouts and AWS Marketplace: an answer that is no VerifiedLicense; the cadence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import ManualClock as Clock
from conftest import refusing
from hypothesis import given, settings
from hypothesis import strategies as st

from license_token import (
    BadSignature,
    ConfigurationError,
    EntitlementAmbiguous,
    EntitlementInsufficient,
    EntitlementMissing,
    LicenseTokenError,
    Malformed,
    ResponseMismatch,
    TrustStore,
    VerifiedLicense,
    Verifier,
)
from license_token.aws import (
    LicenseManager,
    ResourceNotFound,
    SeatNotReturned,
    fetch_public_key,
)
from license_token.aws.marketplace import (
    MARKETPLACE_KEY_FINGERPRINT,
    EntitlementKeeper,
    OnlineLicense,
    online_license,
    pins_issuer,
)
from license_token.testing import LocalLicenseManager, TokenFactory

ASK_EVERY_TIER = [{"Name": n, "Unit": "None"} for n in ("Enterprise", "Premium", "Basic")]
VENDOR = "aws:123456789012:Vendor:issuer-fingerprint"


@pytest.fixture
def emulator(clock: Clock) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(clock=clock) as lm:
        yield lm


def _manager(emulator: LocalLicenseManager, clock: Clock, **options: Any) -> LicenseManager:
    """A vendor's app: its own issuer's key pinned, nothing of Marketplace's."""
    own = emulator.create_key()
    keys = TrustStore.from_pem(emulator.public_key_pem(own))
    client = emulator.client(retries={"mode": "standard", "total_max_attempts": 1})
    return LicenseManager(Verifier(keys, clock=clock), client=client, **options)


def _answer(factory: TokenFactory, *, signed: bool = True, **fields: Any) -> dict[str, Any]:
    claims = factory.claims(entitlementsAllowed=[{"name": "Premium", "unit": "None",
                                                  "value": "Enabled"},
                                                 {"name": "Users", "unit": "Count",
                                                  "value": "10"}])
    response = factory.response(claims) | {"CheckoutType": "PROVISIONAL"} | fields
    if not signed:
        del response["SignedToken"]
    return response


# -- the Marketplace checkout over HTTP ------------------------------------------------------
def test_marketplace_checkout_is_an_online_license_not_a_bad_signature(
        emulator: LocalLicenseManager, clock: Clock) -> None:
    """The vendor's pinned keys are not tried on AWS Marketplace's token: a checkout that
    raised BadSignature after the seat was taken would lose it."""
    lic = emulator.add_marketplace_license(entitlements={"Premium": ("None", None),
                                                         "Users": ("Count", 10)})
    assert lic.key_fingerprint == MARKETPLACE_KEY_FINGERPRINT
    manager = _manager(emulator, clock)
    checkout = manager.checkout(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                [{"Name": "Premium", "Unit": "None"}])
    assert checkout.license is None and checkout.response["SignedToken"]
    online = manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                     [{"Name": "Users", "Unit": "Count", "Value": "4"}],
                                     require=["Users:Count=4"], node_id="i-0abc")
    assert isinstance(online, OnlineLicense) and not isinstance(online, VerifiedLicense)
    assert online.signed is None and online.from_marketplace
    # the emulator client was the app's choice, and the result says so rather than claim AWS
    assert online.trust_basis == (
        f"endpoint chosen by the application: {emulator.endpoint_url}; not signed")
    assert online.license_arn == lic.arn and online.node_id == "i-0abc"
    assert online.entitlements["Users"].value == "4"
    assert online.expires_at == clock.now + timedelta(minutes=lic.provisional_ttl_minutes)
    assert online.is_current(clock.now) and not online.is_current(online.expires_at)
    assert online.to_json()["trust_basis"] == online.trust_basis
    assert emulator.seats_in_use(lic.arn)["Users"] == 4


def test_the_vendor_cannot_fetch_the_marketplace_key(emulator: LocalLicenseManager) -> None:
    lic = emulator.add_marketplace_license(entitlements={"Premium": ("None", None)})
    with pytest.raises(ResourceNotFound):
        fetch_public_key(lic.key_id, client=emulator.client("kms"))
    with pytest.raises(KeyError):
        emulator.public_key_pem(lic.key_id)


def test_a_token_from_the_vendors_own_issuer_is_verified(emulator: LocalLicenseManager,
                                                         clock: Clock) -> None:
    lic = emulator.add_license(entitlements={"Premium": ("None", None)})
    keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
    manager = LicenseManager(Verifier(keys, clock=clock), client=emulator.client(),
                             pinned_issuers=[lic.key_fingerprint])
    online = manager.checkout_online(lic.product_sku, lic.key_fingerprint,
                                     [{"Name": "Premium", "Unit": "None"}])
    assert isinstance(online.signed, VerifiedLicense)
    assert online.signed.claims.entitlements_allowed == online.answer.entitlements_allowed
    assert online.trust_basis.startswith("PS384 signature by a pinned key")


def test_an_unmet_requirement_checks_the_seat_back_in(emulator: LocalLicenseManager,
                                                      clock: Clock) -> None:
    lic = emulator.add_marketplace_license(entitlements={"Users": ("Count", 10)})
    manager = _manager(emulator, clock)
    with pytest.raises(EntitlementInsufficient):
        manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                [{"Name": "Users", "Unit": "Count", "Value": "2"}],
                                require=["Users:Count=5"])
    assert emulator.calls("CheckInLicense") == 1
    assert emulator.seats_in_use(lic.arn)["Users"] == 0



def test_a_seat_that_cannot_be_checked_back_in_is_reported(clock: Clock) -> None:
    with LocalLicenseManager(clock=clock) as emulator:
        emulator.change("CheckInLicense", request=refusing("RateLimitExceededException"))
        lic = emulator.add_marketplace_license(entitlements={"Users": ("Count", 10)})
        with pytest.raises(SeatNotReturned) as info:
            _manager(emulator, clock).checkout_online(
                lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                [{"Name": "Users", "Unit": "Count", "Value": "2"}], require=["Users:Count=5"])
        assert isinstance(info.value.reason, EntitlementInsufficient)
        assert emulator.seats_in_use(lic.arn)["Users"] == 2  # held, and said so

# -- reading answers ------------------------------------------------------------------------
def test_a_signed_token_is_verified_only_for_a_pinned_issuer(factory: TokenFactory) -> None:
    outsider = TokenFactory()
    verifier = Verifier(factory.trust_store())
    foreign = _answer(outsider)
    with pytest.raises(BadSignature):  # the vendor's own issuer, signed by someone else
        online_license(foreign, product_sku="sku", key_fingerprint=VENDOR, verifier=verifier)
    for fingerprint, pinned in ((MARKETPLACE_KEY_FINGERPRINT, None),
                                ("aws:999999999999:Other:issuer-fingerprint", [VENDOR])):
        online = online_license(foreign, product_sku="sku", key_fingerprint=fingerprint,
                                verifier=verifier, pinned_issuers=pinned)
        assert online.signed is None
    unsigned = online_license(_answer(factory, signed=False), product_sku="sku",
                              key_fingerprint=VENDOR, verifier=verifier)
    assert unsigned.signed is None and unsigned.entitlements["Users"].value == "10"
    own = online_license(_answer(factory), product_sku="sku", key_fingerprint=VENDOR,
                         verifier=verifier)
    assert own.signed is not None and own.signed.license_arn == own.license_arn
    with pytest.raises(ResponseMismatch, match="does not match the signed token") as info:
        online_license(_answer(factory, NodeId="edited"), product_sku="sku",
                       key_fingerprint=VENDOR, verifier=verifier)
    assert info.value.code == "response_mismatch"


def test_pins_issuer() -> None:
    assert pins_issuer(VENDOR, None)
    assert not pins_issuer(MARKETPLACE_KEY_FINGERPRINT, None)
    assert not pins_issuer(VENDOR, [])
    assert pins_issuer(MARKETPLACE_KEY_FINGERPRINT, [MARKETPLACE_KEY_FINGERPRINT])


def test_requirements_and_tiers_on_the_answer(factory: TokenFactory) -> None:
    online = online_license(_answer(factory, signed=False), product_sku="sku",
                            key_fingerprint=MARKETPLACE_KEY_FINGERPRINT)
    online.check(["Premium", "Premium:None", "Users:Count=10"])
    with pytest.raises(EntitlementMissing):
        online.check(["Enterprise"])
    with pytest.raises(EntitlementMissing):
        online.check(["Premium:Count"])  # a name matches only with its unit
    with pytest.raises(EntitlementInsufficient):
        online.check(["Users:Count=11"])
    assert online.satisfies("Users=3") and not online.satisfies("Basic")
    tier = online.tier(["Enterprise:None", "Premium:None", "Basic:None"])
    assert tier is not None and tier.name == "Premium"
    assert online.tier(["Enterprise", "Gold"]) is None


@pytest.mark.parametrize(("fields", "match"), [
    ({"EntitlementsAllowed": "Premium"}, "must be a list"),
    ({"EntitlementsAllowed": [{"Name": "Premium"}]}, "must be strings"),
    ({"Expiration": None}, "expiration"),
    ({"IssuedAt": "yesterday"}, "ISO-8601"),
    ({"LicenseArn": None}, "licenseArn"),
])
def test_a_malformed_answer_is_malformed(factory: TokenFactory, fields: dict[str, Any],
                                         match: str) -> None:
    answer = {k: v for k, v in (_answer(factory, signed=False) | fields).items()
              if v is not None}
    with pytest.raises(Malformed, match=match):
        online_license(answer, product_sku="sku", key_fingerprint=MARKETPLACE_KEY_FINGERPRINT)
    with pytest.raises(ConfigurationError):
        online_license(answer, product_sku="sku", key_fingerprint=VENDOR, checkout_type="SOON")


def test_a_tiered_product_asks_for_every_tier_and_learns_the_one_bought(
        emulator: LocalLicenseManager, clock: Clock) -> None:
    lic = emulator.add_marketplace_license(entitlements={"Premium": ("None", None)})
    manager = _manager(emulator, clock)
    online = manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                     ASK_EVERY_TIER)
    assert [e.name for e in online.answer.entitlements_allowed] == ["Premium"]
    tier = online.tier(["Enterprise:None", "Premium:None", "Basic:None"])
    assert tier is not None and tier.name == "Premium"
    with pytest.raises(EntitlementMissing):  # an app that needs the top tier says so
        manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT, ASK_EVERY_TIER,
                                require=["Enterprise"])
    assert emulator.calls("CheckInLicense") == 1


_FACTORY = TokenFactory()
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["LicenseArn", "LicenseConsumptionToken", "EntitlementsAllowed",
                              "NodeId", "IssuedAt", "Expiration", "SignedToken"]),
       value=_JSON)
def test_any_answer_is_read_or_refused_with_a_typed_error(field: str, value: object) -> None:
    answer = _answer(_FACTORY, signed=False)
    answer[field] = value
    try:
        online = online_license(answer, product_sku="sku",
                                key_fingerprint=MARKETPLACE_KEY_FINGERPRINT)
    except LicenseTokenError:
        return
    assert online.license_arn == answer["LicenseArn"]


def test_a_non_mapping_answer_is_malformed() -> None:
    bad: object
    for bad in ([], "text", None):
        with pytest.raises(Malformed):
            online_license(bad, product_sku="sku",  # type: ignore[arg-type]
                           key_fingerprint=MARKETPLACE_KEY_FINGERPRINT)


def test_a_refused_signed_answer_gives_the_seat_back(emulator: LocalLicenseManager,
                                                     clock: Clock) -> None:
    """The vendor pins the wrong key for its own issuer: the checkout is refused, the seat
    returned."""
    lic = emulator.add_license(entitlements={"Users": ("Count", 1)})
    manager = _manager(emulator, clock)  # pins another key of the emulator, not lic's
    with pytest.raises(BadSignature):
        manager.checkout_online(lic.product_sku, lic.key_fingerprint,
                                [{"Name": "Users", "Unit": "Count", "Value": "1"}])
    assert emulator.calls("CheckInLicense") == 1
    assert emulator.seats_in_use(lic.arn)["Users"] == 0


def test_a_naive_time_is_a_configuration_error_not_a_type_error(factory: TokenFactory) -> None:
    naive = datetime(2026, 1, 1)  # the caller's mistake under test: no time zone
    answer = _answer(factory, signed=False)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        online_license(answer, product_sku="sku", key_fingerprint=MARKETPLACE_KEY_FINGERPRINT,
                       now=naive)
    lic = online_license(answer, product_sku="sku", key_fingerprint=MARKETPLACE_KEY_FINGERPRINT)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        lic.is_current(naive)
    keeper = EntitlementKeeper(lambda: lic)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        keeper.poll(naive)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        EntitlementKeeper(lambda: lic, clock=lambda: naive).poll()
    assert keeper.next_due() is None  # refused before anything was attempted


# -- decisions on what was verified ---------------------------------------------------------
@pytest.fixture
def blind_cross_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unsigned-vs-signed comparison with a bug: it lets every edited field through."""
    import license_token._verify

    monkeypatch.setattr(license_token._verify, "check_consistency", lambda *args: None)


EDITED = {"EntitlementsAllowed": [{"Name": "Enterprise", "Unit": "None", "Value": "Enabled"},
                                  {"Name": "Users", "Unit": "Count", "Value": "1000"}],
          "LicenseArn": "arn:aws:license-manager::123456789012:license:l-edited",
          "NodeId": "edited-node", "IssuedAt": "2000-01-01T00:00:00Z",
          "Expiration": "2099-01-01T00:00:00Z"}


@pytest.mark.usefixtures("blind_cross_check")
def test_a_verified_answer_is_decided_on_its_signed_claims(factory: TokenFactory) -> None:
    """With a verified token the signed claims decide, not the answer's unsigned fields
    (which only the cross-check would keep honest)."""
    online = online_license(_answer(factory) | EDITED, product_sku="sku",
                            key_fingerprint=VENDOR, verifier=Verifier(factory.trust_store()))
    assert online.signed is not None and online.answer.license_arn == EDITED["LicenseArn"]
    signed = online.signed.claims
    assert online.claims is signed
    tier = online.tier(["Enterprise", "Premium"])
    assert tier is not None and tier.name == "Premium"
    assert online.entitlements["Users"].value == "10"
    with pytest.raises(EntitlementMissing):
        online.check(["Enterprise"])
    assert not online.satisfies("Users=11")
    assert (online.license_arn, online.node_id, online.consumption_token) == (
        signed.license_arn, signed.node_id, signed.consumption_token)
    assert (online.issued_at, online.expires_at) == (signed.issued_at, signed.expiration)
    assert online.trust_basis == ("PS384 signature by a pinned key: entitlements, license, "
                                  "node and times from the signed claims")


@pytest.mark.usefixtures("blind_cross_check")
def test_checkout_online_checks_requirements_on_the_signed_claims(clock: Clock) -> None:
    with LocalLicenseManager(clock=clock) as emulator:
        emulator.change("CheckoutLicense", answer=lambda answer: answer | {
            "EntitlementsAllowed": EDITED["EntitlementsAllowed"]})
        lic = emulator.add_license(entitlements={"Premium": ("None", None)})
        keys = TrustStore.from_pem(emulator.public_key_pem(lic.key_id))
        manager = LicenseManager(Verifier(keys, clock=clock), client=emulator.client())
        with pytest.raises(EntitlementMissing):
            manager.checkout_online(lic.product_sku, lic.key_fingerprint, ASK_EVERY_TIER,
                                    require=["Enterprise"])
        assert emulator.calls("CheckInLicense") == 1  # the refused seat went back
        online = manager.checkout_online(lic.product_sku, lic.key_fingerprint, ASK_EVERY_TIER)
    assert online.tier(["Enterprise", "Premium"]) == online.tier(["Premium"])
    assert [e.name for e in online.claims.entitlements_allowed] == ["Premium"]


def test_entitlements_mean_the_same_on_an_online_result_as_on_a_verified_one(
        factory: TokenFactory) -> None:
    """One ambiguity rule: a name granted twice, differently, is never guessed between."""
    granted = [{"name": "Users", "unit": "Count", "value": "5"},
               {"name": "Users", "unit": "Seconds", "value": "60"},
               {"name": "Pro", "unit": "None"}]
    response = factory.response(entitlementsAllowed=granted)
    online = online_license({k: v for k, v in response.items() if k != "SignedToken"},
                            product_sku="sku", key_fingerprint="aws:x")
    verified = Verifier(factory.trust_store()).verify(response)
    for result in (online, verified):
        assert set(result.entitlements) == {"Pro"}
        assert result.entitlement("Users", "Seconds").value == "60"
        with pytest.raises(EntitlementAmbiguous):
            result.entitlement("Users")
