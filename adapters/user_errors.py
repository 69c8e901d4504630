"""The errors a user sees, defined at the bottom so that the infrastructure can raise them too
(a store URL that names no store, a lock held too long). `pyengine.errors` re-exports them with
the application's own helpers: `except pyengine.errors.InputError` catches these very classes."""

from __future__ import annotations


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
