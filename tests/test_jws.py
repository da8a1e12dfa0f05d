"""Strict compact JWS: canonical base64url, full-length signatures, typed headers, strict JSON."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW

from license_token import BadSignature, LicenseTokenError, Malformed, Verifier
from license_token._jws import (
    _HEADERS,
    MAX_TOKEN_LENGTH,
    b64url_decode,
    decode_unverified,
    loads_strict,
    parse_compact,
)
from license_token._response import read_response
from license_token.store import LicenseStore
from license_token.testing import TokenFactory
from license_token.testing._factory import b64u

# -- signatures and base64url ------------------------------------------------------------------

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_a_signature_without_its_leading_zero_byte_is_not_a_second_spelling(
        issuer: TokenFactory, verifier: Verifier) -> None:
    """OpenSSL accepts a 255-byte signature whose 256-byte form starts with 0x00."""
    for _ in range(5000):  # about 1 signature in 256 starts with a zero byte
        head, payload, _ = issuer.token().split(".")
        raw = issuer.sign(f"{head}.{payload}".encode())
        if raw[0] == 0:
            break
    else:
        pytest.fail("no signature with a leading zero byte in 5000 tries")
    assert verifier.verify(f"{head}.{payload}.{b64u(raw)}").license_arn == issuer.claims()[
        "licenseArn"]
    with pytest.raises(BadSignature):
        verifier.verify(f"{head}.{payload}.{b64u(raw[1:])}")


def test_rsa_4096_tokens_and_their_non_canonical_signature_spelling() -> None:
    """A 512-byte signature is 683 characters: length % 4 == 3, two unused bits."""
    big = TokenFactory.with_key_size(4096, now=NOW)
    token = big.token()
    signature = token.split(".")[2]
    assert len(signature) % 4 == 3
    verifier = Verifier(big.trust_store(), clock=lambda: NOW)
    assert verifier.verify(token).key.key_size == 4096
    last = _ALPHABET.index(signature[-1])
    for bits in (1, 2, 3):  # same decoded bytes, unused low bits set
        other = token[:-1] + _ALPHABET[last | bits]
        with pytest.raises(Malformed, match="non-canonical"):
            verifier.verify(other)


def test_every_unused_bit_pattern_of_a_2048_bit_signature(
        issuer: TokenFactory, verifier: Verifier) -> None:
    """A 256-byte signature is 342 characters: length % 4 == 2, four unused bits."""
    token = issuer.token()
    signature = token.split(".")[2]
    assert len(signature) % 4 == 2
    last = _ALPHABET.index(signature[-1])
    assert last & 15 == 0
    for bits in range(1, 16):
        with pytest.raises(Malformed, match="non-canonical"):
            verifier.verify(token[:-1] + _ALPHABET[last | bits])


@pytest.mark.parametrize("char", _ALPHABET)
def test_canonical_last_characters_exhaustively(char: str) -> None:
    """With 2 (or 3) characters in the last quantum, 4 (or 2) low bits are unused."""
    index = _ALPHABET.index(char)
    for segment, unused in ((f"AA{char}", 3), (f"A{char}", 15), (f"AAAAA{char}", 15)):
        if index & unused:
            with pytest.raises(Malformed, match="non-canonical"):
                b64url_decode(segment.encode(), "segment")
        else:
            assert b64url_decode(segment.encode(), "segment") == base64.urlsafe_b64decode(
                segment + "=" * (-len(segment) % 4))


def test_an_empty_signature_is_malformed_not_a_bad_signature(
        issuer: TokenFactory, verifier: Verifier) -> None:
    head, payload, _ = issuer.token().split(".")
    with pytest.raises(Malformed, match="signature: empty"):
        verifier.verify(f"{head}.{payload}.")


# -- the header --------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "message"), [
    ({"alg": 384}, "'alg' is not a string"),
    ({"alg": "PS384", "kid": 1}, "'kid' is not a string"),
    ({"alg": "PS384", "typ": ["JWT"]}, "'typ' is not a string"),
    ({"alg": "PS384", "cty": None}, "'cty' is not a string"),
    ({"typ": "JWT"}, "no 'alg'"),
])
def test_header_member_types(issuer: TokenFactory, verifier: Verifier,
                             header: dict[str, object], message: str) -> None:
    with pytest.raises(Malformed, match=message):
        verifier.verify(issuer.encode(header, issuer.claims()))


def test_the_header_cache_is_bounded_and_never_changes_results(
        issuer: TokenFactory, verifier: Verifier) -> None:
    for index in range(80):
        token = issuer.token(header={"kid": f"k{index}"})
        assert verifier.verify(token).header["kid"] == f"k{index}"
        assert parse_compact(token).kid == f"k{index}"
    assert len(_HEADERS) == 64


# -- the token's length ------------------------------------------------------------------------

def test_token_length_bound_is_64_kib(issuer: TokenFactory, verifier: Verifier) -> None:
    with pytest.raises(Malformed, match="longer than 65536"):
        verifier.verify("a" * 65537)
    with pytest.raises(Malformed, match="longer than 65536"):
        parse_compact("a" * 65537)
    with pytest.raises(Malformed, match="3 dot-separated parts"):
        verifier.verify("a" * 65536)


# -- strict JSON: one value, standard constants, finite numbers, bounded digits and depth ------

def _signed(issuer: TokenFactory, payload: bytes) -> str:
    """A validly signed token over exactly these payload bytes."""
    return issuer.encode({"alg": "PS384"}, payload)


@pytest.mark.parametrize("text", ['{"a": 1} x', '{"a": 1}{}', '{{"a": 1}', '{"a": 1}]'])
def test_json_text_is_one_value_and_nothing_after_it(text: str) -> None:
    with pytest.raises(Malformed, match="not valid JSON"):
        loads_strict(text, "t")
    with pytest.raises(Malformed, match="not valid JSON"):
        read_response(text.replace('"a"', '"SignedToken"'))


def test_json_whitespace_around_the_value_is_allowed() -> None:
    assert loads_strict(' \t{"a": 1}\r\n ', "t") == {"a": 1}


def test_nan_and_infinity_in_a_signed_payload(issuer: TokenFactory, verifier: Verifier) -> None:
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        payload = json.dumps(issuer.claims()).encode()[:-1] + b',"x":' + constant + b"}"
        with pytest.raises(Malformed, match="non-standard JSON constant"):
            verifier.verify(issuer.encode({"alg": "PS384"}, payload))


def test_json_number_overflowing_to_infinity_is_malformed(
        issuer: TokenFactory, verifier: Verifier) -> None:
    payload = json.dumps(issuer.claims()).encode()[:-1] + b',"seats":1e400}'
    with pytest.raises(Malformed, match="out of range"):
        verifier.verify(_signed(issuer, payload))
    response = json.dumps(issuer.response()).encode()[:-1] + b',"Extra":-1e400}'
    with pytest.raises(Malformed, match="out of range"):
        verifier.verify(response)


def test_too_many_digits_is_named_in_the_message(
        issuer: TokenFactory, verifier: Verifier) -> None:
    payload = json.dumps(issuer.claims()).encode()[:-1] + b',"n":' + b"9" * 5000 + b"}"
    with pytest.raises(Malformed, match="digits"):
        verifier.verify(_signed(issuer, payload))


def test_a_license_with_many_entitlements_and_nesting_up_to_the_bound(
        issuer: TokenFactory, verifier: Verifier) -> None:
    entitlements = [{"name": f"F{i}", "unit": "None", "value": "Enabled"} for i in range(12)]
    nested: object = "leaf"
    for _ in range(15):  # the payload object plus 15 levels: depth 16, the bound
        nested = [nested]
    claims = issuer.claims(entitlementsAllowed=entitlements, deep=nested)
    lic = verifier.verify(issuer.response(claims))
    assert len(lic.claims.entitlements_allowed) == 12
    with pytest.raises(Malformed, match="nested deeper than 16"):
        verifier.verify(issuer.response(issuer.claims(deep=[nested])))


def test_nesting_of_objects_alone_is_bounded_too(issuer: TokenFactory, verifier: Verifier) -> None:
    nested: object = "leaf"
    for _ in range(15):  # objects only, no brackets: depth 16 with the payload object
        nested = {"a": nested}
    assert verifier.verify(issuer.response(issuer.claims(deep=nested))).claims.extra[
        "deep"] == nested
    with pytest.raises(Malformed, match="nested deeper than 16"):
        verifier.verify(issuer.response(issuer.claims(deep={"a": nested})))


# -- text: surrogate escapes -------------------------------------------------------------------

@pytest.mark.parametrize("escape", [r"\ud800", r"\udfff", r"\ud800\u0041", r"\udc00\ud800"])
def test_lone_surrogate_in_a_signed_claim_is_malformed(
        issuer: TokenFactory, verifier: Verifier, escape: str, tmp_path: Path) -> None:
    claims = issuer.claims(licenseArn="ARN")
    payload = json.dumps(claims).replace('"ARN"', f'"{escape}"').encode()
    with pytest.raises(Malformed, match="surrogate"):
        verifier.verify(_signed(issuer, payload))
    with pytest.raises(Malformed, match="surrogate"):
        LicenseStore(tmp_path).save(_signed(issuer, payload), verifier)


def test_paired_surrogate_escapes_are_text(issuer: TokenFactory, verifier: Verifier) -> None:
    claims = issuer.claims(licenseArn="ARN")
    payload = json.dumps(claims).replace('"ARN"', r'"arn-\ud83d\ude00"').encode()
    assert verifier.verify(_signed(issuer, payload)).license_arn == "arn-\U0001f600"


_HEAD = b64u(b'{"alg":"PS384"}')
_BODY = b64u(b'{"x":1}')


def _error(call: Any, text: str) -> tuple[type[BaseException], str]:
    with pytest.raises(LicenseTokenError) as info:
        call(text)
    return type(info.value), str(info.value)


def _of_length(length: int) -> str:
    """A compact JWS (PS384 header, junk payload, 3-byte signature) exactly ``length`` long."""
    payload_length = length - len(_HEAD) - len(".") - len(".AAAA")
    assert payload_length % 4 != 1
    payload = b64u(b"x" * (payload_length * 3 // 4))
    assert len(payload) == payload_length
    return f"{_HEAD}.{payload}.AAAA"


@pytest.mark.parametrize("text", [
    "a" * (MAX_TOKEN_LENGTH + 1),
    _of_length(MAX_TOKEN_LENGTH + 2),
    f"{_HEAD}.{_BODY}.\u00e9AAA",
    f"{_HEAD}.{_BODY}",
    f"{_HEAD}.{_BODY}.AAAA.AAAA",
    f"A.{_BODY}.AAAA",
    f"{b64u(b'[1]')}.{_BODY}.AAAA",
    f"{b64u(b'{nope')}.{_BODY}.AAAA",
    f"{b64u(b'{}')}=.{_BODY}.AAAA",
    f"{_HEAD}.A.AAAA",
    f"{_HEAD}.AB.AAAA",
    f"{_HEAD}.{_BODY}.A",
    f"{_HEAD}.{_BODY}.AAB",
], ids=["too long", "too long, well formed", "not ASCII", "two parts", "four parts",
        "header length", "header not an object", "header not JSON", "header padded",
        "payload length", "payload unused bits", "signature length", "signature unused bits"])
def test_what_parse_compact_refuses_as_no_jws_decode_unverified_refuses_alike(text: str) -> None:
    """Protects ``_segments``, ``_assemble`` and the header decoding in ``decode_unverified``:
    the same bounds and base64url/JSON rules as ``parse_compact``, with the same errors."""
    expected = _error(parse_compact, text)
    assert expected[0] is Malformed
    assert _error(decode_unverified, text) == expected


def test_a_token_of_exactly_the_bound_is_decoded() -> None:
    """Protects ``_segments``' length bound: ``MAX_TOKEN_LENGTH`` characters are allowed."""
    text = _of_length(MAX_TOKEN_LENGTH)
    assert len(text) == MAX_TOKEN_LENGTH
    jws, refusal = decode_unverified(text)
    assert refusal is None
    assert jws == parse_compact(text)


