"""The one safe recipe: ``Verifier.verify`` checks signature, claims, response and policy.

Fast paths, each beside its full check; ``tests/test_fast_paths.py`` holds each pair equal:

- ``Verifier._verifying_key``: the key that verified last is tried first, with its
  signature length known, for trying every candidate
  (``test_the_kept_key_agrees_with_trying_every_key``).
- ``Verifier.verify``: the default clock read without ``current_time``'s check (it is UTC)
  (``test_the_default_clock_shortcut_agrees_with_an_equal_clock``).
- ``_build``: ``VerifiedLicense`` built field by field, for attrs' ``__init__``
  (``test_a_verified_license_equals_one_built_by_attrs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import attrs

from ._claims import (
    Entitlement,
    LicenseClaims,
    entitlement_named,
    entitlements_by_name,
    slot_setters,
)
from ._clock import Clock, current_time, format_time, utc_now
from ._errors import BadSignature, ConfigurationError
from ._jws import loads_strict, parse_compact, signature_length, verify_ps384
from ._keys import PinnedKey, TrustStore
from ._policy import DEFAULT_LEEWAY, Policy, Requirement
from ._response import Source, check_consistency, read_response

__all__ = ["VerifiedLicense", "Verifier", "verify_allowing_slow_clock"]


@attrs.frozen(kw_only=True, init=False)
class VerifiedLicense:
    """A token that passed every check; built only by ``Verifier.verify()``.

    It has no public constructor: calling ``VerifiedLicense(...)`` raises ``TypeError``, so
    no caller can make one from claims that were never verified.

    Attributes:
        claims: the signed claims (the only ones decisions rest on).
        key: the pinned key that verified the signature.
        header: the token's protected header (read-only).
        token: the compact JWS itself.
        verified_at: the instant the validity window was judged at.
    """

    claims: LicenseClaims
    key: PinnedKey
    header: Mapping[str, Any]
    token: str = attrs.field(repr=False)
    verified_at: datetime
    granted: Mapping[Requirement, Entitlement] = attrs.field(factory=lambda: MappingProxyType({}))
    """The entitlement that met each of the policy's requirements: with a minimum, the largest that
    meets it; without, the first match (any match meets presence)."""

    def __init__(self, **_: object) -> None:
        raise TypeError("a VerifiedLicense is built only by Verifier.verify")

    @classmethod
    def _build(cls, claims: LicenseClaims, key: PinnedKey, header: Mapping[str, Any],
               token: str, verified_at: datetime,
               granted: Mapping[Requirement, Entitlement]) -> VerifiedLicense:
        """The instance ``Verifier.verify`` returns, from fields it has checked (no attrs
        ``__init__``: every field is set through its slot, see ``slot_setters``)."""
        verified = _new(cls)
        _set_claims(verified, claims)
        _set_key(verified, key)
        _set_header(verified, header)
        _set_token(verified, token)
        _set_verified_at(verified, verified_at)
        _set_granted(verified, granted)
        return verified

    def entitlement(self, name: str, unit: str | None = None) -> Entitlement:
        """The entitlement ``name`` (with ``unit``, if given) the app should read.

        The one the policy's requirements chose for that name (and unit), if they chose
        exactly one; otherwise the only entitlement that matches. A requirement chooses by
        its minimum, or by being met by one entitlement only: presence met by several is no
        choice, and then the name is as ambiguous as without the requirement.

        Args:
            name: the entitlement's name, e.g. ``"Users"``.
            unit: its unit, e.g. ``"Count"``; any unit when ``None``.

        Returns:
            The entitlement.

        Raises:
            EntitlementMissing: no entitlement matches.
            EntitlementAmbiguous: several differ and no requirement chose one of them.
        """
        return entitlement_named(self.claims.entitlements_allowed, name, unit,
                                 chosen=self._choices())

    def _choices(self) -> list[Entitlement]:
        """The entitlements the policy's requirements chose (not merely the first match)."""
        return [e for r, e in self.granted.items() if self._chose(r)]

    def _chose(self, requirement: Requirement) -> bool:
        """Whether ``requirement`` picked its entitlement rather than took the first match."""
        if requirement.at_least is not None:
            return True
        return len({e for e in self.claims.entitlements_allowed if requirement.matches(e)}) == 1

    @property
    def entitlements(self) -> Mapping[str, Entitlement]:
        """Entitlements by name, as ``entitlement()`` resolves a name alone.

        A name the token repeats is left out unless a requirement chose one of them: the
        map never guesses which of several is meant.
        """
        return entitlements_by_name(self.claims.entitlements_allowed, chosen=self._choices())

    @property
    def license_arn(self) -> str:
        """The signed ``licenseArn``."""
        return self.claims.license_arn

    @property
    def node_id(self) -> str | None:
        """The signed ``nodeId``, or ``None`` for a token bound to no node."""
        return self.claims.node_id

    @property
    def issued_at(self) -> datetime:
        """The signed ``issuedAt`` (aware, UTC)."""
        return self.claims.issued_at

    @property
    def expires_at(self) -> datetime:
        """The signed ``expiration`` (aware, UTC)."""
        return self.claims.expiration

    @property
    def clock_behind(self) -> timedelta | None:
        """How far the clock read behind the signed ``issuedAt`` when verified, else ``None``.

        A signed ``issuedAt`` is a past instant of the service's clock, so a positive value
        proves this machine's clock slow by at least that much (exactly that much, give or
        take a second, for a token fetched just now): tell the user to set the clock.
        """
        behind = self.claims.issued_at - self.verified_at
        return behind if behind > timedelta(0) else None

    @property
    def consumption_token(self) -> str | None:
        """The signed ``licenseConsumptionToken`` (for extend and check-in), if any."""
        return self.claims.consumption_token

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary: the signed claims and how they were verified.

        Returns:
            ``{"claims", "key_fingerprint_sha256", "key_id", "verified_at"}``.
        """
        return {
            "claims": self.claims.to_json(),
            "key_fingerprint_sha256": self.key.fingerprint,
            "key_id": self.key.kid,
            "verified_at": format_time(self.verified_at),
        }


_new = object.__new__
_now, _UTC = datetime.now, timezone.utc
_set_claims, _set_key, _set_header, _set_token, _set_verified_at, _set_granted = slot_setters(
    VerifiedLicense, "claims", "key", "header", "token", "verified_at", "granted")
_build = VerifiedLicense._build


class Verifier:
    """Verifies checkout tokens against pinned keys and a policy, offline.

    One ``verify()`` call checks the signature and the claims together; there is no way to
    skip either. Build one verifier at startup and reuse it (it remembers which key verified
    last). Each pin left at ``None`` is a check **not made**: without ``node_id`` a response
    copied from another machine verifies here too.

    Example:
        ```python
        keys = TrustStore.from_file("issuer-public-key.pem")
        verifier = Verifier(keys, node_id="node-7f3a", require=["Users:Count=5"])
        lic = verifier.verify(saved_response)
        ```

    Args:
        keys: the pinned keys; the only ones a token may be signed with.
        license_arn: the license the token must be for; ``None`` skips the check.
        node_id: the node the token must be bound to; ``None`` skips the check.
        require: entitlements the token must grant, as ``Requirement`` values or their
            text form (``"Users:Count=5"``); empty skips the check.
        leeway: clock skew allowed on ``issuedAt`` and ``expiration`` (default 60 s).
        clock: returns the current time (aware) when ``verify`` is given no ``now``; the
            system clock in UTC by default.

    Raises:
        ConfigurationError: ``keys`` is not a ``TrustStore``, or a requirement or the leeway
            is invalid.

    Attributes:
        keys: the pinned keys.
        policy: the ``Policy`` built from the pins, requirements and leeway.
        clock: the clock consulted when ``verify`` is given no ``now``.
    """

    __slots__ = ("_last_key", "clock", "keys", "policy")
    DEFAULT_CLOCK = staticmethod(utc_now)

    def __init__(
        self,
        keys: TrustStore,
        *,
        license_arn: str | None = None,
        node_id: str | None = None,
        require: Iterable[Requirement | str] = (),
        leeway: timedelta | float = DEFAULT_LEEWAY,
        clock: Clock = utc_now,
    ) -> None:
        if not isinstance(keys, TrustStore):
            raise ConfigurationError("keys must be a TrustStore")
        self.keys = keys
        self.policy = Policy(
            license_arn=license_arn,
            node_id=node_id,
            requirements=tuple(r if isinstance(r, Requirement) else Requirement.parse(r)
                               for r in require),
            leeway=leeway,
        )
        self.clock = clock
        # A hint only: the key that verified last, with its signature length.
        self._last_key: tuple[PinnedKey, int] | None = None

    def __repr__(self) -> str:
        return f"Verifier(keys={len(self.keys)}, policy={self.policy!r})"

    def verify(self, source: Source, *, now: datetime | None = None) -> VerifiedLicense:
        """Verify a checkout response or bare token: signature, claims, response and policy.

        Args:
            source: a boto3 response dict, the same as JSON text or bytes (API body, AWS CLI
                output), or the bare ``SignedToken``.
            now: the instant to judge expiry at (aware); the verifier's clock by default.

        Returns:
            The verified license.

        Raises:
            InvalidLicense: the input was rejected; the subclass and its ``code`` say why
                (``malformed``, ``bad_signature``, ``expired``, ``node_mismatch``, …).
            ConfigurationError: ``now`` (or the clock's reading) is not timezone-aware.
        """
        clock = self.clock  # the default clock needs no check of its reading: it is UTC
        moment = _now(_UTC) if now is None and clock is utc_now else current_time(clock, now)
        return self._verified(source, moment, None)

    def _verified(self, source: Source, moment: datetime,
                  clock_behind: timedelta | None) -> VerifiedLicense:
        """``verify()`` at ``moment``; ``clock_behind`` as for ``Policy._check``."""
        response = read_response(source)
        jws = parse_compact(response.token)
        kid = jws.header.get("kid")  # a str or absent: parse_compact checked the header
        key = self._verifying_key(kid, jws.signing_input, jws.signature)
        payload = loads_strict(jws.payload, "payload")
        claims = LicenseClaims._from_payload(payload)
        check_consistency(response.unsigned, claims, payload)
        granted = self.policy._check(claims, moment, clock_behind)
        return _build(claims, key, jws.header, response.token, moment, granted)

    def _verifying_key(self, kid: str | None, signing_input: bytes, signature: bytes) -> PinnedKey:
        """The pinned key that verifies; the one that verified last is tried first."""
        last, tried = self._last_key, None
        if last is not None:
            key, length = last
            if kid is None or key.kid == kid:
                if verify_ps384(key.public_key, signing_input, signature, length):
                    return key
                tried = key
        for key in self.keys.candidates(kid):
            if key is not tried and verify_ps384(key.public_key, signing_input, signature):
                self._last_key = (key, signature_length(key.public_key))
                return key
        raise BadSignature(f"no pinned key ({len(self.keys)} tried) verifies the PS384 signature"
                           + self._length_hint(len(signature)))

    def _length_hint(self, length: int) -> str:
        """Why no key could verify a signature of ``length`` bytes, when its size says so."""
        sizes = sorted({signature_length(key.public_key) for key in self.keys})
        if length in sizes:
            return ""
        needed = " or ".join(str(size) for size in sizes)
        return (f": the signature is {length} bytes, the pinned keys' signatures are {needed} "
                "(a truncated token, or one signed by another key)")


def verify_allowing_slow_clock(verifier: Verifier, source: Source, *, now: datetime | None,
                               tolerance: timedelta) -> VerifiedLicense:
    """``Verifier.verify()``, with a token's ``issuedAt`` allowed ahead of ``now`` by up to
    ``tolerance`` (a slow clock); expiry is judged exactly as ``verify`` judges it.

    For the lifecycle only (the store, the startup's fetch): it keeps a clock mark, so a
    clock that reads behind trusted time by more than ``tolerance`` is refused there anyway
    (``docs/explanation/trusted-time.md`` says why the not-before side may be this lenient).
    Plain ``Verifier.verify`` keeps ``issuedAt − leeway ≤ now``.

    Args:
        verifier: the app's verifier.
        source: as for ``Verifier.verify()``.
        now: a clock reading (aware), or ``None`` for the verifier's clock.
        tolerance: how far ``issuedAt`` may be ahead of ``now``.

    Returns:
        The verified license (``clock_behind`` says how slow the clock is).

    Raises:
        ClockBehind: ``issuedAt`` is ahead of ``now`` by more than ``tolerance`` (and the
            leeway).
        InvalidLicense: any other check failed, as for ``Verifier.verify()``.
        ConfigurationError: ``now`` is not timezone-aware.
    """
    return verifier._verified(source, current_time(verifier.clock, now), tolerance)
