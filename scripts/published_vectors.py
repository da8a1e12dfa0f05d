"""The checkout payloads AWS has published, re-signed with the vectors' keys:
``vectors/published.json`` (run through ``scripts/make_vectors.py``).

No real ``SignedToken`` is public; two decoded payloads are. Each is reproduced as data
(a fact, not prose), signed here by a key of ``vectors/keys/``, and wrapped in every response
form the library accepts. Every case names its source (repository, path, commit) and what it
pins.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from license_token.testing import TokenFactory, response_for

#: ``awsdocs/aws-license-manager-user-guide``: a decoded payload in "Cryptographic Signing of
#: Licenses" (``checkoutMetadata`` a map, zone-less whole-second times, one hour apart).
USER_GUIDE = {
    "repository": "awsdocs/aws-license-manager-user-guide",
    "path": "doc_source/license-signing.md",
    "commit": "4b87ce099006b16be64608b904e0b1837abb552e",
}
USER_GUIDE_PAYLOAD: dict[str, Any] = {
    "entitlementsAllowed": [{"name": "EntitlementCount", "unit": "Count", "value": "1"}],
    "expiration": "2020-12-01T00:47:35",
    "issuedAt": "2020-11-30T23:47:35",
    "licenseArn":
        "arn:aws:license-manager::123456789012:license:l-6585590917ad46858328ff02dEXAMPLE",
    "licenseConsumptionToken": "306eb19afd354ba79c3687b9bEXAMPLE",
    "nodeId": "100.20.15.10",
    "checkoutMetadata": {"Mac": "ABCDEFGHI"},
}
#: ``aws-samples/aws-license-manager-license-consumption-sample``: PyJWT's decoded output of a
#: real ``CheckoutBorrowLicense`` (KMS ``RSA_4096`` key, borrow of 1440 minutes), in a comment
#: of the sample added by commit 649e8d7 at ``managed-entitlements/src/``, moved unchanged to
#: ``managed-entitlements/Python/src/`` by commit 4c182d8.
SAMPLE = {
    "repository": "aws-samples/aws-license-manager-license-consumption-sample",
    "path": "managed-entitlements/Python/src/managed_entitlements_checkout_borrow_sample.py",
    "commit": "649e8d7a02051b138935f0c5b2fd957cb234e6d5",
    "path_at_commit": "managed-entitlements/src/managed_entitlements_checkout_borrow_sample.py",
    "moved_unchanged_by": "4c182d81e7fb7f6f418a3737faf2fd1e2f9814c1",
}
SAMPLE_PAYLOAD: dict[str, Any] = {
    "licenseArn":
        "arn:aws:license-manager::575359184979:license:l-bc39444470c642ae9ead0eabe8465bb1",
    "licenseConsumptionToken": "0cd7b2bc7c674573a669bea8f5b75f2d",
    "entitlementsAllowed": [{"name": "Users", "value": "1", "unit": "Count"}],
    "nodeId": "MyNodeId",
    "issuedAt": "2021-04-13T05:35:47",
    "expiration": "2021-04-14T05:35:47",
}
SAMPLE_NOW = "2021-04-13T12:00:00Z"
USER_GUIDE_NOW = "2020-12-01T00:00:00Z"
#: The KMS key a real token's ``kid`` might name (no real header is public).
KMS_KEY_ARN = "arn:aws:kms:us-east-1:575359184979:key/1234abcd-12ab-34cd-56ef-1234567890ab"

PINS_NAMES = "claim names and casing: lowerCamelCase copies of the response fields"
PINS_TIMES = "times: zone-less ISO-8601 whole seconds, read as UTC"
PINS_NO_JWT = "no JWT registered claims (no exp, iat, iss, aud, sub): expiry is ours to check"
PINS_MAP = "checkoutMetadata: a JSON object (the API's response field is a Name/Value list)"
PINS_UNSIGNED = "the unsigned response fields equal their signed twins"
PINS_PEM = "the sample's one-line PEM key (one base64 line between the armour lines)"


class Add(Protocol):
    """``Builder.add`` of ``scripts/make_vectors.py``, bound to ``vectors/published.json``."""

    def __call__(self, case_id: str, comment: str, input_text: str, **options: Any) -> None: ...


def _as_utc(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims as ``LicenseClaims.to_json`` prints them: times in UTC with ``Z``."""
    return claims | {"issuedAt": claims["issuedAt"] + "Z", "expiration": claims["expiration"] + "Z"}


def _forms(add: Add, stem: str, what: str, response: dict[str, Any], **options: Any) -> None:
    """The response as boto3 returns it, as the HTTP API body, as the AWS CLI prints it."""
    api = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    add(f"{stem}_boto3", f"{what}: the boto3 response (ResponseMetadata included)",
        json.dumps(response, indent=2), **options)
    add(f"{stem}_api_body", f"{what}: the HTTP API body (compact JSON)",
        json.dumps(api, separators=(",", ":")), **options)
    add(f"{stem}_aws_cli", f"{what}: aws license-manager checkout-borrow-license output",
        json.dumps(api, indent=4) + "\n", **options)


