"""The guides for each kind of customer: every python block runs as written.

Each guide's blocks run in order in one namespace, in a setting that plays the customer's
situation against the emulator (the names the guides use, e.g. ``LICENSE_ARN``, are defined
here); what they print is checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from license_token import TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.testing import LocalLicenseManager

ROLE = "arn:aws:iam::123456789012:role/AWSLicenseManagerConsumptionRole"


def _run_guide(name: str, namespace: dict[str, object]) -> str:
    """Run the guide's python blocks in order; what they printed."""
    text = (ROOT / "docs" / "guides" / name).read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert blocks, f"{name} has no python block"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for index, block in enumerate(blocks, 1):
            exec(compile(block, f"{name} python block {index}", "exec"), namespace)  # noqa: S102
    return out.getvalue()


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager() as lm:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", lm.endpoint_url)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.chdir(tmp_path)
        yield lm


def test_air_gapped_guide(emulator: LocalLicenseManager, tmp_path: Path) -> None:
    lic = emulator.add_license(entitlements={"Users": ("Count", 5)})
    pem = emulator.public_key_pem(lic.key_id)
    (tmp_path / "issuer-public-key.pem").write_bytes(pem)
    online = LicenseManager(Verifier(TrustStore.from_pem(pem)), client=emulator.client())
    borrowed = online.checkout_borrow(lic.arn, [{"Name": "Users", "Unit": "Count",
                                                 "Value": "1"}], node_id="air-gapped-node")
    (tmp_path / "borrowed.json").write_text(json.dumps(dict(borrowed.response), default=str))
    out = _run_guide("air-gapped.md", {"LICENSE_ARN": lic.arn, "NODE_ID": "air-gapped-node"})
    assert out.startswith("imported; borrow again before ")
    out = _run_guide("air-gapped.md", {"LICENSE_ARN": lic.arn, "NODE_ID": "another-node"})
    assert out.startswith("not imported (node_mismatch)")


def test_no_credentials_guide(emulator: LocalLicenseManager, tmp_path: Path) -> None:
    emulator.identity.require_issued_credentials = True
    lic = emulator.add_license(entitlements={"Users": ("Count", 5)})
    (tmp_path / "issuer-public-key.pem").write_bytes(emulator.public_key_pem(lic.key_id))
    (tmp_path / "license-token.txt").write_text(
        emulator.create_token(lic.arn, role_arns=[ROLE]).token + "\n")
    out = _run_guide("no-credentials.md", {"LICENSE_ARN": lic.arn, "ROLE_ARN": ROLE})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", out)  # model ISO8601DateTime
    signer = emulator.identity.signers[-1]
    assert signer is not None and signer.startswith("ASIA")


def test_marketplace_guide(emulator: LocalLicenseManager, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "the-instance-role")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "its-secret")
    lic = emulator.add_marketplace_license(entitlements={"Premium": ("None", None)})
    own = emulator.add_license(entitlements={"Users": ("Count", 1)})  # the vendor's own key
    (tmp_path / "issuer-public-key.pem").write_bytes(emulator.public_key_pem(own.key_id))
    out = _run_guide("marketplace.md", {"PRODUCT_SKU": lic.product_sku})
    first, second = out.splitlines()
    assert first.startswith("Premium TLS and SigV4 to AWS License Manager; not signed 20")
    assert re.fullmatch(r"(Enabled|1) 20\S+ \S+", second), second  # value, next due
    assert emulator.calls("CheckoutLicense") == 2  # the first block's, then the keeper's


def test_node_binding_guide(tmp_path: Path) -> None:
    out = _run_guide("node-binding.md", {"STATE_DIR": tmp_path})
    assert re.fullmatch(r"[0-9a-f]{32}\n", out)
