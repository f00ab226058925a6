"""The dta story as a plain script: two university labs, one transfer, an auditor.

A US lab (Great Lakes State University, Building Performance Lab) and a PRC lab (Yangtze
Polytechnic University, Low-Carbon Buildings Lab) run a joint building-energy-efficiency study.

1. Both labs make keys and sign the data-transfer agreement.
2. The US lab classifies a dataset; a file marked with an export-control number (ECCN) hits the
   agreement's export-control gate and stays behind.
3. The rest is sent under a signed manifest; the PRC lab checks files and terms and countersigns
   a receipt. Each step is appended to each lab's own audit log.
4. Each lab checkpoints its log; the other lab witnesses (cosigns) it.
5. An auditor reconciles both logs, manifests and receipts and signs a compliance report.

Run: ``.venv/bin/python examples/scenario.py [OUT_DIR]`` (default: ``examples/scenario``).
``dta demo`` tells the same story with three months of history and a narrator.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dta import agreement, classify, compliance, envelope, keys, manifest, receipt
from dta._demo_agreement import CN, US, agreement_spec  # the agreement text used by dta demo
from dta.audit import AuditLog, Witness
from dta.audit.checkpoint import add_cosignatures
from dta.transfer import Transfer

START = datetime(2027, 1, 15, tzinfo=UTC)
SENT = datetime(2027, 4, 20, 9, 0, tzinfo=UTC)
RECEIVED = SENT + timedelta(hours=4)
AUDIT = SENT + timedelta(days=5)

DATASET = {
    "meters/hall-b-2026-q4.csv": "timestamp,meter,kwh\n2026-10-01T00:00:00Z,hall-b-main,413\n",
    "weather/ann-arbor-2026.csv": "date,hdd,cdd\n2026-11-01,13,0\n",
    "contacts/facility-managers.csv": "name,email,phone\n"
    + "".join(
        f"Manager {i},fm{i}@facilities.example.edu,+1 734 555 01{i:02d}\n" for i in range(10)
    ),
    "docs/chiller-controller-design.txt": "Chiller controller design notes.\n"
    "EXPORT CONTROLLED: ECCN 3A001.b.2 under the US Export Administration Regulations (EAR).\n",
}


def write(out: Path, name: str, doc: object) -> None:
    (out / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():  # start afresh, keeping the .gitignore
        if old.name != ".gitignore":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    work = Path(tempfile.mkdtemp(prefix="dta-scenario-"))

    # 1. Keys and the agreement, signed by both labs.
    us_key, cn_key, auditor_key = keys.generate(), keys.generate(), keys.generate()
    policy = classify.load_policy(None)
    spec = agreement_spec(
        [us_key.public_key], [cn_key.public_key], start=START, policy_digest=policy.digest
    )
    body = agreement.new_agreement(spec, now=START)
    agreement_doc = envelope.sign(body, cn_key, envelope=envelope.sign(body, us_key))
    terms = agreement.verify_agreement(agreement_doc, now=SENT)
    write(out, "agreement.signed.json", agreement_doc)

    # Each lab keeps its own audit log and witnesses the other's.
    us_log = AuditLog.open(out / "us-gls-bpl.audit.jsonl", create=True)
    cn_log = AuditLog.open(out / "cn-ypu-lcb.audit.jsonl", create=True)
    us_witness = Witness(work / "us-witness", us_key, "bpl.example.edu/witness")
    cn_witness = Witness(work / "cn-witness", cn_key, "lcb.example.edu.cn/witness")

    # 2. Classify the dataset; anything in an export-control category stays behind.
    dataset, outbox = work / "dataset", work / "outbox"
    for rel, text in DATASET.items():
        (dataset / rel).parent.mkdir(parents=True, exist_ok=True)
        (dataset / rel).write_text(text, encoding="utf-8")
    report = classify.scan_paths([dataset], now=SENT)
    write(out, "classification.json", report)
    for item in report["files"]:
        gated = set(item["categories"]) & terms.gate_categories
        if gated:
            print(f"BLOCKED {item['path']}: {', '.join(gated)} is behind the export-control gate")
            continue
        (outbox / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dataset / item["path"], outbox / item["path"])

    # 3. A signed manifest for what is left, checked against the agreement, then sent.
    body = manifest.build_manifest(
        outbox,
        agreement_ref=terms.ref(),
        sender=US,
        recipient=CN,
        purpose="building-energy-modelling",
        sequence=1,
        previous=None,
        classification=classify.scan_paths([outbox], now=SENT),
        now=SENT,
        progress=False,
    )
    manifest_doc = envelope.sign(body, us_key)
    assert agreement.check_manifest(terms, manifest_doc, now=SENT).allowed
    write(out, "manifest.signed.json", manifest_doc)

    tid = "urn:uuid:1c0ffee0-0000-4000-8000-000000000001"
    sides = {}
    for actor, log in ((US, us_log), (CN, cn_log)):
        t = Transfer.request(terms, actor, log, sender=US, recipient=CN, transfer_id=tid, now=SENT)
        t.agree(now=SENT)
        t.send(manifest_doc, now=SENT)
        sides[actor] = t

    # The PRC lab checks the received files and the terms, then countersigns a receipt.
    inbox = work / "inbox"
    shutil.copytree(outbox, inbox)
    tree = manifest.verify_tree(manifest_doc["signed"], inbox)
    decision = agreement.check_manifest(terms, manifest_doc, now=RECEIVED)
    receipt_doc = envelope.sign(
        receipt.create_receipt(manifest_doc, tree, decision, recipient=CN, now=RECEIVED), cn_key
    )
    sides[CN].receive(manifest_doc, now=RECEIVED)
    sides[CN].accept(receipt_doc, now=RECEIVED)
    write(out, "receipt.signed.json", receipt_doc)

    # 4. Checkpoints, witnessed by the other lab (first checkpoint: no proof needed).
    checkpoints = {}
    for party, log, signer, origin, witness in (
        (US, us_log, us_key, "bpl.example.edu/dta-audit", cn_witness),
        (CN, cn_log, cn_key, "lcb.example.edu.cn/dta-audit", us_witness),
    ):
        log.flush()
        note = log.checkpoint(signer, origin)
        cosigned = add_cosignatures(note, [witness.witness(note, signer.public_key, now=RECEIVED)])
        (out / f"{party}.checkpoint").write_text(cosigned, encoding="utf-8")
        checkpoints[party] = compliance.PartyLog(party, str(log.url), (cosigned,), origin)
        log.close()

    # 5. The auditor reconciles everything and signs the compliance report.
    rec = compliance.reconcile(
        agreement_doc,
        list(checkpoints.values()),
        manifests=[manifest_doc],
        receipts=[receipt_doc],
        now=AUDIT,
    )
    report_body = compliance.build_report(
        rec, auditor="Example Assurance LLP", auditor_key=auditor_key.public_key
    )
    report_doc = compliance.sign_report(report_body, auditor_key)
    write(out, "compliance-report.signed.json", report_doc)
    (out / "compliance-report.html").write_text(compliance.render_html(report_doc), "utf-8")
    print("\n".join(compliance.summarize(report_doc)))
    shutil.rmtree(work)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "scenario")
