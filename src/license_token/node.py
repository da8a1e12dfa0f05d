"""A stable, per-machine node identifier that never reveals the raw machine ID.

Sources: Linux ``/etc/machine-id`` (or the D-Bus copy), macOS ``IOPlatformUUID``
(``ioreg``), Windows ``MachineGuid`` (registry). In a container the machine ID is
usually absent or baked into the image, so every container of that image would share
one ID: ``node_id()`` refuses it there (``ContainerNodeId``) unless the file is
mounted into the container from outside. Containers use ``installation_node_id()``
(an ID generated once and kept where the vendor says, e.g. a volume) or
``derive_node_id()`` (an ID the orchestrator provides) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ._errors import ConfigurationError, ContainerNodeId, NodeIdUnavailable
from ._files import NotRegularFile, fsync_directory, read_regular

__all__ = [
    "LINUX_MACHINE_ID_FILES",
    "ContainerNodeId",
    "NodeIdUnavailable",
    "derive_node_id",
    "detect_container",
    "installation_node_id",
    "machine_id",
    "node_id",
]

LINUX_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
"""Where ``node_id`` reads the machine ID on Linux, in order."""
_UUID_LINE = re.compile(r'"IOPlatformUUID"\s*=\s*"([^"\n]*)"')
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)
_MACHINE_ID = re.compile(r"[0-9a-fA-F-]{16,64}", re.ASCII)
_INSTALLATION_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_MAX_INSTALLATION_FILE = 256  # bytes read of an installation file, at most
_CGROUP_MARKERS = ("docker", "kubepods", "containerd", "libpod", "lxc", "crio", "garden")


def _valid(value: object) -> str | None:
    """A machine ID in canonical (lower-case) form, or ``None`` for a malformed or empty one."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if _MACHINE_ID.fullmatch(value) is None or not set(value) - {"0", "-"}:
        return None
    return value.lower()


def _from_files(paths: Sequence[Path]) -> str | None:
    for path in paths:
        try:
            value = path.read_text(encoding="ascii", errors="strict")
        except (OSError, UnicodeDecodeError):
            continue
        found = _valid(value)
        if found is not None:
            return found
    return None


def _run_ioreg() -> str:  # pragma: no cover - needs macOS; the parsing is tested
    return subprocess.run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
                          capture_output=True, text=True, timeout=5, check=True).stdout


def _macos(run_ioreg: Callable[[], str] = _run_ioreg) -> str | None:
    """``IOPlatformUUID`` from ``ioreg`` output: exactly one well-formed UUID, else ``None``."""
    try:
        out = run_ioreg()
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    found = {m.group(1) for m in _UUID_LINE.finditer(out)}
    if len(found) != 1:
        return None
    value = found.pop()
    return _valid(value) if _UUID.fullmatch(value) else None


def _query_machine_guid() -> object:  # pragma: no cover - needs Windows; the check is tested
    import winreg

    with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined]
                        r"SOFTWARE\Microsoft\Cryptography", 0,
                        winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as key:  # type: ignore[attr-defined]
        value, _ = winreg.QueryValueEx(key, "MachineGuid")  # type: ignore[attr-defined]
    return value


def _windows(query: Callable[[], object] = _query_machine_guid) -> str | None:
    """``MachineGuid`` from the registry: a well-formed UUID string, else ``None``."""
    try:
        value = query()
    except OSError:
        return None
    if not isinstance(value, str) or _UUID.fullmatch(value.strip()) is None:
        return None
    return _valid(value)


