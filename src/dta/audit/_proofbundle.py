"""c2sp.org/tlog-proof@v1 offline proof bundles (implementation of :mod:`dta.audit.proofbundle`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from dta.audit._checkpoint import Checkpoint, Cosignature, verify_checkpoint, verify_cosignatures
from dta.audit._merkle import HASH_SIZE, inclusion_proof_length, leaf_hash, verify_inclusion
from dta.audit._note import Note, Verifier, b64decode
from dta.errors import ProofError, SignatureError

if TYPE_CHECKING:
    from dta.keys import PublicKey

__all__ = [
    "HEADER",
    "MAX_BUNDLE_SIZE",
    "BundleResult",
    "ProofBundle",
    "make_proof_bundle",
    "verify_proof_bundle",
]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_BUNDLE_SIZE = 1 << 20
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,18})")


def _b64(text: str, what: str) -> bytes:
    try:
        return b64decode(text, what)
    except SignatureError as exc:
        raise ProofError(str(exc)) from exc


def _proof_tuple(value: Sequence[bytes]) -> tuple[bytes, ...]:
    return tuple(value)


@attrs.frozen
class ProofBundle:
    """A parsed tlog-proof: entry index, inclusion proof, signed checkpoint, optional extra data.

    The checkpoint is kept verbatim (a signed note, possibly with cosignatures).
    """

    index: int
    proof: tuple[bytes, ...] = attrs.field(converter=_proof_tuple)
    checkpoint: str
    extra: bytes | None = None

    def __attrs_post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ProofError: negative index, a proof hash not 32 bytes, or more than 63 hashes.
        """
        if type(self.index) is not int or not 0 <= self.index < 1 << 63:
            raise ProofError(f"proof bundle index must be in [0, 2**63), got {self.index!r}")
        if len(self.proof) > 63:
            raise ProofError("proof bundle has more than 63 proof hashes")
        for i, h in enumerate(self.proof):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ProofError(f"proof bundle hash {i} is not {HASH_SIZE} bytes")

    def to_text(self) -> str:
        """The ``c2sp.org/tlog-proof@v1`` text."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, text: str | bytes) -> ProofBundle:
        """Parse a proof bundle strictly (the checkpoint note is parsed, not verified).

        Raises:
            ProofError: the text is not a well-formed tlog-proof@v1 bundle.
        """
        if isinstance(text, bytes):
            if len(text) > MAX_BUNDLE_SIZE:
                raise ProofError("proof bundle is larger than 1 MiB")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProofError("proof bundle is not valid UTF-8") from exc
        if len(text) > MAX_BUNDLE_SIZE:
            raise ProofError("proof bundle is larger than 1 MiB")
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise ProofError("proof bundle has no blank line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise ProofError(f"proof bundle does not start with {HEADER!r}")
        pos = 1
        extra: bytes | None = None
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = _b64(lines[pos][len("extra ") :], "proof bundle extra data")
            pos += 1
        if pos >= len(lines):
            raise ProofError("proof bundle has no index line")
        match = _INDEX.fullmatch(lines[pos])
        if not match:
            raise ProofError(f"proof bundle index line is malformed: {lines[pos][:40]!r}")
        proof = [_b64(x, f"proof bundle hash {i}") for i, x in enumerate(lines[pos + 1 :])]
        try:
            Note.from_text(checkpoint)
        except SignatureError as exc:
            raise ProofError(f"proof bundle checkpoint: {exc}") from exc
        return cls(int(match.group(1)), proof, checkpoint, extra)


def make_proof_bundle(
    index: int, proof: Sequence[bytes], checkpoint_note: str, *, extra: bytes | None = None
) -> str:
    """Assemble a tlog-proof@v1 bundle for the entry at ``index``.

    Args:
        index: 0-based entry index.
        proof: Inclusion proof of the entry in the checkpoint's tree.
        checkpoint_note: The signed checkpoint (with any cosignatures), verbatim.
        extra: Optional opaque data (not authenticated).

    Returns:
        The bundle text.

    Raises:
        ProofError: malformed parts, or the proof length does not fit index and tree size.
    """
    try:
        cp = Checkpoint.from_text(Note.from_text(checkpoint_note).text)
    except SignatureError as exc:
        raise ProofError(f"proof bundle checkpoint: {exc}") from exc
    if len(proof) != inclusion_proof_length(index, cp.size):
        raise ProofError(f"proof length does not match index {index} in tree size {cp.size}")
    return ProofBundle(index, tuple(proof), checkpoint_note, extra).to_text()


@attrs.frozen
class BundleResult:
    """What a verified proof bundle proves."""

    index: int
    leaf_hash: bytes
    checkpoint: Checkpoint
    cosignatures: tuple[Cosignature, ...]
    extra: bytes | None


def verify_proof_bundle(
    bundle_text: str | bytes,
    record_line: bytes | str,
    log_key: PublicKey | Verifier,
    *,
    origin: str | None = None,
    witnesses: Sequence[Verifier] = (),
    witness_threshold: int | None = None,
    not_after: datetime | None = None,
) -> BundleResult:
    """Verify offline that ``record_line`` is in the log, with only the bundle and the keys.

    Args:
        bundle_text: The tlog-proof@v1 text.
        record_line: The record's bytes (one trailing newline is ignored).
        log_key: The log's Ed25519 key (key name = origin) or a ready note verifier.
        origin: Expected log origin, if known.
        witnesses: Trusted witness cosigning keys (type 0x04 verifiers).
        witness_threshold: Cosignatures required (default: all ``witnesses``).
        not_after: Reject cosignatures timestamped after this time.

    Returns:
        The verified index, leaf hash, checkpoint and cosignatures.

    Raises:
        ProofError: malformed bundle, wrong origin, or the inclusion proof fails.
        SignatureError: the log signature or required cosignatures do not verify.
    """
    bundle = ProofBundle.from_text(bundle_text)
    cp = verify_checkpoint(bundle.checkpoint, log_key, origin=origin)
    need = len(witnesses) if witness_threshold is None else witness_threshold
    cosigs: list[Cosignature] = []
    if witnesses or need > 0:
        cosigs = verify_cosignatures(
            bundle.checkpoint, witnesses, threshold=need, not_after=not_after
        )
    data = record_line.encode("utf-8") if isinstance(record_line, str) else bytes(record_line)
    if data.endswith(b"\n"):
        data = data[:-1]
    leaf = leaf_hash(data)
    verify_inclusion(leaf, bundle.index, cp.size, bundle.proof, cp.root)
    return BundleResult(bundle.index, leaf, cp, tuple(cosigs), bundle.extra)
