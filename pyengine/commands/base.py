"""What every payload shares: the `type` tag and the `schema` version."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from ..schema import Strict

SCHEMA_VERSION = 1
CommandId = Annotated[str, Meta(min_length=1, max_length=200)]  # new: no stored record is older


class Payload(Strict, tag_field="type", frozen=True):
    schema: int = SCHEMA_VERSION
