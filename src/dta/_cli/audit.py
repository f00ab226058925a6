"""``dta audit``: create, append to, verify, checkpoint, prove, witness and maintain audit logs.

Rules this module enforces:

* Every sub-command takes ``--format text|json``; JSON goes to stdout as one document.
* ``verify`` exits 1 on any fault and names the first bad index and the kind of fault (also in
  JSON); ``fsck`` exits 1 when the store reports a problem; ``verify-proof`` exits 1 when the
  bundle does not verify. Usage and I/O problems exit 2 (see ``dta._cli.main``).
* Trusted checkpoints given to ``verify`` are signed notes whose signature is checked with the
  log key (``--key``) before they are used.
* Hashes in JSON output are lowercase hex; proof hashes are standard base64 (as in tlog-proof).
* Commands that read records (``init`` of an existing log, ``checkpoint``, ``prove``, ``export``,
  ``show``) refuse a JSONL log whose tail is corrupt (exit 1; ``verify`` names the fault) rather
  than silently working on the records before it; ``checkpoint`` and ``export``, whose output
  stands for the whole log, also refuse a torn tail until ``repair`` has moved it aside.
  Output files follow the rules of :mod:`dta._cli._common` (checked first, written whole,
  replaced only with ``--force``) and are never the log itself. ``witness`` checks the note's
  signature and the proof file before it touches the witness state.
* The commands that only read a log (``verify``, ``checkpoint`` — it signs, the note goes to
  stdout or ``--out`` — ``prove``, ``show``, ``export`` and ``fsck``) open it read-only
  (ADR 0105): they create and change nothing next to the log (not even the JSONL sidecar), so
  a log on a read-only mount or in a CI checkout verifies as it is. ``fsck`` reports a stale
  sidecar without rebuilding it (any writer rebuilds it on open); ``repair`` does that.
* A torn tail is reported alike everywhere: ``verify`` names it as a fault at its index,
  ``fsck`` as a problem, ``show`` lists the complete records and says where the tail begins.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from dta._cli._audit_common import check_out as _check_out
from dta._cli._audit_common import check_range as _range
from dta._cli._audit_common import open_intact, open_log
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
    write_text,
)
from dta._cli.keys import load_public_key, load_signer, passphrase_option
from dta._json import loads
from dta.audit import DURABILITY_MODES
from dta.audit.checkpoint import add_cosignatures, verify_checkpoint
from dta.audit.proofbundle import verify_proof_bundle
from dta.audit.witness import Witness
from dta.errors import InputError, JSONError, ProofError, TamperError, UsageError

__all__ = ["audit"]

_LOG = click.argument("log", metavar="LOG")
_OUT = click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file.")


@click.group()
def audit() -> None:
    """Tamper-evident audit logs (JSONL path, sqlite:PATH or postgresql:// URL)."""


def _write(text: str, out: str | None) -> None:
    write_text(text, out)


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in items]


def _text_file(path: str) -> str:
    try:
        return read_bytes(path, max_size=1 << 20).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc


@audit.command("init")
@_LOG
@format_option("text", "json")
def init(log: str, fmt: str) -> None:
    """Create an empty audit log (no-op if it exists)."""
    with open_intact(log, create=True, durability="always") as opened:
        result = {"url": opened.url, "size": opened.size}
    if fmt == "json":
        emit_json(result)
    else:
        click.echo(f"{result['url']}: {result['size']} records")


def _events(event_file: str | None, fields: dict[str, Any]) -> list[Any]:
    if event_file is not None:
        doc = read_json_file(event_file)
        return doc if isinstance(doc, list) else [doc]
    missing = [k for k in ("actor", "action", "subject_id", "subject_sha256") if not fields[k]]
    if missing:
        flags = ", ".join("--" + m.replace("_", "-") for m in missing)
        raise UsageError(f"give --event FILE or {flags}")
    event: dict[str, Any] = {
        "actor": fields["actor"],
        "action": fields["action"],
        "subject": {
            "_type": fields["subject_type"],
            "id": fields["subject_id"],
            "digest": {"sha256": fields["subject_sha256"]},
        },
    }
    if fields["agreement_id"]:
        event["agreement"] = {
            "id": fields["agreement_id"],
            "digest": {"sha256": fields["agreement_sha256"] or ""},
        }
    if fields["details"]:
        try:
            event["details"] = loads(fields["details"])
        except JSONError as exc:
            raise UsageError(f"--details: not strict JSON: {exc}") from exc
        if not isinstance(event["details"], dict):
            raise UsageError("--details: expected a JSON object")
    if fields["time"]:
        event["time"] = fields["time"]
    return [event]


