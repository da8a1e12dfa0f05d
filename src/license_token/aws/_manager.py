"""``LicenseManager``: the License Manager calls of one app, every token fetched verified.

AWS errors become typed ``AwsError`` subclasses carrying the AWS code, request id and
whether a retry can help. Retries are botocore's own (``standard`` mode by default), taught
License Manager's ``RateLimitExceededException``; one logical checkout keeps one
``ClientToken`` across them and across a followed ``RedirectException``, so a retry never
takes a second seat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import attrs

from .._claims import Entitlement
from .._errors import InvalidLicense, InvalidRequest, LicenseTokenError, Redirect
from .._log import token_repr
from .._policy import Requirement
from .._verify import VerifiedLicense, Verifier, verify_allowing_slow_clock
from ._answers import install_answer_check
from ._checkout import check_answers
from ._client import make_client, new_client_token, translated
from ._config import check_client_options
from ._refused import refused_borrow, refused_provisional
from ._translate import redirect_region

if TYPE_CHECKING:
    from ._license import LicenseDetails
    from .marketplace import OnlineLicense

_License = TypeVar("_License", bound="VerifiedLicense | None")


@attrs.frozen(kw_only=True)
class Checkout(Generic[_License]):
    """A checkout: the verified license, and the raw response to save for offline use.

    ``checkout_borrow()`` returns a ``Checkout[VerifiedLicense]``: its ``license`` is always
    there. ``checkout()`` returns a ``Checkout[VerifiedLicense | None]``: ``None`` for a
    ``CheckoutLicense`` answer without a ``SignedToken`` of a pinned issuer (an online-only
    result).

    Attributes:
        license: the verified license (see above for when it can be ``None``).
        response: the response as boto3 returned it: save it, the store re-verifies it.
        client_token: the ``ClientToken`` the checkout used (retries reuse it).
    """

    license: _License
    response: Mapping[str, Any] = attrs.field(repr=False)  # holds the signed token
    client_token: str = attrs.field(repr=token_repr)


def _entitlement_data(entitlements: Sequence[Entitlement | Mapping[str, str]]) -> list[Any]:
    data = []
    for e in entitlements:
        if isinstance(e, Entitlement):
            item = {"Name": e.name, "Unit": e.unit} | ({"Value": e.value} if e.value else {})
        else:
            item = dict(e)
        data.append(item)
    if not data:
        raise InvalidRequest("at least one entitlement is needed")
    return data


class LicenseManager:
    """License Manager calls for one app; ``verifier`` checks every token fetched.

    Every client it uses, a given one too, gets the retry handler that also retries
    ``RateLimitExceededException`` (see ``aws._retry``), under the client's own
    ``total_max_attempts``. The client is made at the first call that needs it (an app that
    finds nothing due at its start never imports botocore); the options are checked here,
    so a wrong configuration still raises when the manager is made.

    Args:
        verifier: Checks every token fetched before it is returned.
        client: A ready ``license-manager`` client; made from ``client_options`` if not given.
        client_for_region: Makes the client for another Region when the service answers
            ``RedirectException``. By default one is made from ``client_options`` when this
            object made its own client without an ``endpoint_url``; otherwise a redirect is
            raised as ``Redirect``. Online-only calls of a manager pinned to AWS
            follow a redirect to AWS's own endpoint in that Region instead.
        max_backoff: The cap of one retry back-off delay, in seconds.
        pinned_issuers: The ``KeyFingerprint``s of the issuers whose keys ``verifier``
            pins; by default every issuer but AWS Marketplace (see
            ``pins_issuer()``).
        **client_options: For ``make_client()`` (``region_name``, ``profile_name``,
            ``session``, ``endpoint_url``, ``retry_mode``, ``max_attempts``).

    Online-only calls (``CheckoutLicense``, ``ExtendLicenseConsumption``) go over a
    second client, made at the first of them: AWS's own regional ``https`` endpoint and
    botocore's CA bundle, never an endpoint or CA bundle from the environment or
    ``~/.aws`` (see ``aws._endpoint``), unless ``client`` or ``endpoint_url`` is given:
    that choice of the application is then named in each result's ``trust_basis``.

    Raises:
        InvalidRequest: No Region, or a Region, endpoint, retry mode or attempt count
            botocore refuses (see ``aws._config``; what only botocore can tell is raised at
            the first call, before its request).
        NoCredentials: The profile does not exist.
    """

    def __init__(self, verifier: Verifier, *, client: Any = None,
                 client_for_region: Callable[[str], Any] | None = None,
                 max_backoff: float = 20.0, pinned_issuers: Collection[str] | None = None,
                 **client_options: Any) -> None:
        self.verifier = verifier
        self.pinned_issuers = None if pinned_issuers is None else frozenset(pinned_issuers)
        """``KeyFingerprint``s whose keys ``verifier`` pins (see ``marketplace.pins_issuer``)."""
        check_client_options("license-manager", client=client, **client_options)
        self._client_options = client_options
        self._given, self._client = client, None
        self._making = threading.Lock()
        if client_for_region is None and client is None and not client_options.get(
                "endpoint_url"):
            def client_for_region(region: str) -> Any:
                return make_client("license-manager", **(client_options | {
                    "region_name": region}))
        self._client_for_region = client_for_region
        self._max_backoff = max_backoff
        self._regional: dict[tuple[str, Callable[[str], Any]], Any] = {}
        self.chosen_endpoint: str | None = (
            client.meta.endpoint_url if client is not None
            else client_options.get("endpoint_url"))
        """The endpoint this application chose in code for online-only calls; ``None``: AWS's own,
        pinned (see ``aws._endpoint``)."""
        self._online: Any = None  # made (or the given client) at the first online-only call

    def _online_client(self, region: str | None = None) -> Any:
        """A client for online-only calls (``region``: another Region's, for a redirect)."""
        options = self._client_options | ({} if region is None else {"region_name": region})
        return make_client("license-manager", online=True, **options)

    def _online_home(self) -> Any:
        if self._online is None and self._given is not None:
            self._online = self.client  # the given client, with the retry handler
        elif self._online is None:
            from ._retry import install_retries

            self._online = self._online_client()
            install_retries(self._online, max_backoff=self._max_backoff)
            install_answer_check(self._online)
        return self._online

    @property
    def client(self) -> Any:
        """The ``license-manager`` client with the retry handler, ready at the first use.

        The given client, or one made from the options the first time it is needed.

        Raises:
            AwsError: The client cannot be made (the configuration; see ``make_client``).
        """
        with self._making:
            if self._client is None:
                from ._retry import install_retries

                client = make_client("license-manager", client=self._given,
                                     **self._client_options)
                install_retries(client, max_backoff=self._max_backoff)
                install_answer_check(client)
                self._client = client
            return self._client

    def _regional_client(self, region: str, make: Callable[[str], Any]) -> Any:
        if (region, make) not in self._regional:
            from ._retry import install_retries

            with translated():
                regional = make(region)
            install_retries(regional, max_backoff=self._max_backoff)
            install_answer_check(regional)
            self._regional[region, make] = regional
        return self._regional[region, make]

    def _call(self, operation: str, *, online: bool = False, **params: Any) -> Any:
        """One call (``online``: over the online client); a ``RedirectException`` is
        followed once, with the same parameters."""
        params = {k: v for k, v in params.items() if v is not None}
        try:
            with translated():
                client = self._online_home() if online else self.client
                return getattr(client, operation)(**params)
        except Redirect as redirect:
            region, make = redirect_region(redirect.location), self._client_for_region
            if online and self.chosen_endpoint is None:
                make = self._online_client
            if region is None or make is None:
                raise
            client = self._regional_client(region, make)
        with translated():  # a second redirect is raised as is
            return getattr(client, operation)(**params)

    def checkout_borrow(self, license_arn: str,
                        entitlements: Sequence[Entitlement | Mapping[str, str]], *,
                        node_id: str | None = None, metadata: Mapping[str, str] | None = None,
                        client_token: str | None = None,
                        clock_behind_tolerance: timedelta | None = None
                        ) -> Checkout[VerifiedLicense]:
        """``CheckoutBorrowLicense`` with ``JWT_PS384``; the token is verified before returning.

        Args:
            license_arn: the license to borrow from.
            entitlements: what to borrow, as ``Entitlement`` values or
                ``{"Name", "Unit", "Value"}`` mappings.
            node_id: the node to bind the token to (pass the verifier's).
            metadata: ``CheckoutMetadata`` to sign into the token.
            client_token: the idempotency token; a new one by default. Reuse it to retry
                the same logical checkout without taking a second seat.
            clock_behind_tolerance: accept a token whose signed ``issuedAt`` is ahead of
                the local clock by up to this much (the clock is slow; the license's
                ``clock_behind`` says by how much). The startup passes the store's limit
                and lets the store decide; by default the verifier's leeway applies.

        Returns:
            The checkout, with its verified license and the response to save.

        Raises:
            AwsError: the call failed (the subclass and ``code`` say why).
            InvalidLicense: the token fetched does not verify.
        """
        client_token = client_token or new_client_token()
        response = self._call(
            "checkout_borrow_license", LicenseArn=license_arn,
            Entitlements=_entitlement_data(entitlements), DigitalSignatureMethod="JWT_PS384",
            NodeId=node_id, ClientToken=client_token,
            CheckoutMetadata=[{"Name": k, "Value": v} for k, v in (metadata or {}).items()]
            or None,
        )
        request: dict[str, Any] = {"license_arn": license_arn, "node_id": node_id,
                                   "entitlements": _entitlement_data(entitlements)}
        try:
            lic = self.verifier.verify(response) if clock_behind_tolerance is None else (
                verify_allowing_slow_clock(self.verifier, response, now=None,
                                           tolerance=clock_behind_tolerance))
            check_answers(lic.claims, **request)
        except InvalidLicense as exc:
            refused_borrow(response, exc, client_token=client_token, request=request,
                           keys=self.verifier.keys, check_in=self.check_in)
        return Checkout(license=lic, response=response, client_token=client_token)

    def checkout(self, product_sku: str, key_fingerprint: str,
                 entitlements: Sequence[Entitlement | Mapping[str, str]], *,
                 checkout_type: str = "PROVISIONAL", node_id: str | None = None,
                 beneficiary: str | None = None, client_token: str | None = None
                 ) -> Checkout[VerifiedLicense | None]:
        """``CheckoutLicense`` for online apps.

        The service grants the subset of ``entitlements`` the license has (AWS Marketplace
        tiers: ask for every tier, get the one bought): read ``EntitlementsAllowed``, or
        use ``checkout_online()``. A ``SignedToken`` in the answer is verified only when
        the pinned keys belong to its issuer (``pinned_issuers``); otherwise ``license``
        is ``None``.

        Args:
            product_sku: the product's SKU.
            key_fingerprint: the issuer's ``KeyFingerprint`` (Marketplace:
                ``aws:294406891311:AWS/Marketplace:issuer-fingerprint``).
            entitlements: what to check out.
            checkout_type: ``PROVISIONAL`` or ``PERPETUAL``.
            node_id: the node to bind the checkout to.
            beneficiary: the beneficiary, for licenses granted to others.
            client_token: the idempotency token; a new one by default.

        Returns:
            The checkout; its ``license`` is ``None`` when no token was verified.

        Raises:
            AwsError: the call failed.
            InvalidLicense: a token of a pinned issuer does not verify (a ``PROVISIONAL``
                seat it took is checked back in).
        """
        client_token = client_token or new_client_token()
        response = self._call(
            "checkout_license", online=True, ProductSKU=product_sku, CheckoutType=checkout_type,
            KeyFingerprint=key_fingerprint, Entitlements=_entitlement_data(entitlements),
            NodeId=node_id, Beneficiary=beneficiary, ClientToken=client_token,
        )
        from .marketplace import pins_issuer  # the answer's reading: when one comes

        try:
            verified = (self.verifier.verify(response) if response.get("SignedToken")
                        and pins_issuer(key_fingerprint, self.pinned_issuers) else None)
        except LicenseTokenError as exc:
            self._refused_checkout(response, checkout_type, exc, client_token)
        return Checkout(license=verified, response=response, client_token=client_token)

    def _refused_checkout(self, response: Mapping[str, Any], checkout_type: str,
                          reason: LicenseTokenError, client_token: str) -> NoReturn:
        """Raise ``reason`` for a refused ``CheckoutLicense`` answer, a ``PROVISIONAL``
        consumption given back first (a ``PERPETUAL`` drawdown is kept)."""
        if checkout_type != "PROVISIONAL":
            raise reason
        refused_provisional(response, reason, client_token=client_token,
                            keys=self.verifier.keys, check_in=self.check_in)

    def checkout_online(self, product_sku: str, key_fingerprint: str,
                        entitlements: Sequence[Entitlement | Mapping[str, str]], *,
                        require: Iterable[Requirement | str] = (),
                        checkout_type: str = "PROVISIONAL", node_id: str | None = None,
                        beneficiary: str | None = None,
                        client_token: str | None = None) -> OnlineLicense:
        """``CheckoutLicense``, read as an ``OnlineLicense``.

        Args:
            product_sku: The product.
            key_fingerprint: The issuer, e.g. ``MARKETPLACE_KEY_FINGERPRINT``.
            entitlements: What to ask for; for a tiered product, every tier.
            require: What the answer must grant. When it does not, or the answer is
                refused, a ``PROVISIONAL`` consumption is checked in (best effort) before
                the error is raised.
            checkout_type: ``PROVISIONAL`` or ``PERPETUAL`` (drawdown).
            node_id: The node to record.
            beneficiary: The beneficiary to record.
            client_token: Idempotency token; a new one by default.

        Returns:
            The online license (not a ``VerifiedLicense``).

        Raises:
            AwsError: The call failed.
            InvalidLicense: The answer is malformed, a requirement is not met, or a token
                from a pinned issuer failed verification.
        """
        checkout = self.checkout(product_sku, key_fingerprint, entitlements,
                                 checkout_type=checkout_type, node_id=node_id,
                                 beneficiary=beneficiary, client_token=client_token)
        from .marketplace import online_license

        try:
            online = attrs.evolve(online_license(
                checkout.response, product_sku=product_sku, key_fingerprint=key_fingerprint,
                checkout_type=checkout_type, now=self.verifier.clock(),
                endpoint=self.chosen_endpoint), signed=checkout.license)
            online.check(require)  # on the signed claims, when there are some
        except LicenseTokenError as exc:
            self._refused_checkout(checkout.response, checkout_type, exc,
                                   checkout.client_token)
        return online

    def extend(self, consumption_token: str, *, dry_run: bool = False) -> Mapping[str, Any]:
        """``ExtendLicenseConsumption``: push the consumption's expiration out (online client).

        Args:
            consumption_token: the checkout's ``licenseConsumptionToken``.
            dry_run: only check that the call would succeed.

        Returns:
            The response, whose ``Expiration`` is the new one (unsigned).

        Raises:
            AwsError: the call failed.
        """
        response: Mapping[str, Any] = self._call(
            "extend_license_consumption", online=True, LicenseConsumptionToken=consumption_token,
            DryRun=dry_run)
        return response

    def check_in(self, consumption_token: str, *, beneficiary: str | None = None) -> None:
        """``CheckInLicense``: give the seats of a checkout back.

        Args:
            consumption_token: the checkout's ``licenseConsumptionToken``.
            beneficiary: the beneficiary, for licenses granted to others.

        Raises:
            AwsError: the call failed (``Conflict`` when early check-in is not allowed).
        """
        self._call("check_in_license", LicenseConsumptionToken=consumption_token,
                   Beneficiary=beneficiary)

    def get_license(self, license_arn: str, *, version: str | None = None) -> LicenseDetails:
        """``GetLicense``: status, validity, issuer, entitlements and consumption settings.

        Unsigned, so online-only: check a license before borrowing, never decide offline
        from it.

        Args:
            license_arn: The license.
            version: A version of the license; the current one by default.

        Returns:
            The license as typed values.

        Raises:
            AwsError: The call failed.
            Malformed: The answer does not have the model's shape.
        """
        from ._license import LicenseDetails

        response = self._call("get_license", LicenseArn=license_arn, Version=version)
        return LicenseDetails.from_response(response)
