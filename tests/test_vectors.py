"""Every project vector, through the library (all input forms) and through the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import VECTORS, load_vectors

from license_token import LicenseTokenError, TrustStore, Verifier
from license_token._claims import parse_time
from license_token.cli import main

CASES = [c for name in ("valid.json", "rejected.json") for c in load_vectors(name)]
ALL_CODES = {
    "malformed", "unsupported_algorithm", "bad_signature", "expired", "not_yet_valid",
    "node_mismatch", "license_mismatch", "entitlement_missing", "entitlement_insufficient",
    "response_mismatch",
}


def _verifier(case: dict[str, Any]) -> Verifier:
    policy = case["policy"]
    keys = TrustStore.from_file(*(VECTORS / "keys" / k for k in case["keys"]))
    return Verifier(keys, license_arn=policy.get("license_arn"), node_id=policy.get("node_id"),
                    require=policy.get("require", ()),
                    leeway=timedelta(seconds=policy.get("leeway", 60)))


def _forms(case: dict[str, Any]) -> list[Any]:
    text = case["input"]
    forms: list[Any] = [text, text.encode()]
    if case["input_form"] == "response_json":
        forms.append(json.loads(text))
    return forms


def test_vector_files_cover_every_code_and_enough_cases() -> None:
    codes = {c["expected"].get("code") for c in CASES} - {None}
    assert codes == ALL_CODES
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_library(case: dict[str, Any]) -> None:
    verifier = _verifier(case)
    now = parse_time(case["now"], "now")
    for source in _forms(case):
        if case["expected"]["valid"]:
            lic = verifier.verify(source, now=now)
            claims = lic.claims.to_json()
            for name, value in case["expected"]["claims"].items():
                assert claims[name] == value
        else:
            with pytest.raises(LicenseTokenError) as info:
                verifier.verify(source, now=now)
            assert info.value.code == case["expected"]["code"], str(info.value)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_cli(case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token_file = tmp_path / "input.json"
    token_file.write_text(case["input"])
    policy = case["policy"]
    argv = ["verify", str(token_file), "--at", case["now"], "--json"]
    argv += [a for k in case["keys"] for a in ("--key", str(VECTORS / "keys" / k))]
    argv += [a for r in policy.get("require", ()) for a in ("--require", r)]
    if "license_arn" in policy:
        argv += ["--license-arn", policy["license_arn"]]
    if "node_id" in policy:
        argv += ["--node-id", policy["node_id"]]
    if "leeway" in policy:
        argv += ["--leeway", str(policy["leeway"])]
    status = main(argv)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"valid", "code", "message", "license", "checks", "token"}
    if case["expected"]["valid"]:
        assert "failed" not in result["checks"].values()
        assert (status, result["valid"], result["code"]) == (0, True, None)
        for name, value in case["expected"]["claims"].items():
            assert result["license"]["claims"][name] == value
    else:
        assert (status, result["valid"], result["license"]) == (1, False, None)
        assert result["code"] == case["expected"]["code"]
        # the check that failed is shown (a token that cannot be read has no check of its own)
        assert "failed" in result["checks"].values() or result["code"] == "malformed"
