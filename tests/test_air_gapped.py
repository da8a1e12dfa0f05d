"""Air-gapped sites: print the node ID, borrow elsewhere, import into the offline store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from license_token import ClockRollback, NodeMismatch, TrustStore, Verifier
from license_token.cli import main
from license_token.cli._node import DEFAULT_SALT
from license_token.node import (
    ContainerNodeId,
    NodeIdUnavailable,
    installation_node_id,
    node_id,
)
from license_token.store import LicenseStore
from license_token.testing import LocalLicenseManager, TokenFactory

SALT = "acme-app"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "license_token", *args], capture_output=True,
                          text=True, timeout=60, check=False, env=env)


def _entries(directory: Path) -> list[str]:
    return [p.name for p in LicenseStore(directory).paths()]


# -- node-id ---------------------------------------------------------------------------
def test_node_id_prints_the_installation_node_id_on_the_last_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "volume" / "installation-id"
    assert main(["node-id", "--salt", SALT, "--installation-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == installation_node_id(SALT, path)
    assert main(["node-id", "--salt", SALT, "--installation-file", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["node_id"] == installation_node_id(SALT, path) and doc["code"] is None


def test_node_id_with_the_machine_id_matches_the_api(tmp_path: Path) -> None:
    done = _run("node-id", "--salt", SALT, "--json")
    doc = json.loads(done.stdout.splitlines()[-1])
    try:
        expected, failure, exit_code = node_id(SALT), None, 0
    except NodeIdUnavailable as exc:  # a container or a machine without an ID: the same code
        expected, failure = None, {"code": exc.code, "message": str(exc), "node_id": None,
                                   "license": None, "valid": False}
        exit_code = 1 if isinstance(exc, ContainerNodeId) else 2  # refused, or unreadable
    if failure is not None:
        assert done.returncode == exit_code and doc == failure
    else:
        assert done.returncode == 0 and doc["node_id"] == expected
    allowed = _run("node-id", "--salt", SALT, "--allow-container")
    if any(Path(p).exists() for p in ("/etc/machine-id", "/var/lib/dbus/machine-id")):
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.splitlines()[-1] == node_id(SALT, allow_container=True)


def test_node_id_with_an_empty_salt_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node-id", "--salt", "", "--allow-container"]) == 2
    assert "salt" in capsys.readouterr().err


# -- store import: the API --------------------------------------------------------------
def test_import_response_for_another_node_writes_nothing(tmp_path: Path,
                                                         factory: TokenFactory) -> None:
    store = LicenseStore(tmp_path / "store")
    verifier = Verifier(factory.trust_store(), node_id="this-node")
    with pytest.raises(NodeMismatch):
        store.import_response(json.dumps(factory.response(nodeId="other-node")), verifier)
    assert not (tmp_path / "store").exists()
    saved = store.import_response(json.dumps(factory.response(nodeId="this-node")), verifier)
    assert saved.license.node_id == "this-node"
    assert store.load(saved.license.license_arn, verifier).license.node_id == "this-node"


def test_import_on_a_clock_turned_back_is_refused(tmp_path: Path, factory: TokenFactory) -> None:
    store = LicenseStore(tmp_path / "store")
    verifier = Verifier(factory.trust_store(), node_id="this-node")
    first = store.import_response(factory.response(nodeId="this-node"), verifier)
    before = first.path.read_bytes()
    older = TokenFactory(private_key=factory.private_key, now=factory.now - timedelta(days=3))
    with pytest.raises(ClockRollback):
        store.import_response(older.response(nodeId="this-node"), verifier,
                              now=factory.now - timedelta(days=3))
    assert first.path.read_bytes() == before


# -- store import: the CLI ----------------------------------------------------------------
@pytest.mark.parametrize(("tamper", "options", "code"), [
    ({"claims": {"nodeId": "other-node"}}, [], "node_mismatch"),
    ({"claims": {"expiration": "2001-01-01T00:00:00", "issuedAt": "2000-12-31T00:00:00"}}, [],
     "expired"),
    ({"unsigned": {"NodeId": "this-node", "Expiration": "2999-01-01T00:00:00"}}, [],
     "response_mismatch"),
    ({}, ["--license-arn", "arn:aws:license-manager::1:license:l-other"], "license_mismatch"),
    ({}, ["--require", "Users:Count=50"], "entitlement_insufficient"),
    ({"key": "outsider"}, [], "bad_signature"),
])
def test_store_import_refuses_with_its_code_and_writes_nothing(
        tmp_path: Path, factory: TokenFactory, capsys: pytest.CaptureFixture[str],
        tamper: dict[str, dict[str, str] | str], options: list[str], code: str) -> None:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    issuer = TokenFactory() if tamper.get("key") == "outsider" else factory
    claims = factory.claims(nodeId="this-node") | dict(tamper.get("claims", {}))  # type: ignore[arg-type]
    response = issuer.response(claims, tamper=tamper.get("unsigned"))  # type: ignore[arg-type]
    file = tmp_path / "borrowed.json"
    file.write_text(json.dumps(response))
    store = tmp_path / "store"
    argv = ["store", "import", str(file), "--dir", str(store), "--key", str(key),
            "--node-id", "this-node", *options, "--json"]
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["valid"] is False and doc["code"] == code
    assert _entries(store) == []


def test_store_import_refuses_a_what_if_instant(tmp_path: Path, factory: TokenFactory,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    key, file = tmp_path / "issuer.pem", tmp_path / "borrowed.json"
    key.write_bytes(factory.public_key_pem())
    file.write_text(json.dumps(factory.response(nodeId="this-node")))
    assert main(["store", "import", str(file), "--dir", str(tmp_path / "s"), "--key", str(key),
                 "--node-id", "this-node", "--at", "2030-01-01T00:00:00"]) == 2
    assert main(["store", "import", str(file), "--dir", str(tmp_path / "s"), "--key", str(key),
                 "--node-id", "this-node", "--salt", SALT]) == 2
    assert "not both" in capsys.readouterr().err
    assert _entries(tmp_path / "s") == []


def test_store_import_says_what_it_did_not_check(tmp_path: Path, factory: TokenFactory,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    key, file = tmp_path / "issuer.pem", tmp_path / "borrowed.json"
    key.write_bytes(factory.public_key_pem())
    file.write_text(json.dumps(factory.response(nodeId="this-node")))
    assert main(["store", "import", str(file), "--dir", str(tmp_path / "s"), "--key", str(key),
                 "--no-node-check", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out.splitlines()[-1])
    assert doc["license"]["checks"] | {"signature": "ok"} == {
        "signature": "ok", "unsigned_fields": "ok", "validity": "ok",
        "license_arn": "not_checked", "node": "not_checked", "entitlements": "not_checked"}
    assert re.search(r"node +NOT CHECKED", captured.err)
    assert _entries(tmp_path / "s") == [Path(doc["file"]).name]


def _import(tmp_path: Path, factory: TokenFactory, node: str, *options: str) -> int:
    key, file = tmp_path / "issuer.pem", tmp_path / "borrowed.json"
    key.write_bytes(factory.public_key_pem())
    file.write_text(json.dumps(factory.response(nodeId=node)))
    return main(["store", "import", str(file), "--dir", str(tmp_path / "s"), "--key", str(key),
                 *options, "--json"])


def test_store_import_checks_this_machines_node_by_default(
        tmp_path: Path, factory: TokenFactory, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --node-id, the node checked is the one ``node-id`` prints (its salt too)."""
    try:
        node_id(DEFAULT_SALT)
    except NodeIdUnavailable as exc:  # a container or a machine without an ID: refused too
        expected = exc.code
    else:
        expected = "node_mismatch"
    assert _import(tmp_path, factory, "someone-elses-node") == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out.splitlines()[-1])["code"] == expected
    assert _entries(tmp_path / "s") == []
    id_file = tmp_path / "volume" / "installation-id"
    assert _import(tmp_path, factory, "someone-elses-node", "--installation-file",
                   str(id_file)) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == "node_mismatch"
    assert _entries(tmp_path / "s") == []
    here = installation_node_id(DEFAULT_SALT, id_file)  # what `node-id --installation-file` says
    assert _import(tmp_path, factory, here, "--installation-file", str(id_file)) == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert doc["license"]["checks"]["node"] == "ok" and doc["license"]["claims"]["nodeId"] == here
    mine = installation_node_id(SALT, id_file)
    assert _import(tmp_path, factory, mine, "--salt", SALT, "--installation-file",
                   str(id_file)) == 0


