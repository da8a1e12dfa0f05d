"""botocore's ``standard`` retries, taught License Manager's own throttling error.

License Manager throttles with ``RateLimitExceededException`` (the only throttling error
its model lists) and the model does not mark it ``retryable``, so botocore's ``standard``
mode gives up at the first one. Here botocore's own pieces (``RetryHandler``,
``RetryPolicy``, ``ExponentialBackoff`` with full jitter, the client's retry quota and max
attempts) are assembled as ``standard.register_retry_handler`` does, with that code added
to the throttling errors, and registered in place of the client's ``needs-retry`` handler.
botocore resends the very same request, so a retried checkout keeps its ``ClientToken``.
"""

from __future__ import annotations

from typing import Any

from botocore.retries import quota, standard
from botocore.retries.base import BaseRetryableChecker

__all__ = ["RATE_LIMIT_CODES", "install_retries"]

RATE_LIMIT_CODES = frozenset({"RateLimitExceededException"})
"""Throttling codes of License Manager's model that botocore does not know as such."""


class _ThrottlingDetector(standard.ThrottlingErrorDetector):  # type: ignore[misc]
    """botocore's detector, plus ``RATE_LIMIT_CODES``: they get throttling back-off."""

    def is_throttling_error_from_context(self, context: Any) -> bool:
        if context.get_error_code() in RATE_LIMIT_CODES:
            return True
        return bool(super().is_throttling_error_from_context(context))


class _RetryConditions(BaseRetryableChecker):  # type: ignore[misc]
    """``StandardRetryConditions`` or, under the same max attempts, a rate-limit error."""

    def __init__(self, max_attempts: int) -> None:
        self._standard = standard.StandardRetryConditions(max_attempts=max_attempts)
        self._max_attempts = standard.MaxAttemptsChecker(max_attempts)
        self._rate_limited = standard.ThrottledRetryableChecker(sorted(RATE_LIMIT_CODES))

    def is_retryable(self, context: Any) -> bool:
        if self._standard.is_retryable(context):
            return True
        return bool(self._rate_limited.is_retryable(context)
                    and self._max_attempts.is_retryable(context))


def install_retries(client: Any, *, max_backoff: float = 20.0) -> None:
    """Replace ``client``'s retry handler with one that also retries ``RATE_LIMIT_CODES``.

    Idempotent; the client keeps its configured ``total_max_attempts``.

    Args:
        client: A botocore client.
        max_backoff: The cap of one back-off delay in seconds (botocore's is 20).
    """
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    retries = client.meta.config.retries or {}
    max_attempts = int(retries.get("total_max_attempts") or standard.DEFAULT_MAX_ATTEMPTS)
    adapter = standard.RetryEventAdapter()
    detector = _ThrottlingDetector(adapter)
    retry_quota = standard.RetryQuotaChecker(quota.RetryQuota(), detector)
    handler = standard.RetryHandler(
        retry_policy=standard.RetryPolicy(
            retry_checker=_RetryConditions(max_attempts),
            retry_backoff=standard.ExponentialBackoff(
                max_backoff=max_backoff, service_name=service, throttling_detector=detector),
        ),
        retry_event_adapter=adapter,
        retry_quota=retry_quota,
        service_name=service,
    )
    unique_id = f"retry-config-{service}"  # the id botocore registers its own handler under
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)
    quota_id = f"license-token-retry-quota-{service}"
    events.unregister(f"after-call.{service}", unique_id=quota_id)
    events.register(f"after-call.{service}", retry_quota.release_retry_quota,
                    unique_id=quota_id)
