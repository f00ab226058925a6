"""The two checks that make the orjson fast path of canonical JSON provably RFC 8785.

:mod:`dta._json` accepts orjson's output as the JCS form of a value only after

* :func:`levels` — every object on the value's first ``MAX_DEPTH + 1`` levels is of an exact plain
  type (``dict`` with exact ``str`` member names, ``list``, ``tuple``, ``str``, ``int``, ``bool``,
  ``None``; ``float`` only where floats are allowed), reporting how deep the value nests; and
* :func:`order_safe` — the UTF-8 output does not hold both a character >= U+10000 and one in
  U+E000..U+FFFF (the only case where orjson's code-point member order differs from JCS's UTF-16
  order).

Rules this module enforces:

* Where the extension is built, :data:`canonical_line` also proves a whole line canonical from its
  bytes alone (a one-pass scanner; see ``_speedups.c`` for its grammar), which lets
  ``loads_canonical`` skip the re-serialisation, and :data:`parse_canonical` builds the value of
  such a line in the same pass (returning the caller's default where ``canonical_line`` would say
  "not proved"); without the extension both are ``None``. They only ever answer "proved" or "not
  proved": the caller's precise path decides the rest.
* Both checks have a C version in the optional extension ``dta._speedups`` (built when a C
  compiler is present, docs/adr/0015) and a pure-Python version here; they give the same answers
  (differential tests) on every value whose member names are strings, so a build without a
  compiler is slower, never different. ``DTA_PURE_PYTHON=1`` in the
  environment selects the Python versions at import time.
* Types are compared exactly (subclasses are foreign): no Python code of the checked objects runs.
* A walk never goes below level ``max_depth + 1``, so it terminates on cyclic values.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

__all__ = ["SPEEDUPS", "canonical_line", "levels", "order_safe", "py_levels", "py_order_safe"]

_PLAIN_TYPES: frozenset[type] = frozenset({dict, list, tuple, str, int, bool, type(None)})
_WITH_FLOAT: frozenset[type] = _PLAIN_TYPES | {float}
_referents = gc.get_referents


def py_levels(value: Any, max_depth: int, allow_float: bool) -> int:
    """Levels of ``value`` (1 for a scalar; more than ``max_depth`` reported as ``max_depth + 1``).

    Returns -1 if a type outside the plain set occurs on the first ``max_depth + 1`` levels. Each
    level is type-checked *before* its referents are taken, so the walk never leaves plain
    containers (the referents of other objects are classes, modules, the whole heap).
    ``gc.get_referents`` of a dict whose names are all exact ``str`` yields only the values; of
    any other dict also the names, which are then type-checked like values: a ``str`` subclass
    name gives -1 as in the C version, an ``int`` name is accepted here but not there — harmless,
    since both callers only ask about values orjson has serialised or parsed, and orjson rejects
    names that are not ``str``.
    """
    types = _WITH_FLOAT if allow_float else _PLAIN_TYPES
    refs = [value]
    depth = 0
    while refs:
        if not types.issuperset(map(type, refs)):
            return -1
        depth += 1
        if depth > max_depth:
            break
        refs = _referents(*refs)
    return depth


def py_order_safe(data: bytes) -> bool:
    """True unless UTF-8 ``data`` holds both a character >= U+10000 and one in U+E000..U+FFFF."""
    return (b"\xee" not in data and b"\xef" not in data) or not (
        b"\xf0" in data or b"\xf1" in data or b"\xf2" in data or b"\xf3" in data or b"\xf4" in data
    )


levels: Callable[[Any, int, bool], int] = py_levels
order_safe: Callable[[bytes], bool] = py_order_safe
canonical_line: Callable[[bytes, int], bool] | None = None
parse_canonical: Callable[[bytes, int, object], Any] | None = None
canonical_members: Callable[[bytes, int], int] | None = None
SPEEDUPS = False
if not os.environ.get("DTA_PURE_PYTHON"):
    try:
        from dta import _speedups
    except ImportError:  # built without a C compiler: the Python versions above
        pass
    else:
        levels = _speedups.levels
        order_safe = _speedups.order_safe
        canonical_line = _speedups.canonical_line
        parse_canonical = _speedups.parse_canonical
        canonical_members = _speedups.canonical_members
        SPEEDUPS = True
