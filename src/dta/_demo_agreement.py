"""The demo agreement: a US and a PRC university lab studying building energy efficiency.

Rules this module enforces: the spec is data only (no keys, no times); :func:`agreement_spec`
fills in the parties' public keys and validity window, and ``dta.agreement.new_agreement``
checks the result like any agreement. Export-controlled technical data is a hard gate in both
directions; personal data (``pii``) may go US -> PRC only, under a volume cap, and must be deleted
within 180 days of receipt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dta._policy_eval import format_time
from dta.keys import PublicKey

__all__ = ["CN", "US", "agreement_spec"]

US = "us-gls-bpl"
CN = "cn-ypu-lcb"


def _party(
    pid: str, name: str, where: str, contact: str, keys: Sequence[PublicKey]
) -> dict[str, Any]:
    return {
        "id": pid,
        "legal_name": name,
        "jurisdiction": where,
        "contact": contact,
        "identifiers": [],
        "roles": ["provider", "recipient"],
        "keys": [k.to_dict() for k in keys],
    }


def _c(left: str, op: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": op, "rightOperand": right}


def agreement_spec(
    us_keys: Sequence[PublicKey],
    cn_keys: Sequence[PublicKey],
    *,
    start: datetime,
    policy_digest: str = "0" * 64,
) -> dict[str, Any]:
    """The agreement spec (for ``new_agreement``) with these keys, valid 2 years from ``start``."""
    return {
        "title": "Joint building-energy-efficiency study: data-transfer agreement",
        "description": "Metered building-energy data, aggregated occupancy and facility-manager "
        "contacts to calibrate whole-building models and evaluate retrofits.",
        "created": format_time(start),
        "validity": {
            "not_before": format_time(start),
            "not_after": format_time(start + timedelta(days=730)),
        },
        "parties": [
            _party(
                US,
                "Great Lakes State University, Building Performance Lab",
                "US-MI",
                "dta-officer@bpl.example.edu",
                us_keys,
            ),
            _party(
                CN,
                "Yangtze Polytechnic University, Low-Carbon Buildings Lab",
                "CN-JS",
                "data-office@lcb.example.edu.cn",
                cn_keys,
            ),
        ],
        "levels": ["public", "internal", "confidential", "restricted"],
        "purposes": [
            {"id": "building-energy-modelling", "description": "Calibrate whole-building models"},
            {"id": "retrofit-evaluation", "description": "Measure savings of retrofits"},
        ],
        "categories": {
            "allowed": ["building.metering", "building.occupancy-aggregate", "weather", "pii"],
            "prohibited": ["sensitive-pii", "credentials"],
        },
        "classification_policy": {"name": "dta-default", "digest": {"sha256": policy_digest}},
        "gates": {
            "export_control": {
                "classification": "EAR99",
                "prohibited_categories": ["export-controlled"],
                "regimes": ["US EAR", "PRC Export Control Law"],
            },
            "restricted_parties": [
                {
                    "party": US,
                    "flagged": False,
                    "lists": ["PRC Unreliable Entity List"],
                    "screened": format_time(start - timedelta(days=5)),
                },
                {
                    "party": CN,
                    "flagged": False,
                    "lists": ["BIS Entity List", "OFAC SDN"],
                    "screened": format_time(start - timedelta(days=5)),
                },
            ],
        },
        "handling": {
            "signatures_required": {"public": 1, "internal": 1, "confidential": 1, "restricted": 2}
        },
        "policy": {
            "profile": "https://dta.dev/odrl/v1",
            "permission": [
                {
                    "uid": "us-to-cn",
                    "action": "transfer",
                    "assigner": US,
                    "assignee": CN,
                    "constraint": [
                        _c(
                            "purpose",
                            "isAnyOf",
                            ["building-energy-modelling", "retrofit-evaluation"],
                        ),
                        _c("level", "lteq", "confidential"),
                    ],
                    "duty": [
                        {
                            "action": "delete",
                            "assignee": CN,
                            "constraint": [_c("elapsedTime", "lteq", "P180D")],
                        }
                    ],
                },
                {
                    "uid": "cn-to-us",
                    "action": "transfer",
                    "assigner": CN,
                    "assignee": US,
                    "constraint": [
                        _c("level", "lteq", "internal"),
                        _c("category", "isNoneOf", ["pii"]),
                    ],
                },
            ],
            "prohibition": [{"action": "onwardTransfer"}, {"action": "reIdentify"}],
            "obligation": [
                {"action": "notifyIncident", "constraint": [_c("elapsedTime", "lteq", "PT72H")]},
                {"action": "keepAuditLog", "constraint": [_c("timeInterval", "eq", "P1D")]},
                {"action": "witnessAuditLog", "constraint": [_c("timeInterval", "eq", "P7D")]},
            ],
        },
        "volume_caps": [
            {
                "category": "pii",
                "max_subjects": 500,
                "window": "P30D",
                "sender": US,
                "recipient": CN,
            },
        ],
        "ip": {
            "background": [
                {
                    "party": US,
                    "owner": US,
                    "licence": "BSD-3-Clause",
                    "description": "EnergyPlus calibration scripts",
                },
                {
                    "party": CN,
                    "owner": CN,
                    "licence": "proprietary, research use",
                    "description": "Sensor-network firmware",
                },
            ],
            "joint_results": {
                "ownership": "joint",
                "licence": "CC-BY-4.0",
                "publication": "after 60-day review",
            },
            "confidentiality_period": "P1095D",
        },
        "legal": {
            "mechanism": "Research collaboration agreement with standard contract clauses",
            "governing_law": "Laws of the State of Michigan; PRC law for processing in the PRC",
            "dispute_resolution": "Arbitration, Singapore International Arbitration Centre",
            "retention": "P1095D",
            "storage_locations": [
                {"party": US, "location": "US-MI"},
                {"party": CN, "location": "CN-JS"},
            ],
            "onward_recipients": [],
            "technical_measures": ["encryption at rest (AES-256)", "TLS 1.3", "role-based access"],
        },
    }
