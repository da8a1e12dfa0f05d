"""Node identity: Linux, macOS (ioreg) and Windows (MachineGuid) readers, containers."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from license_token import ConfigurationError, LicenseTokenError, node
from license_token.node import (
    ContainerNodeId,
    NodeIdUnavailable,
    derive_node_id,
    detect_container,
    installation_node_id,
    machine_id,
    node_id,
)

IOREG = """+-o J314sAP  <class IOPlatformExpertDevice, id 0x100000202, registered, matched>
    {
      "IOPolicyUnderNoSleep" = No
      "IOPlatformSerialNumber" = "C02XXXXXXXXX"
      "IOPlatformUUID" = "5B1A3C9E-7F2D-4E8A-9B6C-1D2E3F4A5B6C"
      "model" = <"MacBookPro18,3">
    }
"""
GUID = "8f2c1e4a-6b3d-4c5e-9a7f-0e1d2c3b4a59"


@pytest.fixture
def outside_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on a plain machine, whatever the CI runs in."""
    monkeypatch.setattr(node, "detect_container", lambda **_: None)


@pytest.mark.usefixtures("outside_container")
def test_node_id_is_stable_salted_and_hides_the_machine_id(tmp_path: Path) -> None:
    machine = tmp_path / "machine-id"
    machine.write_text("4c4c4544004e3510804bb4c04f333332\n")
    a = node_id("acme-app", linux_files=[machine])
    assert a == node_id(b"acme-app", linux_files=[machine])
    assert a != node_id("other-app", linux_files=[machine])
    assert "4c4c4544" not in a and len(a) == 32
    assert a == hmac.new(b"acme-app", b"4c4c4544004e3510804bb4c04f333332",
                         hashlib.sha256).hexdigest()[:32]
    fallback = tmp_path / "dbus-machine-id"
    fallback.write_text("aa" * 16)
    assert machine_id(linux_files=[tmp_path / "missing", fallback]) == "aa" * 16
    empty = tmp_path / "empty"
    empty.write_text("")
    zeros = tmp_path / "zeros"
    zeros.write_text("0" * 32)
    with pytest.raises(NodeIdUnavailable, match="pass your own node_id"):
        node_id("acme-app", linux_files=[tmp_path / "missing", empty, zeros])


@pytest.mark.parametrize("salt", ["", b""])
def test_empty_salt_is_a_typed_configuration_error(tmp_path: Path, salt: str | bytes) -> None:
    machine = tmp_path / "machine-id"
    machine.write_text("4c4c4544004e3510804bb4c04f333332\n")
    calls: list[Callable[[], str]] = [
        lambda: node_id(salt, linux_files=[machine], allow_container=True),
        lambda: installation_node_id(salt, tmp_path / "installation-id"),
        lambda: derive_node_id(salt, "pod-0")]
    for call in calls:
        with pytest.raises(ConfigurationError, match="salt") as info:
            call()
        assert isinstance(info.value, LicenseTokenError) and info.value.code == "configuration"
    assert not (tmp_path / "installation-id").exists()


# -- macOS -----------------------------------------------------------------------------
def test_macos_reader_takes_the_platform_uuid_from_ioreg() -> None:
    assert node._macos(lambda: IOREG) == "5b1a3c9e-7f2d-4e8a-9b6c-1d2e3f4a5b6c"


@pytest.mark.parametrize("output", [
    "",                                                          # ioreg printed nothing
    IOREG.replace('"IOPlatformUUID"', '"IOPlatformSerial"'),    # no UUID line
    IOREG.replace("5B1A3C9E-7F2D-4E8A-9B6C-1D2E3F4A5B6C", ""),   # empty value
    IOREG.replace("5B1A3C9E-7F2D-4E8A-9B6C-1D2E3F4A5B6C", "not-a-uuid"),
    IOREG.replace("5B1A3C9E-7F2D-4E8A-9B6C-1D2E3F4A5B6C",
                  "00000000-0000-0000-0000-000000000000"),       # a placeholder
    IOREG.replace("5B1A3C9E-7F2D-4E8A-9B6C-1D2E3F4A5B6C",
                  "5B1A3C9E-7F2D-4E8A-9B6C-1D2E3F4A5B6C0"),      # one digit too many
    IOREG + IOREG.replace("5B1A3C9E", "6C2B4DAF"),               # two different machines
    "\x00\xff garbage",
])
def test_macos_reader_refuses_malformed_or_empty_answers(output: str) -> None:
    assert node._macos(lambda: output) is None