@audit.command("append")
@_LOG
@click.option("--event", "event_file", help="JSON file (or -) with one event or a list of events.")
@click.option("--actor", help="Acting party id.")
@click.option("--action", help="Action, e.g. transfer.sent or x-acme.thing.")
@click.option("--subject-type", default="dta.document", show_default=True)
@click.option("--subject-id", help="Subject id (e.g. urn:uuid:...).")
@click.option("--subject-sha256", help="Subject digest (hex).")
@click.option("--agreement-id")
@click.option("--agreement-sha256")
@click.option("--details", help="Details as a JSON object.")
@click.option("--time", help="RFC 3339 UTC time (default now).")
@click.option(
    "--durability", type=click.Choice(DURABILITY_MODES), default="always", show_default=True
)
@format_option("text", "json")
def append(log: str, event_file: str | None, durability: str, fmt: str, **fields: Any) -> None:
    """Append events (all or none) and print their indices and leaf hashes."""
    events = _events(event_file, fields)
    with open_log(log, durability=durability) as opened, fail_in(log):
        done = opened.append_many(events)
    out = [{"index": i, "leaf_hash": leaf.hex()} for i, leaf in done]
    if fmt == "json":
        emit_json({"appended": out})
    else:
        for item in out:
            click.echo(f"{item['index']} {item['leaf_hash']}")


def _trusted(paths: tuple[str, ...], key_path: str | None, origin: str | None) -> Iterator[Any]:
    if paths and key_path is None:
        raise UsageError("--checkpoint needs --key (the log's public key)")
    for path in paths:
        assert key_path is not None
        key, _ = load_public_key(key_path)
        with fail_in(path):
            yield verify_checkpoint(_text_file(path), key, origin=origin)


@audit.command("verify")
@_LOG
@click.option("--checkpoint", "checkpoints", multiple=True, help="Trusted signed checkpoint.")
@click.option("-k", "--key", "key_path", help="The log's public key (to check checkpoints).")
@click.option("--origin", help="Expected checkpoint origin.")
@format_option("text", "json")
def verify(
    log: str, checkpoints: tuple[str, ...], key_path: str | None, origin: str | None, fmt: str
) -> None:
    """Recompute the whole log; exit 1 naming the first bad index and the kind of fault."""
    trusted = list(_trusted(checkpoints, key_path, origin))
    with open_log(log, readonly=True) as opened, fail_in(log):
        report = opened.verify(trusted)
    if fmt == "json":
        emit_json({"url": log, **report.to_dict()})
    if report.fault is not None:
        f = report.fault
        raise TamperError(
            f"{log}: record {f.index}: {f.kind}: {f.message}", index=f.index, kind=f.kind
        )
    if fmt != "json":
        assert report.root is not None
        click.echo(f"{log}: OK, {report.size} records, root {report.root.hex()}")


@audit.command("checkpoint")
@_LOG
@click.option("-k", "--key", "key_path", required=True, help="The log's Ed25519 private key.")
@click.option("--origin", required=True, help="Log origin (checkpoint first line).")
@click.option("--size", type=click.IntRange(min=0), help="Tree size (default: all records).")
@_OUT
@force_option
@passphrase_option
@format_option("text", "json")
def checkpoint(
    log: str,
    *,
    key_path: str,
    origin: str,
    size: int | None,
    out: str | None,
    passphrase_env: str,
    fmt: str,
) -> None:
    """Sign a C2SP checkpoint (signed note) of the log."""
    _check_out(out, log)
    signer = load_signer(key_path, passphrase_env)
    with open_intact(log, allow_torn=False, readonly=True) as opened, fail_in(log):
        note = opened.checkpoint(signer, origin, size=size)
    if fmt == "json":
        emit_json({"checkpoint": note})
    else:
        _write(note, out)


