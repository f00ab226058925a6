"""Reconciliation: both logs verified, every sent manifest matched, each discrepancy coded."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from compliance_helpers import CN, DAY, START, US, audit, codes, items, send

from dta import compliance, envelope, receipt
from dta.errors import UsageError


def test_clean_history_reconciles_every_transfer(world):
    """Sent, received and receipted transfers in both directions reconcile with no discrepancy."""
    for day in (1, 3, 5):
        send(world, day)
    send(world, 6, CN, US)
    world.witness_all(at=START + 8 * DAY)
    rec = audit(world, 9)
    assert rec.discrepancies == ()
    assert [t.status for t in rec.transfers] == ["reconciled"] * 4
    assert all(s.ok and s.witnessed_size() == s.size for s in rec.logs)


def test_missing_receipt_is_unacknowledged(world):
    """A send with no receipt and no received record is unacknowledged, blamed on the recipient."""
    m = send(world, 1, receipt_after=None)
    rec = audit(world, 12)
    assert codes(rec) == ["unacknowledged"]
    (d,) = rec.discrepancies
    assert d.manifest == m["signed"]["id"]
    assert d.party == CN


def test_receipt_after_manifest_expiry_is_late(world):
    """A receipt dated after the manifest's expiry is late."""
    send(world, 1, receipt_after=timedelta(days=8))
    assert codes(audit(world, 12)) == ["late"]


def test_auditor_ack_window_tightens_the_deadline(world):
    """With an acknowledgement window of 2 hours, a receipt after 3 hours is late."""
    send(world, 1, receipt_after=timedelta(hours=3))
    assert codes(audit(world, 3)) == []
    assert codes(audit(world, 3, ack_window=timedelta(hours=2))) == ["late"]


def test_rejected_receipt_is_listed_against_the_sender(world):
    """A rejection is a discrepancy attributed to the sender of the rejected data."""
    send(world, 1, reject="meters/internal-0.csv modified in transit")
    rec = audit(world, 3)
    assert codes(rec) == ["rejected"]
    assert rec.discrepancies[0].party == US
    assert rec.transfers[0].decision == "rejected"


def test_receipt_without_received_record_is_missing_on_one_side(world):
    """A receipt whose transfer the recipient never logged: record missing on one side."""
    send(world, 1, log_received=False)
    assert codes(audit(world, 3)) == ["record-missing-on-one-side"] * 2


def test_receipt_for_a_send_the_sender_never_logged(world):
    """The recipient acknowledges a manifest the sender's log does not show as sent."""
    send(world, 1, log_sent=False)
    rec = audit(world, 3)
    assert codes(rec) == ["receipt-without-send"]
    assert rec.discrepancies[0].party == US


def test_receipt_naming_another_digest_is_a_digest_mismatch(world):
    """A receipt that names the manifest id with a different digest does not match it."""
    m = send(world, 1, receipt_after=None)
    body = receipt.create_receipt(m, None, None, recipient=CN, now=START + 2 * DAY)
    body["manifest"]["digest"] = {"sha256": "ab" * 32}
    forged = envelope.sign(body, world.actors[CN].signers[0])
    rec = audit(world, 12, receipts=[forged])
    assert "digest-mismatch" in codes(rec)
    assert "unacknowledged" in codes(rec)


def test_receipt_for_unknown_manifest_is_receipt_without_send(world):
    """A receipt for a manifest nobody presented or logged is listed."""
    other = world.manifest(US, CN, items(), at=START + DAY)
    body = receipt.create_receipt(other, None, None, recipient=CN, now=START + 2 * DAY)
    rc = envelope.sign(body, world.actors[CN].signers[0])
    rec = audit(world, 3, receipts=[rc])
    assert codes(rec) == ["receipt-without-send"]


def test_logged_send_without_its_manifest_is_manifest_missing(world):
    """The sender's log shows a send whose signed manifest the auditor never saw."""
    send(world, 1)
    rec = audit(world, 3, manifests=[], receipts=[])
    assert codes(rec) == ["manifest-missing"]


def test_manifest_signed_by_the_wrong_party_is_not_used(world):
    """A manifest signed by the recipient instead of the sender is an unverified document."""
    m = send(world, 1)
    forged = envelope.sign(m["signed"], world.actors[CN].signers[0])
    rec = audit(world, 3, manifests=[forged])
    assert "unverified-document" in codes(rec)
    assert rec.transfers == ()


