"""Build a transfer manifest from a directory.

Rules this module enforces:

* The body has exactly the members of the ``dta.manifest`` contract and validates against
  ``schemas/manifest.v1.schema.json`` before it is returned.
* Items are every regular file below the root, sorted by the UTF-8 bytes of their path; paths
  follow :mod:`dta._paths`; any unsafe entry (symlink, FIFO, device, socket, unsafe name,
  collision, unreadable or changed file) makes the build fail with all of them listed.
* Every item's level, categories and findings come from a classification report entry with the
  same path (its size and sha256, when given, must match the file, so a stale report is
  refused), or, only when no report is passed, from an explicit ``default_level``.
  The overall level is the highest item level; categories are the sorted union; subjects and
  the policy digest come from the report.
* Media types come from the file extension through a fixed table plus Python's built-in
  ``mimetypes`` defaults (system ``mime.types`` files are never read), so they are deterministic.
"""

from __future__ import annotations

import mimetypes
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dta import schemas
from dta._hashing import hash_tree, progress_display
from dta._paths import CollisionIndex, all_safe_and_distinct
from dta._tree import UnsafeEntry
from dta.errors import ManifestError, UsageError

__all__ = ["DEFAULT_LEVELS", "UnsafeTreeError", "build_manifest", "media_type"]

DEFAULT_LEVELS = ("public", "internal", "confidential", "restricted")
DEFAULT_VALIDITY = timedelta(days=7)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_EXTRA_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
    ".avro": "application/avro",
    ".gz": "application/gzip",
    ".zst": "application/zstd",
    ".xz": "application/x-xz",
    ".bz2": "application/x-bzip2",
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".sqlite": "application/vnd.sqlite3",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_BUILTIN_TYPES = mimetypes.MimeTypes(filenames=()).types_map[True]
_type_cache: dict[str, str] = {}


class UnsafeTreeError(ManifestError):
    """The tree holds entries a manifest may not include; ``entries`` lists all of them."""

    def __init__(self, message: str, entries: tuple[UnsafeEntry, ...]) -> None:
        super().__init__(message)
        self.entries = entries


