"""Regenerate ``vectors/*.json`` and ``vectors/keys/``: the project's own test vectors.

Run: ``python scripts/make_vectors.py``. Keys are fresh each run and PSS signatures are
randomised, so the bytes change while every case keeps its meaning (id, comment, expected).
``vectors/published.json`` (AWS's published payloads) is built by ``published_vectors.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import published_vectors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from license_token.testing import DEFAULT_ARN, TokenFactory, response_for
from license_token.testing._factory import b64u

OUT = Path(__file__).resolve().parent.parent / "vectors"
NOW = "2026-03-15T12:00:00Z"
NOW_DT = datetime(2026, 3, 15, 12, tzinfo=timezone.utc)
BASE_CLAIMS: dict[str, Any] = {
    "licenseArn": DEFAULT_ARN,
    "licenseConsumptionToken": "0cd7b2bc7c674573a669bea8f5b75f2d",
    "entitlementsAllowed": [
        {"name": "Users", "value": "10", "unit": "Count"},
        {"name": "ProFeature", "value": "Enabled", "unit": "None"},
    ],
    "nodeId": "node-7f3a",
    "issuedAt": "2026-03-01T10:00:00",
    "expiration": "2026-03-31T10:00:00",
}


def claims(**changes: Any) -> dict[str, Any]:
    out = dict(BASE_CLAIMS) | changes
    return {k: v for k, v in out.items() if v is not None}


class Builder:
    def __init__(self) -> None:
        self.a = TokenFactory.with_key_size(2048, now=NOW_DT)
        self.b = TokenFactory.with_key_size(3072, now=NOW_DT)
        self.c = TokenFactory.with_key_size(4096, now=NOW_DT)
        self.outsider = TokenFactory.with_key_size(2048, now=NOW_DT)
        self.cases: dict[str, list[dict[str, Any]]] = {"valid": [], "rejected": [],
                                                       "published": []}

    def write_keys(self) -> None:
        keys = OUT / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        pem = self.a.public_key_pem()
        der = self.a.public_key_der()
        (keys / "a2048.pem").write_bytes(pem)
        (keys / "a2048_oneline.pem").write_bytes(_one_line_pem(der))
        (keys / "a2048.der").write_bytes(der)
        (keys / "a2048.der.b64").write_text(base64.b64encode(der).decode() + "\n")
        (keys / "a2048.pkcs1.pem").write_bytes(self.a.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1))
        numbers = self.a.private_key.public_key().public_numbers()
        jwk = {"kty": "RSA", "kid": "issuer-2026", "use": "sig", "alg": "PS384",
               "n": b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
               "e": b64u(numbers.e.to_bytes(3, "big"))}
        (keys / "a2048.jwk.json").write_text(json.dumps(jwk, indent=2) + "\n")
        key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        kms = {"KeyId": key_arn,
               "PublicKey": base64.b64encode(der).decode(), "KeySpec": "RSA_2048",
               "KeyUsage": "SIGN_VERIFY",
               "SigningAlgorithms": ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
                                     "RSASSA_PKCS1_V1_5_SHA_384"]}
        (keys / "a2048.kms.json").write_text(json.dumps(kms, indent=2) + "\n")
        (keys / "b3072.pem").write_bytes(self.b.public_key_pem())
        (keys / "c4096.pem").write_bytes(self.c.public_key_pem())
        (keys / "c4096_oneline.pem").write_bytes(_one_line_pem(self.c.public_key_der()))
        (keys / "outsider2048.pem").write_bytes(self.outsider.public_key_pem())
        rotation = {"keys": [
            {"kty": "RSA", "kid": "old", **_jwk_numbers(self.outsider)},
            {"kty": "RSA", "kid": "current", **_jwk_numbers(self.a)},
        ]}
        (keys / "rotation.jwks.json").write_text(json.dumps(rotation, indent=2) + "\n")

    def add(self, file: str, case_id: str, comment: str, input_text: str, *,
            keys: tuple[str, ...] = ("a2048.pem",), now: str = NOW,
            policy: dict[str, Any] | None = None, code: str | None = None,
            expect_claims: dict[str, Any] | None = None, **about: Any) -> None:
        """One case; ``about`` adds members after the standard ones (``source``, ``pins``…)."""
        expected: dict[str, Any] = {"valid": code is None}
        if code is None:
            expected["claims"] = expect_claims or {}
        else:
            expected["code"] = code
        form = "response_json" if input_text.lstrip().startswith("{") else "token"
        self.cases[file].append({
            "id": case_id, "comment": comment, "keys": list(keys), "input_form": form,
            "input": input_text, "now": now, "policy": policy or {}, "expected": expected,
            **about,
        })


def _one_line_pem(der: bytes) -> bytes:
    """A public key as AWS's sample writes it: the base64 DER on one line between the armour."""
    body = base64.b64encode(der)
    return b"-----BEGIN PUBLIC KEY-----\n" + body + b"\n-----END PUBLIC KEY-----\n"


