"""A two-lab world for the demo, the examples, the compliance tests and the benchmark.

Rules this module enforces:

* Everything goes through the public API: keys, the signed agreement (every party signs), signed
  manifests, the agreement check, countersigned receipts, the transfer state machine appending to
  each party's own :class:`dta.audit.AuditLog`, signed checkpoints, and witnesses that cosign
  only proven-consistent growth (:class:`dta.audit.Witness`).
* Time is passed in for every step; nothing reads the clock, so runs are reproducible apart from
  keys and ids.
* Deviations (a missing receipt, a late receipt, a rejection, a record missing on one side) are
  explicit keyword arguments, so tests can create each discrepancy on purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from dta import agreement as agreements
from dta import envelope, receipt
from dta._demo_agreement import CN, US, agreement_spec
from dta._policy_eval import format_time
from dta.audit import AuditLog, Witness
from dta.audit.checkpoint import add_cosignatures
from dta.classify import load_policy
from dta.compliance import PartyLog
from dta.keys import LocalSigner, PublicKey, generate
from dta.transfer import Transfer

__all__ = ["Actor", "World"]


@attrs.define
class Actor:
    """A party: id, signing keys (the first is its Ed25519 log key), log, witness of the other."""

    id: str
    signers: list[LocalSigner]
    log: AuditLog
    origin: str
    witness: Witness
    checkpoints: list[str] = attrs.field(factory=list)

    @property
    def log_key(self) -> PublicKey:
        """The Ed25519 key that signs this party's checkpoints."""
        return self.signers[0].public_key


