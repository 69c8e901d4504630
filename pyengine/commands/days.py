"""Time: the engine's date."""

from __future__ import annotations

import datetime as dt

from .base import Payload


class DayClosed(Payload, tag=True, kw_only=True, frozen=True):
    """Moves the engine's date; waiting time is counted to it."""

    date: dt.date
