"""USCC letter authority codes, bare passport numbers, context index, full-width streaming."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from dta.classify import Likelihood, detect, scan_paths, scan_text
from dta.classify._context import _NEGATIVE, _WORDS, _window, context_for
from dta.classify._detectors_national import uscc_check_char
from dta.classify._stream import BLOCK, OVERLAP

from .corpus import _USCC_ALPHA, Generator, uscc_check

KEY = b"detection-gaps-key-0123456789"


def _hits(text: str, floor: str = "VERY_UNLIKELY") -> list[tuple[str, str, str]]:
    return [
        (h["type"], h["likelihood"], text[h["start"] : h["end"]])
        for h in detect(text, min_likelihood=floor)
    ]


@pytest.mark.parametrize("authority", ["A", "N", "Y"])
def test_uscc_with_letter_authority_code_is_found_and_validated(authority: str) -> None:
    """A/N/Y-prefixed codes with a valid mod-31 character are LIKELY, glued to Chinese too."""
    g = Generator(31)
    for _ in range(20):
        body = authority + "1" + "110105" + "".join(g.r.choice(_USCC_ALPHA) for _ in range(9))
        code = body + uscc_check(body)
        assert ("cn_uscc", "LIKELY", code) in _hits(f"code {code} filed")
        assert ("cn_uscc", "VERY_LIKELY", code) in _hits(f"统一社会信用代码{code}。")


def test_uscc_letter_authority_checksum_failure_stays_below_likely() -> None:
    """A wrong check character on an A/N/Y code never reaches LIKELY, even with context."""
    g = Generator(32)
    for _ in range(30):
        body = (
            g.r.choice("ANY") + "9" + "310104" + "".join(g.r.choice(_USCC_ALPHA) for _ in range(9))
        )
        good = body + uscc_check(body)
        bad = body + g.r.choice([c for c in _USCC_ALPHA if c != good[-1]])
        hits = [h for h in _hits(f"统一社会信用代码{bad}") if h[0] == "cn_uscc"]
        assert hits
        assert all(Likelihood[like] < Likelihood.LIKELY for _, like, _ in hits)


def test_uscc_unassigned_authority_letter_not_reported() -> None:
    """B-H and other letters are not registration-authority codes (GB 32100 as amended)."""
    body = "B1110105" + "MA01ABCDE"
    assert _hits(f"统一社会信用代码{body}{uscc_check(body)}") == []


@settings(max_examples=200, deadline=None)
@given(body=st.text(alphabet=_USCC_ALPHA, min_size=9, max_size=9), lead=st.sampled_from("159"))
def test_uscc_check_character_agrees_with_stdnum(body: str, lead: str) -> None:
    """dta's mod-31 check equals python-stdnum's for digit authority codes."""
    code17 = lead + "1110105" + body
    assert uscc_check_char(code17) == stdnum_uscc.calc_check_digit(code17)


@pytest.mark.parametrize(
    ("text", "value", "likelihood"),
    [
        ("Passport No. E12345678 issued in Beijing", "E12345678", "LIKELY"),
        ("passport number: 123456789", "123456789", "LIKELY"),
        ("PASSPORT # C01X00T47", "C01X00T47", "LIKELY"),
        ("护照号码：E12345678。", "E12345678", "LIKELY"),
        ("持护照EA1234567入境", "EA1234567", "LIKELY"),
        ("passport G12345678", "G12345678", "LIKELY"),
        ("passport 123456789", "123456789", "POSSIBLE"),
    ],
)
def test_bare_passport_number_near_keyword(text: str, value: str, likelihood: str) -> None:
    """A passport number after passport/护照 (with or without a label) is found at its span."""
    assert ("passport_number", likelihood, value) in _hits(text)


@pytest.mark.parametrize(
    "text",
    [
        "passport issued 20190101",
        "passport 20190101",
        "mypassport E12345678",
        "passport photo 2x2 in",
        "Passport MRZ:\nE12345678",
        "passport holders 1234",
        "order E12345678",
    ],
)
def test_passport_near_misses_not_reported(text: str) -> None:
    """Dates, words ending in passport, values on the next line, no keyword: no finding."""
    assert [h for h in _hits(text) if h[0] == "passport_number"] == []


def test_passport_named_json_member_and_csv_column(tmp_path: Path) -> None:
    """A passport_no member / 护照号 column marks the value; the report holds no raw value."""
    (tmp_path / "p.json").write_text(json.dumps({"person": {"passport_no": "E12345678"}}))
    (tmp_path / "p.csv").write_text("name,护照号\n张三,G87654321\n", encoding="utf-8")
    report = scan_paths([tmp_path], key=KEY)
    found = {
        (f["path"], d["type"], d["likelihood"], json.dumps(d["location"], ensure_ascii=False))
        for f in report["files"]
        for d in f.get("details", [])
    }
    assert ("p.json", "passport_number", "LIKELY", '{"pointer": "/person/passport_no"}') in found
    csv_loc = '{"row": 1, "field": "护照号", "field_index": 1}'
    assert ("p.csv", "passport_number", "LIKELY", csv_loc) in found
    assert all(f["level"] == "restricted" for f in report["files"])
    blob = json.dumps(report, ensure_ascii=False)
    assert "12345678" not in blob
    assert "87654321" not in blob


def _reference_score(type_id: str, negative: bool, window: str) -> int:
    """The per-type regex search the shared context index replaced."""

    def rx(english: tuple[str, ...], chinese: tuple[str, ...]) -> re.Pattern[str]:
        parts = [r"(?<![A-Za-z])" + re.escape(w) + r"(?![A-Za-z])" for w in english]
        return re.compile("|".join(parts + [re.escape(w) for w in chinese]), re.IGNORECASE)

    if rx(*_WORDS[type_id]).search(window):
        return 1
    return -1 if negative and rx(*_NEGATIVE).search(window) else 0


_VOCAB = sorted(
    {w for en, zh in [*_WORDS.values(), _NEGATIVE] for w in (*en, *zh)}
    | {"x", "Card", "ID", "-", "#", "_", "1", "。", ". ", "\n", "cards", "identity2"}
)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.sampled_from(_VOCAB), max_size=8),
    seps=st.lists(st.sampled_from([" ", "", ":", "_", "-", "的"]), min_size=8, max_size=8),
)
def test_context_index_agrees_with_per_type_search(parts: list[str], seps: list[str]) -> None:
    """One pass over the window scores every type as a per-type word search would."""
    text = "".join(p + s for p, s in zip(parts, seps, strict=False))
    mid = len(text) // 2
    probe = text[:mid] + "0" + text[mid:]
    window = _window(probe, mid, mid + 1, "")
    for type_id in _WORDS:
        for negative in (True, False):
            got = context_for(type_id, negative=negative).score(probe, mid, mid + 1)
            want = _reference_score(type_id, negative, window)
            assert got == want, (type_id, negative, probe)


@pytest.mark.parametrize("offset", [BLOCK - 7, BLOCK + 3, BLOCK * 2 - OVERLAP - 11])
def test_full_width_id_found_at_block_boundaries(offset: int) -> None:
    """Full-width digits are normalised wherever they fall relative to read blocks/windows."""
    value = "１１０１０５１９４９１２３１００２Ｘ"
    text = "a" * offset + " 身份证号码：" + value + "。\n" + "b" * 64
    report = scan_text(text, key=KEY)
    assert report["files"][0]["findings"] == {"cn_resident_id": 1}
