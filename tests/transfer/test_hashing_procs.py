"""Hashing worker processes: safe start, lost workers, wire format, auto mode (ADR 0066)."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from dta import _hashing, _hashing_procs, _hashing_worker
from dta._hashing import hash_tree
from dta.errors import InputError, UsageError
from dta.manifest import build_manifest, verify_tree

REF: dict[str, object] = {"id": "urn:uuid:6f1c2a9e-4b7d-4c1e-9a53-2d8e7f0b1c44", "version": 1}
REF["digest"] = {"sha256": "ab" * 32}


def _tree(root: Path, count: int = 24, name: str = "f{i}.bin") -> dict[str, tuple[int, str]]:
    want = {}
    for i in range(count):
        rel = f"d{i % 3}/{name.format(i=i)}"
        data = os.urandom(i * 131)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        want[rel] = (len(data), hashlib.sha256(data).hexdigest())
    return want


def _found(result: _hashing.TreeHashes) -> dict[str, tuple[int, str]]:
    return {path: (size, digest) for path, size, digest in result.records}


def _children() -> set[str]:
    found: set[str] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as handle:
            found.update(handle.read().split())
    return found


def test_threaded_caller_is_never_forked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With another thread alive the caller is not forked: fresh worker interpreters hash."""
    want = _tree(tmp_path)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()

    def no_fork() -> int:
        raise AssertionError("forked a multi-threaded process")

    monkeypatch.setattr(os, "fork", no_fork)
    try:
        assert _hashing_procs.start_method() == "spawn"
        assert _found(hash_tree(tmp_path, workers=2, mode="processes")) == want
    finally:
        stop.set()
        other.join()


def test_no_worker_outlives_the_call(tmp_path: Path) -> None:
    """Every worker process is reaped before hash_tree returns."""
    _tree(tmp_path)
    before = _children()
    hash_tree(tmp_path, workers=2, mode="processes")
    assert _children() <= before


def test_dead_workers_leave_their_tasks_to_the_parent(tmp_path: Path) -> None:
    """Killed workers lose nothing: the parent hashes their tasks itself with the same code."""
    want = _tree(tmp_path)
    method = _hashing_procs.start_method()
    assert method is not None
    got: dict[str, tuple[int, str]] = {}

    def collect(rels: list[str], decoded: Any) -> None:
        assert not isinstance(decoded, list)
        sizes, hexes = decoded
        for i, rel in enumerate(rels):
            got[rel] = (sizes[i], hexes[64 * i : 64 * i + 64])

    root_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with _hashing_procs.Pool(root_fd, 2, method) as pool:
            for worker in pool.workers.values():
                os.kill(worker.pid, signal.SIGKILL)
            tasks = [
                _hashing_procs.task(f"d{d}/", [p.split("/")[1] for p in paths], paths)
                for d in range(3)
                for paths in [[p for p in want if p.startswith(f"d{d}/")]]
            ]
            pool.run(iter(tasks), collect)
            assert not pool.workers
    finally:
        os.close(root_fd)
    assert got == want


def test_worker_failures_cross_the_wire(tmp_path: Path) -> None:
    """A file a worker cannot hash comes back as a reason, next to the others' digests."""
    (tmp_path / "ok").write_bytes(b"fine")
    method = _hashing_procs.start_method()
    assert method is not None
    results: list[Any] = []
    root_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with _hashing_procs.Pool(root_fd, 1, method) as pool:
            task = _hashing_procs.task("", ["gone", "ok"], ["gone", "ok"])
            pool.run(iter([task]), lambda rels, decoded: results.append(decoded))
    finally:
        os.close(root_fd)
    [outcomes] = results
    assert isinstance(outcomes[0], _hashing_worker.Failure)
    assert outcomes[0].kind == "unreadable"
    assert outcomes[1] == (4, hashlib.sha256(b"fine").digest())


