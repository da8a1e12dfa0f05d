"""The extras install everywhere the README says: `aws` and `dev` on Linux, macOS and Windows.

Two checks, because pip's ``--platform`` changes only which wheels are acceptable: it still
evaluates environment markers (``platform_system != 'Windows'``) on the machine running pip.
So the markers are evaluated here for each target platform, and pip's resolver is run for
other platforms' wheels (``--only-binary=:all:``, no compiler to fall back on).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest
from conftest import ROOT
from packaging.markers import default_environment
from packaging.requirements import Requirement

#: The extras that need a native toolchain where no wheel exists, and the only extra each
#: may appear in.
TOOLCHAIN_BOUND = {"atheris": "fuzz"}
#: Target platforms as marker environments: macOS (Apple silicon and Intel), Linux ARM,
#: Windows.
PLATFORMS = {
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin",
                    "platform_machine": "arm64", "os_name": "posix"},
    "macos-x86_64": {"sys_platform": "darwin", "platform_system": "Darwin",
                     "platform_machine": "x86_64", "os_name": "posix"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux",
                      "platform_machine": "aarch64", "os_name": "posix"},
    "windows-amd64": {"sys_platform": "win32", "platform_system": "Windows",
                      "platform_machine": "AMD64", "os_name": "nt"},
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _readme_setup() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^## Set-up: the two commands\n\n```sh\n(.*?)^```", text, re.S | re.M)
    assert block is not None, "README has no set-up block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def _requirements(extras: set[str], environment: dict[str, str]) -> set[str]:
    """The distributions ``license-token[extras]`` asks for in ``environment``
    (self-references such as ``license-token[aws,docs]`` followed)."""
    declared = [Requirement(text) for text in requires("license-token") or []]
    names: set[str] = set()
    todo, seen = set(extras) | {""}, set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for req in declared:
            if req.marker is None:
                wanted = extra == ""
            else:
                wanted = req.marker.evaluate({**environment, "extra": extra})
            if not wanted:
                continue
            if req.name == "license-token":
                todo |= set(req.extras) - seen
            else:
                names.add(req.name.lower())
    return names


def _environment(platform: str, python: str = "3.11") -> dict[str, str]:
    """The marker environment of ``platform`` (a key of ``PLATFORMS``) and ``python``."""
    merged = {**default_environment(), **PLATFORMS[platform], "python_version": python,
              "python_full_version": f"{python}.0"}
    return {name: str(value) for name, value in merged.items()}


def test_the_readme_commands_install_aws_for_the_main_job_and_dev_for_the_tests() -> None:
    main_job, tests = _readme_setup()
    assert "pip install -e '.[aws]'" in main_job and "license-token demo" in main_job
    assert "pip install -e '.[dev]'" in tests and "pytest" in tests


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_no_extra_a_readme_command_installs_needs_a_toolchain(platform: str,
                                                              python: str) -> None:
    environment = _environment(platform, python)
    for extras in ({"aws"}, {"dev"}, {"docs"}):
        names = _requirements(extras, environment)
        assert names.isdisjoint(TOOLCHAIN_BOUND), (extras, names & set(TOOLCHAIN_BOUND))
    assert "boto3" in _requirements({"aws"}, environment)
    dev = _requirements({"dev"}, environment)
    # dev holds what the tests use: the AWS CLI, the docs build (with ruff for signatures)
    assert {"boto3", "awscli", "pytest", "mkdocs", "mkdocstrings", "ruff"} <= dev
    assert "ruff" in _requirements({"docs"}, environment)


def test_atheris_is_in_the_fuzz_extra_only() -> None:
    linux = _environment("linux-aarch64") | {"platform_machine": "x86_64"}
    for name, extra in TOOLCHAIN_BOUND.items():
        assert name in _requirements({extra}, linux)
    assert "pyinstaller" in _requirements({"freeze"}, linux)
    assert "pyinstaller" not in _requirements({"dev"}, linux)


def _dry_run(platform: str, requirement: str, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--only-binary=:all:", "--platform", platform, "--python-version", "3.10",
         "--implementation", "cp", "--target", str(target), requirement],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def _errors(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(line for line in done.stderr.splitlines() if "WARNING" not in line)


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["macosx_11_0_arm64", "manylinux2014_aarch64"])
def test_pip_resolves_dev_from_wheels_where_atheris_has_none(platform: str,
                                                             tmp_path: Path) -> None:
    """What ``pip install -e '.[dev]'`` resolves on a Mac or ARM Linux, without a compiler."""
    probe = _dry_run(platform, "cryptography>=42", tmp_path)  # wheels for every platform
    if probe.returncode != 0:
        pytest.skip(f"the package index pip is configured with has no {platform} wheels "
                    f"(only this machine's platform, as an offline mirror): {_errors(probe)}")
    done = _dry_run(platform, ".[dev]", tmp_path)
    assert done.returncode == 0, _errors(done)
