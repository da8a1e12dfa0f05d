"""``FaultProxy`` between any client and the emulator, and ``fail_with(operation=...)``."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import ONE_USER, ROOT

from license_token.testing import FAULTS, Fault, FaultProxy, LocalLicenseManager


@pytest.fixture
def pair() -> Iterator[tuple[LocalLicenseManager, FaultProxy]]:
    with LocalLicenseManager() as lm, FaultProxy(lm.endpoint_url) as proxy:
        yield lm, proxy


def _post(proxy: FaultProxy, operation: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    """One raw HTTP call (no SDK): status, content type, and the bytes that arrived."""
    url = urlsplit(proxy.endpoint_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("POST", "/", body=json.dumps(body), headers={
            "X-Amz-Target": f"AWSLicenseManager.{operation}",
            "Content-Type": "application/x-amz-json-1.1"})
        answer = connection.getresponse()
        try:
            data = answer.read()
        except http.client.IncompleteRead as cut:
            data = cut.partial
        return answer.status, answer.getheader("Content-Type") or "", data
    finally:
        connection.close()


def test_answers_pass_unchanged_until_a_fault_is_injected(
        pair: tuple[LocalLicenseManager, FaultProxy]) -> None:
    lm, proxy = pair
    arn = lm.add_license(entitlements={"Users": ("Count", 5)}).arn
    status, _, direct = _post(proxy, "GetLicense", {"LicenseArn": arn})
    assert status == 200 and json.loads(direct)["License"]["LicenseArn"] == arn
    proxy.inject(FAULTS["html_502"], operation="CheckInLicense")  # another operation
    assert _post(proxy, "GetLicense", {"LicenseArn": arn})[2] == direct
    assert proxy.requests == [("GetLicense", None), ("GetLicense", None)]


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_breaks_the_answer_after_the_service_acted(
        pair: tuple[LocalLicenseManager, FaultProxy], name: str) -> None:
    lm, proxy = pair
    arn = lm.add_license(entitlements={"Users": ("Count", 5)}).arn
    body = {"LicenseArn": arn, "Entitlements": ONE_USER, "DigitalSignatureMethod": "JWT_PS384",
            "NodeId": "n1", "ClientToken": "t1"}
    proxy.inject(FAULTS[name], operation="CheckoutBorrowLicense")
    try:
        status, content_type, data = _post(proxy, "CheckoutBorrowLicense", body)
    except (http.client.RemoteDisconnected, ConnectionError):
        status, content_type, data = 0, "", b""
    assert lm.seats_by_node(arn) == {"n1": 1}  # the service took the seat either way
    expected = {"cut": (200, "application/x-amz-json-1.1"), "html_400": (400, "text/html"),
                "html_502": (502, "text/html"), "drop": (0, "")}.get(
        name, (200, "application/x-amz-json-1.1"))
    assert (status, content_type) == expected
    if name == "cut":
        assert 0 < len(data) < len(json.dumps(lm.consumptions[next(iter(lm.consumptions))]
                                              .response))
    elif name.startswith("html"):
        assert re.search(rb"<h1>\d{3} [A-Za-z ]+</h1>", data)
    elif name != "drop":
        assert data == FAULTS[name].body
    assert proxy.requests == [("CheckoutBorrowLicense", FAULTS[name].kind)]
    assert proxy.faulted() == 1
    again = _post(proxy, "CheckoutBorrowLicense", body)  # the fault was for one answer
    assert again[0] == 200 and json.loads(again[2])["NodeId"] == "n1"


def test_skip_count_drop_before_and_rewrite(
        pair: tuple[LocalLicenseManager, FaultProxy]) -> None:
    lm, proxy = pair
    arn = lm.add_license(entitlements={"Users": ("Count", 5)}).arn
    proxy.inject(Fault.drop(forward=False), operation="GetLicense", skip=1, count=2)
    assert _post(proxy, "GetLicense", {"LicenseArn": arn})[0] == 200
    for _ in range(2):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            _post(proxy, "GetLicense", {"LicenseArn": arn})
    assert _post(proxy, "GetLicense", {"LicenseArn": arn})[0] == 200
    assert lm.calls("GetLicense") == 2  # the two dropped requests never reached it
    elsewhere = Fault.rewrite(
        request=lambda b: json.dumps(json.loads(b) | {"NodeId": "n2"}).encode(),
        answer=lambda b: json.dumps(json.loads(b) | {"Tampered": True}).encode())
    proxy.inject(elsewhere, operation="CheckoutBorrowLicense")
    _, _, data = _post(proxy, "CheckoutBorrowLicense", {
        "LicenseArn": arn, "Entitlements": ONE_USER, "DigitalSignatureMethod": "JWT_PS384",
        "NodeId": "n1", "ClientToken": "t2"})
    answer = json.loads(data)
    assert answer["NodeId"] == "n2" and answer["Tampered"] is True
    assert lm.seats_by_node(arn) == {"n2": 1}
    proxy.inject(FAULTS["cut"])
    proxy.clear()
    assert _post(proxy, "GetLicense", {"LicenseArn": arn})[0] == 200
    with pytest.raises(ValueError, match="http"):
        FaultProxy("https://license-manager.us-east-1.amazonaws.com")


def test_fail_with_an_operation_leaves_the_others_alone() -> None:
    with LocalLicenseManager() as lm:
        client = lm.client(retries={"mode": "standard", "total_max_attempts": 1})
        arn = lm.add_license(entitlements={"Users": ("Count", 5)}).arn
        lm.fail_with("ConflictException", operation="CheckInLicense")
        assert client.get_license(LicenseArn=arn)["License"]["LicenseArn"] == arn
        token = client.checkout_borrow_license(
            LicenseArn=arn, Entitlements=ONE_USER, DigitalSignatureMethod="JWT_PS384",
            NodeId="n1", ClientToken="t")["LicenseConsumptionToken"]
        with pytest.raises(client.exceptions.ConflictException):
            client.check_in_license(LicenseConsumptionToken=token)
        client.check_in_license(LicenseConsumptionToken=token)
        assert lm.peak_seats_by_node(arn) == {"n1": 1} and not lm.seats_by_node(arn)


def test_the_renewal_pages_example_runs() -> None:
    text = (ROOT / "docs" / "explanation" / "renewal.md").read_text()
    (block,) = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    exec(compile(block, "renewal.md", "exec"), {})  # noqa: S102
