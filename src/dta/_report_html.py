"""One self-contained HTML page for a ``dta.compliance-report``.

Rules this module enforces:

* The page needs nothing from the network: inline CSS, inline SVG charts, no scripts, no external
  fonts, images or links to resources (a strict ``Content-Security-Policy`` meta tag says so to
  the browser as well).
* Every text taken from the report is HTML-escaped (:func:`html.escape` with quotes), including
  attribute values; numbers are formatted from integers only.
* Figures: timeline of transfers by classification level (one marker per transfer, coloured by
  reconciliation status), reconciliation status bar chart, checks table per party with the
  reputation shown next to the failing checks, hard gates in their own section, and verification
  details (log sizes, roots, checkpoint and cosignature status).
* Large reports stay usable: the timeline draws at most :data:`MAX_POINTS` markers and the
  transfer table lists at most :data:`MAX_ROWS` rows, saying how many were left out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_POINTS", "MAX_ROWS", "render_html"]

MAX_POINTS = 5000
MAX_ROWS = 300
_LEVEL_ORDER = ("public", "internal", "confidential", "restricted")
_STATUS_COLOUR = {"reconciled": "#2e7d32"}
_BAD = "#c62828"
_CHECK_COLOUR = {"pass": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828", "inconclusive": "#757575"}
_VERDICT_COLOUR = {"clean": "#2e7d32", "discrepancies": "#ef6c00", "blocked": "#c62828"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f5f6f8}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;
border-bottom:2px solid #d8dce3;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#4a5160;font-size:13px}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:26px}.badge{display:inline-block;color:#fff;border-radius:4px;
padding:2px 8px;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}
th,td{border:1px solid #d8dce3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eceff4}code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.chart{background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:8px}
.rep{background:#fff8e1;border:1px solid #ffcc80;border-radius:8px;padding:8px 12px;margin:6px 0}
.note{color:#4a5160;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None


def _levels(transfers: Sequence[Mapping[str, Any]]) -> list[str]:
    found = {str(t.get("level")) for t in transfers}
    ordered = [lv for lv in _LEVEL_ORDER if lv in found]
    return ordered + sorted(found - set(ordered))


def _timeline(transfers: Sequence[Mapping[str, Any]]) -> str:
    levels = _levels(transfers)
    points = [(t, _parse(t.get("sent")) or _parse(t.get("created"))) for t in transfers]
    dated = [(t, d) for t, d in points if d is not None][:MAX_POINTS]
    width, left, top, lane = 1040, 120, 20, 44
    height = top + lane * max(len(levels), 1) + 40
    out = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Transfers over time by classification level" data-count="{len(dated)}">'
    ]
    for i, level in enumerate(levels):
        y = top + lane * i + lane // 2
        out.append(
            f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#d8dce3"/>'
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12">{_e(level)}</text>'
        )
    if dated:
        t0 = min(d for _, d in dated)
        t1 = max(d for _, d in dated)
        span = max((t1 - t0).total_seconds(), 1.0)
        plot = width - left - 30
        for t, d in dated:
            x = left + 10 + int(plot * (d - t0).total_seconds() / span)
            y = top + lane * levels.index(str(t.get("level"))) + lane // 2
            status = str(t.get("status"))
            colour = _STATUS_COLOUR.get(status, _BAD)
            out.append(
                f'<circle class="pt" data-status="{_e(status)}" cx="{x}" cy="{y}" r="6" '
                f'fill="{colour}" fill-opacity="0.8"><title>{_e(t.get("manifest"))}: '
                f"{_e(status)}</title></circle>"
            )
        base = top + lane * len(levels) + 18
        out.append(
            f'<text x="{left}" y="{base}" font-size="12">{_e(t0.date())}</text>'
            f'<text x="{width - 10}" y="{base}" font-size="12" text-anchor="end">'
            f"{_e(t1.date())}</text>"
        )
    else:
        out.append(f'<text x="{left}" y="{top + 20}" font-size="13">no transfers</text>')
    out.append("</svg>")
    return "".join(out)


def _bars(counts: Mapping[str, int], svg_id: str, label: str) -> str:
    items = sorted(counts.items(), key=lambda kv: (kv[0] != "reconciled", kv[0]))
    width, left, row = 1040, 230, 30
    height = max(len(items), 1) * row + 10
    top = max((int(v) for _, v in items), default=0) or 1
    out = [
        f'<svg id="{svg_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">'
    ]
    for i, (name, value) in enumerate(items):
        y = 5 + i * row
        w = max(2, int((width - left - 80) * int(value) / top))
        colour = _STATUS_COLOUR.get(name, _BAD)
        out.append(
            f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="13">{_e(name)}</text>'
            f'<rect class="bar" data-name="{_e(name)}" data-count="{int(value)}" x="{left}" '
            f'y="{y}" width="{w}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{left + w + 6}" y="{y + 17}" font-size="13">{int(value)}</text>'
        )
    if not items:
        out.append('<text x="10" y="20" font-size="13">nothing to show</text>')
    out.append("</svg>")
    return "".join(out)


def _checks(party: Mapping[str, Any]) -> str:
    rep = party["reputation"]
    failing = rep.get("failing_checks") or []
    rows = []
    for c in party["checks"]:
        colour = _CHECK_COLOUR.get(str(c["status"]), "#757575")
        score = "inconclusive" if c["score"] is None else f"{int(c['score'])}/10"
        rows.append(
            f'<tr class="check" data-check="{_e(c["id"])}" data-status="{_e(c["status"])}">'
            f"<td>{_e(c['title'])}</td><td><b>{_e(score)}</b></td>"
            f'<td><span class="badge" style="background:{colour}">{_e(c["status"])}</span></td>'
            f"<td>{_e(c['reason'])}</td></tr>"
        )
    failing_text = ", ".join(failing) if failing else "none"
    return (
        f"<h3>{_e(party['party'])} &mdash; {_e(party['legal_name'])} ({_e(party['jurisdiction'])})"
        f'</h3><p>Evidence level <b class="level">{_e(party["evidence_level"])}</b>: '
        f"{_e('; '.join(party['evidence_reasons']))}</p>"
        f'<div class="rep">Reputation (Beta, half-life {int(rep["half_life_days"])} days): '
        f"<b>{int(rep['score'])}%</b> (alpha {_e(rep['alpha'])}, beta {_e(rep['beta'])}; "
        f"{int(rep['positive'])} positive, {int(rep['negative'])} negative verified outcomes). "
        f"Failing checks: <b>{_e(failing_text)}</b>. The score is advice; hard gates decide "
        "on their own.</div>"
        "<table><tr><th>Check</th><th>Score</th><th>Status</th><th>Reason</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _logs(logs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for log in logs:
        fault = log.get("fault") or {}
        state = "verified" if log["ok"] else f"FAULT at {fault.get('index')}: {fault.get('kind')}"
        cps = []
        for cp in log["checkpoints"]:
            cos = ", ".join(f"{c['name']} ({c['kind']}, {c['time']})" for c in cp["cosignatures"])
            ok = "signed" if cp["signed"] else "NOT signed"
            ok += ", consistent" if cp["consistent"] else ", NOT consistent"
            err = f" &mdash; {_e(cp['error'])}" if cp.get("error") else ""
            cps.append(
                f"<li>size {_e(cp['size'])}: {_e(ok)}; cosigned by {_e(cos or 'nobody')}{err}</li>"
            )
        rows.append(
            f'<tr class="log"><td>{_e(log["party"])}</td><td>{_e(log["origin"])}</td>'
            f"<td>{int(log['size'])}</td><td>{int(log['witnessed_size'])}</td>"
            f"<td><code>{_e(log['root'])}</code></td><td>{_e(state)}</td>"
            f"<td><ul>{''.join(cps) or '<li>none presented</li>'}</ul></td></tr>"
        )
    return (
        "<table><tr><th>Party</th><th>Origin</th><th>Records</th><th>Witnessed</th>"
        "<th>Merkle root</th><th>Verification</th><th>Checkpoints</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _transfers(transfers: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for t in transfers[:MAX_ROWS]:
        rows.append(
            f'<tr class="transfer"><td><code>{_e(t["manifest"])}</code></td>'
            f"<td>{_e(t['sender'])} &rarr; {_e(t['recipient'])}</td><td>{_e(t['level'])}</td>"
            f"<td>{int(t['files'])}</td><td>{_e(t['sent'])}</td><td>{_e(t['receipt'])}</td>"
            f"<td>{_e(t['decision'])}</td><td>{_e(t['status'])}</td></tr>"
        )
    more = len(transfers) - MAX_ROWS
    note = f'<p class="note">{more} more transfers are in the JSON report.</p>' if more > 0 else ""
    return (
        "<table><tr><th>Manifest</th><th>Direction</th><th>Level</th><th>Files</th><th>Sent</th>"
        "<th>Receipt</th><th>Decision</th><th>Status</th></tr>" + "".join(rows) + "</table>" + note
    )


def render_html(doc: Mapping[str, Any]) -> str:
    """Render a compliance report (signed document or bare body) as one self-contained page.

    Raises:
        KeyError: The document is not a compliance report (validate it first).
    """
    body = doc.get("signed", doc)
    sigs = doc.get("signatures") or []
    s = body["summary"]
    a = body["agreement"]
    verdict = str(body["verdict"])
    colour = _VERDICT_COLOUR.get(verdict, "#757575")
    signed = ", ".join(f"key {str(x.get('keyid'))[:16]}..." for x in sigs) if sigs else "NOT signed"
    gates = "".join(
        f'<tr class="gate" data-status="{_e(g["status"])}"><td>{_e(g["gate"])}</td>'
        f"<td>{_e(g.get('party') or '')}</td><td><b>{_e(g['status'])}</b></td>"
        f"<td>{_e(g['detail'])}</td></tr>"
        for g in body["gates"]
    )
    discrepancies = "".join(
        f'<tr class="discrepancy"><td>{_e(d["code"])}</td><td>{_e(d.get("party"))}</td>'
        f"<td>{_e(d['message'])}</td></tr>"
        for d in body["discrepancies"][:MAX_ROWS]
    )
    cards = "".join(
        f'<div class="card" data-figure="{_e(k)}"><b>{int(v)}</b>{_e(label)}</div>'
        for k, v, label in (
            ("transfers", s["transfers"], "transfers"),
            ("reconciled", s["reconciled"], "reconciled"),
            ("discrepancies", s["discrepancies"], "discrepancies"),
        )
    )
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>Compliance report: {_e(a['title'] or a['id'])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f'<h1>Compliance report</h1><p class="meta">{_e(a["title"])}<br>Agreement '
        f"<code>{_e(a['id'])}</code> version {int(a['version'])}, digest "
        f"<code>{_e(a['digest']['sha256'])}</code><br>Auditor {_e(body['auditor']['name'])}, "
        f"report <code>{_e(body['id'])}</code>, created {_e(body['created'])}; {_e(signed)}"
        + (f"<br>{_e(a['note'])}" if a.get("note") else "")
        + "</p>",
        f'<p>Verdict: <span class="badge" id="verdict" style="background:{colour}">'
        f'{_e(verdict)}</span></p><div class="cards">{cards}</div>',
        '<h2>Hard gates</h2><p class="note">Recorded in the agreement; never overridden by a '
        "score.</p><table><tr><th>Gate</th><th>Party</th><th>Status</th><th>Detail</th></tr>"
        + (gates or '<tr><td colspan="4">the agreement records no hard gates</td></tr>')
        + "</table>",
        '<h2>Transfers over time by classification level</h2><div class="chart">'
        + _timeline(body["transfers"])
        + "</div>",
        '<h2>Reconciliation status</h2><div class="chart">'
        + _bars(s["by_status"], "status-chart", "Transfers by reconciliation status")
        + "</div>",
        "<h2>Compliance checks</h2>" + "".join(_checks(p) for p in body["parties"]),
        "<h2>Discrepancies</h2><table><tr><th>Code</th><th>Party</th><th>Message</th></tr>"
        + (discrepancies or '<tr><td colspan="3">none</td></tr>')
        + "</table>",
        "<h2>Verification details</h2>" + _logs(body["logs"]),
        f'<p class="note">Documents presented: {_e(s["documents"])}. Parameters: half-life '
        f"{_e(body['parameters']['half_life'])}, acknowledgement window "
        f"{_e(body['parameters']['ack_window'] or 'manifest expiry')}, third-party witnesses: "
        f"{_e(', '.join(body['parameters']['third_party_witnesses']) or 'none')}.</p>",
        "<h2>Transfers</h2>" + _transfers(body["transfers"]),
        "</main></body></html>\n",
    ]
    return "".join(parts)
