"""Read-only audit logs (API): nothing under the log's directory is created or changed.

Every test compares a snapshot of the directory (names, modes, sizes, mtimes, digests) before
and after, which shows a write even when running as root (where chmod stops nothing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from store_kinds import event
from test_readonly_tree import read_only, snapshot

from dta import keys
from dta.audit import AuditLog, MemoryTree, leaf_hash
from dta.audit.stores import open_store
from dta.audit.stores._sidecar_readonly import MEMORY_LOW_LEVEL
from dta.errors import ConfigError, StorageError

N = 150  # > 2 blocks of 2**MEMORY_LOW_LEVEL records, not a power of two


def _make(tmp_path: Path, n: int = N, *, sidecar: bool = True) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    path = d / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        for start in range(0, n, 40):
            log.append_many([event(i, pad=i % 9) for i in range(start, min(n, start + 40))])
    if not sidecar:
        shutil.rmtree(d / "log.jsonl.nodes")
    return path


def _leaves(path: Path) -> list[bytes]:
    return [leaf_hash(line) for line in path.read_bytes().split(b"\n")[:-1]]


def _cut_sidecar(path: Path, records: int) -> None:
    """Leave the sidecar files as a crash would: ``records`` entries and partial ones."""
    nodes = path.with_name(path.name + ".nodes")
    (nodes / "offsets").write_bytes((nodes / "offsets").read_bytes()[: records * 8 + 3])
    for level_file in nodes.glob("L*"):
        level = int(level_file.name[1:])
        data = level_file.read_bytes()[: (records >> level) * 32]
        level_file.write_bytes(data + b"\x01" * 7)


@pytest.mark.parametrize("sidecar", ["present", "absent", "partial", "garbled"])
def test_readonly_log_reads_like_the_writable_one_and_changes_nothing(
    tmp_path: Path, sidecar: str
) -> None:
    """verify, proofs, roots, records, lines and checkpoints equal the read-write results."""
    path = _make(tmp_path, sidecar=sidecar != "absent")
    signer = keys.generate()
    with AuditLog.open(path) as rw:
        want_root = rw.root()
        want_cp = rw.checkpoint(signer, "example.org/log")
        pairs = [(i, s) for s in (1, 64, 65, 97, N) for i in (0, s // 2, s - 1)] + [(82, N)]
        want_proofs = {(i, s): rw.prove_inclusion(i, s) for i, s in pairs}
        sizes = ((1, N), (63, 130), (64, N), (100, 149))
        want_cons = {(o, s): rw.prove_consistency(o, s) for o, s in sizes}
        want_records = list(rw.records())
    if sidecar == "partial":
        _cut_sidecar(path, 70)
    if sidecar == "garbled":
        nodes = path.with_name(path.name + ".nodes")
        data = bytearray((nodes / "L01").read_bytes())
        data[32 * 40] ^= 0xFF  # an interior node: only fsck's full walk sees it
        (nodes / "L01").write_bytes(bytes(data))
    with read_only(path.parent) as before:
        with AuditLog.open(path, readonly=True) as log:
            assert log.readonly
            assert log.size == N
            fsck = log.fsck()  # first: a garbled interior node is only found by its full walk
            assert fsck["ok"]
            assert fsck["size"] == N
            rebuilt = ["sidecar (in memory: read-only)"] if sidecar == "garbled" else []
            assert fsck["rebuilt"] == rebuilt
            report = log.verify()
            assert report.ok
            assert report.root == want_root
            assert log.root() == want_root
            assert log.checkpoint(signer, "example.org/log") == want_cp
            got = {(i, s): log.prove_inclusion(i, s) for (i, s) in want_proofs}
            assert got == want_proofs
            assert {k: log.prove_consistency(*k) for k in want_cons} == want_cons
            assert list(log.records()) == want_records
            assert log.line(N - 1) == path.read_bytes().split(b"\n")[N - 1]
        assert snapshot(path.parent) == before


def test_readonly_nodes_equal_a_memory_tree_for_every_sidecar_prefix(tmp_path: Path) -> None:
    """Any consistent prefix of the sidecar plus the in-memory rest gives every subtree right."""
    path = _make(tmp_path, 140)
    tree = MemoryTree(_leaves(path))
    nodes = path.with_name(path.name + ".nodes")
    saved = {p.name: p.read_bytes() for p in nodes.iterdir()}
    for prefix in (0, 1, 2, 63, 64, 65, 100, 128, 139, 140):
        for name, data in saved.items():
            (nodes / name).write_bytes(data)
        _cut_sidecar(path, prefix)
        before = snapshot(path.parent)
        store = open_store(str(path), readonly=True)
        try:
            for level in range(8):
                for index in range(140 >> level):
                    assert store.perfect(level, index) == tree.perfect(level, index), (
                        prefix,
                        level,
                        index,
                    )
        finally:
            store.close()
        assert snapshot(path.parent) == before


def test_readonly_reader_follows_a_writer_without_writing(tmp_path: Path) -> None:
    """Records appended by a writer after a read-only open are indexed in memory, proofs right."""
    path = _make(tmp_path, 70)
    reader = AuditLog.open(path, readonly=True)
    try:
        with AuditLog.open(path) as writer:
            writer.append_many([event(i) for i in range(70, 200)])
            want = {i: writer.prove_inclusion(i, 200) for i in (0, 69, 70, 127, 128, 199)}
            want_root = writer.root()
        sidecar_before = snapshot(path.with_name(path.name + ".nodes"))
        assert reader.size == 200
        assert reader.root() == want_root
        assert {i: reader.prove_inclusion(i, 200) for i in want} == want
        assert reader.verify().root == want_root
        assert snapshot(path.with_name(path.name + ".nodes")) == sidecar_before
        with AuditLog.open(path) as writer:  # small steps: blocks left open between refreshes
            for start in range(200, 300, 7):
                writer.append_many([event(i) for i in range(start, start + 7)])
                assert reader.size == start + 7
                assert reader.root() == writer.root()
                assert reader.prove_consistency(start - 60) == writer.prove_consistency(start - 60)
    finally:
        reader.close()


def test_readonly_append_and_repair_are_refused_with_storage_error(tmp_path: Path) -> None:
    """append, append_many and repair raise StorageError (one line, naming read-only)."""
    path = _make(tmp_path, 5)
    with path.open("ab") as handle:
        handle.write(b'{"torn')
    with read_only(path.parent) as before:
        with AuditLog.open(path, readonly=True) as log:
            for attempt in (
                lambda: log.append(event(5)),
                lambda: log.append_many([event(5)]),
                log.repair,
                lambda: log.store.append(lambda n, prev: [b"x"]),
                log.store.repair,
            ):
                with pytest.raises(StorageError, match="read-only") as err:
                    attempt()
                assert "\n" not in str(err.value)
                assert err.value.exit_code == 2
            damage = log.store.damage  # type: ignore[attr-defined]
            assert damage is not None
            assert damage["kind"] == "torn"
        assert snapshot(path.parent) == before


def test_readonly_open_of_a_missing_log_creates_nothing(tmp_path: Path) -> None:
    """A missing log is a StorageError and no file or sidecar appears; create is refused."""
    before = snapshot(tmp_path)
    with pytest.raises(StorageError, match="no such audit log"):
        AuditLog.open(tmp_path / "none.jsonl", readonly=True)
    with pytest.raises(ConfigError, match="read-only"):
        AuditLog.open(tmp_path / "none.jsonl", readonly=True, create=True)
    assert snapshot(tmp_path) == before


def test_readonly_sidecar_block_reads_recompute_lower_levels(tmp_path: Path) -> None:
    """Without a sidecar, nodes below the memory levels come from the log's lines, not a file."""
    path = _make(tmp_path, 2 << MEMORY_LOW_LEVEL, sidecar=False)
    tree = MemoryTree(_leaves(path))
    store = open_store(str(path), readonly=True)
    try:
        assert not path.with_name(path.name + ".nodes").exists()
        for level in range(MEMORY_LOW_LEVEL + 2):
            for index in range((2 << MEMORY_LOW_LEVEL) >> level):
                assert store.perfect(level, index) == tree.perfect(level, index)
        with pytest.raises(StorageError, match="not indexed"):
            store.perfect(0, 2 << MEMORY_LOW_LEVEL)
    finally:
        store.close()


