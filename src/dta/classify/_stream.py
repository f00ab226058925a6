"""Streaming text scan in bounded memory: overlapping windows, line/column/byte locations.

Rules this module enforces:

* Input is read in blocks of :data:`BLOCK` bytes and decoded incrementally; at most one window
  (``BLOCK`` characters plus :data:`OVERLAP` look-ahead and :data:`BACK` look-behind) is held,
  so memory does not grow with the file.
* A hit is accepted by the window in which it *starts* (after the look-behind margin); the
  look-ahead is longer than the longest match any detector returns, so a value that straddles
  a block boundary is found exactly once.
* Locations: 1-based line and column (characters), 0-based byte offset in the file's encoding
  (with a BOM counted), and the match length in characters.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import BinaryIO

from dta.classify._engine import MAX_MATCH, scan
from dta.classify._normalize import normalize
from dta.classify._report import Collector

__all__ = ["BACK", "BLOCK", "OVERLAP", "scan_stream"]

BLOCK = 1 << 20
OVERLAP = MAX_MATCH + 1024
BACK = 512


class _Locator:
    """Tracks line, column and byte offset while positions move forward only."""

    __slots__ = ("byte", "encoding", "line", "line_start", "pos")

    def __init__(self, encoding: str, bom: int):
        self.encoding = encoding
        self.pos = 0  # absolute char position counted so far
        self.line = 1
        self.line_start = 0
        self.byte = bom

    def advance(self, orig: str, base: int, to: int) -> None:
        """Count characters of ``orig`` (which starts at absolute ``base``) up to ``to``."""
        if to <= self.pos:
            return
        seg = orig[self.pos - base : to - base]
        n = seg.count("\n")
        if n:
            self.line += n
            self.line_start = self.pos + seg.rfind("\n") + 1
        self.byte += len(seg.encode(self.encoding, "replace"))
        self.pos = to


def scan_stream(
    handle: BinaryIO,
    encoding: str,
    collector: Collector,
    *,
    bom: int = 0,
    on_bytes: Callable[[bytes], None] | None = None,
) -> None:
    """Scan a binary stream as text, adding hits with line/column/offset locations.

    Args:
        handle: Binary stream positioned after any BOM.
        encoding: Python codec name of the text.
        collector: Receives every hit.
        bom: Bytes already consumed before ``handle``'s position (for byte offsets).
        on_bytes: Called with every block read (hashing, progress).
    """
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    orig = ""
    base = 0  # absolute char index of orig[0]
    accept_from = 0
    loc = _Locator(encoding if encoding != "utf-8-sig" else "utf-8", bom)
    eof = False
    while not eof:
        data = handle.read(BLOCK)
        if on_bytes is not None and data:
            on_bytes(data)
        eof = not data
        orig += decoder.decode(data, final=eof)
        if not eof and len(orig) - (accept_from - base) < BLOCK + OVERLAP:
            continue
        norm = normalize(orig)
        accept_to = base + len(orig) if eof else base + len(orig) - OVERLAP
        for hit in scan(norm):
            start = base + hit.start
            if start < accept_from or start >= accept_to:
                continue
            loc.advance(orig, base, start)
            text = orig[hit.start : hit.end]
            location = {
                "line": loc.line,
                "column": start - loc.line_start + 1,
                "offset": loc.byte,
                "length": len(text),
            }
            collector.add(hit, location)
        loc.advance(orig, base, accept_to)
        keep_from = max(accept_to - BACK, base)
        orig = orig[keep_from - base :]
        base = keep_from
        accept_from = accept_to
