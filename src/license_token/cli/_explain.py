"""Every check's outcome, for people and scripts: what the CLI shows beside a result.

This module describes; it never decides. Whether a token is accepted is
``Verifier.verify()``'s answer alone, and the CLI's exit code and ``license`` rest on
it. After a rejection the token is examined again, check by check, so that a support
case sees which check failed, which passed and which were not made, and the signed
license (ARN, node, validity, grants). Claims are shown as the license only when the
signature verified with a pinned key; otherwise they are shown under an ``UNVERIFIED``
label, never as checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._claims import Entitlement, LicenseClaims
from .._clock import format_time
from .._errors import InvalidLicense, LicenseTokenError
from .._jws import loads_strict, parse_compact, verify_ps384
from .._keys import TrustStore
from .._policy import Policy, Requirement
from .._response import Source, check_consistency, read_response
from .._verify import VerifiedLicense

__all__ = ["CHECKS", "FAILED", "NOT_CHECKED", "OK", "Findings", "Row", "examine", "grant"]

OK, FAILED, NOT_CHECKED = "ok", "failed", "not_checked"
"""How a check ended: made and passed, made and failed, or not made."""
CHECKS = ("signature", "unsigned_fields", "validity", "license_arn", "node", "entitlements")
"""The checks of the JSON ``checks`` object, in the order they are made."""
_SHOWN = {OK: "ok", FAILED: "FAILED", NOT_CHECKED: "NOT CHECKED"}
_CHECK_OF = {
    "bad_signature": "signature", "unsupported_algorithm": "signature",
    "response_mismatch": "unsigned_fields", "expired": "validity",
    "not_yet_valid": "validity", "clock_rollback": "validity", "clock_behind": "validity",
    "license_mismatch": "license_arn", "node_mismatch": "node",
    "entitlement_missing": "entitlements", "entitlement_insufficient": "entitlements",
}
"""The check each rejection code belongs to (codes not listed fail no check of their own)."""


@attrs.frozen
class Row:
    """One line of the table: which check, its label, how it ended, and why."""

    check: str
    label: str
    outcome: str
    detail: str


@attrs.frozen(kw_only=True)
class Findings:
    """What the examination found.

    Attributes:
        rows: one row per check made or not made.
        grants: the signed entitlements (empty unless the signature verified).
        token: the JSON ``token``: the claims with ``signature_verified``, or ``None``.
        unverified: the decoded claims when the signature did NOT verify, else ``None``.
    """

    rows: tuple[Row, ...]
    grants: tuple[Entitlement, ...] = ()
    token: dict[str, Any] | None = None
    unverified: Mapping[str, Any] | None = None

    def checks(self) -> dict[str, str]:
        """Each check's outcome: ``failed`` if a row of it failed, else ``ok`` if one
        passed, else ``not_checked``."""
        outcomes: dict[str, str] = {}
        for check in CHECKS:
            ends = {row.outcome for row in self.rows if row.check == check}
            outcomes[check] = FAILED if FAILED in ends else OK if OK in ends else NOT_CHECKED
        return outcomes

    def table_rows(self) -> list[tuple[str, str, str]]:
        """The rows for people: checks, then grants, then any UNVERIFIED claims."""
        rows = [(r.label, _SHOWN[r.outcome], r.detail) for r in self.rows]
        rows += [("grants", "", f"{e.name}: {grant(e)}") for e in self.grants]
        if self.unverified is not None:
            rows.append(("UNVERIFIED", "", "claims below are NOT checked: the signature did "
                                           "not verify, do not trust them"))
            rows += [("UNVERIFIED", "", f"{name}: {json.dumps(value, sort_keys=True)}")
                     for name, value in self.unverified.items()]
        return rows


def grant(entitlement: Entitlement) -> str:
    """``10 Count``, ``Enabled`` (unit ``None``), or ``(no value)``."""
    value = "(no value)" if entitlement.value is None else entitlement.value
    return value if entitlement.unit == "None" else f"{value} {entitlement.unit}"


def examine(source: Source | None, keys: TrustStore, policy: Policy, now: datetime,
            outcome: VerifiedLicense | LicenseTokenError) -> Findings:
    """Every check of ``source`` under ``policy`` at ``now``, beside ``outcome``.

    Args:
        source: what was verified (response or bare token); ``None`` when it could not
            be told which (then only the rejection's own check is shown).
        keys: the pinned keys.
        policy: the policy it was verified under.
        now: the instant it was judged at.
        outcome: ``Verifier.verify()``'s answer; a rejection's check is always shown
            failed.

    Returns:
        The findings.
    """
    findings = (Findings(rows=()) if source is None
                else _examine(source, keys, policy, now, outcome))
    if isinstance(outcome, LicenseTokenError) and all(r.outcome != FAILED
                                                      for r in findings.rows):
        check = _CHECK_OF.get(outcome.code, "")
        failed = Row(check, outcome.code.replace("_", " "), FAILED, str(outcome))
        findings = attrs.evolve(findings, rows=(*findings.rows, failed))
    return findings


def _examine(source: Source, keys: TrustStore, policy: Policy, now: datetime,
             outcome: VerifiedLicense | LicenseTokenError) -> Findings:
    try:
        response = read_response(source)
        jws = parse_compact(response.token)
    except InvalidLicense as exc:
        return Findings(rows=(Row("signature", "signature PS384", FAILED, str(exc)),
                              *_not_checked("the token could not be read")))
    payload: Any = None
    try:
        payload = loads_strict(jws.payload, "payload")
    except InvalidLicense as exc:
        payload_error: InvalidLicense | None = exc
    else:
        payload_error = None
    key = outcome.key if isinstance(outcome, VerifiedLicense) else next(
        (k for k in keys.candidates(jws.header.get("kid"))
         if verify_ps384(k.public_key, jws.signing_input, jws.signature)), None)
    if key is None:
        why = str(outcome) if isinstance(outcome, InvalidLicense) else "no pinned key verifies"
        shown = payload if isinstance(payload, dict) else None
        return Findings(
            rows=(Row("signature", "signature PS384", FAILED, why),
                  *_not_checked("the signature did not verify")),
            token=None if shown is None else shown | {"signature_verified": False},
            unverified=shown)
    signature = Row("signature", "signature PS384", OK,
                    f"{key.key_size}-bit RSA, pinned key sha256:{key.fingerprint[:16]}…")
    try:
        if payload_error is not None:
            raise payload_error
        claims = outcome.claims if isinstance(outcome, VerifiedLicense) else \
            LicenseClaims._from_payload(payload)
    except InvalidLicense as exc:
        token = payload | {"signature_verified": True} if isinstance(payload, dict) else None
        return Findings(rows=(signature, Row("", "claims", FAILED, str(exc)),
                              *_not_checked("the signed claims could not be read")),
                        token=token)
    rows = (signature, _unsigned_row(response.unsigned, claims, payload),
            *_validity_rows(claims, policy.leeway, now), _license_row(claims, policy),
            _node_row(claims, policy), *_entitlement_rows(claims, policy.requirements))
    return Findings(rows=rows, grants=claims.entitlements_allowed,
                    token=claims.to_json() | {"signature_verified": True})


def _not_checked(why: str) -> tuple[Row, ...]:
    labels = {"unsigned_fields": "unsigned fields", "validity": "validity",
              "license_arn": "license", "node": "node", "entitlements": "entitlements"}
    return tuple(Row(check, label, NOT_CHECKED, why) for check, label in labels.items())


def _unsigned_row(unsigned: Mapping[str, Any], claims: LicenseClaims, payload: Any) -> Row:
    if not unsigned:
        return Row("unsigned_fields", "unsigned fields", NOT_CHECKED,
                   "a bare token has none")
    try:
        check_consistency(unsigned, claims, payload)
    except InvalidLicense as exc:
        return Row("unsigned_fields", "unsigned fields", FAILED, str(exc))
    return Row("unsigned_fields", "unsigned fields", OK, "match the signed claims")


def _validity_rows(claims: LicenseClaims, leeway: timedelta, now: datetime) -> tuple[Row, Row]:
    text = f"leeway {leeway.total_seconds():g} s"
    issued, expires = format_time(claims.issued_at), format_time(claims.expiration)
    try:
        not_before, not_after = claims.issued_at - leeway, claims.expiration + leeway
    except OverflowError:
        why = f"issuedAt {issued} .. expiration {expires} with {text} cannot be represented"
        return (Row("validity", "issued", FAILED, why), Row("validity", "expiry", FAILED, why))
    left = _duration(claims.expiration - now)
    if now < not_before:
        issued_row = Row("validity", "issued", FAILED,
                         f"{issued}: not yet valid at {format_time(now)} ({text})")
    else:
        issued_row = Row("validity", "issued", OK, f"{issued} ({text})")
    if now >= not_after:
        expiry_row = Row("validity", "expiry", FAILED,
                         f"{expires}: expired {left} before {format_time(now)} ({text})")
    else:
        expiry_row = Row("validity", "expiry", OK, f"{expires} ({left} left, {text})")
    return issued_row, expiry_row


def _license_row(claims: LicenseClaims, policy: Policy) -> Row:
    arn = claims.license_arn
    if policy.license_arn is None:
        return Row("license_arn", "license", NOT_CHECKED, f"{arn} (no license ARN pinned)")
    if arn != policy.license_arn:
        return Row("license_arn", "license", FAILED, f"{arn}, not {policy.license_arn}")
    return Row("license_arn", "license", OK, arn)


def _node_row(claims: LicenseClaims, policy: Policy) -> Row:
    bound = claims.node_id or "no node"
    if policy.node_id is None:
        return Row("node", "node", NOT_CHECKED, f"token bound to {bound} (no node ID given)")
    if claims.node_id != policy.node_id:
        return Row("node", "node", FAILED, f"token bound to {bound}, not {policy.node_id}")
    return Row("node", "node", OK, bound)


def _entitlement_rows(claims: LicenseClaims,
                      requirements: tuple[Requirement, ...]) -> tuple[Row, ...]:
    if not requirements:
        return (Row("entitlements", "entitlements", NOT_CHECKED, "no entitlement required"),)
    rows = []
    for requirement in requirements:
        label = f"entitlement {requirement}"
        try:
            granted = requirement._check(claims)
        except InvalidLicense as exc:
            rows.append(Row("entitlements", label, FAILED,
                            f"{exc}; {_granted_and_near(requirement, claims)}"))
            continue
        rows.append(Row("entitlements", label, OK, f"granted {grant(granted)}"))
    return tuple(rows)


def _granted_and_near(requirement: Requirement, claims: LicenseClaims) -> str:
    """What the token grants, and the entitlements that nearly match ``requirement``."""
    grants = ", ".join(f"{e.name}: {grant(e)}" for e in claims.entitlements_allowed)
    text = f"the token grants {grants}" if grants else "the token grants no entitlement"
    near = [f"{e.name}:{e.unit}" for e in claims.entitlements_allowed
            if e.name.casefold() == requirement.name.casefold()
            and (e.name != requirement.name
                 or (requirement.unit is not None and e.unit != requirement.unit))]
    if near:
        text += f"; near miss (other case or unit): {', '.join(dict.fromkeys(near))}"
    return text


def _duration(span: timedelta) -> str:
    """``span`` (or its opposite) for people: minutes under two hours, hours under two days,
    else days."""
    minutes = abs(int(span.total_seconds())) // 60
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 2 * 24 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"
