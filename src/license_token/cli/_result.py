"""The result every command prints: one JSON object of fixed shape, or text for people.

``result()`` builds every JSON result of the CLI: ``valid``, ``code``, ``message`` and
``license`` always, plus the command's own keys. ``report()`` prints a verification:
``VALID`` or ``INVALID (code)``, then one row per check (see ``._explain``).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from .._errors import LicenseTokenError
from .._response import Source
from .._verify import VerifiedLicense, Verifier
from ._common import EXIT_OK, EXIT_REJECTED, dump_json, escape, show, table, write
from ._explain import Findings, examine

__all__ = ["emit", "report", "result", "verification_rows"]


def result(*, valid: bool, code: str | None, message: str,
           license: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON result of a command: the four keys every command prints, and its own.

    Args:
        valid: the command did what was asked (exit 0).
        code: the error's stable code, ``None`` on success.
        message: one line saying what happened.
        license: the verified license document, ``None`` unless a license verified.
        **extra: the command's own keys (``checks``, ``token``, ``node_id``, …).

    Returns:
        The object to print.
    """
    return {"valid": valid, "code": code, "message": message, "license": license} | extra


def failure(exc: LicenseTokenError, **extra: Any) -> dict[str, Any]:
    """The JSON result of a command that ended in ``exc``."""
    return result(valid=False, code=exc.code, message=str(exc), **extra)


def emit(doc: dict[str, Any], as_json: bool, human: str) -> None:
    """The result: the JSON line on stdout and the human text on stderr, or the text alone."""
    if as_json:
        dump_json(doc)
        write(human)
    else:
        show(human)


def verification_rows(source: Source | None, verifier: Verifier, now: datetime,
                      outcome: VerifiedLicense | LicenseTokenError) -> Findings:
    """The findings beside ``outcome`` (a description, never a decision)."""
    return examine(source, verifier.keys, verifier.policy, now, outcome)


def license_document(lic: VerifiedLicense, findings: Findings) -> dict[str, Any]:
    """``VerifiedLicense.to_json()`` plus ``checks``."""
    return lic.to_json() | {"checks": findings.checks()}


def report(args: argparse.Namespace, outcome: VerifiedLicense | LicenseTokenError,
           verifier: Verifier, source: Source | None, now: datetime, **extra: Any) -> int:
    """Print one verification in the fixed ``--json`` shape, or for people; return the exit.

    ``license`` is the verified license, or ``null`` on any rejection; ``checks`` and
    ``token`` say what was checked and what the token holds (``token.signature_verified``
    says whether its claims are signed).

    Args:
        args: the command line (``json``).
        outcome: the verified license, or why it was rejected.
        verifier: the verifier that decided.
        source: what was verified, if it could be read (else no rows are shown).
        now: the instant it was judged at.
        **extra: the command's own keys (``store verify``: ``skipped``).

    Returns:
        0 verified, 1 rejected.
    """
    findings = verification_rows(source, verifier, now, outcome)
    extra |= {"checks": findings.checks(), "token": findings.token}
    if isinstance(outcome, LicenseTokenError):
        head, doc, code = (f"INVALID ({outcome.code}): {escape(outcome)}",
                           failure(outcome, **extra), EXIT_REJECTED)
    else:
        head, code = f"VALID  {escape(outcome.license_arn)}", EXIT_OK
        doc = result(valid=True, code=None, message="verified",
                     license=license_document(outcome, findings), **extra)
    rows = findings.table_rows()
    emit(doc, args.json, head + ("\n" + table(rows) if rows else ""))
    return code


def refused(args: argparse.Namespace, code: str, message: str, *,
            exit_code: int = EXIT_REJECTED, **extra: Any) -> int:
    """A command that did not do what was asked: one line on stderr, the JSON on stdout.

    Args:
        args: the command line (``json``).
        code: the stable code (an error's, or ``usage``).
        message: what happened.
        exit_code: 1 (rejected, AWS refused) by default.
        **extra: the command's own keys.

    Returns:
        ``exit_code``.
    """
    if getattr(args, "json", False):
        dump_json(result(valid=False, code=code, message=message, **extra))
    write(f"license-token: {code}: {escape(message)}")
    return exit_code
