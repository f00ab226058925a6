"""National identifier detectors: US SSN / ITIN / EIN, PRC resident ID and USCC, passport MRZ.

Rules this module enforces:

* ``us_ssn``: ``AAA-GG-SSSS`` (or 9 bare digits with SSN context); area not 000, 666 or 9xx,
  group not 00, serial not 0000, known advertising numbers rejected (python-stdnum's rules,
  computed in pure Python and differential-tested against stdnum). An SSN
  cannot be told from any 9-digit number by its digits, so it needs SSN context to reach
  LIKELY; a dashed valid SSN without context is POSSIBLE.
* ``us_itin``: ``9XX-GG-SSSS`` with an IRS-assigned group (50-65, 70-88, 90-92, 94-99); LIKELY
  only with taxpayer context.
* ``us_ein``: ``NN-NNNNNNN`` with an IRS campus prefix (python-stdnum's table, read once);
  LIKELY only with employer/tax context.
* ``cn_resident_id``: 18 characters (GB 11643-1999 MOD 11-2 check character, ``X`` or ``x``), a
  real birth date (both checked in pure Python) and a known region prefix (python-stdnum's
  table); legacy 15-digit numbers are checked
  for region and birth date (no checksum exists) and reach LIKELY only with ID context.
* ``cn_uscc``: 18 characters, GB 32100-2015 mod-31 check character; the first character is an
  assigned registration-authority code (1-9, A, N, Y), so codes issued by the CMC (A), agriculture
  (N) and other authorities (Y) are found and validated like the usual 9-prefixed ones.
* ``passport_mrz``: ICAO 9303 TD3 two-line machine readable zone; every check digit (document
  number, birth date, expiry, personal number, composite) must hold for LIKELY.
"""

# Checkers share one positional signature on the hot path (called per candidate token).
# ruff: noqa: PLR0917

from __future__ import annotations

import datetime as dt
import functools
import re
from operator import mul

from stdnum import numdb
from stdnum.us import ein as _ein

from dta.classify._context import context_for
from dta.classify._findings import Hit, Likelihood
from dta.classify._normalize import ALNUM_AFTER, ALNUM_BEFORE

__all__ = [
    "MRZ_RE",
    "USCC_AUTHORITIES",
    "USCC_RE",
    "check_cn_id",
    "check_us_tax",
    "mrz_hit",
    "uscc_check_char",
    "uscc_hit",
    "uscc_valid",
]

_SSN_DASHED = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
_EIN_DASHED = re.compile(r"[0-9]{2}-[0-9]{7}")
_SSN = context_for("us_ssn")
_ITIN = context_for("us_itin")
_EIN = context_for("us_ein")
_CNID = context_for("cn_resident_id")
_USCC = context_for("cn_uscc", negative=False)
_MRZ = context_for("passport_mrz", negative=False)
_ITIN_GROUPS = frozenset(
    list(range(50, 66)) + list(range(70, 89)) + [90, 91, 92] + list(range(94, 100))
)


# python-stdnum's list of withdrawn (advertising) SSNs, the one rule beyond area/group/serial;
# tests check ssn_valid against stdnum, which stays the reference.
_SSN_WITHDRAWN = frozenset(("078051120", "457555462", "219099999"))


def ssn_valid(digits: str) -> bool:
    """SSN rules for 9 ASCII digits, in pure Python: area not 000, 666 or 9xx, group not 00,
    serial not 0000, not a withdrawn advertising number (the same rules as python-stdnum's
    ``us.ssn``, differential-tested against it)."""
    area = digits[:3]
    if area in ("000", "666") or area[0] == "9" or digits[3:5] == "00" or digits[5:] == "0000":
        return False
    return digits not in _SSN_WITHDRAWN


# python-stdnum's EIN check is its format plus a lookup of the two-digit prefix in the IRS
# campus table; the table's prefixes are read from stdnum once (it stays the reference).
_EIN_PREFIXES = frozenset(f"{p:02d}" for p in range(100) if _ein.is_valid(f"{p:02d}-0000001"))


def ein_valid(dashed: str) -> bool:
    """EIN ``NN-NNNNNNN`` (ASCII digits) with a valid IRS campus prefix (python-stdnum's table)."""
    return dashed[:2] in _EIN_PREFIXES


