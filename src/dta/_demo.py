"""The whole dta story as one function, narrated through a callback (``dta demo``, examples).

Rules this module enforces:

* Two research partners (a US and a PRC university lab, joint building-efficiency project) sign an
  agreement; the provider classifies a dataset; a file with an export-control marking is
  **blocked** with its reason before anything is sent; the rest goes under a signed manifest; the
  recipient checks the files and the agreement and countersigns a receipt; both keep audit logs
  and witness each other's checkpoints; an auditor reconciles and writes the signed compliance
  report (JSON and HTML).
* Only public APIs are used, through :class:`dta._demo_world.World`; times are fixed (passed in),
  so the story is the same on every run apart from keys and ids.
* Everything is written inside ``workdir``; every JSON document written is validated against the
  packaged schemas before the demo reports success (:class:`dta.errors.VerificationError` if a
  step does not behave as narrated).
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from dta import agreement as agreements
from dta import classify, compliance, envelope, keys, manifest, schemas
from dta._demo_agreement import CN, US
from dta._demo_world import World
from dta._json import dumps, loads
from dta.errors import Error, VerificationError

__all__ = ["START", "DemoResult", "run_demo"]

START = datetime(2027, 1, 15, tzinfo=UTC)
DAY = timedelta(days=1)
SEND_AT = START + 95 * DAY
AUDIT_AT = SEND_AT + 5 * DAY

_DATASET = {
    "meters/hall-b-2026-q4.csv": "timestamp,meter,kwh\n"
    + "".join(f"2026-10-{d:02d}T00:00:00Z,hall-b-main,{410 + d * 3}\n" for d in range(1, 29)),
    "occupancy/hall-b-weekly.csv": "week,occupancy_pct\n"
    + "".join(f"2026-W{w:02d},{40 + w % 7 * 5}\n" for w in range(40, 53)),
    "weather/ann-arbor-2026.csv": "date,hdd,cdd\n"
    + "".join(f"2026-11-{d:02d},{12 + d % 5},0\n" for d in range(1, 29)),
    "contacts/facility-managers.csv": "name,email,phone\n"
    + "".join(
        f"Facility Manager {i},fm{i}@facilities.example.edu,+1 734 555 01{i:02d}\n"
        for i in range(1, 41)
    ),
    "docs/chiller-controller-design.txt": "Chiller plant supervisory controller: design notes.\n"
    "EXPORT CONTROLLED: ECCN 3A001.b.2 under the US Export Administration Regulations (EAR).\n"
    "Not for export or transfer to foreign persons without a licence.\n",
}


@attrs.frozen
class DemoResult:
    """What the demo produced: files written (name -> path) and the signed report."""

    files: dict[str, str]
    report: dict[str, Any]
    blocked: tuple[str, ...]


class _Story:
    def __init__(self, workdir: Path, say: Callable[[str], None]) -> None:
        self.dir = workdir
        self.say = say
        self.files: dict[str, str] = {}
        self.world = World(workdir / "state", start=START)

    def write(self, name: str, doc: Any) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(doc) + "\n", encoding="utf-8")
        self.files[name] = str(path)
        return path

    def keys(self) -> None:
        w = self.world
        people = {
            "us-lab": w.actors[US].signers[0],
            "cn-lab": w.actors[CN].signers[0],
            "auditor": w.auditor,
            "notary": w.notary,
        }
        for name, signer in people.items():
            (self.dir / "keys").mkdir(parents=True, exist_ok=True)
            keys.save_private(self.dir / "keys" / f"{name}.pem", signer)
            pub = self.dir / "keys" / f"{name}.pub.json"
            keys.save_public(pub, signer.public_key, owner=name)
            self.files[f"keys/{name}.pub.json"] = str(pub)
            self.say(
                f"  $ dta keygen -o keys/{name}.pem\n"
                f"    {name}: Ed25519 key {signer.public_key.keyid[:16]}..., private key mode 0600"
            )

    def agreement(self) -> None:
        w = self.world
        self.write("agreement.signed.json", w.agreement_doc)
        a = agreements.verify_agreement(w.agreement_doc, now=SEND_AT)
        self.say(
            "  $ dta agreement sign agreement.json -k keys/us-lab.pem -o agreement.signed.json\n"
            "  $ dta agreement sign agreement.signed.json -k keys/cn-lab.pem "
            "-o agreement.signed.json\n"
            "  $ dta agreement verify agreement.signed.json"
        )
        self.say(
            f"  {a.to_dict()['title']}\n  parties: {US} (US-MI) and {CN} (CN-JS); both signed "
            f"(digest {a.digest['sha256'][:16]}...)\n"
            f"  US -> PRC up to {a.ceiling(US, CN)}; PRC -> US up to {a.ceiling(CN, US)}, no pii\n"
            "  hard gate: export-controlled technical data (US EAR, PRC Export Control Law)\n"
            "  duties: delete within 180 days, notify incidents within 72 h, witness logs weekly"
        )
        tampered = copy.deepcopy(w.agreement_doc)
        tampered["signed"]["purposes"].append({"id": "marketing", "description": "added later"})
        try:
            agreements.verify_agreement(tampered, now=SEND_AT)
        except Error as exc:
            self.say(f"  a tampered copy (purpose added after signing) is refused: {exc}")
        else:
            raise VerificationError("demo: a tampered agreement verified")

    def history(self) -> None:
        w = self.world
        meters = [
            {
                "path": "meters/weekly.csv",
                "size": 20480,
                "sha256": "11" * 32,
                "level": "internal",
                "categories": ["building.metering"],
            }
        ]
        weather = [
            {
                "path": "weather/nanjing.csv",
                "size": 4096,
                "sha256": "22" * 32,
                "level": "public",
                "categories": ["weather"],
            }
        ]
        first = None
        for week in range(12):
            at = START + (3 + 7 * week) * DAY
            m = w.manifest(US, CN, meters, at=at)
            first = first or m
            w.transfer(m, at=at, receipt_after=timedelta(hours=2 + week % 3))
            if week % 4 == 1:
                n = w.manifest(CN, US, weather, at=at + DAY, purpose="retrofit-evaluation")
                late = timedelta(days=8) if week == 9 else timedelta(hours=5)
                w.transfer(n, at=at + DAY, receipt_after=late)
            w.witness_all(at=at + 2 * DAY)
        assert first is not None
        w.delete(CN, first, at=START + 60 * DAY)
        incident = {
            "_type": "dta.incident",
            "id": "urn:uuid:6a1f2d3e-0b4c-4d5e-8f60-718293a4b5c6",
            "digest": {"sha256": "33" * 32},
        }
        w.record(
            CN,
            "incident.reported",
            incident,
            at=START + 70 * DAY + timedelta(hours=20),
            details={"detected": "2027-03-26T00:00:00Z", "summary": "misdirected e-mail"},
        )
        self.say(
            "  12 weekly meter transfers US -> PRC, 3 weather transfers PRC -> US, all receipted\n"
            "  (one by the US lab only after the manifest had expired);\n"
            f"  one deletion recorded; one incident notified 20 h after detection;\n"
            f"  logs: {US} {w.actors[US].log.size} records, {CN} {w.actors[CN].log.size} records,"
            " cross-witnessed weekly (and by an independent notary)"
        )

    def classify(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        root = self.dir / "dataset"
        for rel, text in _DATASET.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        report = classify_tree(root, now=SEND_AT)
        self.write("classification.json", report)
        self.say("  $ dta classify dataset -o classification.json")
        gate = self.world.agreement.gate_categories
        blocked = []
        for f in report["files"]:
            cats = ", ".join(f["categories"]) or "-"
            hit = sorted(set(f["categories"]) & gate)
            finds = ", ".join(f"{k} x{v}" for k, v in sorted(f["findings"].items())) or "nothing"
            self.say(f"  {f['path']:<36} {f['level']:<13} {cats:<22} found: {finds}")
            if hit:
                reason = (
                    f"category {', '.join(hit)} is prohibited by the agreement's export-control "
                    "gate (US EAR, PRC Export Control Law)"
                )
                blocked.append((f["path"], reason))
        return report, blocked

    def block(self, report: dict[str, Any], blocked: list[tuple[str, str]]) -> None:
        if not blocked:
            raise VerificationError("demo: the export-controlled file was not detected")
        for path, reason in blocked:
            self.say(f"  BLOCKED {path}: {reason}")
        subject = {
            "_type": "dta.classification-report",
            "id": "urn:uuid:" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
            "digest": envelope.digest(report),
        }
        self.world.record(
            US,
            "x-dta.transfer-blocked",
            subject,
            at=SEND_AT,
            details={"paths": [p for p, _ in blocked], "gate": "export-control"},
        )

    def send(self, blocked: list[tuple[str, str]]) -> dict[str, Any]:
        w = self.world
        src, out = self.dir / "dataset", self.dir / "outbox"
        skip = {p for p, _ in blocked}
        for rel in _DATASET:
            if rel not in skip:
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, out / rel)
        report = classify_tree(out, now=SEND_AT)
        seq, prev = w.next_sequence(US, CN)
        body = manifest.build_manifest(
            out,
            agreement_ref=w.agreement.ref(),
            sender=US,
            recipient=CN,
            purpose="building-energy-modelling",
            sequence=seq,
            previous=prev,
            classification=report,
            now=SEND_AT,
            ip={"owner": US, "licence": "CC-BY-4.0"},
            workers=1,
            progress=False,
        )
        doc = w.sign_manifest(body)
        decision = agreements.check_manifest(w.agreement, doc, now=SEND_AT)
        if not decision.allowed:
            raise VerificationError(f"demo: manifest refused: {decision.to_dict()['reasons']}")
        self.write("manifest.signed.json", doc)
        self.say(
            "  $ dta manifest create outbox --agreement agreement.signed.json --sender "
            f"{US} --recipient {CN} --purpose building-energy-modelling --report ... "
            "-o manifest.json\n  $ dta sign manifest.json -k keys/us-lab.pem -o "
            "manifest.signed.json"
        )
        self.say(
            f"  {body['totals']['files']} files, {body['totals']['bytes']} bytes, level "
            f"{body['level']}, categories {', '.join(body['categories']) or '-'}, data subjects "
            f"{body['subjects'] or '-'}; sequence {seq}; signed by {US}; allowed by the agreement"
        )
        return doc

    def receive(self, doc: dict[str, Any]) -> None:
        w = self.world
        inbox = self.dir / "inbox"
        shutil.copytree(self.dir / "outbox", inbox)
        tree = manifest.verify_tree(doc["signed"], inbox)
        rc = w.transfer(doc, at=SEND_AT, receipt_after=timedelta(hours=4), tree=tree)
        assert rc is not None
        if rc["signed"]["decision"] != "accepted":
            raise VerificationError(f"demo: receipt rejected: {rc['signed']['discrepancies']}")
        self.write("receipt.signed.json", rc)
        self.say(
            "  $ dta verify manifest.signed.json -k keys/us-lab.pub.json --type dta.manifest\n"
            "  $ dta receipt create manifest.signed.json --agreement agreement.signed.json "
            "--tree inbox -k keys/cn-lab.pem -o receipt.signed.json"
        )
        digest = rc["signed"]["manifest"]["digest"]["sha256"]
        self.say(
            f"  {CN} checked every file (digests, sizes, no extras) and the agreement: accepted;\n"
            f"  receipt names manifest sha256:{digest[:16]}..., countersigned by {CN}"
        )

    def witness(self) -> None:
        w = self.world
        w.witness_all(at=SEND_AT + DAY)
        for pid, actor in w.actors.items():
            (self.dir / "logs").mkdir(exist_ok=True)
            name = f"logs/{pid}.checkpoint"
            (self.dir / name).write_text(actor.checkpoints[-1], encoding="utf-8")
            actor.log.flush()
            shutil.copyfile(
                Path(actor.log.url.removeprefix("file:")), self.dir / f"logs/{pid}.jsonl"
            )
            lines = actor.checkpoints[-1].count("\u2014 ")
            self.say(
                f"  {pid}: checkpoint of {actor.log.size} records, {lines} signatures "
                f"(its own, {w.other(pid).id}'s cosignature, the notary's)"
            )

    def audit(self) -> dict[str, Any]:
        w = self.world
        logs = [
            compliance.PartyLog(
                pid, str(self.dir / f"logs/{pid}.jsonl"), tuple(a.checkpoints), a.origin
            )
            for pid, a in w.actors.items()
        ]
        rec = compliance.reconcile(
            w.agreement_doc,
            logs,
            manifests=w.manifests,
            receipts=w.receipts,
            witnesses={w.notary_name: w.notary.public_key},
            now=AUDIT_AT,
        )
        body = compliance.build_report(
            rec, auditor="Example Assurance LLP", auditor_key=w.auditor.public_key
        )
        doc = compliance.sign_report(body, w.auditor)
        self.write("compliance-report.signed.json", doc)
        self.say(
            "  $ dta compliance report --agreement agreement.signed.json \\\n"
            f"      --log {US}=logs/{US}.jsonl --checkpoint {US}=logs/{US}.checkpoint \\\n"
            f"      --log {CN}=logs/{CN}.jsonl --checkpoint {CN}=logs/{CN}.checkpoint \\\n"
            "      --manifest ... --receipt ... -k keys/auditor.pem --auditor ... \\\n"
            "      -o compliance-report.signed.json --html compliance-report.html"
        )
        html_path = self.dir / "compliance-report.html"
        html_path.write_text(compliance.render_html(doc), encoding="utf-8")
        self.files["compliance-report.html"] = str(html_path)
        lines = compliance.summarize(doc)
        for line in [*lines[:2], *(x for x in lines if x.startswith("  ["))]:
            self.say("  " + line)
        for p in body["parties"]:
            rep = p["reputation"]
            self.say(
                f"  {p['party']}: evidence {p['evidence_level']}, reputation {rep['score']}%"
                f", failing checks: {', '.join(rep['failing_checks']) or 'none'}"
            )
        for g in body["gates"]:
            self.say(f"  gate {g['gate']} {g.get('party') or ''}: {g['status']}")
        return doc

    def validate(self) -> None:
        count = 0
        for name, path in sorted(self.files.items()):
            if name.endswith(".json"):
                schemas.validate(loads(Path(path).read_bytes()))
                count += 1
        self.say(
            "  $ dta validate *.signed.json classification.json keys/*.pub.json\n"
            f"  {count} documents valid against the packaged JSON Schemas"
        )


def classify_tree(root: Path, *, now: datetime) -> dict[str, Any]:
    """Classify every file below ``root`` with :func:`dta.classify.scan_paths`.

    Raises:
        ClassificationError: a file cannot be classified.
    """
    report: dict[str, Any] = classify.scan_paths([root], now=now)
    return report


STEPS: tuple[tuple[str, str], ...] = (
    ("keys", "Both labs, an auditor and an independent notary generate Ed25519 keys"),
    ("agreement", "The labs sign a data-transfer agreement (both signatures required)"),
    ("history", "Three months of routine transfers, receipts and cross-witnessing"),
    ("classify", "The US lab classifies a new dataset before sending it"),
    ("block", "The export-control gate blocks the marked file"),
    ("send", "The rest goes under a signed manifest bound to the agreement"),
    ("receive", "The PRC lab verifies files and terms and countersigns a receipt"),
    ("witness", "Each lab checkpoints its log; the other lab and the notary witness it"),
    ("audit", "An auditor reconciles both logs and writes the signed compliance report"),
    ("validate", "Every document written validates against the schemas"),
)


def run_demo(workdir: Path, say: Callable[[str], None]) -> DemoResult:
    """Run the whole scenario in ``workdir`` (created if needed), narrating with ``say``.

    Raises:
        VerificationError: a step did not behave as narrated.
        Error: any dta error from the underlying steps.
    """
    story = _Story(workdir, say)
    state: dict[str, Any] = {}
    try:
        for number, (name, title) in enumerate(STEPS, 1):
            say(f"\n[{number}/{len(STEPS)}] {title}")
            if name == "classify":
                state["classification"], state["blocked"] = story.classify()
            elif name == "block":
                story.block(state["classification"], state["blocked"])
            elif name == "send":
                state["manifest"] = story.send(state["blocked"])
            elif name == "receive":
                story.receive(state["manifest"])
            elif name == "audit":
                state["report"] = story.audit()
            else:
                getattr(story, name)()
    finally:
        story.world.close()
    (workdir / "README.txt").write_text(
        "Files written by `dta demo`; try:\n"
        "  dta compliance verify compliance-report.signed.json \\\n"
        "      --auditor-key keys/auditor.pub.json\n"
        "  dta validate *.signed.json classification.json\n",
        encoding="utf-8",
    )
    return DemoResult(dict(story.files), state["report"], tuple(p for p, _ in state["blocked"]))
