"""One way to give a seat back: ``Seat`` and ``give_back()``.

Every place that returns a consumption (the adapter's refused checkouts, the renewal,
``checkout-borrow``) says the same three things about it: it was returned, it was already
free (checked in or expired: ``ResourceNotFoundException``), or it is still held, with the
error that kept it. Only the library's errors are answers; a ``ConfigurationError`` (the
app's mistake) and any other exception (a bug) propagate.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime

import attrs

from .._errors import (
    AnswerUnreadable,
    AwsError,
    ConfigurationError,
    ConnectionFailed,
    LicenseTokenError,
    ResourceNotFound,
    ServiceUnavailable,
)
from .._log import token_repr

__all__ = ["GiveBack", "Returned", "Seat", "answer_lost", "give_back"]


@attrs.frozen(kw_only=True)
class Seat:
    """A consumption that may hold seats, named by its signed claims.

    Attributes:
        consumption_token: the signed ``licenseConsumptionToken``.
        expires_at: the signed expiration (when it frees itself), if known.
        client_token: the ``ClientToken`` that took it, if known (the same one fetches the
            same seat again while it is held).
    """

    consumption_token: str = attrs.field(repr=token_repr)
    expires_at: datetime | None = None
    client_token: str | None = attrs.field(default=None, repr=token_repr)


class Returned(enum.Enum):
    """What became of a seat given back."""

    RETURNED = "returned"
    """The check-in succeeded."""
    ALREADY_FREE = "already_free"
    """The service no longer knows the consumption: checked in or expired already."""
    STILL_HELD = "still_held"
    """The check-in failed: the seat is held until it is returned or expires."""


@attrs.frozen(kw_only=True)
class GiveBack:
    """The answer of ``give_back()``.

    Attributes:
        seat: the seat.
        outcome: returned, already free, or still held.
        error: why it is still held (``None`` otherwise).
    """

    seat: Seat
    outcome: Returned
    error: LicenseTokenError | None = attrs.field(default=None)

    @error.validator
    def _error_iff_held(self, _attribute: object, error: LicenseTokenError | None) -> None:
        if (error is not None) != (self.outcome is Returned.STILL_HELD):
            raise ValueError("a seat still held says why, and only then")

    @property
    def held(self) -> bool:
        """Whether the seat is still held."""
        return self.outcome is Returned.STILL_HELD


def give_back(seat: Seat, check_in: Callable[[str], object]) -> GiveBack:
    """Check ``seat`` in with ``check_in`` and say what became of it.

    Args:
        seat: the seat to return.
        check_in: ``CheckInLicense`` for one consumption token, e.g.
            ``LicenseManager.check_in`` or a renewer's ``check_in``.

    Returns:
        Returned, already free, or still held with the error.

    Raises:
        ConfigurationError: the check-in cannot be made as configured.
    """
    try:
        check_in(seat.consumption_token)
    except ResourceNotFound:
        return GiveBack(seat=seat, outcome=Returned.ALREADY_FREE)
    except ConfigurationError:
        raise
    except LicenseTokenError as exc:
        return GiveBack(seat=seat, outcome=Returned.STILL_HELD, error=exc)
    return GiveBack(seat=seat, outcome=Returned.RETURNED)


def answer_lost(error: LicenseTokenError) -> bool:
    """Whether a call that failed with ``error`` may have been served, its answer lost.

    The connection dropped, the answer was cut or unreadable, or an error no AWS code
    names came back (a proxy's HTML page): a checkout may then hold a seat under its
    ``ClientToken``, which the same ``ClientToken`` fetches again.

    Args:
        error: why the call failed.

    Returns:
        ``True`` when the service may have acted on the call.
    """
    return isinstance(error, ConnectionFailed | ServiceUnavailable | AnswerUnreadable) or (
        type(error) is AwsError)
