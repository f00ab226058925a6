"""``dta compliance reconcile|report|verify``: an auditor's view of both partners' records.

Rules this module enforces:

* Inputs name their party explicitly: ``--log PARTY=PATH_OR_URL`` and
  ``--checkpoint PARTY=FILE`` (a signed checkpoint note with its cosignature lines; repeatable);
  ``--manifest`` / ``--receipt`` take files or directories (every ``*.json`` inside, sorted; an
  empty directory means "none", and every logged transfer then shows as a discrepancy);
  ``--witness NAME=PUBKEY`` names a trusted third-party witness.
* ``reconcile`` exits 1 when any discrepancy is found or a given checkpoint does not verify
  (each such checkpoint is listed with its error, never dropped silently); ``report`` writes
  the signed report (and ``--html``) and exits 0 unless ``--strict`` is given and the verdict
  is not ``clean``;
  ``verify`` checks a report against the auditor key the reader trusts (exit 1 if it fails).
* ``--at`` is the audit time (default: now); every other time comes from the documents.
* Every error is a one-line ``dta.errors`` message naming the file or option.
* Output files (``-o``, ``--html``) are checked before any work and written whole; an existing
  file is replaced only with ``--force``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from dta import compliance
from dta._cli._common import (
    check_output,
    emit_json,
    fail_in,
    force_option,
    format_option,
    read_bytes,
    read_json_file,
    write_text,
)
from dta._cli._transfer_common import at_option, parse_at, write_doc
from dta._cli.keys import load_public_key, load_signer, passphrase_option
from dta._policy_eval import parse_duration
from dta.errors import AgreementError, InputError, UsageError

__all__ = ["compliance_group"]


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE")
    return name, value


def _check_outputs(out: str | None, html_out: str | None) -> None:
    check_output(out)
    check_output(html_out)
    same = out not in (None, "-") and html_out is not None
    if same and Path(str(out)).resolve() == Path(str(html_out)).resolve():
        raise UsageError(f"{out}: --out and --html must differ")


def _duration(text: str | None, option: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text, option)
    except AgreementError as exc:
        raise UsageError(str(exc)) from exc


def _docs(paths: tuple[str, ...]) -> list[Any]:
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return [read_json_file(f) for f in files]


def _inputs(
    *,
    agreement_path: str,
    logs: tuple[str, ...],
    checkpoints: tuple[str, ...],
    manifests: tuple[str, ...],
    receipts: tuple[str, ...],
    witnesses: tuple[str, ...],
    ack_window: str | None,
    at: str | None,
) -> compliance.Reconciliation:
    now = parse_at(at) or datetime.now(UTC)
    notes: dict[str, list[str]] = {}
    for item in checkpoints:
        party, path = _pair(item, "--checkpoint")
        text = read_bytes(path, max_size=1 << 20)
        try:
            notes.setdefault(party, []).append(text.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text") from exc
    party_logs = []
    for item in logs:
        party, where = _pair(item, "--log")
        party_logs.append(compliance.PartyLog(party, where, tuple(notes.pop(party, []))))
    if notes:
        raise UsageError(f"--checkpoint for {sorted(notes)[0]!r} without a --log for that party")
    trusted = {}
    for item in witnesses:
        name, path = _pair(item, "--witness")
        trusted[name] = load_public_key(path)[0]
    with fail_in(agreement_path):
        agreement_doc = read_json_file(agreement_path)
    return compliance.reconcile(
        agreement_doc,
        party_logs,
        manifests=_docs(manifests),
        receipts=_docs(receipts),
        witnesses=trusted,
        ack_window=_duration(ack_window, "--ack-window"),
        now=now,
    )


def _common(fn: Any) -> Any:
    options = [
        click.option(
            "--agreement",
            "agreement_path",
            required=True,
            type=click.Path(dir_okay=False),
            help="The signed agreement.",
        ),
        click.option(
            "--log",
            "logs",
            multiple=True,
            required=True,
            metavar="PARTY=PATH",
            help="A party's audit log (path or URL); once per party.",
        ),
        click.option(
            "--checkpoint",
            "checkpoints",
            multiple=True,
            metavar="PARTY=FILE",
            help="A signed, cosigned checkpoint of a party's log (repeatable).",
        ),
        click.option(
            "--manifest",
            "manifests",
            multiple=True,
            metavar="PATH",
            help="Signed manifest file, or a directory of them (repeatable).",
        ),
        click.option(
            "--receipt",
            "receipts",
            multiple=True,
            metavar="PATH",
            help="Signed receipt file, or a directory of them (repeatable).",
        ),
        click.option(
            "--witness",
            "witnesses",
            multiple=True,
            metavar="NAME=PUBKEY",
            help="Trusted third-party witness: cosigner key name and public key file.",
        ),
        click.option(
            "--ack-window",
            metavar="DURATION",
            help="Receipt deadline after the send (e.g. PT72H); manifest expiry always applies.",
        ),
        at_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group("compliance")
def compliance_group() -> None:
    """Reconcile both partners' logs, manifests and receipts; write the compliance report."""