class World:
    """Two labs, an auditor and an independent witness, with their logs under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        start: datetime,
        durability: str = "batch",
        tweak: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Create keys, sign the agreement and open empty logs in ``root``.

        ``tweak`` may edit the agreement spec before it is signed (tests).

        Raises:
            StorageError: the logs or witness directories cannot be created.
        """
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.auditor = generate()
        self.notary = generate()
        self.notary_name = "notary.example.org/witness"
        us_signers, cn_signers = [generate()], [generate()]
        spec = agreement_spec(
            [s.public_key for s in us_signers],
            [s.public_key for s in cn_signers],
            start=start,
            policy_digest=load_policy(None).digest,
        )
        if tweak is not None:
            tweak(spec)
        body = agreements.new_agreement(spec, now=start)
        doc = envelope.sign(body, us_signers[0])
        self.agreement_doc = envelope.sign(body, cn_signers[0], envelope=doc)
        self.agreement = agreements.verify_agreement(self.agreement_doc, now=start)
        self.actors: dict[str, Actor] = {}
        for pid, signers, host in (
            (US, us_signers, "bpl.example.edu"),
            (CN, cn_signers, "lcb.example.edu.cn"),
        ):
            self.actors[pid] = Actor(
                pid,
                signers,
                AuditLog.open(root / f"{pid}.audit.jsonl", create=True, durability=durability),
                f"{host}/dta-audit",
                Witness(root / f"{pid}.witness", signers[0], f"{host}/witness"),
            )
        self.third = Witness(root / "notary.witness", self.notary, self.notary_name)
        self.manifests: list[dict[str, Any]] = []
        self.receipts: list[dict[str, Any]] = []
        self._sequence: dict[tuple[str, str], tuple[int, dict[str, str] | None]] = {}

    def other(self, party: str) -> Actor:
        """The counterparty of ``party``."""
        return next(a for pid, a in self.actors.items() if pid != party)

    def manifest(
        self,
        sender: str,
        recipient: str,
        items: Sequence[Mapping[str, Any]],
        *,
        at: datetime,
        purpose: str = "building-energy-modelling",
        subjects: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """A signed manifest for hand-made items (``path``, ``size``, ``sha256``, ``level``...)."""
        levels = self.agreement.levels
        level = max((str(i["level"]) for i in items), key=levels.index)
        seq, prev = self._sequence.get((sender, recipient), (0, None))
        body = {
            "_type": "dta.manifest",
            "spec_version": "1.0",
            "id": f"urn:uuid:{uuid.uuid4()}",
            "agreement": self.agreement.ref(),
            "sender": sender,
            "recipient": recipient,
            "purpose": purpose,
            "created": format_time(at),
            "expires": format_time(at + timedelta(days=7)),
            "sequence": seq + 1,
            "previous": prev,
            "items": [
                {
                    "path": i["path"],
                    "size": i["size"],
                    "digest": {"sha256": i["sha256"]},
                    "media_type": i.get("media_type", "text/csv"),
                    "level": i["level"],
                    "categories": list(i.get("categories", [])),
                    "findings": dict(i.get("findings", {})),
                }
                for i in items
            ],
            "totals": {"files": len(items), "bytes": sum(int(i["size"]) for i in items)},
            "level": level,
            "categories": sorted({c for i in items for c in i.get("categories", [])}),
            "subjects": dict(subjects or {}),
            "policy": {"digest": dict(self.agreement.policy_digest or {"sha256": "0" * 64})},
            "ip": {"owner": sender, "licence": "CC-BY-4.0"},
        }
        return self.sign_manifest(body)

    def next_sequence(self, sender: str, recipient: str) -> tuple[int, dict[str, str] | None]:
        """The next ``sequence`` and ``previous`` digest on a channel."""
        seq, prev = self._sequence.get((sender, recipient), (0, None))
        return seq + 1, prev

    def sign_manifest(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Sign a manifest body with the sender's keys and advance its channel sequence."""
        sender = self.actors[str(body["sender"])]
        doc = envelope.sign(body, sender.signers[0])
        self._sequence[(str(body["sender"]), str(body["recipient"]))] = (
            int(body["sequence"]),
            envelope.digest(body),
        )
        return doc

    def transfer(
        self,
        manifest_doc: Mapping[str, Any],
        *,
        at: datetime,
        receipt_after: timedelta | None = timedelta(hours=3),
        reject: str | None = None,
        tree: Any = None,
        log_received: bool = True,
        log_sent: bool = True,
    ) -> dict[str, Any] | None:
        """Send a signed manifest, receive it, countersign a receipt; log every step.

        Args:
            manifest_doc: The signed manifest.
            at: Send time.
            receipt_after: Delay of the receipt (None: the recipient never acknowledges).
            reject: Reject with this discrepancy message instead of accepting.
            tree: The recipient's ``verify_tree`` result for the received files, if checked.
            log_received: Whether the recipient logs ``transfer.received`` (tests).
            log_sent: Whether the sender logs ``transfer.sent`` (tests).

        Returns:
            The signed receipt, or None.

        Raises:
            TransferStateError, ReceiptError: the documents do not fit (a bug in the caller).
        """
        body = manifest_doc["signed"]
        s, r = self.actors[body["sender"]], self.actors[body["recipient"]]
        self.manifests.append(dict(manifest_doc))
        tid = f"urn:uuid:{uuid.uuid4()}"
        sides = {}
        for actor in (s, r):
            t = Transfer.request(
                self.agreement,
                actor.id,
                actor.log,
                sender=s.id,
                recipient=r.id,
                transfer_id=tid,
                now=at,
            )
            t.agree(now=at)
            sides[actor.id] = t
        if log_sent:
            sides[s.id].send(manifest_doc, now=at)
        sides[r.id].send(manifest_doc, now=at)  # the recipient records the sender's step
        if receipt_after is None:
            return None
        when = at + receipt_after
        if log_received:
            sides[r.id].receive(manifest_doc, now=when)
        decision = agreements.check_manifest(self.agreement, manifest_doc, now=at)
        if reject:
            tree = {"discrepancies": [{"code": "modified", "message": reject}]}
        rc_body = receipt.create_receipt(manifest_doc, tree, decision, recipient=r.id, now=when)
        rc = envelope.sign(rc_body, r.signers[0])
        self.receipts.append(rc)
        if log_received:
            rejected = rc_body["decision"] == "rejected"
            (sides[r.id].reject if rejected else sides[r.id].accept)(rc, now=when)
        return rc

    def record(
        self,
        party: str,
        action: str,
        subject: Mapping[str, Any],
        *,
        at: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append a free event (``data.deleted``, ``incident.reported``...) to a party's log."""
        self.actors[party].log.append(
            {
                "actor": party,
                "action": action,
                "subject": dict(subject),
                "agreement": {"id": self.agreement.id, "digest": self.agreement.digest},
                "details": dict(details or {}),
                "time": format_time(at),
            }
        )

    def delete(self, party: str, manifest_doc: Mapping[str, Any], *, at: datetime) -> None:
        """Record that ``party`` deleted the data of a transfer (its duty)."""
        body = manifest_doc["signed"]
        subject = {"_type": "dta.manifest", "id": body["id"], "digest": envelope.digest(body)}
        self.record(party, "data.deleted", subject, at=at, details={"files": len(body["items"])})

    def witness_all(self, *, at: datetime, third_party: bool = True) -> None:
        """Each party checkpoints its log; the other party (and the notary) witness it."""
        for actor in self.actors.values():
            actor.log.flush()
            note = actor.log.checkpoint(actor.signers[0], actor.origin)
            lines = []
            witnesses = [self.other(actor.id).witness] + ([self.third] if third_party else [])
            for w in witnesses:
                last = w.latest(actor.origin)
                old = 0 if last is None else last.checkpoint.size
                size = actor.log.size
                proof = actor.log.prove_consistency(old, size) if 0 < old < size else []
                lines.append(w.witness(note, actor.log_key, proof, now=at))
            actor.checkpoints.append(add_cosignatures(note, lines))

    def party_logs(self) -> list[PartyLog]:
        """What each party hands the auditor: its log and its cosigned checkpoints."""
        return [
            PartyLog(a.id, a.log.url, tuple(a.checkpoints), a.origin) for a in self.actors.values()
        ]

    def close(self) -> None:
        """Flush and close the logs."""
        for actor in self.actors.values():
            actor.log.close()
