"""A rejection explained: every check's row, the signed license, and why a check failed.

Run as users run it: the ``license-token`` console script as a subprocess.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from license_token.node import installation_node_id
from license_token.testing import TokenFactory

SCRIPT = str(Path(sys.executable).with_name("license-token"))
CHECKS = ("signature", "unsigned_fields", "validity", "license_arn", "node", "entitlements")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    doc: dict[str, Any] = json.loads(lines[0])
    return doc


def _rows(text: str) -> dict[str, str]:
    """The table rows by their first word (``expiry``, ``node``, …); last one wins."""
    return {line.split()[0]: line for line in text.splitlines()[1:] if line.strip()}


@pytest.fixture
def files(tmp_path: Path, factory: TokenFactory) -> tuple[Path, Path, dict[str, Any]]:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    response = factory.response()
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response))
    return key, path, response


def test_an_expired_token_shows_every_check_and_the_signed_license(
        files: tuple[Path, Path, dict[str, Any]]) -> None:
    key, path, response = files
    done = _run("verify", str(path), "--key", str(key), "--at", "2099-01-01")
    assert done.returncode == 1 and done.stderr == ""
    head, rows = done.stdout.splitlines()[0], _rows(done.stdout)
    assert head.startswith("INVALID (expired): expired at ")
    assert head.endswith("now is 2099-01-01T00:00:00Z")
    assert "FAILED" in rows["expiry"] and "2099-01-01T00:00:00Z" in rows["expiry"]
    assert re.search(r"expired [0-9]+ days before 2099", rows["expiry"])  # not minutes
    assert rows["signature"].split()[2] == "ok"
    assert rows["issued"].split()[1] == "ok"
    assert rows["unsigned"].split()[2] == "ok"
    assert "NOT CHECKED" in rows["license"] and response["LicenseArn"] in rows["license"]
    assert "NOT CHECKED" in rows["node"] and "node-7f3a" in rows["node"]
    grants = [line.split(None, 1)[1] for line in done.stdout.splitlines()
              if line.split()[:1] == ["grants"]]
    assert grants == ["Users: 10 Count", "ProFeature: Enabled"]


def test_a_rejection_in_json_keeps_license_null_and_adds_checks_and_token(
        files: tuple[Path, Path, dict[str, Any]]) -> None:
    key, path, response = files
    done = _run("verify", str(path), "--key", str(key), "--at", "2099-01-01",
                "--node-id", "node-7f3a", "--json")
    assert done.returncode == 1
    doc = _json(done)
    assert doc["valid"] is False and doc["code"] == "expired" and doc["license"] is None
    assert doc["checks"] == {"signature": "ok", "unsigned_fields": "ok", "validity": "failed",
                             "license_arn": "not_checked", "node": "ok",
                             "entitlements": "not_checked"}
    assert doc["token"]["signature_verified"] is True
    assert doc["token"]["licenseArn"] == response["LicenseArn"]
    assert doc["token"]["nodeId"] == "node-7f3a"
    assert "FAILED" in _rows(done.stderr)["expiry"]  # the human text, on stderr


def test_every_failing_check_is_shown_not_only_the_first(
        files: tuple[Path, Path, dict[str, Any]]) -> None:
    key, path, _ = files
    done = _run("verify", str(path), "--key", str(key), "--json", "--node-id", "other",
                "--license-arn", "arn:aws:license-manager::1:license:l-other",
                "--require", "Users:Count=50")
    doc = _json(done)
    assert doc["code"] == "license_mismatch" and doc["license"] is None
    assert doc["checks"] | {"validity": "ok"} == {
        "signature": "ok", "unsigned_fields": "ok", "validity": "ok",
        "license_arn": "failed", "node": "failed", "entitlements": "failed"}


def test_a_failing_requirement_lists_the_grants_and_near_misses(
        files: tuple[Path, Path, dict[str, Any]]) -> None:
    key, path, _ = files
    done = _run("verify", str(path), "--key", str(key), "--require", "users:Count=5",
                "--require", "Users:Seconds")
    assert done.returncode == 1
    assert done.stdout.startswith("INVALID (entitlement_missing): no entitlement users:Count=5")
    lines = {line.split()[1]: line for line in done.stdout.splitlines()
             if line.split()[:1] == ["entitlement"]}
    for requirement in ("users:Count=5", "Users:Seconds"):
        assert "FAILED" in lines[requirement]
        assert "the token grants Users: 10 Count, ProFeature: Enabled" in lines[requirement]
        assert "near miss (other case or unit): Users:Count" in lines[requirement]


def test_a_truncated_token_says_its_signature_is_too_short_and_shows_claims_unverified(
        files: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    key, _, response = files
    header, payload, signature = response["SignedToken"].split(".")
    short = base64.urlsafe_b64encode(base64.urlsafe_b64decode(signature + "==")[:241])
    cut = tmp_path / "cut.txt"  # a token cut short: 241 of its 256 signature bytes left
    cut.write_text(f"{header}.{payload}.{short.decode().rstrip('=')}")
    done = _run("verify", str(cut), "--key", str(key))
    assert done.returncode == 1
    head = done.stdout.splitlines()[0]
    assert head.startswith("INVALID (bad_signature): no pinned key (1 tried) verifies")
    assert "the signature is 241 bytes, the pinned keys' signatures are 256" in head
    assert "truncated" in head
    rows = done.stdout.splitlines()[1:]
    checked = [r for r in rows if not r.strip().startswith("UNVERIFIED")]
    assert all(response["LicenseArn"] not in r for r in checked)  # never shown as checked
    assert not any(r.split()[:1] == ["grants"] for r in rows)
    assert any(r.strip().startswith("UNVERIFIED") and response["LicenseArn"] in r for r in rows)
    doc = _json(_run("verify", str(cut), "--key", str(key), "--json"))
    assert doc["license"] is None and doc["token"]["signature_verified"] is False
    assert doc["token"]["licenseArn"] == response["LicenseArn"]
    assert doc["checks"] == {c: "failed" if c == "signature" else "not_checked" for c in CHECKS}


def test_a_token_of_another_key_says_the_sizes_differ(
        files: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    key, _, _ = files
    other = tmp_path / "other.txt"
    other.write_text(TokenFactory.with_key_size(4096).token())
    done = _run("verify", str(other), "--key", str(key), "--json")
    assert done.returncode == 1
    doc = _json(done)
    assert doc["code"] == "bad_signature"
    assert "the signature is 512 bytes, the pinned keys' signatures are 256" in doc["message"]
    same_size = tmp_path / "same.txt"
    same_size.write_text(TokenFactory().token())  # another 2048-bit key: no size hint
    message = _json(_run("verify", str(same_size), "--key", str(key), "--json"))["message"]
    assert message == "no pinned key (1 tried) verifies the PS384 signature"


def test_a_tampered_response_is_still_rejected_with_its_check_failed(
        files: tuple[Path, Path, dict[str, Any]]) -> None:
    key, path, response = files
    path.write_text(json.dumps(response | {"NodeId": "someone-else"}))
    doc = _json(_run("verify", str(path), "--key", str(key), "--json", "--node-id",
                     "someone-else"))
    assert doc["valid"] is False and doc["license"] is None
    assert doc["code"] == "response_mismatch"
    assert doc["checks"]["unsigned_fields"] == "failed"
    assert doc["checks"]["node"] == "failed"  # the signed nodeId decides, not the edited one
    assert doc["token"]["nodeId"] == "node-7f3a"


def test_a_bare_token_has_no_unsigned_fields_to_check(
        files: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    key, _, response = files
    bare = tmp_path / "token.txt"
    bare.write_text(response["SignedToken"])
    done = _run("verify", str(bare), "--key", str(key), "--json")
    assert done.returncode == 0
    doc = _json(done)
    assert doc["license"]["checks"]["unsigned_fields"] == "not_checked"
    assert doc["checks"]["unsigned_fields"] == "not_checked"
    assert "NOT CHECKED" in _rows(done.stderr)["unsigned"]


def test_store_import_node_mismatch_names_the_salt_and_source(
        files: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    key, path, _ = files
    id_file = tmp_path / "installation-id"
    done = _run("store", "import", str(path), "--dir", str(tmp_path / "store"), "--key",
                str(key), "--installation-file", str(id_file), "--json")
    assert done.returncode == 1
    doc = _json(done)
    assert doc["code"] == "node_mismatch" and doc["license"] is None
    here = installation_node_id("license-token", id_file)
    assert f"this machine's node ID {here} is from the installation ID in {id_file} with " \
           "the default salt 'license-token' (no --salt: give the one the app passes to " \
           "node_id())" in doc["message"]
    assert doc["checks"]["node"] == "failed" and doc["token"]["nodeId"] == "node-7f3a"
    salted = _json(_run("store", "import", str(path), "--dir", str(tmp_path / "store"),
                        "--key", str(key), "--installation-file", str(id_file), "--salt",
                        "acme", "--json"))
    assert f"is from the installation ID in {id_file} with salt 'acme'" in salted["message"]
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").glob("*.json"))


def test_node_id_says_the_default_salt_was_used(tmp_path: Path) -> None:
    id_file = tmp_path / "installation-id"
    done = _run("node-id", "--installation-file", str(id_file))
    assert done.returncode == 0
    assert "with the default salt 'license-token' (no --salt" in done.stderr
    salted = _run("node-id", "--installation-file", str(id_file), "--salt", "acme")
    assert "with salt 'acme'" in salted.stderr and "default salt" not in salted.stderr
