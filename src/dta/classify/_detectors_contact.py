"""Contact and network detectors: e-mail, phone numbers (E.164), PRC mobiles, IPv4, IPv6.

Rules this module enforces:

* ``email``: an RFC 5321-shaped address (ASCII local part <= 64, dotted domain with an alphabetic
  TLD); local parts cannot start or end with a dot or hold ``..``. ``pkg@1.2.3`` is not an address.
* ``phone``: a number written with ``+`` and a country code must be a valid number for that
  country (phonenumbers); national formats need phone context and are read as US/CN numbers.
* ``cn_mobile``: 11 digits in an allocated PRC mobile segment (13x-19x, optional ``+86``);
  reported as ``cn_mobile``, not ``phone``, so counts are not doubled.
* ``ipv4`` / ``ipv6``: parsed by :mod:`ipaddress`; dotted quads next to version context
  (``version``, ``v``, ``版本``) are lowered to POSSIBLE.
"""

# Checkers share one positional signature on the hot path (called per candidate token).
# ruff: noqa: PLR0917

from __future__ import annotations

import ipaddress
import re

import phonenumbers

from dta.classify._context import context_for
from dta.classify._findings import BY_VALUE, Hit, Likelihood
from dta.classify._normalize import onlydigits

__all__ = ["check_ipv4", "check_phone", "email_hit", "ipv6_hit"]

_LOCAL_TAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}\Z")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}")
_CN_SEGMENTS = frozenset(
    [
        *range(130, 140),
        *range(145, 150),
        *range(150, 154),
        *range(155, 160),
        162,
        165,
        166,
        167,
        *range(170, 179),
        *range(180, 190),
        *range(190, 200),
    ]
)
_PHONE = context_for("phone")
_CNM = context_for("cn_mobile")
_IP4 = context_for("ipv4")
_IP4_SHAPE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_CN_SHAPE = re.compile(r"(?:\+?86[ \-]?)?1[3-9][0-9](?:[0-9]{8}|[ \-][0-9]{4}[ \-][0-9]{4})")
_US_SHAPE = re.compile(
    r"(?:\+?1[ \-.]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[\-. ])[2-9][0-9]{2}[\-. ][0-9]{4}"
)


def email_hit(text: str, at: int) -> Hit | None:
    """Validate the address around the ``@`` at index ``at``, or return None."""
    m = _LOCAL_TAIL.search(text, max(0, at - 64), at)
    if m is None:
        return None
    local = m.group(0)
    start = m.start()
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    d = _DOMAIN.match(text, at + 1)
    if d is None:
        return None
    end = d.end()
    if end < len(text) and (text[end].isascii() and (text[end].isalnum() or text[end] in "-_")):
        return None
    value = (local + "@" + d.group(0)).lower()
    return Hit(
        start,
        end,
        "email",
        Likelihood.LIKELY,
        "rule",
        "RFC 5321 address shape; domain with alphabetic top-level label",
        value,
    )


def check_phone(tok: str, digits: str, text: str, start: int, end: int, extra: str) -> Hit | None:
    """Classify a token as a PRC mobile or an international/national phone number."""
    n = len(digits)
    if n < 7 or n > 15:
        return None
    if _CN_SHAPE.fullmatch(tok) is not None:
        national = digits[-11:]
        if int(national[:3]) in _CN_SEGMENTS and len(set(national[3:])) > 1:
            ctx = _CNM.score(text, start, end, extra)
            like = BY_VALUE[Likelihood.LIKELY + ctx]
            return Hit(
                start,
                end,
                "cn_mobile",
                like,
                "rule",
                "allocated PRC mobile segment" + ("; phone context" if ctx > 0 else ""),
                "+86" + national,
            )
    if tok.startswith("+"):
        try:
            num = phonenumbers.parse(tok, None)
        except phonenumbers.NumberParseException:
            return None
        # phonenumbers.is_valid_number(num) is exactly this pair; the region lookup (a walk
        # over every region sharing the calling code, e.g. +1) is then done once, not twice.
        region = phonenumbers.region_code_for_number(num)
        if region is None or not phonenumbers.is_valid_number_for_region(num, region):
            return None
        ctx = _PHONE.score(text, start, end, extra)
        like = Likelihood.VERY_LIKELY if ctx > 0 else Likelihood.LIKELY
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        return Hit(
            start,
            end,
            "phone",
            like,
            "valid",
            f"E.164 number valid for region {region}",
            e164,
            region,
        )
    if _US_SHAPE.fullmatch(tok) is None:
        return None
    ctx = _PHONE.score(text, start, end, extra)
    try:
        num = phonenumbers.parse(tok, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    like = Likelihood.LIKELY if ctx > 0 else Likelihood.POSSIBLE
    if ctx < 0:
        like = Likelihood.UNLIKELY
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return Hit(
        start, end, "phone", like, "valid", "valid NANP number (national format)", e164, "US"
    )


def check_ipv4(tok: str, digits: str, text: str, start: int, end: int, extra: str) -> Hit | None:
    """Classify a dotted-quad token as an IPv4 address, or return None."""
    if _IP4_SHAPE.fullmatch(tok) is None:
        return None
    parts = tok.split(".")
    if any(len(p) > 1 and p[0] == "0" for p in parts) or any(int(p) > 255 for p in parts):
        return None
    ctx = _IP4.score(text, start, end, extra)
    like = BY_VALUE[Likelihood.LIKELY + ctx] if ctx <= 0 else Likelihood.VERY_LIKELY
    if ctx < 0:
        like = Likelihood.POSSIBLE
    return Hit(
        start, end, "ipv4", like, "rule", "dotted-quad IPv4 address, every octet <= 255", tok
    )


_IP6_RUN = re.compile(r"[0-9A-Fa-f:.]+")
_IP6_BACK = re.compile(r"[0-9A-Fa-f:]{1,40}\Z")


def ipv6_hit(text: str, colon: int) -> Hit | None:
    """Validate the IPv6 candidate around the colon at ``colon``; None if not an address."""
    back = _IP6_BACK.search(text, max(0, colon - 40), colon + 1)
    start = back.start() if back is not None else colon
    m = _IP6_RUN.match(text, start)
    if m is None:
        return None
    raw = m.group(0).rstrip(".:") if not m.group(0).endswith("::") else m.group(0)
    end = start + len(raw)
    if start > 0 and (text[start - 1].isascii() and (text[start - 1].isalnum())):
        return None
    if end < len(text) and text[end].isascii() and (text[end].isalnum() or text[end] == "_"):
        return None
    if raw.count(":") < 2:
        return None
    try:
        addr = ipaddress.IPv6Address(raw)
    except ValueError:
        return None
    if len(onlydigits(raw)) == 0 and "::" not in raw:
        return None
    return Hit(
        start, end, "ipv6", Likelihood.LIKELY, "rule", "parses as an IPv6 address", addr.compressed
    )
