"""Helpers for the compliance tests: make transfers, audit, read report sections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dta import compliance
from dta._demo_agreement import CN, US
from dta._demo_world import World

START = datetime(2027, 1, 15, tzinfo=UTC)
DAY = timedelta(days=1)


def items(n: int = 2, level: str = "internal", cats: tuple[str, ...] = ("building.metering",)):
    """Hand-made manifest items."""
    return [
        {
            "path": f"meters/{level}-{i}.csv",
            "size": 100 + i,
            "sha256": f"{i + 1:064x}",
            "level": level,
            "categories": list(cats),
        }
        for i in range(n)
    ]


def send(world: World, day: int, sender: str = US, recipient: str = CN, **kw: Any) -> Any:
    """Make, sign and transfer a manifest on ``START + day``; return the manifest."""
    at = START + day * DAY
    m = world.manifest(
        sender,
        recipient,
        kw.pop("items", None) or items(),
        at=at,
        subjects=kw.pop("subjects", None),
    )
    world.transfer(m, at=at, **kw)
    return m


def audit(world: World, day: int, **kw: Any) -> compliance.Reconciliation:
    """Reconcile the world's records on ``START + day``."""
    return compliance.reconcile(
        world.agreement_doc,
        kw.pop("logs", None) or world.party_logs(),
        manifests=kw.pop("manifests", world.manifests),
        receipts=kw.pop("receipts", world.receipts),
        witnesses=kw.pop("witnesses", {world.notary_name: world.notary.public_key}),
        now=START + day * DAY,
        **kw,
    )


def report(world: World, day: int, **kw: Any) -> dict[str, Any]:
    """The unsigned report body on ``START + day``."""
    rec = audit(world, day, **kw)
    return compliance.build_report(rec, auditor="Test Audit", auditor_key=world.auditor.public_key)


def party(body: dict[str, Any], pid: str) -> dict[str, Any]:
    """A party's section of a report."""
    return next(p for p in body["parties"] if p["party"] == pid)


def check(body: dict[str, Any], pid: str, cid: str) -> dict[str, Any]:
    """One check of a party."""
    return next(c for c in party(body, pid)["checks"] if c["id"] == cid)


def codes(rec: compliance.Reconciliation) -> list[str]:
    """Discrepancy codes, sorted."""
    return sorted(d.code for d in rec.discrepancies)
