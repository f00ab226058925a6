"""Regenerate the signed sample documents in this directory.

A US university lab and a PRC university lab agree on a joint building-energy-efficiency study.
``agreement.json`` is the unsigned version-1 body; this script uses it as the template (dropping
the members dta generates), generates fresh example keys (private keys are never written), fills
them in, and writes:

* ``agreement.json``             the unsigned version-1 body (the template for the next run)
* ``agreement.signed.json``      version 1, signed by both parties
* ``amendment-v2.signed.json``   version 2 (adds a purpose), signed by both parties
* ``manifest.signed.json``       a sample US -> PRC manifest (two sender signatures: confidential)
* ``receipt.signed.json``        the PRC lab's accepted receipt for it
* ``manifest.intoto.json``       the manifest as an in-toto Statement in a DSSE envelope
* ``keys.json``                  a dta.key-registry of the parties' public keys (for pinning)

Run: ``.venv/bin/python examples/agreement/make_example.py``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from dta import agreement, envelope, intoto, keys, receipt, schemas

HERE = Path(__file__).resolve().parent
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def write(name: str, doc: object) -> None:
    (HERE / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sign_all(body: dict[str, object], signers: list[keys.LocalSigner]) -> dict[str, object]:
    doc = None
    for signer in signers:
        doc = envelope.sign(body, signer, envelope=doc)
    assert doc is not None
    return doc


def main() -> None:
    spec = json.loads((HERE / "agreement.json").read_text(encoding="utf-8"))
    for member in ("_type", "spec_version", "version", "previous"):
        spec.pop(member, None)
    us = [keys.generate(), keys.generate("ecdsa-p256-sha256")]
    cn = [keys.generate(), keys.generate()]
    for party, signers in zip(spec["parties"], (us, cn), strict=True):
        party["keys"] = [s.public_key.to_dict() for s in signers]
    us_id, cn_id = (p["id"] for p in spec["parties"])

    body = agreement.new_agreement(spec, now=NOW)
    write("agreement.json", body)
    v1 = sign_all(body, [us[0], cn[0]])
    write("agreement.signed.json", v1)

    purposes = [*body["purposes"], {"id": "teaching", "description": "Anonymised course material"}]
    v2 = sign_all(agreement.amend(v1, {"purposes": purposes}, now=NOW), [us[0], cn[0]])
    write("amendment-v2.signed.json", v2)

    registry = keys.KeyRegistry()
    for party_id, signers in ((us_id, us), (cn_id, cn)):
        for signer in signers:
            registry.add(signer.public_key, party_id)
    write("keys.json", registry.to_dict())

    if schemas.schema_id("manifest") not in schemas.list_schemas():
        print("manifest schema not packaged yet: skipping manifest, receipt and in-toto samples")
        return
    model = agreement.verify_agreement(v1, now=NOW)
    manifest_body = {
        "_type": "dta.manifest",
        "spec_version": "1.0",
        "id": f"urn:uuid:{uuid.uuid4()}",
        "agreement": model.ref(),
        "sender": us_id,
        "recipient": cn_id,
        "purpose": "building-energy-modelling",
        "created": "2027-03-01T11:00:00Z",
        "expires": "2027-03-15T11:00:00Z",
        "sequence": 1,
        "previous": None,
        "items": [
            {
                "path": "meters/hall-b/2026-q4.csv",
                "size": 482133,
                "digest": {"sha256": "9f2b5c0e" * 8},
                "media_type": "text/csv",
                "level": "internal",
                "categories": ["building.metering"],
                "findings": {},
            },
            {
                "path": "contacts/facility-managers.csv",
                "size": 2210,
                "digest": {"sha256": "3c7d1a44" * 8},
                "media_type": "text/csv",
                "level": "confidential",
                "categories": ["personal.contact"],
                "findings": {"email": 38, "phone": 35},
            },
        ],
        "totals": {"files": 2, "bytes": 484343},
        "level": "confidential",
        "categories": ["building.metering", "personal.contact"],
        "subjects": {"personal.contact": 38},
        "policy": {"digest": dict(body["classification_policy"]["digest"])},
        "ip": {"owner": us_id, "licence": "CC-BY-4.0"},
    }
    manifest = sign_all(manifest_body, us)
    write("manifest.signed.json", manifest)
    decision = agreement.check_manifest(model, manifest, now=NOW)
    assert decision.allowed, decision.reasons
    rc = receipt.create_receipt(manifest, None, decision, recipient=cn_id, now=NOW)
    write("receipt.signed.json", envelope.sign(rc, cn[0]))
    write("manifest.intoto.json", intoto.export_dsse(intoto.manifest_statement(manifest), us[0]))


if __name__ == "__main__":
    main()
