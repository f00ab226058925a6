"""AuditLog on PostgreSQL: superuser tampering detected, 8-writer load, SIGKILL mid-transaction.

Random-moment SIGKILLs run in test_crash_sigkill.py (parametrized over the store kinds).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("CI", "").lower() in ("", "0", "false", "no"):
    psycopg = pytest.importorskip("psycopg")
else:  # under CI a missing psycopg is a failure, never a skip
    import psycopg

from dta.audit import AuditLog

WRITERS = 8
PER_WRITER = 5000
BATCH = 250


def _event(actor: str, n: int, pad: int = 0) -> dict[str, object]:
    return {
        "actor": actor,
        "action": "data.accessed",
        "subject": {
            "_type": "dta.manifest",
            "id": f"urn:uuid:{n:032x}",
            "digest": {"sha256": "ab" * 32},
        },
        "details": {"n": n, "pad": "x" * pad},
    }


def _superuser(url: str, query: str) -> None:
    with psycopg.connect(url.rsplit("?", 1)[0], autocommit=True) as conn:
        conn.execute(query)


def test_pg_superuser_edit_behind_disabled_trigger_detected_by_verify(pg_url: str) -> None:
    """A superuser who disables the trigger and rewrites a line (and its leaf) is caught."""
    with AuditLog.open(pg_url, create=True) as log:
        log.append_many([_event("partner-a", i) for i in range(20)])
        assert log.verify().ok
        schema = log.store.schema  # type: ignore[attr-defined]
        _superuser(
            pg_url,
            f"ALTER TABLE {schema}.records DISABLE TRIGGER records_append_only; "
            f"UPDATE {schema}.records SET line = f.line, leaf = sha256('\\x00'::bytea || f.line) "
            f"FROM (SELECT convert_to(replace(convert_from(line, 'UTF8'), 'partner-a', "
            f"'partner-x'), 'UTF8') AS line FROM {schema}.records WHERE idx = 7) f "
            f"WHERE idx = 7",
        )
        assert b"partner-x" in log.line(7)
        report = log.verify()
        assert not report.ok
        assert (report.fault.index, report.fault.kind) == (7, "content-modified")
        assert "trigger records_append_only is disabled" in log.fsck()["problems"]


def test_pg_superuser_delete_detected_by_verify(pg_url: str) -> None:
    """Deleting a row with triggers disabled is reported as a deleted record at its index."""
    with AuditLog.open(pg_url, create=True) as log:
        log.append_many([_event("partner-a", i) for i in range(12)])
        schema = log.store.schema  # type: ignore[attr-defined]
        _superuser(
            pg_url,
            f"ALTER TABLE {schema}.records DISABLE TRIGGER records_append_only; "
            f"DELETE FROM {schema}.records WHERE idx = 5",
        )
        report = log.verify()
        assert (report.ok, report.fault.index, report.fault.kind) == (False, 5, "record-deleted")


def _writer(url: str, actor: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    indices: list[int] = []
    with AuditLog.open(url) as log:
        for start in range(0, PER_WRITER, BATCH):
            batch = [_event(actor, n) for n in range(start, start + BATCH)]
            indices += [i for i, _ in log.append_many(batch)]
    out.put((actor, indices))


@pytest.mark.slow
def test_pg_eight_writer_processes_make_one_chain_of_40000(pg_url: str) -> None:
    """8 processes x 5,000 appends (batches of 250): one valid chain, every index exactly once."""
    AuditLog.open(pg_url, create=True).close()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pg_url, f"writer-{w}", queue)) for w in range(8)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    every = sorted(i for indices in results.values() for i in indices)
    assert every == list(range(WRITERS * PER_WRITER))
    with AuditLog.open(pg_url) as log:
        report = log.verify()
        assert report.ok, report.fault
        assert log.size == WRITERS * PER_WRITER
        per_actor: dict[str, list[int]] = {}
        for rec in log.records():
            per_actor.setdefault(rec["actor"], []).append(rec["details"]["n"])
        # each writer's events appear in its own order, interleaved only batch by batch
        assert all(ns == list(range(PER_WRITER)) for ns in per_actor.values())
        assert log.fsck()["ok"]


_CHILD = r"""
import sys, time
from dta.audit import AuditLog
from dta.audit.stores._postgres import PostgresStore
url, mode = sys.argv[1], sys.argv[2]
ev = lambda n: {"actor": "child", "action": "data.accessed",
                "subject": {"_type": "dta.manifest", "id": "urn:x:%d" % n,
                            "digest": {"sha256": "cd" * 32}},
                "details": {"n": n}}
with AuditLog.open(url) as log:
    if mode == "hang":   # killed while holding the head lock, rows inserted, not committed
        import dta.audit.stores._postgres as pg
        real = pg.copy_batch
        def slow(*args, **kwargs):
            real(*args, **kwargs)
            print("INSIDE", flush=True)
            time.sleep(60)
        pg.copy_batch = slow
        log.append_many([ev(n) for n in range(100)])
"""


def _spawn(url: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, mode], stdout=subprocess.PIPE, text=True
    )


def test_pg_sigkill_inside_transaction_leaves_nothing_and_frees_lock(pg_url: str) -> None:
    """A writer SIGKILLed after inserting but before COMMIT leaves no row and no held lock."""
    with AuditLog.open(pg_url, create=True) as log:
        log.append_many([_event("partner-a", i) for i in range(3)])
    child = _spawn(pg_url, "hang")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "INSIDE"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with AuditLog.open(pg_url + "&options=-c%20lock_timeout%3D20s") as log:
        assert log.size == 3
        assert log.append(_event("partner-a", 3))[0] == 3  # head lock released by the abort
        assert log.verify().ok
        assert log.fsck()["ok"]


def test_pg_log_proofs_verify_against_checkpoint_root(pg_url: str, tmp_path: Path) -> None:
    """Inclusion and consistency proofs from the PostgreSQL log verify against recomputed roots."""
    from dta.audit.merkle import verify_consistency, verify_inclusion

    with AuditLog.open(pg_url, create=True) as log:
        leaves = [leaf for _, leaf in log.append_many([_event("p", i) for i in range(37)])]
        old_root = log.verify().root
        leaves += [leaf for _, leaf in log.append_many([_event("p", i) for i in range(37, 50)])]
        new_root = log.verify().root
        assert log.root() == new_root
        for i in (0, 1, 17, 36):
            verify_inclusion(leaves[i], i, 37, log.prove_inclusion(i, 37), old_root)
        verify_consistency(37, 50, old_root, new_root, log.prove_consistency(37, 50))
        assert json.loads(log.line(49))["index"] == 49
