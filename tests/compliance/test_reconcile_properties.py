"""Property: for any mix of transfer outcomes, reconciliation reports exactly the expected codes."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from compliance_helpers import CN, START, US, audit, send
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dta._demo_world import World

OUTCOMES = {
    "ok": ({}, []),
    "no-receipt": ({"receipt_after": None}, ["unacknowledged"]),
    "late": ({"receipt_after": timedelta(days=8)}, ["late"]),
    "rejected": ({"reject": "file changed"}, ["rejected"]),
    "not-logged-received": ({"log_received": False}, ["record-missing-on-one-side"] * 2),
    "not-logged-sent": ({"log_sent": False}, ["receipt-without-send"]),
}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(sorted(OUTCOMES)), st.booleans()), max_size=6))
def test_discrepancy_codes_match_the_injected_outcomes(plan):
    """Each injected deviation yields its code(s) once; clean transfers yield none."""
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp), start=START)
        try:
            expected: Counter[str] = Counter()
            for day, (outcome, forward) in enumerate(plan, 1):
                kwargs, codes = OUTCOMES[outcome]
                sender, recipient = (US, CN) if forward else (CN, US)
                send(world, day, sender, recipient, **kwargs)
                expected.update(codes)
            rec = audit(world, len(plan) + 20)
            assert Counter(d.code for d in rec.discrepancies) == expected
            assert sum(1 for t in rec.transfers if not t.codes) == sum(
                1 for outcome, _ in plan if outcome == "ok"
            )
        finally:
            world.close()
