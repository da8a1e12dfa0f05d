"""One way to give a seat back (``Seat``, ``give_back``), and the seat of a refused checkout
named by its signed claims: in the adapter, the renewal and ``checkout-borrow``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ONE_USER, ROOT, Rig

from license_token import ConfigurationError, InvalidLicense, LicenseTokenError, Verifier
from license_token.aws import (
    AccessDenied,
    GiveBack,
    LicenseManager,
    RequestMismatch,
    ResourceNotFound,
    Returned,
    Seat,
    SeatNotReturned,
    give_back,
)
from license_token.testing import FAULTS, Fault

FIVE_USERS = ["Users:Count=5"]  # more than the renewal borrows: its tokens are refused


def _json(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[bytes], bytes]:
    return lambda body: json.dumps(change(json.loads(body))).encode()


def _strict_manager(rig: Rig, **policy: Any) -> LicenseManager:
    verifier = Verifier(rig.verifier.keys, clock=rig.verifier.clock, **policy)
    return LicenseManager(verifier, client=rig.renewer.manager.client)


@pytest.mark.parametrize(("unsigned", "refused"), [
    ("missing", "entitlement_insufficient"), ("another live seat's", "response_mismatch")])
def test_a_refused_borrow_is_returned_by_its_signed_consumption_token(
        make_rig: Callable[..., Rig], unsigned: str, refused: str) -> None:
    """The unsigned ``LicenseConsumptionToken`` of the answer is absent, or names another
    node's live seat: the seat the signed claims name is the one checked in."""
    rig = make_rig()
    bystander = rig.other_node("node-2", rig.store).renewer.manager.checkout_borrow(
        rig.license.arn, ONE_USER, node_id="node-2").license
    if unsigned == "missing":
        def change(answer: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in answer.items() if k != "LicenseConsumptionToken"}
    else:
        def change(answer: dict[str, Any]) -> dict[str, Any]:
            return answer | {"LicenseConsumptionToken": bystander.consumption_token}
    rig.proxy.inject(Fault.rewrite(answer=_json(change)), operation="CheckoutBorrowLicense")
    manager = _strict_manager(rig, node_id="node-1", require=FIVE_USERS)
    with pytest.raises(InvalidLicense) as info:
        manager.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1")
    assert info.value.code == refused  # and no seat is held: no SeatNotReturned
    assert dict(rig.emulator.seats_by_node(rig.license.arn)) == {"node-2": 1}  # ours returned
    (checked_in,) = [body["LicenseConsumptionToken"] for op, body in rig.emulator.requests
                     if op == "CheckInLicense"]
    assert checked_in != bystander.consumption_token


def test_a_token_for_another_node_is_a_request_mismatch(make_rig: Callable[..., Rig]) -> None:
    """The service answers for another node than asked (a genuine token): the documented
    ``request_mismatch``, not the policy's ``node_mismatch``; its seat is returned."""
    rig = make_rig()
    other_node = _json(lambda request: request | {"NodeId": "node-2"})
    rig.proxy.inject(Fault.rewrite(request=other_node), operation="CheckoutBorrowLicense")
    with pytest.raises(RequestMismatch, match="node") as info:
        rig.renewer.manager.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1")
    assert info.value.code == "request_mismatch"
    assert not rig.emulator.seats_in_use(rig.license.arn)


def test_an_answer_that_names_no_signed_seat_says_the_seat_may_be_held(
        make_rig: Callable[..., Rig]) -> None:
    """An answer with no token a pinned key signed (``200 {}``: what botocore made of a
    cut body) is refused, but its seat was taken: the error says so and carries the
    ClientToken that fetches it again, and that one does."""
    rig = make_rig()
    rig.proxy.inject(Fault.answer(b"{}"), operation="CheckoutBorrowLicense")
    manager = rig.renewer.manager
    with pytest.raises(SeatNotReturned, match="may be held") as info:
        manager.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1",
                                client_token="lost-answer")
    assert info.value.consumption_token is None and info.value.client_token == "lost-answer"
    assert info.value.reason.code == "malformed" and rig.seats() == 1
    again = manager.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1",
                                    client_token="lost-answer")
    assert again.license is not None and rig.seats() == 1 and rig.peak() == 1


