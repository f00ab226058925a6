"""RFC 6962/9162 inclusion and consistency vectors (transparency-dev/merkle testdata)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from dta.audit.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from dta.errors import ProofError

# The leaves behind the vectors (see vectors/README.md).
LEAVES_HEX = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOT_OF_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def _b(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in case["proof"] or []]


def _load(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    files = sorted(folder.rglob("*.json"))
    return [(f, json.loads(f.read_text(encoding="utf-8"))) for f in files]


def _outcome(check: Any) -> bool:
    try:
        check()
    except ProofError:
        return True
    return False


def test_merkle_inclusion_vectors_all_cases(vectors: Path) -> None:
    """Every inclusion vector verifies or fails exactly as its wantErr says."""
    cases = _load(vectors / "merkle" / "inclusion")
    assert len(cases) > 80
    wrong = []
    for path, c in cases:
        failed = _outcome(
            lambda c=c: verify_inclusion(
                _b(c["leafHash"]), c["leafIdx"], c["treeSize"], _proof(c), _b(c["root"])
            )
        )
        if failed != c["wantErr"]:
            wrong.append(str(path.relative_to(vectors)))
    assert wrong == []


def test_merkle_consistency_vectors_all_cases(vectors: Path) -> None:
    """Every consistency vector verifies or fails exactly as its wantErr says."""
    cases = _load(vectors / "merkle" / "consistency")
    assert len(cases) > 80
    wrong = []
    for path, c in cases:
        failed = _outcome(
            lambda c=c: verify_consistency(
                c["size1"], c["size2"], _b(c["root1"]), _b(c["root2"]), _proof(c)
            )
        )
        if failed != c["wantErr"]:
            wrong.append(str(path.relative_to(vectors)))
    assert wrong == []


def test_merkle_generated_proofs_match_vector_happy_paths(vectors: Path) -> None:
    """Proofs generated from the README's 8 leaves equal the vectors' happy-path proofs."""
    tree = MemoryTree(leaf_hash(bytes.fromhex(h)) for h in LEAVES_HEX)
    assert tree.root().hex() == ROOT_OF_8
    checked = 0
    for _, c in _load(vectors / "merkle" / "inclusion"):
        if c["desc"] == "happy path" and c["treeSize"] <= 8:
            assert tree.inclusion_proof(c["leafIdx"], c["treeSize"]) == _proof(c)
            assert tree.root(c["treeSize"]) == _b(c["root"])
            checked += 1
    for _, c in _load(vectors / "merkle" / "consistency"):
        if c["desc"] == "happy path" and 0 < c["size1"] <= c["size2"] <= 8:
            assert tree.consistency_proof(c["size1"], c["size2"]) == _proof(c)
            checked += 1
    assert checked >= 8