@audit.command("prove")
@_LOG
@click.option("--index", type=click.IntRange(min=0), help="Record to prove included.")
@click.option("--size", type=click.IntRange(min=0), help="Tree size (default: all records).")
@click.option(
    "--checkpoint", "checkpoint_path", help="Signed checkpoint: emit a tlog-proof bundle."
)
@click.option("--consistency", "old", type=click.IntRange(min=0), help="Prove growth from OLD.")
@_OUT
@force_option
@format_option("text", "json")
def prove(
    log: str,
    *,
    index: int | None,
    size: int | None,
    checkpoint_path: str | None,
    old: int | None,
    out: str | None,
    fmt: str,
) -> None:
    """Inclusion proof (or tlog-proof bundle with --checkpoint) or consistency proof."""
    if (index is None) == (old is None):
        raise UsageError("give exactly one of --index or --consistency")
    _check_out(out, log)
    with open_intact(log, readonly=True) as opened, fail_in(log):
        if old is not None:
            new = opened.size if size is None else size
            proof = opened.prove_consistency(old, new)
            doc: dict[str, Any] = {
                "old": old,
                "new": new,
                "old_root": opened.root(old).hex(),
                "new_root": opened.root(new).hex(),
                "proof": _b64(proof),
            }
        elif checkpoint_path is not None:
            assert index is not None
            bundle = opened.proof_bundle(index, _text_file(checkpoint_path))
            doc = {"index": index, "bundle": bundle}
            if fmt != "json":
                _write(bundle, out)
                return
        else:
            assert index is not None
            n = opened.size if size is None else size
            proof = opened.prove_inclusion(index, n)  # first: it checks index < size <= log
            doc = {
                "index": index,
                "size": n,
                "leaf_hash": opened.store.perfect(0, index).hex(),
                "root": opened.root(n).hex(),
                "proof": _b64(proof),
            }
    _write(emit_text(doc), out)


def emit_text(doc: dict[str, Any]) -> str:
    """JSON text for a proof document (what --format json and text both write)."""
    import json

    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


@audit.command("verify-proof")
@click.argument("bundle", metavar="BUNDLE")
@click.option("--record", "record_path", required=True, help="File with the record line.")
@click.option("-k", "--key", "key_path", required=True, help="The log's public key.")
@click.option("--origin", help="Expected log origin.")
@format_option("text", "json")
def verify_proof(
    bundle: str, record_path: str, key_path: str, origin: str | None, fmt: str
) -> None:
    """Check one record's inclusion offline with only the bundle, the record and the log key."""
    key, _ = load_public_key(key_path)
    record = read_bytes(record_path, max_size=1 << 17)
    with fail_in(bundle):
        result = verify_proof_bundle(_text_file(bundle), record, key, origin=origin)
    cp = result.checkpoint
    doc = {"ok": True, "index": result.index, "origin": cp.origin, "size": cp.size}
    if fmt == "json":
        emit_json(doc)
    else:
        click.echo(f"{bundle}: OK, record {result.index} is in {cp.origin} at size {cp.size}")


def _proof_file(path: str | None) -> list[bytes]:
    if path is None:
        return []
    doc = read_json_file(path)
    items = doc.get("proof") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ProofError(f"{path}: expected a JSON object with a 'proof' list")
    try:
        return [base64.b64decode(x, validate=True) for x in items]
    except (binascii.Error, TypeError) as exc:
        raise ProofError(f"{path}: proof hashes must be base64") from exc


@audit.command("witness")
@click.argument("checkpoint_path", metavar="CHECKPOINT")
@click.option("--log-key", required=True, help="The witnessed log's public key.")
@click.option("--proof", "proof_path", help="Consistency proof JSON (from dta audit prove).")
@click.option("--state", "state_dir", required=True, help="Witness state directory.")
@click.option("-k", "--key", "key_path", required=True, help="Witness Ed25519 private key.")
@click.option("--name", required=True, help="Witness key name.")
@_OUT
@force_option
@passphrase_option
@format_option("text", "json")
def witness(
    checkpoint_path: str,
    *,
    log_key: str,
    proof_path: str | None,
    state_dir: str,
    key_path: str,
    name: str,
    out: str | None,
    passphrase_env: str,
    fmt: str,
) -> None:
    """Cosign a partner's checkpoint if it is consistent with the last one witnessed."""
    check_output(out)
    if os.path.lexists(state_dir) and not os.path.isdir(state_dir):
        raise InputError(f"{state_dir}: witness state is not a directory")
    if not os.path.isdir(Path(state_dir).parent):
        raise InputError(f"{state_dir}: directory {str(Path(state_dir).parent)!r} does not exist")
    note = _text_file(checkpoint_path)
    key, _ = load_public_key(log_key)
    signer = load_signer(key_path, passphrase_env)
    proof = _proof_file(proof_path)
    with fail_in(checkpoint_path):
        verify_checkpoint(note, key)  # before the witness state is created or touched
        line = Witness(state_dir, signer, name).witness(note, key, proof)
        cosigned = add_cosignatures(note, [line])
    if fmt == "json":
        emit_json({"cosignature": line, "checkpoint": cosigned})
    else:
        _write(cosigned, out)