def test_store_import_in_a_container_uses_the_machine_id_when_allowed(
        tmp_path: Path, factory: TokenFactory, capsys: pytest.CaptureFixture[str]) -> None:
    if not any(Path(p).exists() for p in ("/etc/machine-id", "/var/lib/dbus/machine-id")):
        pytest.fail("this test needs a machine ID file (as CI runners and hosts have)")
    here = node_id(DEFAULT_SALT, allow_container=True)
    assert _import(tmp_path, factory, "someone-elses-node", "--allow-container") == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["code"] == "node_mismatch"
    assert _import(tmp_path, factory, here, "--allow-container") == 0


@pytest.mark.parametrize(("options", "message"), [
    (["--node-id", "n", "--salt", SALT], "give --node-id or --salt, not both"),
    (["--node-id", "n", "--allow-container"], "give --node-id or --allow-container, not both"),
    (["--no-node-check", "--node-id", "n"], "--no-node-check checks no node"),
    (["--no-node-check", "--installation-file", "f"], "--no-node-check checks no node"),
])
def test_store_import_node_options_that_contradict_are_usage_errors(
        tmp_path: Path, factory: TokenFactory, capsys: pytest.CaptureFixture[str],
        options: list[str], message: str) -> None:
    assert _import(tmp_path, factory, "n", *options) == 2
    assert message in capsys.readouterr().err and _entries(tmp_path / "s") == []


