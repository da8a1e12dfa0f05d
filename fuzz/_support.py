"""Shared by the atheris harnesses: the pinned key, seeds from ``vectors/``, the invariants.

The invariant of every harness: only the library's own exceptions (``LicenseTokenError``)
escape, and nothing is accepted that :func:`reference_accepts` (a straightforward,
independent reading of the rules with the standard library and ``cryptography``) rejects.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"
KEY_FILE = VECTORS / "keys" / "a2048.pem"
#: The instant of most vectors (``vectors/valid.json``).
NOW = datetime(2026, 3, 15, 12, tzinfo=timezone.utc)
LEEWAY = timedelta(seconds=60)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def vector_inputs() -> list[bytes]:
    """Every token and response of the project's vectors, as bytes."""
    seeds = []
    for name in ("valid.json", "rejected.json", "published.json"):
        for case in json.loads((VECTORS / name).read_text())["cases"]:
            item = case["input"]
            seeds.append(item.encode() if isinstance(item, str) else json.dumps(item).encode())
    return seeds


def key_inputs() -> list[bytes]:
    """Every key file of ``vectors/keys``."""
    return [path.read_bytes() for path in sorted((VECTORS / "keys").iterdir())]


def write_corpus(directory: Path, seeds: list[bytes]) -> None:
    """Seed ``directory`` (created if needed) with ``seeds``, one file each."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds):
        (directory / f"seed-{index:03d}").write_bytes(seed)


def pinned_key() -> RSAPublicKey:
    key = serialization.load_pem_public_key(KEY_FILE.read_bytes())
    if not isinstance(key, RSAPublicKey):
        raise TypeError(f"{KEY_FILE} is not an RSA public key")
    return key


def _b64url(segment: str) -> bytes:
    if _B64URL.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise ValueError("not canonical")
    return raw


def _instant(text: object) -> datetime:
    if not isinstance(text, str) or not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)?", text, re.ASCII):
        raise ValueError("not a date-time")
    moment = datetime.fromisoformat(text)  # Python 3.11+: Z and any fraction
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def reference_accepts(token: str, key: RSAPublicKey, now: datetime = NOW,
                      leeway: timedelta = LEEWAY) -> bool:
    """Whether a plain reading of the rules accepts ``token`` (no policy pins)."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url(header_b64))
        payload = json.loads(_b64url(payload_b64))
        signature = _b64url(signature_b64)
        if not isinstance(header, dict) or header.get("alg") != "PS384" or "crit" in header:
            return False
        if len(signature) != key.key_size // 8:
            return False
        key.verify(signature, f"{header_b64}.{payload_b64}".encode(), _PSS, hashes.SHA384())
        if not isinstance(payload, dict) or not isinstance(payload.get("licenseArn"), str):
            return False
        issued, expiration = _instant(payload["issuedAt"]), _instant(payload["expiration"])
        return issued <= expiration and issued - leeway <= now < expiration + leeway
    except (ValueError, KeyError, InvalidSignature, binascii.Error, OverflowError,
            RecursionError, UnicodeError):
        return False


def signed_token_of(source: Any) -> str | None:
    """The token a response carries, read plainly (``None`` when there is none)."""
    if isinstance(source, bytes):
        for encoding in ("utf-8-sig", "utf-16"):
            try:
                source = source.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            return None
    if isinstance(source, str):
        text = source.strip(" \t\r\n").lstrip("\ufeff").strip(" \t\r\n")
        if not text.startswith("{"):
            return text
        try:
            source = json.loads(text)
        except (ValueError, RecursionError):
            return None
    token = source.get("SignedToken") if isinstance(source, dict) else None
    return token if isinstance(token, str) else None


def store_inputs() -> list[bytes]:
    """Stored-checkout files around every response of the vectors, plus clock marks."""
    entries = []
    for seed in vector_inputs():
        try:
            response = json.loads(seed)
        except ValueError:
            response = {"SignedToken": seed.decode()}
        entries.append(json.dumps({
            "format": "license-token/checkout", "version": 1,
            "license_arn": response.get("LicenseArn", "arn"), "saved_at": "2026-03-15T11:00:00Z",
            "response": response}, indent=2).encode())
    entries.append(b'{"format": "license-token/clock", "version": 1, '
                   b'"high_water": "2026-03-15T11:00:00Z"}')
    return entries
