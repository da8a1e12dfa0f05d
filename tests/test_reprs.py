"""Reprs and logs name a checkout without spelling out its tokens."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ONE_USER, Rig

from license_token import Verifier
from license_token.aws import Checkout
from license_token.startup import check_license
from license_token.store import LicenseStore, SeatLedger
from license_token.testing import TokenFactory


def test_reprs_hide_the_signed_token(tmp_path: Path) -> None:
    factory = TokenFactory()
    verifier = Verifier(factory.trust_store())
    response = factory.response()
    token = response["SignedToken"]
    stored = LicenseStore(tmp_path).save(json.dumps(response), verifier)
    started = check_license(LicenseStore(tmp_path), verifier)
    checkout = Checkout(license=stored.license, response=response, client_token="c")
    for value in (stored, started, checkout):
        assert token not in repr(value)
        assert type(value).__name__ in repr(value)
    assert stored.response["SignedToken"] == checkout.response["SignedToken"] == token


def test_a_seat_kept_for_later_is_logged_and_shown_by_a_prefix_only(
        make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig()
    rig.start()
    stray = rig.renewer.manager.checkout_borrow(rig.license.arn, ONE_USER,
                                                node_id="node-1").license
    assert stray.consumption_token is not None
    ledger = SeatLedger(rig.store)
    ledger.return_later(rig.license.arn, stray.consumption_token, expires_at=stray.expires_at,
                        node_id="node-1")
    rig.emulator.fail_with("AccessDeniedException", operation="CheckInLicense")
    with caplog.at_level(logging.INFO, logger="license_token"):
        assert rig.start().renewal_failed  # the stray cannot be returned yet
    token = stray.consumption_token
    assert token is not None and token[:8] in caplog.text and token not in caplog.text
    for record in ledger.seats():
        for secret in (record.consumption_token, record.client_token):
            assert secret is None or secret not in repr(record)
        assert record.consumption_token is not None
        assert record.consumption_token[:8] in repr(record)


def test_reprs_shorten_consumption_and_client_tokens_as_logs_do(tmp_path: Path) -> None:
    """Before: RenewalState, PendingCheckIn (now the ledger's SeatRecord),
    StartupResult.checked_in, Checkout and the claims printed whole consumption tokens and
    ClientTokens."""
    from datetime import datetime, timezone

    from license_token.aws import Seat
    from license_token.startup import StartupResult
    from license_token.store import SeatRecord, SeatState

    consumption, client, other = "0cd7b2bc7c674573a669bea8f5b75f2d", "c" * 32, "d" * 32
    factory = TokenFactory()
    lic = Verifier(factory.trust_store()).verify(factory.response(
        licenseConsumptionToken=consumption))
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    values = {
        "claims": lic.claims,
        "license": lic,
        "seat record": SeatRecord(license_arn="arn", node_id="n", state=SeatState.HELD,
                                  consumption_token=consumption, expires_at=at,
                                  client_token=client),
        "seat": Seat(consumption_token=consumption, expires_at=at, client_token=client),
        "startup result": StartupResult(license=lic, checked_in=(consumption, other)),
        "checkout": Checkout(license=lic, response={}, client_token=client),
    }
    for name, value in values.items():
        text = repr(value)
        for token in (consumption, client, other):
            assert token not in text, name
        assert "'0cd7b2bc...'" in text or "'cccccccc...'" in text, name
    assert "('0cd7b2bc...', 'dddddddd...')" in repr(values["startup result"])
    assert Seat(consumption_token=consumption) == Seat(consumption_token=consumption)
    assert lic.consumption_token == consumption
