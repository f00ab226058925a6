"""JSONL store specifics: torn tails, explicit repair, the rebuildable sidecar, durability files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from store_kinds import event

from dta.audit import AuditLog, open_store
from dta.errors import ConfigError, StorageError


def _new(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        log.append_many([event(i) for i in range(n)])
    return path


def test_torn_tail_refuses_appends_until_repair(tmp_path: Path) -> None:
    """A partial last line is detected on open; appends fail until repair moves it aside."""
    path = _new(tmp_path)
    good = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"_type":"dta.audit-rec')
    with AuditLog.open(path) as log:
        assert log.fsck()["torn"] == {"offset": len(good), "bytes": 23}
        with pytest.raises(StorageError, match="torn tail at index 5"):
            log.append(event(5))
        fixed = log.repair()
        assert fixed["repaired"]
        assert fixed["size"] == 5
        assert Path(fixed["moved_to"]).read_bytes() == b'{"_type":"dta.audit-rec'
        assert log.append(event(5))[0] == 5
        assert log.verify().ok
    assert path.read_bytes().startswith(good)


def test_torn_tail_shows_in_verify_at_its_index(tmp_path: Path) -> None:
    """verify reads the raw file, so a torn tail is named at the index it would have had."""
    path = _new(tmp_path, 3)
    with path.open("ab") as handle:
        handle.write(b'{"_type"')
    with AuditLog.open(path) as log:
        report = log.verify()
    assert report.fault is not None
    assert (report.fault.index, report.fault.kind) == (3, "malformed")


def test_zero_filled_tail_after_power_loss_is_torn(tmp_path: Path) -> None:
    """NUL bytes past the last record (file size grew, data never written) count as torn."""
    path = _new(tmp_path, 2)
    with path.open("ab") as handle:
        handle.write(b"\x00" * 4096)
    with AuditLog.open(path) as log:
        assert log.fsck()["torn"] is not None
        assert log.repair()["bytes"] == 4096


def test_corruption_before_the_tail_is_not_repaired(tmp_path: Path) -> None:
    """Damage followed by more records is corruption: appends and repair both refuse."""
    path = _new(tmp_path, 6)
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"party:acme", b"party:evil")
    path.write_bytes(b"\n".join(lines))
    shutil.rmtree(path.with_name(path.name + ".nodes"))
    with AuditLog.open(path) as log:
        with pytest.raises(StorageError, match="corrupt tail at index 3"):
            log.append(event(6))
        with pytest.raises(StorageError, match="not a torn tail"):
            log.repair()
        report = log.verify()
    assert report.fault is not None
    assert (report.fault.index, report.fault.kind) == (2, "content-modified")


def test_deleted_sidecar_rebuilt_with_same_proofs(tmp_path: Path) -> None:
    """The sidecar is a cache: without it the log rebuilds it and serves the same root."""
    path = _new(tmp_path, 37)
    with AuditLog.open(path) as log:
        root, proof = log.root(), log.prove_inclusion(11)
    shutil.rmtree(path.with_name(path.name + ".nodes"))
    with AuditLog.open(path) as log:
        assert log.root() == root
        assert log.prove_inclusion(11) == proof


def test_stale_sidecar_from_another_log_rebuilt(tmp_path: Path) -> None:
    """A sidecar left over from a different log (file replaced) is detected and rebuilt."""
    path = _new(tmp_path, 9)
    other = tmp_path / "other.jsonl"
    with AuditLog.open(other, create=True) as log:
        log.append_many([event(100 + i, actor="party:other") for i in range(9)])
        other_root = log.root()
    shutil.copyfile(other, path)
    with AuditLog.open(path) as log:
        assert log.root() == other_root
        assert log.verify().ok


def test_garbled_sidecar_node_found_and_rebuilt_by_fsck(tmp_path: Path) -> None:
    """fsck recomputes every sidecar entry; a wrong interior hash is rebuilt, never trusted."""
    path = _new(tmp_path, 16)
    with AuditLog.open(path) as log:
        root = log.root()
    level1 = path.with_name(path.name + ".nodes") / "L01"
    data = bytearray(level1.read_bytes())
    data[40] ^= 1
    level1.write_bytes(bytes(data))
    with AuditLog.open(path) as log:
        assert log.verify([(16, root)]).ok  # verify never reads the sidecar
        report = log.fsck()
        assert report["rebuilt"] == ["sidecar"]
        assert log.root() == root


def test_sidecar_behind_log_caught_up_on_open(tmp_path: Path) -> None:
    """Records written but not indexed (crash between log and sidecar) are indexed on open."""
    path = _new(tmp_path, 4)
    nodes = path.with_name(path.name + ".nodes")
    saved = {p.name: p.read_bytes() for p in nodes.iterdir()}
    with AuditLog.open(path) as log:
        log.append_many([event(i) for i in range(4, 10)])
        root = log.root()
    for name, data in saved.items():
        (nodes / name).write_bytes(data)
    with AuditLog.open(path) as log:
        assert log.size == 10
        assert log.root() == root


def test_create_in_always_mode_syncs_and_appends(tmp_path: Path) -> None:
    """always mode creates the file (fsynced with its directory) and appends durably."""
    path = tmp_path / "a.jsonl"
    with AuditLog.open(path, durability="always", create=True) as log:
        assert log.append(event(0))[0] == 0
    assert path.read_bytes().endswith(b"\n")


def test_file_url_and_plain_path_open_the_same_log(tmp_path: Path) -> None:
    """file: URLs and plain paths name the same JSONL log; unknown schemes are refused."""
    path = _new(tmp_path, 2)
    with AuditLog.open(f"file://{path}") as log:
        assert log.size == 2
    with pytest.raises(ConfigError):
        open_store("ftp://example.org/log")


def test_directory_is_not_a_log(tmp_path: Path) -> None:
    """Opening a directory as a log is a StorageError, not a crash."""
    with pytest.raises(StorageError):
        AuditLog.open(tmp_path)


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    """Using a closed log is a clear StorageError."""
    path = _new(tmp_path, 1)
    log = AuditLog.open(path)
    log.close()
    log.close()
    with pytest.raises(StorageError):
        log.append(event(1))


def test_repair_never_deletes_bytes(tmp_path: Path) -> None:
    """Across repair the log bytes plus the moved-aside file equal the bytes before."""
    path = _new(tmp_path, 3)
    with path.open("ab") as handle:
        handle.write(b"garbage-without-newline")
    before = path.read_bytes()
    with AuditLog.open(path) as log:
        moved = Path(log.repair()["moved_to"])
    assert path.read_bytes() + moved.read_bytes() == before
    assert oct(os.stat(moved).st_mode & 0o777)


def test_partial_sidecar_entries_after_crash_are_dropped(tmp_path: Path) -> None:
    """Half-written sidecar entries (crash mid-write) are cut and recomputed, not misaligned."""
    path = _new(tmp_path, 13)
    with AuditLog.open(path) as log:
        root = log.root()
    nodes = path.with_name(path.name + ".nodes")
    with (nodes / "offsets").open("ab") as handle:
        handle.write(b"\x00\x01\x02")
    with (nodes / "L00").open("ab") as handle:
        handle.write(b"\x07" * 20)
    level1 = nodes / "L01"
    level1.write_bytes(level1.read_bytes()[:-40])  # last node gone, plus a torn one
    with AuditLog.open(path) as log:
        assert log.root() == root
        log.append(event(13))
        log.append(event(14))
        assert log.fsck()["rebuilt"] == []
        assert log.verify().ok


def test_sidecar_write_failure_does_not_fail_a_committed_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing cache write (disk full for the sidecar) keeps the append; the cache catches up."""
    from dta.audit.stores import _sidecar

    path = _new(tmp_path, 3)
    real = _sidecar.Sidecar.append
    calls = {"n": 0}

    def flaky(self: _sidecar.Sidecar, ends: list[int], nodes: dict[int, list[bytes]]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageError("no space left for the sidecar")
        real(self, ends, nodes)

    monkeypatch.setattr(_sidecar.Sidecar, "append", flaky)
    with AuditLog.open(path) as log:
        assert log.append(event(3))[0] == 3
        assert log.append(event(4))[0] == 4
        assert log.size == 5
        assert log.verify([(5, log.root())]).ok
        assert log.fsck()["rebuilt"] == []


def test_queued_sidecar_entries_written_on_close(tmp_path: Path) -> None:
    """Appends queue their sidecar entries; close writes them, so the next open has no catch-up."""
    path = tmp_path / "log.jsonl"
    nodes = path.with_name(path.name + ".nodes")
    with AuditLog.open(path, create=True, durability="always") as log:
        for i in range(7):
            log.append(event(i))
        assert (nodes / "offsets").stat().st_size < 7 * 8  # still queued in this process
    assert (nodes / "offsets").stat().st_size == 7 * 8
    assert (nodes / "L00").stat().st_size == 7 * 32
    with AuditLog.open(path) as log:
        assert log.fsck()["rebuilt"] == []


def test_other_process_indexing_queued_records_never_misaligns_sidecar(tmp_path: Path) -> None:
    """A second opener indexes the first's queued records; the first then drops its queue."""
    path = _new(tmp_path, 3)
    with AuditLog.open(path) as writer:
        for i in range(3, 9):
            writer.append(event(i))
        with AuditLog.open(path) as reader:  # catches up records 3..8 from the log bytes
            assert reader.size == 9
            reader_root = reader.root()
        writer.append(event(9))
        assert writer.root(9) == reader_root
        assert writer.fsck()["rebuilt"] == []
        root = writer.root()
    with AuditLog.open(path) as log:
        assert log.verify([(9, reader_root), (10, root)]).ok
        assert log.fsck()["rebuilt"] == []
        assert log.prove_inclusion(8) == log.prove_inclusion(8, 10)


@pytest.mark.parametrize("chunk", [7, 100, 1 << 20])
def test_lines_read_in_blocks_match_the_file_for_every_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Block-wise line reading gives exactly the file's lines for any start/stop and block size."""
    from dta.audit.stores import _jsonl

    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        log.append_many([event(i, pad=i * 7) for i in range(23)])
    want = path.read_bytes().split(b"\n")[:-1]
    monkeypatch.setattr(_jsonl, "CHUNK", chunk)
    with AuditLog.open(path) as log:
        for start in (0, 1, 11, 22, 23):
            for stop in (None, start, start + 1, 20, 30):
                assert list(log.store.lines(start, stop)) == want[start:stop]
    with path.open("ab") as handle:
        handle.write(b'{"torn')
    with AuditLog.open(path) as log:
        assert list(log.store.lines(20)) == [*want[20:], b'{"torn']
