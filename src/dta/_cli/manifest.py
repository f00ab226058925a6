"""``dta manifest create|sign|verify|show|export``: transfer manifests on the command line.

Rules this module enforces:

* ``create`` binds the manifest to the agreement file it is given (id, version and the digest of
  its signed body), takes classification from ``--report`` or an explicit ``--level``, and
  refuses a tree with any unsafe entry, listing every one of them, a tree with no file, and a
  sender, recipient or purpose the agreement does not name.
* ``sign`` refuses a body that fails its schema or names an unsafe path.
* ``verify`` checks the directory (``--dir``) and, with ``--agreement``, the agreement decision
  (signatures, validity, purpose, ceiling, categories, ``--ledger`` sequence and caps); without
  an agreement, signatures are checked only against ``--key``/``--registry`` when given, and the
  output says so. Every failure is one line with its path or field. Exit 1 on any failure.
* Manifests are written as their canonical JSON (RFC 8785) bytes plus a newline: compact, stable
  and parsed several times faster on the way back in (``show`` is the human view). Any strict
  JSON is accepted as input; files are read with a 1 GiB cap (a 200,000-file manifest is larger
  than the default).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from dta import envelope, schemas
from dta._cli._common import (
    check_output,
    emit_json,
    fail_in,
    force_option,
    format_option,
    open_output,
    read_bytes,
    read_json_file,
    write_bytes,
)
from dta._cli.keys import load_signer, passphrase_option
from dta._json import loads, loads_canonical
from dta.errors import CanonicalError, InputError, ManifestError, SchemaError, UsageError
from dta.manifest import (
    TreeCheck,
    UnsafeTreeError,
    build_manifest,
    check_items,
    verify_tree,
    write_canonical,
)

__all__ = ["manifest"]

MAX_MANIFEST = 1 << 30


def _read_manifest(path: str) -> dict[str, Any]:
    data = read_bytes(path, max_size=MAX_MANIFEST).rstrip(b"\n")
    with fail_in(path):
        try:  # canonical files (what create/sign write) parse several times faster
            doc = loads_canonical(data, max_size=MAX_MANIFEST)
        except CanonicalError:
            doc = loads(data, max_size=MAX_MANIFEST)
        if not isinstance(doc, dict):
            raise SchemaError("not a JSON object", pointer="")
        return doc


def _body(doc: dict[str, Any]) -> dict[str, Any]:
    body = doc.get("signed", doc)
    if not isinstance(body, dict) or body.get("_type") != "dta.manifest":
        raise ManifestError("not a dta.manifest document")
    return body


def _write(doc: Any, out: str | None, *, canonical: bool = True) -> None:
    if out is not None and out != "-":
        with open_output(out) as handle:
            _write_to(doc, handle, canonical)
        return
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a text-only stdout (a test capture): go through one buffer
        buffer = io.BytesIO()
        _write_to(doc, buffer, canonical)
        write_bytes(buffer.getvalue(), None)
        return
    try:
        sys.stdout.flush()
        _write_to(doc, stream, canonical)
        stream.flush()
    except OSError as exc:
        raise InputError(f"stdout: cannot write: {exc.strerror or exc}") from exc


def _write_to(doc: Any, stream: BinaryIO, canonical: bool) -> None:
    if canonical:
        write_canonical(doc, stream)  # in pieces: no second copy of a huge manifest
    else:
        stream.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    stream.write(b"\n")


def _agreement_ref(path: str, channel: tuple[str, str, str]) -> dict[str, Any]:
    doc = read_json_file(path)
    with fail_in(path):
        body = doc.get("signed", doc) if isinstance(doc, dict) else None
        if not isinstance(body, dict) or body.get("_type") != "dta.agreement":
            raise UsageError("not a dta.agreement document")
        if not isinstance(body.get("id"), str) or not isinstance(body.get("version"), int):
            raise UsageError("agreement has no id or version")
        _check_channel(body, channel)
        return {"id": body["id"], "version": body["version"], "digest": envelope.digest(body)}


def _ids(items: Any) -> set[str]:
    if not isinstance(items, list):
        return set()
    return {i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)}


def _check_channel(body: dict[str, Any], channel: tuple[str, str, str]) -> None:
    """Refuse a sender, recipient or purpose the agreement does not name (before hashing)."""
    parties, purposes = _ids(body.get("parties")), _ids(body.get("purposes"))
    sender, recipient, purpose = channel
    for option, value in (("--sender", sender), ("--recipient", recipient)):
        if parties and value not in parties:
            raise UsageError(f"{option} {value!r} is not a party ({', '.join(sorted(parties))})")
    if sender == recipient:
        raise UsageError("--sender and --recipient must differ")
    if purposes and purpose not in purposes:
        raise UsageError(f"--purpose {purpose!r} is not agreed ({', '.join(sorted(purposes))})")


def _previous(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    return envelope.digest(_body(_read_manifest(path)))


_hash_mode_option = click.option(
    "--hash-mode",
    type=click.Choice(["auto", "threads", "processes"]),
    default="auto",
    show_default=True,
    help="Hashing workers: auto (processes for many small files, else threads), threads, or "
    "processes.",
)


@click.group()
def manifest() -> None:
    """Transfer manifests: create from a directory, sign, verify, show, export."""


@manifest.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--agreement", "agreement_path", required=True, help="The agreement (signed).")
@click.option("--sender", required=True, help="Sending party id.")
@click.option("--recipient", required=True, help="Receiving party id.")
@click.option("--purpose", required=True, help="Agreed purpose of this transfer.")
@click.option("--sequence", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--previous", "previous_path", help="Previous manifest on this channel.")
@click.option("--report", "report_path", help="Classification report covering every file.")
@click.option("--level", help="Level of every file when no --report is given.")
@click.option("--expires", help="Expiry (RFC 3339; default: 7 days).")
@click.option("--ip-owner", help="Owner of the data's intellectual property.")
@click.option("--ip-licence", help="Licence reference (e.g. an SPDX id or a URL).")
@click.option("--workers", type=click.IntRange(min=1), help="Hashing threads (default: cores).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: tty).")
@_hash_mode_option
def create(  # noqa: PLR0917 - click passes every option
    directory: str,
    agreement_path: str,
    sender: str,
    recipient: str,
    purpose: str,
    sequence: int,
    previous_path: str | None,
    report_path: str | None,
    level: str | None,
    expires: str | None,
    ip_owner: str | None,
    ip_licence: str | None,
    workers: int | None,
    out: str | None,
    progress: bool | None,
    hash_mode: str,
) -> None:
    """Build the manifest body for every file below DIRECTORY."""
    from dta._cli._transfer_common import parse_at

    check_output(out)
    if out not in (None, "-") and Path(directory).resolve() in Path(out).resolve().parents:
        raise UsageError(f"{out}: the manifest may not be written inside {directory}")
    if (report_path is None) == (level is None):
        raise UsageError("give exactly one of --report REPORT.json or --level LEVEL")
    if (ip_owner is None) != (ip_licence is None):
        raise UsageError("--ip-owner and --ip-licence go together")
    report = read_json_file(report_path) if report_path else None
    if report_path is not None:
        with fail_in(report_path):
            if not isinstance(report, dict):
                raise SchemaError("not a JSON object", pointer="")
    try:
        body = build_manifest(
            directory,
            agreement_ref=_agreement_ref(agreement_path, (sender, recipient, purpose)),
            sender=sender,
            recipient=recipient,
            purpose=purpose,
            sequence=sequence,
            previous=_previous(previous_path),
            classification=report,
            default_level=level,
            expires=parse_at(expires),
            ip={"owner": ip_owner, "licence": ip_licence} if ip_owner and ip_licence else None,
            workers=workers,
            progress=progress,
            hash_mode=hash_mode,
        )
    except UnsafeTreeError as exc:
        for entry in exc.entries:
            click.echo(f"dta: unsafe: {entry.path!a}: {entry.kind}: {entry.reason}", err=True)
        raise
    if body["totals"]["files"] == 0:
        raise InputError(f"{directory}: no files to put in a manifest")
    _write(body, out)
    if out not in (None, "-"):
        totals = body["totals"]
        click.echo(
            f"{out}: {totals['files']} files, {totals['bytes']} bytes, level {body['level']}",
            err=True,
        )


@manifest.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-k", "--key", "key_path", required=True, help="Sender's private key (PEM).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@passphrase_option
def sign(file: str, key_path: str, out: str | None, passphrase_env: str) -> None:
    """Sign a manifest body (or add a signature to a signed manifest)."""
    check_output(out)
    doc = _read_manifest(file)
    signer = load_signer(key_path, passphrase_env)
    with fail_in(file):
        existing = doc if "signed" in doc else None
        body = _body(doc)
        schemas.validate(body)
        refused = check_items(body)
        if refused:
            first = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise ManifestError(f"refusing to sign: {first.kind}: {first.message}{more}")
        signed = envelope.sign(body, signer, envelope=existing)
    _write(signed, out)


def _print_check(check: TreeCheck | None, decision: Any, signature: str) -> None:
    click.echo(f"signature: {signature}")
    if decision is not None:
        click.echo(f"agreement: {'allowed' if decision.allowed else 'NOT allowed'}")
        for reason in decision.reasons:
            where = f" [{reason.field}]" if reason.field else ""
            click.echo(f"  {reason.code}: {reason.message}{where}")
    if check is not None:
        state = "ok" if check.ok else "FAILED"
        click.echo(f"tree: {state} ({check.files} files, {check.bytes} bytes listed)")
        if not check.tree_read:
            click.echo("  manifest refused before reading the directory")
        for f in check.findings:
            click.echo(f"  {f.kind}: {f.path or '(manifest)'}: {f.message}")


@manifest.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Received directory.")
@click.option("--agreement", "agreement_path", help="Check against this signed agreement.")
@click.option("--ledger", "ledger_path", help="Per-counterparty ledger (replay, rollback, caps).")
@click.option("-k", "--key", "key_paths", multiple=True, help="Trusted sender key (no agreement).")
@click.option("--registry", "registry_path", help="Trusted keys (no agreement).")
@click.option("--at", "at", metavar="TIME", help="Evaluate at this RFC 3339 time.")
@click.option("--workers", type=click.IntRange(min=1), help="Hashing threads (default: cores).")
@click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: tty).")
@_hash_mode_option
@format_option("text", "json")
def verify(  # noqa: PLR0917 - click passes every option
    file: str,
    directory: str | None,
    agreement_path: str | None,
    ledger_path: str | None,
    key_paths: tuple[str, ...],
    registry_path: str | None,
    at: str | None,
    workers: int | None,
    progress: bool | None,
    hash_mode: str,
    fmt: str,
) -> int:
    """Verify a signed manifest against a directory and/or an agreement."""
    from dta._cli._transfer_common import parse_at

    if directory is None and agreement_path is None and not key_paths and not registry_path:
        raise UsageError("nothing to check: give --dir, --agreement or --key/--registry")
    if ledger_path and not agreement_path:
        raise UsageError("--ledger needs --agreement")
    now = parse_at(at)
    doc = _read_manifest(file)
    decision: Any = None
    signature_ok = True
    signature = "not checked (give --agreement or --key)"
    if agreement_path is not None:
        from dta import agreement as ag

        agreement_doc = read_json_file(agreement_path)
        with fail_in(agreement_path):
            model = ag.verify_agreement(agreement_doc, now=now)
        ledger = ag.Ledger.open(ledger_path, create=True) if ledger_path else None
        with fail_in(file):
            decision = ag.check_manifest(model, doc, now=now, ledger=ledger)
        signature = "checked against the agreement's sender keys"
    elif key_paths or registry_path:
        from dta._cli.sign import build_registry

        result = envelope.verify_result(
            doc, build_registry(key_paths, registry_path), expected_type="dta.manifest", now=now
        )
        signature = "valid" if result.ok else f"INVALID: {result.message}"
        signature_ok = result.ok
    check = None
    if directory is not None:
        with fail_in(file):
            check = verify_tree(
                doc, directory, workers=workers, progress=progress, hash_mode=hash_mode
            )
    ok = signature_ok and (check is None or check.ok)
    ok = ok and (decision is None or bool(decision.allowed))
    if fmt == "json":
        emit_json(
            {
                "ok": ok,
                "manifest": file,
                "signature": signature,
                "agreement": None if decision is None else decision.to_dict(),
                "tree": None if check is None else check.to_dict(),
            }
        )
    else:
        _print_check(check, decision, signature)
        click.echo(f"{file}: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


@manifest.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--items/--no-items", default=False, help="List every item.")
@format_option("text", "json")
def show(file: str, items: bool, fmt: str) -> None:
    """Summarise a manifest (signed or not)."""
    doc = _read_manifest(file)
    with fail_in(file):
        body = _body(doc)
        summary = {k: v for k, v in body.items() if k != "items"}
        summary["digest"] = envelope.digest(body)
        summary["signatures"] = len(doc.get("signatures", [])) if "signed" in doc else 0
    if fmt == "json":
        if items:
            summary["items"] = body["items"]
        emit_json(summary)
        return
    ref = body.get("agreement", {})
    click.echo(f"manifest {body.get('id')}  ({summary['signatures']} signature(s))")
    click.echo(f"  digest     sha256:{summary['digest']['sha256']}")
    click.echo(f"  agreement  {ref.get('id')} v{ref.get('version')}")
    click.echo(
        f"  channel    {body.get('sender')} -> {body.get('recipient')}  #{body.get('sequence')}"
    )
    click.echo(f"  purpose    {body.get('purpose')}")
    click.echo(f"  valid      {body.get('created')} .. {body.get('expires')}")
    totals = body.get("totals", {})
    click.echo(f"  totals     {totals.get('files')} files, {totals.get('bytes')} bytes")
    click.echo(f"  level      {body.get('level')}  categories {body.get('categories')}")
    if body.get("subjects"):
        click.echo(f"  subjects   {body.get('subjects')}")
    if body.get("ip"):
        click.echo(f"  ip         {body['ip'].get('owner')} / {body['ip'].get('licence')}")
    if items:
        for item in body.get("items", []):
            if not isinstance(item, dict):
                continue
            digest = item.get("digest")
            hexdigest = str(digest.get("sha256", "")) if isinstance(digest, dict) else ""
            size, level = str(item.get("size")), str(item.get("level"))
            click.echo(f"  {hexdigest[:16]}  {size:>12}  {level:<12} {item.get('path')!a}")


@manifest.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-k", "--key", "key_path", required=True, help="Key to sign the DSSE envelope.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@passphrase_option
def export(file: str, key_path: str, out: str | None, passphrase_env: str) -> None:
    """Export a manifest as an in-toto Statement v1 in a signed DSSE envelope."""
    from dta import intoto

    check_output(out)

    doc = _read_manifest(file)
    signer = load_signer(key_path, passphrase_env)
    with fail_in(file):
        statement = intoto.manifest_statement(doc)
        env = intoto.export_dsse(statement, signer)
    _write(env, out, canonical=False)
