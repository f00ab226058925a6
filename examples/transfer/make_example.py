"""Regenerate ``report.json`` and ``manifest.json`` for the sample transfer in ``data/``.

The US lab sends three files to the PRC lab under the sample agreement in ``../agreement``.
``report.json`` stands in for a ``dta classify`` report (same ``files`` entry shape); the
manifest is built from ``data/`` with :func:`dta.manifest.build_manifest` and bound to the
signed agreement sample. Sign it with ``dta manifest sign manifest.json -k KEY.pem``.

Run: ``.venv/bin/python examples/transfer/make_example.py``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from dta import agreement, loads
from dta.manifest import build_manifest

HERE = Path(__file__).resolve().parent
NOW = datetime(2027, 3, 1, 11, 0, tzinfo=UTC)
LEVELS = {"meters/2026-q4.csv": "internal", "weather/station-12.csv": "public"}
CATEGORIES = {"meters/2026-q4.csv": ["building.metering"], "weather/station-12.csv": ["weather"]}


def main() -> None:
    """Write report.json and manifest.json."""
    signed = loads((HERE.parent / "agreement" / "agreement.signed.json").read_bytes())
    model = agreement.verify_agreement(signed, now=NOW)
    files = []
    for path in sorted((HERE / "data").rglob("*")):
        if path.is_file():
            rel = path.relative_to(HERE / "data").as_posix()
            data = path.read_bytes()
            files.append(
                {
                    "path": rel,
                    "status": "scanned",
                    "level": LEVELS.get(rel, "public"),
                    "categories": CATEGORIES.get(rel, []),
                    "findings": {},
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    report = {
        "files": files,
        "level": "internal",
        "categories": ["building.metering", "weather"],
        "subjects": {},
        "policy": {"digest": model.policy_digest},
    }
    (HERE / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    body = build_manifest(
        HERE / "data",
        agreement_ref=model.ref(),
        sender=model.parties[0].id,
        recipient=model.parties[1].id,
        purpose="building-energy-modelling",
        sequence=1,
        previous=None,
        classification=report,
        now=NOW,
        ip={"owner": model.parties[0].id, "licence": "CC-BY-4.0"},
        progress=False,
    )
    (HERE / "manifest.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