def build_sample(add: Add, issuer: TokenFactory) -> None:
    """The sample's borrow, signed by the 4096-bit vectors key, pinned as the sample pins."""
    claims, pins = SAMPLE_PAYLOAD, [PINS_NAMES, PINS_TIMES, PINS_NO_JWT]
    common: dict[str, Any] = {
        "source": SAMPLE, "published_payload": claims, "now": SAMPLE_NOW,
        "keys": ("c4096_oneline.pem",), "expect_claims": _as_utc(claims),
        "policy": {"license_arn": claims["licenseArn"], "node_id": "MyNodeId",
                   "require": ["Users:Count=1"]}}
    token = issuer.token(claims)
    add("aws_sample_bare_token", "the sample's decoded borrow as a bare token, header {alg}",
        token, pins=[*pins, PINS_PEM], **common)
    response = response_for(token, claims)
    _forms(add, "aws_sample", "the sample's borrow", response,
           pins=[*pins, PINS_UNSIGNED, PINS_PEM], **common)
    for suffix, issued, expires in (("zulu", "2021-04-13T05:35:47Z", "2021-04-14T05:35:47Z"),
                                    ("millis", "2021-04-13T05:35:47.000Z",
                                     "2021-04-14T05:35:47.000Z")):
        add(f"aws_sample_response_times_{suffix}",
            f"the response's times with a zone ({suffix}), as botocore's ISO8601DateTime "
            "pattern requires; the token's stay zone-less",
            json.dumps(response | {"IssuedAt": issued, "Expiration": expires}, indent=2),
            pins=[*pins, "an unsigned time is its signed twin when in the same second"],
            **common)
    for name, header in (("typ_jwt", {"typ": "JWT"}), ("kid", {"kid": KMS_KEY_ARN})):
        add(f"aws_sample_header_{name}", f"the sample's borrow under header {{alg, {name}}} "
            "(a real token's header members are unconfirmed)",
            issuer.token(claims, header=header), pins=pins, **common)
    add("aws_sample_header_typ_first", "header members in another order: {typ, alg}",
        issuer.encode({"typ": "JWT", "alg": "PS384"}, claims), pins=pins, **common)
    add("aws_sample_key_multiline_pem", "the same key as an ordinary 64-column PEM", token,
        pins=pins, **(common | {"keys": ("c4096.pem",)}))


def build_sample_rejected(add: Add, issuer: TokenFactory) -> None:
    """What the sample's payload must not pass: expiry, node, casing."""
    claims, token = SAMPLE_PAYLOAD, issuer.token(SAMPLE_PAYLOAD)
    common: dict[str, Any] = {"source": SAMPLE, "published_payload": claims,
                              "keys": ("c4096_oneline.pem",)}
    add("aws_sample_expired", "the borrow's 1440 minutes and the 60 s leeway are over: "
        "PyJWT, as the sample calls it, would still accept it (there is no exp claim)",
        token, now="2021-04-14T05:36:47Z", code="expired", pins=[PINS_NO_JWT], **common)
    add("aws_sample_other_node", "node IDs compare exactly: 'mynodeid' is not 'MyNodeId'",
        token, now=SAMPLE_NOW, policy={"node_id": "mynodeid"}, code="node_mismatch",
        pins=[PINS_NAMES], **common)
    pascal = {k[0].upper() + k[1:]: v for k, v in claims.items()}
    add("aws_sample_pascal_case_claims", "the response's PascalCase names are not the "
        "token's: a payload spelled so has none of the claims", issuer.token(pascal),
        now=SAMPLE_NOW, code="malformed", pins=[PINS_NAMES], **common)


def build_user_guide(add: Add, issuer: TokenFactory) -> None:
    """The user guide's payload, signed by the 2048-bit vectors key."""
    claims, pins = USER_GUIDE_PAYLOAD, [PINS_NAMES, PINS_TIMES, PINS_NO_JWT, PINS_MAP]
    common: dict[str, Any] = {
        "source": USER_GUIDE, "published_payload": claims, "now": USER_GUIDE_NOW,
        "expect_claims": _as_utc(claims),
        "policy": {"node_id": "100.20.15.10", "require": ["EntitlementCount:Count=1"]}}
    token = issuer.token(claims)
    add("aws_user_guide_bare_token", "the user guide's payload as a bare token", token,
        pins=pins, **common)
    add("aws_user_guide_oneline_pem", "the user guide's payload, key as a one-line PEM", token,
        pins=[*pins, PINS_PEM], **(common | {"keys": ("a2048_oneline.pem",)}))
    _forms(add, "aws_user_guide", "the user guide's payload", response_for(token, claims),
           pins=[*pins, PINS_UNSIGNED], **common)


def build_user_guide_rejected(add: Add, issuer: TokenFactory) -> None:
    """The user guide's payload, one hour long, and its unsigned metadata."""
    claims, token = USER_GUIDE_PAYLOAD, issuer.token(USER_GUIDE_PAYLOAD)
    common: dict[str, Any] = {"source": USER_GUIDE, "published_payload": claims}
    add("aws_user_guide_expired", "an hour after issuedAt, plus the leeway", token,
        now="2020-12-01T00:48:35Z", code="expired", pins=[PINS_NO_JWT], **common)
    tampered = response_for(token, claims, tamper={
        "CheckoutMetadata": [{"Name": "Mac", "Value": "ZZZZZZZZZ"}]})
    add("aws_user_guide_metadata_tampered", "the unsigned CheckoutMetadata list was edited",
        json.dumps(tampered, indent=2), now=USER_GUIDE_NOW, code="response_mismatch",
        pins=[PINS_MAP, PINS_UNSIGNED], **common)
