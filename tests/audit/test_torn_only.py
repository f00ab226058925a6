"""A torn tail reads the same everywhere, whether it follows records or is all the file holds.

A torn tail is the bytes after the last complete record that a crash left (no newline, or only
NUL bytes and newlines). It was never acknowledged, so it is never a record — even when its
bytes would parse as the next record. ``AuditLog.open`` (read-write and read-only), ``size``,
``records``, ``verify``, ``fsck`` and the CLI's ``verify``, ``fsck``, ``show``, ``export`` and
``checkpoint`` must all name the same index ``n`` (the number of complete records).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store_kinds import event

from dta import keys
from dta._cli.main import run
from dta.audit import AuditLog

FRAGMENTS = ["garbage", "whole-record-without-newline", "zeros", "zeros-and-newlines"]


def _log(tmp_path: Path, n: int, fragment: str) -> tuple[Path, int]:
    """A log of ``n`` complete records followed by a torn tail; returns (path, tail offset)."""
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        log.append_many([event(i) for i in range(n + 1)])
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]
    good = b"".join(line + b"\n" for line in lines[:n])
    tail = {
        "garbage": b'{"_type":"dta.audit-rec',
        "whole-record-without-newline": lines[n],  # parses as record n, never committed
        "zeros": b"\x00" * 512,
        "zeros-and-newlines": b"\x00\x00\n\x00\n\x00",
    }[fragment]
    path.write_bytes(good + tail)
    return path, len(good)


@pytest.mark.parametrize("fragment", FRAGMENTS)
@pytest.mark.parametrize("n", [0, 3], ids=["torn-only", "records-then-torn"])
@pytest.mark.parametrize("readonly", [False, True], ids=["rw", "ro"])
def test_api_names_the_torn_tail_at_the_same_index(
    tmp_path: Path, n: int, fragment: str, readonly: bool
) -> None:
    """open, size, records, verify and fsck agree: n records, torn tail at index n."""
    path, offset = _log(tmp_path, n, fragment)
    size = path.stat().st_size
    with AuditLog.open(path, readonly=readonly) as log:
        assert log.size == n
        damage = log.store.damage  # type: ignore[attr-defined]
        assert damage is not None
        assert (damage["kind"], damage["index"], damage["offset"]) == ("torn", n, offset)
        assert len(list(log.records())) == n
        report = log.verify()
        assert report.fault is not None
        assert (report.ok, report.size, report.root) == (False, n, None)
        assert (report.fault.index, report.fault.kind) == (n, "malformed")
        assert report.fault.message.startswith("torn tail")
        fsck = log.fsck()
        assert (fsck["ok"], fsck["size"]) == (False, n)
        assert fsck["torn"] == {"offset": offset, "bytes": size - offset}
        assert fsck["problems"][0].startswith(f"torn tail at index {n}:")


@pytest.mark.parametrize("fragment", FRAGMENTS)
@pytest.mark.parametrize("n", [0, 3], ids=["torn-only", "records-then-torn"])
def test_cli_names_the_torn_tail_at_the_same_index(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    n: int,
    fragment: str,
) -> None:
    """verify and fsck exit 1, show lists n records and the tail, export/checkpoint refuse."""
    monkeypatch.chdir(tmp_path)
    path, offset = _log(tmp_path, n, fragment)
    keys.save_private(tmp_path / "k.pem", keys.generate())
    capsys.readouterr()
    assert run(["audit", "verify", "log.jsonl", "--format", "json"]) == 1
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert (doc["size"], doc["fault"]["index"], doc["fault"]["kind"]) == (n, n, "malformed")
    assert out.err.count("\n") == 1
    assert f"record {n}: malformed: torn tail" in out.err
    assert run(["audit", "fsck", "log.jsonl", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["size"], doc["torn"]["offset"]) == (n, offset)
    assert run(["audit", "show", "log.jsonl", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["size"], len(doc["records"]), doc["torn"]["index"]) == (n, n, n)
    assert run(["audit", "show", "log.jsonl"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"log.jsonl: {n} records")
    assert f"torn tail at index {n}" in out.err
    for args in (
        ["export", "log.jsonl"],
        ["checkpoint", "log.jsonl", "-k", "k.pem", "--origin", "o"],
    ):
        assert run(["audit", *args]) == 1
        err = capsys.readouterr().err
        assert f"torn tail at index {n} (offset {offset})" in err
        assert err.count("\n") == 1
    if n:
        assert run(["audit", "prove", "log.jsonl", "--index", str(n - 1)]) == 0
        assert json.loads(capsys.readouterr().out)["size"] == n
    assert run(["audit", "repair", "log.jsonl"]) == 0
    assert run(["audit", "verify", "log.jsonl"]) == 0
    assert path.stat().st_size == offset


def test_a_tail_that_parses_is_torn_even_behind_a_checkpoint_that_counts_it(
    tmp_path: Path,
) -> None:
    """A checkpoint over n+1 records does not turn the unacknowledged record into a record."""
    path, _ = _log(tmp_path, 3, "garbage")
    full = tmp_path / "full.jsonl"
    with AuditLog.open(full, create=True) as log:
        log.append_many([event(i) for i in range(4)])
        roots = {k: log.root(k) for k in (3, 4)}
    path.write_bytes(full.read_bytes()[:-1])  # record 3 without its newline
    with AuditLog.open(path, readonly=True) as log:
        report = log.verify([(3, roots[3]), (4, roots[4])])
    assert report.fault is not None
    assert (report.fault.index, report.fault.kind, report.checkpoints) == (3, "malformed", (3,))


def test_a_fault_before_the_torn_tail_is_reported_first(tmp_path: Path) -> None:
    """verify recomputes the records before the tail: an edit there is named first.

    The sidecar still matches the first and last records, so the store only sees the tail.
    """
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        log.append_many([event(i) for i in range(4)])
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"n":1,', b'"n":7,', 1) + b'{"_type":"dta.au')
    with AuditLog.open(path, readonly=True) as log:
        assert log.store.damage["kind"] == "torn"  # type: ignore[attr-defined]
        report = log.verify()
    assert report.fault is not None
    assert (report.fault.index, report.fault.kind) == (1, "content-modified")
