"""The workers' per-file fast path (ADR 0098) keeps every rule of ``hash_one``.

A task's small regular files are hashed in one tight loop; anything else (a special file, a
link swapped in, a large or vanished file) goes through ``hash_one``, and a file changed while
it was read is reported, never hashed again or given a digest. Results keep the task's order.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dta import _hashing_worker
from dta._hashing_worker import Failure, decode_result, run_task
from dta.manifest import build_manifest, verify_tree

REF: dict[str, object] = {"id": "urn:uuid:6f1c2a9e-4b7d-4c1e-9a53-2d8e7f0b1c44", "version": 1}
REF["digest"] = {"sha256": "ab" * 32}


def _run(root: Path, prefix: str, names: list[str]) -> object:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        task = "\0".join([prefix, *names]).encode()
        return decode_result(run_task(fd, task), len(names))
    finally:
        os.close(fd)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fast_path_hashes_small_files_in_task_order(tmp_path: Path) -> None:
    """Every small file hashed: sizes and digests in the order the task names them."""
    (tmp_path / "d").mkdir()
    blobs = {f"f{i}": os.urandom(i * 97) for i in range(6)}
    for name, data in blobs.items():
        (tmp_path / "d" / name).write_bytes(data)
    names = ["f3", "f0", "f5", "f1", "f4", "f2"]
    sizes, hexes = _run(tmp_path, "d/", names)  # type: ignore[misc]
    assert sizes == tuple(len(blobs[n]) for n in names)
    assert hexes == "".join(_sha(blobs[n]) for n in names)


def test_special_link_large_and_vanished_files_leave_the_fast_path(tmp_path: Path) -> None:
    """A FIFO, a symlink swapped in, a vanished name and a large file between small files:
    each gets hash_one's finding or digest, in place, and the small files around them are
    still hashed."""
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret outside the tree")
    root = tmp_path / "root"
    root.mkdir()
    big = os.urandom(_hashing_worker.SMALL + 5)
    (root / "a").write_bytes(b"first")
    os.mkfifo(root / "pipe")
    (root / "link").symlink_to(outside)
    (root / "big").write_bytes(big)
    (root / "z").write_bytes(b"last")
    outcomes = _run(root, "", ["a", "pipe", "link", "gone", "big", "z"])
    assert isinstance(outcomes, list)
    assert outcomes[0] == (5, hashlib.sha256(b"first").digest())
    assert isinstance(outcomes[1], Failure)
    assert outcomes[1].kind == "fifo"
    assert isinstance(outcomes[2], Failure)
    assert outcomes[2].kind == "changed"
    assert "symbolic link" in outcomes[2].reason
    assert isinstance(outcomes[3], Failure)
    assert outcomes[3].kind == "unreadable"
    assert outcomes[4] == (len(big), hashlib.sha256(big).digest())
    assert outcomes[5] == (4, hashlib.sha256(b"last").digest())


def test_file_rewritten_during_fast_read_reported_changed_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file rewritten in place (same size) right after the fast path read it is
    reported as changed: no digest, and no second attempt that could pass it off as fine."""
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode() * 10)
    original = _hashing_worker._read_small
    reads: list[int] = []

    def rewrite_b(fd: int, size: int) -> bytes:
        data = original(fd, size)
        reads.append(size)
        if data == b"b" * 10:
            os.utime(tmp_path / "b", ns=(1, 1))  # same size, new mtime and ctime
        return data

    monkeypatch.setattr(_hashing_worker, "_read_small", rewrite_b)
    outcomes = _run(tmp_path, "", ["a", "b", "c"])
    assert isinstance(outcomes, list)
    assert outcomes[0] == (10, hashlib.sha256(b"a" * 10).digest())
    assert isinstance(outcomes[1], Failure)
    assert outcomes[1].kind == "changed"
    assert outcomes[2] == (10, hashlib.sha256(b"c" * 10).digest())
    assert len(reads) == 3  # "b" was read once, not re-read after the change


def test_file_truncated_during_fast_read_reported_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file truncated after its read: the second fstat differs, no digest."""
    (tmp_path / "t").write_bytes(b"0123456789")
    original = _hashing_worker._read_small

    def truncate(fd: int, size: int) -> bytes:
        data = original(fd, size)
        os.truncate(tmp_path / "t", 3)
        return data

    monkeypatch.setattr(_hashing_worker, "_read_small", truncate)
    outcomes = _run(tmp_path, "", ["t"])
    assert isinstance(outcomes, list)
    assert isinstance(outcomes[0], Failure)
    assert outcomes[0].kind == "changed"


def _build(root: Path) -> dict[str, object]:
    return build_manifest(
        root,
        agreement_ref=REF,
        sender="a",
        recipient="b",
        purpose="test",
        sequence=1,
        previous=None,
        classification=None,
        default_level="internal",
        progress=False,
        hash_mode="threads",
    )


@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_verify_compares_each_task_as_it_arrives_and_finds_every_discrepancy(
    tmp_path: Path, mode: str
) -> None:
    """Tampering spread over many tasks (and a one-file directory) is all reported, sorted,
    whichever mode hashed it; results are compared while the hashing goes on."""
    for i in range(600):
        path = tmp_path / f"d{i % 2}" / f"f{i:04d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(i.to_bytes(4, "big") * 8)
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "only").write_bytes(b"one file, one task")
    body = _build(tmp_path)
    (tmp_path / "d0" / "f0000").write_bytes(b"X" * 32)  # same size, other content
    (tmp_path / "d1" / "f0301").write_bytes(b"short")  # other size
    (tmp_path / "d0" / "f0598").unlink()
    (tmp_path / "d1" / "new").write_bytes(b"not listed")
    (tmp_path / "solo" / "only").write_bytes(b"one file, one tasK")
    check = verify_tree(body, tmp_path, workers=2, hash_mode=mode, progress=False)
    assert [(f.kind, f.path) for f in check.findings] == [
        ("modified", "d0/f0000"),
        ("missing", "d0/f0598"),
        ("size-mismatch", "d1/f0301"),
        ("extra", "d1/new"),
        ("modified", "solo/only"),
    ]
    assert check.files == 601
    assert not check.ok
