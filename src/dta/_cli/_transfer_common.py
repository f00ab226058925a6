"""Helpers shared by the agreement, receipt and transfer CLI modules.

Rules: times given on the command line are RFC 3339 with a zone; outputs are written as pretty
JSON to ``-o`` or stdout; every file error names the file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from dta._cli._common import write_doc
from dta.errors import UsageError

__all__ = ["at_option", "parse_at", "write_doc"]


def at_option(fn: Any) -> Any:
    """Add ``--at TIME`` (RFC 3339; default: now)."""
    return click.option(
        "--at", "at", metavar="TIME", help="Evaluate at this RFC 3339 time (default: now)."
    )(fn)


def parse_at(text: str | None) -> dt.datetime | None:
    """Parse ``--at``.

    Raises:
        UsageError: Not an RFC 3339 time with a zone.
    """
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--at {text!r}: not an RFC 3339 time") from exc
    if value.utcoffset() is None:
        raise UsageError(f"--at {text!r}: give a time zone (e.g. Z)")
    return value.astimezone(dt.UTC)
