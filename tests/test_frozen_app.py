"""A vendor app frozen with PyInstaller verifies its license at startup (PEM and JWK keys).

Slow (a PyInstaller build, about half a minute). It needs the ``freeze`` extra; ``.ci/run``
installs it, so it always runs there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from license_token.testing import TokenFactory

pytest.importorskip(
    "PyInstaller",
    reason="PyInstaller is not installed: pip install -e '.[freeze]' (.ci/run installs it)")

APP = ROOT / "tests" / "frozen_app" / "app.py"


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pyinstaller")
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--onedir", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"),
         "--specpath", str(work), "--name", "vendor-app", str(APP)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "dist" / "vendor-app" / "vendor-app"


@pytest.mark.slow
def test_a_frozen_app_verifies_with_a_pem_and_with_a_jwk_key(frozen_app: Path, tmp_path: Path,
                                                              factory: TokenFactory) -> None:
    from jwcrypto.jwk import JWK

    pem = tmp_path / "issuer.pem"
    pem.write_bytes(factory.public_key_pem())
    jwk = tmp_path / "issuer.jwk.json"
    jwk.write_text(JWK.from_pem(factory.public_key_pem()).export_public())
    response = tmp_path / "license-response.json"
    response.write_text(json.dumps(factory.response()))
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(factory.response(tamper={"NodeId": "other-node"})))

    def run(key: Path, saved: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(frozen_app), str(key), str(saved), "node-7f3a"],
                              capture_output=True, text=True, timeout=60, check=False)

    with_pem = run(pem, response)
    assert with_pem.returncode == 0, with_pem.stdout + with_pem.stderr
    assert with_pem.stdout.startswith("VALID arn:aws:license-manager:")
    assert with_pem.stdout.rstrip().endswith("users=10 frozen=True loaded=-")
    with_jwk = run(jwk, response)  # the lazy jwcrypto import must work inside the bundle
    assert with_jwk.returncode == 0, with_jwk.stdout + with_jwk.stderr
    assert with_jwk.stdout.rstrip().endswith("users=10 frozen=True loaded=jwcrypto")
    rejected = run(jwk, edited)
    assert rejected.returncode == 1
    assert rejected.stdout.startswith("REJECTED response_mismatch")
