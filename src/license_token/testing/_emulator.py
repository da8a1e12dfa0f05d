"""``LocalLicenseManager``: License Manager and KMS ``GetPublicKey`` on 127.0.0.1.

Speaks the AWS JSON 1.1 protocol over real HTTP, so an unmodified boto3 client with
``endpoint_url=lm.endpoint_url`` talks to it. It keeps seats, borrow TTLs and client-token
idempotency as the service does, and can inject throttling, 500s, latency and dropped
connections. Standard library only.
"""

from __future__ import annotations

import base64
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from typing import Any

import attrs

from ._factory import TokenFactory, aws_time, response_for
from ._http import ServiceError, handler_for

__all__ = ["EmulatedLicense", "LocalLicenseManager", "ServiceError"]

_PSS_384 = "RSASSA_PSS_SHA_384"


@attrs.define
class EmulatedLicense:
    """A seeded license: entitlements with max counts, borrow and provisional settings."""

    arn: str
    product_sku: str
    issuer: TokenFactory
    key_id: str
    entitlements: dict[str, tuple[str, int | None]]  # name -> (unit, max count or None)
    borrow_ttl_minutes: int = 60 * 24
    provisional_ttl_minutes: int = 60
    allow_early_check_in: bool = True
    issuer_name: str = "Vendor"
    account: str = "123456789012"

    @property
    def key_fingerprint(self) -> str:
        return f"aws:{self.account}:{self.issuer_name}:issuer-fingerprint"


@attrs.define
class _Consumption:
    token: str
    license: EmulatedLicense
    entitlements: list[dict[str, str]]
    node_id: str | None
    borrowed: bool
    expiration: datetime
    response: dict[str, Any]
    checked_in: bool = False


@attrs.define
class _Faults:
    throttle: int = 0
    throttle_type: str = "ThrottlingException"
    fail: int = 0
    drop: int = 0
    latency: float = 0.0


