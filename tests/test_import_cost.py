"""What a start imports, and when the AWS adapter builds its client: only what the start runs.

An app imports this library at every start. Each start here is a real subprocess whose
``sys.modules`` is read at its end; nothing is timed (``bench/startup.py`` measures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from license_token import TrustStore, Verifier
from license_token.aws import AwsError, InvalidRequest, LicenseManager, NoCredentials
from license_token.cli import COMMANDS, _parser
from license_token.store import LicenseStore
from license_token.testing import LocalLicenseManager

NODE = "node-7f3a"
USERS = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
#: What no start that does not write or call AWS may import (prefixes of module names).
WRITERS_AND_AWS = ("boto3", "botocore", "filelock", "platformdirs", "jwcrypto", "tempfile",
                   "shutil", "uuid", "license_token.startup._renewal",
                   "license_token.startup._policy")


@pytest.fixture
def shop(tmp_path: Path, license_manager: LocalLicenseManager) -> dict[str, str]:
    """A pinned key, a store holding a fresh borrow of the node, its response on disk, the
    instant it was saved at (the clock mark: a start at that instant writes nothing)."""
    lic = license_manager.add_license(entitlements={"Users": ("Count", 5)})
    key = tmp_path / "key.pem"
    key.write_bytes(license_manager.public_key_pem(lic.key_id))
    verifier = Verifier(TrustStore.from_file(key), node_id=NODE)
    checkout = LicenseManager(verifier, client=license_manager.client()).checkout_borrow(
        lic.arn, USERS, node_id=NODE)
    saved = LicenseStore(tmp_path / "store").save(checkout.response, verifier)
    response = tmp_path / "response.json"
    response.write_text(json.dumps(dict(checkout.response)))
    return {"key": str(key), "store": str(tmp_path / "store"), "arn": lic.arn,
            "response": str(response), "now": saved.saved_at.isoformat(),
            "endpoint": license_manager.endpoint_url}


def _aws_env(home: Path) -> dict[str, str]:
    """An environment with no AWS configuration but the emulator's dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {"HOME": str(home), "AWS_ACCESS_KEY_ID": "AKIDEMULATOR",
                  "AWS_SECRET_ACCESS_KEY": "emulator", "AWS_EC2_METADATA_DISABLED": "true",
                  "AWS_CONFIG_FILE": str(home / "none"),
                  "AWS_SHARED_CREDENTIALS_FILE": str(home / "none")}


