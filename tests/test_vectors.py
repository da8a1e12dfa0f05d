"""Every project vector, through the library (all input forms) and through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import VECTORS, load_vectors, vector_verifier

from license_token import LicenseTokenError
from license_token._clock import parse_time
from license_token._jws import b64url_decode
from license_token.cli import main

CASES = [c for name in ("valid.json", "rejected.json", "published.json")
         for c in load_vectors(name)]
PUBLISHED = load_vectors("published.json")
#: The publications the payloads come from, at the commits read.
SOURCES = {
    "awsdocs/aws-license-manager-user-guide": (
        "doc_source/license-signing.md", "4b87ce099006b16be64608b904e0b1837abb552e"),
    "aws-samples/aws-license-manager-license-consumption-sample": (
        "managed-entitlements/Python/src/managed_entitlements_checkout_borrow_sample.py",
        "649e8d7a02051b138935f0c5b2fd957cb234e6d5"),
}
ALL_CODES = {
    "malformed", "unsupported_algorithm", "bad_signature", "expired", "not_yet_valid",
    "node_mismatch", "license_mismatch", "entitlement_missing", "entitlement_insufficient",
    "response_mismatch",
}


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
    verifier = vector_verifier(case)
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


def _token(case: dict[str, Any]) -> str:
    text = str(case["input"]).strip()
    return text if case["input_form"] == "token" else str(json.loads(text)["SignedToken"])


@pytest.mark.parametrize("case", PUBLISHED, ids=[c["id"] for c in PUBLISHED])
def test_a_published_case_names_its_source_and_what_it_pins(case: dict[str, Any]) -> None:
    source = case["source"]
    assert (source["path"], source["commit"]) == SOURCES[source["repository"]]
    assert case["pins"] and all(isinstance(p, str) and p for p in case["pins"])


@pytest.mark.parametrize("case", PUBLISHED, ids=[c["id"] for c in PUBLISHED])
def test_a_published_token_carries_the_published_payload(case: dict[str, Any]) -> None:
    """Re-signed, not rewritten: the claims, their order and their spelling as published
    (the casing case renames them on purpose), and nothing a JWT library would add."""
    payload = json.loads(b64url_decode(_token(case).split(".")[1].encode(), "payload"))
    published = case["published_payload"]
    if case["id"].endswith("_pascal_case_claims"):
        published = {k[0].upper() + k[1:]: v for k, v in published.items()}
    assert list(payload.items()) == list(published.items())
    assert not payload.keys() & {"exp", "iat", "nbf", "iss", "aud", "sub", "jti"}
    assert len(_token(case)) < 4096  # the model's SignedToken "min: 4096" is not enforced
    if case["expected"]["valid"]:
        lic = vector_verifier(case).verify(_token(case), now=parse_time(case["now"], "now"))
        assert lic.claims.extra == {}
        assert lic.claims.to_json() == case["expected"]["claims"]


@pytest.mark.parametrize("repository", sorted(SOURCES))
def test_each_published_payload_comes_in_every_accepted_form(repository: str) -> None:
    valid = [c for c in PUBLISHED if c["source"]["repository"] == repository
             and c["expected"]["valid"]]
    forms = {c["id"].rpartition("_")[2] for c in valid}
    assert {"token", "boto3", "body", "cli"} <= forms  # bare token, boto3, API body, AWS CLI
    boto3_form = json.loads(next(c for c in valid if c["id"].endswith("_boto3"))["input"])
    assert "ResponseMetadata" in boto3_form
    assert any(k.endswith("_oneline.pem") for c in valid for k in c["keys"])
