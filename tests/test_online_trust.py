"""Online-only results rest on AWS itself: the buyer's configuration cannot redirect them.

The buyer runs the vendor's app and controls its environment and ``~/.aws``. Each test
here plays one way of pointing the app at a plain-HTTP (or TLS, with the buyer's own CA)
server of the buyer's that grants every tier asked for, and runs the Marketplace guide's
app code unchanged: the app must never take a tier from it. Every attempt to reach AWS
goes through a recording ``HTTPS_PROXY`` that answers no one, so nothing leaves the machine
and the tests see where the client tried to go.
"""

from __future__ import annotations

import json
import re
import select
import socket
import socketserver
import ssl
import threading
import time
import types
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest
from conftest import ROOT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from license_token import LicenseTokenError, TrustStore, Verifier
from license_token.aws import ConnectionFailed, InvalidRequest, LicenseManager
from license_token.aws.marketplace import MARKETPLACE_KEY_FINGERPRINT, EntitlementKeeper
from license_token.testing import LocalLicenseManager, TokenFactory

AWS_HOST = "license-manager.us-east-1.amazonaws.com"
TIERS = ["Enterprise", "Premium", "Basic"]


# -- the buyer's servers ----------------------------------------------------------------------
class _Answers(BaseHTTPRequestHandler):
    """License Manager as the buyer would fake it: every entitlement asked for is granted."""

    server: BuyersServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        self.server.operations.append(operation)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        expiration = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer: dict[str, Any] = {"LicenseConsumptionToken": "buyers-consumption",
                                  "Expiration": expiration}
        if operation == "CheckoutLicense":
            answer |= {
                "LicenseArn": "arn:aws:license-manager::294406891311:license:l-buyers",
                "EntitlementsAllowed": [e | {"Value": "Enabled"} for e in body["Entitlements"]],
                "IssuedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "CheckoutType": body["CheckoutType"]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class BuyersServer(ThreadingHTTPServer):
    """A fake License Manager on 127.0.0.1 (plain HTTP unless given a TLS context)."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Answers)
        self.operations: list[str] = []
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a refused TLS handshake is the point of some tests


class _Tunnel(socketserver.BaseRequestHandler):
    """``CONNECT host:port``: recorded, then refused, or tunnelled to the buyer's server."""

    server: RecordingProxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        self.server.targets.append(head.split(b" ")[1].decode())
        if self.server.tunnel_to is None:
            self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(self.server.tunnel_to) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(self.request, upstream)


def _pipe(one: socket.socket, other: socket.socket) -> None:
    while True:
        ready, _, _ = select.select([one, other], [], [], 5)
        if not ready:
            return
        for source in ready:
            try:
                data = source.recv(65536)
                if data:
                    (other if source is one else one).sendall(data)
            except OSError:  # the client gave up on the handshake
                data = b""
            if not data:
                return


class RecordingProxy(socketserver.ThreadingTCPServer):
    """The ``HTTPS_PROXY`` every test runs behind: it records where the client went."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.targets: list[str] = []
        self.tunnel_to: tuple[str, int] | None = None


def _serving(server: socketserver.BaseServer) -> Iterator[Any]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def fake() -> Iterator[BuyersServer]:
    yield from _serving(BuyersServer())


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    yield from _serving(RecordingProxy())


class _NoSleep(types.SimpleNamespace):
    """botocore's retry pauses, skipped: the failures retried here are all local."""

    def __init__(self) -> None:
        super().__init__(**{name: getattr(time, name) for name in dir(time)
                            if not name.startswith("__")})
        self.sleep = lambda seconds: None


@pytest.fixture
def buyer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          proxy: RecordingProxy) -> Path:
    """The buyer's machine: credentials of an instance role, no AWS config, the proxy."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE", "AWS_DATA_PATH",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LICENSE_MANAGER", "NO_PROXY",
                 "no_proxy", "HTTP_PROXY", "http_proxy", "AWS_DEFAULT_REGION", "AWS_REGION",
                 "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDINSTANCEROLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "instance-role-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.setattr(botocore.endpoint, "time", _NoSleep())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "issuer-public-key.pem").write_bytes(TokenFactory().public_key_pem())
    return tmp_path


def _guide_blocks() -> list[str]:
    text = (ROOT / "docs" / "guides" / "marketplace.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def _run_app(block: int, namespace: dict[str, Any]) -> None:
    """The Marketplace guide's python block ``block`` (1-based), as the vendor ships it."""
    code = compile(_guide_blocks()[block - 1], f"marketplace.md python block {block}", "exec")
    exec(code, namespace)  # noqa: S102


