"""Marking and export-control detectors: ECCN / EAR99 / ITAR-USML, TLP 2.0, CUI, legends.

Rules this module enforces:

* ``eccn``: an Export Control Classification Number (category 0-9, product group A-E, a reason
  digit in {0,1,2,3,5,6,9}, optional sub-paragraphs) reaches LIKELY only with export-control
  context (ECCN, EAR, export, 出口管制 ...); ``EAR99`` and ITAR / USML references are LIKELY by
  themselves (variant ``ear99``, ``eccn`` or ``itar``).
* ``tlp_label``: TLP 2.0 labels ``TLP:CLEAR``, ``TLP:GREEN``, ``TLP:AMBER``, ``TLP:AMBER+STRICT``,
  ``TLP:RED`` (VERY_LIKELY, variant = label); legacy ``TLP:WHITE`` is read as CLEAR (LIKELY).
* ``cui_marking``: ``CUI`` banners (ending a line, optionally with ``//`` categories) and
  "CONTROLLED UNCLASSIFIED INFORMATION"; a bare ``CUI`` inside prose stays POSSIBLE.
* ``confidential_legend``: upper-case CONFIDENTIAL / PROPRIETARY / TRADE SECRET legends, the
  usual phrases, and Chinese markings 商业秘密 / 绝密 / 机密 / 秘密 / 内部 — the last three only
  in marking form (with ``★``, brackets, or followed by 资料/文件/使用/材料); bare 秘密 and
  内部 are ordinary words and are not reported.
"""

from __future__ import annotations

import re

from dta.classify._context import context_for
from dta.classify._findings import Hit, Likelihood

__all__ = ["ECCN_RE", "cui_hit", "eccn_hit", "eccn_keyword_hit", "legend_hit", "tlp_hit"]

ECCN_RE = re.compile(r"[0-9][A-E][0-9]{3}(?:\.[a-z](?:\.[0-9]{1,2})?)?(?![0-9A-Za-z])")
_ECCN = context_for("eccn", negative=False)
_REASON = frozenset("0123569")


def eccn_hit(text: str, pos: int, extra: str) -> Hit | None:
    """Classify an ECCN-shaped match at ``pos`` (needs export-control context for LIKELY)."""
    m = ECCN_RE.match(text, pos)
    if m is None or m.group(0)[2] not in _REASON:
        return None
    ctx = _ECCN.score(text, pos, m.end(), extra)
    if ctx <= 0:
        return Hit(
            pos,
            m.end(),
            "eccn",
            Likelihood.UNLIKELY,
            "rule",
            "ECCN-shaped code without export-control context",
            m.group(0),
            "eccn",
        )
    return Hit(
        pos,
        m.end(),
        "eccn",
        Likelihood.VERY_LIKELY,
        "rule",
        "ECCN (category, product group, reason code) in export-control context",
        m.group(0),
        "eccn",
    )


_USML = re.compile(r"USML(?: Category| Cat\.?)? ?(?:[IVX]{1,5})\b")


def eccn_keyword_hit(text: str, pos: int, word: str) -> Hit | None:
    """Classify EAR99 / ITAR / USML / ``ECCN <code>`` keywords at ``pos``."""
    after = text[pos + len(word) : pos + len(word) + 1]
    before = text[pos - 1 : pos] if pos else ""
    if (after.isascii() and after.isalnum()) or (before.isascii() and before.isalnum()):
        return None
    if word == "EAR99":
        return Hit(
            pos,
            pos + 5,
            "eccn",
            Likelihood.VERY_LIKELY,
            "rule",
            "EAR99 designation (subject to the EAR, no ECCN)",
            "EAR99",
            "ear99",
        )
    if word == "ITAR":
        return Hit(
            pos,
            pos + 4,
            "eccn",
            Likelihood.LIKELY,
            "rule",
            "ITAR reference (International Traffic in Arms Regulations)",
            "ITAR",
            "itar",
        )
    if word == "USML":
        m = _USML.match(text, pos)
        if m is None:
            return Hit(
                pos,
                pos + 4,
                "eccn",
                Likelihood.POSSIBLE,
                "none",
                "USML mentioned without a category",
                "USML",
                "itar",
            )
        return Hit(
            pos,
            m.end(),
            "eccn",
            Likelihood.VERY_LIKELY,
            "rule",
            "USML category reference (ITAR)",
            m.group(0),
            "itar",
        )
    return None


_TLP = re.compile(r"TLP:(CLEAR|GREEN|AMBER\+STRICT|AMBER|RED|WHITE)(?![A-Za-z])")


