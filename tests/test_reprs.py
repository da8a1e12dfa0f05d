"""Reprs and logs name a checkout without spelling out its tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from test_startup import FlakyLicenseManager, SimClock, _setup

from license_token import Expired, Verifier
from license_token.aws import Checkout
from license_token.startup import check_license
from license_token.store import LicenseStore
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


def test_a_seat_kept_for_later_is_logged_by_a_prefix_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = SimClock()
    emulator = FlakyLicenseManager(clock=clock)
    emulator.rewrite = {}
    with emulator:
        _, verifier, renewer = _setup(emulator, clock)
        store = LicenseStore(tmp_path)
        check_license(store, verifier, renew=renewer)
        clock.advance(days=2)
        emulator.rewrite = {"NodeId": "someone-else"}  # refused, and its seat not returned
        emulator.refuse_check_ins = 1
        with caplog.at_level(logging.INFO, logger="license_token"), pytest.raises(Expired):
            check_license(store, verifier, renew=renewer)
    (pending,) = store.pending_check_ins()
    token = pending.consumption_token
    assert token[:8] in caplog.text and token not in caplog.text


def test_reprs_shorten_consumption_and_client_tokens_as_logs_do(tmp_path: Path) -> None:
    """Before: RenewalState, PendingCheckIn, StartupResult.checked_in, Checkout and the
    claims printed whole consumption tokens and ClientTokens."""
    from datetime import datetime, timezone

    from license_token.startup import StartupResult
    from license_token.store import PendingCheckIn, RenewalState

    consumption, client, other = "0cd7b2bc7c674573a669bea8f5b75f2d", "c" * 32, "d" * 32
    factory = TokenFactory()
    lic = Verifier(factory.trust_store()).verify(factory.response(
        licenseConsumptionToken=consumption))
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    values = {
        "claims": lic.claims,
        "license": lic,
        "renewal state": RenewalState(held=consumption, held_until=at, released=other,
                                      client_token=client),
        "pending check-in": PendingCheckIn(license_arn="arn", consumption_token=consumption,
                                           expires_at=at),
        "startup result": StartupResult(license=lic, checked_in=(consumption, other)),
        "checkout": Checkout(license=lic, response={}, client_token=client),
    }
    for name, value in values.items():
        text = repr(value)
        for token in (consumption, client, other):
            assert token not in text, name
        assert "'0cd7b2bc...'" in text or "'cccccccc...'" in text, name
    assert "('0cd7b2bc...', 'dddddddd...')" in repr(values["startup result"])
    assert RenewalState(held=consumption) == RenewalState(held=consumption)  # values unchanged
    assert lic.consumption_token == consumption
