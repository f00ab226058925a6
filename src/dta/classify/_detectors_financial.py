"""Financial detectors: payment card numbers, IBANs, ABA routing numbers.

Rules this module enforces:

* ``credit_card``: 13-19 digits, optionally grouped by single spaces or hyphens; Luhn checksum and
  a known issuer range (Visa, Mastercard incl. 2221-2720, Amex, Discover, JCB, Diners, Maestro,
  UnionPay 62). Luhn + known issuer -> LIKELY (VERY_LIKELY with card context); Luhn with an unknown
  issuer -> POSSIBLE; Luhn failure -> at most UNLIKELY (UnionPay numbers, which are not always
  Luhn-valid, stay POSSIBLE only with card context, never LIKELY).
* ``iban``: country code, check digits, BBAN; ISO 13616 mod-97 (pure Python, first) and the
  country's length and BBAN format (python-stdnum's IBAN registry and country modules, only for
  mod-97-valid values; cached per value). The registry entry, its BBAN pattern and the country
  module are looked up once per country code, not per value (stdnum's ``validate`` walks the
  registry for every number); the steps and their exceptions are stdnum's, in its order
  (differential test against ``stdnum.iban.validate`` for every registry country).
  Valid -> LIKELY / VERY_LIKELY with context; invalid -> VERY_UNLIKELY.
* ``aba_routing``: 9 digits, ABA 3-7-1 checksum and a valid Federal Reserve prefix; a bare
  9-digit number is ambiguous, so without routing/bank context it stays POSSIBLE.
"""

# Checkers share one positional signature on the hot path (called per candidate token).
# ruff: noqa: PLR0917

from __future__ import annotations

import functools
import re
from typing import Any

from stdnum import iban as _iban
from stdnum import numdb
from stdnum.exceptions import InvalidComponent, InvalidFormat, ValidationError
from stdnum.util import get_cc_module

from dta.classify._context import context_for
from dta.classify._findings import BY_VALUE, Hit, Likelihood, cap_invalid, step
from dta.classify._normalize import ALNUM_AFTER, ALNUM_BEFORE

__all__ = [
    "IBAN_RE",
    "check_aba",
    "check_card",
    "iban_hit",
    "iban_mod97",
    "iban_problem",
    "iban_stdnum_check",
    "luhn_ok",
]

_CARD_SHAPE = re.compile(r"[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{3,6}){2,4}")
_CC = context_for("credit_card")
_ABA = context_for("aba_routing")
_IBAN_CTX = context_for("iban", negative=False)


_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")  # 2d, minus 9 when above 9


def luhn_ok(digits: str) -> bool:
    """Return True when ``digits`` (ASCII digits) passes the Luhn (mod 10) check.

    Every second digit from the right is doubled through a translation table; the digit sum is
    then the code-point sum minus 48 per digit (two C-level passes instead of a Python loop).
    """
    kept = digits[-1::-2]
    doubled = digits[-2::-2].translate(_LUHN_DOUBLE)
    return (sum(map(ord, kept)) + sum(map(ord, doubled)) - 48 * len(digits)) % 10 == 0


