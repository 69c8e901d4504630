"""What the commands share: reading input files, refusing outputs early, opening stores.

Heavy modules (the service, the store adapters) are imported inside the functions, so that
`pyengine --help` and the commands that need no store start fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..service import AllocationService


def read_input(path: str, field: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise InputError(field, f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def read_text_file(path: str, field: str) -> bytes:
    """A commands or portfolio file; gzipped ones (by their magic bytes) are unpacked."""
    data = read_input(path, field)
    if data[:2] == b"\x1f\x8b":
        import gzip
        import zlib

        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(field, f"{path} is not a readable gzip file: {e}") from None
    return data


def check_output(path: str, field: str) -> None:
    """Refuse an output file that cannot be written before the work, not after it."""
    p = Path(path)
    if p.is_dir():
        raise InputError(field, f"{path} is a folder")
    folder = p.parent
    if not os.path.isdir(folder):
        raise InputError(field, f"folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(field, f"folder {folder} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(field, f"{path} is read-only")


def check_output_folder(path: str, field: str, names: Sequence[str]) -> None:
    """Refuse an output folder that cannot be made or written, before the work."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(field, f"{path} is a file, not a folder")
    up = p
    while not os.path.lexists(up) and up != up.parent:  # the folders below it will be made
        up = up.parent
    if not os.path.isdir(up):
        raise InputError(field, f"{up} is not a folder")
    if not os.access(up, os.W_OK | os.X_OK):
        raise InputError(field, f"folder {up} is not writable")
    try:  # permissions do not tell everything (read-only mounts, /proc): make it now
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(field, f"cannot make folder {path}: {e.strerror}") from None
    for name in names:
        check_output(str(p / name), field)


def require_store(store: str, *, writes: bool = False) -> None:
    """A command that needs an existing store: it must be this engine's (checked read-only, so
    nothing is created where none was and nothing is written into a file that is not a store).
    `writes`: the command also writes (a snapshot), so a URL that opens read-only is refused
    first, before the probe opens anything."""
    from adapters.store import store_env

    if writes and store.startswith("sqlite:///") and "?" in store:
        store_env(store, write=True)  # refuses ?mode=ro (and any other query) without opening
    store_env(store, write=False)


def open_service(store: str, must_exist: bool, policy_path: str | None = None) -> AllocationService:
    from ..policy import load_policy
    from ..service import AllocationService

    if must_exist:
        require_store(store)
    # no --policy: the policy in force in the log stays; a new log gets the packaged v1.
    # A command that needs an existing store only reads it: it opens it read-only.
    return AllocationService(store, load_policy(policy_path) if policy_path else None, write=not must_exist)
