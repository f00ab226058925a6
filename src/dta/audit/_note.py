"""C2SP signed-note parsing, signing and verification (implementation of :mod:`dta.audit.note`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dta.errors import KeyMaterialError, SignatureError

if TYPE_CHECKING:
    from dta.keys import PublicKey, Signer

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Note",
    "NoteSignature",
    "VerifiedNote",
    "Verifier",
    "b64decode",
    "check_key_name",
    "key_id",
    "open_note",
    "sign_note",
]

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100
_DASH = "\u2014 "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def b64decode(text: str, what: str) -> bytes:
    """Decode canonical standard base64 (RFC 4648 §4, padded) or raise SignatureError.

    Raises:
        SignatureError: not canonical standard base64.
    """
    if not _B64.fullmatch(text) or len(text) % 4:
        raise SignatureError(f"{what}: not standard base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the regex
        raise SignatureError(f"{what}: not standard base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise SignatureError(f"{what}: not canonical base64")
    return data


def check_key_name(name: str) -> None:
    """Check a C2SP key name: non-empty, no Unicode spaces, no ``+``, no control characters.

    Raises:
        SignatureError: the name is not valid.
    """
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or any(c.isspace() for c in name)
        or _CONTROL.search(name)
        or not name.isprintable()
    ):
        raise SignatureError(f"invalid note key name {name!r}")


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """C2SP key ID: ``SHA-256(name || 0x0A || sig_type || public key)[:4]``.

    Raises:
        SignatureError: the name is not a valid key name.
    """
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


@attrs.frozen
class NoteSignature:
    """One signature line: key name, 4-byte key ID and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def to_line(self) -> str:
        """The line ``— <name> base64(key ID || signature)`` with its newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_DASH}{self.name} {blob}\n"

    @classmethod
    def from_line(cls, line: str) -> NoteSignature:
        """Parse one signature line (without its newline).

        Raises:
            SignatureError: the line is malformed.
        """
        if not line.startswith(_DASH):
            raise SignatureError("malformed note signature line (no em dash prefix)")
        parts = line[len(_DASH) :].split(" ")
        if len(parts) != 2:
            raise SignatureError("malformed note signature line")
        name, blob = parts
        check_key_name(name)
        data = b64decode(blob, f"signature by {name}")
        if len(data) < 5:
            raise SignatureError(f"signature by {name} is too short")
        return cls(name, data[:4], data[4:])


@attrs.frozen
class Verifier:
    """A trusted key for note signatures: name, signature type and 32-byte Ed25519 key.

    ``sig_type`` 0x01 verifies plain Ed25519 note signatures; 0x04 verifies timestamped
    ``cosignature/v1`` signatures (``signature = u64 timestamp || Ed25519 signature``).
    """

    name: str
    public_key: bytes
    sig_type: int = SIG_TYPE_ED25519

    def __attrs_post_init__(self) -> None:
        """Validate name, type and key length.

        Raises:
            SignatureError: invalid name.
            KeyMaterialError: unsupported type or key length.
        """
        check_key_name(self.name)
        if self.sig_type not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
            raise KeyMaterialError(f"unsupported note signature type {self.sig_type:#04x}")
        if len(self.public_key) != 32:
            raise KeyMaterialError("note verifier key is not a 32-byte Ed25519 public key")

    @classmethod
    def from_public_key(
        cls, key: PublicKey, name: str, sig_type: int = SIG_TYPE_ED25519
    ) -> Verifier:
        """A verifier for a dta :class:`~dta.keys.PublicKey` (must be Ed25519).

        Raises:
            KeyMaterialError: the key is not Ed25519.
            SignatureError: invalid name.
        """
        return cls(name, key.raw(), sig_type)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key ``<name>+<hex key ID>+<base64(type || key)>``.

        Raises:
            KeyMaterialError: malformed, unsupported type, or the key ID does not match.
        """
        parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise KeyMaterialError("malformed verifier key (want name+hex8+base64)")
        try:
            blob = b64decode(parts[2], "verifier key")
            check_key_name(parts[0])
        except SignatureError as exc:
            raise KeyMaterialError(f"malformed verifier key: {exc}") from exc
        if not blob:
            raise KeyMaterialError("verifier key has no key material")
        verifier = cls(parts[0], blob[1:], blob[0])
        if verifier.key_id.hex() != parts[1]:
            raise KeyMaterialError(f"verifier key {parts[0]}: key ID does not match the key")
        return verifier

    def to_vkey(self) -> str:
        """The verifier key string ``<name>+<hex key ID>+<base64(type || key)>``."""
        blob = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @property
    def key_id(self) -> bytes:
        """The 4-byte C2SP key ID."""
        return key_id(self.name, self.sig_type, self.public_key)

    def message(self, text: bytes, timestamp: int | None = None) -> bytes:
        """The exact bytes signed for ``text`` (a cosignature also needs its timestamp)."""
        if self.sig_type == SIG_TYPE_COSIGNATURE_V1:
            return b"cosignature/v1\ntime %d\n" % (timestamp or 0) + text
        return text

    def check(self, text: bytes, sig: NoteSignature) -> int | None:
        """Verify one signature by this key over ``text``.

        Returns:
            The cosignature timestamp for type 0x04, ``None`` for plain Ed25519.

        Raises:
            SignatureError: the signature does not verify.
        """
        timestamp: int | None = None
        raw = sig.signature
        if self.sig_type == SIG_TYPE_COSIGNATURE_V1:
            if len(raw) != 72:
                raise SignatureError(f"cosignature by {self.name} has the wrong length")
            timestamp = int.from_bytes(raw[:8], "big")
            if timestamp >= 1 << 63:
                raise SignatureError(f"cosignature by {self.name} has an invalid timestamp")
            raw = raw[8:]
        if len(raw) != 64:
            raise SignatureError(f"signature by {self.name} has the wrong length")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                raw, self.message(text, timestamp)
            )
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError(f"signature by {self.name} does not verify") from exc
        return timestamp


