"""The documented core vocabulary of audit-record actions.

Rules this module enforces:

* :data:`ACTIONS` maps each core action to what a record with it means; the audit-record schema
  mirrors the same list. Custom actions are namespaced (``x-<namespace>.<name>``) and checked by
  :func:`dta.audit._record.check_action`, not listed here.
"""

from __future__ import annotations

__all__ = ["ACTIONS"]

#: Core action vocabulary: action -> what it records.
ACTIONS: dict[str, str] = {
    "agreement.proposed": "an agreement draft was sent to the partners",
    "agreement.signed": "a party signed the agreement (subject: the agreement)",
    "agreement.amended": "an amendment took effect (subject: the amended agreement)",
    "agreement.suspended": "the agreement was suspended",
    "agreement.terminated": "the agreement was terminated",
    "transfer.requested": "a transfer was requested (subject: the request or manifest)",
    "transfer.agreed": "a transfer was approved under the agreement",
    "transfer.sent": "a signed manifest and its data were sent (subject: the manifest)",
    "transfer.received": "data and manifest were received (subject: the manifest)",
    "transfer.accepted": "the recipient accepted the transfer (subject: the receipt)",
    "transfer.rejected": "the recipient rejected the transfer (subject: the receipt)",
    "transfer.suspended": "a transfer was suspended",
    "transfer.resumed": "a suspended transfer was resumed",
    "transfer.terminated": "a transfer was terminated",
    "data.classified": "data was classified (subject: the classification report)",
    "data.accessed": "transferred data was accessed",
    "data.deleted": "transferred data was deleted",
    "data.returned": "transferred data was returned to the sender",
    "incident.reported": "a security or compliance incident was reported",
    "key.added": "a key was added to a registry",
    "key.rotated": "a key was rotated",
    "key.revoked": "a key was revoked",
    "checkpoint.published": "a log checkpoint was published",
    "checkpoint.witnessed": "a partner's checkpoint was witnessed (subject: the checkpoint)",
    "log.repaired": "a torn log tail was moved aside by an explicit repair",
}
