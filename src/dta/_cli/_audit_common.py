"""Helpers of the ``dta audit`` and ``dta transfer`` commands: opening logs, checking outputs.

Rules: commands that read records refuse a JSONL log with a corrupt tail (and, where the output
stands for the whole log, a torn one); an output file may never be the log itself; ``--stop``
may not come before ``--start``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dta._cli._common import check_output, fail_in
from dta.audit import AuditLog
from dta.errors import TamperError, UsageError

__all__ = ["check_out", "check_range", "open_intact", "open_log"]


def open_log(log: str, **kwargs: Any) -> AuditLog:
    """Open a log; errors name it.

    Raises:
        StorageError: The log cannot be opened.
    """
    with fail_in(log):
        return AuditLog.open(log, **kwargs)


def open_intact(log: str, *, allow_torn: bool = True, **kwargs: Any) -> AuditLog:
    """Open a log for reading records; refuse one whose (JSONL) tail is corrupt.

    Args:
        log: Path or URL.
        allow_torn: Accept a torn (never acknowledged) tail; when false, refuse it too and
            point at ``dta audit repair`` (for commands whose output attests to the whole log).
        **kwargs: Passed to :meth:`AuditLog.open`.

    Raises:
        TamperError: The JSONL log has a corrupt tail (or a torn one, unless ``allow_torn``).
        StorageError: The log cannot be opened.
    """
    opened = open_log(log, **kwargs)
    try:
        with fail_in(log):
            size = opened.size
        damage = getattr(opened.store, "damage", None)
    except BaseException:
        opened.close()
        raise
    if not isinstance(damage, dict):
        return opened
    kind = damage.get("kind")
    if kind == "torn" and allow_torn:
        return opened
    opened.close()
    index = damage.get("index", size)
    hint = (
        "run 'dta audit repair' (it keeps the bytes)"
        if kind == "torn"
        else "run 'dta audit verify'"
    )
    raise TamperError(
        f"{log}: {kind} tail at index {index} (offset {damage.get('offset')}): "
        f"{damage.get('reason')}; {hint}",
        index=index if isinstance(index, int) else None,
        kind=str(kind),
    )


def check_out(out: str | None, log: str) -> None:
    """Check an output path before any work; it may never be the log or its sidecar.

    Raises:
        InputError: See :func:`dta._cli._common.check_output`.
        UsageError: ``out`` is the log (or inside its sidecar directory).
    """
    check_output(out)
    if out is None or out == "-" or not os.path.lexists(log):
        return
    target = Path(out).resolve()
    if target == Path(log).resolve() or Path(log).resolve() in target.parents:
        raise UsageError(f"{out}: refusing to write over the log {log}")


def check_range(start: int, stop: int | None) -> None:
    """Refuse ``--stop`` before ``--start``.

    Raises:
        UsageError: ``stop < start``.
    """
    if stop is not None and stop < start:
        raise UsageError(f"--stop {stop} is before --start {start}")
