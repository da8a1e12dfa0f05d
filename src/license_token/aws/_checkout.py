"""What a checkout answer must be: the request answered, and a refused seat accounted for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .._errors import RequestMismatch
from .._verify import VerifiedLicense

__all__ = ["check_answers"]


def _at_least(granted: str | None, asked: str | None) -> bool:
    if asked is None:
        return True
    try:
        return Decimal(granted or "") >= Decimal(asked)
    except InvalidOperation:
        return granted == asked


def check_answers(lic: VerifiedLicense, *, license_arn: str, node_id: str | None,
                  entitlements: Sequence[Mapping[str, Any]]) -> None:
    """The signed claims answer the request: its license, its node (when one was given),
    and every entitlement asked, with the same unit and at least the value asked.

    Raises:
        RequestMismatch: they do not.
    """
    wrong = []
    if lic.license_arn != license_arn:
        wrong.append(f"license {lic.license_arn} instead of {license_arn}")
    if node_id is not None and lic.node_id != node_id:
        wrong.append(f"node {lic.node_id!r} instead of {node_id!r}")
    for asked in entitlements:
        name, unit, value = asked.get("Name"), asked.get("Unit"), asked.get("Value")
        if not any(e.name == name and e.unit == unit and _at_least(e.value, value)
                   for e in lic.claims.entitlements):
            at_least = f" of at least {value}" if value is not None else ""
            wrong.append(f"entitlement {name} ({unit}){at_least} not granted")
    if wrong:
        raise RequestMismatch("the token does not answer the request: " + "; ".join(wrong))
