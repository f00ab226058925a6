"""The C candidate passes (ADR 0103) return exactly what the regex / str.find passes return.

``dta._speedups.classify_candidates`` must yield the spans of ``NUM.finditer`` and the
anchors of ``anchored`` (same offsets, same words, same order) for every
str: generated text over the characters the patterns care about, arbitrary Unicode, every
Unicode decimal-digit class, full-width digits, CJK glued to digits, long digit runs, ``+`` and
``(`` starts, lone surrogates, and all three str storage kinds (1, 2 and 4 bytes a character).
Scans through the engine give the same hits on both paths.
"""

from __future__ import annotations

import random
import sys
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta.classify import _candidates, _engine
from dta.classify._findings import Hit, Likelihood
from dta.classify._normalize import normalize

try:
    from dta import _speedups
except ImportError:  # built without a C compiler: only the Python path exists
    _speedups = None  # type: ignore[assignment]

C_CANDIDATES = getattr(_speedups, "classify_candidates", None)
needs_c = pytest.mark.skipif(
    C_CANDIDATES is None,
    reason="dta._speedups without the classification passes (no C compiler)",
)

# Characters every branch of NUM and every anchor looks at, plus characters of each str kind.
ALPHABET = (
    "0123456789" * 3
    + "+()-. _/\n\t:=<@XxANYABCDEFGHIJKLMNOPQRSTUVWZabcefpxyz"
    + "０１９＋（"  # full-width forms (not normalised here)
    + "٠٣۵१৪๓"  # other decimal digits
    + "内部护照秘密机绝商业号码卡"
    + "é\xa0\ud800\udfff\U0001d7ce\U0001f600"  # Latin-1, surrogates, astral digit/emoji
)
KIND_MARKS = ("", "é", "中", "\U0001f600")  # ASCII, 1-byte, 2-byte and 4-byte str kinds
FRAGMENTS = (
    "AKIA",
    "ASIA",
    "APKA",
    "AKIAKIA",
    "-----BEGIN ",
    "EAR99",
    "ITAR",
    "USML",
    "CUI",
    "CONTROLLED UNCLASSIFIED INFORMATION",
    "PROPRIETARY",
    "TRADE SECRET",
    "TRADE SECRETRADE SECRET",
    "Trade Secret",
    "passport",
    "PASSPORT",
    "P<",
    "P<<",
    "TLP:",
    "TLP:TLP:",
    "内部",
    "护照",
    "CONFIDENTIAL",
    "ONFIDENTIAL",
    "Company Confidential",
    "Confidential and Proprietary",
    "Proprietary and Confidential",
    "商业秘密",
    "秘密",
    "机密",
    "绝密",
    "密",
    "GB82",
    "DE89 3704",
    "N1",
    "A9",
    "Y12345678",
    "91350211M000100Y43",
    "1234567",
    "4111111111111111",
    "4111 1111 1111 1111",
    "(555) 123-4567",
    "+1 202-555-0143",
    "+86 138 1234 5678",
    "2024-05-01",
    "192.168.0.1",
    "1.2.3.4.5",
    "0A001",
    "5E002",
    "11010519491231002X",
    "1234-12-31",
    "12.34.56",
    ") 1",
    ")1",
    "x",
    "X",
    "卡号",
    "。",
    "=",
    ":",
    "：",
    "@",
    "eyJ",
    "eyeyJJ",
    "password=",
    "a@b.co",
    "::1",
)


def _c_candidates(text: str) -> _candidates.Candidates:
    assert C_CANDIDATES is not None
    result: _candidates.Candidates = C_CANDIDATES(text)
    return result


def assert_same(text: str) -> None:
    """The C pass equals the regex / find passes on ``text``."""
    spans, anchors, ops, ats, jwts = _c_candidates(text)
    assert spans == _candidates.py_numeric_spans(text)
    assert anchors == _candidates.py_anchor_list(text)
    assert (ops, ats, jwts) == _candidates.py_candidates(text)[2:]


texts = st.builds(
    lambda parts, mark, at_end: "".join(parts) + mark if at_end else mark + "".join(parts),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ALPHABET, max_size=6)), max_size=30),
    st.sampled_from(KIND_MARKS),
    st.booleans(),
)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(texts)
def test_c_passes_equal_regex_passes_on_generated_fragments(text: str) -> None:
    """Identifier-shaped fragments, keywords and separators glued in any order."""
    assert_same(text)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(st.text(ALPHABET, max_size=80))
