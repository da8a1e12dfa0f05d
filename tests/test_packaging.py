"""Import cost, public surface, dependency floors, the pytest plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import license_token
from license_token import LicenseTokenError
from license_token.testing import TokenFactory


def test_import_does_not_pull_in_aws_or_jwcrypto() -> None:
    code = ("import license_token, license_token.testing, sys; "
            "print(sorted({'boto3', 'botocore', 'jwcrypto'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_the_verify_path_imports_no_file_writing_machinery() -> None:
    """Cold start: tempfile (with shutil, pathlib, urllib.parse, ipaddress) is for writers."""
    # Counted from a baseline: under `coverage run`, coverage itself has imported pathlib.
    code = ("import sys; before = set(sys.modules); "
            "from license_token import TrustStore, Verifier; "
            "print(sorted({'tempfile', 'shutil', 'pathlib'} & (set(sys.modules) - before)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_public_surface_is_sorted_and_complete() -> None:
    names = license_token.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))  # constants first
    for name in license_token.__all__:
        assert hasattr(license_token, name)
    assert (Path(license_token.__file__).parent / "py.typed").exists()


def test_every_error_code_is_distinct() -> None:
    classes = [getattr(license_token, n) for n in license_token.__all__]
    errors = [c for c in classes if isinstance(c, type) and issubclass(c, LicenseTokenError)]
    codes = [c.code for c in errors]
    assert len(codes) == len(set(codes))


def test_pytest_plugin_fixtures_are_registered(license_token_factory: TokenFactory,
                                               pytestconfig: pytest.Config) -> None:
    """The fixtures come from the ``pytest11`` entry point, not from this suite's conftest."""
    assert pytestconfig.pluginmanager.has_plugin("license_token")
    from license_token import Verifier

    claims = license_token_factory.claims()
    lic = Verifier(license_token_factory.trust_store()).verify(license_token_factory.token(claims))
    assert lic.consumption_token == claims["licenseConsumptionToken"]


def test_no_public_building_block_decides_without_the_signature(factory: TokenFactory) -> None:
    """Only ``Verifier.verify`` makes a ``VerifiedLicense``; claims are judged only there."""
    from license_token import LicenseClaims, Policy, Requirement, VerifiedLicense

    lic = license_token.Verifier(factory.trust_store()).verify(factory.response())
    with pytest.raises(TypeError, match=r"built only by Verifier\.verify"):
        VerifiedLicense(claims=lic.claims, key=lic.key, header=lic.header, token=lic.token,
                        verified_at=lic.verified_at)
    public = {name for cls in (Policy, Requirement, LicenseClaims, VerifiedLicense)
              for name in vars(cls) if not name.startswith("_")}
    assert {"check", "from_payload"} & public == set()


def test_filelock_floor_is_past_the_symlink_cves() -> None:
    floors = re.findall(r'"filelock>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    # CVE-2025-68146 (lock-file symlink truncation) is fixed in 3.20.1, CVE-2026-22701 in 3.20.3.
    assert [tuple(int(part) for part in floor.split(".")) >= (3, 20, 3) for floor in floors] == [
        True]
