"""Domain commands and event payloads (DESIGN §4), one msgspec Struct per type.

A command submitted with `pyengine submit` is one JSON object with a `type` field; once
validated, the same Struct is stored as the payload of the event it produces, so the event
catalogue and the command language are one schema. Payloads carry `schema` (their version):
old versions are upcast on read, never rewritten.

The payloads live in modules by area: `days`, `dwellings` (units), `lettings` (applications
and flat offers), `occupancy` (leases), `purchases` (rent-to-own and units bought) and
`records` (written by the engine only); `parsing` holds the Command union and its decoding.
Every name is re-exported here (`from pyengine import commands as c`; `c.OfferMade`). The
modules are named so that they sort in the catalogue's order: docs/events.md lists the
payloads by module, then by line.
"""

from __future__ import annotations

import datetime as dt  # noqa: F401  (`c.dt`: callers build dates through the module, as before)

from .base import SCHEMA_VERSION, CommandId, Payload
from .days import DayClosed
from .dwellings import Grant, UnitMergedInto, UnitRegistered, UnitRentChanged, UnitReturned, UnitsMerged, UnitWithdrawn
from .lettings import (
    ApplicationSubmitted,
    ApplicationUpdated,
    ApplicationWithdrawn,
    ErasureRequested,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    OfferMade,
)
from .occupancy import (
    AssessLeaseRenewal,
    LeaseNotRenewed,
    LeaseRenewalDue,
    LeaseRenewed,
    LeaseSigned,
    LeaseTerminated,
    PurchaseRecommended,
    TenantMovedOut,
)
from .parsing import (
    Command,
    check_command,
    check_engine_fields,
    command_sha256,
    decode_command,
    parse_command_line,
    schema_of,
    validate_command,
)
from .purchases import (
    AftercareDue,
    AftercareRecorded,
    EconomicAssessmentRecorded,
    ProceedsAllocated,
    PurchaseAccepted,
    PurchaseDeclined,
    PurchaseInterestRegistered,
    PurchaseOffered,
    PurchaseOfferExpired,
    SaleCaseClosed,
    SaleCompleted,
    StartLoanApplied,
    StartLoanDecided,
    UnitAcquired,
    UnitKeptForRent,
    UnitReleasedForSale,
    UnitSold,
    ValuationRecorded,
)
from .records import CHECKPOINT, CommandAccepted, LedgerOpened, MatchRun, PolicyAdopted, SnapshotRecorded

__all__ = [
    "CHECKPOINT",
    "SCHEMA_VERSION",
    "AftercareDue",
    "AftercareRecorded",
    "ApplicationSubmitted",
    "ApplicationUpdated",
    "ApplicationWithdrawn",
    "AssessLeaseRenewal",
    "Command",
    "CommandAccepted",
    "CommandId",
    "DayClosed",
    "EconomicAssessmentRecorded",
    "ErasureRequested",
    "Grant",
    "LeaseNotRenewed",
    "LeaseRenewalDue",
    "LeaseRenewed",
    "LeaseSigned",
    "LeaseTerminated",
    "LedgerOpened",
    "MatchRun",
    "OfferAccepted",
    "OfferDeclined",
    "OfferExpired",
    "OfferMade",
    "Payload",
    "PolicyAdopted",
    "ProceedsAllocated",
    "PurchaseAccepted",
    "PurchaseDeclined",
    "PurchaseInterestRegistered",
    "PurchaseOfferExpired",
    "PurchaseOffered",
    "PurchaseRecommended",
    "SaleCaseClosed",
    "SaleCompleted",
    "SnapshotRecorded",
    "StartLoanApplied",
    "StartLoanDecided",
    "TenantMovedOut",
    "UnitAcquired",
    "UnitKeptForRent",
    "UnitMergedInto",
    "UnitRegistered",
    "UnitReleasedForSale",
    "UnitRentChanged",
    "UnitReturned",
    "UnitSold",
    "UnitWithdrawn",
    "UnitsMerged",
    "ValuationRecorded",
    "check_command",
    "check_engine_fields",
    "command_sha256",
    "decode_command",
    "parse_command_line",
    "schema_of",
    "validate_command",
]
