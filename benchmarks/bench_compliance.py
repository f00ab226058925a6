"""Compliance: reconciliation throughput on a two-lab history of many transfers.

No peer tool reconciles two partners' audit logs, manifests and receipts, so the baseline is the
floor any reconciliation must pay: verifying both logs alone (``AuditLog.verify``, which recomputes
chain and Merkle root). ``reconcile`` additionally verifies the agreement, the signed checkpoints
and cosignatures, every manifest and receipt signature (2 per transfer) and matches them by digest.
Setup (building the history through the real transfer state machine) is not timed.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import Row, median_time, quick
from dta import compliance
from dta._demo_agreement import CN, US
from dta._demo_world import World

START = datetime(2027, 1, 15, tzinfo=UTC)
GOAL_SECONDS = 20.0


def _history(root: Path, n: int) -> World:
    world = World(root, start=START, durability="none")
    items = [
        {
            "path": "meters/hall.csv",
            "size": 2048,
            "sha256": "11" * 32,
            "level": "internal",
            "categories": ["building.metering"],
        }
    ]
    step = timedelta(days=600) / n
    for i in range(n):
        at = START + i * step
        sender, recipient = (US, CN) if i % 5 else (CN, US)
        m = world.manifest(sender, recipient, items, at=at)
        world.transfer(m, at=at, receipt_after=timedelta(hours=1))
        if i % max(1, n // 20) == 0:
            world.witness_all(at=at + timedelta(hours=2))
    world.witness_all(at=START + timedelta(days=601))
    for actor in world.actors.values():
        actor.log.flush()
    return world


def main() -> list[Row]:
    """Reconcile N transfers vs verifying the two logs alone; report + HTML build time."""
    n = 500 if quick() else 10_000
    repeat = 2 if quick() else 3
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dta-bench-compliance-") as tmp:
        world = _history(Path(tmp), n)
        now = START + timedelta(days=602)
        logs = world.party_logs()
        third = {world.notary_name: world.notary.public_key}

        def run() -> compliance.Reconciliation:
            return compliance.reconcile(
                world.agreement_doc,
                logs,
                manifests=world.manifests,
                receipts=world.receipts,
                witnesses=third,
                now=now,
            )

        def logs_only() -> None:
            for actor in world.actors.values():
                assert actor.log.verify().ok

        rec = run()
        assert len(rec.transfers) == n
        assert not rec.discrepancies
        records = sum(a.log.size for a in world.actors.values())
        t_rec = median_time(run, repeat=repeat)
        t_logs = median_time(logs_only, repeat=repeat)
        rows.append(
            Row(
                area="compliance",
                figure=f"reconcile {n:,} transfers ({records:,} log records, {2 * n:,} signatures)",
                unit="transfers/s",
                dta=n / t_rec,
                peer_name="baseline: verify both logs only",
                peer=n / t_logs,
                goal=f"{n:,} transfers in < {GOAL_SECONDS:.0f} s",
                met=t_rec < GOAL_SECONDS,
            )
        )

        def report() -> None:
            body = compliance.build_report(
                rec, auditor="bench", auditor_key=world.auditor.public_key
            )
            compliance.render_html(compliance.sign_report(body, world.auditor))

        t_rep = median_time(report, repeat=repeat)
        rows.append(
            Row(
                area="compliance",
                figure=f"evaluate + sign report + HTML for {n:,} transfers",
                unit="s",
                dta=t_rep,
                higher_is_better=False,
                goal="< 5 s",
                met=t_rep < 5.0,
            )
        )
        world.close()
    return rows
