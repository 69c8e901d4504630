"""Housing allocation engine: event-sourced allocations, matched exactly by a Rust core."""

from __future__ import annotations

import logging

logging.getLogger("pyengine").addHandler(logging.NullHandler())

__version__ = "0.1.0"
