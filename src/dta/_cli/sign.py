"""``dta sign`` and ``dta verify``.

Rules: ``sign`` validates the body against its schema before signing and never signs a body that
could not verify; ``verify`` takes trust only from ``--key`` public key documents or a
``--registry`` key-registry document, never from the signed file; a DSSE envelope given to
``verify`` is imported first (canonical payload required). Exit 1 when any file fails.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from dta import envelope, keys, schemas
from dta._cli._common import (
    check_output,
    emit_json,
    fail_in,
    force_option,
    format_option,
    read_json_file,
)
from dta._cli._common import write_doc as write_output
from dta._cli.keys import load_public_key, load_signer, passphrase_option
from dta.errors import Error, InputError, SchemaError, UsageError

__all__ = ["build_registry", "sign", "verify", "write_output"]


def build_registry(key_paths: tuple[str, ...], registry_path: str | None) -> keys.KeyRegistry:
    """Build the trusted-key registry from ``--registry`` and ``--key`` options.

    Raises:
        UsageError: Neither option was given.
        KeyMaterialError: A key or registry file is invalid (message names the file).
        InputError: A file cannot be read.
    """
    if not key_paths and registry_path is None:
        raise UsageError("no trusted keys: give --key PUBLIC.json or --registry REGISTRY.json")
    registry = keys.KeyRegistry()
    if registry_path is not None:
        doc = read_json_file(registry_path)
        with fail_in(registry_path):
            registry = keys.KeyRegistry.from_dict(doc)
    for path in key_paths:
        key, owner = load_public_key(path)
        if key.keyid in registry:
            continue
        with fail_in(path):
            registry.add(key, owner or f"key:{key.keyid[:16]}")
    return registry


def _parse_at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--at {text!r}: not an RFC 3339 time") from exc
    if value.utcoffset() is None:
        raise UsageError(f"--at {text!r}: give a time zone (e.g. Z)")
    return value


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-k", "--key", "key_path", required=True, help="Private key file (PEM).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@passphrase_option
def sign(file: str, key_path: str, out: str | None, passphrase_env: str) -> None:
    """Sign FILE: a document body (with _type) or a signed document (adds a signature)."""
    check_output(out)
    doc = read_json_file(file)
    signer = load_signer(key_path, passphrase_env)
    with fail_in(file):
        if not isinstance(doc, dict):
            raise SchemaError("not a JSON object", pointer="")
        existing = doc if "signed" in doc or "signatures" in doc else None
        body = envelope.parse(existing)[0] if existing is not None else doc
        schemas.validate(body)
        signed = envelope.sign(body, signer, envelope=existing)
    write_output(signed, out)
    if out not in (None, "-"):
        click.echo(
            f"{out}: signed {body['_type']} with key {signer.public_key.keyid[:16]}... "
            f"({len(signed['signatures'])} signature(s))",
            err=True,
        )


def _verify_one(path: str, registry: keys.KeyRegistry, options: dict[str, Any]) -> dict[str, Any]:
    doc = read_json_file(path)
    with fail_in(path):
        if isinstance(doc, dict) and "payloadType" in doc:
            doc = envelope.from_dsse(doc, registry=registry)
        result = envelope.verify_result(doc, registry, **options)
    return {"path": path, **result.to_dict()}


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-k", "--key", "key_paths", multiple=True, help="Trusted public key (repeatable).")
@click.option("--registry", "registry_path", help="Trusted keys: a dta.key-registry document.")
@click.option("--threshold", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--owner", "owners", multiple=True, help="Owner who must have signed (repeatable).")
@click.option("--type", "expected_type", help="Required _type, e.g. dta.manifest.")
@click.option("--at", "at", help="Verify key validity at this RFC 3339 time (default now).")
@format_option("text", "json")
def verify(
    *,
    files: tuple[str, ...],
    key_paths: tuple[str, ...],
    registry_path: str | None,
    threshold: int,
    owners: tuple[str, ...],
    expected_type: str | None,
    at: str | None,
    fmt: str,
) -> int:
    """Verify signed documents (or DSSE envelopes) against trusted keys."""
    registry = build_registry(key_paths, registry_path)
    options = {
        "threshold": threshold,
        "required_owners": set(owners) or None,
        "expected_type": expected_type,
        "now": _parse_at(at),
    }
    results: list[dict[str, Any]] = []
    code = 0
    for path in files:
        try:
            results.append(_verify_one(path, registry, options))
        except (InputError, UsageError) as exc:
            code = 2
            results.append({"path": path, "ok": False, "reason": "error", "message": str(exc)})
            click.echo(f"dta: error: {exc}", err=True)
        except Error as exc:
            results.append({"path": path, "ok": False, "reason": "invalid", "message": str(exc)})
    if code == 0 and not all(r["ok"] for r in results):
        code = 1
    if fmt == "json":
        emit_json({"ok": code == 0, "files": results})
        return code
    for r in results:
        if r["ok"]:
            owners_text = ", ".join(r["owners"])
            click.echo(
                f"{r['path']}: verified {r['type']} sha256:{r['digest']['sha256'][:16]}... "
                f"signed by {owners_text}"
            )
        elif r["reason"] != "error":
            message = r["message"].removeprefix(f"{r['path']}: ")
            click.echo(f"{r['path']}: {envelope.OPAQUE_MESSAGE}: {message}")
    return code
