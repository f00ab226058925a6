"""``dta demo``: a narrated walk through keygen -> sign -> verify -> validate.

Rules: the demo only uses the public API, writes only inside its working directory (a fresh
temporary directory unless ``--dir`` is given, which must be empty or absent), and exits 1 if any
step does not behave as narrated (so it doubles as a smoke test). Later scenario steps are added
as further functions in ``STEPS``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dta import envelope, keys, schemas
from dta._cli._common import emit_json, format_option
from dta._json import dumps, loads
from dta.errors import SignatureError, UsageError, VerificationError

__all__ = ["STEPS", "DemoContext", "demo"]


class DemoContext:
    """State shared by the demo steps."""

    def __init__(self, workdir: Path, say: Callable[[str], None]) -> None:
        """Start a demo in ``workdir``, narrating with ``say``."""
        self.dir = workdir
        self.say = say
        self.signers: dict[str, keys.LocalSigner] = {}
        self.registry = keys.KeyRegistry()
        self.files: dict[str, str] = {}
        self.now = dt.datetime.now(dt.UTC)

    def write(self, name: str, doc: Any) -> Path:
        """Write a document as pretty JSON and remember it."""
        path = self.dir / name
        path.write_text(dumps(doc) + "\n", encoding="utf-8")
        self.files[name] = str(path)
        return path


def step_keygen(ctx: DemoContext) -> None:
    """Two partners generate keys (Ed25519 and ECDSA P-256)."""
    for owner, scheme in (("org:alice", "ed25519"), ("org:bob", "ecdsa-p256-sha256")):
        signer = keys.generate(scheme)
        name = owner.split(":")[1]
        keys.save_private(ctx.dir / f"{name}.pem", signer)
        keys.save_public(ctx.dir / f"{name}.pub.json", signer.public_key, owner=owner)
        ctx.files[f"{name}.pub.json"] = str(ctx.dir / f"{name}.pub.json")
        ctx.signers[owner] = signer
        ctx.registry.add(signer.public_key, owner)
        ctx.say(
            f"$ dta keygen -o {name}.pem --scheme {scheme} --owner {owner}\n"
            f"  {owner}: keyid {signer.public_key.keyid[:16]}... ({scheme}), private key mode 0600"
        )


def step_sign(ctx: DemoContext) -> None:
    """Both partners sign the shared key registry (their trust list)."""
    body = ctx.registry.to_dict()
    ctx.write("registry.json", body)
    alice, bob = ctx.signers["org:alice"], ctx.signers["org:bob"]
    doc = envelope.add_signature(envelope.sign(body, alice), bob)
    ctx.write("registry.signed.json", doc)
    ctx.say(
        "$ dta sign registry.json -k alice.pem -o registry.signed.json\n"
        "$ dta sign registry.signed.json -k bob.pem -o registry.signed.json\n"
        f"  signed over DSSE PAE(application/vnd.dta.key-registry+json, JCS bytes); "
        f"digest sha256:{envelope.digest(body)['sha256'][:16]}..."
    )


def step_verify(ctx: DemoContext) -> None:
    """Verify with a 2-of-2 threshold, then show that tampering is caught."""
    path = Path(ctx.files["registry.signed.json"])
    doc = loads(path.read_bytes())
    owners = {"org:alice", "org:bob"}
    envelope.verify(doc, ctx.registry, threshold=2, required_owners=owners, now=ctx.now)
    ctx.say(
        "$ dta verify registry.signed.json -k alice.pub.json -k bob.pub.json --threshold 2\n"
        "  verified: signed by org:alice and org:bob"
    )
    doc["signed"]["keys"][0]["owner"] = "org:mallory"
    try:
        envelope.verify(doc, ctx.registry, now=ctx.now)
    except SignatureError as exc:
        detail = envelope.verify_result(doc, ctx.registry, now=ctx.now)
        ctx.say(f"  tampered copy (owner changed): {exc} ({detail.message})")
    else:
        raise VerificationError("demo: a tampered document verified")
    dsse = envelope.to_dsse(envelope.from_dsse(envelope.to_dsse(loads(path.read_bytes()))))
    ctx.write("registry.dsse.json", dsse)
    ctx.say("$ dta dsse export registry.signed.json -o registry.dsse.json  (standard DSSE v1)")


def step_validate(ctx: DemoContext) -> None:
    """Validate every document written so far against the packaged schemas."""
    for name, path in sorted(ctx.files.items()):
        if name.endswith(".dsse.json"):
            continue
        schemas.validate(loads(Path(path).read_bytes()))
    names = " ".join(sorted(n for n in ctx.files if not n.endswith(".dsse.json")))
    ctx.say(f"$ dta validate {names}\n  all valid (JSON Schema 2020-12, packaged with dta)")


STEPS: list[Callable[[DemoContext], None]] = [step_keygen, step_sign, step_verify, step_validate]


@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False),
    help="Work here (must be empty or absent) and keep the files; default: a temporary directory.",
)
@format_option("text", "json")
def demo(workdir: str | None, fmt: str) -> None:
    """Run a narrated demo: keygen -> sign -> verify -> validate."""
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        if fmt == "text":
            click.echo(text)

    def run_in(path: Path) -> None:
        ctx = DemoContext(path, say)
        for number, step in enumerate(STEPS, 1):
            say(f"\n[{number}/{len(STEPS)}] {(step.__doc__ or '').strip()}")
            step(ctx)
        if fmt == "json":
            emit_json({"ok": True, "dir": str(path) if workdir else None, "files": ctx.files})
        else:
            click.echo(f"\nDone. Files in {path}" if workdir else "\nDone.")

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="dta-demo-") as tmp:
            run_in(Path(tmp))
        return
    path = Path(workdir)
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{workdir}: demo directory must be empty")
    path.mkdir(parents=True, exist_ok=True)
    run_in(path)