@attrs.frozen
class Note:
    """A parsed (not yet verified) signed note: its text and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def from_text(cls, note: str | bytes) -> Note:
        """Parse a signed note strictly.

        Rules: valid UTF-8, at most 1 MiB, no control characters other than newline, text
        ending in newline and non-empty, separated from the signatures by the last blank line,
        1..100 well-formed signature lines, no two lines for the same (name, key ID).

        Raises:
            SignatureError: the note is malformed.
        """
        if isinstance(note, bytes):
            if len(note) > MAX_NOTE_SIZE:
                raise SignatureError("signed note is larger than 1 MiB")
            try:
                note = note.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SignatureError("signed note is not valid UTF-8") from exc
        if len(note) > MAX_NOTE_SIZE:
            raise SignatureError("signed note is larger than 1 MiB")
        if _CONTROL.search(note):
            raise SignatureError("signed note contains a control character")
        try:
            note.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SignatureError("signed note is not valid UTF-8 (lone surrogate)") from exc
        if not note.endswith("\n"):
            raise SignatureError("signed note does not end with a newline")
        split = note.rfind("\n\n")
        if split < 0:
            raise SignatureError("signed note has no blank line before its signatures")
        text, block = note[: split + 1], note[split + 2 :]
        if not text.strip("\n"):
            raise SignatureError("signed note text is empty")
        lines = block[:-1].split("\n") if block else []
        if not lines:
            raise SignatureError("signed note has no signatures")
        if len(lines) > MAX_SIGNATURES:
            raise SignatureError(f"signed note has more than {MAX_SIGNATURES} signatures")
        sigs = tuple(NoteSignature.from_line(line) for line in lines)
        seen: set[tuple[str, bytes]] = set()
        for s in sigs:
            if (s.name, s.key_id) in seen:
                raise SignatureError(f"signed note has two signatures by {s.name} (same key ID)")
            seen.add((s.name, s.key_id))
        return cls(text, sigs)

    def to_text(self) -> str:
        """The note text, a blank line and the signature lines."""
        return self.text + "\n" + "".join(s.to_line() for s in self.signatures)


@attrs.frozen
class VerifiedNote:
    """Result of :func:`open_note`: the text and which known keys signed it."""

    text: str
    verified: tuple[tuple[Verifier, NoteSignature, int | None], ...]
    unverified: tuple[NoteSignature, ...]

    def timestamps(self) -> dict[str, int]:
        """Cosignature timestamps by cosigner name (type 0x04 signatures only)."""
        return {v.name: ts for v, _, ts in self.verified if ts is not None}


def open_note(note: str | bytes | Note, verifiers: Iterable[Verifier]) -> VerifiedNote:
    """Parse and verify a signed note against known keys.

    Signatures whose (name, key ID) match no known key are ignored (returned as
    ``unverified``); every signature from a known key must verify; at least one must.

    Args:
        note: The signed note text (or a parsed :class:`Note`).
        verifiers: The trusted keys.

    Returns:
        The verified note.

    Raises:
        SignatureError: malformed note, a known key's signature fails, or no known key signed.
    """
    parsed = note if isinstance(note, Note) else Note.from_text(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    text = parsed.text.encode("utf-8")
    ok: list[tuple[Verifier, NoteSignature, int | None]] = []
    other: list[NoteSignature] = []
    for sig in parsed.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            other.append(sig)
            continue
        ok.append((verifier, sig, verifier.check(text, sig)))
    if not ok:
        raise SignatureError("signed note has no signature from a known key")
    return VerifiedNote(parsed.text, tuple(ok), tuple(other))


def sign_note(
    text: str,
    signer: Signer,
    name: str,
    *,
    sig_type: int = SIG_TYPE_ED25519,
    timestamp: int | None = None,
    existing: Sequence[NoteSignature] = (),
) -> Note:
    """Sign note ``text`` with an Ed25519 :class:`~dta.keys.Signer`.

    Args:
        text: Note text: non-empty, ending in a newline, no blank line at the end.
        signer: An Ed25519 signer.
        name: Key name for the signature line.
        sig_type: 0x01 (note signature) or 0x04 (``cosignature/v1``, needs ``timestamp``).
        timestamp: POSIX seconds for a cosignature.
        existing: Signatures to keep before the new one.

    Returns:
        The note with the new signature appended.

    Raises:
        SignatureError: the text cannot be signed as a note, or a bad name.
        KeyMaterialError: the signer is not Ed25519.
    """
    if not text.endswith("\n") or text.endswith("\n\n") or not text.strip("\n"):
        raise SignatureError("note text must be non-empty and end with exactly one newline")
    if _CONTROL.search(text):
        raise SignatureError("note text contains a control character")
    verifier = Verifier(name, signer.public_key.raw(), sig_type)
    if sig_type == SIG_TYPE_COSIGNATURE_V1:
        if timestamp is None or not 0 <= timestamp < 1 << 63:
            raise SignatureError("a cosignature needs a timestamp in [0, 2**63)")
        prefix = timestamp.to_bytes(8, "big")
    else:
        prefix = b""
    raw = signer.sign(verifier.message(text.encode("utf-8"), timestamp))
    if len(raw) != 64:
        raise KeyMaterialError("note signer did not return a 64-byte Ed25519 signature")
    sig = NoteSignature(name, verifier.key_id, prefix + raw)
    note = Note(text, (*existing, sig))
    return Note.from_text(note.to_text())
