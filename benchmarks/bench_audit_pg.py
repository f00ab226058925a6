"""PostgreSQL audit store next to the SQLite store, in one run.

Figures (each PostgreSQL figure beside the SQLite store measured the same way, same run):

* ``batch``-mode appends/s of ~1 KB records through ``AuditLog.append`` (one transaction per
  record; PostgreSQL commits asynchronously and ``flush()`` forces the WAL, SQLite
  ``synchronous=NORMAL`` + checkpoint) and through ``append_many(100)`` (one transaction per
  batch of 100), both ending with ``flush()``. PostgreSQL is a private cluster on loopback TCP
  with the server defaults ``fsync=on``, ``synchronous_commit=on``.
* 4 writer processes appending ``append_many(100)`` batches to one log at once (aggregate rec/s).
* Bulk load of the proof log (``append_many(10,000)``, durability ``none``) in rec/s.
* Inclusion-proof generation at 1,000,000 records: median of single ``AuditLog.prove_inclusion``
  calls over random indices in a freshly opened log (PostgreSQL: one round trip for the size and
  one for all subtree hashes), and the store's own ``inclusion_proof`` (the subtree-hash round
  trip alone).

``DTA_BENCH_QUICK=1`` uses 20,000 records for the proof log; ``DTA_BENCH_PG_SIZE`` overrides it.
``DTA_TEST_PG_URL`` runs against an existing server instead of a private one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import Row, quick
from dta.audit import AuditLog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "audit"))
from pg_server import PgServer, unique_url  # noqa: E402

AREA = "audit_pg"
ONE_KB = 1024 - 520  # details padding that makes a ~1 KB record line


def _event(i: int, pad: int) -> dict[str, object]:
    return {
        "actor": "party:acme",
        "action": "transfer.sent",
        "subject": {
            "_type": "dta.manifest",
            "id": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
            "digest": {"sha256": f"{i:064x}"},
        },
        "agreement": {"id": "urn:uuid:agreement-1", "digest": {"sha256": "cd" * 32}},
        "details": {"transfer": f"t{i}", "from": "agreed", "to": "sent", "pad": "p" * pad},
        "time": "2026-01-01T00:00:00.000000Z",
    }


def _append_rate(url: str, n: int, batch: int) -> float:
    events = [_event(i, ONE_KB) for i in range(n)]
    with AuditLog.open(url, durability="batch", create=True) as log:
        log.append(events[0])
        log.flush()
        start = time.perf_counter()
        if batch == 1:
            for ev in events[1:]:
                log.append(ev)
        else:
            for k in range(1, n, batch):
                log.append_many(events[k : k + batch])
        log.flush()
        return (n - 1) / (time.perf_counter() - start)


def _writer(url: str, n: int, w: int) -> None:
    events = [_event(w * n + i, ONE_KB) for i in range(n)]
    with AuditLog.open(url, durability="batch") as log:
        for k in range(0, n, 100):
            log.append_many(events[k : k + 100])


def _concurrent_rate(url: str, n: int, writers: int = 4) -> float:
    AuditLog.open(url, create=True).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(url, n, w)) for w in range(writers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError("benchmark writer failed")
    elapsed = time.perf_counter() - start
    with AuditLog.open(url) as log:
        if log.size != writers * n or not log.verify().ok:
            raise RuntimeError("concurrent benchmark log did not verify")
    return writers * n / elapsed


def _load(url: str, size: int) -> float:
    chunk = 10_000
    start = time.perf_counter()
    with AuditLog.open(url, durability="none", create=True) as log:
        for k in range(0, size, chunk):
            log.append_many([_event(i, 40) for i in range(k, min(size, k + chunk))])
    return size / (time.perf_counter() - start)


def _median_ms(fn: Callable[[int], object], args: list[int]) -> float:
    times = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _rows(pg: str, work: Path) -> list[Row]:
    n_single = 1_000 if quick() else 5_000
    n_batch = 3_000 if quick() else 20_000
    n_conc = 1_000 if quick() else 5_000
    size = int(os.environ.get("DTA_BENCH_PG_SIZE") or (20_000 if quick() else 1_000_000))
    sqlite = lambda name: f"sqlite:{work / name}"  # noqa: E731
    rows: list[Row] = []
    for label, n, batch in (
        ("append() per record", n_single, 1),
        ("append_many(100)", n_batch, 100),
    ):
        mine = _append_rate(unique_url(pg, "bench"), n, batch)
        peer = _append_rate(sqlite(f"b{batch}.db"), n, batch)
        rows.append(
            Row(AREA, f"batch-mode appends/s, ~1 KB records, {label} (PostgreSQL, loopback)",
                "rec/s", mine, "SQLite store (WAL), same calls", peer,
                goal=">= 20,000/s" if batch > 1 else "", met=mine >= 20_000 if batch > 1 else None)
        )  # fmt: skip
    mine = _concurrent_rate(unique_url(pg, "bench"), n_conc)
    peer = _concurrent_rate(sqlite("conc.db"), n_conc)
    rows.append(
        Row(AREA, "4 writer processes, append_many(100), aggregate (PostgreSQL)", "rec/s",
            mine, "SQLite store, 4 processes", peer)
    )  # fmt: skip
    url = unique_url(pg, "bench")
    mine = _load(url, size)
    peer = _load(sqlite("proof.db"), size)
    rows.append(
        Row(AREA, f"bulk load {size:,} records, append_many(10,000), durability none",
            "rec/s", mine, "SQLite store", peer)
    )  # fmt: skip
    rng = random.Random(7)
    idx = [rng.randrange(size) for _ in range(1_000)]
    with AuditLog.open(sqlite("proof.db")) as log:
        peer = _median_ms(lambda i: log.prove_inclusion(i, size), idx)
        sqlite_root = log.root(size)
    with AuditLog.open(url) as log:
        mine = _median_ms(lambda i: log.prove_inclusion(i, size), idx)
        if log.root(size) != sqlite_root:
            raise RuntimeError("PostgreSQL and SQLite benchmark logs disagree")
    with AuditLog.open(url) as log:  # fresh connection and cache
        store = log.store
        direct = _median_ms(lambda i: store.inclusion_proof(i, size), idx)  # type: ignore[attr-defined]
    rows.extend([
        Row(AREA, f"inclusion proof at {size:,} records (median, PostgreSQL loopback)", "ms",
            mine, "SQLite store, same calls", peer, higher_is_better=False,
            goal="< 1 ms (2 round trips)", met=mine < 1.0),
        Row(AREA, f"inclusion proof at {size:,} records, store call (1 round trip)", "ms",
            direct, "SQLite store, AuditLog call", peer, higher_is_better=False,
            goal="< 0.5 ms", met=direct < 0.5),
    ])  # fmt: skip
    return rows


def main() -> list[Row]:
    """All PostgreSQL-store figures (see the module docstring)."""
    server = PgServer(durable=True).start()
    try:
        with tempfile.TemporaryDirectory(dir=HERE) as tmp:
            return _rows(server.url, Path(tmp))
    finally:
        server.stop()


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main())
