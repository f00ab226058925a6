"""``dta transfer status``: reconstruct transfer states from an audit log.

Rules: the state comes from the log records only (``dta.transfer.replay``); an illegal sequence
is reported with the record index (exit 1); an unreadable log is exit 2; a JSONL log with a
corrupt tail is refused (exit 1) rather than replayed up to the damage.
"""

from __future__ import annotations

from typing import Any

import click

from dta import transfer as tr
from dta._cli._common import emit_json, fail_in, format_option
from dta.errors import UsageError

__all__ = ["transfer"]


@click.group()
def transfer() -> None:
    """Inspect transfer life cycles."""


def _records(path: str) -> list[Any]:
    from dta._cli._audit_common import open_intact

    with open_intact(path, readonly=True) as log:
        return list(log.records())


@transfer.command("status")
@click.option("--log", "log_path", required=True, help="Audit log (path or URL).")
@click.option("--transfer", "transfer_id", help="Only this transfer id.")
@format_option("text", "json")
def status(log_path: str, transfer_id: str | None, fmt: str) -> None:
    """Show the state of every transfer recorded in an audit log."""
    with fail_in(log_path):
        states = tr.replay(_records(log_path))
    if transfer_id is not None:
        if transfer_id not in states:
            raise UsageError(f"{log_path}: no transfer {transfer_id}")
        states = {transfer_id: states[transfer_id]}
    if fmt == "json":
        emit_json({"transfers": [s.to_dict() for s in states.values()]})
        return
    if not states:
        click.echo(f"{log_path}: no transfers")
    for s in states.values():
        click.echo(f"{s.id}: {s.state.value} ({s.sender} -> {s.recipient})")
        for index, action, time, by in s.history:
            click.echo(f"  #{index} {time} {action} by {by}")
