"""SQLite tiles (ADR 0104): one row per complete 64-node block holds six levels of the tree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_kinds import event

from dta.audit import AuditLog
from dta.audit.merkle import MemoryTree
from dta.audit.stores._sqlite import SQLiteStore
from dta.audit.stores._sqlite_tiles import TILE_BYTES, make_tile, tile_id, tile_of, tile_root
from dta.errors import StorageError


def _tiles(path: Path) -> dict[int, bytes]:
    conn = sqlite3.connect(path)
    try:
        return {t: bytes(h) for t, h in conn.execute("SELECT tile, hashes FROM dta_tiles")}
    finally:
        conn.close()


def _expected_tiles(leaves: list[bytes]) -> dict[int, bytes]:
    """Every tile of every tile level, from the tree's own subtree hashes."""
    tree = MemoryTree(leaves)
    out = {}
    k = 0
    while len(leaves) >> (6 * k + 6):
        for t in range(len(leaves) >> (6 * k + 6)):
            base = [tree.perfect(6 * k, 64 * t + i) for i in range(64)]
            out[tile_id(k, t)] = make_tile(base)
        k += 1
    return out


def _check_proofs(store: SQLiteStore, leaves: list[bytes], sizes: list[int]) -> None:
    tree = MemoryTree(leaves)
    for size in sizes:
        assert store.root(size) == tree.root(size)
        for index in range(size):
            assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
        for old in range(1, size + 1, 5):
            assert store.consistency_proof(old, size) == tree.consistency_proof(old, size)


def test_tile_layout_matches_the_tree_levels() -> None:
    """Every (level, j) of a complete block sits at tile_of's offset; roots chain the levels."""
    leaves = [i.to_bytes(32, "big") for i in range(2 * 4096 + 100)]
    tree = MemoryTree(leaves)
    tiles = _expected_tiles(leaves)
    assert len(tiles) == 129 + 2  # 8,292 records: 129 blocks of 64, 2 of 4,096
    assert {len(t) for t in tiles.values()} == {TILE_BYTES}
    for (k, t), expect in (((0, 5), tree.perfect(6, 5)), ((1, 1), tree.perfect(12, 1))):
        assert tile_root(tiles[tile_id(k, t)]) == expect
    for level in range(14):
        for j in range(len(leaves) >> level):
            tile, offset, end = tile_of(level, j)
            if end <= len(leaves):
                assert tiles[tile][offset : offset + 32] == tree.perfect(level, j)
            else:
                assert tile not in tiles
    with pytest.raises(ValueError, match="64 hashes"):
        make_tile(leaves[:63])


def test_tiles_written_for_complete_blocks_by_single_and_batched_appends(tmp_path: Path) -> None:
    """Single appends, batches inside a block and batches spanning several blocks."""
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        leaves = [log.append(event(i))[1] for i in range(70)]  # block 0 done by a single append
        leaves += [leaf for _, leaf in log.append_many([event(i) for i in range(70, 300)])]
        leaves += [log.append(event(i))[1] for i in range(300, 321)]
        store = log.store
        assert isinstance(store, SQLiteStore)
        assert _tiles(path) == _expected_tiles(leaves)  # 5 tiles; block 5 unfinished
        _check_proofs(store, leaves, [63, 64, 65, 128, 255, 256, 257, 320, 321])
        assert log.fsck() == {**log.fsck(), "ok": True, "rebuilt": []}


def test_tiles_stay_right_when_two_handles_take_turns(tmp_path: Path) -> None:
    """A handle whose cached tail (and block) went stale re-reads both before its tile."""
    url = f"sqlite:{tmp_path / 'log.db'}"
    leaves: list[bytes] = []
    with AuditLog.open(url, create=True) as a, AuditLog.open(url) as b:
        for round_ in range(40):
            log = (a, b)[round_ % 2]
            if round_ % 3:
                leaves += [log.append(event(len(leaves)))[1] for _ in range(round_ % 5 + 1)]
            else:
                done = log.append_many([event(len(leaves) + k) for k in range(round_ % 7 + 3)])
                leaves += [leaf for _, leaf in done]
        assert _tiles(tmp_path / "log.db") == _expected_tiles(leaves)
        assert a.fsck()["ok"]


def test_failed_builder_leaves_block_state_consistent(tmp_path: Path) -> None:
    """A builder that raises mid-block writes nothing; later tiles are still the right ones."""
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        store = log.store
        leaves = [log.append(event(i))[1] for i in range(60)]

        def boom(n: int, prev: bytes) -> list[bytes]:
            raise RuntimeError("builder failed")

        for _ in range(2):
            with pytest.raises(RuntimeError):
                store.append(boom)
        leaves += [log.append(event(i))[1] for i in range(60, 130)]
    assert _tiles(path) == _expected_tiles(leaves)


def test_proofs_read_the_tile_not_the_rows(tmp_path: Path) -> None:
    """A tile changed behind SQLite's triggers changes the proof: fsck names it, verify passes."""
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        log.append_many([event(i) for i in range(128)])
        good = log.prove_inclusion(70, 128)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER dta_tiles_no_update")
    tile = bytearray(_tiles(path)[1])
    tile[32 * 7] ^= 1  # leaf 71 (the sibling of 70) in tile 1
    conn.execute("UPDATE dta_tiles SET hashes = ? WHERE tile = 1", (bytes(tile),))
    conn.close()
    with AuditLog.open(f"sqlite:{path}") as log:
        bad = log.prove_inclusion(70, 128)
        assert bad[1:] == good[1:]
        assert bad[0] != good[0]
        report = log.fsck()
        assert not report["ok"]
        assert "tile 1 of tile level 0" in report["problems"][0]
        assert log.verify().ok


