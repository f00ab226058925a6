"""Column-aware scanning of CSV/TSV and JSON/JSONL: locations by row+column or JSON pointer.

Rules this module enforces:

* A value in a column / member named like a secret (``password``, ``api_key``, ``密码``) is
  checked as a secret assignment (length, placeholder and entropy rules); a value in a column /
  member named like a passport (``passport_no``, ``护照号``) as a passport number.
* CSV/TSV: the first row is the header; every cell is scanned with its column name as extra
  context (``ssn``, ``身份证号`` ...), each finding is located by 1-based data row and column
  (name and 0-based index), and each column gets its own verdict. Rows are batched into one
  scan so per-cell overhead stays small; batches are bounded, so memory stays bounded.
* JSON: parsed with :func:`dta.loads` (floats allowed) up to :data:`JSON_MAX` bytes; string and
  integer values are scanned with their member name as context and located by JSON pointer
  (RFC 6901). Member "columns" are pointers with array indices replaced by ``*``.
* JSONL: one document per line, located by line and pointer. A line or document that is not
  strict JSON raises :class:`NotStructured` so the caller rescans the file as plain text.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from dta._json import loads
from dta.classify._detectors_passport import is_passport_name, passport_field_hit
from dta.classify._detectors_secrets import is_secret_name, value_hit
from dta.classify._engine import scan
from dta.classify._normalize import normalize
from dta.classify._report import Collector
from dta.errors import Error

__all__ = ["JSON_MAX", "NotStructured", "scan_csv", "scan_json", "scan_jsonl"]

JSON_MAX = 64 * 1024 * 1024
_BATCH = 256 * 1024
_FIELD_MAX = 16 * 1024 * 1024


class NotStructured(Exception):
    """The file is not valid CSV/JSON after all; scan it as text instead."""


class _Batch:
    """Segments joined with newlines, scanned together, mapped back to their locations."""

    def __init__(self, collector: Collector):
        self.collector = collector
        self.parts: list[str] = []
        self.starts: list[int] = []
        self.meta: list[tuple[dict[str, Any], str, str]] = []
        self.size = 0

    def add(self, text: str, location: dict[str, Any], column: str, context: str) -> None:
        self.starts.append(self.size)
        self.parts.append(text)
        self.meta.append((location, column, context))
        self.size += len(text) + 1
        if self.size >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        joined = normalize("\n".join(self.parts))
        starts = self.starts
        meta = self.meta

        def extra(pos: int) -> str:
            return meta[bisect.bisect_right(starts, pos) - 1][2]

        hits = scan(joined, extra)
        taken = {bisect.bisect_right(starts, h.start) - 1 for h in hits}
        for i, (_, _, name) in enumerate(meta):
            if i in taken or not name:
                continue
            end = starts[i + 1] - 1 if i + 1 < len(starts) else len(joined)
            hit = None
            if is_secret_name(name):
                hit = value_hit(joined[starts[i] : end], starts[i], "value of a secret-named field")
            if hit is None and is_passport_name(name):  # "passport" also reads as "pass"
                hit = passport_field_hit(joined[starts[i] : end], starts[i])
            if hit is not None:
                hits.append(hit)
        for hit in hits:
            i = bisect.bisect_right(starts, hit.start) - 1
            location, column, _ = meta[i]
            self.collector.add(hit, dict(location), column)
        self.parts, self.starts, self.meta, self.size = [], [], [], 0


def scan_csv(handle: BinaryIO, encoding: str, collector: Collector, *, delimiter: str) -> None:
    """Scan a CSV/TSV stream column by column.

    Raises:
        NotStructured: The file is not parseable as CSV.
    """
    text = io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="")
    limit = csv.field_size_limit()
    csv.field_size_limit(_FIELD_MAX)
    try:
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip() or f"column {i + 1}" for i, h in enumerate(header)]
        for i, name in enumerate(names):
            collector.column(name, i)
        batch = _Batch(collector)
        for row_no, row in enumerate(reader, start=1):
            for i, cell in enumerate(row):
                if not cell:
                    continue
                name = names[i] if i < len(names) else f"column {i + 1}"
                col = collector.column(name, i)
                col.nonempty = True
                loc = {"row": row_no, "field": name, "field_index": i}
                batch.add(cell, loc, name, name)
        batch.flush()
    except csv.Error as exc:
        raise NotStructured(f"not valid CSV ({exc})") from exc
    finally:
        csv.field_size_limit(limit)
        text.detach()


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _walk(doc: Any) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(pointer, column pattern, member name, text)`` for scannable leaves."""
    stack: list[tuple[Any, str, str, str]] = [(doc, "", "", "")]
    while stack:
        value, pointer, pattern, name = stack.pop()
        if isinstance(value, dict):
            for k in reversed(list(value)):
                e = _escape(k)
                stack.append((value[k], f"{pointer}/{e}", f"{pattern}/{e}", k))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                stack.append((value[i], f"{pointer}/{i}", f"{pattern}/*", name))
        elif isinstance(value, str):
            if value:
                yield pointer, pattern or "/", name, value
        elif isinstance(value, int) and not isinstance(value, bool):
            yield pointer, pattern or "/", name, str(value)


def _scan_doc(doc: Any, batch: _Batch, collector: Collector, line: int | None) -> None:
    for pointer, pattern, name, text in _walk(doc):
        col = collector.column(pattern)
        col.nonempty = True
        loc: dict[str, Any] = {"pointer": pointer}
        if line is not None:
            loc["line"] = line
        batch.add(text, loc, pattern, name)


def scan_json(data: bytes, collector: Collector) -> None:
    """Scan one JSON document held in ``data``.

    Raises:
        NotStructured: The data is not strict JSON.
    """
    try:
        doc = loads(data, allow_floats=True, max_size=JSON_MAX)
    except Error as exc:
        raise NotStructured(f"not strict JSON ({exc})") from exc
    batch = _Batch(collector)
    _scan_doc(doc, batch, collector, None)
    batch.flush()


def scan_jsonl(
    handle: BinaryIO, collector: Collector, on_bytes: Callable[[bytes], None] | None = None
) -> None:
    """Scan a JSON Lines stream one line at a time.

    Raises:
        NotStructured: A line is not strict JSON or is longer than :data:`JSON_MAX`.
    """
    batch = _Batch(collector)
    line_no = 0
    while True:
        raw = handle.readline(JSON_MAX + 1)
        if not raw:
            break
        if on_bytes is not None:
            on_bytes(raw)
        line_no += 1
        if len(raw) > JSON_MAX:
            raise NotStructured(f"line {line_no} longer than {JSON_MAX} bytes")
        if not raw.strip():
            continue
        try:
            doc = loads(raw.strip(), allow_floats=True, max_size=JSON_MAX)
        except Error as exc:
            raise NotStructured(f"line {line_no}: not strict JSON ({exc})") from exc
        _scan_doc(doc, batch, collector, line_no)
    batch.flush()
