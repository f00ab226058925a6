"""Text normalisation that keeps offsets: full-width forms to ASCII, CJK-safe token boundaries.

Rules this module enforces:

* Normalisation maps one character to exactly one character, so offsets in the normalised text
  are offsets in the original (byte offsets are computed from the original text).
* Full-width digits, Latin letters and the punctuation used inside identifiers (``＋－．：＠（）``)
  and the ideographic space become their ASCII forms; everything else is left alone.
* Token boundaries are ASCII letters/digits only: a CJK character next to an identifier is a
  boundary (``卡号4111111111111111。`` yields the card number), unlike ``\\b`` which treats CJK as
  word characters.
"""

from __future__ import annotations

import re

__all__ = ["ALNUM_AFTER", "ALNUM_BEFORE", "normalize", "onlydigits"]

_TABLE: dict[int, int] = {0xFF01 + i: 0x21 + i for i in range(0x5E)}  # ！..～ -> !..~
_TABLE[0x3000] = 0x20  # ideographic space
_FULLWIDTH = re.compile("[\uff01-\uff5e\u3000]")

ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
ALNUM_AFTER = r"(?![0-9A-Za-z])"

_NOT_DIGIT = re.compile(r"[^0-9]+")


def normalize(text: str) -> str:
    """Return ``text`` with full-width ASCII forms mapped to ASCII (same length)."""
    if _FULLWIDTH.search(text) is None:
        return text
    return text.translate(_TABLE)


def onlydigits(text: str) -> str:
    """Return the ASCII digits of ``text`` (separators dropped)."""
    return _NOT_DIGIT.sub("", text)
