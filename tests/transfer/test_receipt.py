"""Receipts: the recipient countersigns accepted/rejected, naming the manifest digest."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from agreement_helpers import CN, NOW, US, World, sign_all

from dta import envelope, schemas
from dta.agreement import check_manifest, digest
from dta.errors import ReceiptError, SignatureError
from dta.receipt import create_receipt, tree_discrepancies, verify_receipt


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def received(world: World, **changes: Any) -> tuple[dict[str, Any], Any]:
    doc = world.sign_manifest(world.manifest(**changes))
    return doc, check_manifest(world.agreement, doc, now=NOW)


def test_accepted_receipt_names_manifest_digest_and_verifies(world: World) -> None:
    """A clean transfer gives an accepted receipt that verifies against the recipient's keys."""
    doc, decision = received(world)
    body = create_receipt(doc, None, decision, recipient=CN, now=NOW)
    assert body["decision"] == "accepted"
    assert body["manifest"] == {"id": doc["signed"]["id"], "digest": digest(doc["signed"])}
    signed = sign_all(body, world.cn[:1])
    schemas.validate(signed)
    assert verify_receipt(signed, world.agreement, doc, now=NOW) == body


def test_rejected_receipt_lists_agreement_and_tree_discrepancies(world: World) -> None:
    """Agreement reasons and tree-check problems both become discrepancies; decision rejected."""
    doc, decision = received(world, purpose="marketing")
    tree = {
        "ok": False,
        "problems": [
            {"kind": "missing", "path": "meters/2026-q4.csv", "message": "file is missing"}
        ],
    }
    body = create_receipt(doc, tree, decision, recipient=CN, now=NOW)
    assert body["decision"] == "rejected"
    assert [d["code"] for d in body["discrepancies"]] == ["tree-missing", "purpose-not-permitted"]
    assert body["discrepancies"][0]["path"] == "meters/2026-q4.csv"
    assert verify_receipt(sign_all(body, world.cn[:1]), world.agreement, doc, now=NOW) == body


def test_tree_discrepancies_from_objects() -> None:
    """Tree-check entries are read by attribute too; a failed check without entries still counts."""

    class Entry:
        kind, path, message = "modified", "a.csv", "sha256 differs"

    class Check:
        ok = False
        problems = (Entry(),)

    assert tree_discrepancies(Check()) == [
        {"code": "tree-modified", "message": "sha256 differs", "path": "a.csv"}
    ]
    assert tree_discrepancies({"ok": False}) == [
        {"code": "tree-check-failed", "message": "the received tree did not verify"}
    ]


def test_receipt_only_by_the_recipient(world: World) -> None:
    """The sender cannot create a receipt for its own manifest."""
    doc, decision = received(world)
    with pytest.raises(ReceiptError, match="not the recipient"):
        create_receipt(doc, None, decision, recipient=US, now=NOW)


def test_receipt_signed_by_sender_rejected(world: World) -> None:
    """A receipt signed by the sender's key (forged acceptance) does not verify."""
    doc, decision = received(world)
    forged = sign_all(create_receipt(doc, None, decision, recipient=CN, now=NOW), world.us[:1])
    with pytest.raises(SignatureError):
        verify_receipt(forged, world.agreement, doc, now=NOW)


def test_receipt_for_another_manifest_rejected(world: World) -> None:
    """A receipt presented for a different manifest is rejected."""
    doc, decision = received(world)
    other, _ = received(world)
    signed = sign_all(create_receipt(doc, None, decision, recipient=CN, now=NOW), world.cn[:1])
    with pytest.raises(ReceiptError, match="different manifest"):
        verify_receipt(signed, world.agreement, other, now=NOW)


def test_receipt_contradicting_decision_rejected(world: World) -> None:
    """An 'accepted' receipt that lists discrepancies fails schema and verification."""
    doc, decision = received(world, purpose="marketing")
    body = create_receipt(doc, None, decision, recipient=CN, now=NOW)
    body["decision"] = "accepted"
    with pytest.raises(ReceiptError):
        verify_receipt(sign_all(body, world.cn[:1]), world.agreement, doc, now=NOW)


def test_receipt_tampered_after_signing_rejected(world: World) -> None:
    """Changing a signed receipt breaks its signature."""
    doc, decision = received(world)
    signed = copy.deepcopy(
        sign_all(create_receipt(doc, None, decision, recipient=CN, now=NOW), world.cn[:1])
    )
    signed["signed"]["received"] = "2027-03-02T00:00:00Z"
    with pytest.raises(SignatureError):
        verify_receipt(signed, world.agreement, doc, now=NOW)


def test_receipt_input_not_a_manifest_rejected(world: World) -> None:
    """create_receipt refuses something that is not a signed manifest."""
    with pytest.raises(ReceiptError):
        create_receipt({"signed": {"_type": "dta.agreement"}}, None, None, recipient=CN)
    assert envelope.digest(world.body) == world.agreement.digest
