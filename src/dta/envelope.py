"""Signed documents (DSSE-compatible) and DSSE envelopes.

A signed document is ``{"signed": {..., "_type": "dta.<kind>", "spec_version": "1.0"},
"signatures": [{"keyid": <hex sha256 of DER SPKI>, "sig": <base64>}]}``; each signature is over
``PAE("application/vnd.dta.<kind>+json", canonical_bytes(signed))``, so it is also a DSSE v1
signature and :func:`to_dsse` / :func:`from_dsse` convert losslessly.

Rules this module enforces (details in the private implementation modules):

* Unknown envelope members, unknown ``_type`` and unknown major ``spec_version`` are rejected
  before any cryptography runs.
* Trust comes only from the :class:`~dta.keys.KeyRegistry`; key ids are hints, the scheme is the
  registry entry's; keys outside their validity window at ``now`` do not count.
* Thresholds and required owners count distinct keys.
* :func:`verify` returns the ``signed`` object parsed from the verified canonical bytes, or raises
  :class:`~dta.errors.SignatureError` with one opaque message; :func:`verify_result` explains.
* DSSE import accepts only canonical payload bytes whose ``payloadType`` matches ``_type``.
"""

from __future__ import annotations

from dta._dsse import from_dsse, to_dsse, verify_dsse, verify_dsse_result
from dta._envelope import add_signature, digest, parse, sign, verify, verify_result
from dta._sigcore import (
    MAX_SIGNATURES,
    OPAQUE_MESSAGE,
    SignatureCheck,
    VerifyResult,
    pae,
    payload_type,
)

__all__ = [
    "MAX_SIGNATURES",
    "OPAQUE_MESSAGE",
    "SignatureCheck",
    "VerifyResult",
    "add_signature",
    "digest",
    "from_dsse",
    "pae",
    "parse",
    "payload_type",
    "sign",
    "to_dsse",
    "verify",
    "verify_dsse",
    "verify_dsse_result",
    "verify_result",
]
