"""Transfer manifests: build from a directory, check a directory against a manifest.

Rules this module enforces (details in the private implementation modules):

* :mod:`dta._paths`: item paths are relative, ``/``-separated, NFC, free of ``.``/``..``/empty
  segments, backslashes, colons, NUL, control and bidi characters, a leading ``~`` and Windows
  reserved names; NFC and case-fold collisions are rejected.
* :mod:`dta._tree`: symlinks are never followed; FIFOs, sockets and devices are never opened;
  the walk goes through directory descriptors only and never leaves the root.
* :mod:`dta._hashing`: streaming SHA-256 over all cores; a file changed while being hashed is
  reported, never given a digest.
* :mod:`dta._manifest`: the body shape of the ``dta.manifest`` contract, sorted items,
  classification from a report (or an explicit default level).
* :mod:`dta._manifest_verify`: :func:`verify_tree` refuses an unsafe manifest before reading
  the tree and explains every discrepancy with its path.
* :mod:`dta._manifest_io`: :func:`write_canonical` writes ``canonical_bytes(doc)`` in pieces.
"""

from __future__ import annotations

from dta._manifest import DEFAULT_LEVELS, UnsafeTreeError, build_manifest, media_type
from dta._manifest_io import write_canonical
from dta._manifest_verify import Finding, TreeCheck, check_items, verify_tree
from dta._paths import check_path, path_problem
from dta._tree import UnsafeEntry

__all__ = [
    "DEFAULT_LEVELS",
    "Finding",
    "TreeCheck",
    "UnsafeEntry",
    "UnsafeTreeError",
    "build_manifest",
    "check_items",
    "check_path",
    "media_type",
    "path_problem",
    "verify_tree",
    "write_canonical",
]
