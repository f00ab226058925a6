"""Regenerate the sample audit log in this directory.

The US lab's audit log for the transfer in ``examples/agreement``: the agreement was signed, a
transfer was requested, agreed, sent, received and accepted, the data was accessed, and the
partner's checkpoint was witnessed. A fresh Ed25519 log key is generated (the private key is never
written) and the script writes:

* ``log.jsonl``        the log (one canonical record per line; the exchange format)
* ``log.pub.json``     the log's public key
* ``checkpoint.txt``   a C2SP signed checkpoint of all records (origin ``us-lab.example/audit``)
* ``proof-3.txt``      a ``c2sp.org/tlog-proof@v1`` bundle proving record 3 (``transfer.sent``)
* ``record-3.jsonl``   record 3's exact line (what ``dta audit verify-proof --record`` takes)
* ``record-3.json``    record 3 pretty-printed (the schema sample)

Check it with ``dta audit verify examples/audit/log.jsonl --checkpoint
examples/audit/checkpoint.txt -k examples/audit/log.pub.json``.
Run: ``.venv/bin/python examples/audit/make_example.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dta import envelope, keys, loads
from dta.audit import AuditLog

HERE = Path(__file__).resolve().parent
AGREEMENT = HERE.parent / "agreement" / "agreement.signed.json"
ORIGIN = "us-lab.example/audit"


def main() -> None:
    """Write the sample files."""
    signed = loads(AGREEMENT.read_bytes())["signed"]
    ref = {"id": signed["id"], "digest": envelope.digest(signed)}
    manifest = {
        "_type": "dta.manifest",
        "id": "urn:uuid:5f1c7f1e-3b8e-4d43-9d2c-1f0a5c1f7a10",
        "digest": {"sha256": "3a" * 32},
    }
    receipt = {
        "_type": "dta.receipt",
        "id": "urn:uuid:0b9e1a52-8d55-4a47-a0a5-6a4f7f2d9c31",
        "digest": {"sha256": "7c" * 32},
    }
    transfer = "urn:uuid:c3a1f0d2-6a7b-4f59-8e1d-2b9c4e5f6a70"
    steps = [
        (
            "party:us-lab",
            "agreement.signed",
            {"_type": "dta.agreement", "id": ref["id"], "digest": ref["digest"]},
            {},
        ),
        ("party:us-lab", "transfer.requested", manifest, {"transfer": transfer, "to": "requested"}),
        ("party:us-lab", "transfer.agreed", manifest, {"transfer": transfer, "to": "agreed"}),
        ("party:us-lab", "transfer.sent", manifest, {"transfer": transfer, "to": "sent"}),
        ("party:prc-lab", "transfer.received", manifest, {"transfer": transfer, "to": "received"}),
        ("party:prc-lab", "transfer.accepted", receipt, {"transfer": transfer, "to": "accepted"}),
        ("party:prc-lab", "data.accessed", manifest, {"purpose": "building-energy study"}),
        (
            "party:us-lab",
            "checkpoint.witnessed",
            {
                "_type": "c2sp.checkpoint",
                "id": "prc-lab.example/audit@8",
                "digest": {"sha256": "51" * 32},
            },
            {},
        ),
    ]
    path = HERE / "log.jsonl"
    path.unlink(missing_ok=True)
    shutil.rmtree(HERE / "log.jsonl.nodes", ignore_errors=True)
    signer = keys.generate()
    with AuditLog.open(path, create=True, durability="always") as log:
        for minute, (actor, action, subject, details) in enumerate(steps):
            log.append(
                {
                    "actor": actor,
                    "action": action,
                    "subject": subject,
                    "agreement": ref,
                    "details": details,
                    "time": f"2027-03-01T12:{minute:02d}:00Z",
                }
            )
        note = log.checkpoint(signer, ORIGIN)
        (HERE / "checkpoint.txt").write_text(note, encoding="utf-8")
        (HERE / "proof-3.txt").write_text(log.proof_bundle(3, note), encoding="utf-8")
        record = next(log.records(3, 4))
        (HERE / "record-3.jsonl").write_bytes(log.line(3) + b"\n")
    shutil.rmtree(HERE / "log.jsonl.nodes", ignore_errors=True)  # a cache, rebuilt on open
    keys.save_public(HERE / "log.pub.json", signer.public_key, owner="party:us-lab", overwrite=True)
    (HERE / "record-3.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
