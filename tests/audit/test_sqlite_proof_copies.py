"""SQLite proofs with upper levels copied into memory (ADR 0104): same proofs, bounded copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_kinds import event

from dta.audit import AuditLog
from dta.audit.merkle import MemoryTree, leaf_hash
from dta.audit.stores import _sqlite_proofs
from dta.audit.stores._sqlite import SQLiteStore
from dta.errors import StorageError


def _make(path: Path, n: int) -> list[bytes]:
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        return [leaf for _, leaf in log.append_many([event(i) for i in range(n)])]


def _reader(store: SQLiteStore) -> _sqlite_proofs.NodeReader:
    return store._nodes


def test_first_proof_copies_nothing_and_copies_grow_with_proofs_served(tmp_path: Path) -> None:
    """A one-off proof reads no level into memory; later proofs copy lower and lower levels."""
    path = tmp_path / "log.db"
    leaves = _make(path, 1000)
    tree = MemoryTree(leaves)
    store = SQLiteStore.open(path, durability="none", create=False)
    try:
        reader = _reader(store)
        assert store.inclusion_proof(500, 1000) == tree.inclusion_proof(500, 1000)
        assert reader._top == (1000).bit_length()  # no level copied
        tops = []
        for index in range(0, 1000, 7):
            assert store.inclusion_proof(index, 1000) == tree.inclusion_proof(index, 1000)
            tops.append(reader._top)
        assert tops == sorted(tops, reverse=True)
        assert tops[-1] == 0  # 1,000 leaves fit the budget after ~16 proofs
        for size in (1, 2, 3, 511, 512, 513, 999, 1000):
            assert store.root(size) == tree.root(size)
            for index in (0, size // 2, size - 1):
                assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            for old in (1, size // 3 or 1, size):
                assert store.consistency_proof(old, size) == tree.consistency_proof(old, size)
    finally:
        store.close()


def test_outgrown_levels_are_dropped_and_proofs_stay_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another writer grows the log past twice the bound, low copies are dropped."""
    monkeypatch.setattr(_sqlite_proofs, "TOP_NODES", 16)
    monkeypatch.setattr(_sqlite_proofs, "TILED_TOP_NODES", 16)
    path = tmp_path / "log.db"
    leaves = _make(path, 100)
    store = SQLiteStore.open(path, durability="none", create=False)
    try:
        reader = _reader(store)
        for index in range(100):
            store.inclusion_proof(index, 100)
        assert reader._top == 3  # 100 >> 3 = 12 <= 16 < 100 >> 2
        with AuditLog.open(f"sqlite:{path}") as writer:
            leaves += [leaf for _, leaf in writer.append_many([event(i) for i in range(100, 600)])]
        tree = MemoryTree(leaves)
        for index in range(0, 600, 3):
            assert store.inclusion_proof(index, 600) == tree.inclusion_proof(index, 600)
        assert reader._top == 6  # 600 >> 5 = 18 > 16: levels 3..5 dropped
        assert all(not reader._copies[level] for level in range(6))
        assert all(len(reader._copies[level]) <= 32 * 2 * 16 for level in range(63))
        for index in range(0, 100, 9):  # an old size is served from the same copies
            assert store.inclusion_proof(index, 100) == tree.inclusion_proof(index, 100)
    finally:
        store.close()


def test_proof_at_a_size_not_stored_raises_and_leaves_copies_usable(tmp_path: Path) -> None:
    """A size past the log fails like a missing row would, and later proofs are still right."""
    path = tmp_path / "log.db"
    leaves = _make(path, 300)
    tree = MemoryTree(leaves)
    store = SQLiteStore.open(path, durability="none", create=False)
    try:
        reader = _reader(store)
        for index in range(0, 300, 2):
            store.inclusion_proof(index, 300)
        top, covered = reader._top, reader._covered
        with pytest.raises(StorageError, match="not stored"):
            store.inclusion_proof(5, 400)
        with pytest.raises(StorageError, match="not stored"):
            store.root(1 << 40)
        assert (reader._top, reader._covered) == (top, covered)
        for index in range(0, 300, 11):
            assert store.inclusion_proof(index, 300) == tree.inclusion_proof(index, 300)
        assert store.root(300) == tree.root(300)
    finally:
        store.close()


def test_copies_are_refused_after_close(tmp_path: Path) -> None:
    """A closed store serves nothing, not even hashes it holds in memory."""
    path = tmp_path / "log.db"
    _make(path, 64)
    store = SQLiteStore.open(path, durability="none", create=False)
    for index in range(64):
        store.inclusion_proof(index, 64)
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.inclusion_proof(3, 64)


def _append_in_child(url: str, start: int, count: int) -> None:
    with AuditLog.open(url, durability="none") as log:
        k = start
        while k < start + count:
            step = 1 + k % 7  # single appends and small batches, crossing blocks of 64
            if step == 1:
                log.append(event(k))
            else:
                log.append_many([event(i) for i in range(k, min(k + step, start + count))])
            k += step


def test_proofs_made_while_another_process_appends_match_the_final_tree(tmp_path: Path) -> None:
    """A reader proving at every size it sees while a writer process appends: each proof is
    the tree's proof at that size (copies, tiles and folds never serve a stale hash)."""
    import multiprocessing
    import random

    path = tmp_path / "log.db"
    _make(path, 100)
    url = f"sqlite:{path}"
    writer = multiprocessing.get_context("fork").Process(
        target=_append_in_child, args=(url, 100, 5000)
    )
    rng = random.Random(3)
    seen: list[tuple[int, int, list[bytes]]] = []
    with AuditLog.open(url) as reader:
        writer.start()
        try:
            while writer.is_alive() or len(seen) < 50:
                size = reader.size
                for _ in range(5):
                    index = rng.randrange(size)
                    seen.append((index, size, reader.prove_inclusion(index, size)))
                old = rng.randrange(1, size + 1)
                seen.append((-old, size, reader.prove_consistency(old, size)))
        finally:
            writer.join()
        assert writer.exitcode == 0
        leaves = [leaf_hash(line) for line in reader.store.lines()]
    assert len(leaves) == 5100
    tree = MemoryTree(leaves)
    assert len({size for _, size, _ in seen}) > 5  # proofs were made at several sizes
    for index, size, proof in seen:
        if index >= 0:
            assert proof == tree.inclusion_proof(index, size), (index, size)
        else:
            assert proof == tree.consistency_proof(-index, size), (-index, size)