def _jwk_numbers(factory: TokenFactory) -> dict[str, str]:
    numbers = factory.private_key.public_key().public_numbers()
    return {"n": b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64u(numbers.e.to_bytes(3, "big"))}


def dumps(response: dict[str, Any], *, metadata: bool = True) -> str:
    if not metadata:
        response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return json.dumps(response, indent=2)


def build_valid(v: Builder) -> None:
    a = v.a
    add: Callable[..., None] = lambda *args, **kw: v.add("valid", *args, **kw)  # noqa: E731
    token = a.token(claims())
    resp = response_for(token, claims())
    summary = {"licenseArn": DEFAULT_ARN, "nodeId": "node-7f3a",
               "expiration": "2026-03-31T10:00:00Z"}
    add("boto3_response", "boto3 dict as JSON, with ResponseMetadata", dumps(resp),
        expect_claims=summary)
    add("api_body", "the HTTP API body: no ResponseMetadata", dumps(resp, metadata=False),
        expect_claims=summary)
    add("aws_cli_output", "aws license-manager checkout-borrow-license output (compact JSON)",
        json.dumps({k: x for k, x in resp.items() if k != "ResponseMetadata"},
                   separators=(",", ":")) + "\n", expect_claims=summary)
    add("bare_token", "only the SignedToken", token, expect_claims=summary)
    add("bare_token_whitespace", "a bare token with a trailing newline, as files end",
        "\n" + token + "\n", expect_claims=summary)
    for key in ("a2048_oneline.pem", "a2048.der", "a2048.der.b64", "a2048.pkcs1.pem",
                "a2048.jwk.json", "a2048.kms.json", "rotation.jwks.json"):
        add(f"key_form_{key.replace('.', '_')}", f"the issuer key pinned as {key}", dumps(resp),
            keys=(key,), expect_claims=summary)
    add("key_rotation_second_key", "signing key is the second of two pinned keys", dumps(resp),
        keys=("outsider2048.pem", "a2048.pem"), expect_claims=summary)
    add("rsa3072", "RSA-3072 issuer key", dumps(response_for(v.b.token(claims()), claims())),
        keys=("b3072.pem",), expect_claims=summary)
    add("rsa4096", "RSA-4096 issuer key, as AWS's sample uses",
        dumps(response_for(v.c.token(claims()), claims())), keys=("c4096.pem",),
        expect_claims=summary)
    add("header_kid_typ", "extra header members kid and typ are allowed",
        a.token(claims(), header={"kid": "current", "typ": "JWT"}), keys=("rotation.jwks.json",),
        expect_claims=summary)
    add("times_zulu", "times with Z", a.token(claims(issuedAt="2026-03-01T10:00:00Z",
                                                      expiration="2026-03-31T10:00:00Z")),
        expect_claims=summary)
    add("times_offset_fraction", "times with an offset and a fraction",
        a.token(claims(issuedAt="2026-03-01T12:00:00.123+02:00",
                       expiration="2026-03-31T05:00:00.000000-05:00")),
        expect_claims={"expiration": "2026-03-31T10:00:00Z"})
    add("metadata_map", "checkoutMetadata as a map (as documented)",
        a.token(claims(checkoutMetadata={"Mac": "00:11:22:33:44:55"})),
        expect_claims={"checkoutMetadata": {"Mac": "00:11:22:33:44:55"}})
    add("metadata_list", "checkoutMetadata as a list of name/value pairs (as the API sends)",
        a.token(claims(checkoutMetadata=[{"name": "Mac", "value": "00:11:22:33:44:55"}])),
        expect_claims={"checkoutMetadata": {"Mac": "00:11:22:33:44:55"}})
    add("unknown_claims_kept", "claims we do not model are kept, never an error",
        a.token(claims(futureClaim={"x": [1, 2]}, keyFingerprint="aws:123:Vendor:fp")),
        expect_claims={"futureClaim": {"x": [1, 2]}})
    add("unknown_unit", "an entitlement unit outside EntitlementUnit is kept",
        a.token(claims(entitlementsAllowed=[{"name": "Seats", "value": "3", "unit": "Widgets"}])),
        policy={"require": ["Seats"]})
    add("entitlement_without_value", "an entitlement may carry no value",
        a.token(claims(entitlementsAllowed=[{"name": "Pro", "unit": "None"}])),
        policy={"require": ["Pro:None"]})
    add("requirements_met", "count, unit-only and name-only requirements", dumps(resp),
        policy={"require": ["Users:Count=10", "ProFeature:None", "ProFeature"],
                "license_arn": DEFAULT_ARN, "node_id": "node-7f3a"})
    add("leeway_before_issue", "30 s before issuedAt, within the 60 s leeway", dumps(resp),
        now="2026-03-01T09:59:30Z")
    add("leeway_after_expiry", "59 s after expiration, within the 60 s leeway", dumps(resp),
        now="2026-03-31T10:00:59Z")
    add("leeway_custom", "an hour after expiration with a 2 h leeway", dumps(resp),
        now="2026-03-31T11:00:00Z", policy={"leeway": 7200})
    add("no_node_no_requirement", "a token without nodeId is fine when no node is required",
        a.token(claims(nodeId=None)))


