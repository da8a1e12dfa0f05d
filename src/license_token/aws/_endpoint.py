"""Online trust pinned to AWS: where an online-only call may go, and which CAs vouch for it.

An online-only result (a ``CheckoutLicense`` answer without a verified signature, the new
``Expiration`` of an ``ExtendLicenseConsumption``) is believed only because it came from
AWS: TLS to AWS's own regional endpoint, checked against botocore's own CA bundle, for a
SigV4-signed request. The buyer runs the app, and controls its environment and ``~/.aws``,
from which boto3 would otherwise take an endpoint (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_LICENSE_MANAGER``, a profile's ``endpoint_url`` or ``services``
section), a CA bundle (``AWS_CA_BUNDLE``, a profile's ``ca_bundle``), even the endpoint
rules themselves (``AWS_DATA_PATH``, ``~/.aws/models``). So the client for online-only
calls is made with:

- ``endpoint_url`` set to the service's ``https://`` regional endpoint, looked up in the
  endpoint data botocore ships (its partitions: the Region's partition, that partition's
  DNS suffix), never in a configured data path; and botocore's
  ``ignore_configured_endpoint_urls``;
- ``verify=True``: botocore's default CA bundle, whatever the configuration names;
- a ``before-send`` check that refuses any request whose URL is not that endpoint's, so
  that replaced endpoint rules cannot send it elsewhere either.

An endpoint the application passes in code (``endpoint_url=``: tests, the emulator) is used
as given, with the same CA bundle and check; the result then names it instead of claiming
AWS (``trust_basis``).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._errors import InvalidRequest

if TYPE_CHECKING:  # botocore is imported where it is used: importing this module is free
    from botocore.config import Config
    from botocore.regions import EndpointResolver

__all__ = ["aws_endpoint", "guard_endpoint", "pinned_options"]

_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?")
"""botocore's own check of a Region name (``botocore.utils.validate_region_name``)."""
_GUARD_ID = "license-token-pinned-endpoint"


@functools.cache
def _bundled_endpoints() -> EndpointResolver:
    """botocore's endpoint data as botocore ships it: no ``AWS_DATA_PATH``, no ``~/.aws``."""
    from botocore.loaders import Loader
    from botocore.regions import EndpointResolver

    loader = Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH],
                    include_default_search_paths=False)
    return EndpointResolver(loader.load_data("endpoints"), uses_builtin_data=True)


def aws_endpoint(service: str, region: str) -> str:
    """AWS's own ``https://`` regional endpoint of ``service`` in ``region``.

    Args:
        service: The endpoint prefix, e.g. ``license-manager``.
        region: The Region, e.g. ``us-east-1``.

    Returns:
        ``https://<service>.<region>.<the partition's DNS suffix>``.

    Raises:
        InvalidRequest: No AWS partition has that Region, or botocore's data gives the
            service no ``https`` regional endpoint there.
    """
    found = None  # botocore: None for a Region no partition's pattern matches
    if isinstance(region, str) and _REGION.fullmatch(region):
        found = _bundled_endpoints().construct_endpoint(service, region)
    if found is None:
        raise InvalidRequest(f"{service}: no AWS endpoint for Region {region!r}")
    host, suffix = found.get("hostname"), found.get("dnsSuffix")
    if host != f"{service}.{region}.{suffix}" or "https" not in found.get("protocols", ()):
        raise InvalidRequest(f"{service}: botocore's data names no https regional AWS "
                             f"endpoint for Region {region!r} (found {host!r})")
    return f"https://{host}"


def pinned_options(service: str, region: str | None, endpoint_url: str | None,
                   config: Config) -> dict[str, Any]:
    """``session.client`` arguments for a client of online-only calls.

    Args:
        service: The service, e.g. ``license-manager``.
        region: The Region the client is for (the session's when not given in code).
        endpoint_url: The endpoint the application chose in code; AWS's own if ``None``.
        config: The client's configuration (retries, …).

    Returns:
        ``region_name``, ``endpoint_url``, ``verify`` and ``config`` for ``session.client``.

    Raises:
        InvalidRequest: No Region is known, or it has no AWS endpoint.
    """
    from botocore.config import Config

    if endpoint_url is None:
        if not region:
            raise InvalidRequest(f"{service}: no Region is configured (pass region_name): "
                                 "online checks go to AWS's endpoint in that Region")
        endpoint_url = aws_endpoint(service, region)
    return {"region_name": region, "endpoint_url": endpoint_url, "verify": True,
            "config": config.merge(Config(ignore_configured_endpoint_urls=True))}


def guard_endpoint(client: Any) -> Any:
    """Make ``client`` refuse to send a request anywhere but to its own endpoint.

    Args:
        client: A botocore client made with ``pinned_options()``.

    Returns:
        The same client.
    """
    pinned = urlsplit(client.meta.endpoint_url)
    where = f"{pinned.scheme}://{pinned.netloc}"

    def only_to_the_pinned_endpoint(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        if (url.scheme, url.netloc) != (pinned.scheme, pinned.netloc):
            raise InvalidRequest(f"an online-only call may go only to {where}, and this one "
                                 f"would go to {url.scheme}://{url.netloc}: refused (the "
                                 "endpoint rules botocore loaded are not its own)")

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-send.{service}", only_to_the_pinned_endpoint,
                                unique_id=_GUARD_ID)
    return client