def test_tampered_log_contributes_no_records(world):
    """One modified byte in a log: it fails verification and none of its records are used."""
    send(world, 1)
    world.witness_all(at=START + 2 * DAY)
    world.close()
    path = Path(world.actors[CN].log.url.removeprefix("file:"))
    data = bytearray(path.read_bytes())
    at = data.index(b'"transfer.received"') + 3
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    rec = audit(world, 3)
    cn = rec.log(CN)
    assert cn is not None
    assert not cn.ok
    assert cn.records == ()
    assert "log-unverified" in codes(rec)
    assert "record-missing-on-one-side" in codes(rec)


def test_log_truncated_behind_a_checkpoint_is_detected(world):
    """Dropping the last record of a checkpointed log is caught by the checkpoint."""
    send(world, 1)
    world.witness_all(at=START + 2 * DAY)
    world.close()
    path = Path(world.actors[US].log.url.removeprefix("file:"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    for sidecar in path.parent.glob(path.name + ".*"):  # rebuildable; as a partner ships it
        shutil.rmtree(sidecar) if sidecar.is_dir() else sidecar.unlink()
    rec = audit(world, 3)
    us = rec.log(US)
    assert us is not None
    assert not us.ok
    assert us.fault is not None
    assert us.fault["kind"] == "truncated"


def test_checkpoint_signed_by_a_stranger_is_rejected(world):
    """A checkpoint signed with a key that is not the party's does not count."""
    send(world, 1)
    log = world.actors[US].log
    log.flush()
    forged = log.checkpoint(world.auditor, world.actors[US].origin)
    logs = [
        compliance.PartyLog(US, log.url, (forged,), world.actors[US].origin),
        compliance.PartyLog(CN, world.actors[CN].log.url),
    ]
    rec = audit(world, 3, logs=logs)
    (cp,) = rec.log(US).checkpoints
    assert not cp.signed
    assert cp.error


def test_cosignature_time_after_the_audit_is_refused(world):
    """A cosignature timestamped after the audit time is reported, not counted."""
    send(world, 1)
    world.witness_all(at=START + 20 * DAY)
    rec = audit(world, 10)
    log = rec.log(US)
    assert log.cosignatures() == []
    assert "future" in (log.checkpoints[0].error or "")


def test_party_key_cannot_pose_as_third_party_witness(world):
    """The auditor cannot count a party's own key as independent witness."""
    with pytest.raises(UsageError, match="third-party"):
        audit(world, 3, witnesses={"x": world.actors[US].log_key})


def test_expired_agreement_is_still_audited_with_a_note(world):
    """After the agreement expired, its signatures are checked at its end and the report says so."""
    send(world, 1)
    rec = audit(world, 800)
    assert rec.agreement_note
    assert "expired" in rec.agreement_note
    assert rec.transfers[0].status == "reconciled"


def test_agreement_missing_a_party_signature_is_refused(world):
    """An agreement signed by one party only is not a basis for any audit."""
    doc = world.agreement_doc
    one = {"signed": doc["signed"], "signatures": doc["signatures"][:1]}
    with pytest.raises(Exception, match=r"signature|sign"):
        compliance.reconcile(one, world.party_logs(), now=START + DAY)


def test_naive_time_and_unknown_party_are_usage_errors(world):
    """The audit time must be aware and logs must belong to parties."""
    with pytest.raises(UsageError):
        compliance.reconcile(world.agreement_doc, [], now=datetime(2027, 2, 1))
    bogus = [compliance.PartyLog("org:nobody", world.actors[US].log.url)]
    with pytest.raises(UsageError, match="not a party"):
        compliance.reconcile(world.agreement_doc, bogus, now=START + DAY)
    twice = [compliance.PartyLog(US, world.actors[US].log.url)] * 2
    with pytest.raises(UsageError, match="twice"):
        compliance.reconcile(world.agreement_doc, twice, now=START + DAY)


def test_validly_signed_but_malformed_receipt_is_not_used(world):
    """A receipt signed by the recipient but missing members is listed, never crashes matching."""
    m = send(world, 1, receipt_after=None)
    body = receipt.create_receipt(m, None, None, recipient=CN, now=START + 2 * DAY)
    del body["manifest"]["digest"]
    bad = envelope.sign(body, world.actors[CN].signers[0])
    rec = audit(world, 12, receipts=[bad, "not a document"])
    assert codes(rec) == ["unacknowledged", "unverified-document", "unverified-document"]
