"""Only the library's errors leave the AWS boundary: a ``200`` answer botocore cannot read.

A real HTTP server answers every call with ``200`` and a body of ``null``, ``[]`` or bytes
that are not UTF-8. botocore's parsers then raise ``AttributeError``, ``TypeError``,
``UnicodeDecodeError`` or their own ``ResponseParserError``, none of them botocore's
``BotoCoreError``. Every operation the adapter calls is tried with each body.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from license_token import LicenseTokenError, Verifier
from license_token.aws import AnswerUnreadable, LicenseManager, fetch_public_key
from license_token.aws.credentials import token_session
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore, SeatLedger, SeatState
from license_token.testing import DEFAULT_ARN, TokenFactory
from license_token.testing._factory import aws_time

BODIES = {"null": b"null", "empty list": b"[]", "not UTF-8": b"\xff\xfe{\x80\x81}"}
ROLE = "arn:aws:iam::123456789012:role/AWSLicenseManagerConsumptionRole"
USERS = [{"Name": "Users", "Unit": "Count", "Value": "1"}]
ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})


class _Answer(BaseHTTPRequestHandler):
    body = b"null"
    #: GetAccessToken answered well, so that the exchange reaches STS with ``body``.
    access_token_ok = False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.access_token_ok and (self.headers.get("X-Amz-Target") or "").endswith(
                "GetAccessToken"):
            self._send(200, "application/x-amz-json-1.1", b'{"AccessToken": "access-token"}')
            return
        content_type = ("text/xml" if "x-amz-json" not in (self.headers.get("Content-Type")
                                                             or "") else
                        self.headers["Content-Type"])
        self._send(200, content_type, self.body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "r-1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint,
                        aws_access_key_id="x", aws_secret_access_key="y", config=ONCE)


def _manager(endpoint: str) -> LicenseManager:
    verifier = Verifier(TokenFactory().trust_store(), node_id="node-1")
    return LicenseManager(verifier, client=_client("license-manager", endpoint))


def _with_token(endpoint: str) -> LicenseManager:
    """Credentials from a license token: GetAccessToken and STS come first."""
    session = token_session("refresh-token", ROLE, region_name="us-east-1",
                            endpoint_url=endpoint)
    verifier = Verifier(TokenFactory().trust_store(), node_id="node-1")
    return LicenseManager(verifier, session=session, endpoint_url=endpoint, max_attempts=1)


#: operation -> (the adapter's call, the same call on a plain boto3 client)
CALLS: dict[str, tuple[Callable[[str], Any], Callable[[str], Any]]] = {
    "CheckoutBorrowLicense": (
        lambda e: _manager(e).checkout_borrow(DEFAULT_ARN, USERS, node_id="node-1"),
        lambda e: _client("license-manager", e).checkout_borrow_license(
            LicenseArn=DEFAULT_ARN, Entitlements=USERS, DigitalSignatureMethod="JWT_PS384",
            ClientToken="c")),
    "CheckoutLicense": (
        lambda e: _manager(e).checkout("sku", "aws:1:x:issuer-fingerprint", USERS),
        lambda e: _client("license-manager", e).checkout_license(
            ProductSKU="sku", CheckoutType="PROVISIONAL", KeyFingerprint="f",
            Entitlements=USERS, ClientToken="c")),
    "ExtendLicenseConsumption": (
        lambda e: _manager(e).extend("t"),
        lambda e: _client("license-manager", e).extend_license_consumption(
            LicenseConsumptionToken="t")),
    "CheckInLicense": (
        lambda e: _manager(e).check_in("t"),
        lambda e: _client("license-manager", e).check_in_license(LicenseConsumptionToken="t")),
    "GetLicense": (
        lambda e: _manager(e).get_license(DEFAULT_ARN),
        lambda e: _client("license-manager", e).get_license(LicenseArn=DEFAULT_ARN)),
    "GetPublicKey": (
        lambda e: fetch_public_key("alias/k", client=_client("kms", e)),
        lambda e: _client("kms", e).get_public_key(KeyId="alias/k")),
    "GetAccessToken": (
        lambda e: _with_token(e).check_in("t"),
        lambda e: _client("license-manager", e).get_access_token(Token="refresh-token")),
    "AssumeRoleWithWebIdentity": (  # GetAccessToken answered well: STS's answer is broken
        lambda e: _with_token(e).check_in("t"),
        lambda e: _client("sts", e).assume_role_with_web_identity(
            RoleArn=ROLE, RoleSessionName="license-token", WebIdentityToken="access-token")),
}


def _outcome(call: Callable[[], Any]) -> BaseException | None:
    try:
        call()
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
@pytest.mark.parametrize("operation", list(CALLS), ids=list(CALLS))
def test_an_answer_botocore_cannot_read_is_a_retryable_aws_error(
        server: str, operation: str, body: str, caplog: pytest.LogCaptureFixture) -> None:
    """Before: 17 of these combinations raised AttributeError or UnicodeDecodeError."""
    _Answer.body = BODIES[body]
    _Answer.access_token_ok = operation == "AssumeRoleWithWebIdentity"
    adapter, plain = CALLS[operation]
    raw = _outcome(lambda: plain(server))
    with caplog.at_level(logging.WARNING, logger="license_token.aws"):
        ours = _outcome(lambda: adapter(server))
    assert ours is None or isinstance(ours, LicenseTokenError), repr(ours)
    if raw is not None and not isinstance(raw, (ClientError, BotoCoreError)):
        assert isinstance(ours, AnswerUnreadable)  # what botocore's parser raised
        assert ours.retryable and ours.code == "aws_answer_unreadable"
        kind = f"{type(raw).__module__}.{type(raw).__qualname__}"
        assert ours.sdk_error == kind and kind in caplog.text
        assert type(ours.__cause__) is type(raw)
    elif raw is None and operation in OWN_CLIENT:  # botocore read it as an empty success:
        assert isinstance(ours, AnswerUnreadable)  # a 2xx body that is no JSON object
        assert ours.sdk_error == "not a JSON object" and ours.retryable
    else:
        assert not isinstance(ours, AnswerUnreadable)


#: The calls the adapter makes with its own License Manager client, whose 2xx answers must be
#: JSON objects (aws._answers): ``[]`` is no answer, not an empty success.
OWN_CLIENT = {"CheckoutBorrowLicense", "CheckoutLicense", "ExtendLicenseConsumption",
              "CheckInLicense", "GetLicense"}


def test_the_bodies_do_break_botocore(server: str) -> None:
    """The matrix above is not vacuous: most of its answers make botocore raise."""
    broken = []
    for body in BODIES.values():
        _Answer.body = body
        for operation, (_, plain) in CALLS.items():
            _Answer.access_token_ok = operation == "AssumeRoleWithWebIdentity"
            raw = _outcome(lambda: plain(server))  # noqa: B023
            if raw is not None and not isinstance(raw, (ClientError, BotoCoreError)):
                broken.append((operation, body))
    assert len(broken) == 20 + 3  # all but CheckInLicense's [], and every STS answer


def test_an_app_holding_a_valid_license_runs_on_it_when_the_answer_is_unreadable(
        server: str, tmp_path: Path) -> None:
    factory = TokenFactory()
    verifier = Verifier(factory.trust_store(), node_id="node-1")
    store = LicenseStore(tmp_path)
    store.save(factory.response(factory.claims(
        nodeId="node-1", expiration=aws_time(factory.now + timedelta(days=30)))), verifier)
    manager = LicenseManager(verifier, client=_client("license-manager", server))
    renewer = BorrowRenewer(manager=manager, license_arn=DEFAULT_ARN, entitlements=USERS)
    due = factory.now + timedelta(days=25)  # a 30-day token, renewed in its last third
    for body in BODIES.values():
        _Answer.body = body
        result = check_license(LicenseStore(tmp_path), verifier, renew=renewer, now=due)
        assert isinstance(result.renewal_error, AnswerUnreadable), result.renewal_error
        assert result.license.license_arn == DEFAULT_ARN
        due += timedelta(hours=7)  # past the back-off
    (flight,) = [s for s in SeatLedger(store).seats(DEFAULT_ARN)
                 if s.state is SeatState.IN_FLIGHT]
    assert flight.client_token is not None  # kept: maybe served
