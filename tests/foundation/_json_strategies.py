"""Hypothesis strategies for JSON values used by the strict-JSON tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SAFE = 2**53 - 1

# Member names mix ASCII, U+E000..U+FFFF and supplementary-plane characters: the one place
# where code-point order and RFC 8785's UTF-16 order disagree.
KEY_CHARS = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
    st.characters(codec="utf-8"),
)
KEYS = st.text(KEY_CHARS, max_size=6)
STRINGS = st.text(st.characters(codec="utf-8"), max_size=12)
INTS = st.integers(-SAFE, SAFE)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
# Integral floats in [2**53, 1e21) are written as integer digits by ECMAScript, which dta.loads
# then rejects as out-of-range integers; round-trip tests leave them out.
LOADABLE_FLOATS = FLOATS.filter(lambda f: abs(f) < 2**53 or abs(f) >= 1e21 or f != int(f))


def json_values(
    *, floats: bool, loadable: bool = False, max_leaves: int = 30
) -> st.SearchStrategy[Any]:
    """Random JSON values (lists and dicts, never tuples), optionally with finite floats."""
    scalars = st.none() | st.booleans() | INTS | STRINGS
    if floats:
        scalars = scalars | (LOADABLE_FLOATS if loadable else FLOATS)
    return st.recursive(
        scalars,
        lambda kids: st.lists(kids, max_size=5) | st.dictionaries(KEYS, kids, max_size=5),
        max_leaves=max_leaves,
    )
