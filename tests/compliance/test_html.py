"""HTML report: one self-contained, escaped page that a real browser renders with its figures."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from compliance_helpers import CN, DAY, START, US, audit, send

from dta import compliance

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and os.path.exists(p)
    ),
    None,
)
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _world_report(make_world) -> dict:
    def evil(spec):
        spec["parties"][1]["legal_name"] = EVIL
        spec["title"] = "Study & <b>bold</b> title"

    w = make_world(tweak=evil)
    for day in (1, 8, 15, 22):
        send(w, day)
    send(w, 25, receipt_after=None)
    send(w, 26, CN, US, reject="file changed")
    w.witness_all(at=START + 27 * DAY)
    rec = audit(w, 28)
    body = compliance.build_report(rec, auditor="Audit <&> Co", auditor_key=w.auditor.public_key)
    return compliance.sign_report(body, w.auditor)


def test_html_is_self_contained_and_escapes_every_text(make_world):
    """No script, no external resource, and hostile names appear only escaped."""
    page = compliance.render_html(_world_report(make_world))
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "&lt;script&gt;" in page
    assert "Audit &lt;&amp;&gt; Co" in page
    assert not re.search(r"<[^>]*\s(src|href)\s*=", page)
    assert "url(" not in page
    assert "@import" not in page
    urls = set(re.findall(r"https?://[^\"' <>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG into rows of raw pixel bytes (zlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = colour = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
    assert depth == 8
    assert colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120, check=False)


def test_html_report_renders_in_headless_chromium(make_world, tmp_path):
    """Chromium renders the page: the figures are in the DOM and the screenshot is not blank."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required under CI (scripts/test installs it)")
        pytest.skip("Chromium not installed (apt-get install -y chromium)")
    doc = _world_report(make_world)
    page = tmp_path / "report.html"
    page.write_text(compliance.render_html(doc), encoding="utf-8")
    url = page.resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-500:]
    html = dom.stdout
    body = doc["signed"]
    assert html.count('class="pt"') == body["summary"]["transfers"] == 6
    assert re.search(r'id="timeline"[^>]*data-count="6"', html)
    assert 'data-name="reconciled" data-count="4"' in html
    assert 'data-name="unacknowledged" data-count="1"' in html
    assert 'data-name="rejected" data-count="1"' in html
    assert html.count('class="check"') == 12
    assert html.count('class="log"') == 2
    assert "<script>alert" not in html
    shot = tmp_path / "shot.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1200,2000", url], tmp_path)
    assert res.returncode == 0, res.stderr[-500:]
    width, bpp, rows = _png_pixels(shot.read_bytes())
    assert width == 1200
    assert len(rows) == 2000
    colours = set()
    background = rows[5][5 * bpp : 6 * bpp]
    painted = 0
    for y in range(0, len(rows), 7):
        row = rows[y]
        for x in range(0, width, 7):
            px = row[x * bpp : x * bpp + 3]
            colours.add(px)
            painted += px != background[:3]
    assert len(colours) > 50
    assert painted > 2000
    greens = sum(
        1
        for y in range(0, len(rows), 3)
        for x in range(0, width, 3)
        if rows[y][x * bpp : x * bpp + 3] == bytes([0x2E, 0x7D, 0x32])
    )
    assert greens > 20
