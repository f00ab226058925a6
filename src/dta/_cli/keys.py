"""``dta keygen`` and ``dta pubkey``, plus key loading shared by the signing commands.

Rules: passphrases come from an environment variable (``--passphrase-env``, default
``DTA_KEY_PASSPHRASE``) or an interactive prompt, never from the command line; private keys are
written with mode 0600 and never overwritten without ``--force``. ``keygen`` checks both output
paths before it writes either, and removes the new private key if the public key document then
cannot be written, so it never leaves half a key pair behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from dta import keys, schemas
from dta._cli._common import check_output, emit_json, fail_in, format_option, read_bytes
from dta._json import dumps
from dta.errors import SchemaError, UsageError

__all__ = ["keygen", "load_public_key", "load_signer", "passphrase_option", "pubkey"]

DEFAULT_PASSPHRASE_ENV = "DTA_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


def passphrase_option(fn: Any) -> Any:
    """Add ``--passphrase-env NAME`` (the variable holding a key passphrase)."""
    return click.option(
        "--passphrase-env",
        default=DEFAULT_PASSPHRASE_ENV,
        show_default=True,
        metavar="NAME",
        help="Environment variable holding the key passphrase (prompted for if unset on a tty).",
    )(fn)


def _passphrase(env_name: str, *, confirm: bool, path: str) -> bytes:
    value = os.environ.get(env_name)
    if value:
        return value.encode("utf-8")
    if sys.stdin.isatty():
        text = click.prompt(
            f"Passphrase for {path}", hide_input=True, confirmation_prompt=confirm, err=True
        )
        if text:
            return str(text).encode("utf-8")
    raise UsageError(f"{path}: passphrase needed; set {env_name} or run on a terminal")


def load_signer(path: str, passphrase_env: str = DEFAULT_PASSPHRASE_ENV) -> keys.LocalSigner:
    """Load a private key file, asking for its passphrase only if it is encrypted.

    Raises:
        InputError: The file cannot be read.
        KeyMaterialError: Not a usable private key (message names the file).
        UsageError: Encrypted and no passphrase is available.
    """
    passphrase = None
    if keys.is_encrypted(path):
        passphrase = _passphrase(passphrase_env, confirm=False, path=path)
    return keys.load_private(path, passphrase)


def load_public_key(
    path: str, passphrase_env: str = DEFAULT_PASSPHRASE_ENV
) -> tuple[keys.PublicKey, str | None]:
    """Load a public key document, or the public half of a private key file.

    Returns:
        The key and the owner named in the document (``None`` for a private key file).

    Raises:
        InputError: The file cannot be read.
        KeyMaterialError: Neither a valid public key document nor a private key.
    """
    with fail_in(path):
        if b"PRIVATE KEY-----" in read_bytes(path):
            return load_signer(path, passphrase_env).public_key, None
        return keys.load_public(path)


def _check_document(key: keys.PublicKey, owner: str | None) -> None:
    """Refuse to write a public key document that would not validate (e.g. an empty owner)."""
    try:
        schemas.validate(key.to_document(owner))
    except SchemaError as exc:
        raise UsageError(f"--owner {owner!r}: not a valid owner ({exc})") from exc


def _default_public_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".pem") + ".pub.json")


@click.command()
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Private key file to create (PKCS#8 PEM, mode 0600).",
)
@click.option(
    "--scheme",
    type=click.Choice(keys.SCHEMES),
    default=keys.DEFAULT_SCHEME,
    show_default=True,
    help="Signature scheme.",
)
@click.option("--owner", help="Party id recorded in the public key document.")
@click.option(
    "--public",
    "public_path",
    type=click.Path(dir_okay=False),
    help="Public key document to write (default: OUT with .pub.json).",
)
@click.option("--encrypt", is_flag=True, help="Encrypt the private key with a passphrase.")
@passphrase_option
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@format_option("text", "json")
def keygen(
    *,
    out: str,
    scheme: str,
    owner: str | None,
    public_path: str | None,
    encrypt: bool,
    passphrase_env: str,
    force: bool,
    fmt: str,
) -> None:
    """Generate a key pair: a private key file and a public key document."""
    public = Path(public_path) if public_path else _default_public_path(Path(out))
    if Path(out).resolve() == public.resolve():
        raise UsageError(f"{out}: private and public key paths must differ")
    check_output(out, force=force)
    check_output(public, force=force)
    passphrase = _passphrase(passphrase_env, confirm=True, path=out) if encrypt else None
    signer = keys.generate(scheme)
    _check_document(signer.public_key, owner)
    existed = os.path.lexists(out)
    with fail_in(out):
        keys.save_private(out, signer, passphrase, overwrite=force)
    try:
        with fail_in(public):
            keys.save_public(public, signer.public_key, owner=owner, overwrite=force)
    except BaseException:
        if not existed:  # never leave a private key without its public document
            with contextlib.suppress(OSError):
                os.unlink(out)
        raise
    info = {
        "private_key": str(out),
        "public_key": str(public),
        "keyid": signer.public_key.keyid,
        "scheme": scheme,
        "owner": owner,
        "encrypted": passphrase is not None,
    }
    if fmt == "json":
        emit_json(info)
        return
    state = "encrypted, " if passphrase else ""
    click.echo(f"wrote {out} ({state}mode 0600) and {public}")
    click.echo(f"keyid {signer.public_key.keyid} ({scheme})")


@click.command()
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--owner", help="Party id to record in the document.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
@passphrase_option
@format_option("json", "text")
def pubkey(
    *,
    key_file: str,
    owner: str | None,
    out: str | None,
    force: bool,
    passphrase_env: str,
    fmt: str,
) -> None:
    """Print the public key document of a private key (or re-check a public key document)."""
    check_output(out, force=force)
    key, doc_owner = load_public_key(key_file, passphrase_env)
    owner = doc_owner if owner is None else owner
    _check_document(key, owner)
    if out is not None:
        with fail_in(out):
            keys.save_public(out, key, owner=owner, overwrite=force)
    if fmt == "text":
        click.echo(f"keyid {key.keyid} ({key.scheme}){f' owner {owner}' if owner else ''}")
    elif out is None:
        click.echo(dumps(key.to_document(owner)))
