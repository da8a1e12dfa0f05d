"""Only the library's errors leave ``check_license``, and a renewal that cannot run says why.

A renew lock that cannot be taken for an OS reason, and a license-token file missing or
empty mid-rotation, are renewal errors: the app runs on its stored license. Credentials
that the service calls expired although botocore's (slow) clock does not are refreshed once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ManualClock as Clock

from license_token import NotYetValid, TrustStore, Verifier
from license_token.aws import CredentialsExpired, LicenseManager, NoCredentials
from license_token.aws.credentials import LicenseToken, token_session
from license_token.startup import BorrowRenewer, check_license
from license_token.store import LicenseStore, NotInStore, StoreUnavailable
from license_token.testing import EmulatedLicense, LocalLicenseManager, ServiceError

ROLE = "arn:aws:iam::123456789012:role/AWSLicenseManagerConsumptionRole"
USER = [{"Name": "Users", "Unit": "Count", "Value": "1"}]


@pytest.fixture
def emulator(clock: Clock) -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(clock=clock) as lm:
        yield lm


def _license(emulator: LocalLicenseManager) -> EmulatedLicense:
    return emulator.add_license(entitlements={"Users": ("Count", 2)}, borrow_ttl_minutes=24 * 60)


def _verifier(emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock) -> Verifier:
    return Verifier(TrustStore.from_pem(emulator.public_key_pem(lic.key_id)), node_id="n-1",
                    clock=clock)


def _token_renewer(emulator: LocalLicenseManager, lic: EmulatedLicense, clock: Clock,
                   token_file: Path, *, credentials_clock: Clock | None = None
                   ) -> tuple[Verifier, BorrowRenewer]:
    emulator.identity.require_issued_credentials = True  # only the token's credentials
    session = token_session(LicenseToken.from_file(token_file), ROLE, region_name="us-east-1",
                            endpoint_url=emulator.endpoint_url,
                            time_fetcher=credentials_clock or clock)
    verifier = _verifier(emulator, lic, clock)
    manager = LicenseManager(verifier, session=session, endpoint_url=emulator.endpoint_url,
                             max_attempts=1)
    return verifier, BorrowRenewer(manager=manager, license_arn=lic.arn, entitlements=USER)


@pytest.mark.parametrize("rotation", ["missing", "empty"])
def test_a_token_file_mid_rotation_is_a_renewal_error_and_the_app_runs(
        tmp_path: Path, clock: Clock, emulator: LocalLicenseManager,
        rotation: str) -> None:
    """Before: ``ConfigurationError`` out of check_license although the license was valid."""
    lic = _license(emulator)
    token_file = tmp_path / "license-token"
    token_file.write_text(emulator.create_token(lic.arn).token + "\n")
    verifier, renewer = _token_renewer(emulator, lic, clock, token_file)
    store = LicenseStore(tmp_path / "store")
    first = check_license(store, verifier, renew=renewer)
    assert first.renewed
    saved = token_file.read_text()
    if rotation == "missing":
        token_file.unlink()
    else:
        token_file.write_text("")
    clock.now += timedelta(hours=20)  # due; the hour-long credentials must be refreshed
    result = check_license(store, verifier, renew=renewer)
    assert isinstance(result.renewal_error, NoCredentials)
    assert str(token_file) in str(result.renewal_error)
    assert result.license.token == first.license.token
    token_file.write_text(saved)  # the rotation is done
    clock.now += timedelta(hours=1)  # past the back-off
    assert check_license(store, verifier, renew=renewer).renewed
    assert int(emulator.seats_in_use(lic.arn)["Users"]) == 1


def test_credentials_expired_at_the_service_are_refreshed_once(
        tmp_path: Path, clock: Clock, emulator: LocalLicenseManager,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore judges expiry by a clock 30 minutes slow: before, every call of the last
    30 minutes of each hour failed with ExpiredTokenException, no refresh."""
    lic = _license(emulator)
    token_file = tmp_path / "license-token"
    token_file.write_text(emulator.create_token(lic.arn).token)
    slow = Clock()
    slow.now = clock.now - timedelta(minutes=30)
    _, renewer = _token_renewer(emulator, lic, clock, token_file, credentials_clock=slow)
    manager = renewer.manager
    checkout = manager.checkout_borrow(lic.arn, USER, node_id="n-1")
    assert emulator.calls("AssumeRoleWithWebIdentity") == 1
    for minutes in (40, 21):  # at 40, then at 61: expired at the service, botocore reads 31
        clock.now += timedelta(minutes=minutes)
        slow.now = clock.now - timedelta(minutes=30)
        with caplog.at_level(logging.INFO, logger="license_token.aws"):
            manager.extend(checkout.license.consumption_token or "")
    assert emulator.calls("AssumeRoleWithWebIdentity") == 2  # once, at the expiry
    assert "refreshing them once" in caplog.text
    authenticate = emulator.identity.authenticate

    def always_expired(*args: Any, **kwargs: Any) -> None:
        authenticate(*args, **kwargs)
        if kwargs["operation"] != "GetAccessToken":
            raise ServiceError("ExpiredTokenException", "The token is expired", 403)

    monkeypatch.setattr(emulator.identity, "authenticate", always_expired)
    with pytest.raises(CredentialsExpired) as info:  # refused again after the refresh
        manager.extend(checkout.license.consumption_token or "")
    assert info.value.code == "aws_credentials_expired" and not info.value.retryable
    assert emulator.calls("AssumeRoleWithWebIdentity") == 3  # one forced refresh, no loop


