"""The README (and the docs pages with code) as a first-time reader reads them: every claim checked.

Every ```python block of the files in ``DOCUMENTS`` runs as written, in one shared setting:
a running License Manager emulator reachable through the usual AWS environment variables,
a working directory holding ``issuer-public-key.pem`` and ``license-response.json`` as
``license-token demo`` writes them, and the names ``LICENSE_ARN`` (the emulator's license)
and ``log`` (a logger) defined.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import os
import pkgutil
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

import license_token
from license_token import LicenseTokenError, TrustStore, Verifier
from license_token.cli import _parser
from license_token.testing import LocalLicenseManager, TokenFactory

DEMO_NODE = "demo-node-7f3a"
#: The documents whose python blocks are run; others may join.
DOCUMENTS = ["README.md", "docs/quickstart.md", "docs/guides/testing.md",
             "docs/guides/online.md", "docs/explanation/trusted-time.md"]


def python_blocks(document: str) -> list[str]:
    """The ```python blocks of ``document``, in order."""
    return re.findall(r"^```python\n(.*?)^```", (ROOT / document).read_text(), re.S | re.M)


def _section(document: str, title: str) -> str:
    text = (ROOT / document).read_text()
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", text, re.S | re.M)
    assert match is not None, f"{document} has no section {title!r}"
    return match.group(1)


def library_codes() -> set[str]:
    """The ``code`` of every ``LicenseTokenError`` subclass in every module of the package."""
    for module in pkgutil.walk_packages(license_token.__path__, "license_token."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    classes, todo = set(), [LicenseTokenError]
    while todo:
        cls = todo.pop()
        classes.add(cls)
        todo.extend(cls.__subclasses__())
    return {c.code for c in classes if c.__module__.startswith("license_token")}


def test_every_error_code_is_documented() -> None:
    listed = re.findall(r"^\| `([a-z0-9_]+)` \|", _section("README.md", "Error codes"), re.M)
    assert len(listed) == len(set(listed)), "a code is listed twice"
    assert set(listed) == library_codes() | {"usage"}


@pytest.mark.parametrize(("page", "section"), [
    ("docs/reference/codes.md", "codes"), ("docs/reference/cli.md", "cli"),
    ("docs/explanation/security.md", "security"),
])
def test_reference_pages_include_the_readme_sections(page: str, section: str) -> None:
    """One source for each list: the docs site includes the README's (pymdownx.snippets)."""
    assert f'--8<-- "README.md:{section}"' in (ROOT / page).read_text()
    readme = (ROOT / "README.md").read_text()
    assert readme.count(f"--8<-- [start:{section}]") == readme.count(f"--8<-- [end:{section}]")
    assert f"--8<-- [start:{section}]" in readme


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not sub:
        yield path, parser
        return
    for name, child in sub[0].choices.items():
        yield from _commands(child, (*path, name))


def _readme_usage() -> dict[tuple[str, ...], str]:
    block = re.search(r"```\n(license-token .*?)```", _section("README.md", "Command line"),
                      re.S)
    assert block is not None
    entries: dict[tuple[str, ...], str] = {}
    for entry in re.split(r"\n(?=license-token )", block.group(1).strip()):
        words = entry.split()[1:]
        path = tuple(w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w))
        if path and path[0] == "store":
            path = path[:2]
        else:
            path = path[:1]
        entries[path] = entry
    return entries


def test_the_readme_lists_every_command_and_option() -> None:
    usage = _readme_usage()
    options_table = _section("README.md", "Command line")
    parser = _parser()
    assert "--version" in usage[("--version",)] if ("--version",) in usage else \
        "license-token --version" in options_table
    for path, command in _commands(parser):
        assert path in usage, f"README's command list lacks {' '.join(path)}"
        for action in command._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in usage[path], f"{' '.join(path)} {option} not in README"
                    assert f"`{option}" in options_table, f"{option} not in the options table"
        assert f"| `{' '.join(path)}` |" in options_table, f"{path} not in the commands table"


@pytest.fixture
def demo_like_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        dict[str, object]]:
    """The shared setting every documented python block runs in (see the module docstring)."""
    from license_token.aws import LicenseManager

    with LocalLicenseManager() as emulator:
        lic = emulator.add_license(entitlements={"Users": ("Count", 10),
                                                 "ProFeature": ("None", None)})
        pem = emulator.public_key_pem(lic.key_id)
        (tmp_path / "issuer-public-key.pem").write_bytes(pem)
        manager = LicenseManager(Verifier(TrustStore.from_pem(pem), node_id=DEMO_NODE),
                                 client=emulator.client())
        checkout = manager.checkout_borrow(
            lic.arn, [{"Name": "Users", "Unit": "Count", "Value": "5"},
                      {"Name": "ProFeature", "Unit": "None", "Value": "Enabled"}],
            node_id=DEMO_NODE)
        (tmp_path / "license-response.json").write_text(json.dumps(dict(checkout.response),
                                                                   default=str))
        for name, value in {"AWS_ENDPOINT_URL": emulator.endpoint_url,
                            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                            "AWS_DEFAULT_REGION": "us-east-1",
                            "XDG_DATA_HOME": str(tmp_path / "data")}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        # the examples are a desktop or server app's: run them as on a plain machine, even
        # when this suite runs in a container (where node_id() refuses a shared machine ID)
        monkeypatch.setattr("license_token.node.detect_container", lambda **_: None)
        yield {"LICENSE_ARN": lic.arn, "log": logging.getLogger("readme")}