def check_us_tax(tok: str, digits: str, text: str, start: int, end: int, extra: str) -> Hit | None:
    """Classify a token as a US SSN, ITIN or EIN, or return None."""
    if len(digits) != 9:
        return None
    dashed = _SSN_DASHED.fullmatch(tok) is not None
    if dashed or tok == digits:
        if digits[0] == "9":
            group = int(digits[3:5])
            ctx = _ITIN.score(text, start, end, extra)
            if group in _ITIN_GROUPS:
                if ctx > 0:
                    return Hit(
                        start,
                        end,
                        "us_itin",
                        Likelihood.VERY_LIKELY,
                        "rule",
                        "ITIN area 9 and IRS group valid; taxpayer context",
                        digits,
                    )
                if dashed:
                    return Hit(
                        start,
                        end,
                        "us_itin",
                        Likelihood.POSSIBLE,
                        "rule",
                        "ITIN-shaped (area 9, IRS group) without context",
                        digits,
                    )
                return None
        ctx = _SSN.score(text, start, end, extra)
        if not dashed and ctx <= 0:
            return None
        if not ssn_valid(digits):
            if ctx <= 0:
                return None
            return Hit(
                start,
                end,
                "us_ssn",
                Likelihood.UNLIKELY,
                "invalid",
                "SSN context; area/group/serial rules fail",
                digits,
            )
        if ctx > 0:
            return Hit(
                start,
                end,
                "us_ssn",
                Likelihood.VERY_LIKELY,
                "rule",
                "SSN area/group/serial rules valid; SSN context",
                digits,
            )
        like = Likelihood.UNLIKELY if ctx < 0 else Likelihood.POSSIBLE
        return Hit(
            start,
            end,
            "us_ssn",
            like,
            "rule",
            "SSN-shaped and rules valid, but no SSN context",
            digits,
        )
    if _EIN_DASHED.fullmatch(tok) is not None:
        ctx = _EIN.score(text, start, end, extra)
        if not ein_valid(tok):
            if ctx <= 0:
                return None
            return Hit(
                start,
                end,
                "us_ein",
                Likelihood.UNLIKELY,
                "invalid",
                "EIN context; unknown IRS campus prefix",
                digits,
            )
        if ctx > 0:
            return Hit(
                start,
                end,
                "us_ein",
                Likelihood.VERY_LIKELY,
                "rule",
                "EIN with valid IRS campus prefix; employer/tax context",
                digits,
            )
        return Hit(
            start,
            end,
            "us_ein",
            Likelihood.POSSIBLE,
            "rule",
            "EIN-shaped with valid prefix, no context",
            digits,
        )
    return None


_LOC = numdb.get("cn/loc")


@functools.lru_cache(maxsize=4096)
def region_known(code: str) -> bool:
    """True when ``code`` is a PRC county-level division code at any time (stdnum's table).

    stdnum's own check also requires the county to exist in the birth year, which rejects real
    numbers: ids are issued with the region code current at issuance, not at birth.
    """
    return any("county" in props for _, props in _LOC.info(code))


_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


def ric_check_char(body: str) -> str:
    """GB 11643-1999 MOD 11-2 check character of the first 17 digits of a resident id.

    The weighted sum of code points minus 48 times the weights of the characters present equals
    the weighted digit sum (map/zip in C rather than a generator).
    """
    chars = body[:17]
    total = sum(map(mul, map(ord, chars), _RIC_WEIGHTS)) - 48 * sum(_RIC_WEIGHTS[: len(chars)])
    return "10X98765432"[total % 11]


def _ric_problem(value: str) -> str:
    """Return why an 18-character id is invalid, or "" when it is valid.

    MOD 11-2 and the birth date are checked in pure Python (the same arithmetic as
    python-stdnum's ``cn.ric``, differential-tested against it); the region code against
    stdnum's table, ignoring the birth-year window (see :func:`region_known`).
    """
    if not value[:17].isdigit() or value[17] not in "0123456789X":
        return "format"
    if ric_check_char(value) != value[17]:
        return "MOD 11-2 check character"
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "birth date"
    if not region_known(value[:6]):
        return "region code"
    return ""


def _legacy_date(digits: str) -> bool:
    try:
        dt.date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    except ValueError:
        return False
    return True


def check_cn_id(tok: str, digits: str, text: str, start: int, end: int, extra: str) -> Hit | None:
    """Classify a token as a PRC resident identity card number, or return None."""
    if tok != digits and not (tok[:-1] == digits and tok[-1] in "Xx"):
        return None
    n = len(tok)
    if n == 18:
        value = tok.upper()
        ctx = _CNID.score(text, start, end, extra)
        problem = _ric_problem(value)
        if problem:
            if ctx <= 0:
                return None
            return Hit(
                start,
                end,
                "cn_resident_id",
                Likelihood.UNLIKELY,
                "invalid",
                f"ID context; GB 11643 {problem} invalid",
                value,
            )
        like = Likelihood.VERY_LIKELY if ctx > 0 else Likelihood.LIKELY
        return Hit(
            start,
            end,
            "cn_resident_id",
            like,
            "valid",
            "GB 11643 MOD 11-2 check, birth date and region valid",
            value,
            "18",
        )
    if n == 15 and tok == digits:
        ctx = _CNID.score(text, start, end, extra)
        if ctx <= 0 or not _legacy_date(digits):
            return None
        if not region_known(digits[:6]):
            return None
        return Hit(
            start,
            end,
            "cn_resident_id",
            Likelihood.LIKELY,
            "rule",
            "legacy 15-digit ID: region and birth date valid; ID context",
            digits,
            "15",
        )
    return None


