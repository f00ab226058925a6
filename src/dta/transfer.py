"""Transfer life cycle: REQUESTED -> AGREED -> SENT -> RECEIVED -> ACCEPTED | REJECTED.

Rules this module enforces: see :mod:`dta._transfer` (strict transitions plus SUSPENDED and
TERMINATED; each transition appended to the acting party's audit log with the document digest as
subject before the state changes; the state is reconstructable from the log with :func:`replay`).
"""

from __future__ import annotations

from dta._transfer import FINAL, TRANSITIONS, EventLog, State, Transfer, TransferStatus, replay

__all__ = ["FINAL", "TRANSITIONS", "EventLog", "State", "Transfer", "TransferStatus", "replay"]
