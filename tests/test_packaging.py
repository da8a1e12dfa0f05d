"""Import cost, public surface, and the README's quickstart run as written."""

from __future__ import annotations

import json
import os
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


def test_readme_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S)
    assert block is not None
    factory = TokenFactory()
    (tmp_path / "issuer-public-key.pem").write_bytes(factory.public_key_pem())
    (tmp_path / "license-response.json").write_text(json.dumps(factory.response()))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["lic"].entitlements["Users"].value == "10"  # type: ignore[attr-defined]
    assert os.path.exists("license-response.json")


def test_readme_offline_example_runs_against_the_emulator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from license_token.node import node_id
    from license_token.testing import LocalLicenseManager

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    with LocalLicenseManager() as emulator:
        lic = emulator.add_license(entitlements={"Users": ("Count", 3)})
        (tmp_path / "issuer-public-key.pem").write_bytes(emulator.public_key_pem(lic.key_id))
        for name, value in {"AWS_ENDPOINT_URL": emulator.endpoint_url,
                            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                            "XDG_DATA_HOME": str(tmp_path / "data")}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, object] = {"LICENSE_ARN": lic.arn, "log": logging.getLogger()}
        exec(compile(blocks[1], "README.md", "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert result.renewed  # type: ignore[attr-defined]
    assert result.license.node_id == node_id("acme-app-salt")  # type: ignore[attr-defined]
    assert emulator.seats_in_use(lic.arn)["Users"] == 1
    assert list((tmp_path / "data" / "AcmeApp" / "licenses").glob("*.json"))


def test_pytest_plugin_fixtures_are_registered(license_token_factory: TokenFactory,
                                               pytestconfig: pytest.Config) -> None:
    """The fixtures come from the ``pytest11`` entry point, not from this suite's conftest."""
    assert pytestconfig.pluginmanager.has_plugin("license_token")
    from license_token import Verifier

    assert Verifier(license_token_factory.trust_store()).verify(license_token_factory.token())
