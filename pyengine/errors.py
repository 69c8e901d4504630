"""Errors that reach users: each names the field and the reason."""

from __future__ import annotations

import re

import msgspec


class InputError(ValueError):
    """Bad input: nothing was stored. `field` is a JSON path such as `units[3].rooms`."""

    def __init__(self, field: str, reason: str, *, line: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.line = line
        super().__init__(self.message())

    def message(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.reason}"

    def at_line(self, line: int) -> InputError:
        return InputError(self.field, self.reason, line=line)


class ConcurrencyConflict(RuntimeError):
    """Another writer appended to the log since we last read it; nothing of ours was stored."""


class StoreBusy(ConcurrencyConflict):
    """Another writer held the store's lock longer than we wait for it; nothing of ours was stored."""


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
