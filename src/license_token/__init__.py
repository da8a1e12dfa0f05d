"""Verify AWS License Manager checkout tokens offline.

The app checks a license out while online, keeps the response, and at every start
proves locally that the token is genuine (PS384, a pinned key), unexpired, bound to
this machine and grants what the app needs::

    keys = TrustStore.from_file("issuer-public-key.pem")
    lic = Verifier(keys, node_id="node-7f3a", require=["Users:Count=5"]).verify(response)
"""

from ._claims import ENTITLEMENT_UNITS, Entitlement, LicenseClaims
from ._errors import (
    BadSignature,
    ClockBehind,
    ClockRollback,
    ConfigurationError,
    EntitlementAmbiguous,
    EntitlementInsufficient,
    EntitlementMissing,
    Expired,
    InvalidLicense,
    KeyRejected,
    LicenseMismatch,
    LicenseTokenError,
    Malformed,
    NodeMismatch,
    NotYetValid,
    ResponseMismatch,
    UnsupportedAlgorithm,
)
from ._keys import PinnedKey, TrustStore
from ._policy import Policy, Requirement
from ._verify import VerifiedLicense, Verifier

__version__ = "0.1.0"

__all__ = [
    "ENTITLEMENT_UNITS",
    "BadSignature",
    "ClockBehind",
    "ClockRollback",
    "ConfigurationError",
    "Entitlement",
    "EntitlementAmbiguous",
    "EntitlementInsufficient",
    "EntitlementMissing",
    "Expired",
    "InvalidLicense",
    "KeyRejected",
    "LicenseClaims",
    "LicenseMismatch",
    "LicenseTokenError",
    "Malformed",
    "NodeMismatch",
    "NotYetValid",
    "PinnedKey",
    "Policy",
    "Requirement",
    "ResponseMismatch",
    "TrustStore",
    "UnsupportedAlgorithm",
    "VerifiedLicense",
    "Verifier",
]
