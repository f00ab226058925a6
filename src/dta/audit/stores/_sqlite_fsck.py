"""SQLite store fsck: SQLite's integrity check and a recomputation of every stored hash.

Rules this module enforces:

* The check reads only: it never rewrites a stored hash (a wrong one is reported; proofs built
  from it would fail verification, and verification recomputes every hash from the lines).
* Records are walked in index order in one statement; the first problem found is reported: an
  index gap, a leaf hash that does not match its line, or wrong or missing subtree hashes
  (inline ``nodes`` for rows from ``inline_from`` on, ``dta_nodes`` below it).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

from dta.audit.stores._sqlite_nodes import Frontier
from dta.audit.stores._sqlite_schema import Layout
from dta.errors import StorageError

__all__ = ["check_hashes", "integrity_problems"]


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """SQLite's ``integrity_check`` verdict as a list of at most one problem."""
    result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        return ["integrity_check: " + "; ".join(map(str, result[:5]))]
    return []


def check_hashes(
    conn: sqlite3.Connection, layout: Layout, perfect: Callable[[int, int], bytes]
) -> list[str]:
    """Recompute every leaf and subtree hash in index order; the first mismatch found.

    ``perfect`` reads a stored subtree hash (used for rows below ``layout.inline_from``).
    """
    front = Frontier(0, [])
    # Only the fixed column expression of the layout is interpolated, never values.
    sql = f"SELECT idx, line, leaf, {layout.nodes_column} FROM dta_records ORDER BY idx"  # noqa: S608
    for idx, line, leaf, nodes in conn.execute(sql):
        if idx != front.size:
            return [f"index gap: record {front.size} missing (next is {idx})"]
        computed = hashlib.sha256(b"\x00" + bytes(line)).digest()
        if computed != bytes(leaf):
            return [f"stored leaf hash of record {idx} does not match its line"]
        done = front.add(computed) or b""
        if idx >= layout.inline_from:
            if bytes(nodes or b"") != done or (nodes is not None and not done):
                return [f"stored subtree hashes of record {idx} are wrong"]
            continue
        for k in range(len(done) // 32):
            key = (k + 1, idx >> (k + 1))
            try:
                stored = perfect(*key)
            except StorageError:
                return [f"stored subtree {key} is missing"]
            if stored != done[32 * k : 32 * k + 32]:
                return [f"stored subtree {key} is wrong"]
    return []
