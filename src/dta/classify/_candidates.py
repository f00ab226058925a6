"""Candidate passes of the detection engine: numeric-token spans and keyword anchors.

Rules this module enforces:

* Numeric tokens (digits with single space/hyphen/dot separators, ``+``/``(`` prefixes) are the
  matches of :data:`NUM`, a pattern that starts with a plain character class (the regex engine
  skips non-digits in C); boundaries are checked by look-behind *after* the first character.
* Keyword anchors are located with ``str.find`` (AWS key-id prefixes: one regex with a literal
  first character): case-sensitive credential prefixes, PEM, TLP, markings,
  EAR99/ITAR/USML, ``P<`` for passport MRZs, passport/护照 for bare passport numbers;
  keywords with a rare character (``<``, ``:``, ``内``, ``护``) are found through that one
  character (memchr speed). Occurrences of one keyword never overlap (each find resumes after
  the previous occurrence).
* Both passes have a C version in the optional accelerator
  (``dta._speedups.classify_candidates``, ADR 0103): one walk over the str's own code units
  that returns exactly these spans and anchors, in the same order (differential tests in
  ``tests/classify/test_classify_speedups.py``). :func:`use_speedups` selects it at import
  unless ``DTA_NO_SPEEDUPS`` or ``DTA_PURE_PYTHON`` is set or the extension is not built; the
  engine reads :data:`candidates` at every scan, so findings never depend on the build. The
  same switch selects the C versions of the full-width test of raw UTF-8 blocks
  (:data:`c_fullwidth_utf8`) and of the context window (:data:`c_window`).
* Results are flat lists: ``[start, end, ...]`` for tokens, ``[offset, word index, ...]`` for
  anchors, the index into :data:`ANCHOR_WORDS`; the same walk lists the offsets the other
  passes start from (assignment operators ``=``/``:``/``：``, ``@``, ``eyJ``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

__all__ = [
    "ANCHOR_WORDS",
    "NUM",
    "SPEEDUPS",
    "Candidates",
    "anchored",
    "c_fullwidth_utf8",
    "c_window",
    "candidates",
    "py_anchor_list",
    "py_assign_positions",
    "py_candidates",
    "py_marks",
    "py_numeric_spans",
    "use_speedups",
]

# Numeric tokens. Most digits in prose start short clusters (dates, amounts, versions); each
# branch fails on those within a few opcodes: single-character repeats only, a possessive
# repeat for the long-number branch (no backtracking on failure), ISO dates skipped outright.
_USCC_CH = "[0-9A-HJ-NPQRTUWXY]"
NUM = re.compile(
    r"[0-9+(](?<![0-9_.+\-/].)"  # a cluster start: the only per-digit work
    r"(?:(?<=[A-Z]{2}[0-9])[0-9](?= ?[A-Z0-9]{4})"  # IBAN check digits after a country code
    r"|(?<=[ANY][1-9])(?<![0-9A-Za-z]..)[0-9]{6}" + _USCC_CH + r"{10}(?![0-9A-Za-z])"  # USCC A/N/Y
    r"|(?<![A-Za-z].)(?:"
    r"(?<=[0-9])(?:[A-E][0-9]{3}"  # ECCN 0A000
    r"|[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9.])"  # dotted quad
    r"|(?<=[1-9])[1-9][0-9]{6}" + _USCC_CH + r"{10}(?![0-9A-Za-z])"  # USCC, digit authority
    r")"
    r"|(?=[0-9 .\-()]{8})(?![0-9]{3}-[01][0-9]-[0-3][0-9](?![0-9]))"  # long enough, not a date
    r"(?:[ .\-]?[0-9]|\)[ ]?[0-9]){8,}+[Xx]?"  # >= 9 digits, single separators
    r"))"
)

# Case-sensitive anchors located with str.find (no per-character regex work); each anchor
# resolves to the keyword around it. AWS key-id prefixes share one literal-prefixed regex.
_AWS_START = re.compile("A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|IPA|NPA|NVA|PKA)")
_SIMPLE = {
    "-----BEGIN ": "-----BEGIN ",
    "EAR99": "EAR99",
    "ITAR": "ITAR",
    "USML": "USML",
    "CUI": "CUI",
    "CONTROLLED UNCLASSIFIED INFORMATION": "CONTROLLED UNCLASSIFIED INFORMATION",
    "PROPRIETARY": "PROPRIETARY",
    "TRADE SECRET": "TRADE SECRET",
    "Trade Secret": "Trade Secret",
    "assport": "passport",
    "ASSPORT": "PASSPORT",
}
# Keywords found through their rarest character: a one-character str.find is a memchr-speed
# scan, a multi-character find is several times slower. (character, keyword, offset of the
# character inside the keyword).
_BY_CHAR = (("<", "P<", 1), (":", "TLP:", 3), ("内", "内部", 0), ("护", "护照", 0))
_PHRASES = (
    ("Company Confidential", 8),
    ("Confidential and Proprietary", 0),
    ("Proprietary and Confidential", 17),
)
_SEALS = {"秘": "秘密", "机": "机密", "绝": "绝密"}
# Every keyword anchored can report, indexed as the C accelerator's classify_anchors reports
# them (the order of its word table: AWS prefixes, _SIMPLE, _BY_CHAR, CONFIDENTIAL, _PHRASES,
# the seals).
ANCHOR_WORDS = (
    *("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA"),
    *_SIMPLE.values(),
    *(word for _, word, _ in _BY_CHAR),
    "CONFIDENTIAL",
    *(phrase for phrase, _ in _PHRASES),
    "商业秘密",
    *_SEALS.values(),
)
_ANCHOR_INDEX = {word: k for k, word in enumerate(ANCHOR_WORDS)}


def anchored(text: str) -> list[tuple[int, str]]:
    """Positions and keywords of every keyword occurrence."""
    find = text.find
    found: list[tuple[int, str]] = [(m.start(), m.group()) for m in _AWS_START.finditer(text)]
    for anchor, word in _SIMPLE.items():
        pos = find(anchor)
        while pos >= 0:
            found.append((pos, word))
            pos = find(anchor, pos + len(anchor))
    for char, word, offset in _BY_CHAR:
        pos = find(char)
        while pos >= 0:
            start = pos - offset
            if start >= 0 and text.startswith(word, start):
                found.append((start, word))
            pos = find(char, pos + 1)
    pos = find("ONFIDENTIAL")
    while pos >= 0:
        if pos and text[pos - 1] == "C":
            found.append((pos - 1, "CONFIDENTIAL"))
        pos = find("ONFIDENTIAL", pos + 11)
    pos = find("onfidential")
    while pos >= 0:
        for phrase, offset in _PHRASES:
            start = pos - 1 - offset
            if start >= 0 and text.startswith(phrase, start):
                found.append((start, phrase))
        pos = find("onfidential", pos + 11)
    pos = find("密")
    while pos >= 0:
        seal = _SEALS.get(text[pos - 1]) if pos else None
        if seal == "秘密" and pos >= 3 and text[pos - 3 : pos - 1] == "商业":
            found.append((pos - 3, "商业秘密"))
        elif seal is not None:
            found.append((pos - 1, seal))
        pos = find("密", pos + 1)
    return found


def py_anchor_list(text: str) -> list[int]:
    """:func:`anchored` flattened to ``[pos, word index, ...]`` (see :data:`ANCHOR_WORDS`)."""
    index = _ANCHOR_INDEX
    return [x for pos, word in anchored(text) for x in (pos, index[word])]


def py_numeric_spans(text: str) -> list[int]:
    """The spans of the numeric tokens of ``text`` flattened to ``[start, end, ...]``."""
    return [x for m in NUM.finditer(text) for x in m.span()]


def py_marks(text: str, mark: str) -> list[int]:
    """Offsets of every occurrence of ``mark`` (one that cannot overlap itself)."""
    found: list[int] = []
    find = text.find
    pos = find(mark)
    while pos >= 0:
        found.append(pos)
        pos = find(mark, pos + len(mark))
    return found


def py_assign_positions(text: str) -> list[int]:
    """Offsets of ``=``, ``:`` and ``：`` (str.find is far faster than a regex class scan)."""
    found = [*py_marks(text, "="), *py_marks(text, ":"), *py_marks(text, "：")]
    found.sort()
    return found


Candidates = tuple[list[int], list[int], list[int], list[int], list[int]]


def py_candidates(text: str) -> Candidates:
    """Numeric-token spans, keyword anchors, assignment operators, ``@`` and ``eyJ`` offsets
    of ``text`` (the regex and find passes)."""
    return (
        py_numeric_spans(text),
        py_anchor_list(text),
        py_assign_positions(text),
        py_marks(text, "@"),
        py_marks(text, "eyJ"),
    )


candidates: Callable[[str], Candidates] = py_candidates
# C versions of _stream._has_fw_utf8 and _context._window (None: use the Python ones)
c_fullwidth_utf8: Callable[[bytes], bool] | None = None
c_window: Callable[[str, int, int, str, int, int], str] | None = None
SPEEDUPS = False


def use_speedups(enabled: bool) -> bool:
    """Select the C candidate pass (when built and ``enabled``) or the Python passes.

    Returns:
        True when the C pass is now in use.
    """
    global candidates, c_fullwidth_utf8, c_window, SPEEDUPS
    candidates, c_fullwidth_utf8, c_window, SPEEDUPS = py_candidates, None, None, False
    if enabled:
        try:
            from dta import _speedups
        except ImportError:  # built without a C compiler
            return False
        names = ("classify_candidates", "classify_fullwidth_utf8", "classify_window")
        found = [getattr(_speedups, name, None) for name in names]  # an older build lacks them
        if all(f is not None for f in found):
            candidates, c_fullwidth_utf8, c_window = found  # type: ignore[assignment]
            SPEEDUPS = True
    return SPEEDUPS


use_speedups(not (os.environ.get("DTA_NO_SPEEDUPS") or os.environ.get("DTA_PURE_PYTHON")))