def test_readonly_open_waits_for_an_append_in_progress(tmp_path: Path) -> None:
    """A reader takes the shared lock: half an append (under the writer's lock) is never torn."""
    import fcntl
    import os
    import threading

    path = _make(tmp_path, 3)
    with AuditLog.open(tmp_path / "other.jsonl", create=True) as other:
        other.append_many([event(i, pad=i % 9) for i in range(4)])
    line = (tmp_path / "other.jsonl").read_bytes().split(b"\n")[3] + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    result: dict[str, object] = {}
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as an appender holds it while writing
        os.write(fd, line[:50])

        def read() -> None:
            with AuditLog.open(path, readonly=True) as log:
                result["size"] = log.size
                result["damage"] = log.store.damage  # type: ignore[attr-defined]

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(0.3)  # the reader is blocked on the lock meanwhile
        os.write(fd, line[50:])
        fcntl.flock(fd, fcntl.LOCK_UN)
        reader.join()
    finally:
        os.close(fd)
    assert result == {"size": 4, "damage": None}


@pytest.mark.parametrize("scheme", ["", "sqlite:"], ids=["jsonl", "sqlite"])
def test_readonly_refuses_writes_for_every_store_kind(tmp_path: Path, scheme: str) -> None:
    """open_store/AuditLog pass readonly through; writes raise StorageError, reads match."""
    url = scheme + str(tmp_path / ("log.db" if scheme else "log.jsonl"))
    with AuditLog.open(url, create=True) as log:
        log.append_many([event(i) for i in range(9)])
        want = (log.size, log.root(), log.prove_inclusion(4), log.prove_consistency(3))
    with AuditLog.open(url, readonly=True) as log:
        assert log.readonly
        assert (log.size, log.root(), log.prove_inclusion(4), log.prove_consistency(3)) == want
        with pytest.raises(StorageError, match="read-only"):
            log.append(event(9))
        with pytest.raises(StorageError, match="read-only"):
            log.store.append(lambda n, prev: [b"{}"])
        with pytest.raises(StorageError, match="read-only"):
            log.repair()
    with pytest.raises(ConfigError):
        open_store(url, readonly=True, create=True)
    with AuditLog.open(url) as log:
        assert log.size == 9


@pytest.mark.parametrize("where", [0, 1, 63, 64, 100, N - 1])
def test_catch_up_by_blocks_finds_what_line_by_line_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: int
) -> None:
    """Indexing a log without sidecar: the block check and the line check name the same damage."""
    from dta.audit.stores import _jsonl_view

    path = _make(tmp_path, sidecar=False)
    lines = path.read_bytes().split(b"\n")
    lines[where] = lines[where].replace(b'"n":', b'"n":1', 1)  # still canonical, hash changed
    path.write_bytes(b"\n".join(lines))

    def opened() -> tuple[int, object]:
        with AuditLog.open(path, readonly=True) as log:
            return log.size, log.store.damage  # type: ignore[attr-defined]

    fast = opened()
    monkeypatch.setattr(_jsonl_view, "clean_lines", lambda *a, **k: 0)
    slow = opened()
    assert fast == slow
    size, damage = fast
    assert isinstance(damage, dict) == (where < N - 1)
    assert size == (where + 1 if where < N - 1 else N)
