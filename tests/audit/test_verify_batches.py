"""The batch fast path and the worker chunks report exactly what record-by-record replay does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_kinds import event

from dta._json import loads_canonical
from dta.audit import AuditLog, MemoryTree, _verify, _verify_parallel, verify_lines
from dta.audit._merkle import fold_peaks
from dta.audit._record import build_line, line_fast_ok
from dta.audit._record_bytes import line_fast_ok_cached as _line_ok
from dta.audit._verify_fast import check_batch, fold, range_nodes
from dta.errors import JSONError

N = 40


def _log(n: int = N) -> list[bytes]:
    lines: list[bytes] = []
    prev = bytes(32)
    for i in range(n):
        line = build_line(event(i, actor=f"party:{'abc'[i % 3]}"), i, prev)
        prev = hashlib.sha256(b"\x00" + line).digest()
        lines.append(line)
    return lines


LINES = _log()
LEAVES = [hashlib.sha256(b"\x00" + line).digest() for line in LINES]
TREE = MemoryTree(LEAVES)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _replayed(lines: list[bytes], cps: list[tuple[int, bytes]]) -> _verify.VerifyReport:
    """The record-by-record verifier alone (no batch fast path)."""
    return _verify._replay(iter(lines), _verify._trusted(cps), _verify._State())


@SETTINGS
@given(
    start=st.integers(0, N - 1),
    data=st.data(),
)
def test_range_nodes_fold_to_the_tree_roots_at_every_cut(start: int, data: st.DataObject) -> None:
    """Compact ranges folded onto the peaks of [0, start) give the RFC 9162 root at each cut."""
    stop = data.draw(st.integers(start + 1, N))
    cuts = data.draw(st.lists(st.integers(0, N), max_size=6))
    peaks: list[bytes] = []
    size = 0
    for _, nodes in range_nodes(LEAVES[:start], 0):
        size = fold(peaks, size, nodes)
    assert size == start
    segments = range_nodes(LEAVES[start:stop], start, cuts)
    assert [end for end, _ in segments] == sorted({c for c in cuts if start < c < stop} | {stop})
    for end, nodes in segments:
        size = fold(peaks, size, nodes)
        assert size == end
        assert fold_peaks(peaks) == TREE.root(end)


@SETTINGS
@given(
    batch=st.integers(1, 9),
    m=st.integers(0, N - 1),
    where=st.floats(0, 1, exclude_max=True),
    new=st.sampled_from(b'0123456789abcdefxyz{}[]",:. \\ZT-'),
    sizes=st.lists(st.integers(0, N), max_size=4),
)
def test_batched_verify_equals_replay_for_byte_changes(
    batch: int, m: int, where: float, new: int, sizes: list[int]
) -> None:
    """Any batch size gives the replay's report (index, kind, message) for a changed byte."""
    line = bytearray(LINES[m])
    line[int(where * len(line))] = new
    lines = [*LINES[:m], bytes(line), *LINES[m + 1 :]]
    cps = [(s, TREE.root(s)) for s in sizes]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_verify, "BATCH", batch)
        assert verify_lines(lines, cps) == _replayed(lines, cps)


@SETTINGS
@given(
    batch=st.integers(1, 9),
    ops=st.lists(st.tuples(st.sampled_from("dis"), st.integers(0, N - 1)), min_size=1, max_size=2),
    sizes=st.lists(st.integers(0, N + 2), max_size=4),
    wrong=st.booleans(),
)
def test_batched_verify_equals_replay_for_moved_records_and_checkpoints(
    batch: int,
    ops: list[tuple[str, int]],
    sizes: list[int],
    wrong: bool,
) -> None:
    """Deletions, insertions, swaps, wrong or too-large checkpoints: same report as replay."""
    lines = list(LINES)
    for op, at in ops:
        k = min(at, len(lines) - 1)
        if op == "d":
            del lines[k]
        elif op == "i":
            lines.insert(k, LINES[(k * 7) % N])
        else:
            j = min(k + 1, len(lines) - 1)
            lines[k], lines[j] = lines[j], lines[k]
    cps = [(s, TREE.root(min(s, N))) for s in sizes]
    if wrong and cps:
        cps[0] = (cps[0][0], bytes(32))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_verify, "BATCH", batch)
        assert verify_lines(lines, cps) == _replayed(lines, cps)


def test_clean_log_in_many_batches_matches_every_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checkpoints inside and at the edges of batches are all matched on a clean log."""
    monkeypatch.setattr(_verify, "BATCH", 7)
    cps = [(s, TREE.root(s)) for s in range(N + 1)]
    report = verify_lines(LINES, cps)
    assert report.ok
    assert report.root == TREE.root(N)
    assert report.checkpoints == tuple(range(N + 1))


def test_check_batch_rejects_a_broken_link_and_a_gap() -> None:
    """check_batch only says clean for one unbroken chain of consecutive indices."""
    got = check_batch(LINES[3:9])
    assert got is not None
    assert got == (LEAVES[3:9], 3, LEAVES[2].hex())
    assert check_batch([*LINES[3:5], *LINES[6:9]]) is None
    assert check_batch([LINES[4], LINES[3]]) is None


@pytest.mark.parametrize(
    ("wrong_at", "method"),
    [(None, "fork"), (None, "spawn"), (77, "fork"), (150, "spawn"), (151, "fork")],
)
def test_parallel_chunks_with_checkpoints_inside_agree_with_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrong_at: int | None, method: str
) -> None:
    """Checkpoints falling inside worker chunks are checked; a wrong one defers to sequential."""
    monkeypatch.setattr(_verify_parallel, "_CHUNK", 8192)
    monkeypatch.setattr(_verify_parallel, "_start_method", lambda: method)
    monkeypatch.setattr(_verify, "BATCH", 16)
    path = tmp_path / "log.jsonl"
    with AuditLog.open(path, create=True) as log:
        log.append_many([event(i, pad=150) for i in range(300)])
        cps = [(s, log.root(s)) for s in range(0, 301, 37)] + [(150, log.root(150))]
        if wrong_at is not None:
            cps.append((wrong_at, bytes(32)))
        sequential = log.verify(cps, workers=1)
        fast = _verify_parallel.verify_file_parallel(str(path), cps, workers=2)
    if wrong_at is None:
        assert sequential.ok
        assert fast == sequential
    else:
        assert fast is None
        assert sequential.fault is not None
        assert (sequential.fault.index, sequential.fault.kind) == (wrong_at - 1, "fork")


@SETTINGS
@given(
    m=st.integers(0, N - 1),
    where=st.floats(0, 1, exclude_max=True),
    new=st.sampled_from(b'0123456789abcdefxyzAZ{}[]",:. \\\x7f-_'),
)
def test_cached_head_line_check_agrees_with_line_fast_ok(m: int, where: float, new: int) -> None:
    """The head-cached line check says exactly what line_fast_ok says, first and second time."""
    line = bytearray(LINES[m])
    line[int(where * len(line))] = new
    try:
        rec = loads_canonical(bytes(line))
    except JSONError:
        return
    expected = line_fast_ok(bytes(line), rec)
    assert _line_ok(bytes(line), rec) is expected
    assert _line_ok(bytes(line), rec) is expected  # now from the head cache
