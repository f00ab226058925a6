"""PEM private keys (ADR 0109): a BEGIN line pairs only with its own END line across a PEM body.

Every engine-level test runs with the C candidate pass and with the pure-Python one.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta.classify import _engine, _stream, scan_paths
from dta.classify._detectors_secrets import (
    PEM_MIN_ENTROPY,
    PEM_MIN_PAYLOAD,
    PEM_SPAN,
    entropy,
    pem_hit,
)
from dta.classify._findings import Hit, Likelihood

RSA = "RSA PRIVATE KEY"
KEY = b"pem test fingerprint key 0000001"


def payload(seed: int, nbytes: int = 600) -> str:
    """A base64 payload (the fingerprinted value of a complete block)."""
    return base64.b64encode(random.Random(seed).randbytes(nbytes)).decode()


def lines(b64: str, width: int = 64, eol: str = "\n") -> str:
    return eol.join(b64[i : i + width] for i in range(0, len(b64), width))


def block(b64: str, label: str = RSA, headers: str = "", eol: str = "\n", width: int = 64) -> str:
    """A PEM block; ``headers`` (lines ending in ``eol``) go between BEGIN and the payload."""
    return (
        f"-----BEGIN {label}-----{eol}{headers}{lines(b64, width, eol)}{eol}-----END {label}-----"
    )


def pem_hits(text: str) -> list[Hit]:
    return [h for h in _engine.scan(text) if h.type == "private_key"]


def only_block(text: str, reencoded: bool = False) -> Hit:
    """The single private_key hit of ``text``, which must be a complete block (read by the
    strict grammar, or as a re-encoded block when ``reencoded``)."""
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.VERY_LIKELY]
    how = " (re-encoded)" if reencoded else ""
    assert hits[0].explanation.endswith(f"block with matching END line{how}")
    return hits[0]


def assert_header_only(hit: Hit, text: str, label: str = RSA) -> None:
    assert hit.likelihood == Likelihood.LIKELY
    assert hit.explanation == f"PEM {label} header without a complete block"
    assert text[hit.start : hit.end] == f"-----BEGIN {label}-----"
    assert hit.norm == label


def test_header_without_end_then_complete_block_gives_two_findings(candidate_path: str) -> None:
    """The END line of a later block no longer closes an earlier header: the header is LIKELY
    on its own and the later block is VERY_LIKELY with only its own payload as the value."""
    first, second = payload(1), payload(2)
    orphan = f"-----BEGIN {RSA}-----\n{lines(first)}\n"  # END line lost
    prose = "The key above was truncated when the ticket was exported.\n"
    text = "notes\n" + orphan + prose + block(second) + "\n"
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.LIKELY, Likelihood.VERY_LIKELY]
    assert_header_only(hits[0], text)
    assert text[hits[1].start :].startswith(f"-----BEGIN {RSA}-----\n{second[:64]}")
    assert text[hits[1].start : hits[1].end] == block(second)
    assert hits[1].norm == second


def test_header_followed_by_prose_does_not_pair_with_a_later_end_line(candidate_path: str) -> None:
    """BEGIN, paragraphs of prose, then a bare END line: a header, not a key block."""
    text = f"-----BEGIN {RSA}-----\nThe partner laboratories exchange energy data.\n"
    text += "Metering resumes on Monday.\n" * 50 + f"-----END {RSA}-----\n"
    hits = pem_hits(text)
    assert len(hits) == 1
    assert_header_only(hits[0], text)


def test_prose_line_inside_a_base64_body_is_a_re_encoded_block_without_it(
    candidate_path: str,
) -> None:
    """A note between the base64 lines breaks the strict grammar; the re-encoded reading still
    finds the key (its runs are ~96% of the text) and leaves the note out of the value."""
    b64 = lines(payload(3)).split("\n")
    body = "\n".join([*b64[:3], "see attachment for the rest of the key", *b64[3:]])
    text = f"-----BEGIN {RSA}-----\n{body}\n-----END {RSA}-----\n"
    hit = only_block(text, reencoded=True)
    assert hit.norm == payload(3)


def test_key_lines_outweighed_by_prose_are_a_header(candidate_path: str) -> None:
    """Base64 runs below 75% of the text between BEGIN and END: not a block."""
    b64 = lines(payload(3, 120)).split("\n")
    note = "The partner laboratories exchange metering data every Monday morning.\n" * 5
    text = f"-----BEGIN {RSA}-----\n{note}{chr(10).join(b64)}\n{note}-----END {RSA}-----\n"
    hits = pem_hits(text)
    assert len(hits) == 1
    assert_header_only(hits[0], text)


def test_end_line_of_another_label_does_not_pair(candidate_path: str) -> None:
    """-----BEGIN RSA PRIVATE KEY----- is not closed by -----END PRIVATE KEY-----."""
    text = f"-----BEGIN {RSA}-----\n{lines(payload(4))}\n-----END PRIVATE KEY-----\n"
    hits = pem_hits(text)
    assert len(hits) == 1
    assert_header_only(hits[0], text)


def test_second_begin_before_the_end_line_is_its_own_block(candidate_path: str) -> None:
    """Two BEGIN lines of one label and one END line: the END belongs to the second only."""
    first, second = payload(5), payload(6)
    text = f"-----BEGIN {RSA}-----\n{lines(first)}\n" + block(second) + "\n"
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.LIKELY, Likelihood.VERY_LIKELY]
    assert_header_only(hits[0], text)
    assert hits[1].norm == second


def test_begin_inside_a_header_continuation_line_is_not_swallowed(candidate_path: str) -> None:
    """An indented BEGIN line after a header line is no RFC 1421 continuation of it."""
    second = payload(7)
    text = f"-----BEGIN {RSA}-----\nComment: exported\n  " + block(second) + "\n"
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.LIKELY, Likelihood.VERY_LIKELY]
    assert hits[1].norm == second


def test_encrypted_pkcs1_with_proc_type_and_dek_info_is_a_block(candidate_path: str) -> None:
    """Proc-Type/DEK-Info headers and the blank line are accepted and kept out of the value."""
    b64 = payload(8, 1192)
    headers = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,5E0D7CDB3A0A4B3E9E0C4D3F2B1A0918\n\n"
    hit = only_block("key:\n" + block(b64, headers=headers) + "\n")
    assert hit.norm == b64
    assert "Proc-Type" not in hit.norm
    assert "5E0D7CDB" not in hit.norm


def test_rfc1421_continued_header_line_is_accepted(candidate_path: str) -> None:
    """A header value continued on a whitespace-led line is part of the header section."""
    b64 = payload(9)
    headers = (
        "Proc-Type: 4,ENCRYPTED\nOriginator-Certificate:\n MIIBlTCCAScCAWUwDQYJKoZIhvcNAQEC\n"
        " BQAwUTELMAkGA1UEBhMCVVMx\nDEK-Info: DES-CBC,F8143EDE5960C597\n\n"
    )
    hit = only_block(block(b64, headers=headers))
    assert hit.norm == b64


def test_headers_without_the_blank_line_are_still_a_block(candidate_path: str) -> None:
    """A copy that lost the blank line after its headers is still recognised."""
    b64 = payload(10)
    hit = only_block(block(b64, headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n"))
    assert hit.norm == b64


def test_openssh_private_key_is_a_block(candidate_path: str) -> None:
    """OpenSSH's own format (70-character lines)."""
    b64 = base64.b64encode(b"openssh-key-v1\x00" + random.Random(11).randbytes(380)).decode()
    hit = only_block(block(b64, "OPENSSH PRIVATE KEY", width=70))
    assert hit.norm == b64
    assert hit.variant == "openssh private key"


