"""Inclusion proofs from the on-disk stores equal RFC 9162's recursive definition (ADR 0097).

The JSONL sidecar serves its upper levels from in-process copies and ``inclusion_proof`` builds
the path in closed form; both must give exactly the proofs of RFC 9162 §2.1.3.1's recursive
``PATH(m, D[n])`` — computed here from the leaf hashes alone, independently of the library — for
every tree size including old sizes and sizes that are not powers of two, and must never serve a
hash the sidecar no longer holds.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from store_kinds import event

from dta.audit import AuditLog
from dta.audit.merkle import MemoryTree, inclusion_proof, verify_inclusion
from dta.audit.stores import _sidecar
from dta.audit.stores._sidecar import Sidecar
from dta.errors import StorageError

N = 300  # not a power of two; 9 levels


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    return _Ref(leaves).mth(0, len(leaves))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    return _Ref(leaves).path(m, 0, len(leaves))


class _Ref:
    """RFC 9162 MTH and PATH(m, D[n]) over leaf hashes, written from the RFC's recursion."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self.leaves[lo]
        got = self.memo.get((lo, hi))
        if got is None:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            got = _h(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi))
            self.memo[(lo, hi)] = got
        return got

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]


def _leaves(path: Path) -> list[bytes]:
    return [_h(b"\x00" + line) for line in path.read_bytes().split(b"\n")[:-1]]


def _pairs(n: int, seed: int) -> list[tuple[int, int]]:
    """Every index of a few sizes (incl. powers of two and their neighbours) plus random pairs."""
    rng = random.Random(seed)
    sizes = {1, 2, 3, 7, 8, 9, 63, 64, 65, 127, 128, 129, 255, 256, 257, n - 1, n}
    pairs = [(i, s) for s in sorted(x for x in sizes if x <= n) for i in range(s)]
    for _ in range(400):
        s = rng.randrange(1, n + 1)
        pairs.append((rng.randrange(s), s))
    return pairs


@pytest.fixture
def jsonl_log(tmp_path: Path) -> Path:
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        log.append_many([event(i) for i in range(N)])
    return path


def test_closed_form_proof_equals_rfc_recursion_for_every_index_of_small_trees() -> None:
    """inclusion_proof (closed form) == RFC 9162 PATH for every (index, size) up to 80 leaves."""
    leaves = [_h(bytes([i])) for i in range(80)]
    tree, ref = MemoryTree(leaves), _Ref(leaves)
    for size in range(1, 81):
        for index in range(size):
            assert inclusion_proof(index, size, tree) == ref.path(index, 0, size)


@pytest.mark.parametrize("top_shift", [None, 0, 2, 5])
def test_jsonl_proofs_equal_rfc_path_and_verify_for_old_and_odd_sizes(
    jsonl_log: Path, monkeypatch: pytest.MonkeyPatch, top_shift: int | None
) -> None:
    """Proofs from a freshly opened JSONL store, with all, some or no levels held in memory."""
    if top_shift is not None:  # shift 0: no level in memory at 300; 2: levels >= 7; 5: levels >= 4
        monkeypatch.setattr(_sidecar, "_TOP_SHIFT", top_shift)
    leaves = _leaves(jsonl_log)
    ref = _Ref(leaves)
    with AuditLog.open(jsonl_log) as log:
        for index, size in _pairs(N, seed=top_shift or 1):
            proof = log.prove_inclusion(index, size)
            assert proof == ref.path(index, 0, size), (index, size)
            verify_inclusion(leaves[index], index, size, proof, ref.mth(0, size))


def test_sqlite_proofs_equal_rfc_path_for_old_and_odd_sizes(tmp_path: Path) -> None:
    """The SQLite store's plan-based proofs agree with the same reference (and the JSONL store)."""
    url = f"sqlite:{tmp_path / 'log.db'}"
    with AuditLog.open(url, create=True) as log:
        log.append_many([event(i) for i in range(N)])
    with AuditLog.open(url) as log:
        ref = _Ref([_h(b"\x00" + line) for line in log.store.lines()])
        for index, size in _pairs(N, seed=3):
            assert log.prove_inclusion(index, size) == ref.path(index, 0, size), (index, size)


