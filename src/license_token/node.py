"""A stable, per-machine node identifier that never reveals the raw machine ID."""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ._errors import LicenseTokenError

__all__ = ["LINUX_MACHINE_ID_FILES", "NodeIdUnavailable", "machine_id", "node_id"]

LINUX_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
_UUID_LINE = re.compile(r'"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]+)"')


class NodeIdUnavailable(LicenseTokenError):
    """No machine identifier can be read here; pass your own ``node_id`` instead."""

    code = "node_id_unavailable"


def _from_files(paths: Sequence[Path]) -> str | None:
    for path in paths:
        try:
            value = path.read_text(encoding="ascii", errors="strict").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if re.fullmatch(r"[0-9a-fA-F-]{16,64}", value) and set(value) - {"0", "-"}:
            return value.lower()
    return None


def _macos() -> str | None:
    try:
        out = subprocess.run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _UUID_LINE.search(out)
    return match.group(1).lower() if match else None


def _windows() -> str | None:  # pragma: no cover - exercised on Windows only
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined]
                            r"SOFTWARE\Microsoft\Cryptography", 0,
                            winreg.KEY_READ | winreg.KEY_WOW64_64KEY) as key:  # type: ignore[attr-defined]
            value, _ = winreg.QueryValueEx(key, "MachineGuid")  # type: ignore[attr-defined]
    except OSError:
        return None
    return str(value).lower() if value else None


def machine_id(*, linux_files: Sequence[Path] = LINUX_MACHINE_ID_FILES) -> str:
    """The raw machine ID (keep it on the machine; send :func:`node_id` instead)."""
    if sys.platform == "darwin":
        found = _macos()
    elif sys.platform == "win32":
        found = _windows()
    else:
        found = _from_files(linux_files)
    if found is None:
        tried = {"darwin": "IOPlatformUUID (ioreg)", "win32": "MachineGuid (registry)"}.get(
            sys.platform, ", ".join(map(str, linux_files)))
        raise NodeIdUnavailable(f"no machine ID could be read from {tried}; "
                                "pass your own node_id")
    return found


def node_id(app_salt: str | bytes, *,
            linux_files: Sequence[Path] = LINUX_MACHINE_ID_FILES) -> str:
    """HMAC-SHA256 of the machine ID keyed with an app-specific salt: stable, not reversible."""
    salt = app_salt.encode() if isinstance(app_salt, str) else app_salt
    if not salt:
        raise ValueError("app_salt must not be empty: use a constant unique to your app")
    raw = machine_id(linux_files=linux_files)
    return hmac.new(salt, raw.encode(), hashlib.sha256).hexdigest()[:32]

