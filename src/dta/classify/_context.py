"""Bilingual (English / Chinese) context words that raise or lower a detector's likelihood.

Rules this module enforces:

* Context is looked for in a window of :data:`BEFORE` characters before and :data:`AFTER` after a
  match, cut at the nearest line or sentence end (newline, ``。``, ``. ``) so neighbouring
  sentences do not vote, (plus, for CSV cells and JSON members, the column or member name).
* English words match case-insensitively on ASCII word boundaries; Chinese words match anywhere
  (Chinese has no spaces), so ``身份证号码110105...`` counts as context.
* Negative words (order numbers, versions, timestamps, tracking numbers) lower numeric detectors
  one step when no positive word is present; they never lower a checksum-validated identifier
  that also has positive context.
"""

from __future__ import annotations

import re

from dta.classify import _candidates

__all__ = ["AFTER", "BEFORE", "Context", "context_for", "forget"]

BEFORE = 64
AFTER = 24

_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "credit_card": (
        (
            "card",
            "credit",
            "debit",
            "visa",
            "mastercard",
            "amex",
            "unionpay",
            "pan",
            "cc",
            "payment",
            "cardholder",
        ),
        ("卡号", "信用卡", "银行卡", "借记卡", "银联", "储蓄卡", "卡"),
    ),
    "iban": (("iban", "account", "bank", "sepa", "transfer", "bic"), ("账户", "账号", "银行")),
    "aba_routing": (("routing", "aba", "rtn", "transit", "bank"), ("路由", "银行")),
    "cn_resident_id": (
        (
            "resident id",
            "id card",
            "identity",
            "national id",
            "citizen id",
            "prc id",
            "id no",
            "id",
        ),
        ("身份证", "身份证号", "公民身份号码", "证件号", "居民身份"),
    ),
    "cn_uscc": (
        ("uscc", "social credit", "credit code", "business license", "registration"),
        ("统一社会信用代码", "信用代码", "营业执照", "税号"),
    ),
    "cn_mobile": (
        ("mobile", "phone", "cell", "tel", "contact", "wechat"),
        ("手机", "电话", "联系方式", "手机号", "联系电话", "微信"),
    ),
    "phone": (
        ("phone", "tel", "telephone", "mobile", "cell", "fax", "call", "contact"),
        ("电话", "手机", "传真", "联系"),
    ),
    "us_ssn": (("ssn", "social security", "social sec", "ss#", "ss no"), ("社会安全号", "社保号")),
    "us_itin": (("itin", "taxpayer", "tax id", "individual taxpayer"), ("纳税人识别号", "税号")),
    "us_ein": (
        ("ein", "employer identification", "fein", "tax id", "federal tax", "tin"),
        ("雇主识别号", "税号"),
    ),
    "passport_mrz": (("passport", "mrz", "travel document"), ("护照", "旅行证件")),
    "email": (("email", "e-mail", "mail", "contact"), ("邮箱", "电子邮件", "邮件")),
    "ipv4": (("ip", "address", "host", "server", "addr"), ("地址", "服务器", "主机")),
    "ipv6": (("ip", "ipv6", "address", "host"), ("地址", "服务器", "主机")),
    "aws_access_key": (("aws", "access key", "access_key", "key id", "akid"), ("密钥",)),
    "jwt": (("token", "bearer", "jwt", "authorization"), ("令牌",)),
    "eccn": (
        (
            "eccn",
            "export",
            "ear",
            "commerce control",
            "ccl",
            "classification",
            "license",
            "itar",
            "usml",
            "export-controlled",
        ),
        ("出口管制", "出口", "管制编码", "两用物项", "物项"),
    ),
}

_NEGATIVE: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        "order",
        "invoice",
        "tracking",
        "ticket",
        "version",
        "build",
        "release",
        "timestamp",
        "sku",
        "isbn",
        "serial",
        "ref",
        "reference",
        "batch",
        "part no",
        "model",
        "epoch",
        "v",
    ),
    ("订单", "单号", "版本", "时间戳", "流水号", "批次", "编号", "型号", "发票"),
)


_LETTERS = re.compile("[a-z]+")
_ASCII_WORD = re.compile("[a-z]+")
_NEG_KEY = "-"  # pseudo type: a negative word is present


def _index() -> tuple[
    dict[str, frozenset[str]],
    list[tuple[str, re.Pattern[str], frozenset[str]]],
    dict[str, frozenset[str]],
]:
    """Index every context word once: plain words, multi-part phrases, Chinese words."""
    plain: dict[str, set[str]] = {}
    multi: dict[str, set[str]] = {}
    chinese: dict[str, set[str]] = {}
    entries = [(t, en, zh) for t, (en, zh) in _WORDS.items()]
    entries.append((_NEG_KEY, *_NEGATIVE))
    for type_id, english, cjk in entries:
        for word in english:
            table = plain if _ASCII_WORD.fullmatch(word) else multi
            table.setdefault(word, set()).add(type_id)
        for word in cjk:
            chinese.setdefault(word, set()).add(type_id)
    phrases = [
        (
            _LETTERS.findall(w)[0],
            re.compile(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])"),
            frozenset(types),
        )
        for w, types in multi.items()
    ]
    return (
        {w: frozenset(t) for w, t in plain.items()},
        phrases,
        {w: frozenset(t) for w, t in chinese.items()},
    )


