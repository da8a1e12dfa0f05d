"""The emulator against botocore's service models, so that it cannot drift from the API.

Every response the emulator sends, as raw JSON off the wire (boto3's parser would drop
unknown members and hide wrong types), is walked against the operation's output shape:
member names, types, enums, required members, patterns and lengths. Every error it
sends must be one the operation models (or a common AWS error), with its members.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest

from license_token.testing import LocalLicenseManager
from license_token.testing import _validation as validation
from license_token.testing._lm_api import OPERATIONS

SESSION = botocore.session.get_session()
MODELS = {"AWSLicenseManager": SESSION.get_service_model("license-manager"),
          "TrentService": SESSION.get_service_model("kms")}
#: Model constraints the emulator deliberately does not meet, with the reason.
EXEMPT = {
    ("SignedToken", "min"): "the model's SignedToken min of 4096 characters is longer than "
    "the tokens AWS documents (a few claims and an RSA-4096 signature, about 1.2 kB)",
}
#: Errors any AWS JSON operation may answer (AWS API reference, "Common Errors").
COMMON_ERRORS = {"ValidationException", "UnknownOperationException",
                 "SerializationException"}


class Walker:
    """Checks one JSON value against a botocore shape; counts the members checked."""

    def __init__(self) -> None:
        self.members = 0
        self.problems: list[str] = []

    def _constraint(self, shape: Any, key: str) -> Any:
        return None if (shape.name, key) in EXEMPT else shape.metadata.get(key)

    def check(self, shape: Any, value: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                self.problems.append(f"{path}: not an object")
                return
            for name in value.keys() - shape.members.keys():
                self.problems.append(f"{path}.{name}: not a member of {shape.name}")
            for name in shape.required_members:
                if name not in value:
                    self.problems.append(f"{path}.{name}: required, missing")
            for name, member in shape.members.items():
                if name in value:
                    self.members += 1
                    self.check(member, value[name], f"{path}.{name}")
        elif kind == "list":
            if not isinstance(value, list):
                self.problems.append(f"{path}: not a list")
                return
            self._length(shape, len(value), path)
            for i, item in enumerate(value):
                self.check(shape.member, item, f"{path}[{i}]")
        elif kind == "string":
            if not isinstance(value, str):
                self.problems.append(f"{path}: not a string")
                return
            if shape.enum and value not in shape.enum:
                self.problems.append(f"{path}: {value!r} not in enum {shape.name}")
            pattern = self._constraint(shape, "pattern")
            if pattern and re.search(pattern, value) is None:
                self.problems.append(f"{path}: {value!r} does not match {pattern}")
            self._length(shape, len(value), path)
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                self.problems.append(f"{path}: not an integer")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.problems.append(f"{path}: not a boolean")
        elif kind == "blob":
            try:
                self._length(shape, len(base64.b64decode(value, validate=True)), path)
            except (TypeError, ValueError):
                self.problems.append(f"{path}: not base64")
        else:
            self.problems.append(f"{path}: shape type {kind} not handled by this test")

    def _length(self, shape: Any, length: int, path: str) -> None:
        low, high = self._constraint(shape, "min"), self._constraint(shape, "max")
        if (low is not None and length < low) or (high is not None and length > high):
            self.problems.append(f"{path}: length {length} outside [{low}, {high}]")


def _post(emulator: LocalLicenseManager, target: str,
          body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    host, port = emulator.endpoint_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", "/", json.dumps(body), {
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def traffic() -> Iterator[list[tuple[str, dict[str, Any], int, dict[str, Any]]]]:
    """Every operation the emulator serves, in its success and error forms."""
    now = [datetime(2026, 6, 1, tzinfo=timezone.utc)]
    with LocalLicenseManager(clock=lambda: now[0]) as lm:
        key = lm.create_key()
        limited = lm.add_license(entitlements={"Users": ("Count", 3), "Pro": ("None", None)},
                                 key_id=key, metadata={"Tier": "gold"},
                                 valid_until=now[0] + timedelta(days=30))
        unlimited = lm.add_license(entitlements={"Disk": ("Gigabytes", None)}, key_id=key)
        lm.update_license(unlimited.arn, status="SUSPENDED")
        users = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
        calls: list[tuple[str, dict[str, Any]]] = [
            ("CheckoutBorrowLicense", {
                "LicenseArn": limited.arn, "Entitlements": users, "NodeId": "n",
                "DigitalSignatureMethod": "JWT_PS384", "ClientToken": "a",
                "CheckoutMetadata": [{"Name": "Mac", "Value": "aa"}]}),
            ("CheckoutBorrowLicense", {  # the same ClientToken, another node
                "LicenseArn": limited.arn, "Entitlements": users, "NodeId": "other",
                "DigitalSignatureMethod": "JWT_PS384", "ClientToken": "a"}),
            ("CheckoutLicense", {
                "ProductSKU": limited.product_sku, "CheckoutType": "PROVISIONAL",
                "KeyFingerprint": limited.key_fingerprint, "ClientToken": "b",
                "Entitlements": [*users, {"Name": "Gold", "Unit": "None"}]}),
            ("CheckoutLicense", {
                "ProductSKU": limited.product_sku, "CheckoutType": "PERPETUAL",
                "KeyFingerprint": limited.key_fingerprint, "ClientToken": "c",
                "Entitlements": users}),
            ("GetLicense", {"LicenseArn": limited.arn}),
            ("GetLicense", {"LicenseArn": unlimited.arn}),
            ("GetLicense", {"LicenseArn": unlimited.arn, "Version": "1"}),
            ("GetPublicKey", {"KeyId": key, "GrantTokens": []}),
            ("GetAccessToken", {"Token": lm.create_token(limited.arn).token}),
            # errors
            ("CheckoutBorrowLicense", {
                "LicenseArn": "arn:nope", "Entitlements": users,
                "DigitalSignatureMethod": "JWT_PS384", "ClientToken": "d"}),
            ("CheckoutBorrowLicense", {
                "LicenseArn": limited.arn, "Entitlements": [{"Name": "X", "Unit": "Count"}],
                "DigitalSignatureMethod": "JWT_PS384", "ClientToken": "e"}),
            ("CheckoutBorrowLicense", {
                "LicenseArn": limited.arn, "Entitlements": users,
                "DigitalSignatureMethod": "JWT_RS256", "ClientToken": "f"}),
            ("CheckoutLicense", {
                "ProductSKU": unlimited.product_sku, "CheckoutType": "PROVISIONAL",
                "KeyFingerprint": unlimited.key_fingerprint, "ClientToken": "g",
                "Entitlements": [{"Name": "Disk", "Unit": "Gigabytes", "Value": "9"}]}),
            ("GetLicense", {"LicenseArn": limited.arn.replace("l-", "l-0")}),
            ("GetLicense", {"LicenseArn": limited.arn, "Version": "9"}),
            ("ExtendLicenseConsumption", {"LicenseConsumptionToken": "none"}),
            ("CheckInLicense", {"LicenseConsumptionToken": "none"}),
            ("GetPublicKey", {"KeyId": key + "x"}),
            ("GetPublicKey", {"KeyId": key, "GrantTokens": ["t"] * 11}),
            ("GetAccessToken", {"Token": "not-a-refresh-token"}),
        ]
        prefix = {"GetPublicKey": "TrentService"}
        seen = []
        for operation, body in calls:
            target = f"{prefix.get(operation, 'AWSLicenseManager')}.{operation}"
            status, answer = _post(lm, target, body)
            seen.append((target, body, status, answer))
        # extend and check in the borrow ("a"), then try both on the PERPETUAL one ("c")
        for client_token in ("a", "c"):
            answer = next(a for _, b, s, a in seen if s == 200 and b.get("ClientToken") ==
                          client_token)
            for op in ("ExtendLicenseConsumption", "CheckInLicense"):
                doc = {"LicenseConsumptionToken": answer["LicenseConsumptionToken"]}
                seen.append((f"AWSLicenseManager.{op}", doc,
                             *_post(lm, f"AWSLicenseManager.{op}", doc)))
        yield seen


def test_every_response_matches_the_model(
        traffic: list[tuple[str, dict[str, Any], int, dict[str, Any]]]) -> None:
    walker = Walker()
    operations, errors = set(), set()
    for target, _, status, answer in traffic:
        prefix, _, operation = target.partition(".")
        op_model = MODELS[prefix].operation_model(operation)
        if status == 200:
            operations.add(operation)
            walker.check(op_model.output_shape, answer, operation)
            continue
        code = answer["__type"]
        errors.add((operation, code))
        modelled = {s.name: s for s in op_model.error_shapes}
        if code not in modelled:
            assert code in COMMON_ERRORS, f"{operation} cannot answer {code}"
            continue
        shape = modelled[code]
        names = {name.lower(): name for name in shape.members}  # ``message`` or ``Message``
        walker.check(shape, {names.get(k.lower(), k): v for k, v in answer.items()
                             if k != "__type"}, f"{operation}!{code}")
    assert walker.problems == [], "\n".join(walker.problems)
    license_shape = MODELS["AWSLicenseManager"].shape_for("License")
    for target, body, status, answer in traffic:  # GetLicense is complete
        if target.endswith(".GetLicense") and status == 200:
            assert answer["License"].keys() == license_shape.members.keys(), body
    served = {target.partition(".")[2] for target in OPERATIONS}
    assert operations == served, "every operation the emulator serves is exercised"
    assert errors == {
        ("CheckoutBorrowLicense", "InvalidParameterValueException"),  # ClientToken reused
        ("CheckoutBorrowLicense", "ValidationException"),
        ("CheckoutBorrowLicense", "EntitlementNotAllowedException"),
        ("CheckoutBorrowLicense", "UnsupportedDigitalSignatureMethodException"),
        ("CheckoutLicense", "NoEntitlementsAllowedException"),
        ("GetLicense", "InvalidParameterValueException"),
        ("ExtendLicenseConsumption", "ResourceNotFoundException"),
        ("ExtendLicenseConsumption", "ValidationException"),  # PERPETUAL
        ("CheckInLicense", "ResourceNotFoundException"),
        ("CheckInLicense", "ValidationException"),  # PERPETUAL
        ("GetPublicKey", "NotFoundException"),
        ("GetPublicKey", "ValidationException"),
        ("GetAccessToken", "AuthorizationException"),
    }
    print(f"model conformance: {len(traffic)} responses, {len(operations)} operations, "
          f"{walker.members} members checked, {len(errors)} distinct errors")


def test_the_walker_catches_drift() -> None:
    """The check itself can fail: an unknown member, a wrong type, an enum, a requirement."""
    shape = MODELS["AWSLicenseManager"].operation_model("GetLicense").output_shape
    walker = Walker()
    walker.check(shape, {"License": {
        "LicenseArn": "arn:aws:license-manager::1:license:l-1", "Colour": "red",
        "Status": "ALIVE", "Validity": {"End": "2026-01-01T00:00:00Z"},
        "Entitlements": [{"Name": "U", "Unit": "Count", "MaxCount": "5"}]}}, "GetLicense")
    assert sorted(walker.problems) == [
        "GetLicense.License.Colour: not a member of License",
        "GetLicense.License.Entitlements[0].MaxCount: not an integer",
        "GetLicense.License.Status: 'ALIVE' not in enum LicenseStatus",
        "GetLicense.License.Validity.Begin: required, missing",
    ]


def test_exemptions_are_still_needed() -> None:
    shape = MODELS["AWSLicenseManager"].shape_for("SignedToken")
    assert shape.metadata["min"] == 4096


def test_validation_constants_are_the_models() -> None:
    lm, kms = MODELS["AWSLicenseManager"], MODELS["TrentService"]
    assert validation.ARN_PATTERN == lm.shape_for("Arn").metadata["pattern"]
    assert validation.ARN_MAX == lm.shape_for("Arn").metadata["max"]
    assert validation.CLIENT_TOKEN_PATTERN == lm.shape_for("ClientToken").metadata["pattern"]
    assert validation.CLIENT_TOKEN_MAX == lm.shape_for("ClientToken").metadata["max"]
    assert validation.CHECKOUT_TYPES == set(lm.shape_for("CheckoutType").enum)
    assert validation.DIGITAL_SIGNATURE_METHODS == set(
        lm.shape_for("DigitalSignatureMethod").enum)
    assert validation.ENTITLEMENT_UNITS == set(lm.shape_for("EntitlementDataUnit").enum)
    assert validation.KEY_ID_MAX == kms.shape_for("KeyIdType").metadata["max"]
    assert validation.GRANT_TOKENS_MAX == kms.shape_for("GrantTokenList").metadata["max"]