def test_c_passes_equal_regex_passes_on_character_soup(text: str) -> None:
    """Any mix of the characters the patterns test, of every str kind."""
    assert_same(text)


@needs_c
@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_c_passes_equal_regex_passes_on_arbitrary_unicode(text: str) -> None:
    """Arbitrary code points (surrogates included) never match differently."""
    assert_same(text)


def _decimal_digits() -> list[str]:
    return [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isdecimal()]


@needs_c
def test_every_unicode_decimal_digit_is_treated_as_the_regex_treats_it() -> None:
    """Only ASCII 0-9 start or continue a token; other decimal digits (Arabic-Indic, Devanagari,
    full-width, mathematical, ...) are ordinary characters, glued or not."""
    digits = _decimal_digits()
    assert len(digits) > 600
    for d in digits:
        for text in (
            f"{d * 12}",
            f"41111111{d}11111111",
            f"card 4111111111111111{d}",
            f"{d}4111111111111111",
            f"+{d}202 555 0143",
            f"({d}55) 123-4567",
        ):
            assert_same(text)


@needs_c
@pytest.mark.parametrize("mark", KIND_MARKS)
def test_hostile_inputs_of_each_str_kind(mark: str) -> None:
    """Long runs, many starts, glued CJK, edges of the string."""
    cases = [
        "",
        "0",
        "+",
        "(",
        "1" * 200_000,
        "1 " * 50_000,
        "+" * 10_000 + "1" * 20,
        "(" * 10_000 + "5" * 20,
        "12-" * 30_000,
        "1.2.3.4." * 10_000,
        "卡号4111111111111111。" * 1000,
        "身份证11010519491231002X号" * 1000,
        "AB12" * 10_000,
        "N" + "1" * 17,
        "A91350211M000100Y43",
        "电话+8613812345678，" * 500,
        "TLP:" * 5000,
        "P<" * 5000,
        "AKIA" * 5000,
        "秘密" * 5000,
        "eyJ" * 5000,
        "key=：:@" * 5000,
        "\ud800" * 100 + "4111111111111111" + "\udfff" * 100,
    ]
    for text in cases:
        assert_same(mark + text)
        assert_same(text + mark)


@needs_c
def test_benchmark_like_text_in_random_windows() -> None:
    """Windows starting and ending anywhere in generated prose (look-behind before offset 0)."""
    rng = random.Random(4)
    pieces = [*FRAGMENTS, " ", "\n", "和", "the ", "2024年5月1日", "1234.56元", "v2.4.1"]
    text = "".join(rng.choice(pieces) for _ in range(20_000))
    for _ in range(300):
        a = rng.randrange(len(text))
        b = rng.randrange(a, min(len(text), a + 400) + 1)
        assert_same(text[a:b])
    assert_same(text)


@needs_c
def test_c_pass_refuses_non_str() -> None:
    """bytes (or anything but str) is a TypeError, not a crash."""
    with pytest.raises(TypeError):
        _c_candidates(b"4111111111111111")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _c_candidates(None)  # type: ignore[arg-type]


@needs_c
def test_c_results_hold_no_leaked_references() -> None:
    """Repeated calls neither grow the reference count of the scanned text nor leave Python
    objects behind (the lists and their ints are freed with the result)."""
    text = "AKIA card 4111111111111111 TLP:RED 秘密 key=value a@b.co eyJ " * 100
    assert all(_c_candidates(text))  # every list is non-empty
    before = sys.getrefcount(text)
    tracemalloc.start()
    try:
        for _ in range(50):
            _c_candidates(text)
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(500):
            _c_candidates(text)
            assert C_WINDOW is not None
            C_WINDOW(text, 100, 120, "col", 64, 24)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert sys.getrefcount(text) == before
    assert grown < 10_000


@pytest.fixture
def python_path() -> Iterator[None]:
    """The engine with the pure-Python candidate passes, restored afterwards."""
    was = _candidates.SPEEDUPS
    _candidates.use_speedups(False)
    try:
        yield
    finally:
        _candidates.use_speedups(was)


