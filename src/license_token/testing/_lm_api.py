"""The emulated operations: one function per AWS operation, in the ``OPERATIONS`` table.

Each behaviour names its source: the service model (botocore's License Manager
2018-08-01 and KMS 2014-11-01) or the AWS API reference ("LM API" below) or, where
neither says, the choice made here.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._factory import aws_time, response_for
from ._http import ServiceError
from ._licenses import Consumption, EmulatedLicense
from ._validation import (
    CHECKOUT_TYPES,
    DIGITAL_SIGNATURE_METHODS,
    GRANT_TOKENS_MAX,
    KEY_ID_MAX,
    Request,
    amount,
)

if TYPE_CHECKING:
    from ._emulator import LocalLicenseManager

__all__ = ["OPERATIONS", "Operation"]

Operation = Callable[["LocalLicenseManager", Mapping[str, Any]], dict[str, Any]]

_PSS_384 = "RSASSA_PSS_SHA_384"


def _model_time(moment: datetime) -> str:
    """Shape ``ISO8601DateTime``: UTC with ``Z``."""
    return aws_time(moment) + "Z"


def _license(lm: LocalLicenseManager, arn: str, *, missing: str) -> EmulatedLicense:
    region = lm.redirects.get(arn)
    if region is not None:  # model: RedirectException{Location, Message}
        raise ServiceError("RedirectException", "This is not the correct Region for the "
                           "resource. Try again.",
                           Location=f"https://license-manager.{region}.amazonaws.com")
    lic = lm.licenses.get(arn)
    if lic is None:
        raise ServiceError(missing, f"License {arn} not found")
    return lic


def _replay(lm: LocalLicenseManager, operation: str, body: Mapping[str, Any],
            client_token: str) -> tuple[dict[str, Any] | None, str]:
    """The earlier answer to this ``ClientToken``, while its consumption holds seats.

    Reuse with other parameters is refused with ``InvalidParameterValueException``: the
    model has no idempotency-mismatch error (EC2's ``IdempotentParameterMismatch``), and
    that is the error it lists for "a parameter value is not valid". Once the consumption
    is checked in or expired, the token is free again.
    """
    request = json.dumps([operation, {k: v for k, v in body.items() if k != "ClientToken"}],
                         sort_keys=True)
    earlier = lm.client_tokens.get(client_token)
    if earlier is not None:
        earlier_request, consumption_token = earlier
        consumption = lm.consumptions.get(consumption_token)
        if consumption is not None and consumption.live_at(lm.clock()):
            if earlier_request != request:
                raise ServiceError("InvalidParameterValueException", "ClientToken "
                                   f"{client_token!r} was used with other parameters")
            return consumption.response, request
        del lm.client_tokens[client_token]
    return None, request


def _fits(lic: EmulatedLicense, used: Mapping[str, Decimal], item: Mapping[str, str]) -> bool:
    """LM API ``Entitlement.MaxCount``: the bound for every unit but ``None``."""
    maximum = lic.entitlements[item["Name"]][1]
    return maximum is None or used[item["Name"]] + amount(item) <= maximum


def _has(lic: EmulatedLicense, item: Mapping[str, str]) -> bool:
    known = lic.entitlements.get(item["Name"])
    return known is not None and known[0] == item["Unit"]


def _issue(lm: LocalLicenseManager, lic: EmulatedLicense, granted: Sequence[dict[str, str]],
           *, node_id: str | None, borrowed: bool, perpetual: bool,
           metadata: Sequence[Mapping[str, str]], client_token: str,
           request: str) -> dict[str, Any]:
    now = lm.clock()
    ttl = lic.borrow_ttl_minutes if borrowed else lic.provisional_ttl_minutes
    # A PERPETUAL drawdown never expires (LM API CheckoutType); its token still carries an
    # expiration, the validity of the signed statement.
    expiration = now + timedelta(minutes=ttl)
    token = uuid.uuid4().hex
    entitlements = [{"Name": g["Name"], "Unit": g["Unit"], "Value": g.get("Value", "1")}
                    for g in granted]
    claims: dict[str, Any] = {
        "licenseArn": lic.arn, "licenseConsumptionToken": token,
        "entitlementsAllowed": [{"name": e["Name"], "value": e["Value"], "unit": e["Unit"]}
                                for e in entitlements],
        "nodeId": node_id, "issuedAt": aws_time(now), "expiration": aws_time(expiration),
    }
    named = [m for m in metadata if "Name" in m and "Value" in m]
    if named:
        claims["checkoutMetadata"] = {m["Name"]: m["Value"] for m in named}
    claims = {k: v for k, v in claims.items() if v is not None}
    response = response_for(lic.issuer.token(claims), claims)
    del response["ResponseMetadata"]
    # The claims spell times as AWS's sample token does (no zone); the response members
    # are the model's ISO8601DateTime, whose pattern requires a zone.
    response |= {"IssuedAt": _model_time(now), "Expiration": _model_time(expiration)}
    amounts: defaultdict[str, Decimal] = defaultdict(Decimal)
    for item in granted:
        if item["Unit"] != "None":
            amounts[item["Name"]] += amount(item)
    lm.consumptions[token] = Consumption(
        token=token, license=lic, entitlements=entitlements, amounts=dict(amounts),
        node_id=node_id, borrowed=borrowed, expiration=None if perpetual else expiration,
        response=response)
    lm.client_tokens[client_token] = (request, token)
    return response


def checkout_borrow(lm: LocalLicenseManager, body: Mapping[str, Any]) -> dict[str, Any]:
    """``CheckoutBorrowLicense``: all or nothing (LM API: every entitlement is granted)."""
    req = Request(body)
    arn = req.arn("LicenseArn")
    wanted = req.entitlements()
    method = req.required("DigitalSignatureMethod")
    node_id, metadata, client_token = req.string("NodeId"), req.metadata(), req.client_token()
    if method not in DIGITAL_SIGNATURE_METHODS:
        raise ServiceError("UnsupportedDigitalSignatureMethodException",
                           f"Digital signature method {method} is not supported")
    lic = _license(lm, arn, missing="ResourceNotFoundException")
    earlier, request = _replay(lm, "CheckoutBorrowLicense", body, client_token)
    if earlier is not None:
        return earlier
    used = lm.seats_in_use(lic.arn)
    for item in wanted:
        if not _has(lic, item):
            raise ServiceError("EntitlementNotAllowedException",
                               f"Entitlement {item['Name']} ({item['Unit']}) is not allowed")
        if not lic.usable_at(lm.clock()) or not _fits(lic, used, item):
            raise ServiceError("NoEntitlementsAllowedException",
                               f"No entitlements are allowed for {item['Name']}")
        used[item["Name"]] += amount(item)
    return _issue(lm, lic, wanted, node_id=node_id, borrowed=True, perpetual=False,
                  metadata=metadata, client_token=client_token, request=request)


def checkout(lm: LocalLicenseManager, body: Mapping[str, Any]) -> dict[str, Any]:
    """``CheckoutLicense``: the subset of the entitlements the license can grant now.

    LM API: "you can check out a subset of the entitlements"; AWS Marketplace tiers work
    this way (ask for every tier, get the one bought). ``NoEntitlementsAllowedException``
    only when none is granted.
    """
    req = Request(body)
    sku = req.required("ProductSKU")
    checkout_type = req.required("CheckoutType", enum=CHECKOUT_TYPES)
    fingerprint = req.required("KeyFingerprint")
    wanted = req.entitlements()
    client_token, node_id = req.client_token(), req.string("NodeId")
    req.string("Beneficiary")
    matches = [lic for lic in lm.licenses.values()
               if lic.product_sku == sku and lic.key_fingerprint == fingerprint]
    if not matches:
        raise ServiceError("ResourceNotFoundException", f"No license for SKU {sku}")
    lic = _license(lm, matches[0].arn, missing="ResourceNotFoundException")
    earlier, request = _replay(lm, "CheckoutLicense", body, client_token)
    if earlier is not None:
        return earlier | {"CheckoutType": checkout_type}
    used = lm.seats_in_use(lic.arn)
    granted = []
    for item in wanted:
        if lic.usable_at(lm.clock()) and _has(lic, item) and _fits(lic, used, item):
            used[item["Name"]] += amount(item)
            granted.append(item)
    if not granted:
        raise ServiceError("NoEntitlementsAllowedException",
                           "None of the entitlements asked for is allowed")
    response = _issue(lm, lic, granted, node_id=node_id, borrowed=False,
                      perpetual=checkout_type == "PERPETUAL", metadata=(),
                      client_token=client_token, request=request)
    return response | {"CheckoutType": checkout_type}


def _consumption(lm: LocalLicenseManager, req: Request) -> Consumption:
    token = req.required("LicenseConsumptionToken")
    consumption = lm.consumptions.get(token)
    if consumption is None or not consumption.live_at(lm.clock()):
        # An expired consumption is gone: it holds no seat and cannot be revived.
        raise ServiceError("ResourceNotFoundException", "License consumption not found")
    return consumption


def _expiring(consumption: Consumption, operation: str) -> datetime:
    """The consumption's expiration; a ``PERPETUAL`` one has none and is refused."""
    if consumption.expiration is None:  # LM API CheckoutType: PERPETUAL is a drawdown
        raise ServiceError("ValidationException", f"{operation} is not possible for a "
                           "PERPETUAL checkout")
    return consumption.expiration


def extend(lm: LocalLicenseManager, body: Mapping[str, Any]) -> dict[str, Any]:
    """``ExtendLicenseConsumption``: a live, non-perpetual consumption gets a new TTL."""
    req = Request(body)
    dry_run = req.boolean("DryRun")
    consumption = _consumption(lm, req)
    expiration = _expiring(consumption, "ExtendLicenseConsumption")
    if not dry_run:
        ttl = (consumption.license.borrow_ttl_minutes if consumption.borrowed
               else consumption.license.provisional_ttl_minutes)
        expiration = consumption.expiration = lm.clock() + timedelta(minutes=ttl)
    return {"LicenseConsumptionToken": consumption.token,
            "Expiration": _model_time(expiration)}


def check_in(lm: LocalLicenseManager, body: Mapping[str, Any]) -> dict[str, Any]:
    """``CheckInLicense``: the seats go back; early only where the license allows it."""
    req = Request(body)
    req.string("Beneficiary")
    consumption = _consumption(lm, req)
    _expiring(consumption, "CheckInLicense")
    if consumption.borrowed and not consumption.license.allow_early_check_in:
        raise ServiceError("ConflictException", "Early check-in is not allowed")
    consumption.checked_in = True
    return {}


def _entitlement(name: str, unit: str, maximum: int | None) -> dict[str, Any]:
    # LM API Entitlement: Overage "indicates whether overages are allowed": unlimited.
    limit = {"MaxCount": maximum, "Overage": False} if maximum is not None else {
        "Overage": True}
    return {"Name": name, "Unit": unit, "AllowCheckIn": True} | limit


def get_license(lm: LocalLicenseManager, body: Mapping[str, Any]) -> dict[str, Any]:
    """``GetLicense`` with every member of the model's ``License``; ``Version`` honoured.

    The model lists no ``ResourceNotFoundException`` for ``GetLicense``: an unknown
    license or version is ``InvalidParameterValueException``.
    """
    req = Request(body)
    arn, version = req.arn("LicenseArn"), req.string("Version")
    lic = _license(lm, arn, missing="InvalidParameterValueException")
    if version is not None and version != lic.version:
        old = lm.license_versions.get((arn, version))
        if old is None:
            raise ServiceError("InvalidParameterValueException",
                               f"License {arn} has no version {version}")
        lic = old
    validity = {"Begin": _model_time(lic.valid_from or lic.created_at or lm.started_at)} | (
        {"End": _model_time(lic.valid_until)} if lic.valid_until else {})
    return {"License": {
        "LicenseArn": lic.arn, "LicenseName": lic.name, "ProductName": lic.product_name,
        "ProductSKU": lic.product_sku,
        "Issuer": {"Name": lic.issuer_name, "SignKey": lic.key_id,
                   "KeyFingerprint": lic.key_fingerprint},
        "HomeRegion": lic.home_region, "Status": lic.status, "Validity": validity,
        "Beneficiary": lic.beneficiary,
        "Entitlements": [_entitlement(name, unit, maximum)
                         for name, (unit, maximum) in lic.entitlements.items()],
        "ConsumptionConfiguration": {
            "RenewType": lic.renew_type,
            "ProvisionalConfiguration": {
                "MaxTimeToLiveInMinutes": lic.provisional_ttl_minutes},
            "BorrowConfiguration": {"AllowEarlyCheckIn": lic.allow_early_check_in,
                                    "MaxTimeToLiveInMinutes": lic.borrow_ttl_minutes},
        },
        "LicenseMetadata": [{"Name": k, "Value": v} for k, v in lic.metadata.items()],
        "CreateTime": _model_time(lic.created_at or lm.started_at),
        "Version": lic.version,
    }}


def get_public_key(lm: LocalLicenseManager, body: Mapping[str, Any]) -> dict[str, Any]:
    """KMS ``GetPublicKey``: ``KeyId`` is a key ARN or key id; the answer names the ARN."""
    req = Request(body)
    key_id = req.required("KeyId", min_len=1, max_len=KEY_ID_MAX)
    req.strings("GrantTokens", max_items=GRANT_TOKENS_MAX)
    arn = next((k for k in lm.key_arns() if key_id in (k, k.rpartition("/")[2])), None)
    if arn is None:
        raise ServiceError("NotFoundException", f"Key '{key_id}' does not exist")
    if arn in lm.disabled_keys:
        raise ServiceError("DisabledException", f"{arn} is disabled.")
    issuer = lm.key(arn)
    spec = f"RSA_{issuer.private_key.key_size}"
    return {"KeyId": arn, "PublicKey": base64.b64encode(issuer.public_key_der()).decode(),
            "KeySpec": spec, "CustomerMasterKeySpec": spec, "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": ["RSASSA_PSS_SHA_256", _PSS_384, "RSASSA_PSS_SHA_512",
                                  "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                  "RSASSA_PKCS1_V1_5_SHA_512"]}


OPERATIONS: dict[str, Operation] = {
    "AWSLicenseManager.CheckoutBorrowLicense": checkout_borrow,
    "AWSLicenseManager.CheckoutLicense": checkout,
    "AWSLicenseManager.ExtendLicenseConsumption": extend,
    "AWSLicenseManager.CheckInLicense": check_in,
    "AWSLicenseManager.GetLicense": get_license,
    "TrentService.GetPublicKey": get_public_key,
    "AWSLicenseManager.GetAccessToken": lambda lm, body: lm.identity.get_access_token(body),
}
"""``X-Amz-Target`` -> operation. Other emulated services add their entries here."""
