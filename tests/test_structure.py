"""One helper per job: the clock, the leeway default, bounded reads, the entitlement notation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import VECTORS, NoOffset

from license_token import ConfigurationError, KeyRejected, Requirement, TrustStore, Verifier
from license_token._policy import DEFAULT_LEEWAY, split_entitlement_spec
from license_token.cli import _parser
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore, StoreCorrupt
from license_token.testing import TokenFactory

NAIVE = datetime(2030, 1, 1)  # no zone: the mistake under test


def test_a_naive_time_is_a_configuration_error_in_verifier_store_and_startup(
        tmp_path: Path, factory: TokenFactory) -> None:
    verifier = Verifier(factory.trust_store())
    store = LicenseStore(tmp_path)
    arn = store.save(factory.response(), verifier).license.license_arn  # writes the clock mark
    naive_clock = Verifier(factory.trust_store(), clock=lambda: NAIVE)
    renewer = BorrowRenewer(manager=None,  # type: ignore[arg-type]  # never called
                            license_arn=arn, entitlements=[])
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        naive_clock.verify(factory.token())
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        store.load(arn, verifier, now=NAIVE)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check_license(store, naive_clock, renew=renewer)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check_license(store, verifier, now=NAIVE, renew=renewer)


def test_the_cli_leeway_default_is_the_library_default(tmp_path: Path) -> None:
    args = _parser().parse_args(["verify", "x", "--key", "k"])
    assert timedelta(seconds=args.leeway) == DEFAULT_LEEWAY


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


def test_oversized_files_are_refused_by_the_one_bounded_read(tmp_path: Path,
                                                             factory: TokenFactory) -> None:
    big_key = tmp_path / "big.pem"
    big_key.write_bytes(factory.public_key_pem() + b" " * (1024 * 1024))
    with pytest.raises(KeyRejected, match="larger than 1048576 bytes"):
        TrustStore.from_file(big_key)
    verifier = Verifier(factory.trust_store())
    store = LicenseStore(tmp_path / "store")
    saved = store.save(factory.response(), verifier)
    saved.path.write_bytes(saved.path.read_bytes() + b" " * (512 * 1024 + 1))
    with pytest.raises(StoreCorrupt, match="larger than"):
        store.load(saved.license.license_arn, verifier)


def test_from_jwk_takes_one_jwk_only() -> None:
    jwks = json.loads((VECTORS / "keys" / "rotation.jwks.json").read_text())
    with pytest.raises(KeyRejected, match="not RSA"):
        TrustStore.from_jwk(jwks)
    assert len(TrustStore.from_jwks(jwks)) == len(jwks["keys"])
    assert len(TrustStore.from_jwk(jwks["keys"][0])) == 1


def test_the_store_lists_license_arns_without_shadowing_list() -> None:
    assert not hasattr(LicenseStore, "list")
    assert callable(LicenseStore.license_arns)


def test_current_time_is_the_one_clock_helper() -> None:
    from license_token._clock import current_time, utc_now

    fixed = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert current_time(utc_now, fixed) is fixed
    assert current_time(lambda: fixed, None) is fixed
    assert Verifier.DEFAULT_CLOCK is utc_now


def test_online_results_read_the_clock_through_the_same_helper(factory: TokenFactory) -> None:
    from license_token.aws.marketplace import EntitlementKeeper, online_license

    online = online_license(factory.response(), product_sku="sku", key_fingerprint="aws:x")
    assert online.is_current(datetime(2000, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        online.is_current(NAIVE)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        online_license(factory.response(), product_sku="sku", key_fingerprint="aws:x",
                       now=NAIVE)
    keeper = EntitlementKeeper(checkout=lambda: online)
    assert keeper.poll() is online
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        keeper.poll(NAIVE)


def test_one_zone_check_for_every_time_the_library_is_given(factory: TokenFactory) -> None:
    import license_token.store
    import license_token.store._lifecycle
    from license_token._clock import aware

    assert vars(license_token.store)["aware"] is aware
    assert vars(license_token.store._lifecycle)["aware"] is aware
    nameless = datetime(2030, 1, 1, tzinfo=NoOffset())
    with pytest.raises(ConfigurationError, match="now must be a timezone-aware datetime"):
        Verifier(factory.trust_store()).verify(factory.token(), now=nameless)
    with pytest.raises(ConfigurationError, match="clock's reading must be a timezone-aware"):
        Verifier(factory.trust_store(), clock=lambda: nameless).verify(factory.token())
