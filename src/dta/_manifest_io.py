"""Write a (possibly huge) manifest as canonical JSON without building it in memory at once.

Rules this module enforces:

* The output is byte-for-byte ``dta.canonical_bytes(doc)``: objects are written with members in
  RFC 8785 order (UTF-16 code units of the names), and every leaf value and every chunk of a
  long array is encoded by :func:`dta.canonical_bytes` itself, so there is one canonical form.
* Arrays longer than ``chunk`` elements are written ``chunk`` elements at a time, so the peak
  extra memory is one chunk's bytes, not the whole document's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from dta._json import canonical_bytes

__all__ = ["write_canonical"]

_CHUNK = 2048


def write_canonical(doc: Any, stream: BinaryIO, *, chunk: int = _CHUNK) -> None:
    """Write ``canonical_bytes(doc)`` to ``stream`` in pieces.

    Args:
        doc: A JSON value (typically a manifest body or signed manifest).
        stream: A binary file opened for writing.
        chunk: Array elements encoded per piece.

    Raises:
        CanonicalError: The value is not representable in canonical JSON.
        OSError: Writing failed.
    """
    _write(doc, stream.write, chunk)


def _write(value: Any, write: Callable[[bytes], Any], chunk: int) -> None:
    if isinstance(value, Mapping) and _large(value, chunk):
        write(b"{")
        for i, key in enumerate(sorted(value, key=lambda k: str(k).encode("utf-16-be"))):
            if i:
                write(b",")
            write(canonical_bytes(key))
            write(b":")
            _write(value[key], write, chunk)
        write(b"}")
    elif isinstance(value, list) and len(value) > chunk:
        write(b"[")
        for start in range(0, len(value), chunk):
            if start:
                write(b",")
            write(canonical_bytes(value[start : start + chunk])[1:-1])
        write(b"]")
    else:
        write(canonical_bytes(value))


def _large(value: Mapping[str, Any], chunk: int) -> bool:
    """True if some member is (or holds at the next level) a list longer than ``chunk``."""
    for member in value.values():
        if isinstance(member, list) and len(member) > chunk:
            return True
        if isinstance(member, Mapping) and _large(member, chunk):
            return True
    return False
