"""check_manifest: one named reason per failure, named after the attack it stops."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agreement_helpers import CN, NOW, US, World, chain, sign_all

from dta import keys
from dta.agreement import Agreement, Decision, Ledger, check_manifest, digest, new_agreement


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def check(world: World, body: dict[str, Any], **kw: Any) -> Decision:
    signers = kw.pop("signers", None)
    return check_manifest(
        world.agreement, world.sign_manifest(body, signers), now=kw.pop("now", NOW), **kw
    )


def test_manifest_within_agreement_allowed(world: World) -> None:
    """A well-formed, correctly signed manifest inside every limit is allowed."""
    decision = check(world, world.manifest())
    assert decision.allowed, decision.reasons
    assert decision.digest == digest(world.manifest() | {"id": decision.manifest["id"]})  # type: ignore[index]


def test_expired_agreement_rejected(world: World) -> None:
    """A manifest checked after the agreement expired is rejected."""
    decision = check(
        world,
        world.manifest(expires="2030-01-01T00:00:00Z"),
        now=world.agreement.not_after + timedelta(days=1),
    )
    assert "agreement-expired" in codes(decision)
    assert not decision.allowed


def test_not_yet_valid_agreement_rejected(world: World) -> None:
    """A manifest checked before the agreement starts is rejected."""
    decision = check(
        world,
        world.manifest(created="2027-01-01T00:00:00Z"),
        now=world.agreement.not_before - timedelta(days=1),
    )
    assert codes(decision) == ["agreement-not-yet-valid"]


def test_expired_manifest_rejected(world: World) -> None:
    """A manifest past its own expiry is rejected."""
    decision = check(world, world.manifest(expires="2027-03-01T11:30:00Z"))
    assert codes(decision) == ["manifest-expired"]


def test_manifest_for_another_agreement_rejected(world: World) -> None:
    """A manifest bound to a different agreement id is rejected."""
    other = {
        "id": "urn:uuid:00000000-0000-4000-8000-000000000000",
        "version": 1,
        "digest": {"sha256": "00" * 32},
    }
    decision = check(world, world.manifest(agreement=other))
    assert codes(decision) == ["agreement-mismatch"]
    assert decision.reasons[0].field == "agreement/id"


def test_manifest_for_another_agreement_version_rejected(world: World) -> None:
    """A manifest naming this agreement id but another version's digest is rejected."""
    ref = {"id": world.agreement.id, "version": 1, "digest": {"sha256": "ab" * 32}}
    assert codes(check(world, world.manifest(agreement=ref))) == ["agreement-digest-mismatch"]


def test_prohibited_category_rejected_naming_the_item(world: World) -> None:
    """An item with a prohibited category is rejected with that item's path."""
    body = world.manifest()
    body["items"][0]["categories"] = ["building.metering", "personal.health"]
    decision = check(world, body)
    assert ("prohibited-category", "items/0/categories") in [
        (r.code, r.field) for r in decision.reasons
    ]
    assert "meters/2026-q4.csv" in decision.reasons[0].message


def test_export_controlled_category_rejected(world: World) -> None:
    """A hard-gate (export-controlled) category is rejected as such."""
    body = world.manifest(categories=["technology.export-controlled"])
    assert "export-controlled-category" in codes(check(world, body))


def test_category_not_in_allowed_list_rejected(world: World) -> None:
    """A category the agreement does not list as allowed is rejected."""
    body = world.manifest()
    body["items"][0]["categories"] = ["financial.payroll"]
    assert "category-not-allowed" in codes(check(world, body))


def test_ceiling_exceeded_rejected(world: World) -> None:
    """A restricted item on a direction whose ceiling is confidential is rejected."""
    body = world.manifest(level="restricted")
    body["items"][1]["level"] = "restricted"
    decision = check(world, body)
    assert ("ceiling-exceeded", "items/1/level") in [(r.code, r.field) for r in decision.reasons]


def test_ceiling_is_per_direction(world: World) -> None:
    """Confidential is allowed US -> CN but exceeds the CN -> US ceiling (internal)."""
    body = world.manifest(sender=CN, recipient=US, subjects={}, categories=["building.metering"])
    body["items"] = body["items"][:1]
    body["items"][0]["level"] = "confidential"
    decision = check(world, body, signers=world.cn)
    assert "ceiling-exceeded" in codes(decision)
    body["items"][0]["level"] = body["level"] = "internal"
    assert check(world, body, signers=world.cn[:1]).allowed


