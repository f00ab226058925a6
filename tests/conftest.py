"""Shared fixtures: paths to the conformance vectors and the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("DTA_VECTORS", ROOT.parent / "shared" / "vectors"))


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The shared conformance vectors (read in place, never copied)."""
    if not VECTORS.is_dir():
        pytest.fail(f"conformance vectors not found at {VECTORS} (set DTA_VECTORS)")
    return VECTORS


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return ROOT
