"""A durable checkpoint witness (implementation of :mod:`dta.audit.witness`)."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from dta import canonical_bytes, loads
from dta.audit._checkpoint import Checkpoint, cosign, cosigner_verifier, verify_checkpoint
from dta.audit._merkle import verify_consistency
from dta.audit._note import Note, Verifier, b64decode
from dta.errors import Error, InputError, ProofError, StorageError, TamperError

if TYPE_CHECKING:
    from dta.keys import PublicKey, Signer

__all__ = [
    "EVIDENCE_TYPE",
    "STATE_TYPE",
    "Witness",
    "WitnessState",
    "parse_add_checkpoint",
    "verify_evidence",
]

STATE_TYPE = "dta.witness-state"
EVIDENCE_TYPE = "dta.witness-evidence"
_MAX_STATE = 2 << 20
_MAX_JSON_INT = (1 << 53) - 1
_OLD = re.compile(r"old (0|[1-9][0-9]{0,18})")


def _time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise InputError("witness time must be timezone-aware")
    return now


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (temp file, fsync, rename, dir fsync)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"cannot write witness file {path}: {exc.strerror}") from exc


def parse_add_checkpoint(body: str | bytes) -> tuple[int, list[bytes], str]:
    """Split a tlog-witness ``add-checkpoint`` body into (old size, proof, checkpoint note).

    Raises:
        ProofError: the body is malformed.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProofError("add-checkpoint body is not UTF-8") from exc
    head, sep, note = body.partition("\n\n")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if not sep or not match:
        raise ProofError("add-checkpoint body must start with 'old <size>' and a blank line")
    if len(lines) - 1 > 63:
        raise ProofError("add-checkpoint body has more than 63 proof lines")
    try:
        proof = [b64decode(x, f"proof line {i}") for i, x in enumerate(lines[1:])]
    except Error as exc:
        raise ProofError(str(exc)) from exc
    return int(match.group(1)), proof, note


def verify_evidence(doc: Mapping[str, Any], log_key: PublicKey | Verifier) -> bool:
    """Re-check stored ``dta.witness-evidence``: both checkpoints must be signed by the log key.

    Returns:
        True when the evidence alone proves equivocation (two roots for one size); False when
        it needs the log itself to decide (a consistency proof that failed).

    Raises:
        SchemaError: not a witness-evidence document.
        SignatureError: a checkpoint is not validly signed by ``log_key``.
        ProofError: the checkpoints disagree with the recorded fields or origins.
    """
    from dta import schemas

    schemas.validate(doc)
    cps = []
    for part in ("accepted", "conflicting"):
        cp = verify_checkpoint(doc[part]["checkpoint"], log_key, origin=doc["origin"])
        if (cp.size, _b64(cp.root)) != (doc[part]["size"], doc[part]["root"]):
            raise ProofError(f"evidence {part} fields do not match its checkpoint")
        cps.append(cp)
    return cps[0].size == cps[1].size and cps[0].root != cps[1].root


@attrs.frozen
class WitnessState:
    """The last checkpoint a witness accepted for one origin."""

    checkpoint: Checkpoint
    note: str
    witnessed: str
    cosignature: str

    def to_dict(self) -> dict[str, Any]:
        """The ``dta.witness-state`` document."""
        return {
            "_type": STATE_TYPE,
            "spec_version": "1.0",
            "origin": self.checkpoint.origin,
            "size": self.checkpoint.size,
            "root": _b64(self.checkpoint.root),
            "checkpoint": self.note,
            "witnessed": self.witnessed,
            "cosignature": self.cosignature,
        }

    @classmethod
    def from_dict(cls, doc: Any) -> WitnessState:
        """Read a ``dta.witness-state`` document, checking it against its own checkpoint.

        Raises:
            StorageError: the document is invalid or inconsistent.
        """
        from dta import schemas

        try:
            schemas.validate(doc)
            cp = Checkpoint.from_text(Note.from_text(doc["checkpoint"]).text)
        except Error as exc:
            raise StorageError(f"witness state is invalid: {exc}") from exc
        if (cp.origin, cp.size, _b64(cp.root)) != (doc["origin"], doc["size"], doc["root"]):
            raise StorageError("witness state fields do not match its stored checkpoint")
        return cls(cp, doc["checkpoint"], doc["witnessed"], doc["cosignature"])


