"""The safe walk with directories read in C (``_speedups.scan_names``, ADR 0102) yields exactly
what it yields with ``os.scandir``: the same files in the same order, the same unsafe entries
(links, FIFOs, sockets, unsafe and undecodable names, directories with unsafe names) and the
same directories entered; nothing is followed either way."""

from __future__ import annotations

import gc
import os
import socket
import tracemalloc
from collections.abc import Container
from pathlib import Path

import pytest

from dta import _tree
from dta._tree import UnsafeEntry, walk

_speedups = pytest.importorskip("dta._speedups")
if not hasattr(_speedups, "scan_names"):
    pytest.skip("dta._speedups was built without scan_names", allow_module_level=True)

scan_names = _speedups.scan_names


def _walked(
    root: Path, known: Container[str] = ()
) -> tuple[list[list[tuple[str, str]]], list[UnsafeEntry]]:
    unsafe: list[UnsafeEntry] = []
    files = [list(batch) for _, batch in walk(root, unsafe, known)]
    return files, unsafe


def _both(root: Path, known: Container[str] = ()) -> tuple[object, object]:
    with_c = _walked(root, known)
    saved = _tree._c_scan_names
    _tree._c_scan_names = None
    try:
        without = _walked(root, known)
    finally:
        _tree._c_scan_names = saved
    return with_c, without


def _plain_tree(root: Path) -> None:
    for d in range(4):
        for s in range(3):
            sub = root / f"d{d}" / f"s{s}"
            sub.mkdir(parents=True)
            for f in range(d * 7 + s):
                (sub / f"f{f:03d}.dat").write_bytes(b"x" * f)
        (root / f"d{d}" / "top.txt").write_bytes(b"t")
    (root / "empty").mkdir()


def _hostile_tree(root: Path) -> None:
    _plain_tree(root)
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"never read")
    (root / "d0" / "link-out").symlink_to(outside / "secret")
    (root / "d1" / "dirlink").symlink_to(outside)
    os.mkfifo(root / "d2" / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "d3" / "sock"))
    sock.close()
    for name in ("CON", "a:b", "trail.", "x\\y", "nul.txt", "~home"):
        (root / "d0" / "s1" / name).write_bytes(b"bad name")
    for parent in ("d1", "e"):  # "e" holds only directories: read in C, names checked there
        for name in ("con", "dir.", "c:d"):
            (root / parent / name).mkdir(parents=True)
            (root / parent / name / "inside").write_bytes(b"not entered")
    os.makedirs(os.fsencode(root / "d2" / "s0") + b"/undecodable-\xff-dir")
    with open(os.fsencode(root / "d2" / "s0") + b"/undecodable-\xfe", "wb") as handle:
        handle.write(b"bytes name")
    (root / "d3" / "s2" / "line\nbreak").write_bytes(b"newline in name")


@pytest.mark.parametrize("tree", [_plain_tree, _hostile_tree])
def test_walk_is_the_same_with_and_without_c(tmp_path: Path, tree: object) -> None:
    """Files, their order, unsafe entries and their reasons: identical."""
    root = tmp_path / "root"
    root.mkdir()
    tree(root)  # type: ignore[operator]
    with_c, without = _both(root)
    assert with_c == without
    files, unsafe = with_c  # type: ignore[misc]
    assert sum(map(len, files)) > 50
    if tree is _hostile_tree:
        kinds = {(u.path, u.kind) for u in unsafe}
        assert ("d0/link-out", "symlink") in kinds
        assert ("d1/dirlink", "symlink") in kinds
        assert ("d2/fifo", "fifo") in kinds
        assert ("d3/sock", "socket") in kinds
        assert ("d1/con", "unsafe-name") in kinds
        assert ("e/con", "unsafe-name") in kinds
        assert ("e/dir.", "unsafe-name") in kinds
        assert not any("inside" in rel for batch in files for _, rel in batch)
        assert not any("secret" in rel for batch in files for _, rel in batch)


