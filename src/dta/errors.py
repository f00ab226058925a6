"""Typed errors for every failure dta reports.

Rules this module enforces:

* Every error dta raises on bad input derives from :class:`Error`; nothing else may escape a public
  function on bad input (fuzz tests check this).
* Each error carries ``exit_code``: 1 for "the input is invalid or did not verify", 2 for usage
  and I/O problems. The CLI maps errors to exit codes with this attribute only.
* Messages are one readable line. Where an error has a location (a byte offset, a JSON pointer,
  a log index, a path) it is stored in an attribute *and* named in the message.
* Errors never carry raw sensitive values (detector matches, key material).
"""

from __future__ import annotations

__all__ = [
    "AgreementError",
    "CanonicalError",
    "ClassificationError",
    "ConfigError",
    "Error",
    "InputError",
    "JSONError",
    "KeyMaterialError",
    "ManifestError",
    "PolicyViolation",
    "ProofError",
    "ReceiptError",
    "SchemaError",
    "SignatureError",
    "StorageError",
    "TamperError",
    "TransferStateError",
    "UsageError",
    "VerificationError",
]


class Error(Exception):
    """Base of every dta error.

    Attributes:
        exit_code: CLI exit code (1 invalid input / failed verification, 2 usage or I/O).
    """

    exit_code: int = 1


class UsageError(Error):
    """The caller asked for something impossible (bad option, missing argument, wrong mode)."""

    exit_code = 2


class InputError(Error):
    """A file or stream could not be read or written (missing, unreadable, too large, ...)."""

    exit_code = 2


class ConfigError(Error):
    """A configuration value (durability mode, URL, policy option) is not valid."""

    exit_code = 2


class JSONError(Error):
    """Input is not strict I-JSON as dta accepts it.

    Attributes:
        position: Byte offset (or character offset, for ``str`` input) of the problem, if known.
        pointer: JSON pointer of the offending value, if known.
    """

    def __init__(self, message: str, *, position: int | None = None, pointer: str | None = None):
        where = []
        if position is not None:
            where.append(f"at offset {position}")
        if pointer is not None:
            where.append(f"at {pointer or '/'}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.position = position
        self.pointer = pointer


class CanonicalError(JSONError):
    """Bytes that must be RFC 8785 canonical are not, or a value cannot be canonicalised."""


class SchemaError(Error):
    """A document does not validate against its JSON Schema, or its type/version is unknown.

    Attributes:
        pointer: JSON pointer of the failing part of the document.
    """

    def __init__(self, message: str, *, pointer: str | None = None):
        super().__init__(message if pointer is None else f"{message} (at {pointer or '/'})")
        self.pointer = pointer


class KeyMaterialError(Error):
    """A key could not be generated, loaded, decrypted or does not match its key id."""


class SignatureError(Error):
    """A signed document did not verify. The message is deliberately opaque; see the result."""


class VerificationError(Error):
    """A check over verified data failed (a manifest against files, a proof against a root)."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""


class TamperError(VerificationError):
    """An audit log or stored document was modified, truncated, reordered or forked.

    Attributes:
        index: The first bad record index, if known.
        kind: Short machine-readable kind of fault (``content-modified``, ``fork`` ...).
    """

    def __init__(self, message: str, *, index: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.index = index
        self.kind = kind


class StorageError(Error):
    """A store could not durably read or write (torn tail, lock failure, disk error)."""

    exit_code = 2


class PolicyViolation(Error):
    """An action is not permitted by the agreement or the classification policy."""


class AgreementError(Error):
    """An agreement is malformed, inconsistent, or not valid at the given time."""


class ManifestError(Error):
    """A manifest cannot be built or is malformed (unsafe path, special file, changed file)."""


class ReceiptError(Error):
    """A receipt is malformed or does not match the manifest it names."""


class ClassificationError(Error):
    """A classification policy or scan request is invalid."""


class TransferStateError(Error):
    """An illegal transfer state transition was requested."""
