"""The states of renewal, and the transitions between them.

At each start, one license on one node is in one of six states (``State``), worked
out from the seat ledger (``SeatLedger``: every consumption this
node may hold), the stored checkout and the clock. The ledger, not the stored file,
decides what to check in; every record a call could make stale is written first.

``NOT_DUE``
    The stored checkout is the node's held seat, valid and not due. No call.
``BACKING_OFF``
    An attempt failed; none before the remembered next attempt while the stored license is
    valid. No call.
``RETURNING_SEAT``
    A seat of this node not to keep (replaced, expired by this node's clock, learnt from
    elsewhere) is checked in before anything else. One ``CheckInLicense``.
``WAITING_FOR_EXPIRY``
    A seat cannot be checked in because the license forbids early check-in: no new one
    until it expires (the stored license runs the app). No call.
``CHECKOUT_IN_FLIGHT``
    A ``ClientToken`` recorded in the ledger is sent: a new checkout, the same one again
    after its answer was lost or cut (or could not be saved, and its seat not returned),
    or the held seat fetched again when the store no longer holds it. One
    ``CheckoutBorrowLicense``.
``HOLDING``
    The checkout is saved and recorded as the node's one held seat.

``TRANSITIONS`` holds this table; every change of state goes through
``Renewal._move`` (``startup/_renewal.py``), which checks it::

    from                what happened                                        to
    (start)             the stored checkout is the held seat, not due        NOT_DUE
    (start)             an attempt failed, the stored license is valid       BACKING_OFF
    (start)             a seat to return (replaced, expired, stray)          RETURNING_SEAT
    (start)             a seat whose check-in was forbidden is live          WAITING_FOR_EXPIRY
    (start)             no held seat; one in flight; the store lost it       CHECKOUT_IN_FLIGHT
    RETURNING_SEAT      returned or already free                             (start) again
    RETURNING_SEAT      the checkout to follow cannot be recorded            BACKING_OFF
    RETURNING_SEAT      conflict, and the license forbids early check-in     WAITING_FOR_EXPIRY
    RETURNING_SEAT      any other failure (offline, throttled, cut answer)   BACKING_OFF
    CHECKOUT_IN_FLIGHT  the answer is saved                                  HOLDING
    CHECKOUT_IN_FLIGHT  lost, cut, unusable, refused with its seat held, or  BACKING_OFF
                        not saved and its seat not returned (disk full and
                        early check-in forbidden): ClientToken kept
    CHECKOUT_IN_FLIGHT  refused or not saved, and given back; or refused for  BACKING_OFF
                        good by AWS
    CHECKOUT_IN_FLIGHT  refused for good by AWS, its seat known              RETURNING_SEAT
    CHECKOUT_IN_FLIGHT  an answer sent again (from an earlier start) is      CHECKOUT_IN_FLIGHT
                        refused and given back: a new ClientToken, once
    NOT_DUE, HOLDING    a later start, the renewal due                       RETURNING_SEAT
    WAITING_FOR_EXPIRY  a later start, the seat expired by this clock        RETURNING_SEAT
    any                 the process is killed                                (start) again
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["CALLING", "TRANSITIONS", "State"]


class State(enum.Enum):
    """Where the renewal of one license on one node stands (see the module's table)."""

    NOT_DUE = "not due"
    BACKING_OFF = "backing off"
    RETURNING_SEAT = "returning a seat"
    WAITING_FOR_EXPIRY = "waiting for expiry"
    CHECKOUT_IN_FLIGHT = "checkout in flight"
    HOLDING = "holding"


_ALL = frozenset(State)
TRANSITIONS: Mapping[State | None, frozenset[State]] = {
    None: _ALL - {State.HOLDING},
    State.RETURNING_SEAT: _ALL - {State.HOLDING},
    State.CHECKOUT_IN_FLIGHT: frozenset({State.HOLDING, State.BACKING_OFF,
                                         State.RETURNING_SEAT, State.CHECKOUT_IN_FLIGHT}),
    State.NOT_DUE: frozenset(), State.BACKING_OFF: frozenset(),
    State.WAITING_FOR_EXPIRY: frozenset(), State.HOLDING: frozenset(),
}
"""From each state (``None``: the start), the states a step may lead to."""
CALLING = frozenset({State.RETURNING_SEAT, State.CHECKOUT_IN_FLIGHT})
"""The states whose step makes a call; the others end the start."""
