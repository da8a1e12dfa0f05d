"""The check an app makes at every start: load, re-verify, and renew when it can."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from ._clock import current_time
from ._errors import Expired
from ._response import Source
from ._verify import VerifiedLicense, Verifier
from .store import LicenseStore, NotInStore, StoreCorrupt, StoredLicense

__all__ = ["Renewer", "StartupResult", "check_license"]

log = logging.getLogger(__name__)

#: Given the current license, fetch a new checkout response (online), e.g. a new borrow.
Renewer = Callable[[VerifiedLicense | None], Source]


@attrs.frozen(kw_only=True)
class StartupResult:
    """The license to run on, and what happened to the renewal attempt, if any."""

    license: VerifiedLicense
    renewed: bool = False
    renewal_error: Exception | None = None

    @property
    def renewal_failed(self) -> bool:
        return self.renewal_error is not None


def _pick(store: LicenseStore, verifier: Verifier, license_arn: str | None,
          now: datetime) -> StoredLicense:
    if license_arn is not None:
        return store.load(license_arn, verifier, now=now)
    loaded, failed = store.load_all(verifier, now=now)
    if loaded:
        return max(loaded, key=lambda s: s.license.expires_at)
    if failed:
        raise failed[0].error
    raise NotInStore(f"no checkout stored in {store.directory}")


def check_license(store: LicenseStore, verifier: Verifier, *, license_arn: str | None = None,
                  renew: Renewer | None = None, renew_within: timedelta = timedelta(days=1),
                  now: datetime | None = None) -> StartupResult:
    """The verified license to run on, or a typed error.

    With ``renew``, a license expiring within ``renew_within`` (or an expired, missing or
    corrupt one) is renewed online and the new checkout saved. If renewal fails, the stored
    license is used while it is still valid and ``renewal_error`` says why; a good
    stored token is never removed or overwritten because a renewal failed.
    """
    moment = current_time(verifier.clock, now)
    if renew is None:
        return StartupResult(license=_pick(store, verifier, license_arn, moment).license)
    try:
        current = _pick(store, verifier, license_arn, moment).license
    except (Expired, NotInStore, StoreCorrupt) as exc:
        try:
            return _renewed(store, verifier, renew, None, moment)
        except Exception as renewal_error:
            raise exc from renewal_error
    if current.expires_at - moment > renew_within:
        return StartupResult(license=current)
    try:
        return _renewed(store, verifier, renew, current, moment)
    except Exception as exc:  # the network, AWS, or a bad new token: keep the stored one
        log.warning("license renewal failed, running on the stored token until %s: %s",
                    current.expires_at.isoformat(), exc)
        return StartupResult(license=current, renewal_error=exc)


def _renewed(store: LicenseStore, verifier: Verifier, renew: Renewer,
             current: VerifiedLicense | None, moment: datetime) -> StartupResult:
    saved = store.save(renew(current), verifier, now=moment)
    return StartupResult(license=saved.license, renewed=True)
