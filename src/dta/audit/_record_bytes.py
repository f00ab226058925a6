"""The byte-level check of a canonical audit-record line (the verifier's hot path).

Rules this module enforces:

* :data:`LINE_HEAD` and :data:`LINE_TAIL` spell out, byte for byte, the canonical line of a record
  whose text members are printable ASCII without ``"`` or ``\\`` and whose index is below
  10**15: the head from ``{"_type"`` to ``"details":{`` and the tail from ``,"index":`` to the
  closing brace. They are stricter than :func:`dta.audit._record.check_record`; a line they do not
  match is decided by parsing it.
* :func:`line_fast_ok` says True only for a canonical line whose parsed record has ten members and
  matches both patterns (and a real date): such a record passes every check.
* :func:`line_index_prev` decides the same without parsing (docs/adr/0101), where the C scanner is
  built: the scanner proves the line canonical and counts ten outermost members; the anchored
  head fixes the first five, and the tail matched at the last ``,"index":`` fixes the last five
  (in a proved JSON text that separator cannot lie inside a string, and the final brace closes
  the outermost object), so nothing else fits. The head verdict is cached per distinct head
  (action, actor and agreement repeat across a log; bounded).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from dta._json import MAX_DEPTH
from dta._json_walk import canonical_members
from dta.audit._actions import ACTIONS

__all__ = [
    "HEX64",
    "LINE_HEAD",
    "LINE_TAIL",
    "MAX_LINE",
    "TEXT",
    "head_end",
    "line_fast_ok",
    "line_fast_ok_cached",
    "line_index_prev",
]

MAX_LINE = 65_535
_iso = datetime.fromisoformat

TEXT = rb"[\x20\x21\x23-\x5b\x5d-\x7e]{1,1024}"  # printable ASCII without " and \\
HEX64 = rb"[0-9a-f]{64}"
LINE_HEAD = re.compile(
    rb'\{"_type":"dta\.audit-record","action":"([a-z0-9._-]{1,300})","actor":"'
    + TEXT
    + rb'","agreement":(?:null|\{"digest":\{"sha256":"'
    + HEX64
    + rb'"\},"id":"'
    + TEXT
    + rb'"\}),"details":\{'
)
LINE_TAIL = re.compile(
    rb',"index":(?P<index>0|[1-9][0-9]{0,14}),"prev":"(?P<prev>'
    + HEX64
    + rb')","spec_version":"1\.0","subject":\{"_type":"'
    + TEXT
    + rb'","digest":\{"sha256":"'
    + HEX64
    + rb'"\},"id":"'
    + TEXT
    + rb'"\},"time":"(?P<time>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:'
    + rb'[0-9]{2}(?:\.[0-9]{1,9})?Z)"\}\Z'
)


def line_fast_ok(line: bytes, rec: Any) -> bool:
    """True if the *canonical* ``line`` of the parsed ``rec`` certainly passes every check.

    The verifier's hot path: two byte regexes over the canonical line instead of walking the
    dict. Stricter than ``check_record`` (printable-ASCII text only, index below 10**15);
    False sends the record to ``check_record``, which decides. Only valid when ``line`` is
    the canonical form of ``rec`` (members in sorted order, so the *last* ``,"index":`` is the
    record's own: nothing after it can hold an object member).
    """
    if type(rec) is not dict or len(rec) != 10:
        return False
    head = LINE_HEAD.match(line)
    if head is None or head.group(1).decode() not in ACTIONS:
        return False
    cut = line.rfind(b',"index":')
    tail = LINE_TAIL.match(line, cut) if cut > head.end() else None
    if tail is None:
        return False
    try:
        _iso(tail["time"][:19].decode())
    except ValueError:
        return False
    return True


_DETAILS = b'"details":{'
_INDEX = b',"index":'
_HEADS_MAX = 1024
_heads: dict[bytes, bool] = {}  # line head (up to details) -> passes LINE_HEAD with a core action
_MEMBERS = 10
_members = canonical_members  # None without the C extension


def head_end(line: bytes) -> int:
    """Where the body of ``details`` starts if the line's head is a valid one, else 0.

    The head (``_type`` .. ``"details":{``: action, actor and agreement) repeats across a log;
    its text fields cannot hold ``"``, so the first ``"details":{`` ends it and equal heads get
    equal verdicts, cached (bounded).
    """
    k = line.find(_DETAILS) + len(_DETAILS)
    head = line[:k]
    known = _heads.get(head)
    if known is None:
        m = LINE_HEAD.match(line)
        known = m is not None and m.end() == k and m.group(1).decode() in ACTIONS
        if len(_heads) < _HEADS_MAX:
            _heads[head] = known
    return k if known else 0


def _tail(line: bytes, k: int) -> re.Match[bytes] | None:
    """The tail match from the last ``,"index":`` (after ``k``) with a real date, or None."""
    cut = line.rfind(_INDEX)
    tail = LINE_TAIL.match(line, cut) if cut > k else None
    if tail is None:
        return None
    try:
        _iso(tail["time"][:19].decode())
    except ValueError:
        return None
    return tail


def line_fast_ok_cached(line: bytes, rec: Any) -> bool:
    """:func:`line_fast_ok` with the head verdict cached: the same answer, faster in a log."""
    if type(rec) is not dict or len(rec) != _MEMBERS:
        return False
    k = head_end(line)
    return k > 0 and _tail(line, k) is not None


def line_index_prev(line: bytes) -> tuple[int, str] | None:
    """``(index, prev)`` of a line proved to be a valid canonical record, without parsing it.

    None means "not decided here" (also without the C extension): the caller parses the line
    and checks the record.
    """
    if _members is None or len(line) > MAX_LINE or _members(line, MAX_DEPTH) != _MEMBERS:
        return None
    k = head_end(line)
    tail = _tail(line, k) if k else None
    return None if tail is None else (int(tail["index"]), tail["prev"].decode())
