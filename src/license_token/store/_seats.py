"""The seat ledger's values: what one consumption's record holds, and the document.

A record's state changes only in these ways (``startup/_renewal.py`` makes the changes)::

    IN_FLIGHT --answer saved--> HELD --replaced or expired--> returned by check-in
    IN_FLIGHT --answer refused, seat still held--> kept in flight (fetched again)
    IN_FLIGHT --refused for good by AWS, or seat given back--> (removed)
    HELD, TO_RETURN --checked in, or already free--> RETURNED --30 days past expiry--> (removed)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._clock import format_time, parse_time
from .._errors import ConfigurationError, Malformed
from .._jws import loads_strict
from .._log import token_repr

__all__ = ["RETURNED_KEPT", "Backoff", "LedgerState", "SeatRecord", "SeatState"]

_FORMAT, _VERSION = "license-token/lifecycle", 2
RETURNED_KEPT = timedelta(days=30)
"""How long a returned seat is remembered after it would have expired."""


class SeatState(enum.Enum):
    """Where one consumption stands, as far as this node knows."""

    IN_FLIGHT = "in_flight"
    """A checkout was sent with the record's ``ClientToken``; its answer is not known (lost, cut,
    unusable, or the process died). The same ``ClientToken`` is sent again."""
    HELD = "held"
    """The node's checkout: saved in the store, or to fetch again by its ``ClientToken``."""
    TO_RETURN = "to_return"
    """To check in before any new checkout (replaced, refused, or learnt from a stored file)."""
    RETURNED = "returned"
    """Checked in, or answered as already free: holds no seat (kept until it would expire)."""


def _check_record(record: SeatRecord, _: attrs.Attribute[Any], __: object) -> None:
    if (record.consumption_token is None) != (record.expires_at is None):
        raise ConfigurationError("a seat's consumption and expiry are known together")
    if record.state is SeatState.IN_FLIGHT:
        if record.client_token is None:
            raise ConfigurationError("a checkout in flight needs its ClientToken")
    elif record.consumption_token is None:
        raise ConfigurationError(f"a {record.state.value} seat needs its consumption and expiry")


@attrs.frozen(kw_only=True)
class SeatRecord:
    """One consumption this node may hold for a license.

    Attributes:
        license_arn: the license.
        node_id: the node it was checked out for (``None``: unbound).
        state: where it stands.
        client_token: the ``ClientToken`` that took it (sent again to fetch it again), or
            ``None`` for a seat learnt from a stored file.
        consumption_token: its signed ``licenseConsumptionToken`` (``None`` only in
            flight, until an answer names it).
        expires_at: its signed expiration (known with the consumption).
        early_check_in_forbidden: checking it in was refused and the license forbids early
            check-in: it is kept until it expires.
        failed_check_ins: check-ins of it that failed so far.
    """

    license_arn: str
    node_id: str | None
    state: SeatState = attrs.field(validator=_check_record)
    client_token: str | None = attrs.field(default=None, repr=token_repr)
    consumption_token: str | None = attrs.field(default=None, repr=token_repr)
    expires_at: datetime | None = None
    early_check_in_forbidden: bool = False
    failed_check_ins: int = 0

    def same_seat(self, other: SeatRecord) -> bool:
        """Whether both records name one consumption (by ``ClientToken`` or consumption).

        Args:
            other: another record.

        Returns:
            ``True`` when they share a ``ClientToken`` or a consumption token.
        """
        return any(mine is not None and mine == theirs for mine, theirs in (
            (self.client_token, other.client_token),
            (self.consumption_token, other.consumption_token)))

    def live_at(self, now: datetime) -> bool:
        """Whether it may hold a seat at ``now`` by this node's clock.

        Args:
            now: this node's clock reading.

        Returns:
            ``False`` once returned or expired; ``True`` otherwise (in flight: maybe).
        """
        return self.state is not SeatState.RETURNED and (
            self.expires_at is None or now < self.expires_at)


@attrs.frozen(kw_only=True)
class Backoff:
    """Failed renewal attempts in a row for one license, and the earliest next one.

    Attributes:
        failures: attempts that failed in a row.
        next_attempt: no attempt before this while the stored license is valid.
    """

    failures: int = 0
    next_attempt: datetime | None = None


