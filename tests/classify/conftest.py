"""Fixtures shared by the classification tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dta.classify import _candidates


@pytest.fixture(params=["c", "python"])
def candidate_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the C candidate pass (ADR 0103), then with the regex/find one."""
    was = _candidates.SPEEDUPS
    if not _candidates.use_speedups(request.param == "c") and request.param == "c":
        _candidates.use_speedups(was)
        pytest.skip("dta._speedups without the classification passes (no C compiler)")
    try:
        yield request.param
    finally:
        _candidates.use_speedups(was)
