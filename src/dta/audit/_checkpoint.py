"""tlog-checkpoint and tlog-cosignature/v1 (implementation of :mod:`dta.audit.checkpoint`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from dta.audit._note import (
    SIG_TYPE_COSIGNATURE_V1,
    Note,
    NoteSignature,
    Verifier,
    b64decode,
    open_note,
    sign_note,
)
from dta.errors import ProofError, SignatureError

if TYPE_CHECKING:
    from dta.keys import PublicKey, Signer

__all__ = [
    "Checkpoint",
    "Cosignature",
    "add_cosignatures",
    "cosign",
    "cosigner_verifier",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_cosignatures",
]

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_SIZE = (1 << 63) - 1


def _lines(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _check_origin(origin: str) -> None:
    if not isinstance(origin, str) or not origin or "\n" in origin or not origin.isprintable():
        raise ProofError("checkpoint origin must be a non-empty printable line")


@attrs.frozen
class Checkpoint:
    """A C2SP tlog-checkpoint: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = attrs.field(default=(), converter=_lines)

    def __attrs_post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ProofError: empty origin, size out of range, root not 32 bytes, bad extension.
        """
        _check_origin(self.origin)
        if type(self.size) is not int or not 0 <= self.size <= _MAX_SIZE:
            raise ProofError(f"checkpoint size must be an integer in [0, 2**63), got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise ProofError("checkpoint root must be a 32-byte hash")
        for ext in self.extensions:
            if not isinstance(ext, str) or not ext or "\n" in ext or not ext.isprintable():
                raise ProofError("checkpoint extension lines must be non-empty printable lines")

    def to_text(self) -> str:
        """The checkpoint note text (every line, the last included, ends with a newline)."""
        root = base64.b64encode(self.root).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, self.size, root, *self.extensions))

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text (not a signed note: see :func:`verify_checkpoint`).

        Raises:
            ProofError: the text is not a well-formed checkpoint.
        """
        if not isinstance(text, str) or not text.endswith("\n"):
            raise ProofError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError("checkpoint needs origin, size and root lines")
        origin, size, root, *ext = lines
        if not _SIZE.fullmatch(size):
            raise ProofError(f"checkpoint size {size!r} is not a decimal without leading zeros")
        try:
            root_bytes = b64decode(root, "checkpoint root")
        except SignatureError as exc:
            raise ProofError(str(exc)) from exc
        return cls(origin, int(size), root_bytes, tuple(ext))


def sign_checkpoint(cp: Checkpoint, signer: Signer, *, name: str | None = None) -> str:
    """Sign a checkpoint as a C2SP signed note (Ed25519, key name defaults to the origin).

    Raises:
        SignatureError: invalid key name.
        KeyMaterialError: the signer is not Ed25519.
    """
    return sign_note(cp.to_text(), signer, cp.origin if name is None else name).to_text()


def verify_checkpoint(
    note_text: str | bytes,
    public_key: PublicKey | Verifier,
    *,
    origin: str | None = None,
    name: str | None = None,
) -> Checkpoint:
    """Verify a signed checkpoint from a log and return it.

    Args:
        note_text: The signed note.
        public_key: The log's Ed25519 key (or a ready :class:`~dta.audit.note.Verifier`).
        origin: Expected origin; default: whatever the checkpoint says.
        name: Key name of the log's signature; default: the origin.

    Returns:
        The checkpoint.

    Raises:
        SignatureError: malformed note, or no valid signature by the log key.
        ProofError: the text is not a checkpoint or has another origin.
        KeyMaterialError: the key is not Ed25519.
    """
    note = Note.from_text(note_text)
    cp = Checkpoint.from_text(note.text)
    if origin is not None and cp.origin != origin:
        raise ProofError(f"checkpoint origin {cp.origin!r} is not the expected {origin!r}")
    if isinstance(public_key, Verifier):
        verifier = public_key
    else:
        verifier = Verifier.from_public_key(public_key, cp.origin if name is None else name)
    open_note(note, [verifier])
    return cp


