"""Fixtures: a two-lab world with logs, witnesses and helpers to make transfers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from compliance_helpers import START

from dta._demo_world import World


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """Factory of worlds under tmp_path (closed afterwards)."""
    made: list[World] = []

    def make(**kw: Any) -> World:
        w = World(tmp_path / f"world{len(made)}", start=START, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    """A fresh world."""
    return make_world()