def test_checkout_borrow_never_says_no_seat_is_held_while_it_is(
        make_rig: Callable[..., Rig], tmp_path: Path) -> None:
    rig = make_rig()
    key = tmp_path / "key.pem"
    key.write_bytes(rig.emulator.public_key_pem(rig.license.key_id))
    rig.proxy.inject(FAULTS["cut"], operation="CheckoutBorrowLicense")
    env = os.environ | {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                        "AWS_MAX_ATTEMPTS": "1"}
    child = subprocess.run(
        [sys.executable, "-m", "license_token", "checkout-borrow", "--license-arn",
         rig.license.arn, "--entitlement", "Users:Count=1", "--key", str(key), "--node-id",
         "node-1", "--out", str(tmp_path / "out.json"), "--endpoint-url",
         rig.proxy.endpoint_url, "--region", "us-east-1"],
        capture_output=True, text=True, timeout=60, env=env, check=False)
    assert child.returncode == 1, child.stderr
    assert rig.seats() == 1  # the seat is live
    assert "no seat is held" not in child.stderr and "Traceback" not in child.stderr
    assert "may still be held under ClientToken" in child.stderr
    (client_token,) = rig.client_tokens()
    assert client_token in child.stderr


@pytest.mark.parametrize("fault", ["cut", "html_400", "null", "drop"])
def test_a_lost_answer_is_never_taken_for_no_seat(make_rig: Callable[..., Rig],
                                                  fault: str) -> None:
    """Whatever became of the answer, the error is one that keeps the ClientToken (the
    service may have acted): never a refusal that says no seat is held."""
    from license_token.aws import answer_lost

    rig = make_rig()
    rig.proxy.inject(FAULTS[fault], operation="CheckoutBorrowLicense")
    with pytest.raises(LicenseTokenError) as info:
        rig.renewer.manager.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1")
    assert answer_lost(info.value) and rig.seats() == 1


def test_give_back_answers_returned_already_free_or_still_held(
        make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    manager = rig.renewer.manager
    lic = manager.checkout_borrow(rig.license.arn, ONE_USER, node_id="node-1").license
    assert lic.consumption_token is not None
    seat = Seat(consumption_token=lic.consumption_token, expires_at=lic.expires_at)
    rig.emulator.fail_with("AccessDeniedException", operation="CheckInLicense")
    held = give_back(seat, manager.check_in)
    assert (held.outcome, held.held, type(held.error)) == (Returned.STILL_HELD, True,
                                                           AccessDenied)
    returned = give_back(seat, manager.check_in)
    assert (returned.outcome, returned.held, returned.error) == (Returned.RETURNED, False, None)
    free = give_back(seat, manager.check_in)
    assert (free.outcome, free.held, free.error) == (Returned.ALREADY_FREE, False, None)
    assert lic.consumption_token not in repr(seat) and lic.consumption_token[:8] in repr(seat)

    def misconfigured(token: str) -> None:
        raise ConfigurationError("no client")

    with pytest.raises(ConfigurationError):
        give_back(seat, misconfigured)

    def gone(token: str) -> None:
        raise ResourceNotFound("no such consumption")

    assert give_back(seat, gone).outcome is Returned.ALREADY_FREE


def test_every_seat_is_given_back_through_give_back() -> None:
    """The adapter, the renewal and the CLI have no check-in of their own any more."""
    package = ROOT / "src" / "license_token"
    for module in ("aws/_refused.py", "startup/_renewal.py", "cli/_online.py"):
        source = (package / module).read_text()
        assert "give_back(" in source, module
        assert ".check_in(" not in source, module


def test_a_give_back_answer_says_why_exactly_when_the_seat_is_still_held() -> None:
    seat = Seat(consumption_token="0" * 32)
    with pytest.raises(ValueError, match="still held says why"):
        GiveBack(seat=seat, outcome=Returned.STILL_HELD)
    with pytest.raises(ValueError, match="still held says why"):
        GiveBack(seat=seat, outcome=Returned.RETURNED, error=AccessDenied("no"))
    held = GiveBack(seat=seat, outcome=Returned.STILL_HELD, error=AccessDenied("no"))
    assert (held.held, held.error.code if held.error else None) == (True, "aws_access_denied")
