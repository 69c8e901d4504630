"""Errors that reach users: each names the field and the reason.

The classes are defined in `adapters.user_errors` (the store adapters raise them too) and are
the same objects here; this module adds how a decoder's complaint becomes an InputError."""

from __future__ import annotations

import re

import msgspec

from adapters.user_errors import ConcurrencyConflict, InputError, StoreBusy

__all__ = ["ConcurrencyConflict", "InputError", "StoreBusy", "from_validation"]


_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def from_validation(exc: msgspec.ValidationError | msgspec.DecodeError, prefix: str = "") -> InputError:
    """Turn msgspec's "reason - at `$.a[0].b`" into an InputError naming the field."""
    m = _PATH.match(str(exc))
    assert m is not None
    path = (m.group("path") or "").lstrip(".")
    reason = m.group("reason").strip()
    unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", reason)
    if unknown:
        path = f"{path}.{unknown.group('f')}" if path else unknown.group("f")
        reason = "unknown field"
    missing = re.match(r"Object missing required field `(?P<f>[^`]+)`", reason)
    if missing:
        path = f"{path}.{missing.group('f')}" if path else missing.group("f")
        reason = "missing required field"
    field = ".".join(p for p in (prefix, path) if p) or "$"
    return InputError(field, reason)
