"""Transfer state machine: legal paths, illegal transitions, audit records, replay from a log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from agreement_helpers import CN, NOW, US, World, sign_all

from dta import canonical_bytes
from dta.agreement import check_manifest, digest
from dta.errors import TransferStateError
from dta.receipt import create_receipt
from dta.transfer import TRANSITIONS, State, Transfer, replay


class MemoryLog:
    """In-memory stand-in with the AuditLog append/records contract (index, leaf hash)."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def append(self, event: Mapping[str, Any]) -> tuple[int, bytes]:
        record = {"_type": "dta.audit-record", "index": len(self.lines), **event}
        self.lines.append(record)
        return record["index"], hashlib.sha256(b"\x00" + canonical_bytes(record)).digest()

    def records(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.lines))


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def docs(world: World, purpose: str = "building-energy-modelling") -> tuple[Any, Any]:
    manifest = world.sign_manifest(world.manifest(purpose=purpose))
    decision = check_manifest(world.agreement, manifest, now=NOW)
    receipt = sign_all(
        create_receipt(manifest, None, decision, recipient=CN, now=NOW), world.cn[:1]
    )
    return manifest, receipt


def test_happy_path_logs_every_transition_with_document_digests(world: World) -> None:
    """requested -> agreed -> sent -> received -> accepted, each a record with the right subject."""
    log = MemoryLog()
    manifest, receipt = docs(world)
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    t.receive(manifest, now=NOW)
    t.accept(receipt, now=NOW)
    assert t.state is State.ACCEPTED
    actions = [r["action"] for r in log.lines]
    assert actions == [
        "transfer.requested",
        "transfer.agreed",
        "transfer.sent",
        "transfer.received",
        "transfer.accepted",
    ]
    assert log.lines[2]["subject"] == {
        "_type": "dta.manifest",
        "id": manifest["signed"]["id"],
        "digest": digest(manifest["signed"]),
    }
    assert log.lines[4]["subject"]["digest"] == digest(receipt["signed"])
    assert [r["details"]["by"] for r in log.lines[2:]] == [US, CN, CN]
    assert all(r["actor"] == CN for r in log.lines)
    assert all(
        r["agreement"] == {"id": world.agreement.id, "digest": world.agreement.digest}
        for r in log.lines
    )


def test_state_reconstructed_from_log(world: World) -> None:
    """replay() over the records gives the same state, manifest and receipt as the live object."""
    log = MemoryLog()
    manifest, receipt = docs(world, purpose="marketing")
    t = Transfer.request(world.agreement, US, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    t.receive(manifest, now=NOW)
    t.reject(receipt, now=NOW)
    status = replay(log.records())[t.id]
    assert status.state is State.REJECTED
    assert status == t.status
    again = Transfer.from_log(world.agreement, US, log, log.records(), t.id)
    with pytest.raises(TransferStateError):
        again.terminate("too late", now=NOW)


@pytest.mark.parametrize(
    ("steps", "bad"),
    [
        ([], "send"),
        ([], "receive"),
        (["agree"], "receive"),
        (["agree"], "accept"),
        (["agree", "send"], "accept"),
        (["agree", "send", "receive", "accept"], "reject"),
        (["agree", "send", "receive", "accept"], "suspend"),
        (["terminate"], "agree"),
        (["agree"], "agree"),
        (["agree"], "resume"),
    ],
)
def test_illegal_transition_raises_and_logs_nothing(
    world: World, steps: list[str], bad: str
) -> None:
    """Each illegal step raises TransferStateError and appends no record."""
    log = MemoryLog()
    manifest, receipt = docs(world)
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    call = {
        "agree": lambda: t.agree(now=NOW),
        "send": lambda: t.send(manifest, now=NOW),
        "receive": lambda: t.receive(manifest, now=NOW),
        "accept": lambda: t.accept(receipt, now=NOW),
        "reject": lambda: t.reject(receipt, now=NOW),
        "suspend": lambda: t.suspend("incident", now=NOW),
        "resume": lambda: t.resume(now=NOW),
        "terminate": lambda: t.terminate("ended", now=NOW),
    }
    for step in steps:
        call[step]()
    before = len(log.lines)
    with pytest.raises(TransferStateError):
        call[bad]()
    assert len(log.lines) == before


def test_suspend_and_resume_return_to_previous_state(world: World) -> None:
    """A suspended transfer resumes where it stopped; the log shows suspended and resumed."""
    log = MemoryLog()
    manifest, _ = docs(world)
    t = Transfer.request(world.agreement, US, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    t.suspend("incident INC-7 under investigation", now=NOW)
    with pytest.raises(TransferStateError):
        t.receive(manifest, now=NOW)
    t.resume(now=NOW)
    assert t.state is State.SENT
    assert [r["action"] for r in log.lines][-2:] == ["transfer.suspended", "transfer.resumed"]
    assert replay(log.records())[t.id].state is State.SENT
    t.terminate("partner withdrew", now=NOW)
    assert replay(log.records())[t.id].state is State.TERMINATED


def test_received_manifest_must_be_the_one_sent(world: World) -> None:
    """Receiving a different manifest than the one sent is refused."""
    log = MemoryLog()
    (m1, _), (m2, _) = docs(world), docs(world)
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(m1, now=NOW)
    with pytest.raises(TransferStateError, match="differs"):
        t.receive(m2, now=NOW)


def test_receipt_decision_must_match(world: World) -> None:
    """An accepted receipt cannot reject and vice versa; a receipt for another manifest fails."""
    log = MemoryLog()
    manifest, receipt = docs(world)
    _, other_receipt = docs(world)
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    t.receive(manifest, now=NOW)
    with pytest.raises(TransferStateError, match="decision"):
        t.reject(receipt, now=NOW)
    with pytest.raises(TransferStateError, match="another manifest"):
        t.accept(other_receipt, now=NOW)


def test_manifest_for_other_direction_or_agreement_refused(world: World) -> None:
    """send() refuses a manifest for another direction or agreement."""
    log = MemoryLog()
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    with pytest.raises(TransferStateError, match="direction"):
        t.send(world.manifest(sender=CN, recipient=US), now=NOW)
    with pytest.raises(TransferStateError, match="another agreement"):
        t.send(world.manifest(agreement={"id": "x", "version": 1, "digest": {"sha256": "0" * 64}}))


def test_request_needs_parties_and_a_permitted_direction(world: World) -> None:
    """A transfer cannot be requested for strangers."""
    with pytest.raises(TransferStateError, match="not a party"):
        Transfer.request(world.agreement, "mallory", MemoryLog(), sender=US, recipient=CN)


def test_replay_rejects_illegal_log_sequence(world: World) -> None:
    """A log where a transfer jumps from requested to sent is reported with the record index."""
    log = MemoryLog()
    manifest, _ = docs(world)
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    del log.lines[1]
    with pytest.raises(TransferStateError, match="audit record 2"):
        replay(log.records())


def test_transition_table_has_no_exit_from_final_states() -> None:
    """ACCEPTED, REJECTED and TERMINATED have no outgoing transitions."""
    finals = {State.ACCEPTED, State.REJECTED, State.TERMINATED}
    assert not [t for t in TRANSITIONS if t[0] in finals]
