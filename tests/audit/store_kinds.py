"""Store factories for the audit store contract, crash and concurrency tests.

Every store kind named in :data:`STORE_KINDS` runs the whole contract suite
(``test_store_contract.py``), the SIGKILL tests and the concurrency tests. To add a store: add its
kind here, give :func:`make_url` a branch and :func:`tamper_line` a way to change a stored line
behind the store's back (as a database superuser or file editor would).
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest

STORE_KINDS = ["jsonl", "sqlite", "postgresql"]

EVENT = {
    "actor": "party:acme",
    "action": "transfer.sent",
    "subject": {"_type": "dta.manifest", "id": "urn:uuid:0000", "digest": {"sha256": "ab" * 32}},
    "agreement": {"id": "urn:uuid:agreement", "digest": {"sha256": "cd" * 32}},
    "details": {"note": "x"},
    "time": "2026-01-01T00:00:00Z",
}


def event(i: int, *, pad: int = 0, actor: str = "party:acme") -> dict[str, object]:
    """A valid event numbered ``i`` (``pad`` extra bytes of details)."""
    return {**EVENT, "actor": actor, "details": {"n": i, "pad": "p" * pad}}


def make_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "log") -> str:
    """A fresh, not yet created log of ``kind``."""
    if kind == "jsonl":
        return str(tmp_path / f"{name}.jsonl")
    if kind == "sqlite":
        return f"sqlite:{tmp_path / f'{name}.db'}"
    if kind == "postgresql":
        if importlib.util.find_spec("dta.audit.stores._postgres") is None:
            pytest.skip("PostgreSQL store not implemented yet (dta.audit.stores._postgres)")
        url: str = request.getfixturevalue("pg_url")
        return url
    raise AssertionError(f"unknown store kind {kind}")


def tamper_line(url: str, index: int, line: bytes) -> None:
    """Replace the stored bytes of record ``index`` behind the store's back."""
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(url.removeprefix("sqlite:"), isolation_level=None)
        conn.execute("DROP TRIGGER dta_records_no_update")
        conn.execute("UPDATE dta_records SET line = ? WHERE idx = ?", (line, index))
        conn.close()
        return
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(url.rsplit("?", 1)[0], autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {schema}.records DISABLE TRIGGER records_append_only")
            conn.execute(
                f"ALTER TABLE {schema}.records"
                " DROP CONSTRAINT IF EXISTS records_leaf_is_hash_of_line"
            )
            conn.execute(f"UPDATE {schema}.records SET line = %s WHERE idx = %s", (line, index))
        return
    path = Path(url)
    lines = path.read_bytes().split(b"\n")
    lines[index] = line
    path.write_bytes(b"\n".join(lines))
