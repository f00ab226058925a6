"""Concurrent appenders in several processes never fork the chain or reuse an index."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from store_kinds import event, make_url

from dta.audit import AuditLog

WRITERS = 4
PER_WRITER = 2000


def _writer(url: str, writer: int, count: int) -> None:
    with AuditLog.open(url, durability="none") as log:
        for k in range(count):
            log.append(event(k, actor=f"party:writer{writer}"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "postgresql"])
def test_four_processes_append_one_chain_of_8000(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """4 processes x 2,000 appends -> one chain of 8,000, each append once; live verifies pass."""
    url = make_url(kind, tmp_path, request)
    AuditLog.open(url, create=True).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(url, w, PER_WRITER)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    checks = 0
    while any(p.is_alive() for p in procs) or not checks:
        with AuditLog.open(url) as reader:  # a verifier running beside the appenders
            live = reader.verify()
        assert live.ok, live.fault
        checks += 1
        time.sleep(0.3)
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    with AuditLog.open(url) as log:
        report = log.verify()
        assert report.ok, report.fault
        assert report.size == log.size == WRITERS * PER_WRITER
        assert log.fsck()["ok"]
        seen = {(r["actor"], r["details"]["n"]) for r in log.records()}
    assert seen == {(f"party:writer{w}", k) for w in range(WRITERS) for k in range(PER_WRITER)}


@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "postgresql"])
def test_threads_sharing_one_log_never_reuse_an_index(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Threads appending through one AuditLog object get distinct indices on one chain."""
    url = make_url(kind, tmp_path, request)
    indices: list[int] = []
    with AuditLog.open(url, create=True, durability="none") as log:

        def work(w: int) -> None:
            for k in range(100):
                indices.append(log.append(event(k, actor=f"party:t{w}"))[0])

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(indices) == list(range(400))
        assert log.verify().ok
