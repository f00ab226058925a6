"""The C loop ``_speedups.hash_small_run`` (ADR 0102) gives exactly the Python loop's results.

Both loops run on the same real trees (small, empty, exactly ``SMALL - 1`` and ``SMALL``-sized
files, links, FIFOs, sockets, directories, missing names, NUL and non-bytes names), with both of
the C loop's SHA-256 back ends (OpenSSL resolved at run time, hashlib), one start index at a
time and for whole tasks; nothing is ever read through a link or from a special file, and a
file whose read comes up short is reported as changed. The C loop leaks no references or memory
and is only used when the fault-injection seam is the original.
"""

from __future__ import annotations

import gc
import hashlib
import os
import socket
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dta import _hashing, _hashing_worker
from dta._hashing_worker import SMALL, Failure, _hash_names, hash_one, run_task
from dta.manifest import build_manifest, verify_tree

_speedups = pytest.importorskip("dta._speedups")
if not hasattr(_speedups, "hash_small_run"):
    pytest.skip("dta._speedups was built without hash_small_run", allow_module_level=True)

c_run = _speedups.hash_small_run
BACKENDS = ["auto", "hashlib"]
REF: dict[str, object] = {"id": "urn:uuid:6f1c2a9e-4b7d-4c1e-9a53-2d8e7f0b1c44", "version": 1}
REF["digest"] = {"sha256": "cd" * 32}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once with each SHA-256 back end of the C loop."""
    _speedups.hash_sha256_backend(request.param)
    try:
        yield request.param
    finally:
        _speedups.hash_sha256_backend("auto")


@pytest.fixture
def python_loop(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A switch that makes ``_hash_small_run`` use its Python loop for the rest of the test."""
    return lambda: monkeypatch.setattr(_hashing_worker, "_c_small_run", None)


def _hostile_tree(root: Path) -> list[bytes]:
    """A directory with every kind of entry the loops must tell apart; returns task names."""
    outside = root.parent / "outside-secret"
    outside.write_bytes(b"never read")
    root.mkdir()
    sizes = {b"empty": 0, b"one": 1, b"four-k": 4096, b"below": SMALL - 1, b"at": SMALL}
    sizes[b"above"] = SMALL + 1
    for name, size in sizes.items():
        (root / name.decode()).write_bytes(os.urandom(size))
    (root / "link-out").symlink_to(outside)
    (root / "link-in").symlink_to(root / "one")
    (root / "dangling").symlink_to(root / "nothing")
    (root / "subdir").mkdir()
    (root / "dirlink").symlink_to(root / "subdir")
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    sock.close()
    (root / "caf\u00e9").write_bytes(b"nfc name")
    return [
        b"one", b"empty", b"four-k", b"below", b"at", b"one", b"above", b"link-out", b"empty",
        b"link-in", b"dangling", b"subdir", b"dirlink", b"fifo", b"sock", b"missing", b"",
        "caf\u00e9".encode(), b"below", b"one",
    ]  # fmt: skip


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def _py_loop(dir_fd: int, names: list[bytes], start: int) -> tuple[object, list[int], list[bytes]]:
    sizes: list[int] = []
    digests: list[bytes] = []
    saved = _hashing_worker._c_small_run
    _hashing_worker._c_small_run = None
    try:
        at, failure = _hashing_worker._hash_small_run(dir_fd, names, start, sizes, digests)
    finally:
        _hashing_worker._c_small_run = saved
    return (at, failure is not None), sizes, digests


def _c_loop(dir_fd: int, names: list[bytes], start: int) -> tuple[object, list[int], list[bytes]]:
    sizes: list[int] = []
    digests: list[bytes] = []
    stop = c_run(dir_fd, names, start, SMALL, sizes, digests)
    return stop, sizes, digests


def test_c_loop_is_the_default_where_built() -> None:
    """With the extension built (and DTA_PURE_PYTHON unset) the worker uses the C loop."""
    if os.environ.get("DTA_PURE_PYTHON"):
        pytest.skip("DTA_PURE_PYTHON is set")
    assert _hashing_worker._c_small_run is c_run
    assert _speedups.hash_sha256_backend("") in {"evp", "hashlib"}


