"""The one safe recipe: ``Verifier.verify`` checks signature, claims, response and policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from ._claims import Entitlement, LicenseClaims, format_time
from ._clock import Clock, current_time, utc_now
from ._errors import BadSignature, ConfigurationError, EntitlementAmbiguous, EntitlementMissing
from ._jws import loads_strict, parse_compact, verify_ps384
from ._keys import PinnedKey, TrustStore
from ._policy import DEFAULT_LEEWAY, Policy, Requirement
from ._response import Source, check_consistency, read_response

__all__ = ["VerifiedLicense", "Verifier"]


@attrs.frozen(kw_only=True)
class VerifiedLicense:
    """A token that passed every check; built only by :meth:`Verifier.verify`."""

    claims: LicenseClaims
    key: PinnedKey
    header: Mapping[str, Any]
    token: str = attrs.field(repr=False)
    verified_at: datetime
    #: The entitlement that met each of the policy's requirements: read these values.
    granted: Mapping[Requirement, Entitlement] = attrs.field(factory=lambda: MappingProxyType({}))

    def entitlement(self, name: str, unit: str | None = None) -> Entitlement:
        """The entitlement ``name`` (with ``unit``, if given) the app should read.

        The one the policy's requirements chose for that name (and unit), if they chose
        exactly one; otherwise the only entitlement that matches.

        Raises:
            EntitlementMissing: no entitlement matches.
            EntitlementAmbiguous: several differ and no requirement chose one of them.
        """
        def fits(entitlement: Entitlement) -> bool:
            return entitlement.name == name and (unit is None or entitlement.unit == unit)

        chosen = list(dict.fromkeys(e for e in self.granted.values() if fits(e)))
        if len(chosen) == 1:
            return chosen[0]
        matches = list(dict.fromkeys(e for e in self.claims.entitlements if fits(e)))
        if len(matches) == 1:
            return matches[0]
        wanted = name if unit is None else f"{name}:{unit}"
        if not matches:
            raise EntitlementMissing(f"no entitlement {wanted}")
        raise EntitlementAmbiguous(
            f"the token grants {len(matches)} entitlements {wanted}: require one "
            "(Requirement with a unit or a minimum) or read claims.entitlements")

    @property
    def entitlements(self) -> Mapping[str, Entitlement]:
        """Entitlements by name, as :meth:`entitlement` resolves a name alone.

        A name the token repeats is left out unless a requirement chose one of them: the
        map never guesses which of several is meant.
        """
        by_name: dict[str, Entitlement] = {}
        for name in dict.fromkeys(e.name for e in self.claims.entitlements):
            try:
                by_name[name] = self.entitlement(name)
            except EntitlementAmbiguous:
                continue
        return MappingProxyType(by_name)

    @property
    def license_arn(self) -> str:
        return self.claims.license_arn

    @property
    def node_id(self) -> str | None:
        return self.claims.node_id

    @property
    def issued_at(self) -> datetime:
        return self.claims.issued_at

    @property
    def expires_at(self) -> datetime:
        return self.claims.expiration

    @property
    def consumption_token(self) -> str | None:
        return self.claims.consumption_token

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary: the signed claims and how they were verified."""
        return {
            "claims": self.claims.to_json(),
            "key_fingerprint_sha256": self.key.fingerprint,
            "key_id": self.key.kid,
            "verified_at": format_time(self.verified_at),
        }


class Verifier:
    """Verifies checkout tokens against pinned keys and a policy, offline.

    ``clock`` (a zero-argument callable returning an aware ``datetime``) is consulted
    when ``verify`` is not given ``now``; it defaults to the system clock in UTC.
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
        self._last_key: PinnedKey | None = None  # a hint only: the key that verified last

    def __repr__(self) -> str:
        return f"Verifier(keys={len(self.keys)}, policy={self.policy!r})"

    def verify(self, source: Source, *, now: datetime | None = None) -> VerifiedLicense:
        """Verify a response (dict, JSON text/bytes) or bare token; raise on any failure."""
        moment = current_time(self.clock, now)
        response = read_response(source)
        jws = parse_compact(response.token)
        key = self._verifying_key(jws.kid, jws.signing_input, jws.signature)
        payload = loads_strict(jws.payload, "payload")
        claims = LicenseClaims.from_payload(payload)
        check_consistency(response.unsigned, claims, payload)
        granted = self.policy.check(claims, moment)
        return VerifiedLicense(
            claims=claims, key=key, header=jws.header, token=response.token,
            verified_at=moment, granted=granted,
        )

    def _verifying_key(self, kid: str | None, signing_input: bytes, signature: bytes) -> PinnedKey:
        """The pinned key that verifies; the one that verified last is tried first."""
        last, tried = self._last_key, None
        if last is not None and (kid is None or last.kid == kid):
            if verify_ps384(last.public_key, signing_input, signature):
                return last
            tried = last
        for key in self.keys.candidates(kid):
            if key is not tried and verify_ps384(key.public_key, signing_input, signature):
                self._last_key = key
                return key
        raise BadSignature(f"no pinned key ({len(self.keys)} tried) verifies the PS384 signature")
