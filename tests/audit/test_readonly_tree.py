"""Helpers of the read-only tests (freeze a directory, prove nothing in it changed) and their test.

``chmod`` does not stop root, so a test never relies on the permission error alone: it takes a
:func:`snapshot` (every entry's relative path, type, mode, size, mtime in ns and SHA-256 of its
bytes) before and after, and the two must be equal — that holds for root too.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

Entry = tuple[str, int, int, int, str]


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry under ``root`` (and ``root`` itself) with what would show a change."""
    out: dict[str, Entry] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        digest = ""
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISDIR(st.st_mode):
            digest = ",".join(sorted(os.listdir(path)))
        rel = str(path.relative_to(root))
        out[rel] = (rel, st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


@contextmanager
def read_only(root: Path) -> Iterator[dict[str, Entry]]:
    """Make ``root`` read-only (dirs 0o555, files 0o444) for the block; yield its snapshot.

    The modes are restored afterwards so pytest can clean up.
    """
    modes = {p: p.lstat().st_mode for p in [root, *root.rglob("*")]}
    for path in sorted(modes, key=lambda p: -len(p.parts)):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield snapshot(root)
    finally:
        for path, mode in modes.items():
            if path.exists():
                path.chmod(stat.S_IMODE(mode))


def is_root() -> bool:
    """True when running as root (permission bits do not stop writes)."""
    return os.geteuid() == 0


def test_snapshot_shows_new_files_changed_bytes_and_touched_mtimes(tmp_path: Path) -> None:
    """The helper the read-only tests rely on can fail: each kind of change alters it."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"abc")
    base = snapshot(tmp_path)
    assert snapshot(tmp_path) == base
    (tmp_path / "d" / "f").write_bytes(b"abd")
    changed = snapshot(tmp_path)
    assert changed != base
    os.utime(tmp_path / "d" / "f", ns=(1, 1))
    assert snapshot(tmp_path) != changed
    touched = snapshot(tmp_path)
    (tmp_path / "d" / "g.nodes").mkdir()
    assert snapshot(tmp_path) != touched
