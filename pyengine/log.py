"""structlog for a library: no global configuration on import; the CLI configures output."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

logging.getLogger("pyengine").addHandler(logging.NullHandler())


def get_logger(name: str) -> Any:
    return structlog.wrap_logger(
        logging.getLogger(name),
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_cli_logging(verbose: bool) -> None:
    """The CLI is an application: it decides where logs go (stderr, JSON lines)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("pyengine")
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