@compliance_group.command("reconcile")
@_common
@format_option("text", "json")
def reconcile_cmd(*, fmt: str, **kwargs: Any) -> None:
    """Verify both logs and match every sent manifest to a record and a receipt.

    Exit 1 when any discrepancy is found or a checkpoint does not verify.
    """
    rec = _inputs(**kwargs)
    if fmt == "json":
        emit_json(
            {
                "logs": [s.to_dict() for s in rec.logs],
                "transfers": [t.to_dict() for t in rec.transfers],
                "discrepancies": [d.to_dict() for d in rec.discrepancies],
                "documents": dict(rec.documents),
            }
        )
    else:
        for s in rec.logs:
            state = "verified" if s.ok else f"FAULT {s.fault}"
            click.echo(
                f"log {s.party}: {s.size} records, {state}, witnessed up to {s.witnessed_size()}"
            )
            for cp in s.checkpoints:
                if cp.error is not None:
                    click.echo(f"  {s.party} {cp.error}")
        ok = sum(1 for t in rec.transfers if not t.codes)
        click.echo(f"transfers: {len(rec.transfers)} ({ok} reconciled)")
        for d in rec.discrepancies:
            click.echo(f"  [{d.code}] {d.message}")
        if not rec.discrepancies:
            click.echo("no discrepancies")
    if rec.discrepancies or any(cp.error for s in rec.logs for cp in s.checkpoints):
        raise click.exceptions.Exit(1)


@compliance_group.command("report")
@_common
@click.option("-k", "--key", "key_path", required=True, help="Auditor's private key (PEM).")
@click.option("--auditor", required=True, help="Auditor's name, shown in the report.")
@click.option("--half-life", default="P180D", show_default=True, help="Reputation half-life.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Report file (default stdout).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write HTML here.")
@click.option("--strict", is_flag=True, help="Exit 1 unless the verdict is clean.")
@force_option
@format_option("text", "json")
@passphrase_option
def report_cmd(
    *,
    key_path: str,
    auditor: str,
    half_life: str,
    out: str | None,
    html_out: str | None,
    strict: bool,
    fmt: str,
    passphrase_env: str,
    **kwargs: Any,
) -> None:
    """Reconcile, evaluate and write the auditor-signed dta.compliance-report."""
    _check_outputs(out, html_out)
    span = _duration(half_life, "--half-life")
    assert span is not None
    signer = load_signer(key_path, passphrase_env)
    rec = _inputs(**kwargs)
    body = compliance.build_report(
        rec, auditor=auditor, auditor_key=signer.public_key, half_life=span
    )
    doc = compliance.sign_report(body, signer)
    html = compliance.render_html(doc) if html_out is not None else None
    if out is not None or fmt == "json":
        write_doc(doc, out)
    if html is not None:
        write_text(html, html_out)
    if fmt == "text":
        for line in compliance.summarize(doc):
            click.echo(line)
    if strict and body["verdict"] != "clean":
        raise click.exceptions.Exit(1)


@compliance_group.command("verify")
@click.argument("report", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--auditor-key", required=True, help="The auditor's public key you trust.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write HTML here.")
@force_option
@format_option("text", "json")
def verify_cmd(*, report: str, auditor_key: str, html_out: str | None, fmt: str) -> None:
    """Verify a compliance report's signature and schema; optionally render it as HTML."""
    check_output(html_out)
    key = load_public_key(auditor_key)[0]
    doc = read_json_file(report)
    with fail_in(report):
        body = compliance.verify_report(doc, key)
    if html_out is not None:
        write_text(compliance.render_html(doc), html_out)
    if fmt == "json":
        emit_json({"ok": True, "verdict": body["verdict"], "id": body["id"]})
    else:
        click.echo(f"OK: report {body['id']} signed by the auditor key; verdict {body['verdict']}")