def _the_app_gets_no_tier(proxy: RecordingProxy, fake: BuyersServer) -> None:
    """The guide's checkout, then its keeper: neither returns a tier; AWS was asked."""
    namespace: dict[str, Any] = {"PRODUCT_SKU": "prod-buyer", "print": lambda *a: None}
    with pytest.raises(LicenseTokenError) as checkout:
        _run_app(1, namespace)
    assert "tier" not in namespace
    with pytest.raises(LicenseTokenError) as keeper:
        _run_app(2, namespace)
    assert "current" not in namespace
    for error in (checkout.value, keeper.value):
        assert isinstance(error, ConnectionFailed), error  # AWS, unreachable from here
    assert fake.operations == []
    assert proxy.targets and set(proxy.targets) == {f"{AWS_HOST}:443"}


# -- the buyer's endpoint settings -------------------------------------------------------------
@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LICENSE_MANAGER"])
def test_an_endpoint_variable_cannot_grant_a_tier(buyer: Path, fake: BuyersServer,
                                                   proxy: RecordingProxy,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   variable: str) -> None:
    """An endpoint variable alone (``AWS_ENDPOINT_URL``…) cannot grant the guide's app a tier."""
    monkeypatch.setenv(variable, fake.url)
    _the_app_gets_no_tier(proxy, fake)


@pytest.mark.parametrize("config", [
    "[default]\nregion = us-east-1\nendpoint_url = {url}\n",
    "[default]\nregion = us-east-1\nservices = buyer\n\n"
    "[services buyer]\nlicense_manager =\n  endpoint_url = {url}\n",
], ids=["profile-endpoint_url", "services-section"])
def test_an_endpoint_in_the_config_file_cannot_grant_a_tier(buyer: Path, fake: BuyersServer,
                                                            proxy: RecordingProxy,
                                                            config: str) -> None:
    (buyer / "config").write_text(config.format(url=fake.url))
    _the_app_gets_no_tier(proxy, fake)


