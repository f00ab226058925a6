"""Bare passport numbers (not MRZ) next to a passport keyword, and in passport-named fields.

Rules this module enforces:

* ``passport_number``: a document number of 6-9 upper-case letters/digits (at least two digits)
  written right after ``passport`` / ``Passport`` / ``PASSPORT`` or ``护照``, optionally with a
  label (``No.``, ``number``, ``#``, ``号码``, ``号``, ``编号``) and an operator (``:``, ``：``,
  ``#``, ``=``), on the same line. Passport numbers carry no check digit outside the MRZ, so
  the detector is rule-only (``validator: "rule"``) and never reaches VERY_LIKELY:
  LIKELY when a label or operator ties the value to the keyword, or when the value has the PRC
  ordinary-passport format (``E``/``G`` + 8 digits, ``E`` + letter + 7 digits); POSSIBLE when
  only the keyword precedes it.
* A CSV column or JSON member named like a passport (``passport_no``, ``护照号``) makes a cell
  whose whole value has that shape LIKELY.
* All-digit values that read as a calendar date (``YYYYMMDD`` from 1900) are not passport
  numbers ("passport issued 20190101" is a date).
* The keyword must start a word (``mypassport`` is not one); values glued to ASCII letters are
  not values.
"""

from __future__ import annotations

import datetime as dt
import re

from dta.classify._findings import Hit, Likelihood

__all__ = ["is_passport_name", "passport_field_hit", "passport_hit"]

_SHAPE = r"(?:[A-Z]{1,2}[0-9]{6,8}|[0-9]{8,9}|(?=[A-Z0-9]*[0-9][A-Z0-9]*[0-9])[A-Z0-9]{6,9})"
_AFTER_EN = re.compile(
    r"[ \t]*(?P<label>(?:[Nn][Oo]|[Nn]umber|NUMBER|[Nn]um|[Nn]br)\.?|#)?"
    r"[ \t]*(?P<op>[:：#=])?[ \t]*(?<![A-Za-z])(?P<value>" + _SHAPE + r")(?![0-9A-Za-z])"
)
_AFTER_ZH = re.compile(
    r"(?P<label>号码|编号|号)?[ \t]*(?P<op>[:：#=])?[ \t]*(?<![A-Za-z0-9])(?P<value>"
    + _SHAPE
    + r")(?![0-9A-Za-z])"
)
_VALUE = re.compile(_SHAPE)
_PRC = re.compile(r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}")
_NAME = re.compile(r"passport|护照", re.IGNORECASE)


def _date_like(value: str) -> bool:
    if len(value) != 8 or not value.isdigit() or value[:2] not in ("19", "20"):
        return False
    try:
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return False
    return True


def _hit(start: int, value: str, tied: bool, why: str) -> Hit | None:
    if _date_like(value):
        return None
    prc = _PRC.fullmatch(value) is not None
    like = Likelihood.LIKELY if tied or prc else Likelihood.POSSIBLE
    expl = why + ("; PRC ordinary-passport format" if prc else "")
    return Hit(
        start,
        start + len(value),
        "passport_number",
        like,
        "rule",
        expl,
        value,
        "cn" if prc else "",
    )


def passport_hit(text: str, pos: int, word: str) -> Hit | None:
    """Find a passport number after the keyword anchored at ``pos``, or return None.

    ``word`` is ``passport`` / ``PASSPORT`` for the anchors ``assport`` / ``ASSPORT`` (``pos`` is
    the ``a``) and ``护照`` for the Chinese keyword (``pos`` is its first character).
    """
    if word == "护照":
        m = _AFTER_ZH.match(text, pos + 2)
    else:
        if pos == 0 or text[pos - 1] not in ("P" if word == "PASSPORT" else "Pp"):
            return None
        if pos >= 2 and text[pos - 2].isascii() and text[pos - 2].isalnum():
            return None
        m = _AFTER_EN.match(text, pos + 7)
    if m is None:
        return None
    tied = m.group("label") is not None or m.group("op") is not None
    why = "passport keyword" + (" and number label" if tied else "") + " before the value"
    return _hit(m.start("value"), m.group("value"), tied, why)


def is_passport_name(name: str) -> bool:
    """True when a CSV column or JSON member name names a passport (``passport_no``, ``护照``)."""
    return _NAME.search(name) is not None


def passport_field_hit(value: str, start: int) -> Hit | None:
    """Classify the whole value of a passport-named field, or return None."""
    stripped = value.strip()
    if _VALUE.fullmatch(stripped) is None:
        return None
    offset = start + value.index(stripped)
    return _hit(offset, stripped, True, "value of a passport-named field")