@pytest.mark.parametrize("error", [
    FileNotFoundError(2, "No such file", "/usr/sbin/ioreg"),
    subprocess.CalledProcessError(1, ["ioreg"]),
    subprocess.TimeoutExpired(["ioreg"], 5),
])
def test_macos_reader_survives_a_failing_ioreg(error: Exception) -> None:
    def run() -> str:
        raise error

    assert node._macos(run) is None


# -- Windows ---------------------------------------------------------------------------
def test_windows_reader_takes_machine_guid() -> None:
    assert node._windows(lambda: GUID.upper()) == GUID
    assert node._windows(lambda: f" {GUID}\n") == GUID


@pytest.mark.parametrize("value", [
    "", "   ", None, 42, GUID.encode(), "{" + GUID + "}", GUID[:-1], GUID + "0",
    "00000000-0000-0000-0000-000000000000", GUID.replace("-", ""), "zz" + GUID[2:],
])
def test_windows_reader_refuses_malformed_or_empty_values(value: object) -> None:
    assert node._windows(lambda: value) is None


def test_windows_reader_survives_a_missing_key() -> None:
    def query() -> object:
        raise FileNotFoundError(2, "The system cannot find the file specified")

    assert node._windows(query) is None


# -- containers ------------------------------------------------------------------------
@pytest.mark.parametrize(("files", "environ", "expected"), [
    ({".dockerenv": ""}, {}, "/.dockerenv exists"),
    ({"run/.containerenv": ""}, {}, "/run/.containerenv exists"),
    ({}, {"container": "podman"}, "container=podman is set"),
    ({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "KUBERNETES_SERVICE_HOST is set"),
    ({"proc/1/cgroup": "0::/system.slice/docker-3f2a.scope\n"}, {}, "/proc/1/cgroup names docker"),
    ({"proc/1/cgroup": "11:memory:/kubepods/besteffort/pod1\n"}, {},
     "/proc/1/cgroup names kubepods"),
    ({"proc/1/cgroup": "0::/init.scope\n"}, {}, None),
    ({}, {"container": ""}, None),
])
def test_detect_container(tmp_path: Path, files: dict[str, str], environ: dict[str, str],
                          expected: str | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert detect_container(root=tmp_path, environ=environ) == expected


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the container check is Linux's")
def test_node_id_in_a_container_is_refused_not_silently_shared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The containers of one image never share the image's baked-in machine ID."""
    machine = tmp_path / "machine-id"
    machine.write_text("4c4c4544004e3510804bb4c04f333332\n")  # baked into the image
    monkeypatch.setattr(node, "detect_container", lambda **_: "/.dockerenv exists")
    with pytest.raises(ContainerNodeId, match="installation_node_id") as info:
        node_id("acme-app", linux_files=[machine])
    assert info.value.code == "node_id_container"
    assert isinstance(info.value, NodeIdUnavailable)
    # the caller who knows better says so
    assert node_id("acme-app", linux_files=[machine], allow_container=True) == hmac.new(
        b"acme-app", b"4c4c4544004e3510804bb4c04f333332", hashlib.sha256).hexdigest()[:32]
    # a machine ID mounted into the container (the host's) is used
    monkeypatch.setattr(node, "_is_mount_point", lambda path, root: path == machine)
    assert node_id("acme-app", linux_files=[machine]) == node_id(
        "acme-app", linux_files=[machine], allow_container=True)


def test_mount_point_is_read_from_mountinfo(tmp_path: Path) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text(
        "27 1 254:0 / / rw,relatime - overlay overlay rw\n"
        "412 27 254:1 /etc/machine-id /etc/machine-id ro,relatime - ext4 /dev/vda1 rw\n"
        "413 27 254:1 /x /opt/my\\040dir rw - ext4 /dev/vda1 rw\n")
    assert node._is_mount_point(Path("/etc/machine-id"), tmp_path)
    assert node._is_mount_point(Path("/opt/my dir"), tmp_path)
    assert not node._is_mount_point(Path("/var/lib/dbus/machine-id"), tmp_path)
    assert not node._is_mount_point(Path("/etc/machine-id"), tmp_path / "nowhere")


def test_node_id_on_this_machine() -> None:
    try:
        value = node_id("license-token-tests")
    except ContainerNodeId:
        assert detect_container() is not None
    except NodeIdUnavailable:
        assert not any(Path(p).exists() for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"))
    else:
        assert value == node_id("license-token-tests")


# -- installation IDs and orchestrator IDs ----------------------------------------------
def test_installation_id_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "volume" / "installation-id"
    first = installation_node_id("acme-app", path)
    raw = path.read_text().strip()
    assert len(raw) == 32 and int(raw, 16) >= 0
    assert first == hmac.new(b"acme-app", raw.encode(), hashlib.sha256).hexdigest()[:32]
    assert installation_node_id("acme-app", path) == first
    assert installation_node_id("other-app", path) != first
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["installation-id"]  # no temp files
    # what the guide says: a copy of the file is a copy of the binding
    copy = tmp_path / "elsewhere" / "installation-id"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert installation_node_id("acme-app", copy) == first
    # and a new file is a new node
    assert installation_node_id("acme-app", tmp_path / "fresh") != first


@pytest.mark.parametrize("content", [b"", b"hello\n", b"AB" * 16, b"\xff" * 40, b"a" * 33])
def test_a_foreign_installation_file_is_refused_and_left_alone(tmp_path: Path,
                                                               content: bytes) -> None:
    path = tmp_path / "installation-id"
    path.write_bytes(content)
    with pytest.raises(NodeIdUnavailable, match="not an installation ID"):
        installation_node_id("acme-app", path)
    assert path.read_bytes() == content


def test_an_installation_id_that_cannot_be_kept_is_typed(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(NodeIdUnavailable, match="cannot keep the installation ID"):
        installation_node_id("acme-app", blocker / "installation-id")


def test_concurrent_first_runs_agree_on_one_installation_id(tmp_path: Path) -> None:
    path = tmp_path / "installation-id"
    code = ("import sys; from license_token.node import installation_node_id; "
            "print(installation_node_id('acme-app', sys.argv[1]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    results = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert results == {installation_node_id("acme-app", path)}


def test_derive_node_id_from_an_orchestrator_id() -> None:
    a = derive_node_id("acme-app", "web-0")
    assert a == hmac.new(b"acme-app", b"web-0", hashlib.sha256).hexdigest()[:32]
    assert derive_node_id("acme-app", " web-0\n") == a
    assert derive_node_id("acme-app", "web-1") != a
    for bad in ("", "   "):
        with pytest.raises(ConfigurationError, match="source_id"):
            derive_node_id("acme-app", bad)


_NODE_IN_CHILD = """
import resource, sys
from license_token.node import installation_node_id
from license_token import LicenseTokenError
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # an unbounded read fails fast
try:
    print(installation_node_id("acme-app", sys.argv[1]))
except LicenseTokenError as exc:
    print(exc.code, exc)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_an_installation_file_is_read_bounded_and_never_blocks_on_a_fifo(
        tmp_path: Path) -> None:
    """Before: a FIFO at the path hung node_id(); a huge file was read whole."""
    os.mkfifo(tmp_path / "fifo")
    with (tmp_path / "huge").open("wb") as fh:
        fh.write(b"0" * 32)
        fh.truncate(1 << 31)  # sparse: 2 GiB that must never be read
    (tmp_path / "link").symlink_to(tmp_path / "huge")
    expected = {"fifo": "not a regular file", "huge": "not an installation ID",
                "link": "cannot keep the installation ID"}
    for name, message in expected.items():
        child = subprocess.run([sys.executable, "-c", _NODE_IN_CHILD, str(tmp_path / name)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert child.returncode == 0, child.stderr[-500:]
        assert child.stdout.startswith("node_id_unavailable ") and message in child.stdout, (
            name, child.stdout)
    assert (tmp_path / "fifo").exists() and (tmp_path / "huge").stat().st_size == 1 << 31
