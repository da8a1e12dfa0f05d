"""Trusted time, the "now" / "as of" split and wire-form saving."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, NoOffset

from license_token import ClockRollback, ConfigurationError, Expired, Verifier
from license_token.cli import main
from license_token.store import LicenseStore, SeatLedger
from license_token.testing import DEFAULT_ARN, TokenFactory
from license_token.testing._factory import aws_time

YEAR = {"issuedAt": aws_time(NOW), "expiration": aws_time(NOW + timedelta(days=365))}


def _year(issuer: TokenFactory, at: datetime = NOW) -> dict[str, Any]:
    return issuer.response(issuer.claims(issuedAt=aws_time(at),
                                         expiration=aws_time(at + timedelta(days=365))))


def test_as_of_is_a_what_if_that_never_moves_the_mark(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    store.save(_year(issuer), verifier)
    assert store.high_water_mark() == NOW
    ahead = store.load(DEFAULT_ARN, verifier, as_of=NOW + timedelta(days=80))
    assert ahead.license.verified_at == NOW + timedelta(days=80)
    loaded, failed = store.load_all(verifier, as_of=NOW + timedelta(days=80))
    assert len(loaded) == 1 and not failed
    assert store.high_water_mark() == NOW
    store.load(DEFAULT_ARN, verifier)  # the real clock: still fine
    with pytest.raises(Expired):  # a what-if is judged as of its instant
        store.load(DEFAULT_ARN, verifier, as_of=NOW + timedelta(days=400))
    with pytest.raises(ConfigurationError, match="either"):
        store.load(DEFAULT_ARN, verifier, now=NOW, as_of=NOW)


def test_cli_store_verify_at_a_future_instant_leaves_plain_verify_passing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = datetime.now(timezone.utc).replace(microsecond=0)
    factory = TokenFactory(now=real)
    verifier = Verifier(factory.trust_store())
    LicenseStore(tmp_path / "s").save(_year(factory, real), verifier)
    key = tmp_path / "k.pem"
    key.write_bytes(factory.public_key_pem())
    common = ["store", "verify", "--dir", str(tmp_path / "s"), "--key", str(key), "--json"]
    future = aws_time(real + timedelta(days=80)) + "Z"
    assert main([*common, "--at", future]) == 0
    assert main(["store", "show", DEFAULT_ARN, *common[2:], "--at", future]) == 0
    assert main(["store", "list", *common[2:], "--at", future]) == 0
    capsys.readouterr()
    assert main(common) == 0, capsys.readouterr().out
    mark = LicenseStore(tmp_path / "s").high_water_mark()
    assert mark is not None and mark - real < timedelta(minutes=5)  # not 80 days ahead


def test_naive_datetimes_are_configuration_errors(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    store.save(_year(issuer), verifier)
    naive = NOW.replace(tzinfo=None)
    for call in (lambda: store.load(DEFAULT_ARN, verifier, now=naive),
                 lambda: store.load(DEFAULT_ARN, verifier, as_of=naive),
                 lambda: store.load_all(verifier, now=naive),
                 lambda: store.save(_year(issuer), verifier, now=naive),
                 lambda: store.load(DEFAULT_ARN, Verifier(verifier.keys, clock=lambda: naive))):
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            call()


def test_a_fresh_online_token_resets_the_mark_even_downwards(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    store.save(_year(issuer), verifier)
    store.load(DEFAULT_ARN, verifier, now=NOW + timedelta(days=60))  # the clock was wrong once
    assert store.high_water_mark() == NOW + timedelta(days=60)
    with pytest.raises(ClockRollback):
        store.load(DEFAULT_ARN, verifier, now=NOW)
    with pytest.raises(ClockRollback):  # an old response saved again is no evidence of time
        store.save(_year(issuer), verifier, now=NOW)
    stale = _year(issuer, NOW - timedelta(days=30))  # "fetched now" but issued a month ago
    with pytest.raises(ClockRollback):
        store.save(stale, verifier, now=NOW, fetched_now=True)
    store.save(_year(issuer), verifier, now=NOW, fetched_now=True)
    assert store.high_water_mark() == NOW
    store.load(DEFAULT_ARN, verifier, now=NOW)


def test_datetime_values_are_saved_in_wire_form_for_every_input_form(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    response = _year(issuer)
    issued = NOW
    expires = NOW + timedelta(days=365)
    forms: dict[str, Any] = {
        "dict": response,
        "aware datetimes": response | {"IssuedAt": issued, "Expiration": expires},
        "offset datetimes": response | {
            "IssuedAt": issued.astimezone(timezone(timedelta(hours=2))),
            "Expiration": expires.astimezone(timezone(timedelta(hours=-5)))},
        "naive datetimes (UTC, as on the wire)": response | {
            "IssuedAt": issued.replace(tzinfo=None), "Expiration": expires.replace(tzinfo=None)},
        "JSON text": json.dumps(response),
        "JSON bytes": json.dumps(response).encode(),
        "bare token": response["SignedToken"],
        "bare token bytes": response["SignedToken"].encode(),
    }
    for name, form in forms.items():
        store = LicenseStore(tmp_path / name.replace(" ", "_"))
        saved = store.save(form, verifier)
        entry = json.loads(saved.path.read_text())
        if "datetimes" in name:  # written in the model's ISO8601DateTime form, as boto3 got it
            assert entry["response"]["IssuedAt"] == aws_time(issued) + "Z", name
            assert entry["response"]["Expiration"] == aws_time(expires) + "Z", name
        elif "IssuedAt" in entry["response"]:  # strings are kept as the service sent them
            assert entry["response"]["IssuedAt"] == response["IssuedAt"], name
            assert entry["response"]["Expiration"] == response["Expiration"], name
        loaded = store.load(DEFAULT_ARN, verifier)
        assert loaded.license.token == response["SignedToken"], name
        assert loaded.response["SignedToken"] == response["SignedToken"], name
    with pytest.raises(ConfigurationError, match="JSON"):
        LicenseStore(tmp_path / "odd").save(response | {"Extra": {1, 2}}, verifier)


def test_a_datetime_without_an_offset_is_naive_everywhere(tmp_path: Path) -> None:
    factory = TokenFactory()  # tokens issued at the real time
    now = datetime.now(timezone.utc)
    verifier = Verifier(factory.trust_store(), clock=lambda: now)
    store = LicenseStore(tmp_path)
    store.save(factory.response(), verifier, now=now)
    disguised = now.replace(tzinfo=NoOffset())
    from license_token.startup import check_license

    calls: list[Callable[[], object]] = [lambda: store.load(DEFAULT_ARN, verifier, now=disguised),
             lambda: store.save(factory.response(), verifier, now=disguised),
             lambda: check_license(store, verifier, now=disguised),
             lambda: Verifier(factory.trust_store(), clock=lambda: disguised).verify(
                 factory.response()),
             lambda: SeatLedger(store).return_later(DEFAULT_ARN, "c1", expires_at=disguised,
                                                    node_id=None)]
    for call in calls:
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            call()


def test_the_clock_mark_never_moves_below_a_signed_issued_at(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    """A genuine old token replayed by a fake endpoint, "fetched now", is no evidence that
    time went back: the mark keeps the greatest signed issuedAt seen."""
    store = LicenseStore(tmp_path)
    store.save(_year(issuer), verifier, now=NOW, fetched_now=True)
    assert store.high_water_mark() == NOW
    hour_old = _year(issuer, NOW - timedelta(hours=1))  # within the tolerance of its clock
    store.save(hour_old, verifier, now=NOW - timedelta(hours=1), fetched_now=True)
    assert store.high_water_mark() == NOW  # before: reset down to NOW - 1 h
    mark = store.high_water_mark()
    month_old = _year(issuer, NOW - timedelta(days=30))  # and the clock set back to match it
    with pytest.raises(ClockRollback, match="30 days, 0:00:00 behind"):
        store.save(month_old, verifier, now=NOW - timedelta(days=30), fetched_now=True)
    assert store.high_water_mark() == mark
    with pytest.raises(ClockRollback):
        store.load(DEFAULT_ARN, verifier, now=NOW - timedelta(days=30))


def test_a_fresh_token_still_resets_a_mark_moved_ahead_by_clock_readings(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    """The signed floor does not stop the recovery of a clock that was once ahead."""
    store = LicenseStore(tmp_path)
    store.save(_year(issuer), verifier, now=NOW, fetched_now=True)
    store.load(DEFAULT_ARN, verifier, now=NOW + timedelta(days=60))
    assert store.high_water_mark() == NOW + timedelta(days=60)
    later = NOW + timedelta(hours=1)
    store.save(_year(issuer, later), verifier, now=later, fetched_now=True)
    assert store.high_water_mark() == later
    doc = json.loads((tmp_path / "clock.json").read_text())
    assert doc == {"format": "license-token/clock", "version": 1,
                   "high_water": aws_time(later) + "Z", "signed_issued_at": aws_time(later) + "Z"}


def test_a_mark_without_the_signed_time_is_read_and_completed(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    (tmp_path / "clock.json").write_text(json.dumps(
        {"format": "license-token/clock", "version": 1, "high_water": aws_time(NOW) + "Z"}))
    store = LicenseStore(tmp_path)
    assert store.high_water_mark() == NOW
    store.save(_year(issuer, NOW - timedelta(hours=2)), verifier, now=NOW)
    doc = json.loads((tmp_path / "clock.json").read_text())
    assert (doc["high_water"], doc["signed_issued_at"]) == (
        aws_time(NOW) + "Z", aws_time(NOW - timedelta(hours=2)) + "Z")
    (tmp_path / "clock.json").write_text(json.dumps(
        {"format": "license-token/clock", "version": 1, "high_water": aws_time(NOW) + "Z",
         "signed_issued_at": "yesterday"}))
    assert store.high_water_mark() is None  # a garbled member: the whole mark is ignored
