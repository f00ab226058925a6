"""Agreements: every party signs, validity windows, amendments, pinned keys, bad input."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from agreement_helpers import CN, NOW, US, World, sign_all, spec

from dta import keys, schemas
from dta.agreement import Agreement, amend, digest, new_agreement, registry, verify_agreement
from dta.errors import AgreementError, SchemaError, SignatureError, UsageError


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_agreement_signed_by_all_parties_verifies(world: World) -> None:
    """Both parties' signatures and a time inside the window verify; the model is returned."""
    agreement = verify_agreement(world.doc, now=NOW)
    assert agreement.version == 1
    assert agreement.previous is None
    assert agreement.ceiling(US, CN) == "confidential"
    assert agreement.ceiling(CN, US) == "internal"
    assert {e.owner for e in registry(agreement)} == {US, CN}


def test_agreement_round_trip_keeps_digest(world: World) -> None:
    """to_dict returns the parsed body exactly, so the digest is stable."""
    assert digest(Agreement.from_dict(world.body).to_dict()) == digest(world.body)


def test_agreement_from_dict_does_not_mutate_input(world: World) -> None:
    """Parsing leaves the caller's dict untouched."""
    body = copy.deepcopy(world.body)
    Agreement.from_dict(body).to_dict()["title"] = "changed"
    assert body == world.body


def test_agreement_missing_party_signature_rejected(world: World) -> None:
    """An agreement signed by one party only does not verify."""
    doc = sign_all(world.body, [world.us[0], world.us[1]])
    with pytest.raises(SignatureError):
        verify_agreement(doc, now=NOW)


def test_agreement_signer_not_a_party_rejected(world: World) -> None:
    """A signature by a key no party owns does not count for any party."""
    outsider = keys.generate()
    doc = sign_all(world.body, [world.us[0], outsider])
    with pytest.raises(SignatureError):
        verify_agreement(doc, now=NOW)


def test_expired_agreement_rejected(world: World) -> None:
    """After validity/not_after the agreement is refused."""
    with pytest.raises(AgreementError, match="expired"):
        verify_agreement(world.doc, now=world.agreement.not_after + timedelta(seconds=1))


def test_not_yet_valid_agreement_rejected(world: World) -> None:
    """Before validity/not_before the agreement is refused."""
    with pytest.raises(AgreementError, match="not yet valid"):
        verify_agreement(world.doc, now=world.agreement.not_before - timedelta(seconds=1))


def test_agreement_naive_now_rejected(world: World) -> None:
    """A naive datetime is a usage error, not silently local time."""
    with pytest.raises(UsageError):
        verify_agreement(world.doc, now=NOW.replace(tzinfo=None))


def test_agreement_party_key_outside_window_rejected() -> None:
    """A party key whose window has ended cannot sign for that party."""
    w = World()
    body = copy.deepcopy(w.body)
    body["parties"][1]["keys"][0]["not_after"] = "2027-02-01T00:00:00Z"
    doc = sign_all(body, [w.us[0], w.cn[0]])
    with pytest.raises(SignatureError):
        verify_agreement(doc, now=NOW)
    assert verify_agreement(doc, now=NOW.replace(month=1, day=20)).version == 1


def test_lookalike_agreement_with_attacker_keys_rejected_by_pinned_keys(world: World) -> None:
    """An agreement naming the real parties but listing an attacker's keys fails against pins."""
    attacker = keys.generate()
    forged_spec = spec(world.us, [attacker])
    forged_spec["title"] = "forged"
    forged = sign_all(new_agreement(forged_spec), [world.us[0], attacker])
    assert verify_agreement(forged, now=NOW).version == 1  # self-consistent on its own
    pinned = keys.KeyRegistry()
    pinned.add(world.us[0].public_key, US)
    pinned.add(world.cn[0].public_key, CN)
    with pytest.raises(SignatureError):
        verify_agreement(forged, now=NOW, trusted=pinned)
    assert verify_agreement(world.doc, now=NOW, trusted=pinned).id == world.agreement.id


def test_amendment_increments_version_and_verifies(world: World) -> None:
    """An amendment signed by all parties, version + 1, previous = digest, verifies."""
    body = amend(world.doc, {"title": "amended"}, now=NOW)
    assert body["version"] == 2
    assert body["previous"] == digest(world.body)
    doc = sign_all(body, [world.us[0], world.cn[0]])
    assert verify_agreement(doc, now=NOW, previous=world.doc).version == 2


def test_amendment_skipping_a_version_rejected(world: World) -> None:
    """An amendment that jumps from version 1 to 3 is refused."""
    body = amend(world.doc, {}, now=NOW)
    body["version"] = 3
    doc = sign_all(body, [world.us[0], world.cn[0]])
    with pytest.raises(AgreementError, match="must be version 2"):
        verify_agreement(doc, now=NOW, previous=world.doc)


def test_amendment_missing_a_partys_signature_rejected(world: World) -> None:
    """An amendment signed by one party only is refused."""
    doc = sign_all(amend(world.doc, {"title": "x"}, now=NOW), [world.us[0]])
    with pytest.raises(SignatureError):
        verify_agreement(doc, now=NOW, previous=world.doc)


def test_amendment_with_wrong_previous_rejected(world: World) -> None:
    """An amendment whose previous is not the amended version's digest is refused."""
    body = amend(world.doc, {}, now=NOW)
    body["previous"] = {"sha256": "00" * 32}
    doc = sign_all(body, [world.us[0], world.cn[0]])
    with pytest.raises(AgreementError, match="previous"):
        verify_agreement(doc, now=NOW, previous=world.doc)


