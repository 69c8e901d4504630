"""The log's head kept outside the database: a small JSON file an office writes after each
write (`pyengine submit --checkpoint FILE`) and checks with `pyengine replay --checkpoint
FILE`. A log cut after that head, or rewritten before it, then fails the replay."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from .errors import InputError
from .replay import Anchor


class Checkpoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    run: int  # the MatchRun's number
    position: int  # its record's position in the log
    head: str  # its result_hash, which chains every record before it
    store: str = ""


def write(path: str, ck: Checkpoint) -> None:
    """Replace the file at once (write beside it, then rename), so a crash leaves the old or
    the new checkpoint, never half of one."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_bytes(msgspec.json.encode(ck) + b"\n")
        os.replace(tmp, target)
    except OSError as e:
        raise InputError("--checkpoint", f"cannot write {path}: {e.strerror}") from None


def read(path: str) -> Anchor:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError("--checkpoint", f"cannot read {path}: {e.strerror}") from None
    try:
        ck = msgspec.json.decode(data, type=Checkpoint)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise InputError("--checkpoint", f"{path} is not a checkpoint file: {e}") from None
    return Anchor(ck.head, ck.run, ck.position)
