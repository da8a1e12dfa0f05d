"""The response reader's guards: byte bounds, and entitlement shortcuts a decoy cannot fool.

The unsigned ``EntitlementsAllowed`` is compared with the signed claims twice over: a
shortcut for the usual response (the same members, in order) and the full comparison. A
response whose real members disagree must be refused however a decoy member is spelled, so
a shortcut that read a member under another spelling (``NAME``, ``name``, ``XXNameXX``: what
a mutation tool makes of the key) would be caught here.
"""

from __future__ import annotations

from typing import Any

import pytest

from license_token import LicenseTokenError, Malformed, ResponseMismatch, Verifier
from license_token._response import MAX_RESPONSE_LENGTH
from license_token.testing import TokenFactory

SIGNED = {"name": "Users", "unit": "Count", "value": "10"}
WRONG = {"Name": "Admins", "Unit": "Seconds", "Value": "99"}


def _spellings(key: str) -> list[str]:
    return [key.upper(), key.lower(), f"XX{key}XX", key.swapcase()]


@pytest.fixture(scope="module")
def verifier(factory: TokenFactory) -> Verifier:
    return Verifier(factory.trust_store())


@pytest.mark.parametrize("key", ["Name", "Unit", "Value"])
@pytest.mark.parametrize("spelling", range(4))
def test_a_decoy_member_spelled_otherwise_never_stands_in_for_the_real_one(
        factory: TokenFactory, verifier: Verifier, key: str, spelling: int) -> None:
    real = {"Name": "Users", "Unit": "Count", "Value": "10"}
    decoy = _spellings(key)[spelling]
    entry = real | {key: WRONG[key], decoy: real[key]}  # the real member is wrong
    response = factory.response(entitlementsAllowed=[SIGNED],
                                tamper={"EntitlementsAllowed": [entry]})
    with pytest.raises(ResponseMismatch, match="EntitlementsAllowed"):
        verifier.verify(response)


def test_the_issue_s_decoy_is_refused(factory: TokenFactory, verifier: Verifier) -> None:
    response = factory.response(entitlementsAllowed=[SIGNED], tamper={"EntitlementsAllowed": [
        {"Name": "Admins", "NAME": "Users", "Unit": "Count", "Value": "10"}]})
    with pytest.raises(ResponseMismatch):
        verifier.verify(response)


@pytest.mark.parametrize("decoys", [
    {"NAME": "Users", "UNIT": "Count", "VALUE": "10"},
    {"name": "Users", "unit": "Count", "value": "10"},
])
def test_a_decoy_set_beside_wrong_members_is_refused_in_every_position(
        factory: TokenFactory, verifier: Verifier, decoys: dict[str, str]) -> None:
    signed = [SIGNED, {"name": "Admin", "unit": "None"}]
    unsigned: list[dict[str, Any]] = [{"Name": "Users", "Unit": "Count", "Value": "10"},
                                      {"Name": "Admin", "Unit": "None"}]
    for position in range(2):
        entries = [dict(e) for e in unsigned]
        entries[position] = dict(WRONG) | decoys | (
            {} if position == 0 else {"NAME": "Admin", "UNIT": "None"})
        response = factory.response(entitlementsAllowed=signed,
                                    tamper={"EntitlementsAllowed": entries})
        with pytest.raises(ResponseMismatch):
            verifier.verify(response)


def test_bytes_are_bounded_in_bytes_not_characters(
        factory: TokenFactory, verifier: Verifier) -> None:
    """Two-byte characters: fewer characters than the bound, more bytes than it."""
    import json

    response = factory.response()
    response.pop("ResponseMetadata")
    text = json.dumps(response | {"Padding": "é" * 140_000}, ensure_ascii=False)
    data = text.encode()
    assert len(text) < MAX_RESPONSE_LENGTH < len(data)  # the case that tells them apart
    verifier.verify(text)  # as text it is within the bound (unknown fields are kept)
    with pytest.raises(Malformed, match=f"input larger than {MAX_RESPONSE_LENGTH} bytes"):
        verifier.verify(data)


def test_text_is_bounded_in_characters(factory: TokenFactory, verifier: Verifier) -> None:
    text = '{"SignedToken": "' + factory.token() + '", "P": "' + "a" * MAX_RESPONSE_LENGTH + '"}'
    with pytest.raises(LicenseTokenError, match=f"longer than {MAX_RESPONSE_LENGTH} characters"):
        verifier.verify(text)
