"""Test helpers for vendors' suites: a token factory, a local License Manager emulator, a
fault-injecting proxy to put between any client and it, and pytest fixtures
(``license_token_factory``, ``license_manager``).

Importing this package imports nothing from boto3; the emulator is plain stdlib HTTP.
"""

from ._emulator import EmulatedLicense, LocalLicenseManager, ServiceError
from ._factory import DEFAULT_ARN, TokenFactory, response_for
from ._proxy import FAULTS, Fault, FaultProxy
from ._sts import CreatedToken, IdentityService

__all__ = [
    "DEFAULT_ARN",
    "FAULTS",
    "CreatedToken",
    "EmulatedLicense",
    "Fault",
    "FaultProxy",
    "IdentityService",
    "LocalLicenseManager",
    "ServiceError",
    "TokenFactory",
    "response_for",
]