def _modules_after(code: str, paths: dict[str, str], env: dict[str, str] | None = None) -> \
        tuple[set[str], set[str]]:
    """Run ``code`` in a new interpreter: the modules ``cryptography``'s RSA-PSS imports
    bring (what the minimal process pays too), and those the code imported beyond them."""
    prologue = ("import sys\n"
                "from cryptography.hazmat.primitives import hashes, serialization\n"
                "from cryptography.hazmat.primitives.asymmetric import padding, rsa\n"
                "import json, base64\n"
                "before = set(sys.modules)\n"
                f"P = {paths!r}\n")
    epilogue = "\nprint(json.dumps([sorted(before), sorted(set(sys.modules) - before)]))\n"
    done = subprocess.run([sys.executable, "-c", prologue + code + epilogue], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    before, added = json.loads(done.stdout.splitlines()[-1])
    return set(before), set(added)


def _matching(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in prefixes or m.startswith(
        tuple(p + "." for p in prefixes)))


OFFLINE_START = """
from datetime import datetime
from license_token import TrustStore, Verifier
from license_token.startup import check_license
from license_token.store import LicenseStore
verifier = Verifier(TrustStore.from_file(P["key"]), node_id="node-7f3a")
result = check_license(LicenseStore(P["store"]), verifier, now=datetime.fromisoformat(P["now"]))
assert result.license.license_arn == P["arn"]
"""

RECIPE = """
from datetime import datetime
from license_token import TrustStore, Verifier
from license_token.aws import LicenseManager
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore
verifier = Verifier(TrustStore.from_file(P["key"]), node_id="node-7f3a")
manager = LicenseManager(verifier, region_name="us-east-1", endpoint_url=P["endpoint"])
renewer = BorrowRenewer(manager=manager, license_arn=P["arn"],
                        entitlements=[{"Name": "Users", "Unit": "Count", "Value": "1"}])
result = check_license(LicenseStore(P["store"]), verifier, renew=renewer,
                       now=datetime.fromisoformat(P["now"]))
assert result.license.license_arn == P["arn"] and not result.renewed
"""


def test_the_offline_start_imports_no_writer_no_renewal_and_no_aws(
        shop: dict[str, str]) -> None:
    """``random`` comes with cryptography's RSA module: the library adds none of its own."""
    before, added = _modules_after(OFFLINE_START, shop)
    assert _matching(added, WRITERS_AND_AWS) == []
    assert _matching(added, ("random", "logging", "license_token.aws",
                             "license_token.cli", "license_token.node")) == []
    assert "random" in before  # so its absence above is no proof of ours: see the docstring


def test_a_store_in_the_default_directory_is_the_one_start_importing_platformdirs(
        shop: dict[str, str], tmp_path: Path) -> None:
    code = ("from license_token.store import LicenseStore\n"
            "assert LicenseStore(app_name='AcmeApp').directory.name == 'licenses'\n")
    _, added = _modules_after(code, shop, env=os.environ | {"HOME": str(tmp_path),
                                                            "XDG_DATA_HOME": str(tmp_path)})
    assert "platformdirs" in added
    _, offline = _modules_after(OFFLINE_START, shop)
    assert _matching(offline, ("platformdirs",)) == []


def test_a_start_that_writes_its_clock_mark_imports_filelock(shop: dict[str, str]) -> None:
    """The positive control of the test above: a start a day later moves the mark."""
    later = datetime.fromisoformat(shop["now"]) + timedelta(hours=1)
    _, added = _modules_after(OFFLINE_START, shop | {"now": later.isoformat()})
    assert "filelock" in added
    assert _matching(added, ("boto3", "botocore", "license_token.startup._renewal")) == []


def test_the_recipe_at_a_start_with_nothing_due_imports_no_boto3(
        shop: dict[str, str], tmp_path: Path) -> None:
    """``import license_token.aws``, a ``LicenseManager`` and a ``BorrowRenewer``: no
    botocore until a call needs it."""
    _, added = _modules_after(RECIPE, shop, env=_aws_env(tmp_path))
    assert _matching(added, ("boto3", "botocore", "filelock", "jwcrypto")) == []


def test_importing_the_adapter_imports_no_boto3(shop: dict[str, str]) -> None:
    _, added = _modules_after("import license_token.aws\nimport license_token.aws.marketplace\n",
                              shop)
    assert _matching(added, ("boto3", "botocore")) == []


def test_license_token_verify_imports_only_the_verify_command(shop: dict[str, str]) -> None:
    code = ("from license_token.cli import main\n"
            "code = main(['verify', P['response'], '--key', P['key'], '--node-id', "
            "'node-7f3a'])\n"
            "assert code == 0, code\n")
    _, added = _modules_after(code, shop)
    # argparse's help formatter imports shutil (for the terminal's width), any CLI pays it
    assert _matching(added, tuple(m for m in WRITERS_AND_AWS if m != "shutil")) == []
    assert _matching(added, ("logging", "license_token.store", "license_token.startup",
                             "license_token.aws", "license_token.node", "license_token.cli._store",
                             "license_token.cli._online", "license_token.cli._node",
                             "license_token.cli._token", "license_token.testing")) == []


# -- the lazy client -----------------------------------------------------------------------
def test_a_manager_builds_its_client_at_the_first_call_and_once(
        shop: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        license_manager: LocalLicenseManager) -> None:
    import license_token.aws._manager as aws

    made: list[str] = []

    def make_client(service: str, **options: Any) -> Any:
        made.append(service)
        return license_manager.client(service)

    monkeypatch.setattr(aws, "make_client", make_client)
    verifier = Verifier(TrustStore.from_file(shop["key"]), node_id=NODE)
    manager = LicenseManager(verifier, region_name="us-east-1")
    assert made == []
    checkout = manager.checkout_borrow(shop["arn"], USERS, node_id=NODE)
    assert checkout.license is not None
    manager.check_in(checkout.license.consumption_token or "")
    assert made == ["license-manager"]
    assert manager.client is manager.client


def _no_aws_config(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEMULATOR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator")


@pytest.mark.parametrize(("options", "config", "error", "message"), [
    ({}, None, InvalidRequest, "region"),
    ({}, "[default]\noutput = json\n", InvalidRequest, "region"),
    ({"profile_name": "vendor"}, "[profile vendor]\noutput = json\n", InvalidRequest, "region"),
    ({"region_name": "us-east-1", "endpoint_url": "notaurl"}, None, InvalidRequest, "notaurl"),
    ({"region_name": "us-east-1", "endpoint_url": "http://"}, None, InvalidRequest, "http://"),
    ({"region_name": "us-east-1", "profile_name": "nope"}, None, NoCredentials, "nope"),
    ({"region_name": "us-east-1", "profile_name": "nope"}, "[profile vendor]\n",
     NoCredentials, "nope"),
    ({"region_name": "us-east-1"}, "AWS_PROFILE=nope", NoCredentials, "nope"),
    ({"region_name": "not a region!"}, None, InvalidRequest, "not a region!"),
    ({"region_name": "us-east-1", "retry_mode": "sometimes"}, None, InvalidRequest,
     "sometimes"),
    ({"region_name": "us-east-1", "max_attempts": 0}, None, InvalidRequest, "max_attempts"),
])
def test_a_configuration_error_still_surfaces_when_the_manager_is_made(
        options: dict[str, Any], config: str | None, error: type[Exception], message: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        license_manager: LocalLicenseManager) -> None:
    """No Region, an endpoint that is no URL, an unknown profile: the same typed errors as
    before the client was made lazily, still at construction, and nothing is sent."""
    _no_aws_config(monkeypatch, tmp_path)
    if config and config.startswith("AWS_PROFILE="):
        monkeypatch.setenv("AWS_PROFILE", config.partition("=")[2])
    elif config:
        (tmp_path / "config").write_text(config)
    verifier = Verifier(TrustStore.from_pem(license_manager.public_key_pem(
        license_manager.create_key())))
    with pytest.raises(error, match=f"(?i){message}"):
        LicenseManager(verifier, **options)
    assert license_manager.requests == []


KEYS = "aws_access_key_id = AKIDEMULATOR\naws_secret_access_key = emulator\n"


@pytest.mark.parametrize(("options", "config", "credentials"), [
    ({}, "[default]\nregion = us-east-1\n", None),
    ({"profile_name": "vendor"}, f"[profile vendor]\nregion = us-east-1\n{KEYS}", None),
    ({"profile_name": "vendor", "region_name": "us-east-1"}, None, f"[vendor]\n{KEYS}"),
    ({"profile_name": "vendor"}, None, f"[vendor]\nregion = us-east-1\n{KEYS}"),
])
def test_a_configuration_the_files_complete_is_not_refused(
        options: dict[str, Any], config: str | None, credentials: str | None,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        license_manager: LocalLicenseManager) -> None:
    """The Region and profile found in the AWS config files: the manager is made, and its
    first call goes through."""
    _no_aws_config(monkeypatch, tmp_path)
    for name, text in (("config", config), ("credentials", credentials)):
        if text:
            (tmp_path / name).write_text(text)
    lic = license_manager.add_license(entitlements={"Users": ("Count", 5)})
    verifier = Verifier(TrustStore.from_pem(license_manager.public_key_pem(lic.key_id)))
    manager = LicenseManager(verifier, endpoint_url=license_manager.endpoint_url, **options)
    assert manager.get_license(lic.arn).license_arn == lic.arn
    assert manager.client.meta.region_name == "us-east-1"


def test_a_configuration_error_found_at_the_first_call_takes_no_seat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        license_manager: LocalLicenseManager) -> None:
    """What only botocore can tell (here: a config file it cannot parse) surfaces at the
    first call, as a typed error, before any request is sent."""
    _no_aws_config(monkeypatch, tmp_path)
    (tmp_path / "config").write_text("[profile vendor]\nregion = us-east-1\n[broken\n")
    lic = license_manager.add_license(entitlements={"Users": ("Count", 5)})
    verifier = Verifier(TrustStore.from_pem(license_manager.public_key_pem(lic.key_id)))
    manager = LicenseManager(verifier, profile_name="vendor",
                             endpoint_url=license_manager.endpoint_url)
    with pytest.raises(AwsError):
        manager.checkout_borrow(lic.arn, USERS)
    assert license_manager.requests == []
    assert license_manager.seats_in_use(lic.arn) == {}


def test_an_unknown_client_option_is_refused_when_the_manager_is_made(
        license_manager: LocalLicenseManager) -> None:
    verifier = Verifier(TrustStore.from_pem(license_manager.public_key_pem(
        license_manager.create_key())))
    with pytest.raises(TypeError, match="region"):
        LicenseManager(verifier, region="us-east-1")
    with pytest.raises(TypeError, match="region"):  # a given client does not hide it
        LicenseManager(verifier, client=license_manager.client(), region="us-east-1")


def test_a_fixed_clock_makes_the_start_at_the_saved_instant_write_nothing(
        shop: dict[str, str]) -> None:
    """The fixture's premise: at the saved instant the mark does not move."""
    store = LicenseStore(shop["store"])
    mark = store.high_water_mark()
    assert mark == datetime.fromisoformat(shop["now"]).astimezone(timezone.utc)


@pytest.mark.parametrize("group", sorted(COMMANDS))
def test_the_command_registry_lists_what_each_group_adds(group: str) -> None:
    """``cli.COMMANDS`` says which module adds which commands: a command listed under
    another group, or not at all, would import every group."""
    commands = COMMANDS[group]
    parser = _parser([commands[0]])
    added = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(added.choices) == sorted(commands)
    everything = next(a for a in _parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    assert sorted(everything.choices) == sorted(c for names in COMMANDS.values() for c in names)
