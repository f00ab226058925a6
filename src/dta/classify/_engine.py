"""Detection engine: cheap candidate passes, validators only on candidates, overlap rules.

Rules this module enforces:

* Candidates come from cheap passes over the full text (:mod:`dta.classify._candidates`: one C
  walk where the accelerator is built, a regex and ``str.find`` scans otherwise, with the same
  results): numeric-token spans, keyword anchors, and the offsets of ``eyJ`` (JWT), ``@``
  (e-mail) and assignment operators ``=``/``:``/``：`` (secrets, IPv6). A pass that resumed a
  ``str.find`` after a hit skips the offsets before that point, so it visits the same ones.
* A numeric token glued to ASCII letters is not an identifier, except the shapes that legally
  contain letters: IBAN (two letters before), USCC (a registration-authority letter A/N/Y
  before, letters after) and ECCN (letters after).
* Overlapping hits are resolved by likelihood, then checksum-validated before rule-only, then
  length; the loser is dropped, so one value is reported once.
* The engine sees normalised text only (see :mod:`dta.classify._normalize`); offsets it returns
  are character offsets into that text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter

from dta.classify import _candidates
from dta.classify._context import forget as forget_context
from dta.classify._detectors_contact import check_ipv4, check_phone, email_hit, ipv6_hit
from dta.classify._detectors_financial import IBAN_RE, check_aba, check_card, iban_hit
from dta.classify._detectors_markings import (
    ECCN_RE,
    cui_hit,
    eccn_hit,
    eccn_keyword_hit,
    legend_hit,
    tlp_hit,
)
from dta.classify._detectors_national import (
    MRZ_RE,
    USCC_RE,
    check_cn_id,
    check_us_tax,
    mrz_hit,
    uscc_hit,
)
from dta.classify._detectors_passport import passport_hit
from dta.classify._detectors_secrets import VALUE_RE, aws_hit, jwt_hit, pem_hit, secret_hit
from dta.classify._findings import Hit, Likelihood

__all__ = ["DETECTOR_TYPES", "DETECTOR_VERSION", "MAX_MATCH", "scan"]

# 1.1: passport_number; USCC authority codes A, N, Y. 1.2: a PEM BEGIN line pairs only with its
# own END line across a PEM-shaped body, else the header alone is reported (ADR 0109)
DETECTOR_VERSION = "1.2"
DETECTOR_TYPES = (
    "aba_routing",
    "aws_access_key",
    "cn_mobile",
    "cn_resident_id",
    "cn_uscc",
    "confidential_legend",
    "credit_card",
    "cui_marking",
    "eccn",
    "email",
    "iban",
    "ipv4",
    "ipv6",
    "jwt",
    "passport_mrz",
    "passport_number",
    "phone",
    "private_key",
    "secret_assignment",
    "tlp_label",
    "us_ein",
    "us_itin",
    "us_ssn",
)
MAX_MATCH = 20000  # longest match any detector returns (a PEM block); chunk overlap must exceed it

Extra = Callable[[int], str] | None
_Checker = Callable[[str, str, str, int, int, str], Hit | None]

_NON_DIGIT = re.compile(r"[^0-9]+")
# Token shapes some numeric checker accepts; anything else is dropped before Python dispatch.
_SHAPES = re.compile(
    r"[0-9]{9,19}[Xx]?"
    r"|[0-9]{4}(?:[ \-][0-9]{3,6}){2,4}"
    r"|[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{2}-[0-9]{7}"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
    r"|\+[0-9][0-9 ()\-.]{6,22}"
    r"|(?:86[ \-]?)?1[3-9][0-9](?:[ \-][0-9]{4}){2}"
    r"|(?:1[ \-.]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[\-. ])[2-9][0-9]{2}[\-. ][0-9]{4}"
)
_CHECKERS: tuple[_Checker, ...] = (
    check_card,
    check_cn_id,
    check_us_tax,
    check_aba,
    check_phone,
    check_ipv4,
)
_ASSIGN = re.compile(
    r"[=:：](?:(?=:|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)|>?[ \t]*[\"']?[^\s\"']{12})"
)
_IP6_AHEAD = re.compile(r":(?=:|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)")


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


# The checkers that can accept a token with n digits (same order as _CHECKERS, so ties resolve
# as before): card 13-19, resident id 15/17+X/18, SSN/ITIN/EIN and ABA 9, phone 7-15; IPv4
# (4-12 digits) is added only for dotted tokens.
_APPLIES = {
    check_card: range(13, 20),
    check_cn_id: (15, 17, 18),
    check_us_tax: (9,),
    check_aba: (9,),
    check_phone: range(7, 16),
}
_BY_DIGITS = tuple(
    tuple(c for c in _CHECKERS if c in _APPLIES and n in _APPLIES[c]) for n in range(20)
)
_BY_DIGITS_DOTTED = tuple(
    tuple(c for c in _CHECKERS if c is check_ipv4 or (c in _APPLIES and n in _APPLIES[c]))
    for n in range(20)
)


def _numeric(text: str, tok: str, s: int, e: int, ex: str) -> Hit | None:
    digits = tok if tok.isdigit() else _NON_DIGIT.sub("", tok)
    if tok[-1] in "Xx" and len(digits) == 17:
        digits = tok[:-1] if tok[:-1].isdigit() else digits
    n = len(digits)
    if n >= 20:
        return None
    best: Hit | None = None
    for check in (_BY_DIGITS_DOTTED if "." in tok else _BY_DIGITS)[n]:
        hit = check(tok, digits, text, s, e, ex)
        if hit is not None and (best is None or hit.likelihood > best.likelihood):
            best = hit
    if len(digits) == 18 and tok.isdigit():
        m = USCC_RE.match(text, s)
        if m is not None:
            hit = uscc_hit(text, m, ex)
            if hit is not None and (best is None or hit.likelihood > best.likelihood):
                best = hit
    return best


def _split(text: str, tok: str, s: int, ex: str, out: list[Hit]) -> None:
    """Try space-separated parts of a token that matched nothing as a whole."""
    parts = tok.split(" ")
    offsets = []
    pos = s
    for p in parts:
        offsets.append(pos)
        pos += len(p) + 1
    i = 0
    while i < len(parts):
        found = False
        for j in range(min(len(parts), i + 6), i, -1):
            if j - i == len(parts):
                continue
            sub = " ".join(parts[i:j])
            if len(sub) < 7:
                break
            if _SHAPES.fullmatch(sub) is None:
                continue
            a = offsets[i]
            hit = _numeric(text, sub, a, a + len(sub), ex)
            if hit is not None and hit.likelihood >= Likelihood.POSSIBLE:
                out.append(hit)
                i = j
                found = True
                break
        if not found:
            i += 1


def _pass_numeric(text: str, spans: list[int], extra: Extra, out: list[Hit]) -> None:
    n = len(text)
    alnum = _ALNUM
    pairs = iter(spans)
    for s, e in zip(pairs, pairs, strict=True):
        tok = text[s:e]
        hit: Hit | None
        if len(tok) == 2:
            im = IBAN_RE.match(text, s - 2)
            if im is not None:
                hit = iban_hit(text, im, extra(s) if extra else "")
                if hit is not None:
                    out.append(hit)
            continue
        if len(tok) == 17 and text[s - 1] in "ANY":  # USCC with a letter authority code
            um = USCC_RE.match(text, s - 1)
            if um is not None:
                hit = uscc_hit(text, um, extra(s) if extra else "")
                if hit is not None:
                    out.append(hit)
            continue
        if tok[1] in "ABCDE":
            if ECCN_RE.match(text, s):
                hit = eccn_hit(text, s, extra(s) if extra else "")
                if hit is not None:
                    out.append(hit)
            continue
        if len(tok) == 18 and not tok[:17].isdigit():
            um = USCC_RE.match(text, s)
            if um is not None:
                hit = uscc_hit(text, um, extra(s) if extra else "")
                if hit is not None:
                    out.append(hit)
            continue
        if e < n and text[e] in alnum:
            if text[e] in "ABCDEFGHJKLMNPQRTUWXY" and len(tok) >= 8:
                um = USCC_RE.match(text, s)
                if um is not None:
                    hit = uscc_hit(text, um, extra(s) if extra else "")
                    if hit is not None:
                        out.append(hit)
            continue
        if _SHAPES.fullmatch(tok) is None:
            if " " in tok and len(tok) >= 16:
                _split(text, tok, s, extra(s) if extra else "", out)
            continue
        hit = _numeric(text, tok, s, e, extra(s) if extra else "")
        if hit is not None:
            out.append(hit)
        elif " " in tok and len(tok) >= 16:
            _split(text, tok, s, extra(s) if extra else "", out)


def _keyword_hit(text: str, pos: int, word: str, extra: Extra) -> Hit | None:
    c = word[0]
    if word in ("passport", "PASSPORT", "护照"):
        return passport_hit(text, pos, word)
    if word == "P<":
        mm = MRZ_RE.match(text, pos)
        return mrz_hit(text, mm, extra(pos) if extra else "") if mm is not None else None
    if c == "A" and len(word) == 4:
        return aws_hit(text, pos)
    if c == "-":
        return pem_hit(text, pos)
    if word == "TLP:":
        return tlp_hit(text, pos)
    if word in ("EAR99", "ITAR", "USML"):
        return eccn_keyword_hit(text, pos, word)
    if word in ("CUI", "CONTROLLED UNCLASSIFIED INFORMATION"):
        return cui_hit(text, pos, word)
    return legend_hit(text, pos, word)


def _pass_keywords(text: str, anchors: list[int], extra: Extra, out: list[Hit]) -> None:
    words = _candidates.ANCHOR_WORDS
    pairs = iter(anchors)
    for pos, k in zip(pairs, pairs, strict=True):
        hit = _keyword_hit(text, pos, words[k], extra)
        if hit is not None:
            out.append(hit)


def _pass_assign(text: str, ops: list[int], extra: Extra, out: list[Hit]) -> None:
    skip = -1
    match = _ASSIGN.match
    for pos in ops:
        if pos < skip or match(text, pos) is None:
            continue
        if text[pos] == ":" and _IP6_AHEAD.match(text, pos):
            hit = ipv6_hit(text, pos)
            if hit is not None:
                out.append(hit)
                skip = hit.end
            continue
        vm = VALUE_RE.match(text, pos)
        if vm is not None:
            hit = secret_hit(text, vm, extra(pos) if extra else "")
            if hit is not None:
                out.append(hit)
                skip = hit.end


def _pass_jwt(text: str, starts: list[int], out: list[Hit]) -> None:
    resume = 0  # as a find from here: the next "eyJ" after the last hit (or occurrence)
    for pos in starts:
        if pos < resume:
            continue
        hit = jwt_hit(text, pos) if pos == 0 or text[pos - 1] not in _ALNUM else None
        if hit is not None:
            out.append(hit)
        resume = hit.end if hit is not None else pos + 3


def _pass_email(text: str, ats: list[int], out: list[Hit]) -> None:
    resume = 0  # as a find from here: the next "@" after the last address (or "@")
    for at in ats:
        if at < resume:
            continue
        hit = email_hit(text, at)
        if hit is not None:
            out.append(hit)
            resume = hit.end
        else:
            resume = at + 1


_VALIDATED_RANK = {"valid": 2, "rule": 1}
_START = itemgetter(0)  # Hit.start
_END = itemgetter(1)  # Hit.end


def _rank(h: Hit) -> tuple[int, int, int]:
    return (h.likelihood, _VALIDATED_RANK.get(h.validator, 0), h.end - h.start)


def resolve(hits: list[Hit]) -> list[Hit]:
    """Drop the weaker of overlapping hits; return hits sorted by start offset."""
    # by (start, -end), ties in input order: two stable sorts with C-level keys (reverse=True
    # keeps equal ends in input order), no Python key function per hit
    hits.sort(key=_END, reverse=True)
    hits.sort(key=_START)
    kept: list[Hit] = []
    for h in hits:
        if kept and h.start < kept[-1].end:
            if _rank(h) > _rank(kept[-1]):
                kept[-1] = h
            continue
        kept.append(h)
    return kept


def scan(text: str, extra: Extra = None) -> list[Hit]:
    """Run every detector over normalised ``text``.

    Args:
        text: Normalised text (full-width forms already mapped).
        extra: Optional function from a character offset to extra context words (a CSV column
            name or JSON member name) for the value at that offset.

    Returns:
        Non-overlapping hits sorted by offset, every likelihood included (callers filter).
    """
    out: list[Hit] = []
    spans, anchors, ops, ats, jwts = _candidates.candidates(text)
    try:
        _pass_numeric(text, spans, extra, out)
        _pass_keywords(text, anchors, extra, out)
        _pass_assign(text, ops, extra, out)
    finally:
        forget_context()
    if jwts:
        _pass_jwt(text, jwts, out)
    if ats:
        _pass_email(text, ats, out)
    return resolve(out) if len(out) > 1 else out
