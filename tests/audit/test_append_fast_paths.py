"""Append fast paths (ADR 0096): record preparation without re-parsing, SQLite autocommit INSERT
on a cached tail, JSONL sidecar nodes computed when the queue is written."""

from __future__ import annotations

import copy
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_kinds import EVENT, event

from dta._json import loads_canonical
from dta.audit import AuditLog
from dta.audit._merkle_tree import MemoryTree
from dta.audit._record import _prepare_parsed, check_record, format_time, prepare_record
from dta.errors import SchemaError

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _record(ev: dict[str, object]) -> dict[str, object]:
    return {
        "_type": "dta.audit-record",
        "spec_version": "1.0",
        "index": 0,
        "time": ev["time"],
        "actor": ev["actor"],
        "action": ev["action"],
        "subject": ev["subject"],
        "agreement": ev.get("agreement"),
        "details": ev.get("details") or {},
        "prev": "0" * 64,
    }


@settings(max_examples=150, deadline=None)
@given(
    details=st.dictionaries(_TEXT, _JSON, max_size=4),
    actor=st.sampled_from(["party:acme", "party:ü", "p\u2028x", "a" * 1024, "a" * 1025]),
    action=st.sampled_from(["transfer.sent", "x-acme.thing", "bogus", "x-.bad"]),
    agreement=st.sampled_from([None, EVENT["agreement"], {"id": "x"}]),
)
def test_prepared_line_equals_the_parsing_path_and_its_verdict(
    details: dict[str, object], actor: str, action: str, agreement: object
) -> None:
    """Every event gets the same line, or the same rejection, as parsing the line would give."""
    ev = {**EVENT, "details": details, "actor": actor, "action": action, "agreement": agreement}
    try:
        slow = _prepare_parsed(_record(ev))
    except SchemaError:
        with pytest.raises(SchemaError):
            prepare_record(ev)
        return
    fast = prepare_record(ev)
    assert fast == slow
    line = fast.line(7, b"\x07" * 32)
    check_record(loads_canonical(line))


@pytest.mark.parametrize(
    "details",
    [
        {"ratio": 0.5},  # a float: canonical_bytes writes it, the verifier refuses it
        {"deep": _nested(70)},  # deeper than MAX_DEPTH
        {"big": 2**53},
    ],
)
def test_values_a_verifier_refuses_are_refused(details: dict[str, object]) -> None:
    """Floats, too-deep values and unsafe integers never reach a line."""
    with pytest.raises(SchemaError):
        prepare_record({**EVENT, "details": details})


def test_mapping_subclass_details_take_the_parsing_path_and_are_kept() -> None:
    """A Mapping that is not an exact dict is decided by parsing its line, as before."""
    details = OrderedDict([("b", 1), ("a", 2)])
    line = prepare_record({**EVENT, "details": details}).line(0, bytes(32))
    assert loads_canonical(line)["details"] == {"a": 2, "b": 1}


def test_subject_holding_an_index_member_is_rejected_not_spliced() -> None:
    """An extra member named index/prev after details cannot be taken for the record's slot."""
    subject = {**EVENT["subject"], "index": 0, "prev": "0" * 64}  # type: ignore[dict-item]
    with pytest.raises(SchemaError, match="subject"):
        prepare_record({**EVENT, "subject": subject})


def test_event_mutated_after_prepare_does_not_change_the_line() -> None:
    """The line is built once when the event is prepared."""
    ev = copy.deepcopy(EVENT)
    prepared = prepare_record(ev)
    ev["subject"]["id"] = "changed"  # type: ignore[index]
    assert b"changed" not in prepared.line(0, bytes(32))


@pytest.mark.parametrize("missing", ["actor", "action", "subject"])
def test_missing_member_is_named(missing: str) -> None:
    """A missing required member is a SchemaError naming it (dict and non-dict events)."""
    ev = {k: v for k, v in EVENT.items() if k != missing}
    with pytest.raises(SchemaError, match=missing):
        prepare_record(ev)
    with pytest.raises(SchemaError, match=missing):
        prepare_record(OrderedDict(ev))


def _urls(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "log.jsonl"), f"sqlite:{tmp_path / 'log.db'}"]


@pytest.mark.parametrize("kind", [0, 1], ids=["jsonl", "sqlite"])
def test_two_appenders_alternating_keep_one_chain(tmp_path: Path, kind: int) -> None:
    """Each appender's cached tail goes stale at every turn; the chain stays gap-free and valid."""
    url = _urls(tmp_path)[kind]
    a = AuditLog.open(url, durability="batch", create=True)
    b = AuditLog.open(url, durability="batch")
    leaves = []
    try:
        for i in range(40):
            log = (a, b)[(i // 3) % 2]  # runs of three, so cached tails are both used and stale
            index, leaf = log.append(event(i))
            assert index == i
            leaves.append(leaf)
        tree = MemoryTree(leaves)
        for log in (a, b):
            assert log.size == 40
            assert log.root() == tree.root()
            assert log.prove_inclusion(17) == tree.inclusion_proof(17)
            assert log.verify().ok
            assert log.fsck()["ok"]
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("kind", [0, 1], ids=["jsonl", "sqlite"])
def test_rejected_builder_writes_nothing_and_next_append_continues(
    tmp_path: Path, kind: int
) -> None:
    """A malformed event fails before anything is stored; the chain continues after it."""
    url = _urls(tmp_path)[kind]
    with AuditLog.open(url, durability="always", create=True) as log:
        log.append(event(0))
        with pytest.raises(SchemaError):
            log.append({**EVENT, "details": {"f": 1.5}})
        assert log.append(event(1))[0] == 1
        assert log.verify().ok


def test_jsonl_sidecar_nodes_written_in_groups_match_the_tree(tmp_path: Path) -> None:
    """Subtree hashes computed when the queue is written equal the in-memory tree's."""
    url = str(tmp_path / "log.jsonl")
    leaves = []
    with AuditLog.open(url, durability="none", create=True) as log:
        for i in range(600):  # more than two sidecar groups
            leaves.append(log.append(event(i))[1])
            if i in (5, 300):
                assert log.root() == MemoryTree(leaves).root()  # forces a group write
    tree = MemoryTree(leaves)
    with AuditLog.open(url) as log:
        assert log.fsck()["rebuilt"] == []
        assert log.root() == tree.root()
        assert log.prove_consistency(257, 600) == tree.consistency_proof(257, 600)


@settings(max_examples=200, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 2),  # a day's margin: the offset moves it into UTC
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
    )
)
def test_format_time_text_is_unchanged(when: datetime) -> None:
    """The default record time is the same text the strftime formatting gave."""
    assert format_time(when) == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