@pytest.mark.parametrize(("header", "signed"), [
    ({"alg": "PS384", "kid": "k"}, True),
    ({"alg": "PS384"}, False),
    ({"alg": "RS512", "typ": "JWS"}, True),
    ({"alg": "PS384", "crit": ["b64"]}, True),
    ({"alg": "PS384", "kid": 7}, True),
    ({"typ": "JWT"}, False),
])
def test_decode_unverified_decodes_every_part_and_returns_the_refusal(
        factory: TokenFactory, header: dict[str, Any], signed: bool) -> None:
    """Protects ``decode_unverified``'s result: the header (read-only), payload, signing input
    and signature ``parse_compact`` decodes, and beside them exactly the error ``parse_compact``
    raises (``None`` for a token it accepts)."""
    token = factory.encode(header, {"x": 1}, alg="PS384")
    if not signed:
        token = token.rpartition(".")[0] + "."
    jws, refusal = decode_unverified(token)
    assert dict(jws.header) == header
    with pytest.raises(TypeError):
        jws.header["alg"] = "none"  # type: ignore[index]
    assert json.loads(jws.payload) == {"x": 1}
    assert jws.signing_input == token.rpartition(".")[0].encode()
    assert (jws.signature != b"") is signed
    if refusal is None:
        assert jws == parse_compact(token)
    else:
        assert _error(parse_compact, token) == (type(refusal), str(refusal))
