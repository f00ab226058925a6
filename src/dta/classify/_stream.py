"""Streaming text scan in bounded memory: overlapping windows, line/column/byte locations.

Rules this module enforces:

* Input is read in blocks of :data:`BLOCK` bytes and decoded incrementally; at most one window
  (``BLOCK`` characters plus :data:`OVERLAP` look-ahead and :data:`BACK` look-behind) is held,
  so memory does not grow with the file.
* A hit is accepted by the window in which it *starts* (after the look-behind margin); the
  look-ahead is longer than the longest match any detector returns, so a value that straddles
  a block boundary is found exactly once.
* Full-width normalisation runs only on windows whose bytes (UTF-8) hold a full-width digit or
  Latin letter, or whose kept margin from the previous window does; other encodings are always
  normalised (the check is then done on the decoded text).
* Locations: 1-based line and column (characters), 0-based byte offset in the file's encoding
  (with a BOM counted), and the match length in characters.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import BinaryIO

from dta.classify import _candidates
from dta.classify._engine import MAX_MATCH, scan
from dta.classify._normalize import has_fullwidth, normalize
from dta.classify._report import Collector

__all__ = ["BACK", "BLOCK", "OVERLAP", "scan_stream"]

BLOCK = 1 << 20
OVERLAP = MAX_MATCH + 1024
BACK = 512
# UTF-8 of the full-width digits and Latin letters (U+FF10-FF19, FF21-FF3A, FF41-FF5A): a bytes
# search with a literal first byte is far cheaper than a character-class scan of the decoded text.
_FW_UTF8 = re.compile(rb"\xef(?:\xbc[\x90-\x99\xa1-\xba]|\xbd[\x81-\x9a])")


def _has_fw_utf8(data: bytes) -> bool:
    """True when ``data`` holds the UTF-8 of a full-width digit or Latin letter.

    Lead bytes ``EF`` are found with ``bytes.find`` (memchr) and only they are matched.
    """
    find = data.find
    pos = find(b"\xef")
    while pos >= 0:
        if _FW_UTF8.match(data, pos) is not None:
            return True
        pos = find(b"\xef", pos + 1)
    return False


class _Locator:
    """Tracks line, column and byte offset while positions move forward only."""

    __slots__ = ("ascii_one_byte", "byte", "encoding", "line", "line_start", "pos")

    def __init__(self, encoding: str, bom: int):
        self.encoding = encoding
        # ASCII characters are one byte each: an all-ASCII segment needs no encoding to count
        self.ascii_one_byte = codecs.lookup(encoding).name in ("utf-8", "gb18030")
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
        if self.ascii_one_byte and seg.isascii():
            self.byte += len(seg)
        else:
            self.byte += len(seg.encode(self.encoding, "replace"))
        self.pos = to

    def jump(self, orig: str, base: int, to: int, end_byte: int) -> None:
        """Like :meth:`advance` for UTF-8 text whose decoded characters all re-encode to the
        bytes they came from; ``end_byte`` is the byte offset of the end of ``orig``.

        When the stretch to count is longer than what follows it, the offset is taken back
        from the end (encoding the shorter tail) and lines are counted in place, unsliced.
        """
        lo, hi = self.pos - base, to - base
        if hi <= lo or len(orig) - hi >= hi - lo:
            self.advance(orig, base, to)
            return
        n = orig.count("\n", lo, hi)
        if n:
            self.line += n
            self.line_start = base + orig.rfind("\n", lo, hi) + 1
        self.byte = end_byte - len(orig[hi:].encode("utf-8"))
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
    utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    fw_new = not utf8  # full-width letters/digits may be in text decoded since the last window
    fw_kept = False  # ... or in the look-behind/look-ahead kept from the previous window
    prev_tail = b""
    orig = ""
    base = 0  # absolute char index of orig[0]
    accept_from = 0
    loc = _Locator(encoding if encoding != "utf-8-sig" else "utf-8", bom)
    # plain UTF-8 and no replacement character decoded yet: the decoded text re-encodes to
    # exactly the bytes read, so the byte offset of its end is known without encoding it
    lossless = codecs.lookup(encoding).name == "utf-8"
    fed = bom  # bytes handed to the decoder, plus the BOM before them
    eof = False
    while not eof:
        data = handle.read(BLOCK)
        if on_bytes is not None and data:
            on_bytes(data)
        eof = not data
        if utf8 and data:
            if not fw_new:
                has_fw = _candidates.c_fullwidth_utf8 or _has_fw_utf8
                fw_new = has_fw(data) or has_fw(prev_tail + data[:2])
            prev_tail = data[-2:]
        fed += len(data)
        chunk = decoder.decode(data, final=eof)
        if lossless and "\ufffd" in chunk:
            lossless = False
        orig += chunk
        del chunk  # the window holds a copy; do not keep a second one through the scan
        if not eof and len(orig) - (accept_from - base) < BLOCK + OVERLAP:
            continue
        fw = fw_new or fw_kept
        norm = normalize(orig) if fw else orig
        accept_to = base + len(orig) if eof else base + len(orig) - OVERLAP
        add = collector.add
        wants_detail = collector.wants_detail
        for hit in scan(norm):
            start = base + hit.start
            if start < accept_from or start >= accept_to:
                continue
            if not wants_detail(hit):
                add(hit, None)  # counted only: no location needed
                continue
            if start > loc.pos:
                loc.advance(orig, base, start)
            location = {
                "line": loc.line,
                "column": start - loc.line_start + 1,
                "offset": loc.byte,
                "length": hit.end - hit.start,
            }
            add(hit, location)
        if lossless:
            loc.jump(orig, base, accept_to, fed - len(decoder.getstate()[0]))
        else:
            loc.advance(orig, base, accept_to)
        keep_from = max(accept_to - BACK, base)
        orig = orig[keep_from - base :]
        fw_kept = fw and has_fullwidth(orig)
        fw_new = not utf8
        base = keep_from
        accept_from = accept_to
