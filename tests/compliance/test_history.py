"""Compliance history: evidence levels, checks from verified records, reputation, hard gates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from compliance_helpers import CN, DAY, START, US, audit, check, items, party, report, send

from dta import compliance, schemas
from dta._history import Outcome, beta_reputation
from dta.errors import UsageError


def test_evidence_level_rises_with_each_independent_confirmation(make_world):
    """E0 without checkpoints, E1 self-signed, E2 counterparty-cosigned, E3 third-party too."""
    w = make_world()
    send(w, 1)
    assert party(report(w, 2), US)["evidence_level"] == "E0"
    log = w.actors[US].log
    log.flush()
    w.actors[US].checkpoints.append(log.checkpoint(w.actors[US].signers[0], w.actors[US].origin))
    assert party(report(w, 2), US)["evidence_level"] == "E1"
    w.actors[US].checkpoints.clear()
    w.witness_all(at=START + 2 * DAY, third_party=False)
    assert party(report(w, 3), US)["evidence_level"] == "E2"
    w.witness_all(at=START + 3 * DAY)
    body = report(w, 4)
    assert party(body, US)["evidence_level"] == "E3"
    assert party(body, CN)["evidence_level"] == "E3"


def test_sender_without_matching_receipts_stays_at_e1(world):
    """Cosigned logs alone do not reach E2 when none of the party's sends is receipted."""
    send(world, 1, receipt_after=None)
    world.witness_all(at=START + 2 * DAY)
    assert party(report(world, 3), US)["evidence_level"] == "E1"


def test_unverified_log_is_self_declared_and_fails_integrity(world):
    """A log that does not verify scores 0 on integrity and only reaches E0."""
    send(world, 1)
    world.witness_all(at=START + 2 * DAY)
    world.close()
    path = world.actors[US].log.url.removeprefix("file:")
    with open(path, "r+b") as fh:
        fh.seek(40)
        byte = fh.read(1)
        fh.seek(40)
        fh.write(bytes([byte[0] ^ 1]))
    body = report(world, 3)
    assert party(body, US)["evidence_level"] == "E0"
    assert check(body, US, "log-integrity")["score"] == 0
    assert "log-integrity" in party(body, US)["reputation"]["failing_checks"]


def test_deletion_after_the_deadline_fails_the_duty(world):
    """A deletion recorded after its 180-day deadline counts as a missed duty."""
    m1 = send(world, 1)
    m2 = send(world, 2)
    world.delete(CN, m1, at=START + 30 * DAY)
    world.delete(CN, m2, at=START + 250 * DAY)
    c = check(report(world, 260), CN, "duties-on-time")
    assert c["evidence"]["due"] == 2
    assert c["evidence"]["met"] == 1
    assert c["score"] == 5


def test_duties_not_yet_due_are_inconclusive(world):
    """Before any deadline, the duty check says so instead of guessing."""
    send(world, 1)
    c = check(report(world, 10), CN, "duties-on-time")
    assert c["score"] is None
    assert c["status"] == "inconclusive"
    assert "next deadline" in c["reason"]


def test_late_incident_notification_fails(world):
    """An incident logged 5 days after detection breaks the 72-hour notification duty."""
    send(world, 1)
    subject = {
        "_type": "dta.incident",
        "id": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "digest": {"sha256": "1" * 64},
    }
    detected = "2027-01-20T00:00:00Z"
    world.record(
        CN, "incident.reported", subject, at=START + 10 * DAY, details={"detected": detected}
    )
    c = check(report(world, 12), CN, "incidents")
    assert c["score"] == 0
    assert c["status"] == "fail"
    assert check(report(world, 12), US, "incidents")["status"] == "inconclusive"


def test_volume_cap_breach_is_detected_in_the_window(world):
    """Two sends of 300 contacts within 30 days exceed the 500-subject cap."""
    contacts = items(1, "confidential", ("pii",))
    send(world, 1, items=contacts, subjects={"pii": 300})
    send(world, 10, items=contacts, subjects={"pii": 300})
    send(world, 50, items=contacts, subjects={"pii": 300})
    c = check(report(world, 60), US, "volume-caps")
    assert c["evidence"] == {"checked": 3, "breaches": 1}
    assert c["score"] == 7


