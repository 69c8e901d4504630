"""What several commands' options share: the help texts of --store and --policy, and the
argument types and windows of the reports."""

from __future__ import annotations

import argparse


def non_negative(text: str) -> int:
    """A whole number, 0 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is below 0: give 0 or more")
    return n


# What --store and --policy accept (adapters/store.py: store_env; pyengine/policy.py: load_policy).
STORE_NEW = (
    "store URL: sqlite:///FILE.db (a path relative to here, made if missing; sqlite:////ABS/PATH.db for an "
    "absolute path), postgresql://USER:PASSWORD@HOST:PORT/DB (after `pyengine db init`) or memory: (kept in "
    "this process only)"
)
STORE_READ = (
    "URL of an existing store: sqlite:///FILE.db (relative; sqlite:////ABS/PATH.db absolute; add ?mode=ro to "
    "open the file read-only) or postgresql://USER:PASSWORD@HOST:PORT/DB"
)
POLICY_FILE = "policy file: TOML, or JSON if its name ends in .json; default-v1 or default-v2 for a packaged policy"
POLICY_ADOPT = (
    f"{POLICY_FILE}; recorded (PolicyAdopted) with the next command if it differs from the policy in force "
    "(default: keep the log's policy; a new store adopts the packaged v1)"
)
NODE_LIMIT = (
    "branch-and-bound node budget for a solve with mix caps; when it runs out, bound - objective is the gap left "
    "(default: %(default)s, no limit: solve to proven optimality)"
)


def window(report: argparse.ArgumentParser, first: str, last: str) -> None:
    """A report's --from and --to (`first`, `last`: what they default to)."""
    report.add_argument(
        "--from", dest="from_date", default=None, metavar="DATE",
        help=f"first day of the window, YYYY-MM-DD (default: {first})",
    )  # fmt: skip
    report.add_argument(
        "--to", dest="to_date", default=None, metavar="DATE",
        help=f"last day of the window, YYYY-MM-DD, not before --from (default: {last})",
    )  # fmt: skip
