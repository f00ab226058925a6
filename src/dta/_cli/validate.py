"""``dta validate``: check many documents against their packaged JSON Schemas in one run.

Rules this module enforces:

* Arguments are files, directories (every ``*.json`` below them) or glob patterns (``**``
  allowed); a pattern that matches nothing or a missing file is an I/O error (exit 2).
* Each file is parsed strictly (:func:`dta.loads`), dispatched on ``_type``/``spec_version`` (a
  signed document is checked as an envelope and then by its body's type), and every violation is
  reported with the JSON pointer of the failing part. Public keys and key registries also get
  their key ids recomputed and SPKI shapes checked (a forged key id is invalid even though the
  schema cannot see it); ``cryptography`` is not loaded, so curve-point validity is left to
  ``dta verify`` / :mod:`dta.keys`.
* Output: ``text`` (one line per problem, ``path: /pointer: message``), ``json`` (stable shape,
  see :func:`validate`), ``github`` (``::error file=...::`` workflow annotations).
* Exit code: 0 all valid; 1 any invalid; 2 any file unreadable or no files given.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from dta import schemas
from dta._cli._common import emit_json, format_option
from dta._json import loads
from dta._spki import key_object_error
from dta.errors import Error, InputError, JSONError, SchemaError

__all__ = ["expand", "validate"]

_GLOB_CHARS = frozenset("*?[")
_MAX_ERRORS = 20
_MAX_FILE = 64 * 1024 * 1024


def expand(args: tuple[str, ...]) -> Iterator[tuple[str, str | None]]:
    """Yield ``(path, problem)`` for every argument; ``problem`` is set for unmatched inputs."""
    for arg in args:
        if _GLOB_CHARS & set(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if os.path.isfile(m))
            if not matches:
                yield arg, "pattern matched no files"
            yield from ((m, None) for m in matches)
        elif os.path.isdir(arg):
            found = sorted(str(p) for p in Path(arg).rglob("*.json") if p.is_file())
            if not found:
                yield arg, "directory holds no .json files"
            yield from ((p, None) for p in found)
        else:
            yield arg, None


def _bare(exc: SchemaError) -> str:
    text = str(exc)
    suffix = f" (at {exc.pointer or '/'})" if exc.pointer is not None else ""
    return text.removesuffix(suffix) if suffix else text


def _semantic(doc: Any) -> list[dict[str, str]]:
    """Checks the schema cannot express: key ids recomputed from the SPKI, no duplicate keys."""
    signed = "signed" in doc
    body = doc.get("signed") if signed else doc
    base = "/signed" if signed else ""
    kind = body.get("_type") if isinstance(body, dict) else None
    if kind == "dta.public-key":
        problem = key_object_error(body)
        return [] if problem is None else [_err(base, problem)]
    if kind == "dta.key-registry":
        seen: set[str] = set()
        for index, entry in enumerate(body.get("keys", [])):
            problem = key_object_error(entry)
            if problem is None and entry["keyid"] in seen:
                problem = "key registered twice"
            if problem is not None:
                return [_err(f"{base}/keys/{index}", problem)]
            seen.add(entry["keyid"])
    return []


def _read(path: str) -> bytes:
    """Read a regular file with one open/fstat/read (read_bytes semantics, fewer syscalls)."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file")
        if info.st_size > _MAX_FILE:
            raise InputError(f"{path}: larger than {_MAX_FILE} bytes")
        chunks = []
        while chunk := os.read(fd, max(info.st_size + 1, 65536)):
            chunks.append(chunk)
            if sum(map(len, chunks)) > _MAX_FILE:
                raise InputError(f"{path}: larger than {_MAX_FILE} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _looks_like_dta(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    doc_type = doc.get("_type")
    return (isinstance(doc_type, str) and doc_type.startswith("dta.")) or any(
        member in doc for member in ("signed", "signatures", "payloadType")
    )


def check_file(path: str, *, skip_non_dta: bool = False) -> dict[str, Any]:
    """Validate one file; return ``{"path", "valid", "type", "errors": [{pointer, message}]}``.

    With ``skip_non_dta``, strict JSON that is not a dta document (no ``dta.`` ``_type``, not a
    signed document or DSSE envelope) is returned as ``{"skipped": True, "valid": True, ...}``.

    Raises:
        InputError: The file cannot be read.
    """
    data = _read(path)
    try:
        doc = loads(data)
    except JSONError as exc:
        pointer = exc.pointer if exc.pointer is not None else ""
        return {"path": path, "valid": False, "type": None, "errors": [_err(pointer, str(exc))]}
    if skip_non_dta and not _looks_like_dta(doc):
        return {"path": path, "valid": True, "type": None, "errors": [], "skipped": True}
    errors = [_err(e.pointer or "", _bare(e)) for e in schemas.iter_errors(doc)]
    if not errors:
        errors = _semantic(doc)
    body = doc.get("signed", doc) if isinstance(doc, dict) else None
    doc_type = body.get("_type") if isinstance(body, dict) else None
    return {
        "path": path,
        "valid": not errors,
        "type": doc_type if isinstance(doc_type, str) else None,
        "errors": errors[:_MAX_ERRORS],
    }


def _err(pointer: str, message: str) -> dict[str, str]:
    return {"pointer": pointer, "message": " ".join(message.split())}


def _gh(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


@click.command()
@click.argument("paths", nargs=-1)
@format_option("text", "json", "github")
@click.option("-q", "--quiet", is_flag=True, help="Text format: print nothing when all are valid.")
@click.option(
    "--skip-non-dta",
    is_flag=True,
    help="Skip strict-JSON files that are not dta documents (e.g. package.json in a hook run).",
)
def validate(paths: tuple[str, ...], fmt: str, quiet: bool, skip_non_dta: bool) -> int:
    """Validate JSON documents (files, directories, globs) against the packaged schemas.

    JSON output: {"ok": bool, "valid": n, "invalid": n, "skipped": n, "unreadable": n, "files":
    [{"path", "valid", "type", "errors": [{"pointer", "message"}], "skipped"?}]}.
    """
    if not paths:
        raise InputError("no files given")
    results: list[dict[str, Any]] = []
    unreadable = 0
    for path, problem in expand(paths):
        if problem is not None:
            unreadable += 1
            results.append({"path": path, "valid": False, "type": None, "error": problem})
            click.echo(f"dta: error: {path}: {problem}", err=True)
            continue
        try:
            results.append(check_file(path, skip_non_dta=skip_non_dta))
        except Error as exc:
            unreadable += 1
            results.append({"path": path, "valid": False, "type": None, "error": str(exc)})
            click.echo(f"dta: error: {exc}", err=True)
    skipped = sum(1 for r in results if r.get("skipped"))
    checked = [r for r in results if "errors" in r and not r.get("skipped")]
    invalid = [r for r in checked if not r["valid"]]
    code = 2 if unreadable else (1 if invalid else 0)
    if fmt == "json":
        emit_json(
            {
                "ok": code == 0,
                "valid": len(checked) - len(invalid),
                "invalid": len(invalid),
                "skipped": skipped,
                "unreadable": unreadable,
                "files": results,
            }
        )
        return code
    lines = []
    for r in invalid:
        for e in r["errors"]:
            if fmt == "github":
                title = f"dta validate {e['pointer'] or '/'}"
                lines.append(
                    f"::error file={_gh(r['path'], prop=True)},title={_gh(title, prop=True)}::"
                    f"{_gh(e['pointer'] or '/')}: {_gh(e['message'])}"
                )
            else:
                lines.append(f"{r['path']}: {e['pointer'] or '/'}: {e['message']}")
    if lines:
        click.echo("\n".join(lines))
    summary = (
        f"{len(checked) - len(invalid)} valid, {len(invalid)} invalid"
        + (f", {skipped} skipped" if skipped else "")
        + (f", {unreadable} unreadable" if unreadable else "")
    )
    if fmt == "text" and code == 0 and not quiet:
        click.echo(summary)
    elif fmt == "text" and len(results) > 1:
        click.echo(summary, err=True)
    return code