@pytest.mark.parametrize(
    "headers", ["Version: GnuPG v2\nComment: https://gnupg.org\n\n", "\n"], ids=["headers", "bare"]
)
def test_pgp_armoured_private_key_is_a_block(candidate_path: str, headers: str) -> None:
    """OpenPGP armour: optional Version/Comment headers, a blank line, the =XXXX checksum."""
    b64 = payload(12, 900)
    label = "PGP PRIVATE KEY BLOCK"
    text = f"-----BEGIN {label}-----\n{headers}{lines(b64)}\n=twTO\n-----END {label}-----\n"
    hit = only_block(text)
    assert hit.norm == b64  # headers and checksum line are not part of the value
    assert hit.end == len(text) - 1


@pytest.mark.parametrize("label", ["PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
def test_crlf_block_has_the_same_value_as_lf(candidate_path: str, label: str) -> None:
    """CRLF line ends (and trailing spaces) are line ends; the value is the same payload."""
    b64 = payload(13)
    crlf = block(b64, label, eol="  \r\n")
    assert only_block(crlf).norm == only_block(block(b64, label)).norm == b64


def test_escaped_newlines_in_a_string_literal_are_line_ends(candidate_path: str) -> None:
    """A key pasted into a JSON/.env string scanned as plain text (\\n escapes) is a block."""
    b64 = payload(14)
    text = '{"private_key": "' + block(b64, "PRIVATE KEY", eol="\\n") + '\\n"}'
    assert only_block(text).norm == b64


def test_placeholder_bodies_are_headers_only(candidate_path: str) -> None:
    """Documentation placeholders and payloads shorter than the smallest key are not blocks."""
    short = payload(15, 3 * PEM_MIN_PAYLOAD // 4 - 3)
    for body in ["...", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC...snip...", "<your key here>", short]:
        text = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
        assert [h.likelihood for h in pem_hits(text)] == [Likelihood.LIKELY], body
    enough = payload(15, 3 * PEM_MIN_PAYLOAD // 4)
    assert len(only_block(block(enough)).norm) == PEM_MIN_PAYLOAD


def test_block_longer_than_the_span_is_a_header(candidate_path: str) -> None:
    """The END line must end within PEM_SPAN characters of the BEGIN line's dashes."""
    b64 = payload(16, 12400)  # 16,534 base64 characters
    text = block(b64)
    begin = len(f"-----BEGIN {RSA}-----")
    assert len(text) - begin > PEM_SPAN
    assert [h.likelihood for h in pem_hits(text)] == [Likelihood.LIKELY]
    fits = block(payload(16, 11900))
    assert len(fits) - begin <= PEM_SPAN
    only_block(fits)


def test_value_never_holds_a_header_or_armour_line() -> None:
    """pem_hit's value of a complete block is base64 only: no dashes, colons or whitespace."""
    b64 = payload(17)
    for text in [
        block(b64, headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n"),
        block(b64, "PGP PRIVATE KEY BLOCK", headers="Version: x\n\n"),
        block(b64, eol="\r\n"),
    ]:
        hit = pem_hit(text, 0)
        assert hit is not None
        assert hit.likelihood == Likelihood.VERY_LIKELY
        assert hit.norm == b64
        assert not set(hit.norm) & set("-: \t\r\n")


def test_hostile_megabyte_of_body_lines_and_begin_lines_finishes(candidate_path: str) -> None:
    """1 MB of base64-like lines with a BEGIN line every few lines and no END line: every
    BEGIN is a LIKELY header (an attempt stops at the next '-----', so the work is linear)."""
    chunk = f"-----BEGIN {RSA}-----\n" + ("QUJD" * 16 + "\n") * 3
    text = chunk * (1_000_000 // len(chunk))
    hits = pem_hits(text)
    assert len(hits) == text.count("-----BEGIN ")
    assert {h.likelihood for h in hits} == {Likelihood.LIKELY}


def test_hostile_header_and_continuation_lines_finish(candidate_path: str) -> None:
    """1 MB of header lines and indented BEGIN lines (each a would-be continuation line)."""
    text = f"-----BEGIN {RSA}-----\nX: y\n" + (f" -----BEGIN {RSA}-----\nX: y\n" * 27000)
    hits = pem_hits(text)
    assert len(hits) == 27001
    assert {h.likelihood for h in hits} == {Likelihood.LIKELY}


def test_hostile_megabyte_body_without_end_line_finishes(candidate_path: str) -> None:
    """One BEGIN line, then 1 MB of base64 lines and nothing else."""
    text = f"-----BEGIN {RSA}-----\n" + ("QUJD" * 16 + "\r\n") * 15000
    assert [h.likelihood for h in pem_hits(text)] == [Likelihood.LIKELY]


_PIECES = st.sampled_from(
    [
        f"-----BEGIN {RSA}-----",
        "-----BEGIN PRIVATE KEY-----",
        f"-----END {RSA}-----",
        "-----END PRIVATE KEY-----",
        "\n",
        "\r\n",
        "\\n",
        " ",
        "Proc-Type: 4,ENCRYPTED",
        "=twTO",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2",
        "AAAA==",
        "prose here.",
        "-",
        "> ",
        '\\n" +\n"',
        "&#10;",
        "<br/>",
        "\\/",
        "\r",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
        "A" * 64,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_a_block_never_spans_another_begin_and_its_value_is_base64(pieces: list[str]) -> None:
    """Whatever the arrangement of PEM fragments: a VERY_LIKELY hit ends with its own label's
    END line, holds no other BEGIN line, and its value is base64 characters only."""
    text = "".join(pieces)
    for h in _engine.scan(text):
        if h.type != "private_key":
            continue
        span = text[h.start : h.end]
        assert span.count("-----BEGIN ") == 1
        if h.likelihood == Likelihood.VERY_LIKELY:
            assert span.endswith(f"-----END {h.variant.upper()}-----")
            assert len(h.norm) >= PEM_MIN_PAYLOAD
            assert entropy(h.norm) >= PEM_MIN_ENTROPY
            assert set(h.norm) <= set(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
            )
        else:
            assert h.norm == h.variant.upper()


def test_block_straddling_a_stream_block_boundary_is_found_once(tmp_path: Path) -> None:
    """A key that crosses the streaming scanner's block boundary is one VERY_LIKELY finding."""
    b64 = payload(18, 3000)
    text = "x" * 79 + "\n"
    text = text * ((_stream.BLOCK - 2000) // len(text)) + block(b64) + "\nend\n"
    (tmp_path / "k.txt").write_text(text, encoding="utf-8")
    details = scan_paths([tmp_path], key=KEY)["files"][0]["details"]
    assert [(d["type"], d["likelihood"]) for d in details] == [("private_key", "VERY_LIKELY")]
    assert details[0]["location"]["length"] == len(block(b64))


def test_report_holds_no_key_material_and_one_fingerprint_per_key(tmp_path: Path) -> None:
    """The report of LF, CRLF and escaped copies of one encrypted key holds no payload line,
    header value or payload substring, and gives the three copies one fingerprint."""
    b64 = payload(19, 1192)
    dek = "DEK-Info: AES-256-CBC,9A1F0C22D4E5B6A7C8D9E0F1A2B3C4D5"
    headers = f"Proc-Type: 4,ENCRYPTED\n{dek}\n\n"
    lf = block(b64, headers=headers)
    (tmp_path / "lf.pem.txt").write_text(lf + "\n", encoding="utf-8")
    (tmp_path / "crlf.txt").write_bytes((lf.replace("\n", "\r\n") + "\r\n").encode())
    (tmp_path / "env.txt").write_text('KEY="' + lf.replace("\n", "\\n") + '"\n', encoding="utf-8")
    report = scan_paths([tmp_path], key=KEY)
    blob = json.dumps(report)
    assert "9A1F0C22" not in blob
    for i in range(0, len(b64) - 16, 8):
        assert b64[i : i + 16] not in blob
    prints = {
        d["fingerprint"]
        for f in report["files"]
        for d in f["details"]
        if d["type"] == "private_key"
    }
    likelihoods = [d["likelihood"] for f in report["files"] for d in f["details"]]
    assert likelihoods == ["VERY_LIKELY"] * 3
    assert len(prints) == 1