def test_amendment_key_swap_without_old_keys_rejected(world: World) -> None:
    """Replacing a party's key needs that party's old key to sign the amendment too."""
    attacker = keys.generate()
    parties = copy.deepcopy(world.body["parties"])
    parties[1]["keys"] = [attacker.public_key.to_dict()]
    doc = sign_all(amend(world.doc, {"parties": parties}, now=NOW), [world.us[0], attacker])
    with pytest.raises(AgreementError, match="not signed by every party of version 1"):
        verify_agreement(doc, now=NOW, previous=world.doc)
    rotated = sign_all(
        amend(world.doc, {"parties": parties}, now=NOW), [world.us[0], attacker, world.cn[0]]
    )
    assert verify_agreement(rotated, now=NOW, previous=world.doc).version == 2


def test_amendment_cannot_change_identity_fields(world: World) -> None:
    """amend refuses to change id, version or previous."""
    for member in ("id", "version", "previous", "_type"):
        with pytest.raises(AgreementError, match="cannot be changed"):
            amend(world.doc, {member: 7})


def _broken(mutate: Any) -> dict[str, Any]:
    w = World()
    body = copy.deepcopy(w.body)
    mutate(body)
    return body


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["parties"][1].update(id=US), "duplicate party id"),
        (lambda b: b["parties"][1]["keys"].append(b["parties"][0]["keys"][0]), "more than once"),
        (lambda b: b["categories"]["allowed"].append("personal.health"), "both allowed"),
        (lambda b: b["policy"]["permission"][0]["constraint"].pop(1), "ceiling"),
        (lambda b: b["policy"]["permission"].append(b["policy"]["permission"][0]), "second"),
        (lambda b: b.update(previous={"sha256": "00" * 32}), "version 1 amends nothing"),
        (lambda b: b["validity"].update(not_after="2026-01-01T00:00:00Z"), "not_after"),
        (lambda b: b["handling"]["signatures_required"].pop("restricted"), "no threshold"),
        (lambda b: b["volume_caps"][0].update(category="personal.health"), "prohibited"),
        (lambda b: b["parties"][1].update(roles=["auditor"]), "not a recipient"),
        (lambda b: b["ip"]["background"][0].update(party="nobody"), "unknown party"),
        (
            lambda b: b["policy"]["obligation"][0]["constraint"][0].update(operator="within"),
            "unsupported operator",
        ),
        (
            lambda b: b["gates"]["export_control"]["prohibited_categories"].append("weather"),
            "export-controlled",
        ),
        (lambda b: b["parties"][0]["keys"][0].update(keyid="0" * 64), "does not match"),
    ],
)
def test_malformed_agreement_rejected(mutate: Any, message: str) -> None:
    """Each semantic rule of the agreement model rejects a bad body, naming the problem."""
    with pytest.raises(AgreementError, match=message):
        Agreement.from_dict(_broken(mutate))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(surprise=1),
        lambda b: b["parties"][0].update(jurisdiction="Michigan"),
        lambda b: b["volume_caps"][0].update(window="30 days"),
        lambda b: b.update(version="2"),
    ],
)
def test_agreement_schema_violations_rejected(mutate: Any) -> None:
    """Unknown members and ill-typed fields fail schema validation with a pointer."""
    with pytest.raises(SchemaError):
        Agreement.from_dict(_broken(mutate))


def test_new_agreement_refuses_generated_fields() -> None:
    """A spec may not set version or previous; dta fills them."""
    w = World()
    with pytest.raises(AgreementError, match="set by dta"):
        new_agreement({**spec(w.us, w.cn), "version": 2})


def test_signed_agreement_validates_against_schemas(world: World) -> None:
    """The signed document validates as an envelope plus agreement body."""
    schemas.validate(world.doc)


def test_odrl_export_maps_rules(world: World) -> None:
    """to_odrl gives an ODRL Agreement with ODRL terms where they exist and dta: otherwise."""
    from dta.agreement import to_odrl

    odrl = to_odrl(world.agreement)
    assert odrl["@type"] == "Agreement"
    first = odrl["permission"][0]
    assert first["action"] == "distribute"
    assert first["assigner"] == f"dta:party/{US}"
    assert {c["leftOperand"] for c in first["constraint"]} == {"purpose", "dta:level"}
    assert first["duty"][0]["action"] == "delete"
    assert {r["action"] for r in odrl["obligation"]} == {
        "inform",
        "dta:keepAuditLog",
        "dta:witnessAuditLog",
    }


def test_duties_lists_obligations_and_permission_duties(world: World) -> None:
    """duties() gives compliance every obligation with its typed constraints."""
    duties = {(d["action"], d["source"]) for d in world.agreement.duties()}
    assert duties == {
        ("notifyIncident", "obligation"),
        ("keepAuditLog", "obligation"),
        ("witnessAuditLog", "obligation"),
        ("delete", "us-to-cn"),
    }


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {},
        {"signed": 1},
        {"signed": {}, "signatures": []},
        {"signed": {"_type": "dta.agreement"}, "signatures": []},
        "agreement",
    ],
)
def test_verify_agreement_hostile_documents_raise_typed_errors(doc: Any) -> None:
    """Whatever is passed, verify_agreement raises a dta error with a message, never crashes."""
    from dta.errors import Error

    with pytest.raises(Error, match=r"\w"):
        verify_agreement(doc, now=NOW)


def test_agreement_signatures_wrapped_in_extra_members_rejected(world: World) -> None:
    """Signature wrapping: unknown envelope members make the agreement fail verification."""
    from dta.errors import Error

    wrapped = {**world.doc, "unsigned": {"title": "evil"}}
    with pytest.raises(Error):
        verify_agreement(wrapped, now=NOW)