def test_damaged_tile_length_falls_back_to_rows(tmp_path: Path) -> None:
    """A tile of the wrong length is never sliced: the rows are read instead."""
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        leaves = [leaf for _, leaf in log.append_many([event(i) for i in range(64)])]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER dta_tiles_no_update")
    conn.execute("UPDATE dta_tiles SET hashes = x'00' WHERE tile = 0")
    conn.close()
    store = SQLiteStore.open(path, durability="none", create=False, readonly=True)
    try:
        _check_proofs(store, leaves, [64])
    finally:
        store.close()


def test_log_without_tile_table_is_read_from_rows_then_upgraded_and_backfilled(
    tmp_path: Path,
) -> None:
    """An older release's schema-2 log: read-only reads rows; a writable open adds the table;
    new blocks get tiles at once, older ones when fsck writes them; proofs never change."""
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        leaves = [leaf for _, leaf in log.append_many([event(i) for i in range(200)])]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE dta_tiles")  # the triggers go with it
    conn.close()
    store = SQLiteStore.open(path, durability="none", create=False, readonly=True)
    try:
        _check_proofs(store, leaves, [64, 199, 200])
        assert store.fsck()["ok"]
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'dta_tiles'").fetchall() == []
    conn.close()
    with AuditLog.open(f"sqlite:{path}") as log:
        assert _tiles(path) == {}
        leaves += [leaf for _, leaf in log.append_many([event(i) for i in range(200, 300)])]
        assert set(_tiles(path)) == {3}  # block 3 completed after the upgrade
        store = log.store
        assert isinstance(store, SQLiteStore)
        _check_proofs(store, leaves, [64, 200, 256, 300])
        report = log.fsck()
        assert report["ok"]
        assert report["rebuilt"] == ["dta_tiles: 3 tiles of complete blocks written"]
        assert _tiles(path) == _expected_tiles(leaves)
        assert log.fsck()["rebuilt"] == []
        _check_proofs(store, leaves, [64, 200, 256, 300])
        assert log.verify().ok


def test_backfill_refuses_a_block_whose_records_are_missing(tmp_path: Path) -> None:
    """write_tiles never makes a tile from fewer than 64 stored hashes, and writes nothing."""
    from dta.audit.stores._sqlite_fsck import write_tiles

    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        log.append_many([event(i) for i in range(70)])
    store = SQLiteStore.open(path, durability="none", create=False)
    try:
        with pytest.raises(StorageError, match="not stored"):
            write_tiles([1], store._conn, store._nodes.fetch)
        with pytest.raises(StorageError, match="not stored"):
            write_tiles([tile_id(1, 0)], store._conn, store._nodes.fetch)
    finally:
        store.close()
    assert set(_tiles(path)) == {0}


def test_second_tile_level_written_and_read_across_4096_records(tmp_path: Path) -> None:
    """Level-6 hashes of 64 blocks make a tile of levels 6..11, written by the appending
    handle or by another one that took over mid-block."""
    url = f"sqlite:{tmp_path / 'log.db'}"
    with AuditLog.open(url, create=True) as a, AuditLog.open(url) as b:
        leaves = [leaf for _, leaf in a.append_many([event(i) for i in range(4000)])]
        leaves += [b.append(event(i))[1] for i in range(4000, 4090)]
        leaves += [leaf for _, leaf in a.append_many([event(i) for i in range(4090, 4200)])]
        assert _tiles(tmp_path / "log.db") == _expected_tiles(leaves)
        assert tile_id(1, 0) in _tiles(tmp_path / "log.db")
        store = b.store
        assert isinstance(store, SQLiteStore)
        tree = MemoryTree(leaves)
        for size in (4095, 4096, 4097, 4200):
            for index in [*range(0, size, 97), size - 1]:
                assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            assert store.root(size) == tree.root(size)
            assert store.consistency_proof(1000, size) == tree.consistency_proof(1000, size)
        assert b.fsck()["ok"]


def test_held_upper_tiles_bounded_and_proofs_unchanged_when_evicted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for one level-1 tile, proofs alternating between two blocks stay right."""
    from dta.audit.stores import _sqlite_proofs

    monkeypatch.setattr(_sqlite_proofs, "_UPPER_TILES", 1)
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        leaves = [leaf for _, leaf in log.append_many([event(i) for i in range(8200)])]
    tree = MemoryTree(leaves)
    store = SQLiteStore.open(path, durability="none", create=False, readonly=True)
    try:
        for index in [*range(0, 8200, 37), *range(8199, 0, -41)]:
            assert store.inclusion_proof(index, 8200) == tree.inclusion_proof(index, 8200)
        assert len(store._nodes._upper_tiles) <= 1
    finally:
        store.close()


def test_tile_from_the_records_nodes_equals_the_hashed_tile() -> None:
    """Assembling a tile from the frontier's per-record nodes gives make_tile's bytes; a
    record whose nodes are unknown (below inline_from) makes it decline."""
    from dta.audit.stores._sqlite_nodes import Frontier
    from dta.audit.stores._sqlite_tiles import tile_from_nodes

    leaves = [i.to_bytes(32, "big") for i in range(200)]
    front = Frontier(0, [])
    dones = [front.add(leaf) for leaf in leaves]
    for t in range(3):
        block = slice(64 * t, 64 * t + 64)
        assert tile_from_nodes(leaves[block], dones[block]) == make_tile(leaves[block])
    unknown = list(dones[:64])
    unknown[31] = None
    assert tile_from_nodes(leaves[:64], unknown) is None
