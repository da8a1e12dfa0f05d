"""Fuzz ``Verifier.verify`` on dicts: a valid response with fuzzed fields and values.

The fuzzer picks fields of a real response (signed token kept) and replaces them with
arbitrary JSON-like values, as a hand-edited or foreign-tool response file would hold.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    import _support

    from license_token import LicenseTokenError, TrustStore, Verifier

KEY = _support.pinned_key()
VERIFIER = Verifier(TrustStore.from_file(_support.KEY_FILE), clock=lambda: _support.NOW)
RESPONSES = [json.loads(seed) for seed in _support.vector_inputs() if seed.lstrip()[:1] == b"{"]
FIELDS = ["LicenseArn", "NodeId", "IssuedAt", "Expiration", "EntitlementsAllowed",
          "CheckoutMetadata", "LicenseConsumptionToken", "SignedToken", "ResponseMetadata",
          "Other"]


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(8)
    if kind == 3:
        return fdp.ConsumeRegularFloat()
    if kind in (4, 5):
        return fdp.ConsumeUnicodeNoSurrogates(40) if kind == 4 else fdp.ConsumeUnicode(40)
    if kind == 6:
        return fdp.ConsumeBytes(20)
    if kind in (7, 8):
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {fdp.ConsumeUnicode(8): _value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 3))}


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    response: dict[str, Any] = dict(RESPONSES[fdp.ConsumeIntInRange(0, len(RESPONSES) - 1)])
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        field = FIELDS[fdp.ConsumeIntInRange(0, len(FIELDS) - 1)]
        if fdp.ConsumeBool():
            response.pop(field, None)
        else:
            response[field] = _value(fdp)
    try:
        lic = VERIFIER.verify(response)
    except LicenseTokenError:
        return
    if lic.token != response.get("SignedToken") or not _support.reference_accepts(lic.token, KEY):
        raise AssertionError(f"accepted what the reference rejects: {response!r}")
    for field, signed in (("LicenseArn", lic.license_arn), ("NodeId", lic.node_id)):
        if field in response and response[field] != signed:
            raise AssertionError(f"unsigned {field} differs from the signed claim: {response!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
