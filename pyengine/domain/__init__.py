"""Aggregates and their explicit events (eventsourcing style).

Every event carries one msgspec payload (pyengine.commands). Topics are explicit and stable
("pyengine/UnitRegistered"), so moving code never orphans stored events. As in the
eventsourcing library's example applications, each aggregate's command methods enforce the
aggregate's own rules (a sale case's step order, one lease at a time, one open offer of a
unit, a renewal decided once), raising InputError before they trigger anything, then record
the events, which apply. What needs the whole portfolio is checked by `pyengine.handlers`
before any aggregate is called.
"""

from __future__ import annotations

from .base import LEDGER_ID, NAMESPACE, cap_key, command_uuid, household_uuid, sale_case_uuid, unit_uuid
from .households import Aftercare, Household, Lease
from .ledger import AcceptedCommand, Ledger
from .sales import SaleCase
from .units import Unit

__all__ = [
    "LEDGER_ID",
    "NAMESPACE",
    "AcceptedCommand",
    "Aftercare",
    "Household",
    "Lease",
    "Ledger",
    "SaleCase",
    "Unit",
    "cap_key",
    "command_uuid",
    "household_uuid",
    "sale_case_uuid",
    "unit_uuid",
]