def test_walk_with_known_paths_is_the_same(tmp_path: Path) -> None:
    """With a manifest's paths as ``known`` (some listed, some not): identical walks."""
    root = tmp_path / "root"
    root.mkdir()
    _hostile_tree(root)
    known = {"d0/s1/CON": 0, "d1/s0/f000.dat": 1, "d3/s2/f004.dat": 2, "d0/top.txt": 3}
    with_c, without = _both(root, known)
    assert with_c == without


def test_scan_names_matches_scandir_and_leaves_the_offset_at_the_start(tmp_path: Path) -> None:
    """The names and order of os.scandir; reading with C first does not hide entries from a
    later os.scandir of the same descriptor (they share the file offset)."""
    root = tmp_path / "root"
    root.mkdir()
    _hostile_tree(root)
    for directory in (root, root / "d0", root / "d0" / "s1", root / "d2" / "s0"):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            regular, dirs, others = scan_names(fd)
            entries = list(os.scandir(fd))
            assert regular == [e.name for e in entries if e.is_file(follow_symlinks=False)]
            assert dirs == [e.name for e in entries if e.is_dir(follow_symlinks=False)]
            assert others == len(entries) - len(regular) - len(dirs)
            assert scan_names(fd) == (regular, dirs, others)
        finally:
            os.close(fd)


def test_scan_names_errors_are_oserrors_like_scandir(tmp_path: Path) -> None:
    """A file descriptor of a regular file, a closed descriptor, a negative number."""
    (tmp_path / "f").write_bytes(b"")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with pytest.raises(NotADirectoryError):
            scan_names(fd)
        with pytest.raises(NotADirectoryError):
            os.scandir(fd)
    finally:
        os.close(fd)
    with pytest.raises(OSError, match="Bad file descriptor"):
        scan_names(fd)
    with pytest.raises(ValueError, match="descriptor"):
        scan_names(-1)
    with pytest.raises(TypeError):
        scan_names("3")  # type: ignore[arg-type]


def test_unreadable_directory_is_reported_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory whose scan fails is reported as unreadable with the same reason."""
    root = tmp_path / "root"
    root.mkdir()
    _plain_tree(root)

    def failing(fd: int) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_tree, "_c_scan_names", failing)
    unsafe: list[UnsafeEntry] = []
    assert [list(b) for _, b in walk(root, unsafe)] == [[]]
    assert [(u.path, u.kind, u.reason) for u in unsafe] == [
        (".", "unreadable", "permission denied")
    ]


def test_scan_names_leaks_nothing(tmp_path: Path) -> None:
    """Repeated scans of a directory of many names leave the traced memory where it was."""
    root = tmp_path / "root"
    root.mkdir()
    _hostile_tree(root)
    fd = os.open(root / "d3" / "s2", os.O_RDONLY | os.O_DIRECTORY)
    try:
        scan_names(fd)
        gc.collect()
        tracemalloc.start()
        try:
            scan_names(fd)
            start = tracemalloc.get_traced_memory()[0]
            for _ in range(500):
                scan_names(fd)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - start
        finally:
            tracemalloc.stop()
    finally:
        os.close(fd)
    assert grown < 16 * 1024


def test_known_files_only_when_every_path_is_known(tmp_path: Path) -> None:
    """A directory is marked all-known (so verify's selection skips its lookups) only when
    every one of its paths is in the container the walk was given; an unlisted file anywhere
    in it leaves a plain list that verify checks path by path (and reports as extra)."""
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for name in ("x", "y"):
        (root / "a" / name).write_bytes(b"1")
        (root / "b" / name).write_bytes(b"2")
    known = {"a/x": 0, "a/y": 1, "b/x": 2}
    unsafe: list[UnsafeEntry] = []
    seen = {}
    for _, files in walk(root, unsafe, known):
        if files:
            seen[files[0][1].split("/")[0]] = files
    assert type(seen["a"]) is _tree.KnownFiles
    assert seen["a"].known is known
    assert type(seen["b"]) is list
    assert sorted(seen["b"]) == [("x", "b/x"), ("y", "b/y")]
