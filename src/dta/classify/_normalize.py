"""Text normalisation that keeps offsets: full-width forms to ASCII, CJK-safe token boundaries.

Rules this module enforces:

* Normalisation maps one character to exactly one character, so offsets in the normalised text
  are offsets in the original (byte offsets are computed from the original text).
* Runs of full-width forms that contain a full-width digit or Latin letter become ASCII (with
  the punctuation inside them, ``＋－．：＠（）``); everything else is left alone, so ordinary
  Chinese punctuation costs nothing.
* Token boundaries are ASCII letters/digits only: a CJK character next to an identifier is a
  boundary (``卡号4111111111111111。`` yields the card number), unlike ``\\b`` which treats CJK as
  word characters.
"""

from __future__ import annotations

import re

__all__ = ["ALNUM_AFTER", "ALNUM_BEFORE", "has_fullwidth", "normalize", "onlydigits"]

_TABLE: dict[int, int] = {0xFF01 + i: 0x21 + i for i in range(0x5E)}  # ！..～ -> !..~
_TABLE[0x3000] = 0x20  # ideographic space
# Only runs that contain a full-width digit or Latin letter are rewritten: full-width commas and
# colons in ordinary Chinese prose must not force a rewrite of the whole text.
_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_FULLWIDTH_RUN = re.compile(
    "[\uff01-\uff5e\u3000]*[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a][\uff01-\uff5e\u3000]*"
)

ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
ALNUM_AFTER = r"(?![0-9A-Za-z])"

_NOT_DIGIT = re.compile(r"[^0-9]+")


def normalize(text: str) -> str:
    """Return ``text`` with full-width ASCII forms mapped to ASCII (same length)."""
    if not has_fullwidth(text):
        return text
    return _FULLWIDTH_RUN.sub(_translate, text)


def has_fullwidth(text: str) -> bool:
    """True when ``text`` holds a full-width digit or Latin letter (normalisation changes it)."""
    return not text.isascii() and _FULLWIDTH_ALNUM.search(text) is not None


def _translate(m: re.Match[str]) -> str:
    return m.group().translate(_TABLE)


def onlydigits(text: str) -> str:
    """Return the ASCII digits of ``text`` (separators dropped)."""
    return _NOT_DIGIT.sub("", text)
