"""Properties: no mutation of a valid token is accepted; no input escapes as a foreign error."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from license_token import LicenseClaims, LicenseTokenError, TrustStore, Verifier
from license_token._clock import format_time, parse_time
from license_token.testing import DEFAULT_ARN, TokenFactory

FACTORY = TokenFactory()
VERIFIER = Verifier(FACTORY.trust_store())
TOKEN = FACTORY.token()
RESPONSE = FACTORY.response()
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\x00é"
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _rejected(source: Any) -> LicenseTokenError:
    with pytest.raises(LicenseTokenError) as info:
        VERIFIER.verify(source)
    return info.value


def test_the_unmutated_token_verifies() -> None:
    assert VERIFIER.verify(TOKEN).claims.license_arn == DEFAULT_ARN
    assert VERIFIER.verify(RESPONSE).claims.license_arn == DEFAULT_ARN


@SETTINGS
@given(st.integers(min_value=0, max_value=len(TOKEN) - 1), st.sampled_from(ALPHABET))
def test_every_single_character_change_is_rejected(index: int, char: str) -> None:
    mutated = TOKEN[:index] + char + TOKEN[index + 1:]
    if mutated.strip() != TOKEN:  # trimming whitespace at the ends of a bare token is allowed
        _rejected(mutated)


@SETTINGS
@given(st.integers(min_value=0, max_value=len(TOKEN)), st.sampled_from(ALPHABET))
def test_every_single_character_insertion_or_deletion_is_rejected(index: int, char: str) -> None:
    inserted = TOKEN[:index] + char + TOKEN[index:]
    if inserted.strip() != TOKEN:
        _rejected(inserted)
    if index < len(TOKEN):
        _rejected(TOKEN[:index] + TOKEN[index + 1:])


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_our_errors(data: bytes) -> None:
    _rejected(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(
    ["licenseArn", "issuedAt", "expiration", "entitlementsAllowed", "nodeId",
     "checkoutMetadata", "licenseConsumptionToken", "other"]), _json_values))
def test_arbitrary_signed_payloads_raise_only_our_errors(payload: dict[str, Any]) -> None:
    token = FACTORY.encode({"alg": "PS384"}, payload)
    try:
        VERIFIER.verify(token)
    except LicenseTokenError as exc:
        assert exc.code in {"malformed", "expired", "not_yet_valid"}  # noqa: PT017


@SETTINGS
@given(st.dictionaries(st.sampled_from(
    ["SignedToken", "LicenseArn", "NodeId", "IssuedAt", "Expiration", "EntitlementsAllowed",
     "CheckoutMetadata", "LicenseConsumptionToken"]), _json_values))
def test_arbitrary_unsigned_fields_raise_only_our_errors(fields: dict[str, Any]) -> None:
    source = RESPONSE | fields
    try:
        VERIFIER.verify(source)
        VERIFIER.verify(json.dumps(source))
    except LicenseTokenError as exc:
        assert exc.code in {"malformed", "response_mismatch", "bad_signature"}  # noqa: PT017


_names = st.text(min_size=1, max_size=12)
_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1),
                      timezones=st.just(timezone.utc))


@SETTINGS
@given(_times, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
       st.lists(st.tuples(_names, st.sampled_from(["Count", "None", "Seconds"]),
                          st.text(max_size=8)), max_size=4),
       st.dictionaries(_names, st.text(max_size=8), max_size=3),
       st.dictionaries(st.text(min_size=1, max_size=8).map(lambda s: "x" + s), _json_values,
                       max_size=3))
def test_claims_round_trip(issued: datetime, ttl: timedelta, entitlements: list[Any],
                           metadata: dict[str, str], extra: dict[str, Any]) -> None:
    payload = extra | {
        "licenseArn": "arn:x", "issuedAt": format_time(issued),
        "expiration": format_time(issued + ttl),
        "entitlementsAllowed": [{"name": n, "unit": u, "value": v} for n, u, v in entitlements],
        "checkoutMetadata": metadata,
    }
    claims = LicenseClaims._from_payload(payload)
    assert claims.issued_at == issued
    assert claims.expiration == issued + ttl
    again = LicenseClaims._from_payload(json.loads(json.dumps(claims.to_json())))
    assert again == claims


@SETTINGS
@given(_times)
def test_time_format_round_trip(moment: datetime) -> None:
    assert parse_time(format_time(moment), "t") == moment


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_key_material_is_rejected_cleanly(data: bytes) -> None:
    with pytest.raises(LicenseTokenError) as info:
        TrustStore.from_bytes(data)
    assert info.value.code == "key_rejected"


def test_exhaustively_every_single_character_substitution_is_rejected() -> None:
    """Every position of a token, every base64url character plus '.', '=': ~60,000 tokens."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    token = FACTORY.token()
    rejected: dict[str, int] = {}
    for index, original in enumerate(token):
        for char in alphabet:
            if char == original:
                continue
            try:
                VERIFIER.verify(token[:index] + char + token[index + 1:])
            except LicenseTokenError as exc:
                rejected[exc.code] = rejected.get(exc.code, 0) + 1
            else:
                pytest.fail(f"accepted a token changed at {index}: {original!r} -> {char!r}")
    assert sum(rejected.values()) == len(token) * (len(alphabet) - 1)
    assert set(rejected) <= {"malformed", "bad_signature", "unsupported_algorithm"}
