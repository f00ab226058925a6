"""Builders shared by the agreement, ledger, receipt and transfer tests (keys made per test)."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from dta import envelope, keys
from dta.agreement import Agreement, digest, new_agreement

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
US, CN = "us-gls-bpl", "cn-ypu-lcb"


def party(pid: str, name: str, jurisdiction: str, signers: list[Any]) -> dict[str, Any]:
    """A party entry with provider+recipient roles and the signers' public keys."""
    return {
        "id": pid,
        "legal_name": name,
        "jurisdiction": jurisdiction,
        "identifiers": [{"scheme": "ror", "value": f"https://ror.org/{pid}"}],
        "roles": ["provider", "recipient"],
        "keys": [s.public_key.to_dict() for s in signers],
    }


def spec(us_signers: list[Any], cn_signers: list[Any]) -> dict[str, Any]:
    """A realistic two-party agreement spec (US lab <-> PRC lab, building-efficiency project)."""
    return {
        "id": "urn:uuid:6f1c2a9e-4b7d-4c1e-9a53-2d8e7f0b1c44",
        "title": "Joint building-energy-efficiency study: data-transfer agreement",
        "created": "2027-01-10T09:00:00Z",
        "validity": {"not_before": "2027-01-15T00:00:00Z", "not_after": "2029-01-14T23:59:59Z"},
        "parties": [
            party(
                US, "Great Lakes State University, Building Performance Lab", "US-MI", us_signers
            ),
            party(
                CN, "Yangtze Polytechnic University, Low-Carbon Buildings Lab", "CN-JS", cn_signers
            ),
        ],
        "levels": ["public", "internal", "confidential", "restricted"],
        "purposes": [
            {"id": "building-energy-modelling", "description": "Calibrate whole-building models"},
            {"id": "retrofit-evaluation", "description": "Measure savings of retrofits"},
            {"id": "dissemination", "description": "Prepare joint publications"},
        ],
        "categories": {
            "allowed": [
                "building.metering",
                "building.occupancy-aggregate",
                "weather",
                "personal.contact",
            ],
            "prohibited": ["personal.health", "personal.national-id"],
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
                        {
                            "leftOperand": "purpose",
                            "operator": "isAnyOf",
                            "rightOperand": [
                                "building-energy-modelling",
                                "retrofit-evaluation",
                                "dissemination",
                            ],
                        },
                        {
                            "leftOperand": "level",
                            "operator": "lteq",
                            "rightOperand": "confidential",
                        },
                    ],
                    "duty": [
                        {
                            "action": "delete",
                            "assignee": CN,
                            "constraint": [
                                {
                                    "leftOperand": "dateTime",
                                    "operator": "lteq",
                                    "rightOperand": "2029-06-30T00:00:00Z",
                                }
                            ],
                        }
                    ],
                },
                {
                    "uid": "cn-to-us",
                    "action": "transfer",
                    "assigner": CN,
                    "assignee": US,
                    "constraint": [
                        {"leftOperand": "level", "operator": "lteq", "rightOperand": "internal"},
                        {
                            "leftOperand": "category",
                            "operator": "isNoneOf",
                            "rightOperand": ["personal.contact"],
                        },
                    ],
                },
            ],
            "prohibition": [
                {"action": "onwardTransfer"},
                {"action": "reIdentify"},
                {
                    "uid": "no-contacts-for-publication",
                    "action": "transfer",
                    "constraint": [
                        {
                            "leftOperand": "purpose",
                            "operator": "eq",
                            "rightOperand": "dissemination",
                        },
                        {
                            "leftOperand": "category",
                            "operator": "isAnyOf",
                            "rightOperand": ["personal.contact"],
                        },
                    ],
                },
            ],
            "obligation": [
                {
                    "action": "notifyIncident",
                    "constraint": [
                        {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "PT72H"}
                    ],
                },
                {
                    "action": "keepAuditLog",
                    "constraint": [
                        {"leftOperand": "timeInterval", "operator": "eq", "rightOperand": "P1D"}
                    ],
                },
                {
                    "action": "witnessAuditLog",
                    "constraint": [
                        {"leftOperand": "timeInterval", "operator": "eq", "rightOperand": "P7D"}
                    ],
                },
            ],
        },
        "handling": {
            "signatures_required": {"public": 1, "internal": 1, "confidential": 2, "restricted": 2}
        },
        "volume_caps": [
            {
                "category": "personal.contact",
                "max_subjects": 500,
                "window": "P30D",
                "sender": US,
                "recipient": CN,
            }
        ],
        "classification_policy": {"digest": {"sha256": "ab" * 32}, "name": "dta default policy"},
        "ip": {
            "background": [
                {
                    "party": US,
                    "description": "EnergyPlus calibration scripts",
                    "owner": US,
                    "licence": "BSD-3-Clause",
                },
                {
                    "party": CN,
                    "description": "Sensor-network firmware",
                    "owner": CN,
                    "licence": "proprietary, research use",
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
        "gates": {
            "export_control": {
                "regimes": ["US EAR", "PRC Export Control Law"],
                "classification": "EAR99",
                "prohibited_categories": [
                    "technology.export-controlled",
                    "geodata.critical-infrastructure",
                ],
            },
            "restricted_parties": [
                {
                    "party": US,
                    "flagged": False,
                    "screened": "2027-01-05T00:00:00Z",
                    "lists": ["none"],
                },
                {
                    "party": CN,
                    "flagged": False,
                    "screened": "2027-01-05T00:00:00Z",
                    "lists": ["BIS Entity List", "OFAC SDN"],
                },
            ],
        },
    }


class World:
    """Two parties with two keys each and a signed agreement between them."""

    def __init__(self, **overrides: Any) -> None:
        self.us = [keys.generate(), keys.generate()]
        self.cn = [keys.generate(), keys.generate()]
        base = spec(self.us, self.cn)
        base.update(overrides)
        self.body = new_agreement(base)
        self.doc = sign_all(self.body, [self.us[0], self.cn[0]])
        self.agreement = Agreement.from_dict(self.body)

    def manifest(self, **changes: Any) -> dict[str, Any]:
        """A manifest body US -> CN bound to the agreement (changes replace members)."""
        body: dict[str, Any] = {
            "_type": "dta.manifest",
            "spec_version": "1.0",
            "id": f"urn:uuid:{uuid.uuid4()}",
            "agreement": {
                "id": self.agreement.id,
                "version": self.agreement.version,
                "digest": self.agreement.digest,
            },
            "sender": US,
            "recipient": CN,
            "purpose": "building-energy-modelling",
            "created": "2027-03-01T11:00:00Z",
            "expires": "2027-03-08T11:00:00Z",
            "sequence": 1,
            "previous": None,
            "items": [
                {
                    "path": "meters/2026-q4.csv",
                    "size": 4096,
                    "digest": {"sha256": "11" * 32},
                    "media_type": "text/csv",
                    "level": "internal",
                    "categories": ["building.metering"],
                    "findings": {},
                },
                {
                    "path": "contacts/facility-managers.csv",
                    "size": 2048,
                    "digest": {"sha256": "22" * 32},
                    "media_type": "text/csv",
                    "level": "confidential",
                    "categories": ["personal.contact"],
                    "findings": {"email": 40},
                },
            ],
            "totals": {"files": 2, "bytes": 6144},
            "level": "confidential",
            "categories": ["building.metering", "personal.contact"],
            "subjects": {"personal.contact": 40},
            "policy": {"digest": {"sha256": "ab" * 32}},
            "ip": {"owner": US, "licence": "CC-BY-4.0"},
        }
        body.update(copy.deepcopy(changes))
        return body

    def sign_manifest(
        self, body: dict[str, Any], signers: list[Any] | None = None
    ) -> dict[str, Any]:
        """Sign a manifest body with the given signers (default: both US keys)."""
        return sign_all(body, signers if signers is not None else self.us)


def sign_all(body: dict[str, Any], signers: list[Any]) -> dict[str, Any]:
    """Sign ``body`` with every signer in turn."""
    doc: dict[str, Any] | None = None
    for signer in signers:
        doc = envelope.sign(body, signer, envelope=doc)
    assert doc is not None
    return doc


def chain(world: World, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` consecutive (body, signed) manifests on the US -> CN channel."""
    out = []
    previous = None
    for seq in range(1, n + 1):
        body = world.manifest(sequence=seq, previous=previous)
        out.append((body, world.sign_manifest(body)))
        previous = digest(body)
    return out