def test_every_start_index_stops_where_the_python_loop_stops(tmp_path: Path, backend: str) -> None:
    """From every start index over a hostile directory: same stop index, same changed flag,
    same sizes and digests as the Python loop; links, FIFOs, sockets, directories, missing
    and empty names and files of SMALL bytes or more all stop the loop unread."""
    names = _hostile_tree(tmp_path / "root")
    fd = _open_dir(tmp_path / "root")
    try:
        for start in range(len(names) + 2):
            assert _c_loop(fd, names, start) == _py_loop(fd, names, start), start
    finally:
        os.close(fd)
    stops = set()
    at = 0
    fd = _open_dir(tmp_path / "root")
    try:
        while at < len(names):
            at = c_run(fd, names, at, SMALL, [], [])[0]
            if at < len(names):
                stops.add(names[at])
            at += 1
    finally:
        os.close(fd)
    for special in (b"at", b"above", b"link-out", b"link-in", b"dangling", b"subdir"):
        assert special in stops
    for special in (b"dirlink", b"fifo", b"sock", b"missing", b""):
        assert special in stops


def test_digests_are_sha256_of_the_file_contents(tmp_path: Path, backend: str) -> None:
    """Empty, one-byte, 4 KiB and SMALL - 1 byte files: the digest of exactly their bytes."""
    names = [b"empty", b"one", b"four-k", b"below"]
    _hostile_tree(tmp_path / "root")
    fd = _open_dir(tmp_path / "root")
    try:
        stop, sizes, digests = _c_loop(fd, names, 0)
    finally:
        os.close(fd)
    assert stop == (4, False)
    contents = [(tmp_path / "root" / n.decode()).read_bytes() for n in names]
    assert sizes == [0, 1, 4096, SMALL - 1]
    assert digests == [hashlib.sha256(data).digest() for data in contents]


def test_nul_and_non_bytes_names_stop_the_c_loop_and_hash_one_decides(
    tmp_path: Path, backend: str
) -> None:
    """A name with a NUL (or not bytes at all) is never passed to openat: the C loop stops
    there, and the whole task ends exactly as with the Python loop (which raises the same
    ValueError / TypeError from os.open, or hashes a str name through hash_one)."""
    (tmp_path / "a").write_bytes(b"aaa")
    (tmp_path / "b").write_bytes(b"bbb")
    fd = _open_dir(tmp_path)
    try:
        assert c_run(fd, [b"a", b"a\0/etc/passwd", b"b"], 0, SMALL, [], []) == (1, False)
        assert c_run(fd, [b"a", "b", b"b"], 0, SMALL, [], []) == (1, False)
        assert c_run(fd, [b"a", bytearray(b"b")], 0, SMALL, [], []) == (1, False)  # type: ignore[list-item]
        c_mixed = _hash_names(fd, [b"a", "b", b"b"])  # type: ignore[list-item]
        for names, error in (([b"a", b"a\0b"], ValueError), ([b"a", 7], TypeError)):
            with pytest.raises(error):
                _hash_names(fd, names)  # type: ignore[arg-type]
            saved = _hashing_worker._c_small_run
            _hashing_worker._c_small_run = None
            try:
                with pytest.raises(error):
                    _hash_names(fd, names)  # type: ignore[arg-type]
                py_mixed = _hash_names(fd, [b"a", "b", b"b"])  # type: ignore[list-item]
            finally:
                _hashing_worker._c_small_run = saved
    finally:
        os.close(fd)
    assert c_mixed == py_mixed
    assert c_mixed == ([3, 3, 3], [hashlib.sha256(x).digest() for x in (b"aaa", b"bbb", b"bbb")])