_PLAIN, _PHRASES, _CHINESE = _index()
_PHRASE_FIRSTS = frozenset(first for first, _, _ in _PHRASES)
# Chinese words: one look-ahead pass finds, at every position, the longest word starting
# there; each word stands for the types of every word that is a prefix of it, so nothing a
# per-word search would find is lost.
_CJK_RX = re.compile(
    "(?=(" + "|".join(re.escape(w) for w in sorted(_CHINESE, key=len, reverse=True)) + "))"
)
_CJK_TYPES = {
    w: frozenset().union(*(t for v, t in _CHINESE.items() if w.startswith(v))) for w in _CHINESE
}


def _analyse(window: str) -> frozenset[str]:
    """Types with a positive context word in ``window`` (plus ``-`` for a negative word).

    English words match case-insensitively on ASCII-letter boundaries (a plain word must be a
    whole letter run), Chinese words anywhere; one pass over the window serves every detector.
    """
    lower = window.lower()
    runs = set(_LETTERS.findall(lower))
    found: set[str] = set()
    plain = _PLAIN
    for word in runs:
        types = plain.get(word)
        if types is not None:
            found |= types
    if not runs.isdisjoint(_PHRASE_FIRSTS):
        for first, rx, types in _PHRASES:
            if first in runs and not types <= found and rx.search(lower):
                found |= types
    if not window.isascii():
        for word in _CJK_RX.findall(window):
            found |= _CJK_TYPES[word]
    return frozenset(found)


class Context:
    """Positive and (optionally) negative context of one detector type."""

    __slots__ = ("negative", "type_id")

    def __init__(self, type_id: str, negative: bool):
        self.type_id = type_id
        self.negative = negative

    def score(self, text: str, start: int, end: int, extra: str = "") -> int:
        """Return +1 for positive context, -1 for negative only, 0 otherwise."""
        found = _context_words(text, start, end, extra)
        if self.type_id in found:
            return 1
        if self.negative and _NEG_KEY in found:
            return -1
        return 0


_STOP = re.compile(r"\n|。|\. ")
_EMPTY: frozenset[str] = frozenset()
_last: tuple[str, int, int, str, frozenset[str]] = ("", -1, -1, "", _EMPTY)
# Analysed windows of the running scan (forms, logs and CSV rows repeat the words around their
# values, so most windows recur). Emptied by :func:`forget` when a scan ends, so no scanned text
# outlives the scan; bounded in case a caller scores context outside a scan.
_memo: dict[str, frozenset[str]] = {}
_MEMO_MAX = 8192


def forget() -> None:
    """Drop the windows memoised during a scan (the engine calls it when a scan ends)."""
    global _last
    _memo.clear()
    _last = ("", -1, -1, "", _EMPTY)


def _context_words(text: str, start: int, end: int, extra: str) -> frozenset[str]:
    """Context of a match; the last one is cached (the checkers of one token ask in turn).

    The last-match cache is one tuple swapped atomically, so concurrent scans never see a
    mixed entry; the window memo maps a window to its (pure) analysis, so sharing it between
    threads can only cost a recomputation.
    """
    global _last
    last = _last
    if last[0] is text and last[1] == start and last[2] == end and last[3] == extra:
        return last[4]
    c_window = _candidates.c_window
    if c_window is not None:
        window = c_window(text, start, end, extra, BEFORE, AFTER)
    else:
        window = _window(text, start, end, extra)
    found = _memo.get(window)
    if found is None:
        found = _analyse(window)
        if len(_memo) < _MEMO_MAX:
            _memo[window] = found
    _last = (text, start, end, extra, found)
    return found


def _window(text: str, start: int, end: int, extra: str) -> str:
    """The context window of a match: cut at line and sentence ends, plus ``extra``."""
    before = text[start - BEFORE if start > BEFORE else 0 : start]
    # just after the last stop (newline, 。, or a dot followed by a space); three C-level
    # rfinds instead of a backtracking regex
    cut = max(before.rfind("\n"), before.rfind("。"), before.rfind(". ")) + 1
    if cut:
        before = before[cut:]
    after = text[end : end + AFTER]
    m = _STOP.search(after)
    if m is not None:
        after = after[: m.start()]
    window = before + " " + after
    if extra:
        window = f"{window} {extra}"
    return window


_CACHE: dict[str, Context] = {}


def context_for(type_id: str, *, negative: bool = True) -> Context:
    """Return the :class:`Context` of a detector type (cached)."""
    key = f"{type_id}/{negative}"
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = Context(type_id, negative)
    return found
