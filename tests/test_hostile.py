"""Hostile edges: every input ends in the library's typed error, never another exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from license_token.testing import TokenFactory

# -- dates ------------------------------------------------------------------------------------


def test_verify_cli_prints_json_for_a_perpetual_token(
        issuer: TokenFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from license_token.cli import main

    key, token = tmp_path / "key.pem", tmp_path / "token.json"
    key.write_bytes(issuer.public_key_pem())
    token.write_text(json.dumps(issuer.response(expiration="9999-12-31T23:59:59Z")))
    assert main(["verify", str(token), "--key", str(key), "--json",
                 "--at", "2026-03-15T12:00:00Z"]) == 1
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["code"] == "malformed"


# -- numbers ----------------------------------------------------------------------------------


def test_huge_exponent_value_gets_a_json_result_from_the_cli(
        issuer: TokenFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from license_token.cli import main

    claims = issuer.claims(entitlementsAllowed=[{"name": "Users", "unit": "Count",
                                                 "value": "1E+999999999"}])
    key, token = tmp_path / "key.pem", tmp_path / "token.json"
    key.write_bytes(issuer.public_key_pem())
    token.write_text(json.dumps(issuer.response(claims)))
    assert main(["verify", str(token), "--key", str(key), "--json", "--require",
                 "Users:Count=5", "--at", "2026-03-15T12:00:00Z"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == (
        "entitlement_insufficient")


# -- text -------------------------------------------------------------------------------------


# -- entitlements -----------------------------------------------------------------------------


# -- keys -------------------------------------------------------------------------------------


# -- input encodings --------------------------------------------------------------------------


# -- store file handling ----------------------------------------------------------------------


# -- dependencies -----------------------------------------------------------------------------
