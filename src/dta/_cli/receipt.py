"""``dta receipt create|verify``.

Rules: ``create`` verifies the agreement (every party, validity at ``--at``), checks the manifest
against it (and the received tree with ``--tree``, and replay/rollback/volume with ``--ledger``),
then signs an accepted or rejected receipt as the recipient; the ledger is updated only for an
accepted manifest. Exit 1 when the receipt is a rejection or verification fails.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any

import click

from dta import agreement as ag
from dta import envelope
from dta import receipt as rc
from dta._cli._common import (
    check_output,
    emit_json,
    fail_in,
    force_option,
    format_option,
    read_json_file,
)
from dta._cli._transfer_common import at_option, parse_at, write_doc
from dta._cli.keys import load_signer, passphrase_option
from dta.errors import Error, UsageError

__all__ = ["receipt"]


@click.group()
def receipt() -> None:
    """Create and verify countersigned receipts."""


@receipt.command("create")
@click.argument("manifest", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--agreement", "agreement_path", required=True, type=click.Path(dir_okay=False))
@click.option("-k", "--key", "key_path", required=True, help="Recipient's private key (PEM).")
@click.option("--tree", type=click.Path(file_okay=False), help="Received directory to check.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False), help="Ledger file.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@at_option
@format_option("text", "json")
@passphrase_option
def create(
    *,
    manifest: str,
    agreement_path: str,
    key_path: str,
    tree: str | None,
    ledger_path: str | None,
    out: str | None,
    at: str | None,
    fmt: str,
    passphrase_env: str,
) -> None:
    """Check MANIFEST as its recipient and write a signed receipt."""
    check_output(out)
    if ledger_path is not None:
        check_output(ledger_path, force=True)  # created on the first accepted manifest
    now = parse_at(at)
    with fail_in(agreement_path):
        model = ag.verify_agreement(read_json_file(agreement_path), now=now)
    doc = read_json_file(manifest)
    signer = load_signer(key_path, passphrase_env)
    recipient = doc.get("signed", {}).get("recipient") if isinstance(doc, dict) else None
    party = model.party(recipient) if isinstance(recipient, str) else None
    if party is None or signer.public_key.keyid not in {k.key.keyid for k in party.keys}:
        raise UsageError(f"{key_path}: not a key of the manifest's recipient party")
    assert isinstance(recipient, str)
    ledger = ag.Ledger.open(ledger_path, create=True) if ledger_path else None
    decision = ag.check_manifest(model, doc, now=now, ledger=ledger)
    tree_check: Any = None
    if tree is not None:
        manifest_module = importlib.import_module("dta.manifest")  # owned by the manifest area
        tree_check = manifest_module.verify_tree(doc, tree)
    body = rc.create_receipt(doc, tree_check, decision, recipient=recipient, now=now)
    signed = envelope.sign(body, signer)
    write_doc(signed, out)
    if body["decision"] == "accepted" and ledger is not None:
        try:
            ledger.record(decision.manifest or doc)
        except Error:
            if out not in (None, "-"):  # no receipt for a manifest the ledger did not take
                with contextlib.suppress(OSError):
                    Path(out).unlink()
            raise
    if fmt == "json" and out not in (None, "-"):
        emit_json({"decision": body["decision"], "discrepancies": body["discrepancies"]})
    elif out not in (None, "-"):
        click.echo(f"{manifest}: {body['decision']}", err=True)
        for item in body["discrepancies"]:
            where = f" at {item['path']}" if "path" in item else ""
            click.echo(f"  {item['code']}{where}: {item['message']}", err=True)
    if body["decision"] != "accepted":
        raise click.exceptions.Exit(1)


@receipt.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--agreement", "agreement_path", required=True, type=click.Path(dir_okay=False))
@click.option("--manifest", "manifest_path", required=True, type=click.Path(dir_okay=False))
@at_option
@format_option("text", "json")
def verify(file: str, agreement_path: str, manifest_path: str, at: str | None, fmt: str) -> None:
    """Verify a receipt: signed by the recipient, naming exactly this manifest and agreement."""
    now = parse_at(at)
    with fail_in(agreement_path):
        model = ag.verify_agreement(read_json_file(agreement_path), now=now)
    with fail_in(file):
        body = rc.verify_receipt(
            read_json_file(file), model, read_json_file(manifest_path), now=now
        )
    if fmt == "json":
        emit_json(
            {
                "ok": True,
                "decision": body["decision"],
                "manifest": body["manifest"],
                "discrepancies": body["discrepancies"],
            }
        )
    else:
        click.echo(f"{file}: OK receipt by {body['recipient']}: {body['decision']}")