def tlp_hit(text: str, pos: int) -> Hit | None:
    """Classify a TLP label at ``pos``."""
    m = _TLP.match(text, pos)
    if m is None:
        return None
    label = m.group(1)
    if label == "WHITE":
        return Hit(
            pos,
            m.end(),
            "tlp_label",
            Likelihood.LIKELY,
            "rule",
            "TLP 1.0 label WHITE (TLP 2.0 CLEAR)",
            "CLEAR",
            "CLEAR",
        )
    return Hit(
        pos,
        m.end(),
        "tlp_label",
        Likelihood.VERY_LIKELY,
        "rule",
        f"TLP 2.0 label {label}",
        label,
        label,
    )


_CUI_BANNER = re.compile(r"CUI(?://[A-Z0-9\-]+(?:/[A-Z0-9\-]+)*)*[ \t]*(?:\r?\n|\Z)")


def cui_hit(text: str, pos: int, word: str) -> Hit | None:
    """Classify a CUI marking at ``pos``."""
    if word.startswith("CONTROLLED"):
        return Hit(
            pos,
            pos + len(word),
            "cui_marking",
            Likelihood.VERY_LIKELY,
            "rule",
            "CONTROLLED UNCLASSIFIED INFORMATION marking",
            "CUI",
            "cui",
        )
    before = text[pos - 1 : pos] if pos else ""
    after = text[pos + 3 : pos + 4]
    if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()):
        return None
    line_start = pos == 0 or text[pos - 1] in "\n"
    m = _CUI_BANNER.match(text, pos)
    if m is not None:
        like = Likelihood.VERY_LIKELY if line_start else Likelihood.LIKELY
        return Hit(
            pos,
            m.end(),
            "cui_marking",
            like,
            "rule",
            "CUI banner marking ending its line",
            "CUI",
            "cui",
        )
    if after == "/" and text[pos + 3 : pos + 5] == "//":
        return Hit(
            pos,
            pos + 5,
            "cui_marking",
            Likelihood.LIKELY,
            "rule",
            "CUI marking with category separator",
            "CUI",
            "cui",
        )
    return Hit(
        pos,
        pos + 3,
        "cui_marking",
        Likelihood.POSSIBLE,
        "none",
        "the acronym CUI in running text",
        "CUI",
        "cui",
    )


_EN_LEGEND = {
    "CONFIDENTIAL": ("confidential", Likelihood.LIKELY),
    "PROPRIETARY": ("proprietary", Likelihood.LIKELY),
    "TRADE SECRET": ("trade-secret", Likelihood.VERY_LIKELY),
    "Proprietary and Confidential": ("proprietary", Likelihood.VERY_LIKELY),
    "Confidential and Proprietary": ("proprietary", Likelihood.VERY_LIKELY),
    "Company Confidential": ("confidential", Likelihood.VERY_LIKELY),
    "Trade Secret": ("trade-secret", Likelihood.LIKELY),
}
_ZH_FORM_AFTER = ("资料", "文件", "使用", "材料", "信息", "★", "】", "]", "）", ")", "级")
_ZH_FORM_BEFORE = ("★", "【", "[", "（", "(", "仅限", "限")
_ZH = {
    "商业秘密": ("trade-secret", Likelihood.LIKELY),
    "绝密": ("top-secret", Likelihood.LIKELY),
    "机密": ("confidential", Likelihood.POSSIBLE),
    "秘密": ("secret", Likelihood.UNLIKELY),
    "内部": ("internal", Likelihood.UNLIKELY),
}


def legend_hit(text: str, pos: int, word: str) -> Hit | None:
    """Classify a confidentiality legend (English or Chinese) at ``pos``."""
    end = pos + len(word)
    if word in _EN_LEGEND:
        before = text[pos - 1 : pos] if pos else ""
        after = text[end : end + 1]
        if (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()):
            return None
        variant, like = _EN_LEGEND[word]
        return Hit(
            pos, end, "confidential_legend", like, "rule", f"{variant} legend", variant, variant
        )
    if word not in _ZH:
        return None
    if word == "秘密" and text[pos - 2 : pos] == "商业":
        return None
    variant, like = _ZH[word]
    marked = text[end : end + 2].startswith(_ZH_FORM_AFTER) or text[max(0, pos - 2) : pos].endswith(
        _ZH_FORM_BEFORE
    )
    if marked:
        like = (
            Likelihood.VERY_LIKELY
            if variant in ("top-secret", "trade-secret")
            else Likelihood.LIKELY
        )
        return Hit(
            pos,
            end,
            "confidential_legend",
            like,
            "rule",
            f"Chinese {variant} marking",
            variant,
            variant,
        )
    return Hit(
        pos,
        end,
        "confidential_legend",
        like,
        "none",
        f"Chinese word for {variant} in running text",
        variant,
        variant,
    )
