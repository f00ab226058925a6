"""C2SP signed-note: the spec example, key IDs, verifier keys and malformed-note rejection."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta import keys
from dta.audit.note import Note, NoteSignature, Verifier, key_id, open_note, sign_note
from dta.errors import KeyMaterialError, SignatureError

SIGNER = keys.generate()
OTHER = keys.generate()
V = Verifier.from_public_key(SIGNER.public_key, "example.com/log")
TEXT = "hello\nworld\n"


def _note(text: str = TEXT, name: str = "example.com/log") -> str:
    return sign_note(text, SIGNER, name).to_text()


def test_note_spec_example_verifies_with_vkey(vectors: Path) -> None:
    """The signed-note spec example verifies with its verifier key string."""
    vkey = (vectors / "signed-note" / "example.vkey").read_text(encoding="utf-8")
    note = (vectors / "signed-note" / "example.note").read_bytes()
    verifier = Verifier.from_vkey(vkey)
    assert verifier.to_vkey() == vkey.strip()
    opened = open_note(note, [verifier])
    assert opened.text == "This is an example message.\n"
    assert [v.name for v, _, _ in opened.verified] == ["example.com/foo"]


def test_note_spec_example_tampered_text_rejected(vectors: Path) -> None:
    """Changing one character of the spec example's text makes the known signature fail."""
    vkey = (vectors / "signed-note" / "example.vkey").read_text(encoding="utf-8")
    note = (vectors / "signed-note" / "example.note").read_text(encoding="utf-8")
    with pytest.raises(SignatureError):
        open_note(note.replace("example message", "example massage"), [Verifier.from_vkey(vkey)])


def test_note_key_id_is_spec_formula() -> None:
    """Key ID = SHA-256(name || 0x0A || 0x01 || raw key)[:4], and the vkey carries it in hex."""
    raw = SIGNER.public_key.raw()
    want = hashlib.sha256(b"example.com/log\n\x01" + raw).digest()[:4]
    assert key_id("example.com/log", 1, raw) == want == V.key_id
    name, kid, blob = V.to_vkey().split("+", 2)
    assert (name, kid, base64.b64decode(blob)) == ("example.com/log", want.hex(), b"\x01" + raw)


def test_note_vkey_with_wrong_key_id_rejected() -> None:
    """A verifier key string whose key ID does not match its key is refused."""
    name, _, blob = V.to_vkey().split("+", 2)
    with pytest.raises(KeyMaterialError):
        Verifier.from_vkey(f"{name}+00000000+{blob}")
    for bad in ("nonsense", "a+b+c", f"{name}+{V.key_id.hex()}+AQ==", f"a b+00000000+{blob}"):
        with pytest.raises(KeyMaterialError):
            Verifier.from_vkey(bad)


def test_note_sign_and_verify_roundtrip() -> None:
    """A note signed with a dta key verifies with its verifier and yields the same text."""
    opened = open_note(_note(), [V])
    assert opened.text == TEXT
    assert opened.unverified == ()


def test_note_signature_from_unknown_key_ignored() -> None:
    """Extra signatures from unknown keys are ignored, not fatal."""
    note = sign_note(TEXT, SIGNER, "example.com/log")
    both = sign_note(TEXT, OTHER, "someone.else/key", existing=note.signatures).to_text()
    opened = open_note(both, [V])
    assert [s.name for s in opened.unverified] == ["someone.else/key"]


def test_note_same_name_different_key_is_unknown_and_ignored() -> None:
    """A signature sharing the known name but not the key ID is ignored, not tried."""
    forged = sign_note(TEXT, OTHER, "example.com/log")
    note = sign_note(TEXT, SIGNER, "example.com/log", existing=forged.signatures).to_text()
    opened = open_note(note, [V])
    assert len(opened.verified) == 1
    assert len(opened.unverified) == 1


def test_note_signed_only_by_unknown_keys_rejected() -> None:
    """A note without any signature from a known key is rejected."""
    with pytest.raises(SignatureError):
        open_note(sign_note(TEXT, OTHER, "example.com/log").to_text(), [V])


def test_note_bad_signature_from_known_key_rejects_whole_note() -> None:
    """If a known key's signature fails, the note is rejected even if another known key is OK."""
    v2 = Verifier.from_public_key(OTHER.public_key, "other.example/log")
    good = sign_note(TEXT, SIGNER, "example.com/log").signatures[0]
    bad = sign_note("other text\n", OTHER, "other.example/log").signatures[0]
    note = Note(TEXT, (good, bad)).to_text()
    with pytest.raises(SignatureError):
        open_note(note, [V, v2])


