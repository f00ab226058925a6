"""PEM private keys (ADR 0109): real keys, re-encoded blocks and placeholder bodies.

Real keys made by ``cryptography`` stay VERY_LIKELY in PEM form and in the re-encodings a key
meets in the wild (source-code string concatenation, mail quoting, comment prefixes, escaped
JSON, XML character references, HTML breaks, CR-only breaks), with one value (fingerprint
input) across the forms; placeholder bodies below the entropy floor are headers only; the
re-encoded reading never reaches across another ``-----`` and stays linear on hostile text.
Every engine-level test runs with the C candidate pass and with the pure-Python one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dta.classify import _engine, scan_paths
from dta.classify._detectors_secrets import PEM_MIN_ENTROPY, entropy
from dta.classify._findings import Hit, Likelihood

KEY = b"pem test fingerprint key 0000002"
PASSWORD = b"correct horse battery staple"


def pem_hits(text: str) -> list[Hit]:
    return [h for h in _engine.scan(text) if h.type == "private_key"]


def _keys() -> dict[str, str]:
    """PEM texts of real keys: every label and encoding the detector should call a key."""
    rsa_key = rsa.generate_private_key(65537, 2048)
    ec_key = ec.derive_private_key(0x1D2C3B4A5968778695A4B3C2D1E0F, ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
    pem, none = ser.Encoding.PEM, ser.NoEncryption()
    enc = ser.BestAvailableEncryption(PASSWORD)
    trad, pkcs8 = ser.PrivateFormat.TraditionalOpenSSL, ser.PrivateFormat.PKCS8
    made = {
        "rsa-pkcs1": rsa_key.private_bytes(pem, trad, none),
        "rsa-pkcs8": rsa_key.private_bytes(pem, pkcs8, none),
        "rsa-pkcs8-encrypted": rsa_key.private_bytes(pem, pkcs8, enc),
        "rsa-traditional-encrypted": rsa_key.private_bytes(pem, trad, enc),
        "ec": ec_key.private_bytes(pem, trad, none),
        "ed25519-pkcs8": ed_key.private_bytes(pem, pkcs8, none),
        "ed25519-openssh": ed_key.private_bytes(pem, ser.PrivateFormat.OpenSSH, none),
        "rsa-openssh": rsa_key.private_bytes(pem, ser.PrivateFormat.OpenSSH, none),
    }
    return {name: data.decode().strip() for name, data in made.items()}


KEYS = _keys()


def body(pem: str) -> str:
    """The base64 payload of a PEM text: its lines without BEGIN/END and header lines."""
    return "".join(ln for ln in pem.splitlines()[1:-1] if ln and ":" not in ln)


def java_concat(pem: str) -> str:
    parts = [f'"{ln}\\n"' for ln in pem.splitlines()]
    return "String key =\n    " + " +\n    ".join(parts) + ";"


def python_concat(pem: str) -> str:
    return "KEY = (\n" + "".join(f'    "{ln}\\n"\n' for ln in pem.splitlines()) + ")\n"


def python_bytes(pem: str) -> str:
    return "KEY = (\n" + "".join(f'    b"{ln}\\n"\n' for ln in pem.splitlines()) + ")\n"


def prefixed(prefix: str) -> Callable[[str], str]:
    return lambda pem: "".join(f"{prefix}{ln}\n" for ln in pem.splitlines())


def php_json(pem: str) -> str:
    """PHP's json_encode default: line breaks as \\n and every / as \\/."""
    return '{"key":' + json.dumps(pem + "\n").replace("/", "\\/") + "}"


REENCODINGS: dict[str, Callable[[str], str]] = {
    "java-concat": java_concat,
    "python-implicit-concat": python_concat,
    "python-bytes-concat": python_bytes,
    "mail-quoted": prefixed("> "),
    "mail-quoted-twice": prefixed(">> "),
    "hash-comment": prefixed("# "),
    "javadoc-comment": prefixed(" * "),
    "slash-comment": prefixed("// "),
    "json-escaped-slashes": php_json,
    "json-double-escaped": lambda pem: json.dumps({"k": json.dumps({"key": pem})}),
    "xml-char-refs": lambda pem: f"<key>{pem.replace(chr(10), '&#10;')}</key>",
    "xml-crlf-refs": lambda pem: f"<key>{pem.replace(chr(10), '&#13;&#10;')}</key>",
    "html-br": lambda pem: pem.replace("\n", "<br>\n"),
    "html-br-self-closing": lambda pem: "<p>" + pem.replace("\n", "<br/>") + "</p>",
    "cr-only": lambda pem: pem.replace("\n", "\r"),
    "no-break-after-begin": lambda pem: pem.replace("-----\n", "-----", 1),
    "one-line-spaces": lambda pem: pem.replace("\n", " "),
}


