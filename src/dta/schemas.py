"""Packaged JSON Schemas (draft 2020-12) and document validation.

Rules this module enforces:

* Schemas live in ``schemas/<kind>.v<major>.schema.json`` in the source tree and are shipped inside
  the wheel as ``dta/_schemas``; they are loaded with :mod:`importlib.resources` only.
* Every schema's ``$id`` is ``urn:dta:schema:<kind>:<major>``; schemas may ``$ref`` each other by
  that URN (resolved offline from the packaged set, never from the network).
* :func:`validate` dispatches on ``_type`` (``dta.<kind>``) and the major of ``spec_version``.
  A signed document (``{"signed": ..., "signatures": ...}``) is validated as an envelope and
  then its ``signed`` part by its own type; an object with ``payloadType`` is validated as a DSSE
  envelope (shape only). Unknown types or major versions are rejected; the kinds ``envelope``
  and ``dsse`` are reserved and never valid as a ``_type``.
* A failure raises :class:`~dta.errors.SchemaError` carrying the JSON pointer of the failing part.
* Speed without a second opinion: a compiled yes/no validator (:mod:`dta._fastschema`) accepts
  documents only where ``jsonschema`` would; anything it rejects (or any schema using keywords it
  does not implement) goes to ``jsonschema``, which alone decides and words the errors.
  ``jsonschema`` is imported lazily, so validating valid documents starts fast.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dta._fastschema import Check, Unsupported, compile_schema
from dta.errors import SchemaError

if TYPE_CHECKING:
    import jsonschema
    from referencing import Registry

__all__ = [
    "DSSE_KIND",
    "ENVELOPE_KIND",
    "iter_errors",
    "list_schemas",
    "schema",
    "schema_for_type",
    "schema_id",
    "schema_path",
    "schema_text",
    "validate",
]

ENVELOPE_KIND = "envelope"
DSSE_KIND = "dsse"
_ID_PREFIX = "urn:dta:schema:"


def _schema_dir() -> Traversable:
    packaged = resources.files("dta") / "_schemas"
    if packaged.is_dir():
        return packaged
    # Running from a source checkout (editable install): the tree's schemas/ is the same set.
    source = Path(__file__).resolve().parents[2] / "schemas"
    if source.is_dir():
        return source
    raise SchemaError("packaged schemas not found (broken installation)")


def schema_id(kind: str, major: int = 1) -> str:
    """Return the ``$id`` URN of a schema."""
    return f"{_ID_PREFIX}{kind}:{major}"


@functools.cache
def _catalogue() -> dict[str, tuple[dict[str, Any], str]]:
    """Map ``$id`` -> (schema, file name) for every packaged schema."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for entry in _schema_dir().iterdir():
        if not entry.name.endswith(".schema.json"):
            continue
        document = json.loads(entry.read_text(encoding="utf-8"))
        sid = document.get("$id")
        if not isinstance(sid, str) or not sid.startswith(_ID_PREFIX):
            raise SchemaError(f"packaged schema {entry.name} has no urn:dta:schema $id")
        found[sid] = (document, entry.name)
    return found


@functools.cache
def _registry() -> Registry[Any]:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resources(
        (sid, Resource.from_contents(doc, default_specification=DRAFT202012))
        for sid, (doc, _) in _catalogue().items()
    )


@functools.cache
def _validator(sid: str) -> jsonschema.Draft202012Validator:
    import jsonschema

    try:
        document = _catalogue()[sid][0]
    except KeyError as exc:
        raise SchemaError(f"no schema {sid}") from exc
    return jsonschema.Draft202012Validator(document, registry=_registry())


@functools.cache
def _fast(sid: str) -> Check | None:
    """The compiled yes/no fast path for a schema, or None if it uses unsupported keywords."""
    try:
        return compile_schema(sid, {k: doc for k, (doc, _) in _catalogue().items()})
    except (Unsupported, re.error, KeyError, ValueError, TypeError):
        return None


def list_schemas() -> list[str]:
    """Return the sorted ``$id`` of every packaged schema."""
    return sorted(_catalogue())


def schema(sid_or_kind: str) -> dict[str, Any]:
    """Return a packaged schema by ``$id`` or by kind (latest major).

    Raises:
        SchemaError: No such schema.
    """
    return _catalogue()[_resolve(sid_or_kind)][0]