def build_rejected(v: Builder) -> None:
    a = v.a
    add: Callable[..., None] = lambda *args, **kw: v.add("rejected", *args, **kw)  # noqa: E731
    token = a.token(claims())
    resp = response_for(token, claims())
    h, p, s = token.split(".")
    # malformed
    add("empty_input", "nothing at all", "", code="malformed")
    add("two_parts", "a JWS needs three parts", f"{h}.{p}", code="malformed")
    add("four_parts", "JWE-like five or extra parts are refused", f"{token}.{s}", code="malformed")
    add("padding", "base64url '=' padding", f"{h}.{p}==.{s}" if len(p) % 4 == 2 else
        f"{h}=.{p}.{s}", code="malformed")
    add("std_base64_chars", "'+' and '/' are not base64url",
        f"{h}.{p}.{s[:-4]}+/+/", code="malformed")
    add("non_canonical_bits", "trailing unused bits set: a second spelling of the signature",
        f"{h}.{p}.{_twiddle_tail(s)}", code="malformed")
    add("response_without_token", "a response with no SignedToken",
        dumps({k: x for k, x in resp.items() if k != "SignedToken"}), code="malformed")
    add("missing_alg", "header without alg", a.encode({"typ": "JWT"}, claims()),
        code="malformed")
    add("crit_header", "an unknown critical extension",
        a.token(claims(), header={"crit": ["exp"], "exp": 1}), code="malformed")
    add("duplicate_alg", "duplicate 'alg' in the header",
        a.encode(b'{"alg":"HS256","alg":"PS384"}', claims()), code="malformed")
    add("duplicate_claim", "duplicate 'nodeId' in the payload",
        a.encode({"alg": "PS384"}, json.dumps(claims())[:-1].encode()
                 + b',"nodeId":"other"}'), code="malformed")
    add("missing_expiration", "expiration is required", a.token(claims(expiration=None)),
        code="malformed")
    add("bad_time", "a date that is not ISO-8601", a.token(claims(expiration="31/03/2026")),
        code="malformed")
    add("payload_not_object", "the payload is a JSON array", a.encode({"alg": "PS384"}, b"[1]"),
        code="malformed")
    add("entitlement_value_number", "entitlement values are strings",
        a.token(claims(entitlementsAllowed=[{"name": "Users", "value": 10, "unit": "Count"}])),
        code="malformed")
    # algorithm
    for alg, comment in (("none", "alg none with an empty signature"),
                         ("HS384", "HS384 keyed with the PEM public key (algorithm confusion)"),
                         ("RS384", "PKCS#1 v1.5 RS384 by the genuine key"),
                         ("PS256", "PS256 by the genuine key")):
        secret = a.public_key_pem()
        add(f"alg_{alg.lower()}", comment,
            a.encode({"alg": alg}, claims(), alg=alg, secret=secret), code="unsupported_algorithm")
    # signature
    add("untrusted_key", "signed by a key that is not pinned",
        dumps(response_for(v.outsider.token(claims()), claims())), code="bad_signature")
    add("payload_swapped", "another payload under the original signature",
        f"{h}.{b64u(json.dumps(claims(nodeId='other')).encode())}.{s}", code="bad_signature")
    add("salt_20", "PSS with a 20-byte salt verifies only under AUTO/MAX salt length",
        a.encode({"alg": "PS384"}, claims(), salt_length=20), code="bad_signature")
    add("salt_0", "PSS with no salt", a.encode({"alg": "PS384"}, claims(), salt_length=0),
        code="bad_signature")
    add("wrong_size_key", "signed by the 4096 key, only the 2048 key pinned",
        v.c.token(claims()), code="bad_signature")
    # time
    add("expired", "a second after expiration + leeway", dumps(resp), now="2026-03-31T10:01:00Z",
        code="expired")
    add("expired_no_leeway", "at expiration exactly, leeway 0", dumps(resp),
        now="2026-03-31T10:00:00Z", policy={"leeway": 0}, code="expired")
    add("not_yet_valid", "two minutes before issuedAt", dumps(resp), now="2026-03-01T09:58:00Z",
        code="not_yet_valid")
    # pins
    add("node_mismatch", "bound to another node", dumps(resp), policy={"node_id": "other-node"},
        code="node_mismatch")
    add("node_absent", "a node is required but the token has none",
        a.token(claims(nodeId=None)), policy={"node_id": "node-7f3a"}, code="node_mismatch")
    add("license_mismatch", "for another license", dumps(resp),
        policy={"license_arn": DEFAULT_ARN.replace("l-0", "l-9")}, code="license_mismatch")
    add("entitlement_missing", "no such entitlement", dumps(resp), policy={"require": ["Admins"]},
        code="entitlement_missing")
    add("entitlement_wrong_unit", "name matches, unit does not", dumps(resp),
        policy={"require": ["Users:Seconds"]}, code="entitlement_missing")
    add("entitlement_insufficient", "10 granted, 11 required", dumps(resp),
        policy={"require": ["Users:Count=11"]}, code="entitlement_insufficient")
    add("entitlement_not_numeric", "a non-numeric value never satisfies a minimum", dumps(resp),
        policy={"require": ["ProFeature=1"]}, code="entitlement_insufficient")
    # response
    for field, value in (("NodeId", "attacker-node"), ("Expiration", "2099-01-01T00:00:00"),
                         ("LicenseArn", DEFAULT_ARN.replace("l-0", "l-9")),
                         ("EntitlementsAllowed", [{"Name": "Users", "Value": "1000",
                                                   "Unit": "Count"}])):
        add(f"unsigned_{field}_tampered", f"the unsigned {field} was edited",
            dumps(response_for(token, claims(), tamper={field: value})),
            code="response_mismatch")