def media_type(path: str) -> str:
    """The media type of ``path`` from its extension (``application/octet-stream`` if unknown)."""
    dot = path.rfind(".")
    # an extension is a dot inside the last segment, not at its start (".profile" has none)
    ext = path[dot:] if dot > path.rfind("/") + 1 else ""
    found = _type_cache.get(ext)
    if found is None:
        low = ext.lower()
        found = _EXTRA_TYPES.get(low) or _BUILTIN_TYPES.get(low) or "application/octet-stream"
        if len(_type_cache) >= 4096:  # bounded: a tree of odd extensions cannot grow it forever
            _type_cache.clear()
        _type_cache[ext] = found
    return found


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        raise UsageError("times must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# Instances of these classes only mint key-sharing dicts (PEP 412): every item dict shares one
# key table, which keeps a 200,000-item manifest well inside its memory budget.
class _Item:
    pass


class _Digest:
    pass


def _rank(order: tuple[str, ...], level: str, path: str) -> int:
    if level not in order:
        raise ManifestError(f"{path}: unknown classification level {level!r}")
    return order.index(level)


def _lean_item(  # noqa: PLR0917 - positional: called once per file
    path: str, size: int, hexdigest: str, mtype: str, level: str, cats: list[str], finds: Any
) -> dict[str, Any]:
    digest = _Digest()
    digest.sha256 = hexdigest  # type: ignore[attr-defined]
    item = _Item()
    item.path = path  # type: ignore[attr-defined]
    item.size = size  # type: ignore[attr-defined]
    item.digest = digest.__dict__  # type: ignore[attr-defined]
    item.media_type = mtype  # type: ignore[attr-defined]
    item.level = level  # type: ignore[attr-defined]
    item.categories = cats  # type: ignore[attr-defined]
    item.findings = finds  # type: ignore[attr-defined]
    return item.__dict__


def _report_index(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    files = report.get("files")
    if not isinstance(files, list):
        raise ManifestError("classification report: 'files' must be a list")
    index: dict[str, Mapping[str, Any]] = {}
    for i, entry in enumerate(files):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
            raise ManifestError(f"classification report: files/{i} has no path")
        if not isinstance(entry.get("level"), str):
            raise ManifestError(f"classification report: files/{i} has no level")
        index[entry["path"]] = entry
    return index


def _classification(
    path: str, size: int, hexdigest: str, entry: Mapping[str, Any] | None
) -> tuple[str, list[str], dict[str, int]]:
    if entry is None:
        raise ManifestError(f"{path}: not in the classification report (classify it first)")
    if entry.get("size") is not None and entry.get("size") != size:
        raise ManifestError(f"{path}: classification report is stale (size differs)")
    if entry.get("sha256") is not None and entry.get("sha256") != hexdigest:
        raise ManifestError(f"{path}: classification report is stale (sha256 differs)")
    cats = entry.get("categories", [])
    finds = entry.get("findings", {})
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise ManifestError(f"classification report: {path}: categories must be strings")
    if not isinstance(finds, Mapping) or not all(isinstance(v, int) for v in finds.values()):
        raise ManifestError(f"classification report: {path}: findings must be counts")
    return str(entry["level"]), sorted(set(cats)), dict(finds)


def _level_order(report: Mapping[str, Any] | None) -> tuple[str, ...]:
    levels = report.get("levels") if report is not None else None
    if isinstance(levels, list) and levels and all(isinstance(x, str) for x in levels):
        return tuple(levels)
    return DEFAULT_LEVELS


def _check_ref(agreement_ref: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(agreement_ref, Mapping):
        raise UsageError("agreement_ref must be {'id', 'version', 'digest': {'sha256'}}")
    digest = agreement_ref.get("digest")
    if (
        not isinstance(agreement_ref.get("id"), str)
        or not isinstance(agreement_ref.get("version"), int)
        or not isinstance(digest, Mapping)
        or not _HEX64.fullmatch(str(digest.get("sha256", "")))
    ):
        raise UsageError("agreement_ref must be {'id', 'version', 'digest': {'sha256'}}")
    return {"id": agreement_ref["id"], "version": agreement_ref["version"], "digest": dict(digest)}


def build_manifest(
    root: str | os.PathLike[str],
    *,
    agreement_ref: Mapping[str, Any],
    sender: str,
    recipient: str,
    purpose: str,
    sequence: int,
    previous: Mapping[str, str] | None,
    classification: Mapping[str, Any] | None,
    default_level: str | None = None,
    now: datetime | None = None,
    expires: datetime | None = None,
    ip: Mapping[str, str] | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    hash_mode: str = "auto",
) -> dict[str, Any]:
    """Build the unsigned ``dta.manifest`` body for every file below ``root``.

    Args:
        root: Directory whose regular files are the transfer's items.
        agreement_ref: ``{"id", "version", "digest": {"sha256"}}`` of the agreement.
        sender: Sending party id.
        recipient: Receiving party id.
        purpose: The agreed purpose this transfer serves.
        sequence: Position on the (agreement, sender, recipient) channel, from 1.
        previous: Digest of the previous manifest on the channel (None for the first).
        classification: A ``dta.classification-report`` covering every file (by path).
        default_level: Level for every item when no report is given (required then).
        now: Creation time (default: the clock).
        expires: Expiry (default: ``now`` + 7 days).
        ip: ``{"owner", "licence"}`` that applies to the whole transfer.
        workers: Hashing threads or processes (default: CPU count).
        progress: Show a progress line on stderr (None: only on a terminal).
        hash_mode: ``"auto"`` (default: worker processes for trees of many files, started
            safely, see ADR 0066), ``"threads"`` or ``"processes"``.

    Returns:
        The manifest body (validated against its schema).

    Raises:
        UsageError: Missing or malformed arguments (no report and no default level, ...).
        UnsafeTreeError: The tree has unsafe entries (all listed in ``entries``).
        ManifestError: The report does not cover or match the files.
        InputError: The root cannot be opened.
        SchemaError: The result does not match the schema (a bug or bad argument values).
    """
    if classification is None and default_level is None:
        raise UsageError("build_manifest: pass a classification report or a default level")
    if classification is not None and not isinstance(classification, Mapping):
        raise UsageError(
            "build_manifest: classification must be a dta.classification-report object (a mapping)"
        )
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise UsageError("build_manifest: sequence must be an integer >= 1")
    if previous is not None and not _HEX64.fullmatch(str(previous.get("sha256", ""))):
        raise UsageError("build_manifest: previous must be {'sha256': <64 hex>} or None")
    ref = _check_ref(agreement_ref)
    created = now or datetime.now(UTC)
    report_index = _report_index(classification) if classification is not None else None
    order = _level_order(classification)

    with progress_display(progress, "hashing") as update:
        found = hash_tree(root, workers=workers, progress=update, mode=hash_mode)
    records = found.records
    found.chunks.clear()  # the records hold the same paths; keep one copy of the digests
    records.sort()  # code-point order of valid str == byte order of their UTF-8 encoding
    unsafe = list(found.unsafe)
    if not all_safe_and_distinct([r[0] for r in records]):
        collisions = CollisionIndex()
        for path, _, _ in records:
            clash = collisions.add(path)
            if clash is not None:
                unsafe.append(UnsafeEntry(path, "collision", clash))
        del collisions
    if unsafe:
        unsafe.sort(key=lambda u: u.path)
        first = unsafe[0]
        more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        raise UnsafeTreeError(
            f"{os.fspath(root)}: unsafe entry {first.path!a} {first.reason}{more}", tuple(unsafe)
        )

    items: list[dict[str, Any]] = []
    total_bytes = 0
    top = -1
    categories: set[str] = set()
    cats: list[str]
    finds: dict[str, int]
    level = str(default_level)
    for path, size, hexdigest in records:
        if report_index is None:
            cats, finds = [], {}
            if top < 0:  # one level for every item: check it once
                top = _rank(order, level, path)
        else:
            level, cats, finds = _classification(path, size, hexdigest, report_index.get(path))
            top = max(top, _rank(order, level, path))
            categories.update(cats)
        total_bytes += size
        items.append(_lean_item(path, size, hexdigest, media_type(path), level, cats, finds))
    records.clear()

    body: dict[str, Any] = {
        "_type": "dta.manifest",
        "spec_version": "1.0",
        "id": f"urn:uuid:{uuid.uuid4()}",
        "agreement": ref,
        "sender": sender,
        "recipient": recipient,
        "purpose": purpose,
        "created": _rfc3339(created),
        "expires": _rfc3339(expires or created + DEFAULT_VALIDITY),
        "sequence": sequence,
        "previous": dict(previous) if previous is not None else None,
        "items": items,
        "totals": {"files": len(items), "bytes": total_bytes},
        "level": order[top] if top >= 0 else (default_level or order[0]),
        "categories": sorted(categories),
        "subjects": dict(classification.get("subjects", {})) if classification else {},
    }
    policy = classification.get("policy") if classification else None
    if isinstance(policy, Mapping) and isinstance(policy.get("digest"), Mapping):
        body["policy"] = {"digest": dict(policy["digest"])}
    if ip is not None:
        body["ip"] = dict(ip)
    # Items are built above from checked values (safe path, int size, hex digest, known level);
    # validating the envelope of the body with one item keeps the schema check O(1).
    schemas.validate({**body, "items": items[:1]})
    return body