def test_stale_witnessing_scores_down(world):
    """A last cosignature 28 days old against a 7-day interval scores 10 * 7 / 28."""
    send(world, 1)
    world.witness_all(at=START + 2 * DAY)
    assert check(report(world, 4), US, "witness-freshness")["score"] == 10
    assert check(report(world, 30), US, "witness-freshness")["score"] == 2


def test_no_cosignature_fails_witnessing(world):
    """Without any witness cosignature the freshness check fails."""
    send(world, 1)
    assert check(report(world, 3), US, "witness-freshness")["score"] == 0


def test_beta_reputation_decays_with_the_half_life():
    """An outcome one half-life old weighs half as much as a fresh one."""
    now = START + 100 * DAY
    fresh = beta_reputation([Outcome(now, False, "x")], now=now, half_life=30 * DAY)
    old = beta_reputation([Outcome(now - 30 * DAY, False, "x")], now=now, half_life=30 * DAY)
    assert fresh["beta"] == "2.000"
    assert old["beta"] == "1.500"
    assert old["alpha"] == "1.000"
    assert old["score"] == 40


def test_reputation_is_shown_with_the_failing_checks(world):
    """Every party's reputation carries the list of its failing checks."""
    send(world, 1, receipt_after=None)
    body = report(world, 20)
    rep = party(body, CN)["reputation"]
    assert "receipt-match" in rep["failing_checks"]
    assert rep["negative"] >= 1


def test_restricted_party_flag_blocks_despite_a_good_record(make_world):
    """A flagged party makes the verdict blocked; its good score does not override the gate."""

    def flag(spec):
        spec["gates"]["restricted_parties"][1]["flagged"] = True

    w = make_world(tweak=flag)
    for day in (1, 2, 3):
        send(w, day)
    w.witness_all(at=START + 4 * DAY)
    body = report(w, 5)
    assert party(body, CN)["reputation"]["score"] > 70
    assert party(body, CN)["reputation"]["failing_checks"] == []
    assert body["verdict"] == "blocked"
    gate = next(g for g in body["gates"] if g.get("party") == CN)
    assert gate["status"] == "flagged"


def test_export_controlled_transfer_violates_the_gate(world):
    """A verified manifest carrying an export-controlled category violates the gate."""
    ecc = items(1, "internal", ("export-controlled",))
    m = send(world, 1, items=ecc)
    body = report(world, 3)
    gate = next(g for g in body["gates"] if g["gate"] == "export-control")
    assert gate["status"] == "violated"
    assert gate["manifests"] == [m["signed"]["id"]]
    assert body["verdict"] == "blocked"


def test_signed_report_validates_and_verifies_with_the_auditor_key(world):
    """The report validates against its schema, verifies with the auditor key only."""
    send(world, 1)
    world.witness_all(at=START + 2 * DAY)
    body = report(world, 3)
    doc = compliance.sign_report(body, world.auditor)
    schemas.validate(doc["signed"])
    assert compliance.verify_report(doc, world.auditor.public_key)["id"] == body["id"]
    with pytest.raises(Exception, match="signature"):
        compliance.verify_report(doc, world.notary.public_key)
    doc["signed"]["verdict"] = "clean" if body["verdict"] != "clean" else "blocked"
    with pytest.raises(Exception, match="signature"):
        compliance.verify_report(doc, world.auditor.public_key)


def test_report_refuses_a_signer_other_than_the_named_auditor(world):
    """Signing with a key other than the one named in the report is a usage error."""
    body = report(world, 3)
    with pytest.raises(UsageError):
        compliance.sign_report(body, world.notary)
    with pytest.raises(UsageError):
        compliance.build_report(
            audit(world, 3),
            auditor="x",
            auditor_key=world.auditor.public_key,
            half_life=timedelta(0),
        )
