"""Audit records: vocabulary, shape, size limit, canonical lines and the JSON Schema."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_kinds import EVENT

from dta import canonical_bytes, loads
from dta._json import loads_canonical
from dta.audit import ACTIONS, MAX_LINE, AuditRecord, check_action
from dta.audit._record import build_line, check_record, line_fast_ok, prepare_record
from dta.errors import JSONError, SchemaError
from dta.schemas import validate


def _line(**changes: object) -> bytes:
    return build_line({**EVENT, **changes}, 0, bytes(32))


def test_record_line_is_canonical_with_genesis_prev() -> None:
    """A record's line is its canonical form; index 0 links to 64 zeros."""
    line = _line()
    rec = loads(line)
    assert canonical_bytes(rec) == line
    assert rec["prev"] == "0" * 64
    assert rec["_type"] == "dta.audit-record"
    assert rec["spec_version"] == "1.0"


def test_issue_vocabulary_is_documented() -> None:
    """Every action the issue names is in the core vocabulary with a description."""
    for action in (
        "agreement.signed",
        "transfer.requested",
        "transfer.sent",
        "transfer.received",
        "transfer.accepted",
        "transfer.rejected",
        "data.accessed",
        "data.deleted",
        "data.returned",
        "incident.reported",
        "key.rotated",
        "checkpoint.witnessed",
    ):
        assert ACTIONS[action]


@pytest.mark.parametrize("action", ["x-acme.thing", "x-acme-corp.model.trained", "x-b2.a_b"])
def test_namespaced_custom_actions_accepted(action: str) -> None:
    """x-<namespace>.<name> custom actions are allowed."""
    assert check_action(action) == action
    assert loads(_line(action=action))["action"] == action


@pytest.mark.parametrize(
    "action",
    ["transfer.teleported", "acme.thing", "x-.thing", "x-acme", "X-acme.thing", "", "x-acme.", 7],
)
def test_unknown_or_unnamespaced_actions_rejected(action: object) -> None:
    """Anything not in the vocabulary and not x-<ns>.<name> is rejected."""
    with pytest.raises(SchemaError, match="action"):
        _line(action=action)


def test_max_line_size_enforced_exactly() -> None:
    """A record of exactly 65,535 bytes is accepted; one byte more is rejected."""
    base = len(_line(details={"pad": ""}))
    # the largest index must still fit: leave room for 16 digits instead of "0"
    fits = MAX_LINE - base - 15
    assert len(_line(details={"pad": "p" * fits})) == MAX_LINE - 15
    with pytest.raises(SchemaError, match="65535"):
        _line(details={"pad": "p" * (fits + 1)})


def test_floats_in_details_rejected() -> None:
    """details must be canonical-JSON-safe: no floats."""
    with pytest.raises(SchemaError):
        _line(details={"ratio": 0.5})


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("actor", ""),
        ("actor", "a\nb"),
        ("subject", {"_type": "dta.manifest", "id": "x"}),
        ("subject", {"_type": "dta.manifest", "id": "x", "digest": {"sha256": "AB" * 32}}),
        ("agreement", {"id": "x"}),
        ("details", ["not", "an", "object"]),
        ("time", "2026-01-01T00:00:00+01:00"),
        ("time", "2026-02-30T00:00:00Z"),
    ],
)
def test_malformed_event_members_rejected(member: str, value: object) -> None:
    """Each malformed member is a SchemaError naming it."""
    with pytest.raises(SchemaError, match=member):
        _line(**{member: value})


def test_unexpected_event_member_rejected() -> None:
    """Unknown members are not silently dropped."""
    with pytest.raises(SchemaError, match="unexpected"):
        build_line({**EVENT, "colour": "red"}, 0, bytes(32))


def test_default_time_is_passed_in_now() -> None:
    """Without a time, the record is stamped with the now passed in (UTC, Z)."""
    event = {k: v for k, v in EVENT.items() if k != "time"}
    now = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    rec = loads(prepare_record(event, now=now).line(0, bytes(32)))
    assert rec["time"] == "2026-03-04T03:06:07.123456Z"
    with pytest.raises(SchemaError):
        prepare_record(event, now=datetime(2026, 1, 1))  # naive


def test_prepared_record_not_changed_by_caller_mutation() -> None:
    """Changing the event after preparing it does not change the record."""
    event = copy.deepcopy(EVENT)
    prepared = prepare_record(event)
    event["details"]["note"] = "changed"  # type: ignore[index]
    assert loads(prepared.line(1, b"\x11" * 32))["details"]["note"] == "x"


def test_nested_index_prev_in_details_do_not_confuse_splicing() -> None:
    """details holding their own index/prev members keep them; the record's are set."""
    details = {"index": 0, "prev": "0" * 64, "inner": {"index": 0, "prev": "0" * 64}}
    line = prepare_record({**EVENT, "details": details}).line(42, b"\x22" * 32)
    rec = loads(line)
    assert rec["index"] == 42
    assert rec["prev"] == "22" * 32
    assert rec["details"] == details
    assert canonical_bytes(rec) == line


def test_audit_record_round_trip_does_not_mutate_input() -> None:
    """from_dict/to_dict round-trip without touching the input."""
    doc = loads(_line())
    snapshot = copy.deepcopy(doc)
    rec = AuditRecord.from_dict(doc)
    assert doc == snapshot
    assert rec.to_dict() == doc
    assert rec.leaf_hash() == hashlib.sha256(b"\x00" + _line()).digest()


def test_check_record_rejects_extra_member() -> None:
    """A stored record with an extra member is invalid."""
    doc = {**loads(_line()), "extra": 1}
    with pytest.raises(SchemaError, match="unexpected"):
        check_record(doc)


def test_record_validates_against_published_schema() -> None:
    """Records validate against schemas/audit-record.v1.schema.json; a broken one does not."""
    doc = loads(_line(time=datetime(2026, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
    validate(doc)
    with pytest.raises(SchemaError):
        validate({**doc, "prev": "xyz"})


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=150, deadline=None)
@given(
    details=st.dictionaries(_TEXT, _JSON, max_size=5),
    index=st.integers(0, 2**53 - 1),
    prev=st.binary(min_size=32, max_size=32),
)
def test_any_json_details_make_a_verifiable_canonical_line(
    details: dict[str, object], index: int, prev: bytes
) -> None:
    """Any strict-JSON details give a canonical line that parses back to the same record."""
    line = prepare_record({**EVENT, "details": details}).line(index, prev)
    rec = check_record(loads_canonical(line))
    assert rec["details"] == details
    assert (rec["index"], rec["prev"]) == (index, prev.hex())
    assert AuditRecord.from_dict(rec).line() == line


@settings(max_examples=300, deadline=None)
@given(
    where=st.floats(0, 1, exclude_max=True),
    new=st.sampled_from(b'0123456789abcdefxyzAZ{}[]",:. \\\x7f-_'),
    extra=st.sampled_from(["", "x-acme.thing", "transfer.sent"]),
)
def test_line_fast_path_never_accepts_what_the_full_check_rejects(
    where: float, new: int, extra: str
) -> None:
    """The verifier's regex fast path is never more lenient than check_record."""
    action = extra or "data.accessed"
    line = bytearray(_line(action=action, details={"index": 1, "prev": "0" * 64}))
    line[int(where * len(line))] = new
    try:
        rec = loads_canonical(bytes(line))
    except JSONError:
        return
    if line_fast_ok(bytes(line), rec):
        check_record(rec)  # must not raise