# GB 32100-2015 registration-authority codes as assigned: 1 机构编制, 2 外交, 3 司法行政, 4 文化,
# 5 民政, 6 旅游, 7 宗教, 8 工会, 9 工商/市场监管, A 中央军委改革和编制办公室, N 农业, Y 其他.
USCC_AUTHORITIES = "123456789ANY"
USCC_RE = re.compile(
    ALNUM_BEFORE + r"[1-9ANY][1-9][0-9]{6}[0-9A-HJ-NPQRTUWXY]{9}[0-9A-HJ-NPQRTUWXY]" + ALNUM_AFTER
)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_char(body: str) -> str:
    """Return the GB 32100 check character of the first 17 characters of a USCC.

    ISO 7064 style mod 31 over the 31-character alphabet (no I, O, S, V, Z), weights 3^i mod 31.
    python-stdnum implements the same arithmetic but rejects codes whose registration authority
    is a letter (A, N, Y), which are valid, so dta computes it directly.

    Raises:
        KeyError: ``body`` holds a character outside the USCC alphabet.
    """
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, body[:17]), _USCC_WEIGHTS))
    return _USCC_ALPHABET[-total % 31]


def uscc_valid(code: str) -> bool:
    """True when ``code`` is a well-formed USCC whose mod-31 check character holds."""
    if len(code) != 18 or code[0] not in USCC_AUTHORITIES or not code[2:8].isdigit():
        return False
    if any(c not in _USCC_VALUE for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def uscc_hit(text: str, m: re.Match[str], extra: str) -> Hit | None:
    """Validate one USCC-shaped match, or return None."""
    value = m.group(0)
    start, end = m.span()
    ctx = _USCC.score(text, start, end, extra)
    if ctx <= 0 and value.isdigit() and value[6:8] in ("19", "20") and region_known(value[:6]):
        # an all-digit code laid out like a resident id (region, 19xx/20xx birth year)
        return Hit(
            start,
            end,
            "cn_uscc",
            Likelihood.POSSIBLE,
            "valid",
            "mod-31 check valid but laid out like a resident id; no USCC context",
            value,
        )
    if not uscc_valid(value):
        if ctx <= 0:
            return None
        return Hit(
            start,
            end,
            "cn_uscc",
            Likelihood.VERY_UNLIKELY,
            "invalid",
            "USCC-shaped with context; GB 32100 mod-31 check fails",
            value,
        )
    like = Likelihood.VERY_LIKELY if ctx > 0 else Likelihood.LIKELY
    return Hit(start, end, "cn_uscc", like, "valid", "GB 32100 mod-31 check character valid", value)


MRZ_RE = re.compile(r"P[A-Z<][A-Z<]{3}[A-Z<]{39}[ \t]*\r?\n[ \t]*([A-Z0-9<]{44})" + ALNUM_AFTER)
_MRZ_WEIGHTS = (7, 3, 1)


def _mrz_value(c: str) -> int:
    if c == "<":
        return 0
    if c.isdigit():
        return ord(c) - 48
    return ord(c) - 55


def mrz_check(field: str) -> str:
    """Return the ICAO 9303 check digit of ``field``."""
    total = sum(_mrz_value(c) * _MRZ_WEIGHTS[i % 3] for i, c in enumerate(field))
    return str(total % 10)


def mrz_hit(text: str, m: re.Match[str], extra: str) -> Hit | None:
    """Validate a TD3 passport MRZ (two lines), or return None."""
    line2 = m.group(1)
    start, end = m.span()
    checks = [
        (line2[0:9], line2[9]),
        (line2[13:19], line2[19]),
        (line2[21:27], line2[27]),
    ]
    personal_ok = (line2[42] == "<" and set(line2[28:42]) <= {"<"}) or (
        mrz_check(line2[28:42]) == line2[42]
    )
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    ok = all(mrz_check(f) == d for f, d in checks) and personal_ok
    ok = ok and mrz_check(composite) == line2[43]
    if not ok:
        return Hit(
            start,
            end,
            "passport_mrz",
            Likelihood.UNLIKELY,
            "invalid",
            "TD3 MRZ shape; an ICAO 9303 check digit fails",
            line2[:9] + line2[10:13],
        )
    ctx = _MRZ.score(text, start, end, extra)
    return Hit(
        start,
        end,
        "passport_mrz",
        Likelihood.VERY_LIKELY,
        "valid",
        "ICAO 9303 TD3 MRZ, all check digits valid" + ("; passport context" if ctx else ""),
        line2[:9] + line2[10:13],
        m.group(0)[2:5],
    )
