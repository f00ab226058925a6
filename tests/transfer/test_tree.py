"""Safe tree walk and hashing: symlinks, FIFOs, sockets, devices, races (DESIGN.md §4)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from dta import _hashing, _hashing_worker
from dta._hashing import hash_tree
from dta._tree import UnsafeEntry, walk
from dta.errors import InputError


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _kinds(unsafe: list[UnsafeEntry]) -> dict[str, str]:
    return {u.path: u.kind for u in unsafe}


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_hashes_match_hashlib_with_one_and_two_workers(tmp_path: Path, mode: str) -> None:
    """Every regular file is hashed exactly as hashlib does, whatever the workers and mode."""
    files = {f"d{i % 3}/f{i}.bin": os.urandom(i * 977) for i in range(40)}
    files["big/large.bin"] = os.urandom(3 * _hashing.CHUNK + 123)
    files["top.txt"] = b"top"
    _tree(tmp_path, files)
    (tmp_path / "link").symlink_to(tmp_path / "top.txt")
    want = {rel: (len(d), hashlib.sha256(d).hexdigest()) for rel, d in files.items()}
    for workers in (1, 2):
        result = hash_tree(tmp_path, workers=workers, mode=mode)
        assert [u.kind for u in result.unsafe] == ["symlink"]
        assert {r[0]: (r[1], r[2]) for r in result.records} == want


def test_unknown_hash_mode_rejected(tmp_path: Path) -> None:
    """A mode other than threads/processes is a usage error, not silently ignored."""
    from dta.errors import UsageError

    with pytest.raises(UsageError, match="hash mode"):
        hash_tree(tmp_path, workers=2, mode="gpu")


def test_process_worker_refuses_directory_swapped_for_symlink(tmp_path: Path) -> None:
    """A worker reaches directories with O_NOFOLLOW: a swapped-in link is not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"secret")
    root = _tree(tmp_path / "root", {"d/f": b"inside"})
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ok = _hashing_worker.decode_result(_hashing_worker.run_task(fd, b"d/\0f"), 1)
        assert ok == ((6,), hashlib.sha256(b"inside").hexdigest())
        (root / "d" / "f").unlink()
        (root / "d").rmdir()
        (root / "d").symlink_to(outside)
        swapped = _hashing_worker.decode_result(_hashing_worker.run_task(fd, b"d/\0f"), 1)
        assert isinstance(swapped, list)
        assert isinstance(swapped[0], _hashing_worker.Failure)
        assert swapped[0].kind == "changed"
    finally:
        os.close(fd)


def test_symlink_pointing_outside_not_followed(tmp_path: Path) -> None:
    """A symlink to a file outside the tree is reported, and the target is never read."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    root = _tree(tmp_path / "root", {"ok.txt": b"x"})
    (root / "leak").symlink_to(secret)
    (root / "dirlink").symlink_to(tmp_path)
    result = hash_tree(root)
    assert [r[0] for r in result.records] == ["ok.txt"]
    kinds = _kinds(result.unsafe)
    assert kinds == {"leak": "symlink", "dirlink": "symlink"}
    assert all("never followed" in u.reason for u in result.unsafe)


def test_fifo_in_tree_does_not_hang(tmp_path: Path) -> None:
    """A FIFO is reported without being opened (opening one for reading would block)."""
    root = _tree(tmp_path, {"a.txt": b"a"})
    os.mkfifo(root / "pipe")
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(hash_tree(root)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done, "hash_tree blocked on a FIFO"
    result = done[0]
    assert isinstance(result, _hashing.TreeHashes)
    assert _kinds(result.unsafe) == {"pipe": "fifo"}


def test_socket_in_tree_reported(tmp_path: Path) -> None:
    """A Unix socket is reported as unsafe and never opened."""
    short = Path(os.environ.get("TMPDIR", "/tmp")) / f"dta-sock-{os.getpid()}"
    short.mkdir(exist_ok=True)
    try:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(short / "s"))
        try:
            result = hash_tree(short)
        finally:
            server.close()
        assert _kinds(result.unsafe) == {"s": "socket"}
    finally:
        (short / "s").unlink(missing_ok=True)
        short.rmdir()


def test_device_file_never_opened(tmp_path: Path) -> None:
    """A character device (a copy of /dev/zero) is reported, not read forever."""
    try:
        os.mknod(tmp_path / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD on this machine")
    result = hash_tree(tmp_path)
    assert _kinds(result.unsafe) == {"zero": "device"}


def test_unsafe_names_on_disk_reported_and_not_entered(tmp_path: Path) -> None:
    """Names with backslashes, colons, bidi characters or reserved names are refused."""
    _tree(
        tmp_path,
        {"a\\b": b"1", "c:d": b"2", "x\u202egpj.exe": b"3", "nul.txt": b"4", "ok": b"5"},
    )
    (tmp_path / "CON").mkdir()
    (tmp_path / "CON" / "inside.txt").write_bytes(b"6")
    result = hash_tree(tmp_path)
    assert [r[0] for r in result.records] == ["ok"]
    kinds = _kinds(result.unsafe)
    assert set(kinds.values()) == {"unsafe-name"}
    assert len(kinds) == 5


def test_undecodable_name_reported(tmp_path: Path) -> None:
    """A name that is not valid UTF-8 is reported, not silently re-encoded."""
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xffname"), "wb") as handle:
        handle.write(b"x")
    result = hash_tree(tmp_path)
    assert result.records == []
    assert [u.kind for u in result.unsafe] == ["unsafe-name"]
    assert "UTF-8" in result.unsafe[0].reason


def test_file_changed_during_hashing_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file appended to while it is being read gets no digest; it is reported as changed."""
    target = tmp_path / "growing.log"
    target.write_bytes(b"x" * (2 * _hashing.CHUNK))
    original = _hashing_worker._read_chunk
    calls = [0]

    def append_after_first_read(fd: int, buf: memoryview) -> int:
        n = original(fd, buf)
        calls[0] += 1
        if calls[0] == 1:
            with target.open("ab") as handle:
                handle.write(b"more")
        return n

    monkeypatch.setattr(_hashing_worker, "_read_chunk", append_after_first_read)
    result = hash_tree(tmp_path, workers=1)
    assert result.records == []
    assert result.unsafe == [
        UnsafeEntry("growing.log", "changed", "changed while it was being hashed")
    ]


