"""Write commands in places the user cannot write: one readable line, exit 2, nothing lost.

A directory the user cannot write (no new entries: no new log, sidecar or moved-aside tail) is
made with ``chmod 0o555`` when not running as root. Root ignores permission bits, so as root
the same condition is simulated by making ``os.open`` with ``O_CREAT`` of a new entry and
``os.mkdir`` in that directory fail with ``EACCES`` (what the kernel does for other users), and a
read-only mount by making every write open fail with ``EROFS``. A path under a regular file
(``ENOTDIR``) fails for root too and is used as it is.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from store_kinds import event
from test_readonly_tree import is_root, snapshot

from dta._cli.main import run
from dta.audit import AuditLog
from dta.errors import StorageError

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@contextmanager
def unwritable_dir(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No new entries can be made in ``directory`` (chmod, or simulated for root)."""
    if not is_root():
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    real_open, real_mkdir = os.open, os.mkdir

    def inside(path: Any) -> bool:
        return Path(os.fsdecode(path)).absolute().parent == directory.absolute()

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and inside(path) and not os.path.lexists(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if inside(path) and not os.path.lexists(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        real_mkdir(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "open", fake_open)
        m.setattr(os, "mkdir", fake_mkdir)
        yield


@contextmanager
def read_only_mount(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every open for writing under ``directory`` fails with EROFS (simulated mount)."""
    real_open = os.open
    top = directory.absolute()

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _WRITE and top in Path(os.fsdecode(path)).absolute().parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "open", fake_open)
        yield


@pytest.fixture
def logdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``logs/log.jsonl`` with 4 records (and its sidecar); the cwd is ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    with AuditLog.open(tmp_path / "logs" / "log.jsonl", create=True) as log:
        log.append_many([event(i) for i in range(4)])
    return tmp_path / "logs"


APPEND = ["--actor", "p:a", "--action", "transfer.sent", "--subject-id", "u:9"]
APPEND += ["--subject-sha256", "ab" * 32]


def _one_line_error(capsys: pytest.CaptureFixture[str], args: list[str], *words: str) -> str:
    capsys.readouterr()
    assert run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("dta: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "internal error" not in err
    for word in words:
        assert word in err
    return err


def test_init_in_an_unwritable_directory_is_one_line_exit_2(
    logdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """init cannot create the log: exit 2, one line naming the path, nothing created."""
    before = snapshot(logdir)
    with unwritable_dir(logdir, monkeypatch):
        _one_line_error(capsys, ["audit", "init", "logs/new.jsonl"], "logs/new.jsonl", "ermission")
    assert snapshot(logdir) == before


def test_init_under_a_regular_file_is_one_line_exit_2(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path under a regular file (ENOTDIR, also for root): exit 2, one line."""
    before = snapshot(logdir)
    _one_line_error(capsys, ["audit", "init", "logs/log.jsonl/x.jsonl"], "Not a directory")
    assert snapshot(logdir) == before
    with pytest.raises(StorageError, match="Not a directory"):
        AuditLog.open(logdir / "log.jsonl" / "x.jsonl", create=True)


def test_append_without_a_sidecar_in_an_unwritable_directory_loses_nothing(
    logdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sidecar cannot be created: append exits 2 with one line; the log is unchanged."""
    shutil.rmtree(logdir / "log.jsonl.nodes")
    before = snapshot(logdir)
    with unwritable_dir(logdir, monkeypatch):
        _one_line_error(capsys, ["audit", "append", "logs/log.jsonl", *APPEND], "sidecar")
        with pytest.raises(StorageError, match="sidecar"):
            AuditLog.open(logdir / "log.jsonl")
        assert run(["audit", "verify", "logs/log.jsonl"]) == 0  # reads still work
    assert snapshot(logdir) == before


def test_append_on_a_read_only_mount_is_one_line_exit_2(
    logdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EROFS (simulated mount): append exits 2 naming the file system; verify still reads."""
    before = snapshot(logdir)
    with read_only_mount(logdir, monkeypatch):
        _one_line_error(
            capsys, ["audit", "append", "logs/log.jsonl", *APPEND], "Read-only file system"
        )
        _one_line_error(capsys, ["audit", "repair", "logs/log.jsonl"], "Read-only file system")
        assert run(["audit", "verify", "logs/log.jsonl"]) == 0
        assert run(["audit", "fsck", "logs/log.jsonl"]) == 0
    assert snapshot(logdir) == before


def test_append_to_a_read_only_log_file_is_one_line_exit_2(
    logdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 0o444 log (EACCES; simulated as root): exit 2 with one line, log unchanged."""
    log = logdir / "log.jsonl"
    log.chmod(0o444)
    before = snapshot(logdir)
    if is_root():  # root opens a 0o444 file for writing: refuse it as the kernel would others
        real_open = os.open

        def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & _WRITE and Path(os.fsdecode(path)).absolute() == log.absolute():
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)
    _one_line_error(capsys, ["audit", "append", "logs/log.jsonl", *APPEND], "ermission denied")
    monkeypatch.undo()
    assert snapshot(logdir) == before
    log.chmod(0o644)


def test_repair_in_an_unwritable_directory_keeps_the_torn_bytes(
    logdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tail cannot be moved aside: repair exits 2 with one line; the log keeps every byte."""
    with (logdir / "log.jsonl").open("ab") as handle:
        handle.write(b'{"_type":"dta.audit-rec')
    with AuditLog.open(logdir / "log.jsonl") as log:  # the sidecar is current before the test
        assert log.size == 4
    before = snapshot(logdir)
    with unwritable_dir(logdir, monkeypatch):
        _one_line_error(capsys, ["audit", "repair", "logs/log.jsonl"], "repair failed", "ermission")
    assert snapshot(logdir) == before
    assert run(["audit", "repair", "logs/log.jsonl"]) == 0  # once writable, it works
    assert run(["audit", "verify", "logs/log.jsonl"]) == 0
