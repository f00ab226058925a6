"""Export an agreement's rules as an ODRL 2.2 Agreement (JSON-LD), for Dataspace Protocol peers.

Rules this module enforces:

* The export is derived, never parsed back: the signed dta agreement stays the source of truth.
* Actions and operands with an ODRL 2.2 core/common-vocabulary term keep it (``use``, ``delete``,
  ``distribute`` for a dta ``transfer``, ``inform`` for ``notifyIncident``, ``purpose``,
  ``dateTime``, ``elapsedTime``, ...); dta-specific ones are prefixed ``dta:`` and declared by the
  profile ``https://dta.dev/odrl/v1`` in the context.
* Every rule targets the agreement (``target`` = agreement id); parties are identified by their
  dta party id (``dta:party/<id>``).
"""

from __future__ import annotations

from typing import Any

from dta._agreement_model import Agreement
from dta._policy_eval import Rule

__all__ = ["PROFILE", "to_odrl"]

PROFILE = "https://dta.dev/odrl/v1"
_ACTIONS = {
    "transfer": "distribute",
    "use": "use",
    "delete": "delete",
    "commercialize": "commercialize",
    "notifyIncident": "inform",
    "store": "dta:store",
    "onwardTransfer": "dta:onwardTransfer",
    "reIdentify": "dta:reIdentify",
    "publish": "dta:publish",
    "return": "dta:return",
    "keepAuditLog": "dta:keepAuditLog",
    "witnessAuditLog": "dta:witnessAuditLog",
}
_OPERANDS = {"level": "dta:level", "category": "dta:category", "sender": "dta:sender"}


def _party(party_id: str) -> str:
    return f"dta:party/{party_id}"


def _rule(rule: Rule, target: str) -> dict[str, Any]:
    out: dict[str, Any] = {"target": target, "action": _ACTIONS[rule.action]}
    if rule.uid is not None:
        out["uid"] = f"{target}#{rule.uid}"
    if rule.assigner is not None:
        out["assigner"] = _party(rule.assigner)
    if rule.assignee is not None:
        out["assignee"] = _party(rule.assignee)
    if rule.constraints:
        out["constraint"] = [
            {
                "leftOperand": _OPERANDS.get(c.left, c.left),
                "operator": c.operator,
                "rightOperand": c.raw,
            }
            for c in rule.constraints
        ]
    if rule.duties:
        out["duty"] = [_rule(d, target) for d in rule.duties]
    return out


def to_odrl(agreement: Agreement) -> dict[str, Any]:
    """Return the agreement's rules as an ODRL ``Agreement`` JSON-LD object."""
    target = agreement.id
    providers = [p.id for p in agreement.parties if "provider" in p.roles]
    recipients = [p.id for p in agreement.parties if "recipient" in p.roles]
    return {
        "@context": ["http://www.w3.org/ns/odrl.jsonld", {"dta": "https://dta.dev/odrl/v1#"}],
        "@type": "Agreement",
        "uid": f"{agreement.id}#v{agreement.version}",
        "profile": PROFILE,
        "assigner": [_party(p) for p in providers],
        "assignee": [_party(p) for p in recipients],
        "permission": [_rule(r, target) for r in agreement.rules["permission"]],
        "prohibition": [_rule(r, target) for r in agreement.rules["prohibition"]],
        "obligation": [_rule(r, target) for r in agreement.rules["obligation"]],
    }
