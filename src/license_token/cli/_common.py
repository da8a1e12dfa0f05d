"""What every command shares: exit codes, reading input, policy options, printing results.

Results go to stdout (human text, or exactly one JSON line under ``--json``, when the human
text goes to stderr instead); diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import errno
import json
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from .._clock import parse_time
from .._errors import ConfigurationError, InvalidLicense, Malformed
from .._files import read_bounded
from .._keys import TrustStore
from .._policy import DEFAULT_LEEWAY, MAX_LEEWAY, Requirement
from .._response import MAX_RESPONSE_LENGTH
from .._verify import Verifier

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT), as a shell reports it: 128 + 2."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class UsageError(Exception):
    """A command-line mistake, an unreadable input, an unwritable output: exit 2."""


def escape(text: object) -> str:
    """``text`` as one line that shows as it is: the one escaping helper of the CLI.

    Every character that is not printable becomes a backslash escape: C0 and C1 controls
    (newline, carriage return, ESC, CSI), bidi overrides and other format characters, lone
    surrogates. Claims, file names and AWS messages pass through it before any terminal.
    """
    line = str(text)
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in line)


def write(text: str, stream: TextIO | None = None) -> None:
    """Print ``text`` on ``stream`` (stderr by default), never failing on its encoding.

    Non-printable characters (from a token, say) are escaped, and text the stream's
    encoding cannot carry is written with backslash escapes: the process's streams are
    left as they are.
    """
    stream = sys.stderr if stream is None else stream
    encoding = getattr(stream, "encoding", None) or "utf-8"
    safe = "\n".join(escape(line) for line in text.split("\n"))
    stream.write(safe.encode(encoding, "backslashreplace").decode(encoding, "replace") + "\n")


def show(text: str) -> None:
    """Print a result for people on stdout."""
    write(text, sys.stdout)


def dump_json(doc: dict[str, Any]) -> None:
    """Print one JSON document on one stdout line, keys sorted."""
    write(json.dumps(doc, sort_keys=True), sys.stdout)


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-`` for stdin), bounded to the largest response accepted.

    Raises:
        UsageError: the file cannot be read.
        Malformed: it is larger than any response can be.
    """
    if path == "-":
        if sys.stdin.isatty():
            write("license-token: reading the response or token from the terminal: paste "
                  "it, then Ctrl-D (Ctrl-Z, Enter on Windows)")
        data: bytes = sys.stdin.buffer.read(MAX_RESPONSE_LENGTH + 1)
        if len(data) > MAX_RESPONSE_LENGTH:
            raise Malformed(f"input larger than {MAX_RESPONSE_LENGTH} bytes")
        return data
    try:
        return read_bounded(path, MAX_RESPONSE_LENGTH)
    except OSError as exc:
        if exc.errno == errno.EFBIG:  # too large to be a response: a rejection
            raise Malformed(f"input larger than {MAX_RESPONSE_LENGTH} bytes") from exc
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def instant(text: str) -> datetime:
    """``--at``: an ISO-8601 date (midnight UTC) or date-time (no zone means UTC)."""
    try:
        if _DATE.fullmatch(text):
            return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        return parse_time(text, "time")
    except (InvalidLicense, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 date or date-time "
            "(e.g. 2099-01-01 or 2099-01-01T12:00:00Z)") from None


def _requirement(text: str) -> Requirement:
    try:
        return Requirement.parse(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def non_empty(text: str) -> str:
    """An option value that must not be empty (``--license-arn ""`` pins no license)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= MAX_LEEWAY.total_seconds():
        raise argparse.ArgumentTypeError(
            f"{text!r}: leeway must be between 0 and {int(MAX_LEEWAY.total_seconds())} "
            f"seconds ({MAX_LEEWAY.days} days)")
    return value


def add_key_option(parser: argparse.ArgumentParser) -> None:
    """``--key``: the pinned public keys (required, repeatable)."""
    parser.add_argument("--key", action="append", required=True, metavar="PATH",
                        help="pinned public key file (PEM, DER, base64 DER, JWK, JWKS, KMS "
                             "GetPublicKey JSON); required, repeatable")


def add_policy_options(parser: argparse.ArgumentParser, *, what_if: bool = True,
                       node_help: str = "the node the token must be bound to (else NOT "
                                        "CHECKED)") -> None:
    """``--key`` and the policy options shared by ``verify`` and ``store``.

    ``what_if=False`` leaves out ``--at``, for commands that must use the real clock;
    ``node_help`` says what ``--node-id`` does for this command.
    """
    add_key_option(parser)
    parser.add_argument("--license-arn", metavar="ARN", type=non_empty,
                        help="the license the token must be for (else NOT CHECKED)")
    parser.add_argument("--node-id", metavar="ID", type=non_empty, help=node_help)
    parser.add_argument("--require", action="append", default=[], type=_requirement,
                        metavar="NAME[:UNIT][=MIN]",
                        help="a required entitlement; repeatable (else NOT CHECKED)")
    if what_if:
        parser.add_argument("--at", type=instant, metavar="DATE|DATETIME",
                            help="verify as of this date or date-time instead of the system "
                                 "clock; without a zone it is UTC (2099-01-01 is midnight UTC)")
    else:
        parser.set_defaults(at=None)
    leeway = DEFAULT_LEEWAY.total_seconds()
    parser.add_argument("--leeway", type=_seconds, default=leeway, metavar="SECONDS",
                        help=f"clock skew allowed on issuedAt and expiration "
                             f"(default {leeway:g})")
    add_json_option(parser)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: one result document on stdout."""
    parser.add_argument("--json", action="store_true",
                        help="print one JSON result object on stdout (human text on stderr)")


def load_keys(paths: list[str]) -> TrustStore:
    """The pinned keys of ``--key``; an unusable key file is a usage error."""
    try:
        return TrustStore.from_file(*paths)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def judged_at(args: argparse.Namespace) -> datetime:
    """The instant to verify at: ``--at``, else the system clock now (UTC)."""
    at: datetime | None = args.at
    return at if at is not None else Verifier.DEFAULT_CLOCK()


def verifier_from_args(args: argparse.Namespace) -> Verifier:
    """The ``Verifier`` the policy options ask for; an unusable key file is a usage error."""
    at: datetime | None = args.at
    return Verifier(load_keys(args.key), license_arn=args.license_arn, node_id=args.node_id,
                    require=args.require, leeway=args.leeway,
                    clock=(lambda: at) if at is not None else Verifier.DEFAULT_CLOCK)


def table(rows: list[tuple[str, str, str]]) -> str:
    """Rows as aligned columns, indented by two spaces."""
    rows = [(escape(a), escape(b), escape(c)) for a, b, c in rows]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"  {a:<{width[0]}}  {b:<{width[1]}}  {c}".rstrip() for a, b, c in rows)
