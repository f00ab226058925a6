"""Per-counterparty transfer ledger: last accepted manifest per channel and volume counts.

Rules this module enforces:

* A channel is ``(agreement id, sender, recipient)``. For each channel the ledger keeps the last
  accepted sequence number and manifest digest and every accepted manifest id, so replay (same id
  or same sequence) and rollback (lower sequence, wrong ``previous``) are detectable.
* Data-subject counts are kept per channel, category and UTC day of the manifest's ``created``
  time; a volume cap's rolling window sums the whole days that end on the manifest's day.
  Counts add up per manifest (a recipient cannot de-duplicate subjects it never sees), so the
  sum is an upper bound on distinct subjects: caps err on the safe side.
* The ledger file is a ``dta.ledger`` document validated against its schema on every load.
  Writes are atomic: a temporary file in the same directory, ``fsync``, ``os.replace``, then
  ``fsync`` of the directory. :meth:`Ledger.record` holds an exclusive ``flock`` on a sidecar
  lock file and re-reads the file under the lock, so concurrent recorders never lose an update
  and a second record of the same manifest is refused (:class:`~dta.errors.PolicyViolation`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs

from dta._agreement_model import digest_of
from dta._json import canonical_bytes, loads
from dta._policy_eval import parse_time
from dta.errors import Error, InputError, PolicyViolation, StorageError

__all__ = ["LEDGER_TYPE", "ChannelState", "Ledger"]

LEDGER_TYPE = "dta.ledger"


@attrs.frozen
class ChannelState:
    """The last accepted manifest on a channel.

    Attributes:
        sequence: Its sequence number.
        digest: Its digest ``{"sha256": hex}``.
        manifest_id: Its id.
        seen: Every manifest id accepted on this channel.
    """

    sequence: int
    digest: dict[str, str]
    manifest_id: str
    seen: frozenset[str]


def _body(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = manifest.get("signed") if "signed" in manifest else manifest
    if not isinstance(inner, Mapping) or inner.get("_type") != "dta.manifest":
        raise PolicyViolation("ledger: not a dta.manifest")
    return inner


class Ledger:
    """A durable, file-backed ledger (one file per party; all of its counterparties).

    Use :meth:`open`; reads are served from the state loaded at open or at the last record.
    """

    def __init__(self, path: str | os.PathLike[str], state: dict[str, Any]) -> None:
        """Wrap loaded state; use :meth:`open` instead."""
        self.path = Path(path)
        self._state = state

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False) -> Ledger:
        """Open a ledger file.

        Args:
            path: The ledger file.
            create: Start an empty ledger if the file does not exist (it is written on the
                first :meth:`record`).

        Raises:
            InputError: The file does not exist (and ``create`` is false) or cannot be read.
            StorageError: The file is not a valid ledger document.
        """
        return cls(path, cls._load(Path(path), create=create))

    @staticmethod
    def _load(path: Path, *, create: bool) -> dict[str, Any]:
        from dta import schemas

        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            if create:
                return {
                    "_type": LEDGER_TYPE,
                    "spec_version": "1.0",
                    "channels": [],
                    "volumes": [],
                }
            raise InputError(f"{path}: no such ledger file") from exc
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}") from exc
        try:
            state = loads(data)
            schemas.validate(state)
        except Error as exc:
            raise StorageError(f"{path}: not a valid ledger: {exc}") from exc
        if not isinstance(state, dict):  # pragma: no cover - the schema requires an object
            raise StorageError(f"{path}: not a valid ledger")
        return state

    def to_dict(self) -> dict[str, Any]:
        """Return the ledger document (a copy)."""
        return loads(canonical_bytes(self._state))  # type: ignore[no-any-return]

    def _channel_entry(
        self, agreement_id: str, sender: str, recipient: str
    ) -> dict[str, Any] | None:
        for entry in self._state["channels"]:
            if (entry["agreement"], entry["sender"], entry["recipient"]) == (
                agreement_id,
                sender,
                recipient,
            ):
                return entry  # type: ignore[no-any-return]
        return None

    def channel(self, agreement_id: str, sender: str, recipient: str) -> ChannelState | None:
        """Return the state of a channel, or None if nothing was accepted on it yet."""
        entry = self._channel_entry(agreement_id, sender, recipient)
        if entry is None:
            return None
        return ChannelState(
            entry["sequence"], dict(entry["digest"]), entry["manifest"], frozenset(entry["seen"])
        )

    def next_sequence(
        self, agreement_id: str, sender: str, recipient: str
    ) -> tuple[int, dict[str, str] | None]:
        """Return ``(sequence, previous)`` for the next manifest a sender builds on a channel."""
        state = self.channel(agreement_id, sender, recipient)
        if state is None:
            return 1, None
        return state.sequence + 1, dict(state.digest)

    def subjects(
        self,
        agreement_id: str,
        category: str,
        *,
        day: date,
        window: timedelta,
        sender: str | None = None,
        recipient: str | None = None,
    ) -> int:
        """Return data subjects of ``category`` recorded in the rolling window ending on ``day``.

        The window covers ``ceil(window / 1 day)`` whole UTC days ending on ``day`` (inclusive).
        ``sender`` / ``recipient`` restrict the count to one direction (None: any).
        """
        days = max(1, -(-window // timedelta(days=1)))
        first = (day - timedelta(days=days - 1)).isoformat()
        last = day.isoformat()
        total = 0
        for entry in self._state["volumes"]:
            if (
                entry["agreement"] == agreement_id
                and entry["category"] == category
                and first <= entry["day"] <= last
                and sender in (None, entry["sender"])
                and recipient in (None, entry["recipient"])
            ):
                total += entry["subjects"]
        return total

    def record(self, manifest: Mapping[str, Any]) -> None:
        """Record an accepted manifest (signed document or its verified body) durably.

        Call only after :func:`dta.agreement.check_manifest` allowed it. Under an exclusive lock
        the file is re-read and the channel re-checked, so a concurrent or repeated record of
        the same manifest is refused.

        Raises:
            PolicyViolation: Not a manifest, or it does not extend its channel (replay/rollback).
            StorageError: The ledger file is invalid or cannot be written durably.
        """
        body = _body(manifest)
        try:
            agreement_id = body["agreement"]["id"]
            sender, recipient = body["sender"], body["recipient"]
            sequence, previous, manifest_id = body["sequence"], body["previous"], body["id"]
            created = parse_time(body["created"], "manifest/created").date()
            subjects = dict(body.get("subjects", {}))
        except (KeyError, TypeError, AttributeError, Error) as exc:
            raise PolicyViolation(f"ledger: malformed manifest ({exc})") from exc
        digest = digest_of(body)
        with self._locked():
            self._state = self._load(self.path, create=True)
            entry = self._channel_entry(agreement_id, sender, recipient)
            if entry is None:
                if sequence != 1 or previous is not None:
                    raise PolicyViolation(
                        f"ledger: first manifest on {sender}->{recipient} must have sequence 1"
                    )
                entry = {
                    "agreement": agreement_id,
                    "sender": sender,
                    "recipient": recipient,
                    "seen": [],
                }
                self._state["channels"].append(entry)
            elif manifest_id in entry["seen"]:
                raise PolicyViolation(f"ledger: manifest {manifest_id} already recorded")
            elif sequence != entry["sequence"] + 1 or previous != entry["digest"]:
                raise PolicyViolation(
                    f"ledger: manifest sequence {sequence} does not extend {entry['sequence']}"
                )
            entry.update(sequence=sequence, digest=digest, manifest=manifest_id)
            entry["seen"].append(manifest_id)
            for category, count in sorted(subjects.items()):
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise PolicyViolation(f"ledger: subjects/{category} is not a count")
                if count:
                    self._add_volume((agreement_id, sender, recipient), category, created, count)
            self._write()

    def _add_volume(self, channel: tuple[str, str, str], category: str, day: date, n: int) -> None:
        agreement_id, sender, recipient = channel
        count = n
        key = (agreement_id, sender, recipient, category, day.isoformat())
        for entry in self._state["volumes"]:
            if (
                entry["agreement"],
                entry["sender"],
                entry["recipient"],
                entry["category"],
                entry["day"],
            ) == key:
                entry["subjects"] += count
                return
        self._state["volumes"].append(
            {
                "agreement": agreement_id,
                "sender": sender,
                "recipient": recipient,
                "category": category,
                "day": key[4],
                "subjects": count,
            }
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"{lock_path}: cannot open lock: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self) -> None:
        data = canonical_bytes(self._state) + b"\n"
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot write ledger: {exc.strerror}") from exc
