"""Stored events as JSON lines: the `pyengine events` / `submit` output contract."""

from __future__ import annotations

from typing import Any

import msgspec

from . import commands as c
from .errors import InputError

_HOUSEHOLD_TYPES = (
    c.OfferMade, c.OfferAccepted, c.OfferDeclined, c.OfferExpired, c.LeaseSigned, c.LeaseRenewalDue,
    c.LeaseRenewed, c.PurchaseRecommended, c.LeaseNotRenewed, c.LeaseTerminated, c.TenantMovedOut, c.AftercareDue,
    c.AftercareRecorded,
)  # fmt: skip


_SALE_TYPES = (
    c.PurchaseInterestRegistered, c.EconomicAssessmentRecorded, c.UnitReleasedForSale, c.UnitKeptForRent,
    c.ValuationRecorded, c.StartLoanApplied, c.StartLoanDecided, c.PurchaseOffered, c.PurchaseAccepted,
    c.PurchaseDeclined, c.PurchaseOfferExpired, c.SaleCaseClosed, c.SaleCompleted,
)  # fmt: skip


def stream_of(payload: msgspec.Struct) -> str:
    """The aggregate an event belongs to, by the caller's ids (not our internal UUIDs)."""
    if isinstance(
        payload, (c.DayClosed, c.MatchRun, c.LedgerOpened, c.ProceedsAllocated, c.PolicyAdopted, c.SnapshotRecorded)
    ):
        return "ledger"
    if isinstance(payload, c.CommandAccepted):
        return f"command/{payload.command_id}"
    if isinstance(payload, c.UnitsMerged):
        return f"unit/{payload.into.id}"
    if isinstance(payload, c.UnitAcquired):
        return f"unit/{payload.unit.id}"
    if isinstance(payload, _SALE_TYPES):
        return f"sale/{payload.unit}"
    if isinstance(payload, _HOUSEHOLD_TYPES):
        return f"household/{payload.household}"
    if isinstance(payload, (c.ApplicationSubmitted, c.ApplicationUpdated, c.ApplicationWithdrawn, c.ErasureRequested)):
        return f"household/{payload.id}"
    return f"unit/{payload.id}"  # type: ignore[attr-defined]


def event_record(position: int, event: Any) -> dict[str, Any]:
    payload = event.payload
    record: dict[str, Any] = {
        "position": position,
        "stream": stream_of(payload),
        "version": event.originator_version,
        "recorded_at": event.timestamp.isoformat(),
    }
    fields = msgspec.to_builtins(payload)
    for name in ENVELOPE.intersection(fields):  # never let a payload field hide the record's own
        fields[RENAMED[(type(payload), name)]] = fields.pop(name)
    record.update(fields)
    return record


ENVELOPE = frozenset(("position", "stream", "version", "recorded_at"))
# Payload fields that share a name with the record's own keys, and their name in the output.
RENAMED: dict[tuple[type[msgspec.Struct], str], str] = {(c.PolicyAdopted, "version"): "policy_version"}


_encoder = msgspec.json.Encoder()


def event_line(position: int, event: Any) -> bytes:
    return _encoder.encode(event_record(position, event))


def check_event_type(name: str | None, field: str = "--type") -> None:
    """`events --type` (or the HTTP `type` parameter): the name of a stored event type (a
    payload class), else InputError naming `field`."""
    import difflib

    from .event_log import PAYLOADS

    known = [p.__name__ for p in PAYLOADS]
    if name is None or name in known:
        return
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise InputError(field, f"no event type {name!r}{hint}; the types are {', '.join(sorted(known))}")