def build_time_forms(v: Builder) -> None:
    """Times as the service may print them (docs/explanation/real-service.md), and looser
    forms that are refused."""
    a, summary = v.a, {"issuedAt": "2026-03-01T10:00:00Z", "expiration": "2026-03-31T10:00:00Z"}
    for case_id, comment, issued, expires in (
            ("times_minutes_only", "HH:MM without seconds: Java's LocalDateTime.toString() "
             "at a whole minute", "2026-03-01T10:00", "2026-03-31T10:00"),
            ("times_minutes_zulu", "HH:MM with Z", "2026-03-01T10:00Z", "2026-03-31T10:00Z"),
            ("times_minutes_offset", "HH:MM with offsets", "2026-03-01T11:00+01:00",
             "2026-03-31T04:30-05:30"),
            ("times_nanoseconds", "nine fraction digits (beyond microseconds, dropped)",
             "2026-03-01T10:00:00.000000000", "2026-03-31T10:00:00.000000999Z")):
        v.add("valid", case_id, comment, a.token(claims(issuedAt=issued, expiration=expires)),
              expect_claims=summary)
    token = a.token(claims())
    for case_id, comment, issued, expires in (
            ("response_times_fraction_same_second", "the response's times carry milliseconds "
             "and a zone, the token's are whole zone-less seconds: the same second is the same "
             "time", "2026-03-01T10:00:00.412Z", "2026-03-31T10:00:00.999Z"),
            ("response_times_minutes", "the response's times in minutes with Z",
             "2026-03-01T10:00Z", "2026-03-31T10:00Z")):
        v.add("valid", case_id, comment, dumps(response_for(token, claims(), tamper={
            "IssuedAt": issued, "Expiration": expires})), expect_claims=summary)
    v.add("rejected", "response_time_next_second", "the unsigned Expiration is a second "
          "later than the signed one: another time", dumps(response_for(token, claims(), tamper={
              "Expiration": "2026-03-31T10:00:01.000Z"})), code="response_mismatch")
    for case_id, comment, text in (
            ("time_date_only", "a date without a time", "2026-03-31"),
            ("time_hours_only", "hours without minutes", "2026-03-31T10"),
            ("time_space_separator", "a space for T", "2026-03-31 10:00:00"),
            ("time_lowercase_t", "a lowercase t", "2026-03-31t10:00:00"),
            ("time_lowercase_z", "a lowercase z", "2026-03-31T10:00:00z"),
            ("time_week_date", "an ISO week date", "2026-W14-2T10:00:00"),
            ("time_ordinal_date", "an ordinal date", "2026-090T10:00:00"),
            ("time_basic_format", "the basic format, no separators", "20260331T100000"),
            ("time_offset_without_colon", "an offset without its colon", "2026-03-31T10:00+0000"),
            ("time_fraction_of_minute", "a fraction without seconds", "2026-03-31T10:00.5"),
            ("time_comma_fraction", "a comma before the fraction", "2026-03-31T10:00:00,5")):
        v.add("rejected", case_id, f"expiration: {comment}",
              a.token(claims(expiration=text)), code="malformed")


def build_published(v: Builder) -> None:
    def add(*args: Any, **kw: Any) -> None:
        v.add("published", *args, **kw)
    published_vectors.build_sample(add, v.c)
    published_vectors.build_sample_rejected(add, v.c)
    published_vectors.build_user_guide(add, v.a)
    published_vectors.build_user_guide_rejected(add, v.a)


def _twiddle_tail(segment: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[index | 1]


def main() -> None:
    builder = Builder()
    builder.write_keys()
    build_valid(builder)
    build_rejected(builder)
    build_time_forms(builder)
    build_published(builder)
    keys = OUT / "keys"
    (keys / "ec_p256.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key()
                                       .public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    (keys / "rsa1024.pem").write_bytes(rsa.generate_private_key(65537, 1024).public_key()
                                       .public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    for name, cases in builder.cases.items():
        source = "license-token scripts/make_vectors.py" + (
            " with scripts/published_vectors.py: payloads AWS published, re-signed"
            if name == "published" else "")
        doc = {"source": source, "license": "Apache-2.0", "cases": cases}
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"{name}.json: {len(cases)} cases")


if __name__ == "__main__":
    main()