class LocalLicenseManager:
    """The emulator. Use as a context manager, or ``start()``/``stop()``.

    >>> with LocalLicenseManager() as lm:
    ...     arn = lm.add_license(entitlements={"Users": ("Count", 5)}).arn
    ...     client = lm.client("license-manager")   # a real boto3 client
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None, region: str = "us-east-1",
                 key_bits: int = 2048) -> None:
        self.region = region
        self.clock = clock or (lambda: datetime.now(timezone.utc).replace(microsecond=0))
        self._key_bits = key_bits
        self._keys: dict[str, TokenFactory] = {}
        self.licenses: dict[str, EmulatedLicense] = {}
        self._consumptions: dict[str, _Consumption] = {}
        self._client_tokens: dict[str, str] = {}
        self._faults = _Faults()
        self._lock = threading.RLock()
        #: Every request received, in order: ``(operation, parsed body)``; faults included.
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> LocalLicenseManager:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="license-manager",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open (keep-alive) connection: the service is gone."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()

    def __enter__(self) -> LocalLicenseManager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def client(self, service: str = "license-manager", **config: Any) -> Any:
        """A real boto3 client for this emulator, with dummy credentials."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id="AKIDEMULATOR", aws_secret_access_key="emulator-secret",  # noqa: S106
            config=Config(**({"retries": {"mode": "standard", "total_max_attempts": 5}} | config)),
        )

    # -- seeding ----------------------------------------------------------------------
    def create_key(self, *, bits: int | None = None) -> str:
        """A new asymmetric signing key (as KMS would hold); returns its key ARN."""
        key_id = f"arn:aws:kms:{self.region}:123456789012:key/{uuid.uuid4()}"
        self._keys[key_id] = TokenFactory.with_key_size(bits or self._key_bits)
        return key_id

    def add_license(self, *, entitlements: Mapping[str, tuple[str, int | None]],
                    key_id: str | None = None, product_sku: str | None = None,
                    **settings: Any) -> EmulatedLicense:
        """Seed a license; ``entitlements`` maps name to ``(unit, max count or None)``."""
        key_id = key_id or self.create_key()
        arn = f"arn:aws:license-manager::123456789012:license:l-{uuid.uuid4().hex}"
        lic = EmulatedLicense(arn=arn, product_sku=product_sku or uuid.uuid4().hex,
                              issuer=self._keys[key_id], key_id=key_id,
                              entitlements=dict(entitlements), **settings)
        with self._lock:
            self.licenses[arn] = lic
        return lic

    def public_key_pem(self, key_id: str) -> bytes:
        return self._keys[key_id].public_key_pem()

    # -- fault injection --------------------------------------------------------------
    def throttle(self, count: int, error_type: str = "ThrottlingException") -> None:
        """Answer the next ``count`` calls with a throttling error."""
        with self._lock:
            self._faults.throttle, self._faults.throttle_type = count, error_type

    def fail(self, count: int) -> None:
        """Answer the next ``count`` calls with HTTP 500 ``ServerInternalException``."""
        with self._lock:
            self._faults.fail = count

    def drop(self, count: int) -> None:
        """Close the connection without answering the next ``count`` calls."""
        with self._lock:
            self._faults.drop = count

    def delay(self, seconds: float) -> None:
        """Add latency to every call from now on."""
        with self._lock:
            self._faults.latency = seconds

    @property
    def latency(self) -> float:
        return self._faults.latency

    def track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # -- inspection -------------------------------------------------------------------
    def seats_in_use(self, license_arn: str) -> Counter[str]:
        now = self.clock()
        with self._lock:
            used: Counter[str] = Counter()
            for c in self._consumptions.values():
                if c.license.arn == license_arn and not c.checked_in and c.expiration > now:
                    used.update({e["Name"]: _count(e) for e in c.entitlements})
            return used

    def calls(self, operation: str) -> int:
        return sum(1 for op, _ in self.requests if op == operation)

    # -- dispatch ---------------------------------------------------------------------
    def _fault(self) -> str | None:
        with self._lock:
            faults = self._faults
            if faults.drop:
                faults.drop -= 1
                return "drop"
            if faults.throttle:
                faults.throttle -= 1
                return "throttle"
            if faults.fail:
                faults.fail -= 1
                return "fail"
        return None

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        operation = target.rpartition(".")[2]
        with self._lock:
            self.requests.append((operation, body))
        action = self._fault()
        if action == "throttle":
            raise ServiceError(self._faults.throttle_type, "Rate exceeded", 400)
        if action == "fail":
            raise ServiceError("ServerInternalException", "Internal failure", 500)
        if action == "drop":
            raise ConnectionAbortedError
        handler = _OPERATIONS.get(target)
        if handler is None:
            raise ServiceError("UnknownOperationException", f"unknown operation {target}")
        with self._lock:
            return handler(self, body)

    # -- operations -------------------------------------------------------------------
    def _license(self, arn: object) -> EmulatedLicense:
        lic = self.licenses.get(arn) if isinstance(arn, str) else None
        if lic is None:
            raise ServiceError("ResourceNotFoundException", f"License {arn} not found")
        return lic

    def _grant(self, lic: EmulatedLicense, wanted: object, *, partial_error: str,
               node_id: str | None, borrowed: bool, client_token: str,
               metadata: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
        if client_token in self._client_tokens:
            return self._consumptions[self._client_tokens[client_token]].response
        if not isinstance(wanted, list) or not wanted:
            raise ServiceError("ValidationException", "Entitlements must be a non-empty list")
        used = self.seats_in_use(lic.arn)
        granted = []
        for item in wanted:
            if not isinstance(item, dict):
                raise ServiceError("ValidationException", "Entitlements must hold objects")
            name, unit = item.get("Name"), item.get("Unit")
            if name not in lic.entitlements or lic.entitlements[name][0] != unit:
                raise ServiceError(partial_error, f"Entitlement {name} ({unit}) is not allowed")
            maximum = lic.entitlements[name][1]
            if maximum is not None and used[name] + _count(item) > maximum:
                raise ServiceError("NoEntitlementsAllowedException",
                                   f"Entitlement {name}: maximum count {maximum} reached")
            granted.append({"Name": name, "Unit": unit, "Value": item.get("Value", "1")})
        now = self.clock()
        ttl = lic.borrow_ttl_minutes if borrowed else lic.provisional_ttl_minutes
        expiration = now + timedelta(minutes=ttl)
        token = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "licenseArn": lic.arn, "licenseConsumptionToken": token,
            "entitlementsAllowed": [{"name": g["Name"], "value": g["Value"], "unit": g["Unit"]}
                                    for g in granted],
            "nodeId": node_id, "issuedAt": aws_time(now), "expiration": aws_time(expiration),
        }
        if metadata:
            claims["checkoutMetadata"] = {m["Name"]: m["Value"] for m in metadata}
        claims = {k: v for k, v in claims.items() if v is not None}
        response = response_for(lic.issuer.token(claims), claims)
        del response["ResponseMetadata"]
        self._consumptions[token] = _Consumption(token, lic, granted, node_id, borrowed,
                                                 expiration, response)
        self._client_tokens[client_token] = token
        return response

    def checkout_borrow(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("DigitalSignatureMethod") != "JWT_PS384":
            raise ServiceError("UnsupportedDigitalSignatureMethodException",
                               "Only JWT_PS384 is supported")
        client_token = _required(body, "ClientToken")
        return self._grant(self._license(body.get("LicenseArn")), body.get("Entitlements"),
                           partial_error="EntitlementNotAllowedException",
                           node_id=body.get("NodeId"), borrowed=True, client_token=client_token,
                           metadata=body.get("CheckoutMetadata") or ())

    def checkout(self, body: dict[str, Any]) -> dict[str, Any]:
        sku, fingerprint = _required(body, "ProductSKU"), _required(body, "KeyFingerprint")
        if body.get("CheckoutType") not in ("PROVISIONAL", "PERPETUAL"):
            raise ServiceError("ValidationException", "CheckoutType must be PROVISIONAL or "
                               "PERPETUAL")
        matches = [lic for lic in self.licenses.values()
                   if lic.product_sku == sku and lic.key_fingerprint == fingerprint]
        if not matches:
            raise ServiceError("ResourceNotFoundException", f"No license for SKU {sku}")
        response = self._grant(matches[0], body.get("Entitlements"),
                               partial_error="NoEntitlementsAllowedException",
                               node_id=body.get("NodeId"), borrowed=False,
                               client_token=_required(body, "ClientToken"))
        return response | {"CheckoutType": body["CheckoutType"]}

    def _consumption(self, body: dict[str, Any]) -> _Consumption:
        token = _required(body, "LicenseConsumptionToken")
        consumption = self._consumptions.get(token)
        if consumption is None or consumption.checked_in:
            raise ServiceError("ResourceNotFoundException", "License consumption not found")
        return consumption

    def extend(self, body: dict[str, Any]) -> dict[str, Any]:
        consumption = self._consumption(body)
        if not body.get("DryRun"):
            ttl = (consumption.license.borrow_ttl_minutes if consumption.borrowed
                   else consumption.license.provisional_ttl_minutes)
            consumption.expiration = self.clock() + timedelta(minutes=ttl)
        return {"LicenseConsumptionToken": consumption.token,
                "Expiration": aws_time(consumption.expiration)}

    def check_in(self, body: dict[str, Any]) -> dict[str, Any]:
        consumption = self._consumption(body)
        if consumption.borrowed and not consumption.license.allow_early_check_in:
            if self.clock() < consumption.expiration:
                raise ServiceError("ConflictException", "Early check-in is not allowed")
        consumption.checked_in = True
        return {}

    def get_license(self, body: dict[str, Any]) -> dict[str, Any]:
        lic = self._license(body.get("LicenseArn"))
        return {"License": {
            "LicenseArn": lic.arn, "ProductSKU": lic.product_sku, "Status": "AVAILABLE",
            "HomeRegion": self.region, "Version": "1",
            "Issuer": {"Name": lic.issuer_name, "SignKey": lic.key_id,
                       "KeyFingerprint": lic.key_fingerprint},
            "Entitlements": [
                {"Name": name, "Unit": unit, "AllowCheckIn": True,
                 **({"MaxCount": maximum} if maximum is not None else {"Overage": False})}
                for name, (unit, maximum) in lic.entitlements.items()
            ],
            "ConsumptionConfiguration": {
                "BorrowConfiguration": {"AllowEarlyCheckIn": lic.allow_early_check_in,
                                        "MaxTimeToLiveInMinutes": lic.borrow_ttl_minutes},
                "ProvisionalConfiguration": {
                    "MaxTimeToLiveInMinutes": lic.provisional_ttl_minutes},
            },
        }}

    def get_public_key(self, body: dict[str, Any]) -> dict[str, Any]:
        key_id = _required(body, "KeyId")
        issuer = self._keys.get(key_id)
        if issuer is None:
            raise ServiceError("NotFoundException", f"Key '{key_id}' does not exist")
        spec = f"RSA_{issuer.private_key.key_size}"
        return {"KeyId": key_id, "PublicKey": base64.b64encode(issuer.public_key_der()).decode(),
                "KeySpec": spec, "CustomerMasterKeySpec": spec, "KeyUsage": "SIGN_VERIFY",
                "SigningAlgorithms": ["RSASSA_PSS_SHA_256", _PSS_384, "RSASSA_PSS_SHA_512",
                                      "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                      "RSASSA_PKCS1_V1_5_SHA_512"]}


_OPERATIONS: dict[str, Callable[[LocalLicenseManager, dict[str, Any]], dict[str, Any]]] = {
    "AWSLicenseManager.CheckoutBorrowLicense": LocalLicenseManager.checkout_borrow,
    "AWSLicenseManager.CheckoutLicense": LocalLicenseManager.checkout,
    "AWSLicenseManager.ExtendLicenseConsumption": LocalLicenseManager.extend,
    "AWSLicenseManager.CheckInLicense": LocalLicenseManager.check_in,
    "AWSLicenseManager.GetLicense": LocalLicenseManager.get_license,
    "TrentService.GetPublicKey": LocalLicenseManager.get_public_key,
}


def _count(entitlement: Mapping[str, Any]) -> int:
    if entitlement.get("Unit") != "Count":
        return 1 if entitlement.get("Unit") == "None" else 0
    try:
        return max(int(entitlement.get("Value", "1")), 0)
    except ValueError:
        raise ServiceError("ValidationException", "Count values must be integers") from None


def _required(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ServiceError("ValidationException", f"{name} is required")
    return value
