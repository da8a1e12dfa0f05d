"""Request validation as License Manager's and KMS's models define it.

The constants are copies of botocore's service models (License Manager 2018-08-01,
KMS 2014-11-01); ``tests/test_emulator_model.py`` compares them with the models, so a
change upstream fails the suite. Violations answer ``ValidationException`` with the
service's message form ("1 validation error detected: Value ... at ... failed to satisfy
constraint: ...", as AWS's JSON services word it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .._claims import ENTITLEMENT_UNITS
from ._http import ServiceError

__all__ = [
    "ARN_MAX",
    "ARN_PATTERN",
    "CHECKOUT_TYPES",
    "CLIENT_TOKEN_MAX",
    "CLIENT_TOKEN_PATTERN",
    "DIGITAL_SIGNATURE_METHODS",
    "ENTITLEMENT_UNITS",
    "GRANT_TOKENS_MAX",
    "KEY_ID_MAX",
    "Request",
    "amount",
]

ARN_PATTERN = (r"^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:"
               r"[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$")
"""Shape ``Arn``."""
ARN_MAX = 2048
CLIENT_TOKEN_PATTERN = r"\S+"  # noqa: S105 (a pattern, not a secret)
"""Shape ``ClientToken``."""
CLIENT_TOKEN_MAX = 2048
CHECKOUT_TYPES = frozenset({"PROVISIONAL", "PERPETUAL"})
"""Enums ``CheckoutType`` and ``DigitalSignatureMethod``."""
DIGITAL_SIGNATURE_METHODS = frozenset({"JWT_PS384"})
KEY_ID_MAX = 2048
"""KMS shapes ``KeyIdType`` (1..2048) and ``GrantTokenList`` (0..10)."""
GRANT_TOKENS_MAX = 10


def _invalid(member: str, value: object, constraint: str) -> ServiceError:
    shown = repr(value)[:100]
    return ServiceError("ValidationException", f"1 validation error detected: Value {shown} "
                        f"at '{member}' failed to satisfy constraint: {constraint}")


class Request:
    """Typed access to one request body; every getter raises ``ValidationException``."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body

    def string(self, name: str, **constraints: Any) -> str | None:
        """An optional string member; ``constraints`` as for ``required()``."""
        value = self.body.get(name)
        return None if value is None else self._checked(name, value, **constraints)

    def required(self, name: str, **constraints: Any) -> str:
        """A required string member, within ``pattern``, ``min_len``, ``max_len``, ``enum``."""
        value = self.body.get(name)
        if value is None:
            raise _invalid(name, value, "Member must not be null")
        return self._checked(name, value, **constraints)

    @staticmethod
    def _checked(name: str, value: object, *, pattern: str | None = None, min_len: int = 0,
                 max_len: int | None = None, enum: frozenset[str] | None = None) -> str:
        if not isinstance(value, str):
            raise _invalid(name, value, "Member must be a string")
        if len(value) < min_len:
            raise _invalid(name, value, f"Member must have length greater than or equal to "
                           f"{min_len}")
        if max_len is not None and len(value) > max_len:
            raise _invalid(name, value, f"Member must have length less than or equal to "
                           f"{max_len}")
        if pattern is not None and re.search(pattern, value) is None:
            raise _invalid(name, value, f"Member must satisfy regular expression pattern: "
                           f"{pattern}")
        if enum is not None and value not in enum:
            raise _invalid(name, value, f"Member must satisfy enum value set: {sorted(enum)}")
        return value

    def arn(self, name: str) -> str:
        return self.required(name, pattern=ARN_PATTERN, max_len=ARN_MAX)

    def client_token(self) -> str:
        return self.required("ClientToken", pattern=CLIENT_TOKEN_PATTERN,
                             max_len=CLIENT_TOKEN_MAX)

    def boolean(self, name: str) -> bool:
        value = self.body.get(name, False)
        if not isinstance(value, bool):
            raise _invalid(name, value, "Member must be a boolean")
        return value

    def objects(self, name: str, *, required: bool = False,
                max_items: int | None = None) -> list[Request]:
        value = self.body.get(name)
        if value is None:
            if required:
                raise _invalid(name, value, "Member must not be null")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _invalid(name, value, "Member must be a list of structures")
        if max_items is not None and len(value) > max_items:
            raise _invalid(name, value, f"Member must have length less than or equal to "
                           f"{max_items}")
        return [Request(v) for v in value]

    def strings(self, name: str, *, max_items: int) -> list[str]:
        value = self.body.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name, value, "Member must be a list of strings")
        if len(value) > max_items:
            raise _invalid(name, value, f"Member must have length less than or equal to "
                           f"{max_items}")
        return value

    def entitlements(self) -> list[dict[str, str]]:
        """``EntitlementDataList``: ``Name`` and ``Unit`` required, units from the enum,
        values of every unit but ``None`` non-negative numbers (whole for ``Count``)."""
        items = self.objects("Entitlements", required=True)
        if not items:
            raise _invalid("Entitlements", [], "Member must have at least 1 item")
        data = []
        for item in items:
            name = item.required("Name")
            unit = item.required("Unit", enum=ENTITLEMENT_UNITS)
            value = item.string("Value")
            entry = {"Name": name, "Unit": unit} | ({"Value": value} if value is not None
                                                    else {})
            amount(entry)  # validates the value
            data.append(entry)
        return data

    def metadata(self) -> list[dict[str, str]]:
        """``MetadataList``: optional ``Name``/``Value`` strings."""
        pairs = []
        for item in self.objects("CheckoutMetadata"):
            name, value = item.string("Name"), item.string("Value")
            pairs.append({k: v for k, v in (("Name", name), ("Value", value)) if v is not None})
        return pairs


def amount(entitlement: Mapping[str, str]) -> Decimal:
    """How much of a capacity an entitlement asks for; ``None`` units count nothing.

    Raises:
        ServiceError: ``ValidationException`` for a negative, non-numeric or (``Count``)
            fractional value.
    """
    unit, text = entitlement.get("Unit"), entitlement.get("Value")
    if unit == "None":
        return Decimal(0)
    if text is None:
        return Decimal(1)
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    whole = unit != "Count" or number == number.to_integral()
    if not number.is_finite() or number < 0 or not whole:
        kind = "whole number" if unit == "Count" else "number"
        raise _invalid("Entitlements.Value", text, f"Member must be a non-negative {kind}")
    return number

