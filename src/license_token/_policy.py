"""The decision: validity window, license and node pins, required entitlements.

Fast paths, beside their full checks (``tests/test_fast_paths.py``,
``test_the_policy_agrees_with_its_documented_rules``): ``Requirement._check`` matches
inline, for ``Requirement.matches``; ``Policy._check`` maps one requirement without a
comprehension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

import attrs

from ._claims import ENTITLEMENT_UNITS, NUMBER, Entitlement, LicenseClaims
from ._clock import format_time
from ._errors import (
    ClockBehind,
    ConfigurationError,
    EntitlementInsufficient,
    EntitlementMissing,
    Expired,
    LicenseMismatch,
    Malformed,
    NodeMismatch,
    NotYetValid,
)

__all__ = ["DEFAULT_LEEWAY", "MAX_LEEWAY", "Policy", "Requirement", "split_entitlement_spec"]

DEFAULT_LEEWAY = timedelta(seconds=60)
MAX_LEEWAY = timedelta(days=366)
"""Largest leeway accepted: clock skew, not a way to keep an expired token alive for years."""


def _to_minimum(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, (float, bool)) or not isinstance(value, (Decimal, int, str)):
        raise ConfigurationError("at_least must be an int, a Decimal or a numeric string")
    if isinstance(value, str):
        match = NUMBER.fullmatch(value)
        if match is None:
            raise ConfigurationError(f"at_least {value!r} is not a number: ASCII digits with "
                                     "an optional '.' fraction")
        return Decimal(match[1])
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ConfigurationError(f"at_least {value!r} is not a finite number of at least 0")
    return number


def _check_unit(_: object, __: attrs.Attribute[str | None], unit: str | None) -> None:
    if unit is not None and unit not in ENTITLEMENT_UNITS:
        raise ConfigurationError(
            f"unit {unit!r} is not an EntitlementUnit (e.g. Count, None, Seconds, Count/Second)"
        )


def _check_name(_: object, __: attrs.Attribute[str], name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError("an entitlement name must be a non-empty string")


def split_entitlement_spec(spec: str) -> tuple[str, str | None, str | None]:
    """Split ``NAME[:UNIT][=VALUE]`` at its last ``=`` and the last ``:`` before it.

    The one parser of this notation, shared by ``Requirement.parse()`` and the CLI's
    ``checkout-borrow --entitlement``; a name may itself contain ``:`` (``urn:x:Users:Count``).

    Args:
        spec: the text, e.g. ``"Users:Count=5"``.

    Returns:
        ``(name, unit, value)``; ``unit`` and ``value`` are ``None`` when absent.

    Raises:
        ConfigurationError: ``spec`` is not a string, or its name is empty.
    """
    if not isinstance(spec, str):
        raise ConfigurationError(f"an entitlement is written NAME[:UNIT][=VALUE], not {spec!r}")
    rest, has_value, value = spec.rpartition("=") if "=" in spec else (spec, "", "")
    name, has_unit, unit = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not name:
        raise ConfigurationError(f"{spec!r}: an entitlement name must not be empty")
    return name, unit if has_unit else None, value if has_value else None


@attrs.frozen(cache_hash=True)  # a key of VerifiedLicense.granted, hashed at every verify
class Requirement:
    """An entitlement the app needs: present by ``name``, optionally with a ``unit`` and a minimum.

    An entitlement of the token matches when its name (and unit, if given) are equal; with
    ``at_least``, its value must also be a number ≥ ``at_least``.

    Example:
        ```python
        Requirement("Users", unit="Count", at_least=5) == Requirement.parse("Users:Count=5")
        # -> True
        ```

    Attributes:
        name: the entitlement's name (non-empty).
        unit: an ``EntitlementUnit`` the entitlement must have, or ``None`` for any.
        at_least: the least numeric value accepted (an int, a ``Decimal`` or a numeric string
            when built; stored as a ``Decimal``), or ``None`` for presence only.

    Raises:
        ConfigurationError: an empty name, an unknown unit, or a minimum that is not a finite
            number ≥ 0 (floats are refused: write ``"1.5"`` or ``Decimal("1.5")``).
    """

    name: str = attrs.field(validator=_check_name)
    unit: str | None = attrs.field(default=None, kw_only=True, validator=_check_unit)
    at_least: Decimal | None = attrs.field(default=None, kw_only=True, converter=_to_minimum)

    @classmethod
    def parse(cls, spec: str) -> Requirement:
        """Read ``NAME``, ``NAME:UNIT`` or ``NAME:UNIT=MIN`` (also ``NAME=MIN``), as the CLI takes.

        Args:
            spec: the text; split by ``split_entitlement_spec()``.

        Returns:
            The requirement.

        Raises:
            ConfigurationError: ``spec`` is not a string or describes no valid requirement.
        """
        if not isinstance(spec, str):
            raise ConfigurationError(f"a requirement is a Requirement or a string, not {spec!r}")
        name, unit, minimum = split_entitlement_spec(spec)
        return cls(name, unit=unit, at_least=minimum)

    def __str__(self) -> str:
        unit = f":{self.unit}" if self.unit else ""
        return f"{self.name}{unit}" + (f"={self.at_least}" if self.at_least is not None else "")

    def matches(self, entitlement: Entitlement) -> bool:
        """Whether ``entitlement`` has this name (and this unit, when one is required).

        Args:
            entitlement: a signed entitlement.

        Returns:
            ``True`` when name and unit match.
        """
        return entitlement.name == self.name and (self.unit is None
                                                  or entitlement.unit == self.unit)

    def _check(self, claims: LicenseClaims) -> Entitlement:
        """The entitlement that meets this requirement.

        The first match when no minimum is asked, else the match with the largest number
        at least ``at_least``.

        Args:
            claims: verified claims.

        Returns:
            The entitlement that was checked.

        Raises:
            EntitlementMissing: no entitlement has this name (and unit).
            EntitlementInsufficient: none of those is a number at least ``at_least``.
        """
        name, unit, at_least = self.name, self.unit, self.at_least
        found, best, best_number = False, None, None
        for entitlement in claims.entitlements_allowed:  # self.matches(entitlement), inline
            if entitlement.name == name and (unit is None or entitlement.unit == unit):
                if at_least is None:
                    return entitlement
                number = entitlement.number
                if number is not None and number >= at_least and (
                        best_number is None or number > best_number):
                    best, best_number = entitlement, number
                found = True
        if best is not None:
            return best
        if not found:
            raise EntitlementMissing(f"no entitlement {self}")
        granted = ", ".join(repr(e.value) for e in claims.entitlements_allowed
                            if e.name == self.name)
        raise EntitlementInsufficient(f"entitlement {self} not met: granted {granted}")


def _to_leeway(value: timedelta | float) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ConfigurationError(f"leeway must be a timedelta or seconds, not {value!r}")
    try:
        leeway = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except (OverflowError, ValueError) as exc:
        raise ConfigurationError(f"leeway {value!r} is out of range") from exc
    if leeway < timedelta(0):
        raise ConfigurationError("leeway must not be negative")
    if leeway > MAX_LEEWAY:
        raise ConfigurationError(f"leeway {leeway} is more than {MAX_LEEWAY.days} days")
    return leeway


def _check_pin(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    """A pin is ``None`` (not checked) or a non-empty string: ``""`` would match nothing."""
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{attribute.name} must be a non-empty string or None, "
                                 f"not {value!r}")


def _requirement_tuple(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(requirements)


@attrs.frozen(kw_only=True)
class Policy:
    """What a token with a good signature must also satisfy; ``check`` raises on the first failure.

    A pin left at ``None`` (or no requirements) is a check not made.

    Attributes:
        license_arn: the license the token must be for, or ``None`` (not checked).
        node_id: the node the token must be bound to, or ``None`` (not checked).
        requirements: the entitlements the token must grant.
        leeway: clock skew allowed on ``issuedAt`` and ``expiration`` (a ``timedelta``; seconds
            are converted).

    Raises:
        ConfigurationError: a leeway that is negative, out of range or not a number.
    """

    license_arn: str | None = attrs.field(default=None, validator=_check_pin)
    node_id: str | None = attrs.field(default=None, validator=_check_pin)
    requirements: tuple[Requirement, ...] = attrs.field(default=(), converter=_requirement_tuple)
    leeway: timedelta = attrs.field(default=DEFAULT_LEEWAY, converter=_to_leeway)

    def _check(self, claims: LicenseClaims, now: datetime,
               clock_behind: timedelta | None = None) -> Mapping[Requirement, Entitlement]:
        """Check the validity window, then the pins, then each requirement.

        An ``issuedAt`` or ``expiration`` that a ``datetime`` cannot hold once the leeway is
        applied (``9999-12-31T23:59:59`` with any leeway) is ``Malformed``.

        Args:
            claims: claims whose signature has been verified.
            now: the instant to judge expiry at (aware).
            clock_behind: ``issuedAt`` may be ahead of ``now`` by up to this much (never
                less than the leeway), and beyond it the error is ``ClockBehind``. Only the
                store and the startup pass it (their rollback tolerance): they hold
                trusted-time evidence; see ``docs/explanation/trusted-time.md``.

        Returns:
            The entitlement each requirement chose.

        Raises:
            Malformed: the validity window cannot be represented.
            NotYetValid: ``now`` is before ``issuedAt − leeway`` (``ClockBehind`` with
                ``clock_behind``, before ``issuedAt − clock_behind``).
            Expired: ``now`` is at or after ``expiration + leeway``.
            LicenseMismatch: the token is for another license.
            NodeMismatch: the token is bound to another node, or to none.
            EntitlementMissing: a required entitlement is absent.
            EntitlementInsufficient: a required entitlement's value is below the minimum.
        """
        slack = self.leeway if clock_behind is None else max(self.leeway, clock_behind)
        try:
            not_before, not_after = claims.issued_at - slack, claims.expiration + self.leeway
        except OverflowError:
            raise Malformed(f"claims: a validity window {slack} wider than issuedAt "
                            f"{format_time(claims.issued_at)} .. expiration "
                            f"{format_time(claims.expiration)} cannot be represented") from None
        if now < not_before:
            raise _not_yet_valid(claims.issued_at, now, slack, lenient=clock_behind is not None)
        if now >= not_after:
            raise Expired(f"expired at {format_time(claims.expiration)}, now is {format_time(now)}")
        if self.license_arn is not None and claims.license_arn != self.license_arn:
            raise LicenseMismatch(f"token is for {claims.license_arn!r}, not {self.license_arn!r}")
        if self.node_id is not None and claims.node_id != self.node_id:
            bound = "no node" if claims.node_id is None else repr(claims.node_id)
            raise NodeMismatch(f"token is bound to {bound}, not {self.node_id!r}")
        requirements = self.requirements
        if not requirements:
            return _NONE_GRANTED
        if len(requirements) == 1:  # the usual case, without a comprehension's frame
            return MappingProxyType({requirements[0]: requirements[0]._check(claims)})
        return MappingProxyType({r: r._check(claims) for r in requirements})


def _not_yet_valid(issued_at: datetime, now: datetime, slack: timedelta, *,
                   lenient: bool) -> NotYetValid:
    """The error for a clock that reads ``issued_at - now`` behind a signed ``issuedAt``."""
    behind = issued_at - now
    shown = behind - timedelta(microseconds=behind.microseconds)  # whole seconds
    if lenient:
        error: NotYetValid = ClockBehind(
            f"this machine's clock reads {shown} behind the signed issue time "
            f"{format_time(issued_at)}, more than the store's tolerance {slack}: set the "
            f"clock right; now is {format_time(now)}")
    else:
        error = NotYetValid(f"issued at {format_time(issued_at)}: the clock reads {shown} "
                            f"behind it (leeway {slack}), now is {format_time(now)}")
    error.behind = behind
    return error


_NONE_GRANTED: Mapping[Requirement, Entitlement] = MappingProxyType({})
