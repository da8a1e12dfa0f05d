"""The exception hierarchy: one base class, one stable ``code`` per kind of failure."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadSignature",
    "ClockRollback",
    "ConfigurationError",
    "EntitlementAmbiguous",
    "EntitlementInsufficient",
    "EntitlementMissing",
    "Expired",
    "InvalidLicense",
    "KeyRejected",
    "LicenseMismatch",
    "LicenseTokenError",
    "Malformed",
    "NodeMismatch",
    "NotYetValid",
    "ResponseMismatch",
    "UnsupportedAlgorithm",
]


class LicenseTokenError(Exception):
    """Base of every error this library raises; ``code`` is stable and machine-readable."""

    code: ClassVar[str] = "error"


class InvalidLicense(LicenseTokenError):
    """The token or response (untrusted input) was rejected."""

    code = "invalid"


class Malformed(InvalidLicense):
    """Not a well-formed token, response or claim set."""

    code = "malformed"


class UnsupportedAlgorithm(InvalidLicense):
    """The header names an algorithm other than PS384."""

    code = "unsupported_algorithm"


class BadSignature(InvalidLicense):
    """No pinned key verifies the signature."""

    code = "bad_signature"


class Expired(InvalidLicense):
    """``now`` is at or after ``expiration`` + leeway."""

    code = "expired"


class NotYetValid(InvalidLicense):
    """``now`` is before ``issuedAt`` − leeway."""

    code = "not_yet_valid"


class NodeMismatch(InvalidLicense):
    """The token is bound to another node, or to none when one is required."""

    code = "node_mismatch"


class LicenseMismatch(InvalidLicense):
    """The token is for another license ARN than the one pinned."""

    code = "license_mismatch"


class EntitlementMissing(InvalidLicense):
    """No entitlement with the required name (and unit)."""

    code = "entitlement_missing"


class EntitlementInsufficient(InvalidLicense):
    """The entitlement exists but its value is below the required minimum."""

    code = "entitlement_insufficient"


class EntitlementAmbiguous(LicenseTokenError, LookupError):
    """A name (and unit) matches several entitlements and nothing says which one is meant."""

    code = "entitlement_ambiguous"


class ResponseMismatch(InvalidLicense):
    """An unsigned response field disagrees with its signed twin: the response was altered."""

    code = "response_mismatch"


class ClockRollback(InvalidLicense):
    """The clock reads earlier than time already seen: it was probably turned back."""

    code = "clock_rollback"


class ConfigurationError(LicenseTokenError, ValueError):
    """Our side is wrong: a bad key, requirement, leeway or clock value."""

    code = "configuration"


class KeyRejected(ConfigurationError):
    """Key material that is not an RSA public key of at least 2048 bits."""

    code = "key_rejected"


def token_prefix(token: str) -> str:
    """The first characters of a token, enough to tell it apart in a log or a message."""
    return f"{token[:8]}..."
