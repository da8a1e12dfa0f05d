"""The guides for each kind of customer: every python and shell block runs as written.

Each guide's blocks run in order in one namespace, in a setting that plays the customer's
situation against the emulator (the names the guides use, e.g. ``LICENSE_ARN``, are defined
here); what they print is checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, Emulator, emulator_process

from license_token import TrustStore, Verifier
from license_token.aws import LicenseManager, _endpoint
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
    """The emulator plays AWS's own endpoint: online-only calls ignore AWS_ENDPOINT_URL."""
    monkeypatch.setattr(_endpoint, "aws_endpoint", lambda service, region: emulator.endpoint_url)
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
    assert emulator.calls("CheckInLicense") == 1  # the keeper's seat, at close()
    assert emulator.seats_in_use(lic.arn)["Premium"] == 0  # the first block's seat is
    # unlimited (unit None): only the keeper's is tracked, and it was given back


def test_node_binding_guide(tmp_path: Path) -> None:
    out = _run_guide("node-binding.md", {"STATE_DIR": tmp_path})
    assert re.fullmatch(r"[0-9a-f]{32}\n", out)


# -- shell blocks -------------------------------------------------------------------------
# Every ```sh block of the README and of docs/ runs as written, in order, page by page, in a
# reader's terminal: a fresh directory whose `.venv` is this suite's environment (so
# `.venv/bin/license-token` works, and `license-token` and `aws` are on PATH), with the
# `export` lines that `license-token emulator` prints in the environment (a page with a
# block of its own that starts the emulator is given that process). Each block runs in its
# own `bash -euo pipefail`. A placeholder is a line `NAME=literal` for a NAME the setting
# knows (LICENSE_ARN, KMS_KEY_ID, NODE_ID, STORE_DIR): the reader fills it in, so the
# setting does. The machine plays a plain one (no container), as for the python blocks:
# `node-id` there reads the machine ID. Blocks that install (pip, venv) are checked (syntax,
# extras that exist, the clone's install beside a release's) but not run: they would
# rebuild the environment the tests run in.

SHELL_PAGES = ["README.md", *sorted(path.relative_to(ROOT).as_posix()
                                    for path in (ROOT / "docs").rglob("*.md"))]
INSTALLS = re.compile(r"\bpip install\b|\bpython3 -m venv\b")
PLACEHOLDER = re.compile(r"^([A-Z][A-Z0-9_]*)=([^\s$`'\"(]+)$", re.M)
EMULATOR_BLOCK = re.compile(r"license-token emulator\b[^\n]*\n")
AIR_GAPPED_SALT = "acme-app"
PLAIN_MACHINE = ("import license_token.node\n"
                 "license_token.node.detect_container = lambda **_: None\n")


def shell_blocks(page: str) -> list[str]:
    """The ```sh blocks of ``page``, in order."""
    return re.findall(r"^```sh\n(.*?)^```", (ROOT / page).read_text(), re.S | re.M)


def _terminal_env(tmp_path: Path) -> dict[str, str]:
    shim = tmp_path / "plain-machine"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(PLAIN_MACHINE)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return env | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                  "PYTHONPATH": str(shim), "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                  "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
                  "AWS_EC2_METADATA_DISABLED": "true", "XDG_DATA_HOME": str(tmp_path / "data")}


def _exports(lines: list[str]) -> dict[str, str]:
    """The variables the ``export`` lines set, as a shell would."""
    pairs = [word.split("=", 1) for line in lines if line.startswith("export ")
             for word in shlex.split(line)[1:]]
    return {name: value for name, value in pairs}


def _filled(block: str, settings: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: f"{m[1]}={shlex.quote(settings[m[1]])}"
                           if m[1] in settings else m[0], block)