def test_malformed_worker_results_rejected() -> None:
    """A truncated, unknown or padded result message is refused, never half-trusted."""
    good = _hashing_worker.run_task(-1, b"")  # no names: an empty, well-formed result
    assert _hashing_worker.decode_result(good, 0) == ((), "")
    ok = b"\x00" + (5).to_bytes(8, "little") + b"\x11" * 32
    assert _hashing_worker.decode_result(ok, 1) == ((5,), "11" * 32)
    for bad, count in [(ok[:-1], 1), (b"\x07" + ok[1:], 1), (b"\x01\x00" + ok[1:] + b"x", 1)]:
        with pytest.raises(ValueError, match="hashing worker"):
            _hashing_worker.decode_result(bad, count)


def test_long_names_fill_the_sockets_without_deadlock(tmp_path: Path) -> None:
    """Tasks of many 200-byte names (large messages both ways) all complete."""
    want = _tree(tmp_path, count=600, name="{i:05d}" + "n" * 195)
    assert _found(hash_tree(tmp_path, workers=2, mode="processes")) == want


def test_auto_mode_uses_threads_for_a_small_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree below the threshold is hashed without starting any process."""
    want = _tree(tmp_path)

    def no_pool(*args: object) -> None:
        raise AssertionError("started processes for a small tree")

    monkeypatch.setattr(_hashing_procs, "Pool", no_pool)
    assert _found(hash_tree(tmp_path, workers=2)) == want


def test_auto_mode_uses_processes_for_many_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the threshold, auto mode hands every file (buffered ones too) to worker processes."""
    want = _tree(tmp_path)
    started = []
    real = _hashing_procs.Pool

    def counting(*args: Any) -> _hashing_procs.Pool:
        started.append(args)
        return real(*args)

    monkeypatch.setattr(_hashing, "_AUTO_MIN_FILES", {"fork": 5, "spawn": 5})
    monkeypatch.setattr(_hashing_procs, "Pool", counting)
    assert _found(hash_tree(tmp_path, workers=2)) == want
    assert len(started) == 1


def test_processes_that_cannot_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto mode falls back to threads; an explicit processes request fails clearly."""
    want = _tree(tmp_path)

    def broken(*args: object) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(_hashing, "_AUTO_MIN_FILES", {"fork": 5, "spawn": 5})
    monkeypatch.setattr(_hashing_procs, "Pool", broken)
    assert _found(hash_tree(tmp_path, workers=2)) == want
    with pytest.raises(InputError, match="cannot start hashing processes"):
        hash_tree(tmp_path, workers=2, mode="processes")
    monkeypatch.setattr(_hashing_procs, "start_method", lambda: None)
    with pytest.raises(UsageError, match="processes"):
        hash_tree(tmp_path, workers=2, mode="processes")
    assert _found(hash_tree(tmp_path, workers=2)) == want


def test_verify_findings_same_in_every_mode(tmp_path: Path) -> None:
    """Modified, resized, missing and extra files are reported alike by threads and processes."""
    _tree(tmp_path, count=60)
    body = build_manifest(
        tmp_path,
        agreement_ref=REF,
        sender="a",
        recipient="b",
        purpose="p",
        sequence=1,
        previous=None,
        classification=None,
        default_level="internal",
        workers=1,
    )
    (tmp_path / "d0/f3.bin").write_bytes(b"x" * (3 * 131))  # same size, other bytes
    (tmp_path / "d1/f4.bin").write_bytes(b"short")
    (tmp_path / "d2/f5.bin").unlink()
    (tmp_path / "d2/new.bin").write_bytes(b"extra")
    results = {
        mode: [f.to_dict() for f in verify_tree(body, tmp_path, workers=2, hash_mode=mode).findings]
        for mode in ("threads", "processes", "auto")
    }
    assert results["threads"] == results["processes"] == results["auto"]
    assert [(f["kind"], f["path"]) for f in results["threads"]] == [
        ("modified", "d0/f3.bin"),
        ("size-mismatch", "d1/f4.bin"),
        ("missing", "d2/f5.bin"),
        ("extra", "d2/new.bin"),
    ]
