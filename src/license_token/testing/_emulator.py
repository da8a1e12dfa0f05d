"""``LocalLicenseManager``: License Manager and KMS ``GetPublicKey`` on 127.0.0.1.

Speaks the AWS JSON 1.1 protocol over real HTTP, so an unmodified boto3 client with
``endpoint_url=lm.endpoint_url`` talks to it. It validates requests as the service model
does and keeps seats, TTLs, ``PERPETUAL`` drawdowns, license versions and client-token
idempotency as the service does (``_lm_api`` names the source of each behaviour), and can
inject throttling, any error, 500s, latency and dropped connections. It does not emulate
authentication (any credentials are accepted, SigV4 is not checked) nor Regions (one
emulator is one Region; ``redirect()`` makes it send ``RedirectException``).
Standard library only.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import attrs

from ._factory import TokenFactory
from ._faults import FaultInjection
from ._http import ServiceError, handler_for
from ._licenses import Consumption, EmulatedLicense, SeatPeaks
from ._lm_api import OPERATIONS
from ._loopback import LoopbackServer
from ._sts import CreatedToken, IdentityService

__all__ = ["EmulatedLicense", "LocalLicenseManager", "ServiceError"]

MARKETPLACE_ACCOUNT = "294406891311"


class LocalLicenseManager(LoopbackServer, FaultInjection):
    """The emulator. Use as a context manager, or ``start()``/``stop()``.

    ```python
    with LocalLicenseManager() as lm:
        arn = lm.add_license(entitlements={"Users": ("Count", 5)}).arn
        client = lm.client("license-manager")   # a real boto3 client
    ```

    Args:
        clock: The service's clock (UTC); the real one by default.
        region: The Region this emulator plays.
        key_bits: The size of the RSA keys ``create_key()`` makes.
        max_workers: Connections served at once; more are closed unanswered.
        read_timeout: Seconds a connection may stay silent before it is closed.
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None, region: str = "us-east-1",
                 key_bits: int = 2048, max_workers: int = 32,
                 read_timeout: float = 10.0) -> None:
        LoopbackServer.__init__(self, name="emulator", region=region,
                                max_workers=max_workers, read_timeout=read_timeout)
        FaultInjection.__init__(self)
        self.clock = clock or (lambda: datetime.now(timezone.utc).replace(microsecond=0))
        """The service's clock (UTC)."""
        self.started_at = self.clock()
        """When the emulator was made, by its clock."""
        self._key_bits = key_bits
        self._keys: dict[str, TokenFactory] = {}
        self.disabled_keys: set[str] = set()
        """KMS keys that ``disable_key`` disabled."""
        self.licenses: dict[str, EmulatedLicense] = {}
        """The licenses, by ARN (their current versions)."""
        self.license_versions: dict[tuple[str, str], EmulatedLicense] = {}
        """Earlier versions of the licenses, by ``(arn, version)``."""
        self.redirects: dict[str, str] = {}
        """License ARNs this Region redirects, to the Region named."""
        self.consumptions: dict[str, Consumption] = {}
        """Every checkout, by consumption token (checked in and expired ones too)."""
        self.client_tokens: dict[str, tuple[str, str]] = {}
        """``ClientToken`` -> (the request it came with, the consumption token)."""
        self._peaks = SeatPeaks()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        """Every request received, in order: ``(operation, parsed body)``; faults included."""
        self.identity: IdentityService = IdentityService(lambda: self.clock(), region=region)
        """License Manager ``CreateToken``/``GetAccessToken``, STS
        ``AssumeRoleWithWebIdentity`` and the credentials issued: set its
        ``require_issued_credentials`` to refuse callers that did not exchange a token, read
        its ``signers``; ``delete_token(token_id)`` and ``expire_credentials()`` play what the
        customer's administrator and the clock do."""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The AWS JSON 1.1 (and STS query) handler serving this emulator."""
        return handler_for(self, self._read_timeout)

    # -- seeding ----------------------------------------------------------------------
    def create_key(self, *, bits: int | None = None) -> str:
        """Create a signing key, as KMS would hold it.

        Args:
            bits: the RSA modulus size; the emulator's ``key_bits`` by default.

        Returns:
            The key's ARN.
        """
        key_id = f"arn:aws:kms:{self.region}:123456789012:key/{uuid.uuid4()}"
        self._keys[key_id] = TokenFactory.with_key_size(bits or self._key_bits)
        return key_id

    def key(self, key_arn: str) -> TokenFactory:
        """The signer behind a key created by ``create_key()``.

        Args:
            key_arn: the key's ARN.

        Returns:
            Its ``TokenFactory`` (to mint tokens the service would not).
        """
        return self._keys[key_arn]

    def key_arns(self) -> list[str]:
        """The ARNs of every key created, in creation order."""
        return list(self._keys)

    def disable_key(self, key_arn: str) -> None:
        """KMS ``DisableKey``: ``GetPublicKey`` then answers ``DisabledException``.

        Args:
            key_arn: the key's ARN.
        """
        self.disabled_keys.add(key_arn)

    def add_license(self, *, entitlements: Mapping[str, tuple[str, int | None]],
                    key_id: str | None = None, product_sku: str | None = None,
                    **settings: Any) -> EmulatedLicense:
        """Seed a license.

        Args:
            entitlements: name to ``(unit, max count)``; a max count of ``None`` is unlimited.
            key_id: the signing key (from ``create_key()``); a new one by default.
            product_sku: the SKU; a random one by default.
            **settings: other ``EmulatedLicense`` fields (TTLs, status, validity, …).

        Returns:
            The license; its ``arn`` and ``key_id`` are what tests need.
        """
        key_id = key_id or self.create_key()
        arn = f"arn:aws:license-manager::123456789012:license:l-{uuid.uuid4().hex}"
        settings.setdefault("home_region", self.region)
        settings.setdefault("created_at", self.clock())
        lic = EmulatedLicense(arn=arn, product_sku=product_sku or uuid.uuid4().hex,
                              issuer=self._keys[key_id], key_id=key_id,
                              entitlements=dict(entitlements), **settings)
        with self._lock:
            self.licenses[arn] = lic
        return lic

    def update_license(self, license_arn: str, **changes: Any) -> EmulatedLicense:
        """License Manager ``CreateLicenseVersion``: a new version; the old stays readable.

        Args:
            license_arn: the license.
            **changes: ``EmulatedLicense`` fields to change.

        Returns:
            The new version.
        """
        with self._lock:
            old = self.licenses[license_arn]
            self.license_versions[(license_arn, old.version)] = old
            new = attrs.evolve(old, version=str(int(old.version) + 1), **changes)
            self.licenses[license_arn] = new
            for consumption in self.consumptions.values():
                if consumption.license is old:
                    consumption.license = new
            return new

    def redirect(self, license_arn: str, region: str) -> None:
        """Answer calls about ``license_arn`` with ``RedirectException`` naming ``region``.

        Args:
            license_arn: the license.
            region: the Region the exception names.
        """
        with self._lock:
            self.redirects[license_arn] = region

    def add_marketplace_license(self, *, entitlements: Mapping[str, tuple[str, int | None]],
                                product_sku: str | None = None,
                                **settings: Any) -> EmulatedLicense:
        """Seed a license as AWS Marketplace issues it.

        Its tokens are signed with a key in AWS's account, which the vendor cannot fetch
        (``GetPublicKey`` answers ``NotFoundException``; ``public_key_pem()`` raises
        ``KeyError``).

        Args:
            entitlements: name to ``(unit, max count)``; a max count of ``None`` is unlimited.
            product_sku: the SKU; a random one by default.
            **settings: other ``EmulatedLicense`` fields.

        Returns:
            The license.
        """
        key_id = f"arn:aws:kms:{self.region}:{MARKETPLACE_ACCOUNT}:key/{uuid.uuid4()}"
        self._keys[key_id] = TokenFactory.with_key_size(self._key_bits)
        try:
            return self.add_license(entitlements=entitlements, key_id=key_id,
                                    product_sku=product_sku, issuer_name="AWS/Marketplace",
                                    account=MARKETPLACE_ACCOUNT, **settings)
        finally:
            del self._keys[key_id]

    def create_token(self, license_arn: str, *, role_arns: Sequence[str] = (),
                     expiration_in_days: int = 365) -> CreatedToken:
        """``CreateToken``, as the customer's license administrator calls it.

        Args:
            license_arn: the license the token is for.
            role_arns: the roles the token may assume.
            expiration_in_days: the token's lifetime.

        Returns:
            The token and its ID.
        """
        with self._lock:
            return self.identity.create_token(license_arn, role_arns=tuple(role_arns),
                                              expiration_in_days=expiration_in_days)

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes,
                     target: str) -> None:
        """Check the SigV4 credentials of a License Manager call (the HTTP handler's).

        Args:
            method: the HTTP method.
            path: the request path.
            headers: the request headers.
            body: the raw body.
            target: the ``X-Amz-Target`` header.

        Raises:
            ServiceError: the credentials are unknown, expired or the signature is wrong.
        """
        service, _, operation = target.rpartition(".")
        if service == "AWSLicenseManager":
            with self._lock:
                self.identity.authenticate(method, path, headers, body, operation=operation)

    def handle_query(self, body: bytes) -> tuple[int, bytes]:
        """Serve one STS request over the query protocol (the HTTP handler's).

        Args:
            body: the form-encoded body.

        Returns:
            The HTTP status and the XML answer.
        """
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        with self._lock:
            self.requests.append((action, {"size": len(body)}))
            return self.identity.handle_query(body)

    def public_key_pem(self, key_id: str) -> bytes:
        """The PEM public key of a key created by ``create_key()``: what an app pins.

        Args:
            key_id: the key's ARN.

        Returns:
            The PEM bytes.
        """
        return self._keys[key_id].public_key_pem()

    # -- inspection -------------------------------------------------------------------
    def seats_in_use(self, license_arn: str) -> defaultdict[str, Decimal]:
        """The amounts held by live consumptions of a license, by entitlement name.

        Args:
            license_arn: the license.

        Returns:
            Entitlement name to the amount held (0 for names not held).
        """
        now = self.clock()
        used: defaultdict[str, Decimal] = defaultdict(Decimal)
        with self._lock:
            for c in self.consumptions.values():
                if c.license.arn == license_arn and c.live_at(now):
                    for name, held in c.amounts.items():
                        used[name] += held
        return used

    def seats_by_node(self, license_arn: str) -> Counter[str | None]:
        """Count the live consumptions (neither checked in nor expired) of a license, per node.

        Args:
            license_arn: the license.

        Returns:
            Node ID (``None`` for unbound checkouts) to the number of live consumptions.
        """
        now = self.clock()
        with self._lock:
            return Counter(c.node_id for c in self.consumptions.values()
                           if c.license.arn == license_arn and c.live_at(now))

    def calls(self, operation: str) -> int:
        """Count the requests received for ``operation``, faults included.

        Args:
            operation: e.g. ``"CheckoutBorrowLicense"``.

        Returns:
            The number of requests.
        """
        return sum(1 for op, _ in self.requests if op == operation)

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """Serve one request (the HTTP handler's entry point).

        Args:
            target: the ``X-Amz-Target`` header, e.g. ``AWSLicenseManager.CheckInLicense``.
            body: the parsed JSON body.

        Returns:
            The JSON answer.

        Raises:
            ServiceError: the AWS error to answer with.
            ConnectionAbortedError: a dropped call (``drop()``).
        """
        operation = target.rpartition(".")[2]
        with self._lock:
            self.requests.append((operation, body))
            self.raise_planned_fault(operation)
        handler = OPERATIONS.get(target)
        if handler is None:
            raise ServiceError("UnknownOperationException", f"unknown operation {target}")
        with self._lock:
            answer = handler(self, self.changed_request(operation, body))
            self._peaks.note(self.consumptions, answer.get("LicenseConsumptionToken"),
                             self.clock())
            return self.changed_answer(operation, answer)

    def peak_seats_by_node(self, license_arn: str) -> Counter[str | None]:
        """The most live consumptions each node held at once, after any call so far.

        ``seats_by_node`` says what is held now; this says whether a node ever held two
        (the check a fault test makes: between two calls of one start, too).

        Args:
            license_arn: the license.

        Returns:
            Node ID (``None`` for unbound checkouts) to the highest count seen.
        """
        with self._lock:
            return self._peaks.by_node(license_arn)
