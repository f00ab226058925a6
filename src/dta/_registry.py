"""Key registry: which key belongs to whom, with which scheme, and when (part of :mod:`dta.keys`).

Rules this module enforces:

* Trust comes from the registry only. A signature's ``keyid`` is a lookup hint; the key material and
  its scheme come from the registry entry.
* One entry per key id; a key id registered twice is rejected (a key has exactly one owner).
* Validity windows are timezone-aware: ``not_before <= now <= not_after`` (either bound optional);
  naive datetimes are rejected. Times on the wire are RFC 3339 UTC with ``Z``.
* The registry document (``dta.key-registry``) is parsed strictly: unknown members are rejected and
  every key id is recomputed from its SPKI.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from dta._keys import PublicKey
from dta.errors import KeyMaterialError, UsageError

__all__ = [
    "REGISTRY_TYPE",
    "KeyRegistry",
    "RegistryEntry",
    "format_time",
    "parse_time",
]

REGISTRY_TYPE = "dta.key-registry"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_ENTRY_MEMBERS = frozenset({"keyid", "scheme", "spki", "owner", "not_before", "not_after"})


def parse_time(text: Any, what: str = "time") -> dt.datetime:
    """Parse an RFC 3339 UTC timestamp ending in ``Z``.

    Raises:
        KeyMaterialError: Not a string in that form, or not a real date/time.
    """
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise KeyMaterialError(f"{what}: expected an RFC 3339 UTC time like 2026-01-31T12:00:00Z")
    base, _, frac = text[:-1].partition(".")
    try:
        value = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise KeyMaterialError(f"{what}: {text!r} is not a valid date/time") from exc
    if frac:
        value = value.replace(microsecond=int(frac[:6].ljust(6, "0")))
    return value


def format_time(value: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with ``Z`` (seconds, or microseconds if set).

    Raises:
        UsageError: ``value`` is naive.
    """
    _aware(value, "time")
    utc = value.astimezone(dt.UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def _aware(value: dt.datetime | None, what: str) -> None:
    if value is not None and (not isinstance(value, dt.datetime) or value.utcoffset() is None):
        raise UsageError(f"{what} must be a timezone-aware datetime")


@attrs.frozen
class RegistryEntry:
    """One trusted key.

    Attributes:
        key: The public key (its scheme is the only scheme accepted for it).
        owner: Party id that owns the key.
        not_before: First instant the key is valid (inclusive), or ``None``.
        not_after: Last instant the key is valid (inclusive), or ``None``.
    """

    key: PublicKey
    owner: str
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None

    def status_at(self, now: dt.datetime) -> str | None:
        """Return ``None`` if valid at ``now``, else ``"not-yet-valid"`` or ``"expired"``.

        Raises:
            UsageError: ``now`` is naive.
        """
        _aware(now, "now")
        if self.not_before is not None and now < self.not_before:
            return "not-yet-valid"
        if self.not_after is not None and now > self.not_after:
            return "expired"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as it appears in a ``dta.key-registry`` document."""
        out: dict[str, Any] = {**self.key.to_dict(), "owner": self.owner}
        if self.not_before is not None:
            out["not_before"] = format_time(self.not_before)
        if self.not_after is not None:
            out["not_after"] = format_time(self.not_after)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegistryEntry:
        """Parse one registry entry (input not modified).

        Raises:
            KeyMaterialError: Unknown members, bad key, bad owner or bad times.
        """
        if not isinstance(data, Mapping):
            raise KeyMaterialError("registry entry: expected a JSON object")
        extra = sorted(set(data) - _ENTRY_MEMBERS)
        if extra:
            raise KeyMaterialError(f"registry entry: unknown member {extra[0]!r}")
        key = PublicKey.from_dict({k: data[k] for k in ("keyid", "scheme", "spki") if k in data})
        owner = data.get("owner")
        nb = data.get("not_before")
        na = data.get("not_after")
        return _entry(
            key,
            owner,
            None if nb is None else parse_time(nb, "not_before"),
            None if na is None else parse_time(na, "not_after"),
        )


def _entry(
    key: PublicKey, owner: Any, not_before: dt.datetime | None, not_after: dt.datetime | None
) -> RegistryEntry:
    if not isinstance(key, PublicKey):
        raise UsageError("registry: key must be a dta.keys.PublicKey")
    if not isinstance(owner, str) or not owner or len(owner) > 256:
        raise KeyMaterialError(f"registry entry {key.keyid[:16]}...: owner must be a short string")
    _aware(not_before, "not_before")
    _aware(not_after, "not_after")
    if not_before is not None and not_after is not None and not_after < not_before:
        raise KeyMaterialError(f"registry entry {key.keyid[:16]}...: not_after before not_before")
    return RegistryEntry(key, owner, not_before, not_after)


class KeyRegistry:
    """Trusted keys by key id, each with its owner and validity window."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._entries: dict[str, RegistryEntry] = {}

    def add(
        self,
        key: PublicKey,
        owner: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> RegistryEntry:
        """Trust ``key`` for ``owner`` within an optional validity window.

        Raises:
            KeyMaterialError: The key id is already registered, or the owner/window is invalid.
            UsageError: Naive datetimes or a non-PublicKey key.
        """
        entry = _entry(key, owner, not_before, not_after)
        if key.keyid in self._entries:
            raise KeyMaterialError(f"key {key.keyid[:16]}... is already registered")
        self._entries[key.keyid] = entry
        return entry

    def get(self, keyid: str) -> RegistryEntry | None:
        """Return the entry for ``keyid``, or ``None``."""
        return self._entries.get(keyid) if isinstance(keyid, str) else None

    def owners(self) -> set[str]:
        """Return the set of owners with at least one key."""
        return {e.owner for e in self._entries.values()}

    def keys_of(self, owner: str) -> list[RegistryEntry]:
        """Return the entries owned by ``owner``."""
        return [e for e in self._entries.values() if e.owner == owner]

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, keyid: object) -> bool:
        return isinstance(keyid, str) and keyid in self._entries

    def __repr__(self) -> str:
        return f"KeyRegistry({len(self._entries)} keys, owners={sorted(self.owners())})"

    def to_dict(self) -> dict[str, Any]:
        """Return a ``dta.key-registry`` document."""
        return {
            "_type": REGISTRY_TYPE,
            "spec_version": "1.0",
            "keys": [e.to_dict() for e in self._entries.values()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyRegistry:
        """Parse a ``dta.key-registry`` document (input not modified).

        Raises:
            KeyMaterialError: Wrong type/version, unknown members, bad or duplicate entries (the
                message names the entry index).
        """
        if not isinstance(data, Mapping):
            raise KeyMaterialError("key registry: expected a JSON object")
        extra = sorted(set(data) - {"_type", "spec_version", "keys"})
        if extra:
            raise KeyMaterialError(f"key registry: unknown member {extra[0]!r}")
        if data.get("_type") != REGISTRY_TYPE:
            raise KeyMaterialError(f"key registry: _type must be {REGISTRY_TYPE!r}")
        version = data.get("spec_version")
        if not isinstance(version, str) or version.split(".")[0] != "1":
            raise KeyMaterialError("key registry: unsupported spec_version")
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise KeyMaterialError("key registry: keys must be a list")
        registry = cls()
        for index, item in enumerate(keys):
            try:
                entry = RegistryEntry.from_dict(item)
                registry.add(
                    entry.key,
                    entry.owner,
                    not_before=entry.not_before,
                    not_after=entry.not_after,
                )
            except KeyMaterialError as exc:
                raise KeyMaterialError(f"key registry: /keys/{index}: {exc}") from exc
        return registry
