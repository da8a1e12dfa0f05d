"""The emulator's fault plan: AWS errors, throttling, 500s, dropped connections, latency,
and requests or answers changed on their way (what a misbehaving service or a test of a
vendor's own handling needs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import attrs

from ._http import ServiceError

__all__ = ["Change", "FaultInjection"]

Change = Callable[[dict[str, Any]], dict[str, Any]]
"""A function from a request (or answer) document to the one served; it may raise
``ServiceError`` to answer with that AWS error instead."""


@attrs.define
class _Plan:
    errors: list[tuple[str | None, ServiceError]] = attrs.field(factory=list)
    """``(operation or None for any, error)``, in the order they are answered."""
    drop: int = 0
    latency: float = 0.0
    requests: list[tuple[str | None, Change]] = attrs.field(factory=list)
    answers: list[tuple[str | None, Change]] = attrs.field(factory=list)

    def error_for(self, operation: str) -> ServiceError | None:
        """The first planned error for ``operation`` (taken off the plan), if any."""
        for planned in self.errors:
            if planned[0] in (None, operation):
                self.errors.remove(planned)
                return planned[1]
        return None


def _apply(changes: list[tuple[str | None, Change]], operation: str,
           document: dict[str, Any]) -> dict[str, Any]:
    for wanted, change in changes:
        if wanted in (None, operation):
            document = change(document)
    return document


class FaultInjection:
    """The faults ``LocalLicenseManager`` injects, planned by the test (its base class)."""

    _lock: threading.RLock

    def __init__(self) -> None:
        self._plan = _Plan()

    def fail_with(self, error_type: str, count: int = 1, *, status: int = 400,
                  message: str = "injected", operation: str | None = None,
                  **members: str) -> None:
        """Answer the next ``count`` calls (to ``operation``, if given) with this AWS error.

        Example: ``lm.fail_with("ConflictException", operation="CheckInLicense")``.

        Args:
            error_type: the error's ``__type``, e.g. ``"AccessDeniedException"``.
            count: how many calls fail.
            status: the HTTP status.
            message: the error's message.
            operation: only calls to this operation fail (e.g. ``"CheckInLicense"``); any
                operation's when ``None``.
            **members: more members of the error body (e.g. ``Location``).
        """
        with self._lock:
            self._plan.errors += [(operation, ServiceError(error_type, message, status,
                                                             **members))
                                    for _ in range(count)]

    def throttle(self, count: int, error_type: str = "RateLimitExceededException", *,
                 operation: str | None = None) -> None:
        """Answer the next ``count`` calls with License Manager's throttling error.

        Args:
            count: how many calls are throttled.
            error_type: the error's ``__type``.
            operation: only calls to this operation; any operation's when ``None``.
        """
        self.fail_with(error_type, count, message="Rate exceeded", operation=operation)

    def fail(self, count: int, *, operation: str | None = None) -> None:
        """Answer the next ``count`` calls with HTTP 500 ``ServerInternalException``.

        Args:
            count: how many calls fail.
            operation: only calls to this operation; any operation's when ``None``.
        """
        self.fail_with("ServerInternalException", count, status=500, message="Internal failure",
                       operation=operation)

    def drop(self, count: int) -> None:
        """Close the connection without answering the next ``count`` calls.

        Args:
            count: how many calls are dropped.
        """
        with self._lock:
            self._plan.drop = count

    def delay(self, seconds: float) -> None:
        """Add latency to every call from now on.

        Args:
            seconds: the delay before each answer.
        """
        with self._lock:
            self._plan.latency = seconds

    @property
    def latency(self) -> float:
        """The delay added to every call, in seconds."""
        return self._plan.latency

    def change(self, operation: str | None = None, *, request: Change | None = None,
               answer: Change | None = None) -> None:
        """From now on, change every request to ``operation`` (any operation's when
        ``None``) before it is served, or its answer after; ``clear_changes()`` ends it.

        Example: a service that grants something other than what was asked,
        ``lm.change("CheckoutBorrowLicense", request=lambda body: body | {"NodeId": "x"})``.

        Args:
            operation: e.g. ``"CheckInLicense"``.
            request: gets the parsed request, returns the one served; it may raise
                ``ServiceError`` (the call is then answered with that error).
            answer: gets the answer, returns the one sent.
        """
        with self._lock:
            if request is not None:
                self._plan.requests.append((operation, request))
            if answer is not None:
                self._plan.answers.append((operation, answer))

    def clear_changes(self) -> None:
        """Forget every ``change()``: requests and answers are served as they are."""
        with self._lock:
            self._plan.requests.clear()
            self._plan.answers.clear()

    def raise_planned_fault(self, operation: str) -> None:
        """Raise the fault planned for this call of ``operation``, if any (the emulator's).

        Raises:
            ConnectionAbortedError: a dropped call (``drop()``).
            ServiceError: a planned AWS error.
        """
        if self._plan.drop:
            self._plan.drop -= 1
            raise ConnectionAbortedError
        error = self._plan.error_for(operation)
        if error is not None:
            raise error

    def changed_request(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as ``change()`` says it is served (the emulator's)."""
        return _apply(self._plan.requests, operation, body)

    def changed_answer(self, operation: str, answer: dict[str, Any]) -> dict[str, Any]:
        """``answer`` as ``change()`` says it is sent (the emulator's)."""
        return _apply(self._plan.answers, operation, answer)