def _brand(d: str) -> str:
    n = len(d)
    p2 = int(d[:2])
    p4 = int(d[:4])
    p3 = int(d[:3])
    if d[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "Mastercard"
    if p2 in (34, 37) and n == 15:
        return "American Express"
    if (d.startswith("6011") or 644 <= p3 <= 649 or p2 == 65) and 16 <= n <= 19:
        return "Discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "JCB"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "Diners Club"
    if p2 == 62 and 16 <= n <= 19:
        return "UnionPay"
    if (p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19:
        return "Maestro"
    return ""


def check_card(tok: str, digits: str, text: str, start: int, end: int, extra: str) -> Hit | None:
    """Classify one numeric token as a payment card number, or return None."""
    if not 13 <= len(digits) <= 19 or _CARD_SHAPE.fullmatch(tok) is None:
        return None
    if len(set(digits)) <= 1:
        return None
    brand = _brand(digits)
    ctx = _CC.score(text, start, end, extra)
    if luhn_ok(digits):
        if not brand:
            like = step(Likelihood.POSSIBLE, min(ctx, 0))
            return Hit(
                start,
                end,
                "credit_card",
                like,
                "valid",
                "Luhn checksum valid; issuer range unknown",
                digits,
            )
        like = BY_VALUE[Likelihood.LIKELY + ctx]
        expl = f"Luhn checksum valid; issuer range {brand}"
        if ctx > 0:
            expl += "; card context nearby"
        elif ctx < 0:
            expl += "; order/reference context nearby"
        return Hit(start, end, "credit_card", like, "valid", expl, digits, brand)
    if brand == "UnionPay" and ctx > 0:
        return Hit(
            start,
            end,
            "credit_card",
            Likelihood.POSSIBLE,
            "invalid",
            "UnionPay range with card context; Luhn checksum fails",
            digits,
            brand,
        )
    if brand and ctx > 0:
        return Hit(
            start,
            end,
            "credit_card",
            cap_invalid(Likelihood.POSSIBLE),
            "invalid",
            "card-shaped number with card context; Luhn checksum fails",
            digits,
            brand,
        )
    return None


_ABA_PREFIX = frozenset(list(range(0, 13)) + list(range(21, 33)) + list(range(61, 73)) + [80])


def check_aba(tok: str, digits: str, text: str, start: int, end: int, extra: str) -> Hit | None:
    """Classify a 9-digit token as an ABA routing transit number, or return None."""
    if len(digits) != 9 or len(tok) != 9:
        return None
    ctx = _ABA.score(text, start, end, extra)
    if ctx <= 0:
        return None  # a bare 9-digit number is not evidence of a routing number
    d = [ord(c) - 48 for c in digits]
    ok = (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0
    if not ok or int(digits[:2]) not in _ABA_PREFIX:
        return Hit(
            start,
            end,
            "aba_routing",
            Likelihood.UNLIKELY,
            "invalid",
            "routing context; ABA checksum or Federal Reserve prefix fails",
            digits,
        )
    return Hit(
        start,
        end,
        "aba_routing",
        Likelihood.VERY_LIKELY,
        "valid",
        "ABA 3-7-1 checksum and Federal Reserve prefix valid; routing context",
        digits,
    )


_B36 = {c: str(int(c, 36)) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def iban_mod97(compact: str) -> bool:
    """ISO 13616 / ISO 7064 mod 97-10 over an upper-case IBAN without spaces."""
    b36 = _B36
    return int("".join([b36[c] for c in compact[4:] + compact[:4]])) % 97 == 1


_IBAN_DB = numdb.get("iban")
# The registry's first level is the country code (two characters) in every stdnum release
# this was written against; otherwise every value goes through stdnum's own validate.
_IBAN_BY_COUNTRY = all(prefix[0] == 2 for prefix in _IBAN_DB.prefixes)
_BBAN_PART = re.compile(r"([1-9][0-9]*)!([nac])")
_BBAN_CHARS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}
_iban_countries: dict[str, tuple[re.Pattern[str] | None, Any]] = {}


def _iban_country(cc: str) -> tuple[re.Pattern[str] | None, Any]:
    """The BBAN pattern (None: not a registry country) and the stdnum country module (or
    None) of country code ``cc``, looked up once."""
    found = _iban_countries.get(cc)
    if found is None:
        props = _IBAN_DB.info(cc)[0][1]
        pattern = None
        if props:
            bban = _BBAN_PART.sub(
                lambda m: f"{_BBAN_CHARS[m.group(2)]}{{{m.group(1)}}}", props.get("bban", "")
            )
            pattern = re.compile(bban)
        found = _iban_countries[cc] = (pattern, get_cc_module(cc.lower(), "iban"))
    return found


def iban_stdnum_check(compact: str) -> None:
    """``stdnum.iban.validate(compact)`` for a compact, upper-case, mod-97-valid IBAN.

    Raises:
        ValidationError: The exception stdnum's ``validate`` raises for it.
    """
    if not _IBAN_BY_COUNTRY or len(compact) < 2:
        _iban.validate(compact)
        return
    pattern, module = _iban_country(compact[:2])
    if pattern is None:
        raise InvalidComponent()
    if pattern.fullmatch(compact[4:]) is None:
        raise InvalidFormat()
    if module is not None:
        module.validate(compact)


@functools.lru_cache(maxsize=4096)
def iban_problem(compact: str) -> str:
    """Why ``compact`` is not a valid IBAN ("" when it is).

    The mod-97 check runs first in pure Python (one ``int`` conversion), so the lookalikes that
    make up most IBAN-shaped text never reach python-stdnum; a passing value is confirmed by
    stdnum for its country's length and BBAN format. Results are cached per value.
    """
    if not iban_mod97(compact):
        return "IBAN-shaped; ISO 13616 mod-97 check fails"
    try:
        iban_stdnum_check(compact)
    except ValidationError as exc:
        return f"IBAN-shaped; {type(exc).__name__} (country length or format)"
    return ""


IBAN_RE = re.compile(
    ALNUM_BEFORE + r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?" + ALNUM_AFTER
)


def iban_hit(text: str, m: re.Match[str], extra: str) -> Hit | None:
    """Validate one IBAN-shaped match, or return None when it is not even plausible."""
    raw = m.group(0)
    compact = raw.replace(" ", "")
    start, end = m.span()
    ctx = _IBAN_CTX.score(text, start, end, extra)
    problem = iban_problem(compact)
    if problem:
        if ctx <= 0:
            return None
        return Hit(start, end, "iban", Likelihood.VERY_UNLIKELY, "invalid", problem, compact)
    like = Likelihood.VERY_LIKELY if ctx > 0 else Likelihood.LIKELY
    return Hit(
        start,
        end,
        "iban",
        like,
        "valid",
        f"ISO 13616 mod-97 and {compact[:2]} length/format valid",
        compact,
        compact[:2],
    )