def detect_container(*, root: Path = Path("/"),
                     environ: Mapping[str, str] | None = None) -> str | None:
    """Evidence that this process runs in a container, or ``None``.

    Looks for ``/.dockerenv``, ``/run/.containerenv`` (Podman), the ``container``
    environment variable (systemd-nspawn, Podman, LXC), Kubernetes' service variables,
    and container runtimes named in ``/proc/1/cgroup``.

    Args:
        root: The file-system root to look under (for tests).
        environ: The environment; ``os.environ`` by default.

    Returns:
        A short description of what was found, or ``None``.
    """
    env = os.environ if environ is None else environ
    for marker in (".dockerenv", "run/.containerenv"):
        if (root / marker).exists():
            return f"/{marker} exists"
    if env.get("container"):
        return f"container={env['container']} is set"
    if env.get("KUBERNETES_SERVICE_HOST"):
        return "KUBERNETES_SERVICE_HOST is set"
    try:
        cgroup = (root / "proc/1/cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for marker in _CGROUP_MARKERS:
        if marker in cgroup:
            return f"/proc/1/cgroup names {marker}"
    return None


def _is_mount_point(path: Path, root: Path) -> bool:
    """Whether ``path`` is a mount of its own (bind-mounted into the container)."""
    try:
        lines = (root / "proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    # fields: id parent major:minor root mount-point options ...; spaces are escaped as \040
    return any(len(fields) > 4 and fields[4].replace("\\040", " ") == str(path)
               for fields in (line.split() for line in lines.splitlines()))


def machine_id(*, linux_files: Sequence[Path] = LINUX_MACHINE_ID_FILES) -> str:
    """The raw machine ID (keep it on the machine; send ``node_id()`` instead).

    Args:
        linux_files: Where to look on Linux, in order.

    Returns:
        The lower-case machine ID.

    Raises:
        NodeIdUnavailable: None can be read, or what was read is malformed or empty.
    """
    if sys.platform == "darwin":  # pragma: no cover - platform dispatch
        found = _macos()
    elif sys.platform == "win32":  # pragma: no cover - platform dispatch
        found = _windows()
    else:
        found = _from_files(linux_files)
    if found is None:
        tried = {"darwin": "IOPlatformUUID (ioreg)", "win32": "MachineGuid (registry)"}.get(
            sys.platform, ", ".join(map(str, linux_files)))
        raise NodeIdUnavailable(f"no machine ID could be read from {tried}; "
                                "pass your own node_id")
    return found


def _salt(app_salt: str | bytes) -> bytes:
    if not isinstance(app_salt, (str, bytes)):
        raise ConfigurationError("app_salt must be a string or bytes")
    salt = app_salt.encode() if isinstance(app_salt, str) else app_salt
    if not salt:
        raise ConfigurationError("app_salt must not be empty: use a constant unique to your app")
    return salt


def derive_node_id(app_salt: str | bytes, source_id: str) -> str:
    """The node ID for an identifier you supply, e.g. one your orchestrator provides.

    The binding is exactly as unique and as stable as ``source_id``: a Kubernetes
    StatefulSet pod name survives restarts, a pod UID or ECS task ARN does not.

    Args:
        app_salt: A constant unique to your app.
        source_id: The identifier; never sent anywhere, only its salted HMAC.

    Returns:
        32 hex digits.

    Raises:
        ConfigurationError: The salt or the identifier is empty.
    """
    salt = _salt(app_salt)
    if not isinstance(source_id, str) or not source_id.strip():
        raise ConfigurationError("source_id must be a non-empty string")
    return hmac.new(salt, source_id.strip().encode(), hashlib.sha256).hexdigest()[:32]


def node_id(app_salt: str | bytes, *, linux_files: Sequence[Path] = LINUX_MACHINE_ID_FILES,
            allow_container: bool = False) -> str:
    """HMAC-SHA256 of the machine ID keyed with an app-specific salt: stable, not reversible.

    Args:
        app_salt: A constant unique to your app.
        linux_files: Where to look for the machine ID on Linux.
        allow_container: Use the machine ID even in a container (you made sure it is
            this container's own, or the host's). A machine-ID file mounted into the
            container is used without this.

    Returns:
        32 hex digits.

    Raises:
        ConfigurationError: ``app_salt`` is empty.
        ContainerNodeId: In a container, with a machine ID that an image may share.
        NodeIdUnavailable: No machine ID can be read.
    """
    salt = _salt(app_salt)
    if not allow_container and sys.platform not in ("darwin", "win32"):
        evidence = detect_container()
        if evidence is not None and not any(
                p.exists() and _is_mount_point(p, Path("/")) for p in linux_files):
            raise ContainerNodeId(
                f"running in a container ({evidence}): its machine ID may be shared by every "
                "container of the image; use installation_node_id(salt, path on a volume), "
                "derive_node_id(salt, id from the orchestrator), or mount the host's "
                "/etc/machine-id")
    raw = machine_id(linux_files=linux_files)
    return hmac.new(salt, raw.encode(), hashlib.sha256).hexdigest()[:32]


def installation_node_id(app_salt: str | bytes, path: str | os.PathLike[str]) -> str:
    """A node ID from an installation ID generated once and kept in ``path``.

    The first call creates ``path`` (128 random bits, written durably; concurrent first
    calls agree on one ID); later calls read it. The binding is to the file, not to
    the machine: a copy of the file is a copy of the binding, and a deleted file means
    a new node (and a new seat at the next checkout). Put it where only this
    installation keeps it, e.g. a volume of one container.

    Args:
        app_salt: A constant unique to your app.
        path: Where the installation ID lives.

    Returns:
        32 hex digits.

    Raises:
        ConfigurationError: ``app_salt`` is empty.
        NodeIdUnavailable: The file cannot be read or created, or holds something else
            (it is never overwritten); it is read as the store reads its files: a regular
            file (no symlink, FIFO or device), 256 bytes at most.
    """
    salt = _salt(app_salt)
    target = Path(path)
    try:
        value = _read_installation_id(target)
        if value is None:
            value = _create_installation_id(target)
    except OSError as exc:
        raise NodeIdUnavailable(f"{target}: cannot keep the installation ID: "
                                f"{exc.strerror or exc}") from exc
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()[:32]


def _read_installation_id(path: Path) -> str | None:
    """The ID in ``path``, read as the store reads its files: a bounded read of a regular
    file, never a symlink, never blocking on a FIFO (``None`` when there is no file)."""
    try:
        text = read_regular(path, _MAX_INSTALLATION_FILE)[:_MAX_INSTALLATION_FILE].decode(
            "ascii", "replace").strip()
    except FileNotFoundError:
        return None
    except NotRegularFile:
        raise NodeIdUnavailable(f"{path}: not a regular file (a FIFO, device or directory); "
                                "it is left as it is") from None
    if _INSTALLATION_ID.fullmatch(text) is None:
        raise NodeIdUnavailable(f"{path}: not an installation ID; it is left as it is "
                                "(remove it to start a new binding)")
    return text


def _create_installation_id(path: Path) -> str:
    """Write a new ID to a temporary file, then link it into place unless one is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    value = secrets.token_hex(16)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(value.encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            existing = _read_installation_id(path)
            if existing is None:  # pragma: no cover - removed again in between
                raise
            return existing
        fsync_directory(path.parent)
        return value
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
