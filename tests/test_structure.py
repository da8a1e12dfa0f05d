"""One helper per job: the clock, the leeway default, bounded reads, the entitlement notation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from license_token import ConfigurationError, KeyRejected, Requirement, TrustStore, Verifier
from license_token._policy import DEFAULT_LEEWAY, split_entitlement_spec
from license_token.cli import _parser
from license_token.store import LicenseStore, StoreCorrupt
from license_token.testing import TokenFactory


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


def test_the_store_lists_license_arns_without_shadowing_list() -> None:
    assert not hasattr(LicenseStore, "list")
    assert callable(LicenseStore.license_arns)