def test_direction_constraint_on_categories(world: World) -> None:
    """The CN -> US permission forbids contact data even though the agreement allows it."""
    body = world.manifest(sender=CN, recipient=US, level="internal")
    body["items"][1]["level"] = "internal"
    assert "category-not-permitted" in codes(check(world, body, signers=world.cn))


def test_volume_cap_exceeded_rejected(world: World, tmp_path: Path) -> None:
    """Subjects over the rolling window cap (ledger + this manifest) are rejected."""
    ledger = Ledger.open(tmp_path / "ledger.json", create=True)
    body1 = world.manifest(subjects={"personal.contact": 480})
    ledger.record(world.sign_manifest(body1))
    body2 = world.manifest(
        sequence=2,
        previous=digest(body1),
        created="2027-03-20T00:00:00Z",
        expires="2027-03-25T00:00:00Z",
    )
    decision = check(world, body2, ledger=ledger, now=NOW + timedelta(days=19))
    assert codes(decision) == ["volume-cap-exceeded"]
    assert decision.reasons[0].field == "subjects/personal.contact"
    later = world.manifest(
        sequence=2,
        previous=digest(body1),
        created="2027-04-01T00:00:00Z",
        expires="2027-04-05T00:00:00Z",
    )
    assert check(world, later, ledger=ledger, now=NOW + timedelta(days=31)).allowed


def test_volume_cap_exceeded_by_single_manifest_rejected(world: World) -> None:
    """A single manifest above the cap is rejected even without a ledger."""
    body = world.manifest(subjects={"personal.contact": 501})
    assert codes(check(world, body)) == ["volume-cap-exceeded"]


def test_replayed_manifest_same_id_rejected(world: World, tmp_path: Path) -> None:
    """The same manifest presented twice is rejected the second time."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    _body, doc = chain(world, 1)[0]
    assert check_manifest(world.agreement, doc, now=NOW, ledger=ledger).allowed
    ledger.record(doc)
    decision = check_manifest(world.agreement, doc, now=NOW, ledger=ledger)
    assert codes(decision) == ["replayed-manifest"]


def test_replayed_manifest_same_sequence_rejected(world: World, tmp_path: Path) -> None:
    """A new manifest reusing an accepted sequence number is rejected."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    (b1, d1), (_b2, d2) = chain(world, 2)
    ledger.record(d1)
    ledger.record(d2)
    again = world.manifest(sequence=2, previous=digest(b1))
    decision = check(world, again, ledger=ledger)
    assert codes(decision) == ["replayed-manifest"]
    assert decision.reasons[0].field == "sequence"


def test_rollback_lower_sequence_rejected(world: World, tmp_path: Path) -> None:
    """A manifest with a sequence below the last accepted one is rejected."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    for _, doc in chain(world, 3):
        ledger.record(doc)
    decision = check(world, world.manifest(sequence=2, previous=None), ledger=ledger)
    assert codes(decision) == ["rollback"]


def test_rollback_wrong_previous_rejected(world: World, tmp_path: Path) -> None:
    """The next sequence with a previous digest that is not the last accepted one is rejected."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    (b1, d1), (b2, d2) = chain(world, 2)
    ledger.record(d1)
    ledger.record(d2)
    fork = world.manifest(sequence=3, previous=digest(b1))
    decision = check(world, fork, ledger=ledger)
    assert codes(decision) == ["previous-mismatch"]
    assert check(world, world.manifest(sequence=3, previous=digest(b2)), ledger=ledger).allowed


