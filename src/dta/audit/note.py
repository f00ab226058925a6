"""C2SP signed notes (``c2sp.org/signed-note``) with Ed25519 keys.

Rules this module enforces:

* Format: UTF-8 text ending in a newline, a blank line, then 1..100 signature lines
  ``— <key name> base64(4-byte key ID || signature)``; the text is separated from the signatures
  by the *last* blank line; the signed bytes are the text including its final newline.
* The whole note must be valid UTF-8, at most 1 MiB, with no control characters besides newline.
  Malformed signature lines (no em dash, extra spaces, bad or non-canonical base64, fewer than 5
  bytes) reject the whole note, as does a second line for the same (name, key ID).
* Key names are non-empty, without Unicode spaces, ``+`` or control characters.
* Key ID = ``SHA-256(name || 0x0A || type || public key)[:4]``; type 0x01 is Ed25519 over the text,
  type 0x04 is a ``cosignature/v1`` (see :mod:`dta.audit.checkpoint`).
* Verification: signatures whose (name, key ID) match no known key are ignored; a signature from
  a known key that fails rejects the whole note; at least one known key must have signed.
  Failures raise :class:`dta.errors.SignatureError`.
* Verifier keys are ``<name>+<hex key ID>+<base64(type || public key)>``; the key ID in the string
  must match the one computed from the key.
"""

from __future__ import annotations

from dta.audit._note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Note,
    NoteSignature,
    VerifiedNote,
    Verifier,
    check_key_name,
    key_id,
    open_note,
    sign_note,
)

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Note",
    "NoteSignature",
    "VerifiedNote",
    "Verifier",
    "check_key_name",
    "key_id",
    "open_note",
    "sign_note",
]