def test_a_renew_lock_that_cannot_be_taken_is_a_logged_store_error(
        tmp_path: Path, clock: Clock, emulator: LocalLicenseManager,
        caplog: pytest.LogCaptureFixture) -> None:
    """Before: ``.renew.lock`` a directory silently disabled renewal: no error, no log."""
    lic = _license(emulator)
    verifier = _verifier(emulator, lic, clock)
    renewer = BorrowRenewer(manager=LicenseManager(verifier, client=emulator.client()),
                            license_arn=lic.arn, entitlements=USER)
    store = LicenseStore(tmp_path)
    stored = check_license(store, verifier, renew=renewer).license
    (tmp_path / ".renew.lock").unlink(missing_ok=True)
    (tmp_path / ".renew.lock").mkdir()
    clock.now += timedelta(hours=20)  # due
    with caplog.at_level(logging.ERROR, logger="license_token.startup"):
        result = check_license(store, verifier, renew=renewer)
    assert isinstance(result.renewal_error, StoreUnavailable)
    assert "renewal lock" in str(result.renewal_error)
    assert ".renew.lock" in caplog.text and "renewal is stopped" in caplog.text
    assert result.license.token == stored.token
    assert emulator.calls("CheckoutBorrowLicense") == 1
    (tmp_path / "empty" / ".renew.lock").mkdir(parents=True)
    with pytest.raises(NotInStore) as info:  # nothing stored: the cause is chained
        check_license(LicenseStore(tmp_path / "empty"), verifier, renew=renewer)
    assert isinstance(info.value.__cause__, StoreUnavailable)


def test_not_yet_valid_is_never_hidden_behind_not_in_store(
        tmp_path: Path, clock: Clock, emulator: LocalLicenseManager) -> None:
    lic = _license(emulator)
    behind = Clock()
    behind.now = clock.now - timedelta(days=3)
    verifier = _verifier(emulator, lic, behind)
    renewer = BorrowRenewer(manager=LicenseManager(verifier, client=emulator.client()),
                            license_arn=lic.arn, entitlements=USER)
    with pytest.raises(NotYetValid) as info:
        check_license(LicenseStore(tmp_path), verifier, renew=renewer)
    assert info.value.code == "clock_behind" and info.value.behind == timedelta(days=3)
    assert isinstance(info.value.__cause__, NotInStore)