@attrs.frozen
class Cosignature:
    """A verified witness cosignature: cosigner name and its POSIX timestamp."""

    name: str
    timestamp: int

    @property
    def time(self) -> datetime:
        """The timestamp as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp, UTC)


def cosigner_verifier(public_key: PublicKey, name: str) -> Verifier:
    """The note verifier (type 0x04) for a witness's Ed25519 cosigning key.

    Raises:
        KeyMaterialError: not an Ed25519 key.
        SignatureError: invalid name.
    """
    return Verifier.from_public_key(public_key, name, SIG_TYPE_COSIGNATURE_V1)


def _timestamp(now: datetime | int | None) -> int:
    if now is None:
        return int(datetime.now(UTC).timestamp())
    if isinstance(now, int) and not isinstance(now, bool):
        return now
    if isinstance(now, datetime) and now.tzinfo is not None:
        return int(now.timestamp())
    raise SignatureError("cosignature time must be an aware datetime or POSIX seconds")


def cosign(
    note_text: str | bytes, signer: Signer, name: str, *, now: datetime | int | None = None
) -> str:
    """Make a ``cosignature/v1`` signature line over a checkpoint note's text.

    The caller (a witness) must have verified the checkpoint first; this only signs.

    Args:
        note_text: The signed checkpoint (or bare checkpoint text ending in a newline).
        signer: The witness's Ed25519 signer.
        name: The witness's key name.
        now: Cosigning time (aware datetime or POSIX seconds); default: the current time.

    Returns:
        The signature line, ending with a newline.

    Raises:
        SignatureError: bad text, name or time.
        KeyMaterialError: the signer is not Ed25519.
        ProofError: the text is not a checkpoint.
    """
    if isinstance(note_text, bytes):
        note_text = note_text.decode("utf-8", errors="strict")
    text = Note.from_text(note_text).text if "\n\n" in note_text else note_text
    Checkpoint.from_text(text)
    note = sign_note(
        text, signer, name, sig_type=SIG_TYPE_COSIGNATURE_V1, timestamp=_timestamp(now)
    )
    return note.signatures[-1].to_line()


def add_cosignatures(note_text: str, lines: Iterable[str]) -> str:
    """Append signature lines (e.g. a witness's reply) to a signed note, keeping it well-formed.

    Raises:
        SignatureError: a line is malformed or duplicates a signature already present.
    """
    note = Note.from_text(note_text)
    extra: list[NoteSignature] = []
    for line in lines:
        extra.extend(NoteSignature.from_line(x) for x in line.splitlines() if x)
    return Note.from_text(Note(note.text, (*note.signatures, *extra)).to_text()).to_text()


def verify_cosignatures(
    note_text: str | bytes,
    cosigners: Sequence[Verifier],
    *,
    threshold: int = 1,
    not_after: datetime | None = None,
) -> list[Cosignature]:
    """Verify witness cosignatures on a checkpoint note (the log signature is ignored here).

    Args:
        note_text: Signed checkpoint carrying cosignature lines.
        cosigners: Trusted witnesses (type 0x04 verifiers, see :func:`cosigner_verifier`).
        threshold: How many distinct trusted witnesses must have cosigned.
        not_after: Reject cosignatures timestamped after this time (clock skew bound).

    Returns:
        The valid cosignatures of known witnesses.

    Raises:
        SignatureError: a known witness's cosignature is invalid, too few witnesses, or a
            timestamp is after ``not_after``.
    """
    for v in cosigners:
        if v.sig_type != SIG_TYPE_COSIGNATURE_V1:
            raise SignatureError(f"witness key {v.name} is not a cosignature/v1 key")
    note = Note.from_text(note_text)
    Checkpoint.from_text(note.text)
    known = {(v.name, v.key_id): v for v in cosigners}
    text = note.text.encode("utf-8")
    found: list[Cosignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is not None:
            found.append(Cosignature(verifier.name, verifier.check(text, sig) or 0))
    if not_after is not None:
        limit = int(not_after.timestamp())
        for c in found:
            if c.timestamp > limit:
                raise SignatureError(f"cosignature by {c.name} is timestamped in the future")
    if len(found) < threshold:
        raise SignatureError(f"checkpoint has fewer than {threshold} valid witness cosignatures")
    return found
