"""Audit-area fixtures: a real PostgreSQL server for the PostgreSQL store (see pg_server.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pg_server import PgServer, PgUnavailable, unique_url


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a private PostgreSQL server for this test session (one per xdist worker).

    Skips with the reason when no server can be started locally; under ``CI`` it fails instead.
    """
    try:
        import psycopg  # noqa: F401

        server = PgServer().start()
    except (ImportError, PgUnavailable) as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL store tests need a server in CI: {exc}")
        pytest.skip(f"PostgreSQL store tests skipped (no server can be started here): {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    """A ``postgresql://`` URL naming a fresh, empty log (its own schema) on the session server."""
    return unique_url(pg_server_url)
