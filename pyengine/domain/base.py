"""What the aggregates share: stream ids (uuid5 in one namespace) and keys."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from ..schema import CapUsage

NAMESPACE = uuid.UUID("6f1d3c1e-8c0b-4b8e-9a55-3b1f2a7d5e10")


def unit_uuid(unit_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"unit/{unit_id}")


def household_uuid(household_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"household/{household_id}")


def cap_key(row: CapUsage) -> str:
    return f"{row.rule}:{row.scope}"


def sale_case_uuid(unit_id: str, number: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"sale/{unit_id}/{number}")


def command_uuid(command_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"command/{command_id}")


LEDGER_ID = uuid.uuid5(NAMESPACE, "allocation-ledger")


def replace_spec(spec: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(spec, **changes)
