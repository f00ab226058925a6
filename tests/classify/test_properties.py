"""Property tests: embedded identifiers are found at their exact span; detection never crashes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dta.classify import detect, scan_text

from .corpus import Generator

# Letters that cannot spell a negative context word ("release" lowers a card to POSSIBLE).
_SAFE = st.text(
    alphabet=st.sampled_from(list("数据协议双方共享，。：、 \n") + list("the lab has data ")),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(prefix=_SAFE, suffix=_SAFE, seed=st.integers(0, 10_000))
def test_embedded_valid_values_found_at_their_span(prefix: str, suffix: str, seed: int) -> None:
    """A checksum-valid card, IBAN or resident id inside arbitrary CJK/English text is found."""
    g = Generator(seed)
    for kind, value in (
        ("credit_card", g.credit_card()),
        ("iban", g.iban()),
        ("cn_resident_id", g.cn_resident_id()),
    ):
        text = f"{prefix} {value} {suffix}"
        start = len(prefix) + 1
        spans = [(h["type"], h["start"], h["end"]) for h in detect(text)]
        assert (kind, start, start + len(value)) in spans, (text, spans)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_raises_and_reports_validate(text: str) -> None:
    """Any Unicode text scans without error into a report with consistent counts."""
    report = scan_text(text, key=b"property-test-key-012345")
    entry = report["files"][0]
    assert sum(entry["findings"].values()) == len(entry.get("details", []))