def _bash(block: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def _started_emulator_exports(running: Emulator) -> dict[str, str]:
    assert running.process.stdout is not None
    lines = [running.first_line]
    while not lines[-1].startswith("#   aws "):  # the last line it prints
        line = running.process.stdout.readline()
        assert line, f"the emulator ended: {''.join(lines)}"
        lines.append(line)
    return _exports(lines)


def _run_blocks(page: str, blocks: list[str], env: dict[str, str], work: Path,
                settings: dict[str, str]) -> list[str]:
    """Run the page's blocks in order; what each printed on stdout."""
    outputs = []
    for index, block in enumerate(blocks, 1):
        done = _bash(_filled(block, settings), env, work)
        assert done.returncode == 0, (f"{page} shell block {index}:\n{block}\n"
                                      f"{done.stdout}\n{done.stderr}")
        outputs.append(done.stdout)
    return outputs


def _page_setting(page: str, blocks: list[str], env: dict[str, str], work: Path,
                  exports: dict[str, str]) -> dict[str, str]:
    """What the reader of ``page`` already has: the license, the node ID, the pinned key
    (shipped with the app, unless the page fetches it)."""
    env.update(exports)
    node = _bash(f"license-token node-id --salt {AIR_GAPPED_SALT}", env, work)
    assert node.returncode == 0, node.stderr
    text = "".join(blocks)
    if "issuer-public-key.pem" in text and "--out issuer-public-key.pem" not in text:
        fetched = _bash('license-token public-key --kms-key-id "$KMS_KEY_ID" '
                        "--out issuer-public-key.pem", env, work)
        assert fetched.returncode == 0, fetched.stderr
    return {"LICENSE_ARN": exports["LICENSE_ARN"], "KMS_KEY_ID": exports["KMS_KEY_ID"],
            "NODE_ID": node.stdout.splitlines()[-1], "STORE_DIR": str(work / "store")}


RUN_PAGES = [page for page in SHELL_PAGES if page != "docs/guides/no-credentials.md"
             and any(not INSTALLS.search(block) for block in shell_blocks(page))]


@pytest.mark.parametrize("page", RUN_PAGES)
def test_shell_blocks_run_as_written(page: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    env = _terminal_env(tmp_path)
    blocks = [block for block in shell_blocks(page) if not INSTALLS.search(block)]
    own = [block for block in blocks if EMULATOR_BLOCK.fullmatch(block)]
    command = shlex.split(own[0]) if own else ["license-token", "emulator"]
    with emulator_process(command=[str(Path(sys.executable).parent / command[0]),
                                   *command[1:]], env=env) as running:
        settings = _page_setting(page, blocks, env, work, _started_emulator_exports(running))
        outputs = _run_blocks(page, [b for b in blocks if b not in own], env, work, settings)
        code, _, err = running.stop()
    assert code == 0, err
    if page == "docs/quickstart.md":
        assert outputs[-1].startswith("VALID")  # the demo's own ARN, read from its response
    assert all("Traceback" not in out for out in outputs)


def test_the_no_credentials_shell_block_runs_with_a_license_token_alone(
        emulator: LocalLicenseManager, tmp_path: Path) -> None:
    """``CreateToken`` is the customer administrator's act, which the emulator process does
    not serve: this page's block runs against an emulator in this process (the same one),
    which refuses every caller but the token's exchange."""
    emulator.identity.require_issued_credentials = True
    lic = emulator.add_license(entitlements={"Users": ("Count", 5)})
    (tmp_path / "issuer-public-key.pem").write_bytes(emulator.public_key_pem(lic.key_id))
    (tmp_path / "license-token.txt").write_text(
        emulator.create_token(lic.arn, role_arns=[ROLE]).token + "\n")
    env = _terminal_env(tmp_path) | {"AWS_ENDPOINT_URL": emulator.endpoint_url}
    [block] = shell_blocks("docs/guides/no-credentials.md")
    _run_blocks("docs/guides/no-credentials.md", [block], env, tmp_path,
                {"LICENSE_ARN": lic.arn, "NODE_ID": "node-7f3a"})
    assert emulator.seats_by_node(lic.arn) == {"node-7f3a": 1}
    signer = emulator.identity.signers[-1]  # the borrow: signed with exchanged credentials
    assert signer is not None and signer.startswith("ASIA")


def test_every_shell_block_is_run_or_checked() -> None:
    """No page's shell block escapes the tests: run above, or an install block checked
    below."""
    for page in SHELL_PAGES:
        for block in shell_blocks(page):
            assert INSTALLS.search(block) or page in RUN_PAGES or (
                page == "docs/guides/no-credentials.md"), (page, block)
    for page in SHELL_PAGES:  # every shell block is tagged: none hides as plain text
        text = (ROOT / page).read_text()
        for block in re.findall(r"^```\n(.*?)^```", text, re.S | re.M):
            assert not re.match(r"(\.venv/bin/)?(license-token|aws|pip) ", block) or \
                "[" in block, (page, block)  # a usage synopsis ([OPTION]) is not a command


@pytest.mark.parametrize("page", [page for page in SHELL_PAGES if any(
    INSTALLS.search(block) for block in shell_blocks(page))])
def test_install_blocks_name_real_extras_and_work_from_a_clone(page: str) -> None:
    from importlib.metadata import metadata

    extras = set(metadata("license-token").get_all("Provides-Extra") or [])
    for block in (block for block in shell_blocks(page) if INSTALLS.search(block)):
        done = subprocess.run(["bash", "-n", "-c", block], capture_output=True, text=True,
                              check=False, timeout=60)
        assert done.returncode == 0, (page, block, done.stderr)
        for named in re.findall(r"\[([a-z,]+)\]", block):
            assert set(named.split(",")) <= extras, (page, named)
        # before a release, only the clone installs: every install block shows that way
        assert re.search(r"pip install -e '\.\[[a-z,]+\]'", block), (page, block)
