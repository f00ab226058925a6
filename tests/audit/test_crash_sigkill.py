"""SIGKILL at random points during appends: logs reopen, verify and keep every returned append."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from store_kinds import event, make_url

from dta import loads
from dta.audit import AuditLog
from dta.errors import StorageError

ROUNDS = 110  # per store kind: >= 200 kill runs across JSONL and SQLite


def _child(url: str, seed: int, wfd: int) -> None:
    """Append in a loop, reporting each returned append as 'index n' on the pipe."""
    rng = random.Random(seed)
    durability = rng.choice(["always", "batch", "none"])
    log = AuditLog.open(url, durability=durability)
    os.write(wfd, b"R")  # ready: the kill clock starts now, while appending
    n = seed * 1_000_000
    while True:
        if rng.random() < 0.5:
            index, _ = log.append(event(n, pad=rng.randrange(0, 1500)))
            os.write(wfd, b"%d %d\n" % (index, n))
            n += 1
        else:
            batch = [event(n + k, pad=rng.randrange(0, 3000)) for k in range(rng.randrange(1, 120))]
            done = log.append_many(batch)
            os.write(wfd, b"".join(b"%d %d\n" % (i, n + k) for k, (i, _) in enumerate(done)))
            n += len(batch)


def _run_once(url: str, seed: int, rng: random.Random) -> dict[int, int]:
    """Fork a child appender, SIGKILL it after a random delay, return its acknowledged appends."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child process
        os.close(rfd)
        try:
            _child(url, seed, wfd)
        finally:
            os._exit(3)
    os.close(wfd)
    ready = os.read(rfd, 1)
    time.sleep(rng.uniform(0.001, 0.03))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert ready == b"R", "child appender failed before it was ready"
    data = b""
    while chunk := os.read(rfd, 1 << 16):
        data += chunk
    os.close(rfd)
    acked = {}
    for line in data.split(b"\n"):
        if line:
            index, n = map(int, line.split())
            acked[index] = n
    return acked


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "postgresql"])
def test_sigkill_during_appends_loses_no_returned_append(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """110 SIGKILLs per store: every reopen verifies and every acknowledged record is there."""
    rng = random.Random(1234)
    total = 0
    repairs = 0
    for round_no in range(ROUNDS):
        if round_no % 10 == 0:  # a fresh log every 10 kills keeps each check short
            url = make_url(kind, tmp_path, request, name=f"log{round_no}")
            AuditLog.open(url, create=True).close()
        acked = _run_once(url, round_no + 1, rng)
        total += len(acked)
        with AuditLog.open(url) as log:
            report = log.fsck()
            if report["torn"] is not None:
                with pytest.raises(StorageError):
                    log.append(event(0))
                fixed = log.repair()
                assert fixed["repaired"]
                assert Path(fixed["moved_to"]).stat().st_size == fixed["bytes"]
                repairs += 1
            result = log.verify()
            assert result.ok, (round_no, result.fault)
            assert not acked or max(acked) < log.size
            for index, n in acked.items():
                record = loads(log.line(index))
                assert record["index"] == index
                assert record["details"]["n"] == n
    assert total > 0  # the children really appended between kills (slow stores: a few)
    print(f"{kind}: {total} acknowledged appends, {repairs} torn tails repaired")