def test_sequence_gap_rejected(world: World, tmp_path: Path) -> None:
    """A sequence that skips ahead (or a first manifest not numbered 1) is rejected."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    assert codes(check(world, world.manifest(sequence=2), ledger=ledger)) == ["sequence-gap"]


def test_signer_not_a_party_rejected(world: World) -> None:
    """A manifest signed only by keys no party owns is rejected."""
    decision = check(world, world.manifest(), signers=[keys.generate(), keys.generate()])
    assert codes(decision) == ["signature-invalid"]
    assert decision.manifest is None


def test_key_of_wrong_owner_rejected(world: World) -> None:
    """The recipient's keys cannot sign a manifest on the sender's behalf."""
    assert codes(check(world, world.manifest(), signers=world.cn)) == ["signature-invalid"]


def test_sender_not_a_party_rejected(world: World) -> None:
    """A manifest naming an unknown sender is rejected before any evaluation."""
    assert codes(check(world, world.manifest(sender="mallory"))) == ["sender-not-party"]


def test_signature_threshold_per_level(world: World) -> None:
    """Confidential needs two distinct sender keys; internal needs one."""
    decision = check(world, world.manifest(), signers=world.us[:1])
    assert codes(decision) == ["signatures-insufficient"]
    body = world.manifest(level="internal", categories=["building.metering"], subjects={})
    body["items"] = body["items"][:1]
    assert check(world, body, signers=world.us[:1]).allowed


def test_understated_level_rejected(world: World) -> None:
    """An overall level below an item's level is rejected (and the threshold uses the item's)."""
    decision = check(world, world.manifest(level="internal"), signers=world.us[:1])
    assert set(codes(decision)) == {"level-understated", "signatures-insufficient"}


def test_unknown_level_rejected(world: World) -> None:
    """A level the agreement does not declare is rejected with its path."""
    body = world.manifest()
    body["items"][0]["level"] = "secret"
    assert ("unknown-level", "items/0/level") in [
        (r.code, r.field) for r in check(world, body).reasons
    ]


def test_purpose_not_permitted_rejected(world: World) -> None:
    """A purpose the agreement does not declare is rejected."""
    assert codes(check(world, world.manifest(purpose="marketing"))) == ["purpose-not-permitted"]


def test_transfer_prohibition_applies(world: World) -> None:
    """The prohibition on contact data for dissemination rejects exactly that item."""
    decision = check(world, world.manifest(purpose="dissemination"))
    assert [(r.code, r.field) for r in decision.reasons] == [("prohibited-by-rule", "items/1")]


def test_classification_policy_mismatch_rejected(world: World) -> None:
    """A manifest classified with another policy than agreed is rejected."""
    body = world.manifest(policy={"digest": {"sha256": "cd" * 32}})
    assert codes(check(world, body)) == ["classification-policy-mismatch"]


def test_restricted_party_hard_gate(world: World) -> None:
    """A party flagged by restricted-party screening cannot receive anything."""
    w = World()
    body = copy.deepcopy(w.body)
    body["gates"]["restricted_parties"][1]["flagged"] = True
    agreement = Agreement.from_dict(
        new_agreement(
            {
                k: v
                for k, v in body.items()
                if k not in ("_type", "spec_version", "version", "previous")
            }
        )
    )
    decision = check_manifest(agreement, w.sign_manifest(w.manifest()), now=NOW)
    assert "restricted-party" in codes(decision)


def test_every_failure_is_reported(world: World) -> None:
    """Several independent failures each get their own reason."""
    body = world.manifest(purpose="marketing", expires="2027-03-01T11:01:00Z")
    body["items"][0]["categories"] = ["personal.health"]
    assert set(codes(check(world, body))) >= {
        "purpose-not-permitted",
        "manifest-expired",
        "prohibited-category",
    }


@pytest.mark.parametrize("doc", [None, [], {"signed": 5}, {"signed": {"_type": "dta.receipt"}}])
def test_malformed_manifest_document_rejected(world: World, doc: Any) -> None:
    """Something that is not a signed manifest is rejected, never a crash."""
    assert codes(check_manifest(world.agreement, doc, now=NOW)) == ["manifest-malformed"]


def test_tampered_manifest_rejected(world: World) -> None:
    """Changing a signed manifest after signing fails the signature check."""
    doc = world.sign_manifest(world.manifest())
    doc["signed"]["items"][0]["size"] = 1
    assert codes(check_manifest(world.agreement, doc, now=NOW)) == ["signature-invalid"]


def test_decision_to_dict_shape(world: World) -> None:
    """Decision.to_dict gives allowed, digest and reasons with code/message/path."""
    data = check(world, world.manifest(purpose="marketing")).to_dict()
    assert data["allowed"] is False
    assert data["reasons"][0] == {
        "code": "purpose-not-permitted",
        "message": data["reasons"][0]["message"],
        "path": "purpose",
    }


def test_agreement_signature_sign_all_helper_is_consistent(world: World) -> None:
    """The test helper's manifests are bound to the world's agreement."""
    assert world.manifest()["agreement"]["digest"] == world.agreement.digest
    assert sign_all(world.body, [world.us[0]])["signed"] == world.body