def test_use_speedups_false_selects_the_python_passes(python_path: None) -> None:
    """With the accelerator switched off the engine calls the regex / find passes."""
    assert not _candidates.SPEEDUPS
    assert _candidates.candidates is _candidates.py_candidates


@needs_c
@settings(max_examples=300, deadline=None)
@given(texts)
def test_engine_hits_identical_on_both_paths(text: str) -> None:
    """scan() with the C passes and with the Python passes report the same hits."""
    norm = normalize(text)
    was = _candidates.SPEEDUPS
    try:
        assert _candidates.use_speedups(True)
        fast = _engine.scan(norm)
        _candidates.use_speedups(False)
        slow = _engine.scan(norm)
    finally:
        _candidates.use_speedups(was)
    assert fast == slow


C_WINDOW = getattr(_speedups, "classify_window", None)
C_FULLWIDTH = getattr(_speedups, "classify_fullwidth_utf8", None)
WINDOW_ALPHABET = "ab .\n。 ..中\U0001f600é\ud800"
FW_BYTES = [bytes([b]) for b in (0xEF, 0xBC, 0xBD, 0x8F, 0x90, 0x99, 0x9A, 0xA0, 0xA1, 0xBA, 0xBB)]
FW_BYTES += [b"\x81", b"\x80", b"A", b"\xe3"]
FW_BYTES += [ch.encode() for ch in "０Ｚｚ，"]  # full-width digit, letters; punctuation


@needs_c
@settings(max_examples=2000, deadline=None)
@given(
    st.text(WINDOW_ALPHABET, max_size=160),
    st.integers(0, 170),
    st.integers(0, 170),
    st.sampled_from(["", "col", "名称"]),
)
def test_c_context_window_equals_python_window(text: str, a: int, b: int, extra: str) -> None:
    """Stops (newline, 。, ". ") cut the window as the rfind/regex version does, at every
    offset (also past the end of the text, as slicing clamps) and string kind."""
    from dta.classify._context import AFTER, BEFORE, _window

    assert C_WINDOW is not None
    for start, end in ((min(a, b), max(a, b)), (a, b)):
        assert C_WINDOW(text, start, end, extra, BEFORE, AFTER) == _window(text, start, end, extra)


@needs_c
def test_c_context_window_refuses_bad_arguments() -> None:
    """Wrong types and negative offsets raise instead of reading outside the text."""
    assert C_WINDOW is not None
    with pytest.raises(TypeError):
        C_WINDOW(b"text", 0, 1, "", 64, 24)
    with pytest.raises(ValueError, match="negative"):
        C_WINDOW("text", -1, 1, "", 64, 24)
    with pytest.raises(TypeError):
        C_WINDOW("text", 0, 1, "")


@needs_c
@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=12) | st.lists(st.sampled_from(FW_BYTES), max_size=8).map(b"".join))
def test_c_fullwidth_utf8_equals_python_check(data: bytes) -> None:
    """The EF lead byte and its two continuation bytes decide, at any position, truncated or
    not (only full-width digits and Latin letters count, not full-width punctuation)."""
    from dta.classify._stream import _has_fw_utf8

    assert C_FULLWIDTH is not None
    assert C_FULLWIDTH(data) == _has_fw_utf8(data)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 6), st.integers(0, 4), st.integers(0, 2)),
        max_size=25,
    )
)
def test_resolve_orders_as_the_start_minus_end_key(spec: list[tuple[int, int, int, int]]) -> None:
    """resolve()'s two stable sorts order hits as one sort by (start, -end) did, ties (equal
    start and end) in input order, so the same hit survives an overlap."""
    names = ("valid", "rule", "none")
    hits = [
        Hit(s, s + w, f"t{k}", Likelihood(like + 1), names[k % 3], f"hit {k}", str(k))
        for k, (s, w, like, _) in enumerate(spec)
    ]

    def reference(items: list[Hit]) -> list[Hit]:
        items = sorted(items, key=lambda h: (h.start, -h.end))
        kept: list[Hit] = []
        for h in items:
            if kept and h.start < kept[-1].end:
                if _engine._rank(h) > _engine._rank(kept[-1]):
                    kept[-1] = h
                continue
            kept.append(h)
        return kept

    assert _engine.resolve(list(hits)) == reference(hits)