def schema_text(sid_or_kind: str) -> str:
    """Return a packaged schema's file text."""
    name = _catalogue()[_resolve(sid_or_kind)][1]
    return (_schema_dir() / name).read_text(encoding="utf-8")


def schema_path(sid_or_kind: str) -> str:
    """Return the file-system path of a packaged schema (for tools such as check-jsonschema)."""
    name = _catalogue()[_resolve(sid_or_kind)][1]
    return str(_schema_dir() / name)


def _resolve(sid_or_kind: str) -> str:
    catalogue = _catalogue()
    if sid_or_kind in catalogue:
        return sid_or_kind
    kind = sid_or_kind.removeprefix("dta.")
    candidates = [sid for sid in catalogue if sid.rsplit(":", 1)[0] == f"{_ID_PREFIX}{kind}"]
    if not candidates:
        raise SchemaError(f"no schema for {sid_or_kind!r}")
    return max(candidates, key=lambda sid: int(sid.rsplit(":", 1)[1]))


_TYPE = re.compile(r"dta\.[a-z0-9][a-z0-9-]{0,62}")
_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")


def schema_for_type(doc_type: Any, spec_version: Any, *, pointer: str = "") -> str:
    """Return the ``$id`` of the schema for a ``_type`` and ``spec_version``.

    Args:
        doc_type: The document's ``_type`` (``dta.<kind>``).
        spec_version: The document's ``spec_version`` (``<major>.<minor>``).
        pointer: JSON pointer of the document, used in error messages.

    Raises:
        SchemaError: Malformed, unknown ``_type`` or unknown major ``spec_version``.
    """
    if not isinstance(doc_type, str) or not _TYPE.fullmatch(doc_type):
        raise SchemaError("document has no valid dta _type", pointer=f"{pointer}/_type")
    if not isinstance(spec_version, str) or not _VERSION.fullmatch(spec_version):
        raise SchemaError(
            "document has no valid spec_version (major.minor)", pointer=f"{pointer}/spec_version"
        )
    kind = doc_type.removeprefix("dta.")
    if kind in (ENVELOPE_KIND, DSSE_KIND):
        raise SchemaError(f"_type {doc_type} is reserved", pointer=f"{pointer}/_type")
    sid = schema_id(kind, int(spec_version.split(".")[0]))
    if sid not in _catalogue():
        if any(known.rsplit(":", 1)[0] == sid.rsplit(":", 1)[0] for known in _catalogue()):
            raise SchemaError(
                f"unsupported spec_version {spec_version} of {doc_type}",
                pointer=f"{pointer}/spec_version",
            )
        raise SchemaError(f"unknown document type {doc_type}", pointer=f"{pointer}/_type")
    return sid


def _dispatch(doc: Mapping[str, Any], pointer: str) -> str:
    return schema_for_type(doc.get("_type"), doc.get("spec_version"), pointer=pointer)


def _pointer(base: str, path: Any) -> str:
    return base + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def iter_errors(doc: Any) -> Iterator[SchemaError]:
    """Yield every schema violation of a document (empty when it is valid).

    The first error of a document whose type cannot be determined is the only one yielded.
    """
    if not isinstance(doc, Mapping):
        yield SchemaError("document is not a JSON object", pointer="")
        return
    targets: list[tuple[Any, str, str]] = []
    try:
        if "payloadType" in doc:
            targets.append((doc, schema_id(DSSE_KIND), ""))
        elif "signed" in doc or "signatures" in doc:
            targets.append((doc, schema_id(ENVELOPE_KIND), ""))
            inner = doc.get("signed")
            if isinstance(inner, Mapping):
                targets.append((inner, _dispatch(inner, "/signed"), "/signed"))
        else:
            targets.append((doc, _dispatch(doc, ""), ""))
    except SchemaError as exc:
        yield exc
        return
    for value, sid, base in targets:
        fast = _fast(sid)
        if fast is not None and fast(value):
            continue  # the fast path only accepts what jsonschema accepts
        errors = sorted(_validator(sid).iter_errors(value), key=lambda e: list(e.absolute_path))
        for error in errors:
            yield SchemaError(error.message[:300], pointer=_pointer(base, error.absolute_path))


def validate(doc: Any) -> None:
    """Validate a dta document (plain or signed) against its packaged schema.

    Args:
        doc: A parsed document (use :func:`dta.loads`).

    Raises:
        SchemaError: Unknown type/version, or the first violation with its JSON pointer.
    """
    for error in iter_errors(doc):
        raise error
