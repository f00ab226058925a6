"""``dta agreement new|sign|verify|amend|show``.

Rules: ``sign`` only signs with a key the agreement lists for one of its parties; ``verify``
requires every party's signature, validity at ``--at`` and, with ``--previous``, the amendment
rules; trust can be pinned with ``--key`` public key documents (owner = party id). Exit 1 when
verification fails, 2 on usage or I/O errors.
"""

from __future__ import annotations

from typing import Any

import click

from dta import agreement as ag
from dta import envelope, keys
from dta._cli._common import (
    check_output,
    emit_json,
    fail_in,
    force_option,
    format_option,
    read_json_file,
)
from dta._cli._transfer_common import at_option, parse_at, write_doc
from dta._cli.keys import load_public_key, load_signer, passphrase_option
from dta.errors import AgreementError, UsageError

__all__ = ["agreement"]


@click.group()
def agreement() -> None:
    """Create, sign, verify, amend and show data-transfer agreements."""


def _model(doc: Any, path: str) -> ag.Agreement:
    with fail_in(path):
        if not isinstance(doc, dict):
            raise AgreementError("not a JSON object")
        return ag.Agreement.from_dict(doc.get("signed", doc))


@agreement.command("new")
@click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@at_option
def new(spec: str, out: str | None, at: str | None) -> None:
    """Build a version-1 agreement body from SPEC (JSON without id/version/previous)."""
    check_output(out)
    data = read_json_file(spec)
    with fail_in(spec):
        body = ag.new_agreement(data, now=parse_at(at))
    write_doc(body, out)


@agreement.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-k", "--key", "key_path", required=True, help="Private key file (PEM).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@passphrase_option
def sign(file: str, key_path: str, out: str | None, passphrase_env: str) -> None:
    """Sign FILE (an agreement body or a partly signed agreement) as one of its parties."""
    check_output(out)
    doc = read_json_file(file)
    model = _model(doc, file)
    signer = load_signer(key_path, passphrase_env)
    owner = next(
        (p.id for p in model.parties for k in p.keys if k.key.keyid == signer.public_key.keyid),
        None,
    )
    if owner is None:
        raise UsageError(f"{key_path}: key is not listed for any party of the agreement")
    with fail_in(file):
        existing = doc if "signed" in doc else None
        signed = envelope.sign(model.to_dict(), signer, envelope=existing)
    write_doc(signed, out)
    click.echo(f"signed for party {owner} ({len(signed['signatures'])} signature(s))", err=True)


@agreement.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--previous", type=click.Path(dir_okay=False), help="The version this amends.")
@click.option("-k", "--key", "key_paths", multiple=True, help="Pinned party key (owner = party).")
@at_option
@format_option("text", "json")
def verify(
    file: str, previous: str | None, key_paths: tuple[str, ...], at: str | None, fmt: str
) -> None:
    """Verify FILE: every party signed, valid at --at, and a correct amendment of --previous."""
    doc = read_json_file(file)
    prev = read_json_file(previous) if previous else None
    trusted = None
    if key_paths:
        trusted = keys.KeyRegistry()
        for path in key_paths:
            key, owner = load_public_key(path)
            if owner is None:
                raise UsageError(f"{path}: a pinned key needs an owner (the party id)")
            trusted.add(key, owner)
    with fail_in(file):
        model = ag.verify_agreement(doc, now=parse_at(at), previous=prev, trusted=trusted)
    if fmt == "json":
        emit_json({"ok": True, "id": model.id, "version": model.version, "digest": model.digest})
    else:
        click.echo(f"{file}: OK agreement {model.id} version {model.version}")


@agreement.command("amend")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--changes", required=True, type=click.Path(dir_okay=False), help="JSON object.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
@at_option
def amend(file: str, changes: str, out: str | None, at: str | None) -> None:
    """Write the next version of FILE with top-level members replaced by CHANGES (unsigned)."""
    check_output(out)
    doc = read_json_file(file)
    delta = read_json_file(changes)
    with fail_in(file):
        body = ag.amend(_model(doc, file), delta, now=parse_at(at))
    write_doc(body, out)


def summary(model: ag.Agreement) -> dict[str, Any]:
    """A JSON-ready summary of an agreement for ``show``."""
    directions = [
        {
            "sender": r.assigner,
            "recipient": r.assignee,
            "ceiling": model.ceiling(r.assigner, r.assignee),
        }
        for r in model.rules["permission"]
        if r.action == "transfer" and r.assigner and r.assignee
    ]
    return {
        "id": model.id,
        "version": model.version,
        "digest": model.digest,
        "previous": model.previous,
        "validity": model.to_dict()["validity"],
        "parties": [
            {
                "id": p.id,
                "legal_name": p.legal_name,
                "jurisdiction": p.jurisdiction,
                "roles": sorted(p.roles),
                "keys": [k.key.keyid for k in p.keys],
            }
            for p in model.parties
        ],
        "directions": directions,
        "purposes": sorted(model.purposes),
        "allowed_categories": sorted(model.allowed_categories),
        "prohibited_categories": sorted(model.prohibited_categories),
        "prohibitions": [r.action for r in model.rules["prohibition"]],
        "obligations": [r.to_dict() for r in model.rules["obligation"]],
        "signatures_required": dict(model.signatures_required),
        "volume_caps": model.to_dict().get("volume_caps", []),
        "restricted_parties": sorted(model.restricted_parties),
    }


@agreement.command("show")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@format_option("text", "json", "odrl")
def show(file: str, fmt: str) -> None:
    """Summarise FILE (does not verify signatures; use verify). odrl: ODRL 2.2 JSON-LD rules."""
    model = _model(read_json_file(file), file)
    if fmt == "odrl":
        emit_json(ag.to_odrl(model))
        return
    data = summary(model)
    if fmt == "json":
        emit_json(data)
        return
    click.echo(f"agreement {data['id']} version {data['version']}")
    click.echo(f"  valid {data['validity']['not_before']} .. {data['validity']['not_after']}")
    for p in data["parties"]:
        click.echo(
            f"  party {p['id']}: {p['legal_name']} ({p['jurisdiction']}) {','.join(p['roles'])}"
        )
    for d in data["directions"]:
        click.echo(f"  {d['sender']} -> {d['recipient']}: ceiling {d['ceiling']}")
    click.echo(f"  purposes: {', '.join(data['purposes'])}")
    click.echo(f"  prohibited: {', '.join(data['prohibited_categories']) or '-'}")
    click.echo(f"  prohibitions: {', '.join(data['prohibitions']) or '-'}")
    levels = ", ".join(f"{k}={v}" for k, v in data["signatures_required"].items())
    click.echo(f"  manifest signatures required: {levels}")
