"""A License Manager answer is a JSON object: any other 2xx body is no answer at all.

botocore reads whatever 2xx body comes back, and ``[]``, ``"x"``, ``1``, an empty or a cut
body all parse as an empty result: the same as ``CheckInLicense``'s genuine ``{}``. A
gateway that replaced a refusal (``ConflictException``: early check-in forbidden) with
``200 []`` would make a seat still held look returned, and the next borrow a second seat.
Every 2xx body is checked here once botocore has read it; one that is not a JSON object is
a retryable ``AnswerUnreadable`` (the request may have been served).
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import AnswerUnreadable

__all__ = ["install_answer_check"]

_UNIQUE_ID = "license-token-answer-is-an-object"


def install_answer_check(client: Any) -> None:
    """Make ``client`` refuse a 2xx answer whose body is not a JSON object (idempotent).

    Args:
        client: A botocore client of a JSON protocol service.
    """
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.unregister(f"after-call.{service}", unique_id=_UNIQUE_ID)
    client.meta.events.register(f"after-call.{service}", _check_answer, unique_id=_UNIQUE_ID)


def _check_answer(http_response: Any, model: Any, **_: Any) -> None:
    """botocore's ``after-call`` hook: raise when a 2xx body is not a JSON object."""
    status = getattr(http_response, "status_code", None)
    if not isinstance(status, int) or not 200 <= status < 300:
        return
    body = http_response.content or b""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        error = AnswerUnreadable(
            f"the answer to {getattr(model, 'name', 'the call')} is not a JSON object "
            f"({len(body)} bytes): a proxy or gateway in between may have replaced or cut it",
            status=status)
        error.sdk_error = "not a JSON object"
        raise error