# -- the whole flow, as processes -----------------------------------------------------------
def test_air_gapped_flow_end_to_end(tmp_path: Path) -> None:
    offline_dir, online_dir = tmp_path / "air-gapped", tmp_path / "online"
    offline_dir.mkdir()
    online_dir.mkdir()
    id_file = offline_dir / "installation-id"
    # 1. on the air-gapped machine: its node ID
    done = _run("node-id", "--salt", SALT, "--installation-file", str(id_file))
    assert done.returncode == 0, done.stderr
    node = done.stdout.splitlines()[-1]
    with LocalLicenseManager() as emulator:
        lic = emulator.add_license(entitlements={"Users": ("Count", 3)}, borrow_ttl_minutes=60)
        key = online_dir / "issuer.pem"
        key.write_bytes(emulator.public_key_pem(lic.key_id))
        env = os.environ | {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                            "AWS_DEFAULT_REGION": "us-east-1"}

        def borrow(out: Path) -> None:
            # 2. on an online machine: borrow for the air-gapped one
            done = _run("checkout-borrow", "--license-arn", lic.arn, "--entitlement",
                        "Users:Count=1", "--key", str(key), "--node-id", node, "--out", str(out),
                        "--endpoint-url", emulator.endpoint_url, env=env)
            assert done.returncode == 0, done.stderr

        borrow(online_dir / "borrowed.json")
        # 3. carried over (USB stick): imported against the air-gapped machine's policy
        store = offline_dir / "licenses"
        common = ["--dir", str(store), "--key", str(key), "--license-arn", lic.arn,
                  "--require", "Users:Count=1"]
        done = _run("store", "import", str(online_dir / "borrowed.json"), *common,
                    "--salt", SALT, "--json")
        assert done.returncode != 0  # --salt reads the machine ID; this machine uses a file
        done = _run("store", "import", str(online_dir / "borrowed.json"), *common,
                    "--node-id", node, "--json")
        assert done.returncode == 0, done.stderr
        first = json.loads(done.stdout.splitlines()[-1])
        assert first["valid"] is True
        assert set(first["license"]["checks"].values()) == {"ok"}
        # a file borrowed for another machine is refused, and the store is unchanged
        borrowed_for_other = online_dir / "other.json"
        _run_ok = _run("checkout-borrow", "--license-arn", lic.arn, "--entitlement",
                       "Users:Count=1", "--key", str(key), "--node-id", "someone-else",
                       "--out", str(borrowed_for_other), "--endpoint-url", emulator.endpoint_url,
                       env=env)
        assert _run_ok.returncode == 0, _run_ok.stderr
        before = Path(first["file"]).read_bytes()
        done = _run("store", "import", str(borrowed_for_other), *common, "--node-id", node,
                    "--json")
        assert done.returncode == 1
        assert json.loads(done.stdout.splitlines()[-1])["code"] == "node_mismatch"
        assert Path(first["file"]).read_bytes() == before
        # 4. renewal before the borrow expires: borrow again, import again
        borrow(online_dir / "renewed.json")
        done = _run("store", "import", str(online_dir / "renewed.json"), *common,
                    "--node-id", node, "--json")
        assert done.returncode == 0, done.stderr
        renewed = json.loads(done.stdout.splitlines()[-1])
        assert renewed["file"] == first["file"]
        assert (renewed["license"]["claims"]["licenseConsumptionToken"]
                != first["license"]["claims"]["licenseConsumptionToken"])
    # 5. the app at start, offline: the store verifies
    done = _run("store", "verify", *common, "--node-id", node, "--json")
    assert done.returncode == 0, done.stderr
    verified = json.loads(done.stdout.splitlines()[-1])["license"]["claims"]
    assert verified == renewed["license"]["claims"]
    keys = TrustStore.from_file(key)
    loaded = LicenseStore(store).load(lic.arn, Verifier(keys, node_id=node))
    assert loaded.license.node_id == node