def test_note_duplicate_signature_lines_rejected() -> None:
    """Two signature lines for the same (name, key ID) make the note malformed."""
    sig = sign_note(TEXT, SIGNER, "example.com/log").signatures[0]
    with pytest.raises(SignatureError):
        Note.from_text(Note(TEXT, (sig, sig)).to_text())
    with pytest.raises(SignatureError):
        sign_note(TEXT, SIGNER, "example.com/log", existing=(sig,))


def test_note_text_with_blank_lines_splits_at_last_blank_line() -> None:
    """Blank lines inside the text are allowed; the signatures start after the last one."""
    text = "para one\n\npara two\n"
    opened = open_note(sign_note(text, SIGNER, "example.com/log").to_text(), [V])
    assert opened.text == text


def _sig_line() -> str:
    return _note().split("\n\n", 1)[1]


@pytest.mark.parametrize(
    ("label", "make"),
    [
        ("no blank line", lambda: TEXT + _sig_line()),
        ("no final newline", lambda: _note()[:-1]),
        ("hyphens instead of em dash", lambda: _note().replace("\u2014 ", "-- ")),
        ("double space", lambda: _note().replace("/log ", "/log  ")),
        ("trailing space", lambda: _note()[:-1] + " \n"),
        ("no signature", lambda: TEXT + "\n"),
        ("empty text", lambda: "\n\n" + _sig_line()),
        ("tab control char", lambda: "a\tb\n\n" + _sig_line()),
        ("carriage return", lambda: _note().replace("\n", "\r\n")),
        ("base64 without padding", lambda: _note().rstrip("=\n") + "\n"),
        ("non-canonical base64", lambda: _note()[:-3] + "B=\n"),
        ("signature too short", lambda: TEXT + "\n\u2014 example.com/log AAAAAA==\n"),
        ("plus in name", lambda: _note().replace("example.com/log", "example.com+log")),
        ("blank line between signatures", lambda: _note() + "\n" + _sig_line()),
        (
            "101 signatures",
            lambda: (
                TEXT
                + "\n"
                + "".join(
                    NoteSignature(f"k{i}", b"\0\0\0\0", b"x" * 64).to_line() for i in range(101)
                )
            ),
        ),
    ],
)
def test_note_malformed_rejected(label: str, make: object) -> None:
    """Malformed notes are rejected with SignatureError before any key is consulted."""
    assert callable(make)
    with pytest.raises(SignatureError):
        open_note(make(), [V])


def test_note_invalid_utf8_rejected() -> None:
    """A note that is not valid UTF-8 is rejected."""
    with pytest.raises(SignatureError):
        open_note(b"caf\xe9\n\n" + _sig_line().encode(), [V])


def test_note_sixteen_signatures_accepted() -> None:
    """At least 16 signatures are accepted, as the spec requires."""
    sigs = tuple(NoteSignature(f"w{i}.example", b"\1\2\3\4", b"s" * 64) for i in range(15))
    note = sign_note(TEXT, SIGNER, "example.com/log", existing=sigs).to_text()
    assert len(open_note(note, [V]).unverified) == 15


def test_note_sign_refuses_bad_text_and_non_ed25519_keys() -> None:
    """Signing refuses text without final newline, trailing blank line, and ECDSA keys."""
    for text in ("no newline", "two\n\n", "", "\n"):
        with pytest.raises(SignatureError):
            sign_note(text, SIGNER, "example.com/log")
    with pytest.raises(KeyMaterialError):
        sign_note(TEXT, keys.generate("ecdsa-p256-sha256"), "example.com/log")


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1))
def test_note_hypothesis_any_text_roundtrips(body: str) -> None:
    """Any printable text (made newline-terminated) signs and verifies unchanged."""
    text = body.replace("\n", " ") + "\n"
    if not text.strip("\n"):
        return
    assert open_note(sign_note(text, SIGNER, "example.com/log").to_text(), [V]).text == text


@settings(max_examples=60, deadline=None)
@given(pos=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_note_hypothesis_any_bit_flip_rejected(pos: int, bit: int) -> None:
    """Flipping any bit of a signed note never verifies and raises only SignatureError."""
    data = bytearray(_note().encode())
    data[pos % len(data)] ^= 1 << bit
    with pytest.raises(SignatureError):
        open_note(bytes(data), [V])
