"""``license-token inspect``: any compact JWS decoded for a person, loudly UNVERIFIED, bounded
and escaped, naming why ``verify`` would refuse it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXTERNAL_VECTORS

from license_token._jws import decode_unverified, parse_compact
from license_token.testing import LocalLicenseManager, TokenFactory
from license_token.testing._factory import b64u


def _inspect(tmp_path: Path, text: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    path = tmp_path / "token.txt"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-m", "license_token", "inspect", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr
    doc = json.loads(done.stdout) if done.returncode == 0 else None
    return done, doc


def test_a_checkout_token_is_one_verify_would_check(tmp_path: Path, factory: TokenFactory) -> None:
    done, doc = _inspect(tmp_path, factory.token())
    assert done.returncode == 0
    assert (doc["verified"], doc["refused"]) == (False, None)
    assert "UNVERIFIED" in done.stderr
    assert "would refuse" not in done.stderr


@pytest.mark.parametrize(("alg", "code"), [
    ("RS512", "unsupported_algorithm"), ("HS256", "unsupported_algorithm"),
    ("RS384", "unsupported_algorithm"), ("PS256", "unsupported_algorithm"),
])
def test_a_token_of_another_algorithm_is_decoded_and_its_refusal_named(
        tmp_path: Path, factory: TokenFactory, alg: str, code: str) -> None:
    token = factory.encode({"alg": alg, "typ": "JWS", "kid": "k-1"}, {"sub": "someone"},
                           alg=alg, secret=b"s" * 32)
    done, doc = _inspect(tmp_path, token)
    assert done.returncode == 0, done.stderr
    assert doc["verified"] is False
    assert doc["header"] == {"alg": alg, "typ": "JWS", "kid": "k-1"}
    assert doc["claims"] == {"sub": "someone"}
    assert doc["refused"]["code"] == code
    assert repr(alg) in doc["refused"]["message"]
    assert f"verify would refuse this token ({code}): algorithm {alg!r}" in done.stderr
    assert "UNVERIFIED" in done.stderr


def test_the_emulator_s_create_token_token_can_be_inspected(tmp_path: Path) -> None:
    with LocalLicenseManager() as lm:
        lic = lm.add_license(entitlements={"Users": ("Count", 5)})
        token = lm.create_token(lic.arn).token
    done, doc = _inspect(tmp_path, token)
    assert done.returncode == 0, done.stderr
    assert (doc["header"]["alg"], doc["header"]["typ"]) == ("RS512", "JWS")
    assert doc["claims"]["aud"] == lic.arn
    assert "'RS512'" in done.stderr


def test_an_unsecured_jws_is_shown_and_refused(tmp_path: Path) -> None:
    token = b64u(b'{"alg":"none"}') + "." + b64u(b'{"nodeId":"n"}') + "."
    done, doc = _inspect(tmp_path, token)
    assert done.returncode == 0, done.stderr
    assert (doc["claims"], doc["signature_bytes"]) == ({"nodeId": "n"}, 0)
    assert doc["refused"]["code"] == "unsupported_algorithm"


def test_a_payload_that_is_not_claims_is_shown_as_text(tmp_path: Path) -> None:
    vector = json.loads((EXTERNAL_VECTORS / "rfc7520" / "4_2.rsa-pss_signature.json").read_text())
    done, doc = _inspect(tmp_path, vector["output"]["compact"])
    assert done.returncode == 0, done.stderr
    assert doc["refused"] is None  # PS384: verify would check it (and find no claims)
    assert doc["claims"] is None
    assert doc["payload_text"] == vector["input"]["payload"]
    assert doc["header"]["kid"] == "bilbo.baggins@hobbiton.example"


def test_hostile_header_text_is_bounded_and_escaped(tmp_path: Path, factory: TokenFactory) -> None:
    alg = "\x1b[2J\u202e" + "A" * 5000
    done, doc = _inspect(tmp_path, factory.encode({"alg": alg}, {"x": 1}, alg="PS384"))
    assert done.returncode == 0, done.stderr
    assert doc["header"]["alg"] == alg  # the JSON document carries it, escaped by JSON
    warning = next(line for line in done.stderr.splitlines() if "would refuse" in line)
    assert "\x1b" not in done.stderr and "\u202e" not in done.stderr
    assert "\\x1b[2J\\u202e" in warning
    assert len(warning) < 200
    assert done.stdout.isascii()


@pytest.mark.parametrize("text", ["not a token", "a.b", "a.b.c.d", "x" * 70_000,
                                  b64u(b"[1]") + "." + b64u(b"{}") + ".AAAA",
                                  b64u(b"{}") + "=." + b64u(b"{}") + ".AAAA"])
def test_what_is_no_compact_jws_is_still_refused(tmp_path: Path, text: str) -> None:
    done, _ = _inspect(tmp_path, text)
    assert done.returncode == 1
    assert "cannot decode" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(("header", "signed", "refusal"), [
    ({"alg": "PS384", "kid": "k"}, True, None),
    ({"alg": "PS384"}, False, "signature: empty"),
    ({"alg": "RS512", "typ": "JWS"}, True, "algorithm 'RS512' is not allowed, only PS384"),
    ({"alg": "PS384", "crit": ["b64"]}, True, "'crit' extensions are not supported"),
    ({"typ": "JWT"}, True, "header: no 'alg'"),
])
def test_decode_unverified_returns_the_refusal_parse_compact_raises(
        factory: TokenFactory, header: dict[str, Any], signed: bool,
        refusal: str | None) -> None:
    token = factory.encode(header, {"x": 1}, alg="PS384")
    if not signed:
        token = token.rpartition(".")[0] + "."
    jws, refused = decode_unverified(token)
    assert (dict(jws.header), json.loads(jws.payload)) == (header, {"x": 1})
    assert jws.signing_input == token.rpartition(".")[0].encode()
    if refusal is None:
        assert refused is None
        assert parse_compact(token) == jws
    else:
        assert refused is not None and str(refused).endswith(refusal)
        with pytest.raises(type(refused), match=re.escape(refusal)):
            parse_compact(token)
