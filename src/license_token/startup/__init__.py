"""The check an app makes at every start: load, re-verify, and renew when it is time.

One entry point, ``check_license()``. With a ``Renewer`` it also keeps the
license fresh without ever costing the customer a seat: at most one seat per (license,
node) is held (the stored consumption is checked in *before* a new one is borrowed), a
check-in that fails is remembered in the store and retried at later starts, renewals
happen when a fraction of the token's own lifetime is left (with jitter), and failures
back off (remembered in the store) so a fleet never stampedes the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._clock import current_time
from .._errors import ConfigurationError
from .._verify import VerifiedLicense, Verifier
from ..store import LicenseStore, NotInStore
from ._result import StartupResult

if TYPE_CHECKING:
    import random

    from ._policy import BorrowRenewer, RenewalPolicy, Renewer

__all__ = ["BorrowRenewer", "RenewalPolicy", "Renewer", "StartupResult", "check_license"]

_RENEWAL_TERMS = frozenset({"BorrowRenewer", "RenewalPolicy", "Renewer"})
"""The renewal's terms (``startup._policy``): imported at their first use, so that a start
without a renewer builds none of their classes."""


def __getattr__(name: str) -> Any:
    if name in _RENEWAL_TERMS:
        from . import _policy

        return getattr(_policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")




def check_license(store: LicenseStore, verifier: Verifier, *, license_arn: str | None = None,
                  renew: Renewer | None = None, policy: RenewalPolicy | None = None,
                  now: datetime | None = None, as_of: datetime | None = None,
                  rng: random.Random | None = None) -> StartupResult:
    """The verified license to run on, renewed online when it is time; else a typed error.

    Without ``renew`` this only loads and re-verifies (the best stored license when
    ``license_arn`` is not given). With ``renew``, it first retries the check-ins still
    pending, then renews when the stored license is due (see ``RenewalPolicy``) or
    fails in a way a fresh checkout can cure (expired, missing, corrupt, bad signature,
    node or license mismatch, clock rollback, malformed…). The stored consumption is
    checked in before a new one is borrowed; if the license forbids early check-in, the
    renewal waits until the stored borrow has expired. A renewal that fails leaves the
    stored license in use while it is still valid (``renewal_error`` says why).

    Args:
        store: where the checkout is kept.
        verifier: the app's verifier (pinned keys, node, requirements).
        license_arn: which stored license (default: ``renew.license_arn``, else the best).
        renew: how to renew online, e.g. ``BorrowRenewer``.
        policy: when to renew and how to back off (default: ``RenewalPolicy()``).
        now: a real clock reading (default: the verifier's clock).
        as_of: a what-if instant instead of ``now``: verify only, no renewal, no clock mark.
        rng: the randomness for back-off (injectable for simulations).

    Returns:
        The license to run on.

    Raises:
        InvalidLicense: no valid license and none could be fetched (the stored failure,
            chained from the renewal error).
        StoreError: the store cannot be read (``NotInStore`` when empty).
        ConfigurationError: a naive datetime, ``as_of`` with ``renew``, or a bad renewer.
    """
    if as_of is not None:
        if renew is not None or now is not None:
            raise ConfigurationError("as_of is a what-if: it takes neither renew nor now")
        return StartupResult(license=_pick(store, verifier, license_arn, as_of=as_of))
    moment = current_time(verifier.clock, now)
    if renew is None:
        return StartupResult(license=_pick(store, verifier, license_arn, now=moment))
    return _renewing(store, verifier, license_arn, renew, policy, moment, rng)


def _renewing(store: LicenseStore, verifier: Verifier, license_arn: str | None,
              renew: Renewer, policy: RenewalPolicy | None, moment: datetime,
              rng: random.Random | None) -> StartupResult:
    """``check_license`` with a renewer: its terms checked, then the renewal run."""
    import random  # the renewal's imports, for a start that has a renewer only

    from . import _policy
    from ._renewal import Renewal

    if not isinstance(renew, _policy.Renewer):
        raise ConfigurationError(_not_a_renewer(renew))
    if license_arn is not None and license_arn != renew.license_arn:
        raise ConfigurationError("license_arn differs from the renewer's license")
    return Renewal(store, verifier, renew, policy or _policy.DEFAULT_POLICY, moment,
                   rng or random.Random()).run()  # noqa: S311 (back-off jitter, not secrets)


def _not_a_renewer(renew: object) -> str:
    """Why ``renew`` is no ``Renewer``: the members it lacks."""
    missing = [name for name in ("license_arn", "checkout", "check_in",
                                 "early_check_in_allowed") if not hasattr(renew, name)]
    return (f"renew must be a Renewer (it lacks {', '.join(missing)}), e.g. "
            "BorrowRenewer(manager=..., license_arn=..., entitlements=[...]); a class that "
            "names Renewer as its base inherits early_check_in_allowed")


def _pick(store: LicenseStore, verifier: Verifier, license_arn: str | None, *,
          now: datetime | None = None, as_of: datetime | None = None) -> VerifiedLicense:
    if license_arn is not None:
        return store.load(license_arn, verifier, now=now, as_of=as_of).license
    loaded, failed = store.load_all(verifier, now=now, as_of=as_of)
    if loaded:
        return max(loaded, key=lambda s: s.license.expires_at).license
    if failed:
        raise failed[0].error
    raise NotInStore(f"no checkout stored in {store.directory}")


