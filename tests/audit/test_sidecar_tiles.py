"""JSONL sidecar tiles (ADR 0106): one page holds levels 0..5 of each complete 64-record block.

The tile file is a cache like the level files: built from them, rebuilt where missing or
damaged, never created by a read-only open, and never trusted (fsck checks both the tiles and
the level files behind them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from store_kinds import event
from test_readonly_tree import read_only, snapshot

from dta.audit import AuditLog, MemoryTree, leaf_hash
from dta.audit.stores._sidecar import Sidecar
from dta.audit.stores._sidecar_tiles import (
    BLOCK,
    TILE_BYTES,
    TILE_FILE,
    TILE_LEVELS,
    TILE_STRIDE,
    level_offset,
)

N = 5 * BLOCK + 13  # five complete blocks and an open one


def _make(tmp_path: Path, n: int = N) -> Path:
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        for start in range(0, n, 37):  # groups that straddle block ends
            log.append_many([event(i, pad=i % 7) for i in range(start, min(n, start + 37))])
    return path


def _nodes(path: Path) -> Path:
    return path.with_name(path.name + ".nodes")


def _tree(path: Path) -> MemoryTree:
    return MemoryTree(leaf_hash(line) for line in path.read_bytes().split(b"\n")[:-1])


def _proofs(path: Path, *, readonly: bool = False) -> dict[tuple[int, int], list[bytes]]:
    pairs = [(i, s) for s in (1, 64, 65, 200, N) for i in range(0, s, 7)]
    with AuditLog.open(path, readonly=readonly) as log:
        return {(i, s): log.prove_inclusion(i, s) for i, s in pairs}


def _want(path: Path) -> dict[tuple[int, int], list[bytes]]:
    tree = _tree(path)
    pairs = [(i, s) for s in (1, 64, 65, 200, N) for i in range(0, s, 7)]
    return {(i, s): tree.inclusion_proof(i, s) for i, s in pairs}


def test_tile_file_holds_every_complete_blocks_lower_levels_in_one_page(tmp_path: Path) -> None:
    path = _make(tmp_path)
    data = (_nodes(path) / TILE_FILE).read_bytes()
    assert len(data) == (N // BLOCK) * TILE_STRIDE
    tree = _tree(path)
    for t in range(N // BLOCK):
        tile = data[t * TILE_STRIDE : (t + 1) * TILE_STRIDE]
        assert tile[TILE_BYTES:] == bytes(TILE_STRIDE - TILE_BYTES)
        for level in range(TILE_LEVELS):
            for j in range(BLOCK >> level):
                at = level_offset(level) + 32 * j
                index = (t << (TILE_LEVELS - level)) + j
                assert tile[at : at + 32] == tree.perfect(level, index), (t, level, j)


def test_proofs_from_tiles_equal_the_in_memory_tree(tmp_path: Path) -> None:
    path = _make(tmp_path)
    assert _proofs(path) == _want(path)
    assert _proofs(path, readonly=True) == _want(path)


def test_a_proof_reads_its_six_lower_levels_with_one_pread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _make(tmp_path, 4 * BLOCK)
    with AuditLog.open(path) as log:
        log.prove_inclusion(0, 4 * BLOCK)  # opens the files
        reads: list[tuple[int, int]] = []
        real = os.pread

        def counting(fd: int, size: int, offset: int) -> bytes:
            reads.append((fd, size))
            return real(fd, size, offset)

        monkeypatch.setattr(os, "pread", counting)
        proof = log.prove_inclusion(3 * BLOCK + 5, 4 * BLOCK)
    assert proof == _tree(path).inclusion_proof(3 * BLOCK + 5, 4 * BLOCK)
    tile_reads = [r for r in reads if r[1] == TILE_BYTES]
    assert len(tile_reads) == 1
    assert len(reads) <= 2  # the tile, and at most level 6 (here: held in memory)


def test_old_sidecar_without_tiles_is_read_as_before_and_upgraded_by_a_writer(
    tmp_path: Path,
) -> None:
    path = _make(tmp_path)
    tiles = _nodes(path) / TILE_FILE
    want = tiles.read_bytes()
    tiles.unlink()
    with read_only(tmp_path) as before:
        assert _proofs(path, readonly=True) == _want(path)
        with AuditLog.open(path, readonly=True) as log:
            assert log.fsck()["ok"]
        assert snapshot(tmp_path) == before  # a read-only open never writes a tile file
    assert not tiles.exists()
    with AuditLog.open(path) as log:
        assert log.size == N
    assert tiles.read_bytes() == want
    assert _proofs(path) == _want(path)


@pytest.mark.parametrize("damage", ["partial", "extra", "foreign"])
def test_a_writer_repairs_a_crashed_or_foreign_tile_file_on_open(
    tmp_path: Path, damage: str
) -> None:
    path = _make(tmp_path)
    tiles = _nodes(path) / TILE_FILE
    want = tiles.read_bytes()
    if damage == "partial":  # a crash mid-write: half a tile
        tiles.write_bytes(want[: 3 * TILE_STRIDE + 1000])
    elif damage == "extra":  # tiles beyond the records (a cut sidecar)
        tiles.write_bytes(want + want[:TILE_STRIDE] * 2)
    else:  # every tile from another log's history
        tiles.write_bytes(bytes(b ^ 0x5A for b in want))
    with read_only(tmp_path) as before:
        assert _proofs(path, readonly=True) == _want(path)
        assert snapshot(tmp_path) == before
    with AuditLog.open(path) as log:
        log.append(event(N))
    data = tiles.read_bytes()
    assert data == want  # N + 1 records complete no new block
    assert _proofs(path) == _want(path)


def test_a_wrong_tile_changes_no_verification_and_fsck_rebuilds_it(tmp_path: Path) -> None:
    path = _make(tmp_path)
    tiles = _nodes(path) / TILE_FILE
    want = tiles.read_bytes()
    bad = bytearray(want)
    bad[TILE_STRIDE + level_offset(2) + 32] ^= 0xFF  # an interior node of block 1
    tiles.write_bytes(bytes(bad))
    with AuditLog.open(path) as log:
        assert log.verify().ok  # verification recomputes; it never reads a tile
        report = log.fsck()
        assert report["ok"]
        assert report["rebuilt"] == ["sidecar"]
    assert tiles.read_bytes() == want
    assert _proofs(path) == _want(path)


def test_fsck_checks_the_level_files_behind_the_tiles(tmp_path: Path) -> None:
    path = _make(tmp_path)
    level = _nodes(path) / "L01"
    data = bytearray(level.read_bytes())
    data[32 * 40] ^= 0xFF  # served from a tile, but still wrong on disk
    level.write_bytes(bytes(data))
    with AuditLog.open(path) as log:
        assert log.fsck()["rebuilt"] == ["sidecar"]
    assert level.read_bytes() != bytes(data)


def test_truncate_cuts_tiles_and_no_cut_tile_is_served(tmp_path: Path) -> None:
    path = _make(tmp_path)
    tree = _tree(path)
    sc = Sidecar(_nodes(path))
    try:
        assert sc.normalise() == N
        assert sc.node(0, 4 * BLOCK + 3) == tree.perfect(0, 4 * BLOCK + 3)
        sc.truncate(2 * BLOCK + 10)
        assert (_nodes(path) / TILE_FILE).stat().st_size == 2 * TILE_STRIDE
        with pytest.raises(Exception, match="not stored"):
            sc.node(0, 4 * BLOCK + 3)
        assert sc.node(5, 3) == tree.perfect(5, 3)
    finally:
        sc.close()


def test_two_handles_taking_turns_write_every_tile_once(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as a, AuditLog.open(path) as b:
        for i in range(0, 6 * BLOCK, 10):
            (a if i % 20 else b).append_many([event(j) for j in range(i, i + 10)])
            if i % 3 == 0:  # proofs make each handle write its queued entries
                (b if i % 20 else a).prove_inclusion(0)
    with AuditLog.open(path) as log:
        assert log.fsck()["rebuilt"] == []
    assert (_nodes(path) / TILE_FILE).stat().st_size == 6 * TILE_STRIDE
    tiles = (_nodes(path) / TILE_FILE).read_bytes()
    tree = _tree(path)
    for t in range(6):
        assert tiles[t * TILE_STRIDE : t * TILE_STRIDE + 32] == tree.perfect(0, t * BLOCK)


def test_no_tile_file_at_all_falls_back_to_level_files(tmp_path: Path) -> None:
    path = _make(tmp_path)
    shutil.rmtree(_nodes(path))
    assert _proofs(path, readonly=True) == _want(path)
    assert not _nodes(path).exists()


def test_tiled_proofs_equal_the_tree_for_every_index_of_sizes_around_block_ends(
    tmp_path: Path,
) -> None:
    path = _make(tmp_path)
    tree = _tree(path)
    with AuditLog.open(path) as log:
        for size in (1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 200, 256, 257, N):
            for index in range(size):
                assert log.prove_inclusion(index, size) == tree.inclusion_proof(index, size)


def _fill(sc: Sidecar, leaves: list[bytes]) -> MemoryTree:
    tree = MemoryTree(leaves)
    n = len(leaves)
    nodes = {k: [tree.perfect(k, i) for i in range(n >> k)] for k in range(n.bit_length())}
    sc.append(list(range(1, n + 1)), nodes)
    return tree


def test_no_remembered_right_edge_fold_survives_a_truncate(tmp_path: Path) -> None:
    size = 5 * BLOCK + 7  # proofs in the left part need MTH of the cut right part
    sc = Sidecar(tmp_path / "x.nodes")
    try:
        first = _fill(sc, [leaf_hash(b"a%d" % i) for i in range(size)])
        for index in (0, BLOCK + 3, 4 * BLOCK, size - 1):
            assert sc.inclusion_path(index, size) == first.inclusion_proof(index, size)
        sc.truncate(0)
        second = _fill(sc, [leaf_hash(b"b%d" % i) for i in range(size)])
        for index in (0, BLOCK + 3, 4 * BLOCK, size - 1):
            assert sc.inclusion_path(index, size) == second.inclusion_proof(index, size)
    finally:
        sc.close()
