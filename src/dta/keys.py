"""Keys: generation, files, key ids, the Signer protocol and the trusted-key registry.

Rules this module enforces (details in the private implementation modules):

* Schemes: ``ed25519`` (default) and ``ecdsa-p256-sha256`` (DER signatures); a key's scheme must
  match its SPKI algorithm and is fixed by the registry entry at verification time.
* ``keyid`` = lowercase hex SHA-256 of the canonical DER SubjectPublicKeyInfo, recomputed and
  checked whenever a key is read.
* Private keys: PKCS#8 PEM, optionally passphrase-encrypted, created atomically with mode 0600 and
  never overwritten silently; loading refuses group/world-accessible files.
* :class:`Signer` is a protocol, so HSM or KMS signers plug in wherever a local key does.
* :class:`KeyRegistry` maps key id -> key, scheme, owner and validity window; it is the only source
  of trust.
"""

from __future__ import annotations

from dta._keyfile import is_encrypted, load_private, load_public, save_private, save_public
from dta._keys import (
    DEFAULT_SCHEME,
    PUBLIC_KEY_TYPE,
    SCHEMES,
    LocalSigner,
    PublicKey,
    Signer,
    generate,
    keyid_of,
)
from dta._registry import REGISTRY_TYPE, KeyRegistry, RegistryEntry

__all__ = [
    "DEFAULT_SCHEME",
    "PUBLIC_KEY_TYPE",
    "REGISTRY_TYPE",
    "SCHEMES",
    "KeyRegistry",
    "LocalSigner",
    "PublicKey",
    "RegistryEntry",
    "Signer",
    "generate",
    "is_encrypted",
    "keyid_of",
    "load_private",
    "load_public",
    "save_private",
    "save_public",
]