@pytest.mark.parametrize("name", list(KEYS))
def test_real_key_is_a_complete_block_with_its_body_as_value(
    candidate_path: str, name: str
) -> None:
    """Keys written by the cryptography package (smallest: Ed25519 PKCS#8, 64 characters)
    pass the strict grammar and the entropy floor."""
    pem = KEYS[name]
    hits = pem_hits(f"config follows\n{pem}\ndone\n")
    assert [h.likelihood for h in hits] == [Likelihood.VERY_LIKELY]
    assert hits[0].explanation.endswith("block with matching END line")
    assert hits[0].norm == body(pem)
    assert entropy(body(pem)) >= PEM_MIN_ENTROPY


# Armour header lines flattened into one line with the payload hide it (the line is read as a
# header line): such a copy stays LIKELY (ADR 0109).
CASES = [
    (name, form)
    for name in KEYS
    for form in REENCODINGS
    if (name, form) != ("rsa-traditional-encrypted", "one-line-spaces")
]


@pytest.mark.parametrize(("name", "form"), CASES)
def test_re_encoded_real_key_is_a_block_with_the_same_value(
    candidate_path: str, name: str, form: str
) -> None:
    """Each re-encoding of each key is one VERY_LIKELY block whose value is the LF form's
    payload, so every copy of a key has one fingerprint."""
    text = REENCODINGS[form](KEYS[name])
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.VERY_LIKELY]
    assert hits[0].explanation.startswith("PEM ")
    assert "block with matching END line" in hits[0].explanation
    assert hits[0].norm == body(KEYS[name])
    assert text[hits[0].start : hits[0].end].startswith("-----BEGIN ")
    assert text[hits[0].start : hits[0].end].endswith(f"-----END {hits[0].variant.upper()}-----")


def test_re_encoded_copies_of_one_key_have_one_fingerprint_in_the_report(tmp_path: Path) -> None:
    """LF, string concatenation, \\/-escaped JSON, '> ' quoting and &#10; copies of one
    encrypted key: five VERY_LIKELY findings, one fingerprint, no DEK-Info IV in the report."""
    pem = KEYS["rsa-traditional-encrypted"]
    iv = pem.splitlines()[2].split(",")[1]
    forms = {
        "lf.txt": pem + "\n",
        "Key.java": java_concat(pem),
        "key.json": php_json(pem),
        "mail.txt": prefixed("> ")(pem),
        "key.xml": REENCODINGS["xml-char-refs"](pem),
    }
    for fname, text in forms.items():
        (tmp_path / fname).write_text(text, encoding="utf-8")
    report = scan_paths([tmp_path], key=KEY)
    found = [d for f in report["files"] for d in f["details"] if d["type"] == "private_key"]
    assert [d["likelihood"] for d in found] == ["VERY_LIKELY"] * len(forms)
    assert len({d["fingerprint"] for d in found}) == 1
    assert iv not in json.dumps(report)


def test_re_encoded_header_lines_are_not_in_the_value(candidate_path: str) -> None:
    """Proc-Type/DEK-Info lines under a quoting prefix are armour, not payload."""
    pem = KEYS["rsa-traditional-encrypted"]
    hit = pem_hits(prefixed("> ")(pem))[0]
    assert hit.norm == body(pem)
    assert pem.splitlines()[2].split(",")[1] not in hit.norm


PLACEHOLDERS = {
    "A*64": "A" * 64,
    "X*64": "X" * 64,
    "REDACTED*8": "REDACTED" * 8,
    "digits*7": "0123456789" * 7,
    "YOURPRIVATEKEYGOESHERE*3": "YOURPRIVATEKEYGOESHERE" * 3,
    "A*1600": "A" * 1600,
    "QUJD*40": "QUJD" * 40,
}


@pytest.mark.parametrize("name", list(PLACEHOLDERS))
@pytest.mark.parametrize("form", ["lf", "one-line", "mail-quoted", "java-concat"])
def test_placeholder_body_is_a_header_only(candidate_path: str, name: str, form: str) -> None:
    """A long but low-entropy body (below PEM_MIN_ENTROPY) is documentation, not a key: the
    header alone, LIKELY, on the strict and on the re-encoded path."""
    filler = PLACEHOLDERS[name]
    assert len(filler) >= 64
    assert entropy(filler) < PEM_MIN_ENTROPY
    wrapped = "\n".join(filler[i : i + 64] for i in range(0, len(filler), 64))
    pem = f"-----BEGIN PRIVATE KEY-----\n{filler if form == 'one-line' else wrapped}\n"
    pem += "-----END PRIVATE KEY-----"
    text = {"mail-quoted": prefixed("> "), "java-concat": java_concat}.get(form, str)(pem)
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.LIKELY]
    assert hits[0].explanation == "PEM PRIVATE KEY header without a complete block"
    assert hits[0].norm == "PRIVATE KEY"


