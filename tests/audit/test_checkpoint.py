"""tlog-checkpoint: exact text format, strict parsing, signing and verification."""

from __future__ import annotations

import base64
import hashlib

import pytest

from dta import keys
from dta.audit.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from dta.audit.note import Verifier, open_note
from dta.errors import KeyMaterialError, ProofError, SignatureError

LOG = keys.generate()
ROOT = hashlib.sha256(b"root").digest()
CP = Checkpoint("example.com/log", 20852163, ROOT)


def test_checkpoint_text_is_exact_c2sp_format() -> None:
    """Origin, decimal size and base64 root, each on its own newline-terminated line."""
    b64 = base64.b64encode(ROOT).decode()
    assert CP.to_text() == f"example.com/log\n20852163\n{b64}\n"
    ext = Checkpoint("o", 0, ROOT, ("ext one", "ext two"))
    assert ext.to_text() == f"o\n0\n{b64}\next one\next two\n"
    assert Checkpoint.from_text(ext.to_text()) == ext


@pytest.mark.parametrize(
    "text",
    [
        "example.com/log\n01\n{root}\n",
        "example.com/log\n+5\n{root}\n",
        "example.com/log\n 5\n{root}\n",
        "example.com/log\n\u0665\n{root}\n",
        "example.com/log\n1_000\n{root}\n",
        "example.com/log\n9223372036854775808\n{root}\n",
        "example.com/log\n5\n{root}",
        "example.com/log\n5\n",
        "\n5\n{root}\n",
        "example.com/log\n5\nAAAA\n",
        "example.com/log\n5\n{root_nopad}\n",
        "example.com/log\n5\n{root}\n\n",
        "example.com/log\n5\n{root}\next\n\n",
    ],
)
def test_checkpoint_malformed_text_rejected(text: str) -> None:
    """Leading zeros, signs, non-ASCII digits, bad roots and empty lines are rejected."""
    b64 = base64.b64encode(ROOT).decode()
    with pytest.raises(ProofError):
        Checkpoint.from_text(text.format(root=b64, root_nopad=b64.rstrip("=")))


def test_checkpoint_fields_validated_on_construction() -> None:
    """A checkpoint cannot be built with a short root, negative size or empty origin."""
    for args in (("o", 1, b"short"), ("o", -1, ROOT), ("", 1, ROOT), ("a\nb", 1, ROOT)):
        with pytest.raises(ProofError):
            Checkpoint(*args)
    with pytest.raises(ProofError):
        Checkpoint("o", 1, ROOT, ("",))


def test_checkpoint_sign_and_verify_with_origin_as_key_name() -> None:
    """A signed checkpoint verifies with the log key; the signature's key name is the origin."""
    note = sign_checkpoint(CP, LOG)
    assert note.startswith(CP.to_text() + "\n\u2014 example.com/log ")
    assert verify_checkpoint(note, LOG.public_key, origin="example.com/log") == CP
    assert open_note(note, [Verifier.from_public_key(LOG.public_key, CP.origin)]).text


def test_checkpoint_signed_by_other_key_rejected() -> None:
    """A checkpoint signed by a key other than the log's is rejected."""
    note = sign_checkpoint(CP, keys.generate())
    with pytest.raises(SignatureError):
        verify_checkpoint(note, LOG.public_key)


def test_checkpoint_for_another_origin_rejected() -> None:
    """A validly signed checkpoint of another log (origin) is refused."""
    other = Checkpoint("evil.example/log", 5, ROOT)
    with pytest.raises(ProofError):
        verify_checkpoint(sign_checkpoint(other, LOG), LOG.public_key, origin="example.com/log")


def test_checkpoint_size_or_root_tampered_rejected() -> None:
    """Changing the signed size or root after signing breaks the signature."""
    note = sign_checkpoint(CP, LOG)
    for tampered in (
        note.replace("20852163", "20852164"),
        note.replace(base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
    ):
        with pytest.raises(SignatureError):
            verify_checkpoint(tampered, LOG.public_key)


def test_checkpoint_extension_lines_are_signed() -> None:
    """Extension lines are part of the signed text: changing one breaks the signature."""
    cp = Checkpoint("example.com/log", 3, ROOT, ("note: hello",))
    note = sign_checkpoint(cp, LOG)
    assert verify_checkpoint(note, LOG.public_key).extensions == ("note: hello",)
    with pytest.raises(SignatureError):
        verify_checkpoint(note.replace("hello", "hullo"), LOG.public_key)


def test_checkpoint_custom_key_name() -> None:
    """The log's key name may differ from the origin when given on both sides."""
    note = sign_checkpoint(CP, LOG, name="keys.example/log-2026")
    assert verify_checkpoint(note, LOG.public_key, name="keys.example/log-2026") == CP
    with pytest.raises(SignatureError):
        verify_checkpoint(note, LOG.public_key)


def test_checkpoint_ecdsa_log_key_refused() -> None:
    """Only Ed25519 keys sign checkpoints (signed-note type 0x01)."""
    ec = keys.generate("ecdsa-p256-sha256")
    with pytest.raises(KeyMaterialError):
        sign_checkpoint(CP, ec)
    with pytest.raises(KeyMaterialError):
        verify_checkpoint(sign_checkpoint(CP, LOG), ec.public_key)
