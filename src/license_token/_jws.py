"""Strict compact JWS: bounded, canonical base64url, strict JSON, PS384 only.

No I/O: a token in, a parsed ``CompactJWS`` out, or a
``Malformed`` / ``UnsupportedAlgorithm``. The only
state is a small, bounded cache of validated headers (immutable data).
Header members that name a key (``jwk``, ``jku``, ``x5u``, ``x5c``) are never read:
keys come only from the caller's ``TrustStore``.

Fast paths, each beside its full check; ``tests/test_fast_paths.py`` holds each pair equal:

- ``b64url_decode``: the alphabet checked by one ``translate``, then a non-strict
  ``a2b_base64``, for a strict decode (``test_base64url_decode_agrees_with_the_reference``).
- ``_decode``: the decoder's own scanner from index 0, for ``JSONDecoder.decode`` when no
  whitespace surrounds the value (``test_scanning_directly_agrees_with_decode``).
- ``loads_strict``: byte prefilters (a backslash at all; more brackets than the depth bound)
  before the lone-surrogate and depth walks
  (``test_the_one_pass_prefilter_agrees_with_the_full_checks``).
- ``_HEADERS``: a header seen before is not parsed again, for ``_parse_header``
  (``test_the_header_cache_agrees_with_parsing_afresh``,
  ``test_a_full_header_cache_changes_no_result``).
"""

from __future__ import annotations

import binascii
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._errors import Malformed, UnsupportedAlgorithm

__all__ = [
    "ALGORITHM",
    "MAX_JSON_DEPTH",
    "MAX_TOKEN_LENGTH",
    "CompactJWS",
    "b64url_decode",
    "decode_unverified",
    "loads_strict",
    "parse_compact",
    "signature_length",
    "verify_ps384",
]

ALGORITHM = "PS384"
MAX_TOKEN_LENGTH = 64 * 1024
"""Largest token accepted, checked before anything is decoded (64 KiB)."""
MAX_JSON_DEPTH = 16
"""Deepest nesting of JSON arrays/objects accepted in a header, payload or response."""

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TO_STANDARD = bytes.maketrans(_B64URL + bytes(sorted(set(range(256)) - set(_B64URL))),
                               _STANDARD + b"!" * (256 - len(_B64URL)))
"""base64url to the standard alphabet; every other byte (``+``, ``/``, ``=`` too) to ``!``."""
_MARK = ord("!")
# The last character of a segment whose length % 4 is 2 or 3 may only carry zero low bits.
_ZERO_TAIL_2 = frozenset(b"AQgw")  # 4 low bits zero
_ZERO_TAIL_3 = frozenset(b"AEIMQUYcgkosw048")  # 2 low bits zero
_PADDING = (b"", b"", b"==", b"=")
_PSS_384 = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_SHA384 = hashes.SHA384()
_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__


class CompactJWS(NamedTuple):
    """A parsed (not yet verified) compact JWS (a tuple: cheap on the hot path)."""

    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def b64url_decode(segment: bytes, what: str) -> bytes:
    """Decode canonical unpadded base64url: one value, one spelling."""
    rest = len(segment) % 4
    if rest == 1:
        raise Malformed(f"{what}: impossible base64url length")
    if (rest == 2 and segment[-1] not in _ZERO_TAIL_2) or (
        rest == 3 and segment[-1] not in _ZERO_TAIL_3
    ):
        raise Malformed(f"{what}: non-canonical base64url (unused bits set)")
    standard = segment.translate(_TO_STANDARD)  # base64url to standard, any other byte to "!"
    if _MARK in standard:  # an int: a memchr (``b"!" in`` first fails an int conversion)
        raise Malformed(f"{what}: characters outside unpadded base64url")
    # Only alphabet characters and the padding added here: nothing that a non-strict
    # decode would skip or that strict mode would refuse (and non-strict is faster).
    return binascii.a2b_base64(standard + _PADDING[rest])


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        dup = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise Malformed(f"duplicate JSON member {dup!r}")
    return obj