def test_a_negative_descriptor_opens_nothing_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dir_fd < 0 (AT_FDCWD included) stops at once: no name is resolved against the cwd."""
    (tmp_path / "here").write_bytes(b"in the working directory")
    monkeypatch.chdir(tmp_path)
    for bad in (-1, -100):
        sizes: list[int] = []
        assert c_run(bad, [b"here"], 0, SMALL, sizes, []) == (0, False)
        assert sizes == []


def test_arguments_are_checked(tmp_path: Path) -> None:
    """Wrong types and out-of-range numbers raise; nothing is appended."""
    fd = _open_dir(tmp_path)
    sizes: list[int] = []
    digests: list[bytes] = []
    try:
        bad_calls: list[tuple[type[Exception], tuple[object, ...]]] = [
            (TypeError, (fd, (b"a",), 0, SMALL, sizes, digests)),
            (TypeError, (fd, [b"a"], 0, SMALL, (), digests)),
            (TypeError, (fd, [b"a"], 0, SMALL, sizes, None)),
            (TypeError, (fd, [b"a"], 0, SMALL, sizes)),
            (TypeError, ("3", [b"a"], 0, SMALL, sizes, digests)),
            (ValueError, (fd, [b"a"], -1, SMALL, sizes, digests)),
            (ValueError, (fd, [b"a"], 0, 0, sizes, digests)),
            (ValueError, (fd, [b"a"], 0, (1 << 30) + 1, sizes, digests)),
            (OverflowError, (1 << 40, [b"a"], 0, SMALL, sizes, digests)),
            (OverflowError, (fd, [b"a"], 1 << 70, SMALL, sizes, digests)),
        ]
        for error, args in bad_calls:
            with pytest.raises(error):
                c_run(*args)
        with pytest.raises(ValueError):
            _speedups.hash_sha256_backend("md5")
    finally:
        os.close(fd)
    assert sizes == []
    assert digests == []


def test_short_read_of_a_regular_file_is_reported_changed(backend: str) -> None:
    """A sysfs attribute claims 4096 bytes and holds fewer: the byte count differs from
    fstat's size, so both loops report it changed (no digest), as for a file truncated
    during the read."""
    candidates = [
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/profiling",
        "/sys/kernel/uevent_seqnum",
    ]
    for path in candidates:
        try:
            st = os.stat(path)
            with open(path, "rb") as handle:
                short = 0 < len(handle.read()) < st.st_size
        except OSError:
            continue
        if short:
            break
    else:
        pytest.skip("no sysfs attribute with a short read here")
    directory, name = os.path.split(path)
    fd = _open_dir(Path(directory))
    try:
        names = [name.encode()]
        assert _c_loop(fd, names, 0) == ((0, True), [], [])
        assert _py_loop(fd, names, 0) == ((0, True), [], [])
    finally:
        os.close(fd)


def test_whole_tasks_give_the_same_result_message(tmp_path: Path, backend: str) -> None:
    """run_task over the hostile directory: byte-identical result messages from both loops."""
    names = _hostile_tree(tmp_path / "root")
    task = b"\0".join([b"root/", *[n for n in names if n]])
    fd = _open_dir(tmp_path)
    try:
        c_message = run_task(fd, task)
        saved = _hashing_worker._c_small_run
        _hashing_worker._c_small_run = None
        try:
            py_message = run_task(fd, task)
        finally:
            _hashing_worker._c_small_run = saved
    finally:
        os.close(fd)
    assert c_message == py_message
    assert c_message[:1] == b"\x01"  # with failures: per-file outcomes


def test_replaced_read_seam_keeps_the_python_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that patches _read_small still sees every small file go through it."""
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(name.encode() * 3)
    seen: list[int] = []
    original = _hashing_worker._read_small

    def spy(fd: int, size: int) -> bytes:
        seen.append(size)
        return original(fd, size)

    monkeypatch.setattr(_hashing_worker, "_read_small", spy)
    fd = _open_dir(tmp_path)
    try:
        assert _hash_names(fd, [b"a", b"b"]) == (
            [3, 3],
            [hashlib.sha256(b"aaa").digest(), hashlib.sha256(b"bbb").digest()],
        )
    finally:
        os.close(fd)
    assert seen == [3, 3]


def test_no_reference_or_memory_leak(tmp_path: Path, backend: str) -> None:
    """Thousands of calls over hashed, stopping and failing paths leave every refcount and
    the traced memory where they were."""
    # Fresh objects, referenced only by this list (and the loop variable while counted).
    names = [bytes(bytearray(n)) for n in _hostile_tree(tmp_path / "root")]
    fd = _open_dir(tmp_path / "root")
    small = int(str(SMALL))
    counted = [n for n in names if len(n) > 1]  # b"" and 1-byte bytes are shared singletons
    counts_before = [sys.getrefcount(n) for n in counted]
    small_before = sys.getrefcount(small)

    def churn() -> None:
        for start in range(len(names)):
            sizes: list[int] = []
            digests: list[bytes] = []
            c_run(fd, names, start, small, sizes, digests)
        with pytest.raises(TypeError):
            c_run(fd, names, 0, small, [], None)

    try:
        churn()  # first use: back end resolved, interned names created
        gc.collect()
        tracemalloc.start()
        try:
            churn()
            gc.collect()
            start_mem = tracemalloc.get_traced_memory()[0]
            for _ in range(150):
                churn()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - start_mem
        finally:
            tracemalloc.stop()
    finally:
        os.close(fd)
    assert [sys.getrefcount(n) for n in counted] == counts_before
    assert sys.getrefcount(small) == small_before
    assert grown < 16 * 1024


