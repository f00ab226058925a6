"""End to end on a real directory: build, sign, check, verify tree, receipt, state machine."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agreement_helpers import CN, NOW, US, World

from dta import canonical_bytes, envelope
from dta.agreement import Ledger, check_manifest
from dta.manifest import build_manifest, verify_tree
from dta.receipt import create_receipt, verify_receipt
from dta.transfer import State, Transfer, replay


class MemoryLog:
    """In-memory stand-in with the AuditLog append/records contract."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def append(self, event: Mapping[str, Any]) -> tuple[int, bytes]:
        record = {"index": len(self.lines), **event}
        self.lines.append(record)
        return record["index"], hashlib.sha256(b"\x00" + canonical_bytes(record)).digest()


def tree(root: Path) -> Path:
    (root / "meters").mkdir(parents=True)
    (root / "meters" / "hall-b.csv").write_text("ts,kwh\n2026-10-01T00:00Z,12.5\n")
    (root / "weather.csv").write_text("ts,temp_c\n2026-10-01T00:00Z,8.1\n")
    return root


def build(world: World, root: Path, ledger: Ledger) -> dict[str, Any]:
    sequence, previous = ledger.next_sequence(world.agreement.id, US, CN)
    body = build_manifest(
        root,
        agreement_ref=world.agreement.ref(),
        sender=US,
        recipient=CN,
        purpose="retrofit-evaluation",
        sequence=sequence,
        previous=previous,
        classification=None,
        default_level="internal",
        now=NOW,
        ip={"owner": US, "licence": "CC-BY-4.0"},
        workers=1,
    )
    body["policy"] = {"digest": {"sha256": "ab" * 32}}
    return envelope.sign(body, world.us[0])


def test_transfer_end_to_end_accepted_then_tampered_rejected(tmp_path: Path) -> None:
    """An intact tree is accepted; a next transfer with a modified file is rejected (path named)."""
    world = World()
    sender_ledger = Ledger.open(tmp_path / "us-ledger.json", create=True)
    recipient_ledger = Ledger.open(tmp_path / "cn-ledger.json", create=True)
    root = tree(tmp_path / "outbox")
    log = MemoryLog()

    manifest = build(world, root, sender_ledger)
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    t.receive(manifest, now=NOW)
    decision = check_manifest(world.agreement, manifest, now=NOW, ledger=recipient_ledger)
    assert decision.allowed, decision.reasons
    receipt = envelope.sign(
        create_receipt(manifest, verify_tree(manifest, root), decision, recipient=CN, now=NOW),
        world.cn[0],
    )
    verify_receipt(receipt, world.agreement, manifest, now=NOW)
    recipient_ledger.record(decision.manifest or manifest)
    sender_ledger.record(manifest)
    t.accept(receipt, now=NOW)
    assert t.state is State.ACCEPTED

    second = build(world, root, sender_ledger)
    assert second["signed"]["sequence"] == 2
    (root / "weather.csv").write_text("ts,temp_c\n2026-10-01T00:00Z,8.2\n")
    t2 = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t2.agree(now=NOW)
    t2.send(second, now=NOW)
    t2.receive(second, now=NOW)
    decision2 = check_manifest(world.agreement, second, now=NOW, ledger=recipient_ledger)
    assert decision2.allowed, decision2.reasons
    body = create_receipt(second, verify_tree(second, root), decision2, recipient=CN, now=NOW)
    assert body["decision"] == "rejected"
    assert [(d["code"], d.get("path")) for d in body["discrepancies"]] == [
        ("tree-modified", "weather.csv")
    ]
    t2.reject(envelope.sign(body, world.cn[0]), now=NOW)
    states = replay(log.lines)
    assert {s.state for s in states.values()} == {State.ACCEPTED, State.REJECTED}
    replayed = check_manifest(world.agreement, manifest, now=NOW, ledger=recipient_ledger)
    assert [r.code for r in replayed.reasons] == ["replayed-manifest"]