class Witness:
    """Witnesses logs: cosigns a checkpoint only if it extends the last one it accepted.

    One state file per origin in ``state_dir`` (atomic write + fsync); evidence of equivocation
    in ``state_dir/evidence/``; a lock file serialises check-and-update across processes.
    """

    def __init__(self, state_dir: str | os.PathLike[str], signer: Signer, name: str) -> None:
        """Open (creating if needed) a witness state directory.

        Args:
            state_dir: Directory for state, evidence and the lock file.
            signer: The witness's Ed25519 cosigning key.
            name: The witness's key name (e.g. ``partner-b.example/witness``).

        Raises:
            StorageError: the directory cannot be created.
            KeyMaterialError: the signer is not Ed25519.
            SignatureError: invalid name.
        """
        self._dir = Path(state_dir)
        self._signer = signer
        self._name = name
        self._verifier = cosigner_verifier(signer.public_key, name)
        try:
            (self._dir / "evidence").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create witness directory {self._dir}: {exc}") from exc

    @property
    def verifier(self) -> Verifier:
        """The note verifier (type 0x04) clients use to check this witness's cosignatures."""
        return self._verifier

    @property
    def state_dir(self) -> Path:
        """The state directory."""
        return self._dir

    def _state_path(self, origin: str) -> Path:
        return self._dir / f"{hashlib.sha256(origin.encode()).hexdigest()}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self._dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot open witness lock in {self._dir}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def latest(self, origin: str) -> WitnessState | None:
        """The last checkpoint accepted for ``origin``, or ``None``.

        Raises:
            StorageError: the state file is unreadable or invalid.
        """
        path = self._state_path(origin)
        try:
            with path.open("rb") as fh:
                data = fh.read(_MAX_STATE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read witness state {path}: {exc}") from exc
        try:
            doc = loads(data, max_size=_MAX_STATE)
        except Error as exc:
            raise StorageError(f"witness state {path.name} is not valid JSON: {exc}") from exc
        state = WitnessState.from_dict(doc)
        if state.checkpoint.origin != origin:
            raise StorageError(f"witness state {path.name} belongs to another origin")
        return state

    def evidence(self, origin: str | None = None) -> list[dict[str, Any]]:
        """Stored equivocation evidence documents (all, or for one origin), in the order stored.

        Raises:
            StorageError: an evidence file is unreadable.
        """
        out: list[dict[str, Any]] = []
        for path in sorted((self._dir / "evidence").glob("*.json")):
            try:
                doc = loads(path.read_bytes())
            except (OSError, Error) as exc:
                raise StorageError(f"cannot read evidence {path.name}: {exc}") from exc
            if origin is None or doc.get("origin") == origin:
                out.append(doc)
        return out

    def add_checkpoint(
        self, body: str | bytes, log_key: PublicKey | Verifier, *, now: datetime | None = None
    ) -> str:
        """Handle a C2SP tlog-witness ``add-checkpoint`` request body; return the response body.

        The body is ``old <size>``, up to 63 base64 proof lines, a blank line, then the signed
        checkpoint; the response is the cosignature line(s).

        Raises:
            ProofError: malformed body or ``old`` size mismatch (the protocol's 409).
            SignatureError, TamperError, StorageError: as :meth:`witness`.
        """
        old_size, proof, note = parse_add_checkpoint(body)
        return self.witness(note, log_key, proof, now=now, old_size=old_size)

    def witness(
        self,
        checkpoint_note: str,
        log_key: PublicKey | Verifier,
        proof: Sequence[bytes] = (),
        *,
        now: datetime | None = None,
        old_size: int | None = None,
    ) -> str:
        """Verify a log's checkpoint against the last one accepted and cosign it.

        Args:
            checkpoint_note: The log's signed checkpoint.
            log_key: The log's Ed25519 key (key name = origin) or a note verifier.
            proof: Consistency proof from the last accepted size to the new size (empty for the
                first checkpoint of an origin, from size 0, or for the same size).
            now: Cosigning time (aware); default: the current time.
            old_size: The size the caller believes the witness is at; must match if given.

        Returns:
            The cosignature line (``— <name> <base64>\\n``) to append to the checkpoint.

        Raises:
            SignatureError: the checkpoint is not validly signed by ``log_key``.
            ProofError: malformed checkpoint, ``old_size`` mismatch, or a proof where none fits.
            TamperError: ``kind="rollback"`` for a smaller size than already accepted;
                ``kind="fork"`` when the checkpoint is not proven consistent with the accepted one
                (evidence is stored first).
            StorageError: the state cannot be read or written.
        """
        when = _now(now)
        cp = verify_checkpoint(checkpoint_note, log_key)
        if cp.size > _MAX_JSON_INT:
            raise ProofError(f"checkpoint size {cp.size} is beyond what the witness records")
        proof = list(proof)
        with self._locked():
            state = self.latest(cp.origin)
            have = 0 if state is None else state.checkpoint.size
            if old_size is not None and old_size != have:
                raise ProofError(f"witness is at size {have} for {cp.origin}, not {old_size}")
            if state is not None:
                self._check_extends(state, cp, checkpoint_note, proof, when)
            elif proof:
                raise ProofError(f"first checkpoint for {cp.origin}: the proof must be empty")
            line = cosign(checkpoint_note, self._signer, self._name, now=when)
            new = WitnessState(cp, checkpoint_note, _time(when), line)
            _write_atomic(self._state_path(cp.origin), canonical_bytes(new.to_dict()) + b"\n")
        return line

    def _check_extends(
        self,
        state: WitnessState,
        cp: Checkpoint,
        note: str,
        proof: list[bytes],
        when: datetime,
    ) -> None:
        old = state.checkpoint
        if cp.size < old.size:
            raise TamperError(
                f"rollback: {cp.origin} checkpoint size {cp.size} is below the {old.size} "
                "already witnessed",
                index=cp.size,
                kind="rollback",
            )
        if cp.size == old.size:
            if cp.root != old.root:
                self._store_evidence(
                    state, cp, note, proof, when=when, reason="same size, different root"
                )
                raise TamperError(
                    f"fork: {cp.origin} signed two different roots for size {cp.size}",
                    kind="fork",
                )
            if proof:
                raise ProofError("same size as the witnessed checkpoint: the proof must be empty")
            return
        if old.size == 0:
            if proof:
                raise ProofError("previous checkpoint was empty: the proof must be empty")
            return
        try:
            verify_consistency(old.size, cp.size, old.root, cp.root, proof)
        except ProofError as exc:
            self._store_evidence(state, cp, note, proof, when=when, reason=str(exc))
            raise TamperError(
                f"fork: {cp.origin} checkpoint of size {cp.size} is not proven consistent with "
                f"the witnessed size {old.size} ({exc})",
                kind="fork",
            ) from exc

    def _store_evidence(
        self,
        state: WitnessState,
        cp: Checkpoint,
        note: str,
        proof: list[bytes],
        *,
        when: datetime,
        reason: str,
    ) -> Path:
        ident = uuid.uuid4()
        doc = {
            "_type": EVIDENCE_TYPE,
            "spec_version": "1.0",
            "id": f"urn:uuid:{ident}",
            "kind": "fork",
            "origin": cp.origin,
            "detected": _time(when),
            "witness": self._verifier.to_vkey(),
            "reason": reason[:500],
            "accepted": {
                "size": state.checkpoint.size,
                "root": _b64(state.checkpoint.root),
                "checkpoint": state.note,
            },
            "conflicting": {"size": cp.size, "root": _b64(cp.root), "checkpoint": note},
            "proof": [_b64(h) if isinstance(h, bytes) else "" for h in proof][:64],
        }
        path = self._dir / "evidence" / f"{time.time_ns():020d}-{ident.hex[:8]}.json"
        _write_atomic(path, canonical_bytes(doc) + b"\n")
        return path