def test_the_buyers_endpoint_settings_really_redirect_boto3(buyer: Path, fake: BuyersServer,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """The fake server above is reachable the way the tests say: boto3 itself goes there."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_LICENSE_MANAGER", fake.url)
    client = boto3.client("license-manager", region_name="us-east-1")
    client.check_in_license(LicenseConsumptionToken="t")
    assert fake.operations == ["CheckInLicense"]


# -- the buyer's certificate authority ---------------------------------------------------------
def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """The buyer's own CA, and a certificate for AWS's host that it signed."""
    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.now(timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(name("Buyer CA")).issuer_name(name("Buyer CA"))
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (x509.CertificateBuilder().subject_name(name(AWS_HOST)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(AWS_HOST)]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "buyer-ca.pem", directory / "aws-host.pem", directory / "aws-host.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture
def tls_fake(buyer: Path, proxy: RecordingProxy) -> Iterator[tuple[BuyersServer, Path]]:
    """The buyer's server with a certificate for AWS's host, where the proxy leads."""
    ca, cert, key = _certificates(buyer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for server in _serving(BuyersServer(context)):
        proxy.tunnel_to = ("127.0.0.1", server.server_address[1])
        yield server, ca


@pytest.mark.parametrize("where", ["AWS_CA_BUNDLE", "profile ca_bundle"])
def test_the_buyers_ca_bundle_cannot_grant_a_tier(tls_fake: tuple[BuyersServer, Path],
                                                  buyer: Path, proxy: RecordingProxy,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  where: str) -> None:
    """A CA bundle the buyer configures cannot make a server of theirs pass for AWS."""
    fake, ca = tls_fake
    if where == "AWS_CA_BUNDLE":
        monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    else:
        (buyer / "config").write_text(f"[default]\nca_bundle = {ca}\n")
    _the_app_gets_no_tier(proxy, fake)


def test_the_buyers_ca_really_fools_boto3(tls_fake: tuple[BuyersServer, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The TLS fake above does pass for AWS with the buyer's CA: plain boto3 believes it."""
    import boto3

    fake, ca = tls_fake
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    boto3.client("license-manager", region_name="us-east-1").check_in_license(
        LicenseConsumptionToken="t")
    assert fake.operations == ["CheckInLicense"]


# -- the buyer's botocore data -----------------------------------------------------------------
def test_an_endpoint_rule_set_of_the_buyers_is_refused(buyer: Path, fake: BuyersServer,
                                                       proxy: RecordingProxy,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``AWS_DATA_PATH`` can replace botocore's endpoint rules: the request is refused."""
    rules = buyer / "models" / "license-manager" / "2018-08-01"
    rules.mkdir(parents=True)
    (rules / "endpoint-rule-set-1.json").write_text(json.dumps({
        "version": "1.0", "parameters": {"Region": {"type": "String", "builtIn": "AWS::Region",
                                                    "required": False}},
        "rules": [{"conditions": [], "type": "endpoint",
                   "endpoint": {"url": fake.url, "properties": {}, "headers": {}}}]}))
    monkeypatch.setenv("AWS_DATA_PATH", str(buyer / "models"))
    manager = LicenseManager(Verifier(TrustStore.from_file("issuer-public-key.pem")),
                             region_name="us-east-1")
    with pytest.raises(InvalidRequest, match="only to https://" + re.escape(AWS_HOST)):
        manager.checkout_online("prod-buyer", MARKETPLACE_KEY_FINGERPRINT,
                                [{"Name": t, "Unit": "None"} for t in TIERS])
    assert fake.operations == []


# -- the application's own choice -------------------------------------------------------------
def test_an_endpoint_passed_in_code_is_used_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vendor's tests (the emulator) pass ``endpoint_url=``: it works, and says so."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEMULATOR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator-secret")
    with LocalLicenseManager() as emulator:
        lic = emulator.add_marketplace_license(entitlements={"Premium": ("None", None)})
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # ignored: in code wins
        manager = LicenseManager(Verifier(TokenFactory().trust_store()),
                                 region_name=emulator.region,
                                 endpoint_url=emulator.endpoint_url)
        online = manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                         [{"Name": t, "Unit": "None"} for t in TIERS])
        keeper = EntitlementKeeper(lambda: manager.checkout_online(
            lic.product_sku, MARKETPLACE_KEY_FINGERPRINT, [{"Name": "Premium", "Unit": "None"}]),
            extend=manager.extend, check_in=manager.check_in)
        kept = keeper.poll()
        keeper.close()
        url = emulator.endpoint_url
    assert online.tier(TIERS) is not None and online.tier(TIERS).name == "Premium"  # type: ignore[union-attr]
    basis = f"endpoint chosen by the application: {url}; not signed"
    assert online.trust_basis == basis and kept.trust_basis == basis
    assert online.to_json()["trust_basis"] == basis


def test_a_client_passed_in_code_is_named_too() -> None:
    with LocalLicenseManager() as emulator:
        lic = emulator.add_marketplace_license(entitlements={"Premium": ("None", None)})
        manager = LicenseManager(Verifier(TokenFactory().trust_store()),
                                 client=emulator.client())
        online = manager.checkout_online(lic.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                         [{"Name": "Premium", "Unit": "None"}])
        url = emulator.endpoint_url
    assert online.trust_basis == f"endpoint chosen by the application: {url}; not signed"


# -- the endpoint itself ------------------------------------------------------------------------
@pytest.mark.parametrize(("region", "url"), [
    ("us-east-1", "https://license-manager.us-east-1.amazonaws.com"),
    ("eu-central-2", "https://license-manager.eu-central-2.amazonaws.com"),
    ("cn-north-1", "https://license-manager.cn-north-1.amazonaws.com.cn"),
    ("us-gov-west-1", "https://license-manager.us-gov-west-1.amazonaws.com"),
])
def test_the_pinned_endpoint_is_aws_regional_https(region: str, url: str) -> None:
    from license_token.aws._endpoint import aws_endpoint

    assert aws_endpoint("license-manager", region) == url


@pytest.mark.parametrize("region", ["xx-nowhere-9", "us-east-1.example.com", "", "us east 1",
                                    "us-east-1/../x"])
def test_a_region_without_an_aws_endpoint_is_refused(region: str) -> None:
    from license_token.aws._endpoint import aws_endpoint

    with pytest.raises(InvalidRequest, match="AWS endpoint"):
        aws_endpoint("license-manager", region)


def test_no_region_is_a_clear_error(buyer: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"(?i)specify a region|no region"):
        LicenseManager(Verifier(TrustStore.from_file("issuer-public-key.pem"))).checkout_online(
            "prod-buyer", MARKETPLACE_KEY_FINGERPRINT, [{"Name": "Basic", "Unit": "None"}])


def test_a_redirect_is_followed_to_the_other_regions_aws_endpoint(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``RedirectException``: the online client for the Region it names is pinned too
    (each Region's AWS endpoint played by an emulator)."""
    from license_token.aws import _endpoint

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEMULATOR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with LocalLicenseManager() as home, LocalLicenseManager(region="eu-west-1") as eu:
        there = eu.add_marketplace_license(entitlements={"Premium": ("None", None)})
        here = home.add_marketplace_license(entitlements={"Premium": ("None", None)},
                                            product_sku=there.product_sku)
        home.redirect(here.arn, "eu-west-1")
        regions = {"us-east-1": home.endpoint_url, "eu-west-1": eu.endpoint_url}
        asked: list[tuple[str, str]] = []

        def aws_endpoint(service: str, region: str) -> str:
            asked.append((service, region))
            return regions[region]

        monkeypatch.setattr(_endpoint, "aws_endpoint", aws_endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL", home.endpoint_url)  # ignored, as ever
        manager = LicenseManager(Verifier(TokenFactory().trust_store()),
                                 region_name="us-east-1")
        online = manager.checkout_online(there.product_sku, MARKETPLACE_KEY_FINGERPRINT,
                                         [{"Name": "Premium", "Unit": "None"}])
        assert (home.calls("CheckoutLicense"), eu.calls("CheckoutLicense")) == (1, 1)
    assert asked == [("license-manager", "us-east-1"), ("license-manager", "eu-west-1")]
    assert online.license_arn == there.arn
    assert online.trust_basis == "TLS and SigV4 to AWS License Manager; not signed"


@pytest.mark.parametrize("found", [
    {"hostname": "license-manager.us-east-1.example.com", "dnsSuffix": "amazonaws.com",
     "protocols": ["https"]},
    {"hostname": "license-manager.us-east-1.amazonaws.com", "dnsSuffix": "amazonaws.com",
     "protocols": ["http"]},
], ids=["another-host", "no-https"])
def test_endpoint_data_that_is_not_aws_regional_https_is_refused(
        monkeypatch: pytest.MonkeyPatch, found: dict[str, Any]) -> None:
    from license_token.aws import _endpoint

    resolver = types.SimpleNamespace(construct_endpoint=lambda service, region: found)
    monkeypatch.setattr(_endpoint, "_bundled_endpoints", lambda: resolver)
    with pytest.raises(InvalidRequest, match="no https regional AWS endpoint"):
        _endpoint.aws_endpoint("license-manager", "us-east-1")


def test_no_region_for_the_pinned_client_is_refused() -> None:
    from botocore.config import Config

    from license_token.aws._endpoint import pinned_options

    with pytest.raises(InvalidRequest, match="no Region is configured"):
        pinned_options("license-manager", None, None, Config())
    chosen = pinned_options("license-manager", None, "http://127.0.0.1:9", Config())
    assert (chosen["endpoint_url"], chosen["verify"]) == ("http://127.0.0.1:9", True)
    assert chosen["config"].ignore_configured_endpoint_urls is True
