"""Canonical JSON: dta.canonical_bytes vs rfc8785.dumps, and the audit verifier's line check.

Figures (medians of several rounds, peer measured in the same run):

* ``canonical_bytes`` on a ~1 KB audit-record-like object and on a 10,000-entry manifest-like
  object, against ``rfc8785.dumps`` (goal: >= 20x faster on both);
* ``loads_canonical`` (strict parse + canonical check) on ~1 KB canonical lines, in lines/s,
  against ``rfc8785.dumps(json.loads(line)) == line`` (goal: >= 150,000 lines/s).

``DTA_BENCH_QUICK=1`` shrinks the manifest to 1,000 entries and the line set to 200.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import orjson
import rfc8785

import dta
from _harness import Row, paired_median_times, quick


def _hex(seed: int) -> str:
    return hashlib.sha256(str(seed).encode()).hexdigest()


def audit_record(index: int) -> dict[str, Any]:
    """A ~1 KB audit record shaped like DESIGN.md section 3 (ASCII plus some non-ASCII text)."""
    return {
        "_type": "dta.audit-record",
        "index": index,
        "time": "2026-11-28T11:41:01Z",
        "actor": "org:acme-research",
        "action": "transfer.sent",
        "subject": {
            "_type": "dta.manifest",
            "id": f"urn:uuid:{uuid.UUID(int=index + 1)}",
            "digest": {"sha256": _hex(index)},
        },
        "agreement": {
            "id": f"urn:uuid:{uuid.UUID(int=index + 99)}",
            "digest": {"sha256": _hex(-1)},
        },
        "details": {
            "files": 1234,
            "bytes": 987654321,
            "recipient": "org:partner-hospital",
            "purpose": "Joint cohort analysis of de-identified outcomes",
            "level": "confidential",
            "categories": ["health", "pseudonymous-id"],
            "sequence": 42,
            "note": "Transfer \u00fcber gesicherte Leitung \u2014 Pr\u00fcfung ok",
            "receipt": {"id": f"urn:uuid:{uuid.UUID(int=index + 7)}", "decision": "accepted"},
            "manifest_digest": {"sha256": _hex(index + 3)},
        },
        "prev": _hex(index - 1),
    }


def manifest(entries: int) -> dict[str, Any]:
    """A manifest-like signed body with ``entries`` file items."""
    items = [
        {
            "path": f"data/part-{i:05d}/file-{i}.csv",
            "size": 1000 + i * 7,
            "digest": {"sha256": _hex(i)},
            "media_type": "text/csv",
            "level": "internal",
            "categories": ["pseudonymous-id"],
            "findings": {"email": i % 3},
        }
        for i in range(entries)
    ]
    return {
        "_type": "dta.manifest",
        "spec_version": "1.0",
        "id": f"urn:uuid:{uuid.UUID(int=5)}",
        "agreement": {
            "id": f"urn:uuid:{uuid.UUID(int=6)}",
            "version": 3,
            "digest": {"sha256": _hex(1)},
        },
        "sender": "org:a",
        "recipient": "org:b",
        "purpose": "research",
        "created": "2026-11-28T11:41:01Z",
        "expires": "2026-12-28T11:41:01Z",
        "sequence": 2,
        "previous": {"sha256": _hex(7)},
        "items": items,
        "totals": {"files": entries, "bytes": sum(item["size"] for item in items)},
        "level": "internal",
        "categories": ["pseudonymous-id"],
        "subjects": {"pseudonymous-id": 3},
        "policy": {"digest": {"sha256": _hex(2)}},
        "ip": {"owner": "org:a", "licence": "CC-BY-4.0"},
    }


def _peer_line_check(line: bytes) -> Any:
    value = json.loads(line)
    if rfc8785.dumps(value) != line:
        raise ValueError("not canonical")
    return value


def main() -> list[Row]:
    """Run the JSON benchmarks and return their rows."""
    rows: list[Row] = []
    record = audit_record(7)
    entries = 1_000 if quick() else 10_000
    big = manifest(entries)
    for name, obj, number, repeat in (
        (f"canonical_bytes, ~{len(dta.canonical_bytes(record))} B audit record", record, 2000, 9),
        (f"canonical_bytes, {entries:,}-entry manifest", big, 3, 7),
    ):
        assert dta.canonical_bytes(obj) == rfc8785.dumps(obj)
        ours, peer = paired_median_times(
            lambda o=obj: dta.canonical_bytes(o),
            lambda o=obj: rfc8785.dumps(o),
            repeat=repeat,
            number=number,
            peer_number=max(1, number // 20),
        )
        ratio = peer / ours
        rows.append(
            Row(
                "json",
                name,
                "us/call",
                ours * 1e6,
                "rfc8785.dumps",
                peer * 1e6,
                higher_is_better=False,
                goal=">= 20x faster",
                met=ratio >= 20,
            )
        )
    count = 200 if quick() else 2000
    lines = [dta.canonical_bytes(audit_record(i)) for i in range(count)]
    size = sum(map(len, lines)) // count

    def ours_lines() -> None:
        for line in lines:
            dta.loads_canonical(line)

    def peer_lines() -> None:
        for line in lines[: count // 10]:
            _peer_line_check(line)

    ours, peer = paired_median_times(ours_lines, peer_lines, repeat=7)
    peer *= 10
    rate = count / ours
    rows.append(
        Row(
            "json",
            f"loads_canonical, {size} B canonical lines",
            "lines/s",
            rate,
            "json.loads + rfc8785.dumps ==",
            count / peer,
            goal=">= 150,000 lines/s",
            met=rate >= 150_000,
        )
    )

    # The floor of any parser that returns Python objects, in the same run: shows which CPU phase
    # this VM was in (its speed swings ~2x within minutes) next to the absolute goal above.
    def bare_lines() -> None:
        for line in lines:
            orjson.loads(line)

    ours, bare = paired_median_times(ours_lines, bare_lines, repeat=7)
    rows.append(
        Row(
            "json",
            f"loads_canonical vs bare orjson.loads (no checks), {size} B lines",
            "lines/s",
            count / ours,
            "orjson.loads only",
            count / bare,
        )
    )
    return rows


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main())
