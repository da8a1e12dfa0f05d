"""``license-token emulator``: the local License Manager + KMS + STS, served until stopped.

Any AWS SDK or the AWS CLI can talk to it: the command prints the endpoint, the Region, the
sample license and key and dummy credentials (which the emulator accepts), as shell
``export`` lines or, with ``--json``, as one JSON line. SIGINT (Ctrl-C) or SIGTERM stops it
(exit 0). Standard library only: it needs no ``[aws]`` extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._common import EXIT_OK, UsageError, add_json_option, dump_json, escape, show, write
from ._demo import _program

if TYPE_CHECKING:  # the emulator itself is imported only when the command runs
    from ..testing import EmulatedLicense, LocalLicenseManager

SAMPLE_ENTITLEMENTS: dict[str, tuple[str, int | None]] = {
    "Users": ("Count", 10), "ProFeature": ("None", None)}
"""The demo's license: 10 ``Users`` seats and the ``ProFeature`` flag, borrowable for a day."""
SAMPLE_BORROW_TTL_MINUTES = 24 * 60
SAMPLE_NODE = "node-1"
"""The node the suggested commands borrow for."""


def register(sub: Any) -> None:
    """Add ``emulator`` to the ``license-token`` parser."""
    parser = sub.add_parser(
        "emulator", help="serve the local License Manager + KMS + STS until Ctrl-C",
        description="Serve the local License Manager, KMS and STS emulator until SIGINT "
                    "(Ctrl-C) or SIGTERM, and print what an AWS client needs to use it.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1); any other is "
                             "warned about: a test server authenticates no one")
    parser.add_argument("--port", type=_port, default=0,
                        help="the TCP port (default 0: a free one, printed)")
    parser.add_argument("--sample", action=argparse.BooleanOptionalAction, default=True,
                        help="create the demo's sample license and KMS key (default); "
                             "--no-sample starts with none")
    add_json_option(parser)
    parser.set_defaults(handler=cmd_emulator)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0 to 65535)")
    return int(text)


def add_sample_license(emulator: LocalLicenseManager) -> EmulatedLicense:
    """Seed the demo's license, signed by a new KMS key of the emulator.

    Args:
        emulator: the emulator to seed.

    Returns:
        The license (``arn``, ``key_id``).
    """
    return emulator.add_license(borrow_ttl_minutes=SAMPLE_BORROW_TTL_MINUTES,
                                entitlements=SAMPLE_ENTITLEMENTS)


def is_loopback(host: str) -> bool:
    """``host`` names this machine only: ``localhost`` or a loopback address.

    Args:
        host: the ``--host`` value.

    Returns:
        Whether only this machine can reach a server bound to it.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name: it may resolve to any interface
        return False


@contextmanager
def _until_signalled() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs; the handlers are restored
    after it. Installed before the server starts, so no signal ends in a traceback."""
    stop = threading.Event()
    wanted = [signal.SIGINT, signal.SIGTERM]
    try:
        previous = {number: signal.signal(number, lambda *_: stop.set()) for number in wanted}
    except ValueError as exc:  # not the main thread: signals cannot reach this command
        raise UsageError("the emulator command must run in the main thread") from exc
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def describe(emulator: LocalLicenseManager, lic: EmulatedLicense | None) -> dict[str, Any]:
    """What a client needs: the ``--json`` line's object.

    Args:
        emulator: the running emulator.
        lic: the sample license, if one was created.

    Returns:
        ``endpoint_url``, ``region``, ``license_arn``, ``kms_key_id`` (``None`` without a
        sample), ``aws_access_key_id`` and ``aws_secret_access_key``.
    """
    from ..testing._loopback import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY

    return {"endpoint_url": emulator.endpoint_url, "region": emulator.region,
            "license_arn": lic.arn if lic else None, "kms_key_id": lic.key_id if lic else None,
            "aws_access_key_id": DUMMY_ACCESS_KEY_ID,
            "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY}


def _shell_lines(doc: dict[str, Any]) -> list[str]:
    """The human form: a shell script (comments and ``export`` lines) to source or paste."""
    q = shlex.quote
    lines = ["# license-token emulator: License Manager, KMS and STS on "
             f"{doc['endpoint_url']} (Ctrl-C stops it)",
             "# In another shell (these credentials are dummies the emulator accepts):",
             f"export AWS_ENDPOINT_URL={q(doc['endpoint_url'])} "
             f"AWS_DEFAULT_REGION={q(doc['region'])} "
             f"AWS_ACCESS_KEY_ID={q(doc['aws_access_key_id'])} "
             f"AWS_SECRET_ACCESS_KEY={q(doc['aws_secret_access_key'])}"]
    if doc["license_arn"] is None:
        return [*lines, "# No sample license (--no-sample): seed one from Python, or restart "
                        "without --no-sample."]
    program = shlex.join(_program())
    lines += [f"export LICENSE_ARN={q(doc['license_arn'])} KMS_KEY_ID={q(doc['kms_key_id'])}",
              "# Then try:",
              f"#   {program} public-key --kms-key-id \"$KMS_KEY_ID\" "
              "--out issuer-public-key.pem",
              f"#   {program} checkout-borrow --license-arn \"$LICENSE_ARN\" "
              f"--entitlement Users:Count=1 --node-id {SAMPLE_NODE} "
              "--key issuer-public-key.pem --out borrowed.json",
              f"#   {program} verify borrowed.json --key issuer-public-key.pem "
              f"--license-arn \"$LICENSE_ARN\" --node-id {SAMPLE_NODE} --require Users:Count=1",
              "#   aws license-manager checkout-borrow-license --license-arn \"$LICENSE_ARN\" "
              "--entitlements Name=Users,Unit=Count,Value=1 --digital-signature-method "
              f"JWT_PS384 --node-id {SAMPLE_NODE} --client-token try-1"]
    return lines


def cmd_emulator(args: argparse.Namespace) -> int:
    """``emulator``: serve until SIGINT or SIGTERM, then stop cleanly (exit 0)."""
    from ..testing import LocalLicenseManager

    if not is_loopback(args.host):
        write(f"license-token: warning: listening on {escape(args.host)}: this is a test "
              "server with no authentication, reachable from the network; anyone who can "
              "reach it can take and return its seats")
    with _until_signalled() as stop:
        emulator = LocalLicenseManager()
        try:
            emulator.start(host=args.host, port=args.port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host} port {args.port}: "
                             f"{exc.strerror or exc}") from exc
        try:
            lic = add_sample_license(emulator) if args.sample else None
            doc = describe(emulator, lic)
            if args.json:
                dump_json(doc)
            else:
                show("\n".join(_shell_lines(doc)))
            sys.stdout.flush()  # a reading process sees the line now, not at exit
            write(f"license-token: emulator listening on {doc['endpoint_url']}; "
                  "Ctrl-C (SIGINT) or SIGTERM stops it")
            while not stop.wait(1.0):  # a timed wait: Ctrl-C reaches it on Windows too
                pass
        finally:
            emulator.stop()
    write("license-token: emulator stopped")
    return EXIT_OK