@audit.command("fsck")
@_LOG
@format_option("text", "json")
def fsck(log: str, fmt: str) -> None:
    """Check the store (torn tail, stored hashes); exit 1 on problems."""
    try:
        opened = open_log(log, readonly=True)
    except TamperError as exc:
        if exc.kind != "damaged":
            raise
        # SQLite found the file damaged before the store could open: that is fsck's finding.
        report: dict[str, Any] = {
            "store": "sqlite",
            "url": log,
            "size": 0,
            "ok": False,
            "torn": None,
            "problems": [f"database file is damaged: {exc.__cause__ or exc}"],
            "rebuilt": [],
        }
    else:
        with opened, fail_in(log):
            report = opened.fsck()
    if fmt == "json":
        emit_json(report)
    else:
        for item in report["rebuilt"]:
            click.echo(f"{log}: rebuilt {item}")
        for problem in report["problems"]:
            click.echo(f"{log}: {problem}")
    if not report["ok"]:
        raise click.exceptions.Exit(1)
    if fmt != "json":
        click.echo(f"{log}: OK, {report['size']} records")


@audit.command("repair")
@_LOG
@format_option("text", "json")
def repair(log: str, fmt: str) -> None:
    """Move a torn tail aside into a file (never deleted) so appends can resume."""
    with open_log(log) as opened, fail_in(log):
        result = opened.repair()
    if fmt == "json":
        emit_json(result)
    elif result["repaired"]:
        click.echo(f"{log}: moved {result['bytes']} torn bytes to {result['moved_to']}")
    else:
        click.echo(f"{log}: nothing to repair ({result['size']} records)")


@audit.command("export")
@_LOG
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--stop", type=click.IntRange(min=0), help="Stop before this index.")
@_OUT
@force_option
@format_option("text", "json")
def export(log: str, start: int, stop: int | None, out: str | None, fmt: str) -> None:
    """Write the stored lines as JSONL (the exchange format), from any store."""
    _range(start, stop)
    _check_out(out, log)
    count = 0
    with open_intact(log, allow_torn=False, readonly=True) as opened, fail_in(log):
        lines = opened.store.lines(start, stop)
        if out is not None and out != "-":
            with open_output(out) as handle:
                for line in lines:
                    handle.write(line + b"\n")
                    count += 1
        elif getattr(sys.stdout, "buffer", None) is None:  # a text-only stdout (test capture)
            buffer = io.BytesIO()
            for line in lines:
                buffer.write(line + b"\n")
                count += 1
            write_bytes(buffer.getvalue(), None)
        else:
            try:
                sys.stdout.flush()
                for line in lines:
                    sys.stdout.buffer.write(line + b"\n")
                    count += 1
                sys.stdout.buffer.flush()
            except OSError as exc:
                raise InputError(f"stdout: cannot write: {exc.strerror or exc}") from exc
    if fmt == "json" and out not in (None, "-"):
        emit_json({"exported": count, "out": out})


@audit.command("show")
@_LOG
@click.option("--index", type=click.IntRange(min=0), help="Show one record.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--stop", type=click.IntRange(min=0), help="Stop before this index.")
@format_option("text", "json")
def show(log: str, index: int | None, start: int, stop: int | None, fmt: str) -> None:
    """Show records (and the log's size and root)."""
    if index is not None:
        start, stop = index, index + 1
    _range(start, stop)
    with open_intact(log, readonly=True) as opened, fail_in(log):
        size = opened.size
        if index is not None and index >= size:
            raise UsageError(f"{log}: no record {index} (size {size})")
        records = list(opened.records(start, min(size, size if stop is None else stop)))
        root = opened.root(size).hex()
        damage = getattr(opened.store, "damage", None)
    torn = None
    if isinstance(damage, dict):  # open_intact lets only a torn tail through
        torn = {k: damage.get(k) for k in ("index", "offset", "bytes")}
    if fmt == "json":
        emit_json({"url": log, "size": size, "root": root, "records": records, "torn": torn})
        return
    if torn is not None:
        click.echo(
            f"{log}: torn tail at index {torn['index']} (offset {torn['offset']}, "
            f"{torn['bytes']} bytes; not a record): run 'dta audit repair' (it keeps the bytes)",
            err=True,
        )
    click.echo(f"{log}: {size} records, root {root}")
    for r in records:
        click.echo(f"{r['index']:>8} {r['time']} {r['actor']} {r['action']} {r['subject']['id']}")