@attrs.frozen(kw_only=True)
class LedgerState:
    """The whole document: the seat records in order, the back-off by license ARN."""

    seats: tuple[SeatRecord, ...] = ()
    backoff: Mapping[str, Backoff] = attrs.field(factory=dict)

    def mine(self, license_arn: str, node_id: str | None) -> list[SeatRecord]:
        """The records of ``license_arn`` for ``node_id``: the only ones a node touches."""
        return [s for s in self.seats if s.license_arn == license_arn and s.node_id == node_id]

    def with_seat(self, record: SeatRecord) -> LedgerState:
        """This state with ``record`` replacing the record of the same seat (else added)."""
        seats = [s for s in self.seats if not (
            s.license_arn == record.license_arn and s.same_seat(record))]
        return attrs.evolve(self, seats=(*seats, record))

    def with_held(self, held: SeatRecord) -> LedgerState:
        """This state with ``held`` as its node's one held seat: any other is to return."""
        state = self
        for other in self.mine(held.license_arn, held.node_id):
            if other.state is SeatState.HELD and not other.same_seat(held):
                state = state.with_seat(attrs.evolve(other, state=SeatState.TO_RETURN))
        return state.with_seat(held)

    def without(self, record: SeatRecord) -> LedgerState:
        """This state without the record of ``record``'s seat."""
        return attrs.evolve(self, seats=tuple(s for s in self.seats if not (
            s.license_arn == record.license_arn and s.same_seat(record))))

    def pruned(self, now: datetime) -> LedgerState:
        """Without the returned records whose consumption expired ``RETURNED_KEPT`` ago:
        until then a stored file naming one (an older file put back, verified within the
        clock leeway) is known to hold no seat."""
        return attrs.evolve(self, seats=tuple(
            s for s in self.seats if s.state is not SeatState.RETURNED
            or s.expires_at is None or s.expires_at + RETURNED_KEPT > now))

    def to_bytes(self) -> bytes:
        """The document as written."""
        import json

        doc = {"format": _FORMAT, "version": _VERSION,
               "seats": [_seat_doc(s) for s in self.seats],
               "backoff": {arn: {"failures": b.failures, "next_attempt": _time(b.next_attempt)}
                           for arn, b in sorted(self.backoff.items())}}
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> LedgerState:
        """Parse the document.

        Raises:
            Malformed: it is not one of this version.
        """
        doc = loads_strict(data, "lifecycle state")
        if doc.get("format") != _FORMAT or doc.get("version") != _VERSION:
            raise Malformed("not a lifecycle state document of a known version")
        try:
            seats = tuple(_seat_from(s) for s in doc["seats"])
            backoff = {_str(arn): Backoff(failures=_int(b["failures"]),
                                          next_attempt=_parse(b["next_attempt"]))
                       for arn, b in doc["backoff"].items()}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise Malformed(f"lifecycle state: missing or wrong member {exc}") from exc
        return cls(seats=seats, backoff=backoff)


def _seat_doc(s: SeatRecord) -> dict[str, Any]:
    return {"license_arn": s.license_arn, "node_id": s.node_id, "state": s.state.value,
            "client_token": s.client_token, "consumption_token": s.consumption_token,
            "expires_at": _time(s.expires_at),
            "early_check_in_forbidden": s.early_check_in_forbidden,
            "failed_check_ins": s.failed_check_ins}


def _seat_from(s: Mapping[str, Any]) -> SeatRecord:
    forbidden = s["early_check_in_forbidden"]
    if not isinstance(forbidden, bool):
        raise TypeError("expected true or false")
    try:
        return SeatRecord(
            license_arn=_str(s["license_arn"]), node_id=_optional_str(s["node_id"]),
            state=SeatState(s["state"]), client_token=_optional_str(s["client_token"]),
            consumption_token=_optional_str(s["consumption_token"]),
            expires_at=_parse(s["expires_at"]), early_check_in_forbidden=forbidden,
            failed_check_ins=_int(s["failed_check_ins"]))
    except ConfigurationError as exc:
        raise TypeError(str(exc)) from None


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _parse(text: object) -> datetime | None:
    return None if text is None else parse_time(text, "lifecycle state time")


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a string")
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise TypeError("expected a count")
    return value
