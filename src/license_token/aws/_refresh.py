"""One forced refresh of temporary credentials after the service says they have expired.

botocore refreshes temporary credentials by the local clock: a clock 30 minutes slow keeps
signing with credentials that expired at the service for the last 30 minutes of each hour
(``ExpiredTokenException``). ``ExpiringCredentials`` can be told they have expired,
and ``register_refresh_on_expiry()`` installs a ``needs-retry`` handler that does so once
per call, then has botocore resend the call at once (re-signed with fresh credentials).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.credentials import DeferredRefreshableCredentials

from .._errors import CredentialsExpired
from .._log import Log
from ._translate import BY_AWS_CODE

__all__ = ["ExpiringCredentials", "register_refresh_on_expiry"]

log = Log("license_token.aws")

_DONE = "license_token_forced_refresh"  # marks a call whose credentials were refreshed


class ExpiringCredentials(DeferredRefreshableCredentials):  # type: ignore[misc]
    """botocore's deferred refreshable credentials, which ``expire()`` can age at once."""

    def __init__(self, refresh_using: Callable[[], dict[str, Any]], method: str,
                 **options: Any) -> None:
        super().__init__(refresh_using=self._refreshed, method=method, **options)
        self._fetch = refresh_using
        self._expired = False

    def _refreshed(self) -> dict[str, Any]:
        data = self._fetch()
        self._expired = False
        return data

    def expire(self) -> None:
        """Treat the credentials as expired: the next signed call refreshes them."""
        self._expired = True

    def refresh_needed(self, refresh_in: int | None = None) -> bool:
        """Whether to refresh: when told they expired, or botocore's own clock says so.

        Args:
            refresh_in: botocore's refresh window, in seconds.

        Returns:
            ``True`` when a refresh is due.
        """
        return self._expired or bool(super().refresh_needed(refresh_in))


def register_refresh_on_expiry(events: Any,
                               credentials: Callable[[], ExpiringCredentials | None]) -> None:
    """Refresh ``credentials()`` once per call answered ``ExpiredTokenException``, and resend.

    Args:
        events: a botocore session's (or client's) event emitter.
        credentials: the credentials in use, or ``None`` before there are any.
    """
    def needs_retry(response: Any = None, request_dict: Any = None, **_: Any) -> int | None:
        if not response or not isinstance(request_dict, dict):
            return None
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        error = BY_AWS_CODE.get(code) if isinstance(code, str) else None
        current = credentials()
        context = request_dict.setdefault("context", {})
        if error is None or not issubclass(error, CredentialsExpired) or current is None \
                or context.get(_DONE):
            return None
        context[_DONE] = True
        current.expire()
        log.info("the service says the temporary credentials have expired (is the clock "
                 "slow?): refreshing them once and retrying")
        return 0  # resend now

    events.register("needs-retry.license-manager", needs_retry,
                    unique_id="license-token-refresh-on-expiry")