@pytest.mark.parametrize(("document", "index"), [
    (document, index) for document in DOCUMENTS
    for index in range(len(python_blocks(document)))
])
def test_documented_python_blocks_run_as_written(document: str, index: int,
                                                 demo_like_files: dict[str, object]) -> None:
    block = python_blocks(document)[index]
    namespace = dict(demo_like_files)
    exec(compile(block, f"{document} python block {index + 1}", "exec"), namespace)  # noqa: S102
    for name, function in list(namespace.items()):  # a block of pytest tests: run them
        if name.startswith("test_") and callable(function):
            _run_with_fixtures(function)


def _run_with_fixtures(function: Callable[..., object]) -> None:
    """Call a documented test function with the plugin's fixtures it names."""
    wanted = inspect.signature(function).parameters
    assert set(wanted) <= {"license_manager", "license_token_factory"}, wanted
    with LocalLicenseManager() as emulator:
        fixtures = {"license_manager": emulator, "license_token_factory": TokenFactory()}
        function(**{name: fixtures[name] for name in wanted})


def test_every_document_has_python_blocks() -> None:
    for document in DOCUMENTS:
        assert python_blocks(document), f"{document} has no python block to run"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    directory = tmp_path_factory.mktemp("demo")
    done = subprocess.run([sys.executable, "-m", "license_token", "demo", "--dir",
                           str(directory)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return directory, done.stdout.splitlines()


def test_the_quickstart_runs_on_the_files_the_demo_writes(
        demo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    directory, _ = demo
    monkeypatch.chdir(directory)
    namespace: dict[str, object] = {}
    exec(compile(python_blocks("README.md")[0], "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["lic"].node_id == DEMO_NODE  # type: ignore[attr-defined]


def test_the_demo_ends_with_the_command_that_repeats_its_offline_check(
        demo: tuple[Path, list[str]]) -> None:
    directory, lines = demo
    assert lines[-2] == "Repeat the offline check with:"
    words = shlex.split(lines[-1])
    # Run from `python -m`, with no license-token on PATH: the line names how to start it.
    assert words[:4] == [sys.executable, "-m", "license_token", "verify"]
    assert words[4] == str(directory / "license-response.json")
    done = subprocess.run(words, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VALID")
    assert "NOT CHECKED" not in done.stdout


@pytest.mark.parametrize(("argv0", "on_path", "expected"), [
    ("/venv/bin/license-token", "/venv/bin/license-token", ["license-token"]),
    ("/venv/bin/license-token", None, ["/venv/bin/license-token"]),
    ("/venv/bin/license-token", "/usr/bin/license-token", ["/venv/bin/license-token"]),
    ("/src/license_token/__main__.py", None, [sys.executable, "-m", "license_token"]),
])
def test_the_demo_names_the_program_as_a_shell_can_start_it(
        monkeypatch: pytest.MonkeyPatch, argv0: str, on_path: str | None,
        expected: list[str]) -> None:
    """An unactivated venv: the bare name would be 'command not found' (exit 127)."""
    from license_token.cli import _demo

    monkeypatch.setattr(sys, "argv", [argv0])
    monkeypatch.setattr(shutil, "which", lambda _: on_path)
    monkeypatch.setattr(os.path, "realpath", lambda path: path)
    words = shlex.split(_demo.verify_command(Path("r.json"), Path("k.pem"), "arn"))
    assert words[:len(expected) + 1] == [*expected, "verify"]


def test_the_docs_site_builds_strictly(built_site: tuple[Path, str]) -> None:
    """``mkdocs build --strict``: every page, snippet and docstring the API reference renders."""
    site, _ = built_site
    assert (site / "reference" / "api" / "index.html").exists()


def _startup_recipe() -> str:
    return next(block for block in python_blocks("README.md") if "check_license(" in block)


def test_the_startup_recipe_runs_as_pasted_in_a_container(
        demo_like_files: dict[str, object], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """In Docker ``node_id()`` refuses (``ContainerNodeId``): the recipe falls back to an
    installation ID kept in the app's data directory."""
    monkeypatch.setattr("license_token.node.detect_container",
                        lambda **_: "/.dockerenv exists")
    namespace = dict(demo_like_files)
    exec(compile(_startup_recipe(), "README.md startup recipe", "exec"), namespace)  # noqa: S102
    installation = tmp_path / "data" / "AcmeApp" / "installation-id"
    assert installation.is_file()
    result: Any = namespace["result"]
    assert result.license.node_id == namespace["node"]
    assert (tmp_path / "data" / "AcmeApp" / "licenses").is_dir()
