"""``dta dsse export`` and ``dta dsse import``: convert between dta signed documents and DSSE.

Rules: export writes ``payload = base64(canonical_bytes(signed))``; import refuses payload bytes
that are not canonical JSON or whose ``payloadType`` does not match ``_type``. Neither verifies;
use ``dta verify`` (which also accepts DSSE envelopes directly).
"""

from __future__ import annotations

import click

from dta import envelope, keys
from dta._cli._common import check_output, fail_in, force_option, read_json_file
from dta._cli.sign import build_registry, write_output

__all__ = ["dsse"]


@click.group()
def dsse() -> None:
    """Convert signed documents to and from DSSE v1 envelopes."""


@dsse.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@force_option
def export_(file: str, out: str | None) -> None:
    """Export a dta signed document as a DSSE envelope."""
    check_output(out)
    doc = read_json_file(file)
    with fail_in(file):
        env = envelope.to_dsse(doc)
    write_output(env, out)


@dsse.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (default stdout).")
@click.option(
    "-k",
    "--key",
    "key_paths",
    multiple=True,
    help="Public key whose raw r||s ECDSA sigs to convert.",
)
@click.option("--registry", "registry_path", help="Key registry (for raw r||s ECDSA conversion).")
@force_option
def import_(
    file: str, out: str | None, key_paths: tuple[str, ...], registry_path: str | None
) -> None:
    """Import a DSSE envelope carrying a dta document as a dta signed document."""
    check_output(out)
    registry: keys.KeyRegistry | None = None
    if key_paths or registry_path:
        registry = build_registry(key_paths, registry_path)
    env = read_json_file(file)
    with fail_in(file):
        doc = envelope.from_dsse(env, registry=registry)
    write_output(doc, out)