def test_small_file_truncated_during_hashing_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file (one read) truncated right after it was read gets no digest."""
    target = tmp_path / "small.csv"
    target.write_bytes(b"a,b\n1,2\n")
    original = _hashing_worker._read_small

    def truncate_after_read(fd: int, size: int) -> bytes:
        data = original(fd, size)
        os.truncate(target, 2)
        return data

    monkeypatch.setattr(_hashing_worker, "_read_small", truncate_after_read)
    result = hash_tree(tmp_path, workers=2)
    assert result.records == []
    assert [u.kind for u in result.unsafe] == ["changed"]


def test_file_rewritten_in_place_during_hashing_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same-size rewrite during the read is caught by mtime/ctime, not trusted."""
    target = tmp_path / "data.bin"
    target.write_bytes(b"a" * (2 * _hashing.CHUNK))
    original = _hashing_worker._read_chunk
    calls = [0]

    def rewrite(fd: int, buf: memoryview) -> int:
        n = original(fd, buf)
        calls[0] += 1
        if calls[0] == 1:
            os.utime(target, ns=(1, 1))
        return n

    monkeypatch.setattr(_hashing_worker, "_read_chunk", rewrite)
    result = hash_tree(tmp_path, workers=2)
    assert [u.kind for u in result.unsafe] == ["changed"]


def test_file_swapped_for_symlink_after_scan_not_followed(tmp_path: Path) -> None:
    """If a file becomes a symlink between the walk and the open, O_NOFOLLOW refuses it."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"outside")
    root = _tree(tmp_path / "root", {"f": b"inside"})
    unsafe: list[UnsafeEntry] = []
    for handle, files in walk(root, unsafe):
        (root / "f").unlink()
        (root / "f").symlink_to(secret)
        name, rel = files[0]
        outcome = _hashing.hash_file(handle.fd, name, rel)
        assert isinstance(outcome, UnsafeEntry)
        assert outcome.kind == "changed"


def test_missing_root_is_input_error(tmp_path: Path) -> None:
    """A root that does not exist or is a file is an I/O error naming it."""
    with pytest.raises(InputError, match="nope"):
        hash_tree(tmp_path / "nope")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(InputError, match="not a directory"):
        hash_tree(tmp_path / "file")


def test_file_swapped_for_fifo_after_scan_not_read(tmp_path: Path) -> None:
    """If a file becomes a FIFO between the walk and the open, it is not read and not waited on."""
    root = _tree(tmp_path, {"f": b"inside"})
    unsafe: list[UnsafeEntry] = []
    for handle, files in walk(root, unsafe):
        (root / "f").unlink()
        os.mkfifo(root / "f")
        outcome = _hashing.hash_file(handle.fd, *files[0])
        assert isinstance(outcome, UnsafeEntry)
        assert outcome.kind == "fifo"
        assert "replaced a file during the scan" in outcome.reason


def test_walk_releases_directory_descriptors(tmp_path: Path) -> None:
    """Directory descriptors are closed after hashing (no leak over many directories)."""
    _tree(tmp_path, {f"d{i}/s{j}/f": b"x" for i in range(20) for j in range(5)})
    before = len(os.listdir("/proc/self/fd"))
    for workers in (1, 2):
        assert len(hash_tree(tmp_path, workers=workers).records) == 100
    assert len(os.listdir("/proc/self/fd")) <= before + 2
