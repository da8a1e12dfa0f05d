"""Test helpers for vendors' suites: a token factory, a local License Manager emulator,
and pytest fixtures (``license_token_factory``, ``license_manager``).

Importing this package imports nothing from boto3; the emulator is plain stdlib HTTP.
"""

from ._emulator import EmulatedLicense, LocalLicenseManager, ServiceError
from ._factory import DEFAULT_ARN, TokenFactory, response_for
from ._sts import CreatedToken, IdentityService

__all__ = [
    "DEFAULT_ARN",
    "CreatedToken",
    "EmulatedLicense",
    "IdentityService",
    "LocalLicenseManager",
    "ServiceError",
    "TokenFactory",
    "response_for",
]
