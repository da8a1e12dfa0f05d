"""The thin boto3 adapter: checkout (borrow), extend, check-in, get-license, KMS public key.

Install with ``pip install 'license-token[aws]'``. Every token fetched is verified with
the caller's ``Verifier`` before it is returned; AWS errors become typed ``AwsError``
subclasses carrying the AWS code, request id and whether a retry can help.

The package: ``_manager`` (``LicenseManager``, ``Checkout``), ``_client`` (boto3 clients,
made at the first call), ``_translate`` (the one botocore → error translation), ``_retry``,
``_endpoint`` (the pinned online endpoint), ``_config``, ``_answers``, ``_checkout`` and
``_refused`` (reading and refusing answers), ``_seat`` (giving a seat back), ``_kms``,
``_license`` (``GetLicense``), ``credentials``, ``marketplace`` and ``_keeper``.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from .._errors import (
    AccessDenied,
    AnswerUnreadable,
    AwsError,
    Conflict,
    ConnectionFailed,
    CredentialsExpired,
    CredentialsRejected,
    EntitlementNotAllowed,
    InvalidRequest,
    KeyUnusable,
    NoCredentials,
    NoEntitlementsAllowed,
    Redirect,
    RequestMismatch,
    ResourceNotFound,
    SeatNotReturned,
    ServiceUnavailable,
    Throttled,
    UnsupportedSignatureMethod,
)

if TYPE_CHECKING:  # imported at their first use (``__getattr__``); named for the reference
    from ._license import ConsumptionConfiguration, LicenseDetails, LicenseEntitlement


def _require(*distributions: str) -> None:
    """Fail at import, as importing them would, when boto3 or botocore is not installed
    (they are imported only when a client is made: an app pays for them at its first call)."""
    for name in distributions:
        try:
            if importlib.util.find_spec(name) is not None:
                continue
            missing: Exception = ModuleNotFoundError(f"No module named {name!r}", name=name)
        except (ImportError, ValueError) as exc:  # a finder that refuses the name
            missing = exc
        raise ImportError(f"license_token.aws needs boto3 ({missing}): install "
                          f"license-token[aws]", name=__name__) from missing


_require("boto3", "botocore")

from ._kms import PublicKey, fetch_public_key  # noqa: E402  (after the check: its error is the clear one)
from ._manager import Checkout, LicenseManager  # noqa: E402
from ._seat import GiveBack, Returned, Seat, answer_lost, give_back  # noqa: E402

_LICENSE_DETAILS = frozenset({"ConsumptionConfiguration", "LicenseDetails",
                              "LicenseEntitlement"})
"""``get_license``'s answer types, in ``aws._license``: imported at their first use."""


def __getattr__(name: str) -> Any:
    if name in _LICENSE_DETAILS:
        from . import _license

        return getattr(_license, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AccessDenied",
    "AnswerUnreadable",
    "AwsError",
    "Checkout",
    "Conflict",
    "ConnectionFailed",
    "ConsumptionConfiguration",
    "CredentialsExpired",
    "CredentialsRejected",
    "EntitlementNotAllowed",
    "GiveBack",
    "InvalidRequest",
    "KeyUnusable",
    "LicenseDetails",
    "LicenseEntitlement",
    "LicenseManager",
    "NoCredentials",
    "NoEntitlementsAllowed",
    "PublicKey",
    "Redirect",
    "RequestMismatch",
    "ResourceNotFound",
    "Returned",
    "Seat",
    "SeatNotReturned",
    "ServiceUnavailable",
    "Throttled",
    "UnsupportedSignatureMethod",
    "answer_lost",
    "fetch_public_key",
    "give_back",
]
