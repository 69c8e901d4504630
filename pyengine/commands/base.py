"""What every payload shares: the `type` tag and the `schema` version."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from ..schema import Strict

SCHEMA_VERSION = 1
CommandId = Annotated[str, Meta(min_length=1, max_length=200)]  # new: no stored record is older
# A reason code given with an event: one of the policy's codes for its kind (`REASON_LISTS` in
# pyengine.policy), checked by the event's handler. Left out (unset), it is not written at all,
# so an event without one is stored exactly as before the codes.
Code = Annotated[str, Meta(min_length=1, max_length=60)]


class Payload(Strict, tag_field="type", frozen=True):
    schema: int = SCHEMA_VERSION
