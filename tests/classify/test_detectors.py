"""Detector behaviour: CJK boundaries, full-width digits, checksums, context, markings."""

from __future__ import annotations

import pytest

from dta.classify import Likelihood, detect
from dta.errors import ClassificationError

from .corpus import Generator


def _types(text: str, floor: str = "LIKELY") -> list[str]:
    return [h["type"] for h in detect(text, min_likelihood=floor)]


def test_card_glued_to_chinese_text_is_found() -> None:
    """卡号4111111111111111。 yields the card number (CJK is a token boundary)."""
    hits = detect("卡号4111111111111111。")
    assert [(h["type"], h["start"], h["end"]) for h in hits] == [("credit_card", 2, 18)]
    assert hits[0]["likelihood"] == "VERY_LIKELY"


def test_full_width_digits_are_normalised() -> None:
    """Full-width digits are read as ASCII digits, spans stay in the original text."""
    text = "身份证号码：１１０１０５１９４９１２３１００２Ｘ"
    hits = detect(text)
    assert [h["type"] for h in hits] == ["cn_resident_id"]
    assert text[hits[0]["start"] : hits[0]["end"]] == "１１０１０５１９４９１２３１００２Ｘ"


def test_lowercase_x_resident_id_accepted() -> None:
    """A lowercase x check character is valid."""
    assert _types("身份证 11010519491231002x") == ["cn_resident_id"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("card 4111111111111112", "credit_card"),
        ("IBAN DE88370400440532013000", "iban"),
        ("身份证号码110105194912310021", "cn_resident_id"),
        ("统一社会信用代码91350100M000100Y44", "cn_uscc"),
        ("routing 021000022", "aba_routing"),
    ],
)
def test_checksum_failure_never_reaches_likely(text: str, kind: str) -> None:
    """A checksum failure stays below LIKELY even with strong context."""
    hits = detect(text, min_likelihood="VERY_UNLIKELY")
    assert all(Likelihood[h["likelihood"]] < Likelihood.LIKELY for h in hits if h["type"] == kind)
    assert kind not in _types(text)


def test_generated_lookalikes_never_reach_likely() -> None:
    """Hundreds of checksum-invalid lookalikes with context: none at LIKELY."""
    g = Generator(99)
    for _ in range(100):
        for text in (
            f"card {g.bad_card()}",
            f"IBAN {g.bad_iban()}",
            f"身份证{g.bad_cn_id()}",
            f"routing {g.bad_aba()}",
            f"passport\n{g.bad_mrz()}\n",
        ):
            assert _types(text) == [], text


def test_ssn_needs_context() -> None:
    """A dashed SSN-shaped number is only POSSIBLE without SSN context."""
    assert _types("ref 123-45-6789") == []
    assert _types("SSN 123-45-6789") == ["us_ssn"]
    assert _types("社会安全号 123-45-6789") == ["us_ssn"]
    assert _types("SSN 666-45-6789") == []


def test_bilingual_context_raises_likelihood() -> None:
    """Chinese and English context words both raise a card to VERY_LIKELY."""
    bare = detect("4111111111111111")[0]["likelihood"]
    assert bare == "LIKELY"
    assert detect("信用卡4111111111111111")[0]["likelihood"] == "VERY_LIKELY"
    assert detect("credit card 4111111111111111")[0]["likelihood"] == "VERY_LIKELY"


def test_order_number_context_lowers_card() -> None:
    """A Luhn-valid number labelled as an order number is not reported at LIKELY."""
    assert _types("order no 4111111111111111") == []
    assert _types("订单号4111111111111111") == []


def test_legacy_15_digit_id_needs_context() -> None:
    """Legacy 15-digit ids (no checksum) are reported only with id context."""
    assert _types("身份证号 110105491231002") == ["cn_resident_id"]
    assert _types("110105491231002") == []


def test_numbers_spanning_groups_split() -> None:
    """Two identifiers separated by one space are found separately."""
    assert _types("cards 4111 1111 1111 1111 5555555555554444") == ["credit_card", "credit_card"]


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3",
        "v10.0.0.1",
        "2024-05-01T12:30:45Z",
        "timestamp 1700000000123",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "pkg@1.2.3",
        "std::vector<int> v;",
        "12:30:45",
        "amount 1,234,567.89",
        "password: changeme",
        "token = ${API_TOKEN}",
        "keep this confidential",
        "内部网络分析",
        "我们的秘密",
        "ISBN 978-3-16-148410-0",
    ],
)
def test_near_misses_not_reported(text: str) -> None:
    """Versions, timestamps, hashes, placeholders and ordinary words are not findings."""
    assert _types(text) == []


def test_secret_assignment_needs_entropy() -> None:
    """A high-entropy value assigned to a secret name is found; a word is not."""
    assert _types('db_password = "Xk9#mPq2Lz8vRw4T"') == ["secret_assignment"]
    assert _types("password = passwordpassword") == []
    assert _types("密码：Qz7_kLp3Vn9Wx2Rt") == ["secret_assignment"]


def test_markings_and_variants() -> None:
    """TLP 2.0 labels, EAR99, USML, CUI banners and Chinese markings carry their variant."""
    hits = detect("TLP:AMBER+STRICT\nCUI\nEAR99 USML Category XI 绝密★ 【内部】 商业秘密")
    got = [(h["type"], h["variant"]) for h in hits]
    assert ("tlp_label", "AMBER+STRICT") in got
    assert ("cui_marking", "cui") in got
    assert ("eccn", "ear99") in got
    assert ("eccn", "itar") in got
    assert ("confidential_legend", "top-secret") in got
    assert ("confidential_legend", "internal") in got
    assert ("confidential_legend", "trade-secret") in got


def test_eccn_needs_export_context() -> None:
    """An ECCN-shaped code is LIKELY only near export-control words."""
    assert _types("part 5A002 in stock") == []
    assert _types("ECCN 5A002") == ["eccn"]
    assert _types("出口管制编码5A002") == ["eccn"]


def test_pem_private_key_block() -> None:
    """A complete PEM private key block is VERY_LIKELY and covers the whole block."""
    block = Generator(1).private_key()
    hits = detect("x\n" + block + "\n")
    assert [(h["type"], h["likelihood"]) for h in hits] == [("private_key", "VERY_LIKELY")]
    assert hits[0]["end"] - hits[0]["start"] == len(block)


def test_unknown_likelihood_name_rejected() -> None:
    """A bad likelihood name is a typed error."""
    with pytest.raises(ClassificationError, match="not a likelihood"):
        detect("x", min_likelihood="SURE")