def _reject_constant(name: str) -> Any:
    raise Malformed(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise Malformed(f"JSON number {text[:40]} is out of range")
    return value


_INF = float("inf")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""``\uD800``-``\uDFFF`` escapes: the only way a lone surrogate gets into decoded JSON text."""
_BACKSLASH = ord("\\")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string (key or value) holds a surrogate not paired into a character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _depth_exceeds(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether ``value`` (a dict or list) nests dicts and lists deeper than ``limit``."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_object, parse_constant=_reject_constant,
                            parse_float=_finite_float)
_scan_value: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
"""The decoder's own scanner (C): ``decode`` without the whitespace regexes around the value."""


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)``, without its whitespace handling when there is none.

    A scan from index 0 that ends at the end of ``text`` is what ``decode`` does for text
    without surrounding whitespace; any other text takes ``decode`` itself, so its errors
    and messages are the ones ``decode`` gives.
    """
    try:
        value, end = _scan_value(text, 0)
    except StopIteration:  # nothing at index 0: leading whitespace, or no value at all
        return _DECODER.decode(text)
    return value if end == len(text) else _DECODER.decode(text)


def loads_strict(data: bytes | str, what: str) -> dict[str, Any]:
    """Parse a UTF-8 JSON *object* (I-JSON, RFC 7493): no duplicate members, no NaN or
    infinity, no lone surrogate, bounded depth."""
    try:
        if isinstance(data, bytes):
            raw, text = data, data.decode("utf-8")
        else:  # a str may hold raw surrogates, which no UTF-8 text can: encode refuses them
            raw, text = data.encode("utf-8"), data
        value = _decode(text)
    except Malformed as exc:
        raise Malformed(f"{what}: {exc}") from None
    except UnicodeError as exc:
        raise Malformed(f"{what}: not valid UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise Malformed(f"{what}: not valid JSON ({exc.msg})") from exc
    except ValueError as exc:  # int() of more digits than sys.get_int_max_str_digits()
        raise Malformed(f"{what}: a JSON number has too many digits") from exc
    except RecursionError as exc:
        raise Malformed(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH}") from exc
    if not isinstance(value, dict):
        raise Malformed(f"{what}: not a JSON object")
    # Prefilters on the UTF-8 bytes (no other character hides an ASCII byte): every escape
    # starts with a backslash (an int, so ``in`` is one memchr), and the depth can exceed
    # the bound only if there are more brackets than the bound.
    if _BACKSLASH in raw and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise Malformed(f"{what}: a JSON string holds a lone surrogate")
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _depth_exceeds(
            value, MAX_JSON_DEPTH):
        raise Malformed(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH}")
    return value


def _check_header(header: dict[str, Any]) -> None:
    alg = header.get("alg")
    if alg is None:
        raise Malformed("header: no 'alg'")
    if not isinstance(alg, str):
        raise Malformed("header: 'alg' is not a string")
    if alg != ALGORITHM:
        raise UnsupportedAlgorithm(f"algorithm {alg[:40]!r} is not allowed, only {ALGORITHM}")
    if "crit" in header:
        raise Malformed("header: 'crit' extensions are not supported")
    for member in ("kid", "typ", "cty"):
        if member in header and not isinstance(header[member], str):
            raise Malformed(f"header: {member!r} is not a string")


_HEADERS: dict[bytes, Mapping[str, Any]] = {}
"""Validated headers by their encoded form: issuers send the same few headers, and a header is
immutable data, so parsing each distinct one once is safe. Bounded."""
_MAX_CACHED_HEADERS = 64


def _parse_header(header_b64: bytes) -> Mapping[str, Any]:
    header = loads_strict(b64url_decode(header_b64, "header"), "header")
    _check_header(header)
    frozen = MappingProxyType(header)
    if len(_HEADERS) < _MAX_CACHED_HEADERS:
        _HEADERS[header_b64] = frozen
    return frozen


def _segments(text: str) -> tuple[bytes, list[bytes]]:
    """The token as ASCII bytes and its three dot-separated segments, bounded first."""
    if len(text) > MAX_TOKEN_LENGTH:
        raise Malformed(f"token longer than {MAX_TOKEN_LENGTH} characters")
    try:
        token = text.encode("ascii")
    except UnicodeEncodeError:
        raise Malformed("token: characters outside unpadded base64url") from None
    parts = token.split(b".")
    if len(parts) != 3:
        raise Malformed(f"compact JWS needs 3 dot-separated parts, got {len(parts)}")
    return token, parts


def _assemble(header: Mapping[str, Any], token: bytes, parts: list[bytes]) -> CompactJWS:
    """The JWS around an already decoded ``header``: payload and signature (maybe empty)."""
    _, payload_b64, signature_b64 = parts
    payload = b64url_decode(payload_b64, "payload")
    signature = b64url_decode(signature_b64, "signature")
    return _new_tuple(CompactJWS, (header, payload,
                                   token[: len(parts[0]) + 1 + len(payload_b64)], signature))


def parse_compact(text: str) -> CompactJWS:
    """Split, bound and decode a compact JWS; check the header; verify nothing yet."""
    token, parts = _segments(text)
    header = _HEADERS.get(parts[0])  # the cache: a header seen before is not parsed again
    if header is None:
        header = _parse_header(parts[0])
    jws = _assemble(header, token, parts)
    if not jws.signature:
        raise Malformed("signature: empty")
    return jws


def decode_unverified(text: str) -> tuple[CompactJWS, Malformed | UnsupportedAlgorithm | None]:
    """Decode any compact JWS, whatever its algorithm, for a person to look at (``inspect``).

    As bounded and strict as ``parse_compact()`` (length, base64url, I-JSON header), but
    neither the header's members nor an empty signature (an unsecured JWS) are held against
    the token: the refusal ``parse_compact()`` would raise is returned beside it instead.
    Nothing is verified, and nothing decoded here may decide anything.

    Args:
        text: the compact JWS.

    Returns:
        The decoded JWS, and why verifying it would be refused at its header (``None``: the
        header is one this library verifies).

    Raises:
        Malformed: not a compact JWS at all (length, segments, base64url, header JSON).
    """
    token, parts = _segments(text)
    header = loads_strict(b64url_decode(parts[0], "header"), "header")
    jws = _assemble(MappingProxyType(header), token, parts)
    try:
        _check_header(header)
    except (Malformed, UnsupportedAlgorithm) as refusal:
        return jws, refusal
    return jws, None if jws.signature else Malformed("signature: empty")


def signature_length(key: RSAPublicKey) -> int:
    """The length in bytes of every PS384 signature ``key`` makes."""
    return (key.key_size + 7) // 8


def verify_ps384(key: RSAPublicKey, signing_input: bytes, signature: bytes,
                 length: int | None = None) -> bool:
    """RSASSA-PSS, SHA-384, MGF1-SHA-384, salt exactly 48 bytes; full-length signature.

    ``length``, when the caller kept it, is ``signature_length(key)``.
    """
    if len(signature) != (length or signature_length(key)):
        return False
    try:
        key.verify(signature, signing_input, _PSS_384, _SHA384)
    except InvalidSignature:
        return False
    return True
