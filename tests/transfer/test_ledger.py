"""Ledger: durable per-channel sequence state and volume counts, atomic and lock-protected."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from agreement_helpers import CN, US, World, chain

from dta import loads, schemas
from dta.agreement import Ledger, digest
from dta.errors import InputError, PolicyViolation, StorageError


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_ledger_records_and_survives_reopen(world: World, tmp_path: Path) -> None:
    """Recorded state is on disk: a fresh open sees the channel and the volume."""
    path = tmp_path / "ledger.json"
    ledger = Ledger.open(path, create=True)
    (b1, d1), (b2, _d2) = chain(world, 2)
    ledger.record(d1)
    ledger.record(b2)  # a verified body is accepted as well as the signed document
    again = Ledger.open(path)
    state = again.channel(world.agreement.id, US, CN)
    assert state is not None
    assert (state.sequence, state.digest, state.manifest_id) == (2, digest(b2), b2["id"])
    assert state.seen == {b1["id"], b2["id"]}
    assert again.next_sequence(world.agreement.id, US, CN) == (3, digest(b2))
    assert again.next_sequence(world.agreement.id, CN, US) == (1, None)
    day = date(2027, 3, 1)
    assert (
        again.subjects(world.agreement.id, "personal.contact", day=day, window=timedelta(days=30))
        == 80
    )
    schemas.validate(loads(path.read_bytes()))


def test_ledger_volume_window_is_rolling(world: World, tmp_path: Path) -> None:
    """Counts fall out of the window once their day is older than the window."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    ledger.record(world.sign_manifest(world.manifest()))
    aid = world.agreement.id
    window = timedelta(days=30)
    assert ledger.subjects(aid, "personal.contact", day=date(2027, 3, 30), window=window) == 40
    assert ledger.subjects(aid, "personal.contact", day=date(2027, 3, 31), window=window) == 0
    assert (
        ledger.subjects(aid, "personal.contact", day=date(2027, 3, 1), window=window, sender=CN)
        == 0
    )


def test_ledger_refuses_to_record_a_replay(world: World, tmp_path: Path) -> None:
    """Recording the same manifest twice is refused."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    ((_, d1),) = chain(world, 1)
    ledger.record(d1)
    with pytest.raises(PolicyViolation, match="already recorded"):
        ledger.record(d1)


def test_ledger_refuses_out_of_order_record(world: World, tmp_path: Path) -> None:
    """Recording a manifest that does not extend the channel is refused."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    (_, d1), (_, d2), (_, d3) = chain(world, 3)
    with pytest.raises(PolicyViolation, match="sequence 1"):
        ledger.record(d2)
    ledger.record(d1)
    with pytest.raises(PolicyViolation, match="does not extend"):
        ledger.record(d3)


def test_ledger_missing_file(tmp_path: Path) -> None:
    """Opening a missing ledger without create is an input error naming the file."""
    with pytest.raises(InputError, match="no such ledger"):
        Ledger.open(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b'{"_type": "dta.ledger"}',
        b'{"_type":"dta.ledger","spec_version":"1.0","channels":[],"volumes":[],"extra":1}',
        b'{"a":1,"a":2}',
    ],
)
def test_ledger_corrupt_file_rejected(tmp_path: Path, content: bytes) -> None:
    """A ledger file that is not a valid ledger document is a storage error, never ignored."""
    path = tmp_path / "l.json"
    path.write_bytes(content)
    with pytest.raises(StorageError, match="not a valid ledger"):
        Ledger.open(path)


def test_ledger_record_rejects_non_manifest(tmp_path: Path) -> None:
    """Only manifests can be recorded."""
    with pytest.raises(PolicyViolation):
        Ledger.open(tmp_path / "l.json", create=True).record({"_type": "dta.receipt"})


def test_ledger_write_is_atomic_without_leftovers(world: World, tmp_path: Path) -> None:
    """After a record only the ledger and its lock file exist (no temporary files)."""
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    ledger.record(chain(world, 1)[0][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.json", "l.json.lock"]


def test_ledger_concurrent_recorders_lose_no_update(world: World, tmp_path: Path) -> None:
    """Two writers on different channels of one file, interleaved, keep both channels."""
    path = tmp_path / "l.json"
    reverse = []
    previous = None
    for seq in range(1, 6):
        body = world.manifest(sender=CN, recipient=US, sequence=seq, previous=previous, subjects={})
        reverse.append(body)
        previous = digest(body)
    forward = [b for b, _ in chain(world, 5)]
    errors: list[BaseException] = []

    def run(bodies: list[dict[str, object]]) -> None:
        ledger = Ledger.open(path, create=True)  # each thread its own handle and lock fd
        try:
            for body in bodies:
                ledger.record(body)
        except PolicyViolation as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (forward, reverse)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = Ledger.open(path)
    assert final.next_sequence(world.agreement.id, US, CN)[0] == 6
    assert final.next_sequence(world.agreement.id, CN, US)[0] == 6