def test_proofs_see_records_another_process_appended_after_levels_were_read(
    jsonl_log: Path,
) -> None:
    """In-memory level copies grow with the log: proofs at the new size use the new nodes."""
    with AuditLog.open(jsonl_log) as reader:
        for index in range(0, N, 7):
            reader.prove_inclusion(index, N)  # fills the copies of every level
        with AuditLog.open(jsonl_log) as writer:
            writer.append_many([event(i) for i in range(N, 2 * N + 13)])
        with AuditLog.open(jsonl_log) as writer:  # and some through a second open
            writer.append(event(2 * N + 13))
        reader.append(event(2 * N + 14))  # and one by the reader itself
        leaves = _leaves(jsonl_log)
        size = len(leaves)
        assert size == 2 * N + 15
        rng = random.Random(5)
        for index in [0, N - 1, N, size - 2, size - 1, *(rng.randrange(size) for _ in range(200))]:
            assert reader.prove_inclusion(index, size) == _path(index, leaves)
        assert reader.root() == _mth(leaves)


def test_sidecar_never_serves_a_hash_past_a_truncation(tmp_path: Path) -> None:
    """After truncate the copies are gone: a node no longer stored raises, as a pread would."""
    leaves = [_h(bytes([i])) for i in range(64)]
    tree = MemoryTree(leaves)
    sc = Sidecar(tmp_path / "x.nodes")
    try:
        nodes = {lv: [tree.perfect(lv, j) for j in range(64 >> lv)] for lv in range(7)}
        sc.append(list(range(1, 65)), nodes)
        assert sc.normalise() == 64
        assert sc.node(5, 1) == tree.perfect(5, 1)  # read into memory
        assert sc.node(0, 63) == leaves[63]
        sc.truncate(40)
        assert sc.normalise() == 40
        with pytest.raises(StorageError, match="not stored"):
            sc.node(5, 1)
        with pytest.raises(StorageError, match="not stored"):
            sc.node(0, 40)
        assert sc.node(5, 0) == tree.perfect(5, 0)
        assert sc.node(3, 4) == tree.perfect(3, 4)
    finally:
        sc.close()


def test_sidecar_copy_cut_by_normalise_is_not_served(tmp_path: Path) -> None:
    """After a crash cut (offsets short), normalise cuts upper levels: their copies are cut too."""
    leaves = [_h(bytes([i])) for i in range(32)]
    tree = MemoryTree(leaves)
    sc = Sidecar(tmp_path / "x.nodes")
    try:
        nodes = {lv: [tree.perfect(lv, j) for j in range(32 >> lv)] for lv in range(6)}
        sc.append(list(range(1, 33)), nodes)
        assert sc.normalise() == 32
        assert sc.node(2, 7) == tree.perfect(2, 7)  # level 2 now held in memory
        assert sc.node(4, 1) == tree.perfect(4, 1)
        offsets = tmp_path / "x.nodes" / "offsets"
        offsets.write_bytes(offsets.read_bytes()[: 27 * 8 + 3])  # crash: 27 whole offsets
        assert sc.normalise() == 27
        for level, index in ((2, 6), (2, 7), (4, 1), (0, 27)):
            with pytest.raises(StorageError, match="not stored"):
                sc.node(level, index)
        assert sc.node(2, 5) == tree.perfect(2, 5)
        assert sc.node(4, 0) == tree.perfect(4, 0)
    finally:
        sc.close()


def test_sidecar_node_argument_errors_unchanged(tmp_path: Path) -> None:
    """Negative or out-of-range coordinates and huge indices raise StorageError, never data."""
    sc = Sidecar(tmp_path / "x.nodes")
    try:
        sc.append([1, 2], {0: [_h(b"a"), _h(b"b")], 1: [_h(b"c")]})
        assert sc.normalise() == 2
        for level, index in ((-1, 0), (64, 0), (0, -1), (1, 1), (0, 2), (1, 1 << 56)):
            with pytest.raises(StorageError):
                sc.node(level, index)
    finally:
        sc.close()


def test_sidecar_reads_nothing_beyond_two_level_budgets(tmp_path: Path) -> None:
    """A level held in memory never grows past twice TOP_LEVEL_BYTES, whatever is asked."""
    sc = Sidecar(tmp_path / "x.nodes")
    try:
        count = _sidecar.TOP_LEVEL_BYTES * 3 // 32
        leaf = _h(b"x")
        sc.append(list(range(1, count + 1)), {0: [leaf] * count})
        sc._learn(1)  # as if this process knew of one record only: level 0 counts as "top"
        assert sc.node(0, count - 1) == leaf
        assert len(sc._copies[0]) <= 2 * _sidecar.TOP_LEVEL_BYTES
    finally:
        sc.close()