def _manifest(root: Path) -> dict[str, object]:
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


@pytest.mark.parametrize("loop", ["c", "python"])
def test_verify_with_either_loop_finds_the_same_discrepancies(
    tmp_path: Path, loop: str, python_loop: Callable[[], None]
) -> None:
    """verify_tree in worker processes, C or Python loop: the same findings, in order."""
    for i in range(300):
        path = tmp_path / f"d{i % 3}" / f"f{i:04d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(i * 13))
    body = _manifest(tmp_path)
    if loop == "python":
        python_loop()
    (tmp_path / "d0" / "f0003").write_bytes(b"Z" * 39)  # same size, other content
    (tmp_path / "d1" / "f0004").write_bytes(b"short")
    (tmp_path / "d2" / "f0005").unlink()
    os.mkfifo(tmp_path / "d2" / "f0005")  # a FIFO in place of a listed file
    (tmp_path / "d1" / "f0007").unlink()
    (tmp_path / "d1" / "f0007").symlink_to(tmp_path / "d0" / "f0000")
    check = verify_tree(body, tmp_path, workers=2, hash_mode="processes", progress=False)
    assert not check.ok
    kinds = [(f.kind, f.path) for f in check.findings]
    assert ("modified", "d0/f0003") in kinds
    assert ("size-mismatch", "d1/f0004") in kinds
    assert any(path == "d2/f0005" for _, path in kinds)
    assert any(path == "d1/f0007" for _, path in kinds)
    assert len(kinds) == 4


def test_pure_python_setting_keeps_the_python_loop() -> None:
    """DTA_PURE_PYTHON=1 in a fresh interpreter: the worker does not take the C loop."""
    code = "from dta import _hashing_worker as w; print(w._c_small_run is None)"
    env = {**os.environ, "DTA_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"


def test_failure_of_the_c_loop_is_a_changed_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wrapper turns the C loop's changed flag into the same Failure as the Python loop."""
    (tmp_path / "x").write_bytes(b"x")

    def changed_at_zero(*args: object) -> tuple[int, bool]:
        return 0, True

    monkeypatch.setattr(_hashing_worker, "_c_small_run", changed_at_zero)
    fd = _open_dir(tmp_path)
    try:
        outcomes = _hash_names(fd, [b"x"])
    finally:
        os.close(fd)
    assert isinstance(outcomes, list)
    assert isinstance(outcomes[0], Failure)
    assert (outcomes[0].kind, outcomes[0].reason) == (
        "changed",
        "changed while it was being hashed",
    )


@pytest.mark.parametrize("loop", ["c", "python"])
def test_thread_batches_give_hash_one_outcomes(
    tmp_path: Path, loop: str, python_loop: Callable[[], None]
) -> None:
    """Threads mode hashes a batch through the workers' loop: per file, exactly what
    hash_one finds (digest, or the same failure kind and reason), with either loop."""
    names = [n for n in _hostile_tree(tmp_path / "root") if n]
    if loop == "python":
        python_loop()
    batch = [(os.fsdecode(n), os.fsdecode(n)) for n in names]
    plain = [(n, n) for n in ("one", "empty", "four-k", "below")]
    fd = _open_dir(tmp_path / "root")
    try:
        expected = [hash_one(fd, name) for name, _ in batch]
        got = _hashing._hash_listed(fd, batch)
        all_hashed = _hashing._hash_listed(fd, plain)
        plain_expected = [hash_one(fd, name) for name, _ in plain]
    finally:
        os.close(fd)
    assert isinstance(got, list)
    assert [_key(o) for o in got] == [_key(o) for o in expected]
    assert all_hashed == (
        tuple(o[0] for o in plain_expected),  # type: ignore[index]
        "".join(o[1].hex() for o in plain_expected),  # type: ignore[union-attr,index]
    )


def _key(outcome: object) -> object:
    return (outcome.kind, outcome.reason) if isinstance(outcome, Failure) else outcome
