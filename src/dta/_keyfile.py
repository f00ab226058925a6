"""Private and public key files (implementation of :mod:`dta.keys`).

Rules this module enforces:

* Private keys are written as PKCS#8 PEM, optionally encrypted with the passphrase (the best
  encryption ``cryptography`` offers), never in any other format.
* The file is created with mode 0600 from the start (``os.open(..., 0o600)`` on a temporary file in
  the target directory, written, fsynced, then linked into place), so it is never readable by
  others, not even briefly, and a crash never leaves a half-written key under the target name.
* An existing key file is never overwritten unless ``overwrite=True``.
* Loading refuses a private key file that group or others can access (like OpenSSH), keys of other
  algorithms, and an encrypted key without the right passphrase. Errors never include key bytes.
* Passphrases are bytes passed by the caller; the CLI takes them from an environment variable or a
  prompt, never from the command line.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from dta._json import loads
from dta._keys import LocalSigner, PublicKey, Signer
from dta.errors import InputError, JSONError, KeyMaterialError

__all__ = [
    "is_encrypted",
    "load_private",
    "load_public",
    "private_pem",
    "save_private",
    "save_public",
]

_MAX_KEY_FILE = 64 * 1024
_ENCRYPTED_HEADER = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def private_pem(signer: Signer, passphrase: bytes | None = None) -> bytes:
    """Return the PKCS#8 PEM of a :class:`LocalSigner`'s private key.

    Raises:
        KeyMaterialError: The signer holds no exportable private key, or an empty passphrase.
    """
    if not isinstance(signer, LocalSigner):
        raise KeyMaterialError("only a LocalSigner's private key can be saved")
    if passphrase is not None and not passphrase:
        raise KeyMaterialError("empty passphrase; pass None for an unencrypted key")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _write_new(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    """Atomically create ``path`` with ``mode`` holding ``data``."""
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except OSError as exc:
        raise InputError(f"{path}: cannot create file: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise InputError(f"{path}: already exists (refusing to overwrite)") from exc
            os.unlink(tmp)
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        raise InputError(f"{path}: cannot write file: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def save_private(
    path: str | os.PathLike[str],
    signer: Signer,
    passphrase: bytes | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Write a private key as PKCS#8 PEM with mode 0600, atomically.

    Args:
        path: Target file; must not exist unless ``overwrite``.
        signer: A :class:`LocalSigner`.
        passphrase: Encrypt the key with this passphrase (``None``: unencrypted).
        overwrite: Replace an existing file.

    Raises:
        KeyMaterialError: The signer's key cannot be exported.
        InputError: The file exists (without ``overwrite``) or cannot be written.
    """
    _write_new(Path(path), private_pem(signer, passphrase), 0o600, overwrite=overwrite)


def save_public(
    path: str | os.PathLike[str],
    key: PublicKey,
    *,
    owner: str | None = None,
    overwrite: bool = False,
) -> None:
    """Write a ``dta.public-key`` JSON document (mode 0644), atomically.

    Raises:
        InputError: The file exists (without ``overwrite``) or cannot be written.
    """
    from dta._json import dumps

    data = (dumps(key.to_document(owner)) + "\n").encode("utf-8")
    _write_new(Path(path), data, 0o644, overwrite=overwrite)


def _read_key_file(path: Path, *, check_permissions: bool) -> bytes:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: not a regular file")
        if check_permissions and os.name == "posix" and st.st_mode & 0o077:
            raise KeyMaterialError(
                f"{path}: permissions {stat.S_IMODE(st.st_mode):04o} are too open for a private "
                "key; run chmod 600"
            )
        with path.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    if len(data) > _MAX_KEY_FILE:
        raise KeyMaterialError(f"{path}: too large for a key file")
    return data


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    """Return whether a PEM private key file is passphrase-encrypted.

    Raises:
        InputError: The file cannot be read.
    """
    data = _read_key_file(Path(path), check_permissions=False)
    return _ENCRYPTED_HEADER in data


def load_private(
    path: str | os.PathLike[str],
    passphrase: bytes | None = None,
    *,
    check_permissions: bool = True,
) -> LocalSigner:
    """Load a PKCS#8 (or traditional) PEM private key into a :class:`LocalSigner`.

    Args:
        path: The key file.
        passphrase: Passphrase of an encrypted key.
        check_permissions: Refuse a file that group/others can access (POSIX).

    Raises:
        InputError: The file cannot be read.
        KeyMaterialError: Too-open permissions, not a PEM private key, wrong or missing
            passphrase, or an unsupported algorithm.
    """
    p = Path(path)
    data = _read_key_file(p, check_permissions=False)
    if b"PRIVATE KEY-----" not in data:
        raise KeyMaterialError(f"{p}: not a PEM private key")
    if check_permissions:
        _read_key_file(p, check_permissions=True)
    encrypted = _ENCRYPTED_HEADER in data
    if encrypted and not passphrase:
        raise KeyMaterialError(f"{p}: private key is encrypted; a passphrase is required")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except TypeError as exc:
        raise KeyMaterialError(f"{p}: passphrase given but the key is not encrypted") from exc
    except ValueError as exc:
        reason = "wrong passphrase or corrupt key" if encrypted else "not a PEM private key"
        raise KeyMaterialError(f"{p}: {reason}") from exc
    except UnsupportedAlgorithm as exc:
        raise KeyMaterialError(f"{p}: cannot load private key ({type(exc).__name__})") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError(f"{p}: unsupported key type {type(key).__name__}")
    try:
        return LocalSigner(key)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{p}: {exc}") from exc


def load_public(path: str | os.PathLike[str]) -> tuple[PublicKey, str | None]:
    """Load a ``dta.public-key`` JSON document, a bare key object, or a PEM SPKI public key.

    Returns:
        The key (key id re-checked) and the document's ``owner``, if any.

    Raises:
        InputError: The file cannot be read.
        KeyMaterialError: The file is not a valid public key.
    """
    p = Path(path)
    data = _read_key_file(p, check_permissions=False)
    if data.lstrip().startswith(b"-----BEGIN PUBLIC KEY-----"):
        try:
            crypto_key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyMaterialError(f"{p}: not a valid PEM public key") from exc
        try:
            return PublicKey.from_crypto(crypto_key), None
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"{p}: {exc}") from exc
    try:
        doc = loads(data)
    except JSONError as exc:
        raise KeyMaterialError(f"{p}: {exc}") from exc
    try:
        key = PublicKey.from_dict(doc)
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"{p}: {exc}") from exc
    owner = doc.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise KeyMaterialError(f"{p}: owner must be a string")
    return key, owner