@pytest.mark.parametrize(
    "between",
    [
        "The partner laboratories exchange metering data; rotation is quarterly.\n" * 40,
        "Internationalisation characteristically counterproductive, interdisciplinary.\n" * 30,
        "see https://example.org/documentation/installation/troubleshooting/index.html\n" * 20,
    ],
    ids=["prose", "long-words", "urls"],
)
def test_prose_between_a_lone_begin_and_end_is_not_a_block(
    candidate_path: str, between: str
) -> None:
    """Text between a BEGIN and an END line is no re-encoded block: prose and URL paths are
    not mostly base64 runs of >= 16 characters; long words are, but fall below the entropy
    floor (English letters carry ~4.1 bits per character)."""
    text = f"-----BEGIN PRIVATE KEY-----\n{between}-----END PRIVATE KEY-----\n"
    assert [h.likelihood for h in pem_hits(text)] == [Likelihood.LIKELY]


def test_re_encoded_block_never_reaches_across_another_begin(candidate_path: str) -> None:
    """A quoted header whose block was cut, then a quoted complete block: the first header is
    LIKELY alone and the second block keeps only its own payload."""
    first, second = KEYS["rsa-pkcs8"], KEYS["ed25519-pkcs8"]
    cut = "\n".join(first.splitlines()[:5])
    text = prefixed("> ")(cut) + prefixed("> ")(second)
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.LIKELY, Likelihood.VERY_LIKELY]
    assert text[hits[0].start : hits[0].end] == "-----BEGIN PRIVATE KEY-----"
    assert hits[1].norm == body(second)


def test_re_encoded_body_closed_by_another_label_is_a_header(candidate_path: str) -> None:
    """The first '-----' after the header must open the END line of the same label."""
    pem = KEYS["rsa-pkcs1"].replace("END RSA PRIVATE KEY", "END PRIVATE KEY")
    hits = pem_hits(java_concat(pem))
    assert [h.likelihood for h in hits] == [Likelihood.LIKELY]


def test_hostile_quoted_lines_with_begin_lines_and_no_end_finish(candidate_path: str) -> None:
    """1 MB of quoted base64-like lines with a BEGIN line every few lines and no END line:
    each re-encoded attempt stops at the next '-----', so the work stays linear."""
    chunk = '"-----BEGIN RSA PRIVATE KEY-----\\n" +\n' + ('"' + "QUJDREVG" * 8 + '\\n" +\n') * 3
    text = chunk * (1_000_000 // len(chunk))
    hits = pem_hits(text)
    assert len(hits) == text.count("-----BEGIN ")
    assert {h.likelihood for h in hits} == {Likelihood.LIKELY}


def test_hostile_low_entropy_complete_blocks_finish(candidate_path: str) -> None:
    """1 MB of complete re-encoded blocks whose bodies are placeholders: every one is a header
    (each attempt reads its own block once, strict then re-encoded)."""
    block = (
        "-----BEGIN EC PRIVATE KEY-----&#10;" + "QUJD" * 40 + "&#10;-----END EC PRIVATE KEY-----\n"
    )
    text = block * (1_000_000 // len(block))
    hits = pem_hits(text)
    assert len(hits) == text.count("-----BEGIN ")
    assert {h.likelihood for h in hits} == {Likelihood.LIKELY}


@pytest.mark.parametrize(
    "filler",
    ["\\" * 9000, "=A" * 4500, "&#10;" * 1800, "<br/>" * 1800, "\\/" * 4500, "> " * 4500],
    ids=["backslashes", "padding", "char-refs", "html-breaks", "escaped-slashes", "quotes"],
)
def test_hostile_megabyte_of_escape_filled_blocks_finishes(
    candidate_path: str, filler: str
) -> None:
    """1 MB of BEGIN/END pairs, each 9,000 characters of escape-like text apart: every one is
    a header (each re-encoded attempt reads its own stretch once)."""
    block = f"-----BEGIN PRIVATE KEY-----{filler}-----END PRIVATE KEY-----\n"
    text = block * (1_000_000 // len(block))
    hits = pem_hits(text)
    assert len(hits) == text.count("-----BEGIN ")
    assert {h.likelihood for h in hits} == {Likelihood.LIKELY}


def test_indented_body_directly_under_header_lines_is_a_re_encoded_block(
    candidate_path: str,
) -> None:
    """Indented base64 right under Proc-Type/DEK-Info (no blank line) reads as RFC 1421
    continuation lines to the strict grammar; the re-encoded reading finds the key."""
    pem = KEYS["rsa-traditional-encrypted"]
    head, rest = pem.split("\n\n", 1)
    text = head + "\n" + "\n".join("  " + ln for ln in rest.splitlines()[:-1])
    text += "\n" + rest.splitlines()[-1] + "\n"
    hits = pem_hits(text)
    assert [h.likelihood for h in hits] == [Likelihood.VERY_LIKELY]
    assert hits[0].explanation.endswith("(re-encoded)")
    assert hits[0].norm == body(pem)
