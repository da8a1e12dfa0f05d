"""Guards of ``_jws.decode_unverified`` (what ``license-token inspect`` shows), in process so
that mutation testing sees them: it is as bounded and strict as ``parse_compact`` with the
same errors, and returns the refusal ``parse_compact`` would raise instead of raising it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from license_token import LicenseTokenError, Malformed
from license_token._jws import MAX_TOKEN_LENGTH, decode_unverified, parse_compact
from license_token.testing import TokenFactory
from license_token.testing._factory import b64u

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
