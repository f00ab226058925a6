"""tlog-proof@v1 bundles: exact text form and offline verification with only the log key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from dta import keys
from dta.audit.checkpoint import (
    Checkpoint,
    add_cosignatures,
    cosign,
    cosigner_verifier,
    sign_checkpoint,
)
from dta.audit.merkle import MemoryTree, leaf_hash
from dta.audit.proofbundle import ProofBundle, make_proof_bundle, verify_proof_bundle
from dta.errors import ProofError, SignatureError

LOG = keys.generate()
WIT = keys.generate()
ORIGIN = "partner-a.example/audit"
RECORDS = [b'{"index":%d,"action":"transfer.sent"}' % i for i in range(13)]
TREE = MemoryTree(leaf_hash(r) for r in RECORDS)
NOTE = sign_checkpoint(Checkpoint(ORIGIN, TREE.size, TREE.root()), LOG)
T = datetime(2026, 11, 28, 12, tzinfo=UTC)
WV = cosigner_verifier(WIT.public_key, "partner-b.example/witness")
COSIGNED = add_cosignatures(NOTE, [cosign(NOTE, WIT, WV.name, now=T)])


def _bundle(index: int = 5, note: str = NOTE, extra: bytes | None = None) -> str:
    return make_proof_bundle(index, TREE.inclusion_proof(index), note, extra=extra)


def test_proofbundle_text_layout_follows_spec() -> None:
    """Header, optional extra line, index line, base64 proof lines, blank line, checkpoint."""
    text = _bundle(5, extra=b"ctx")
    proof = TREE.inclusion_proof(5)
    want = (
        "c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 5\n"
        + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        + "\n"
        + NOTE
    )
    assert text == want
    assert ProofBundle.from_text(text) == ProofBundle(5, tuple(proof), NOTE, b"ctx")


def test_proofbundle_verifies_offline_for_every_record() -> None:
    """Each record's bundle verifies with only the bundle, the record line and the log key."""
    for i, record in enumerate(RECORDS):
        result = verify_proof_bundle(_bundle(i), record + b"\n", LOG.public_key, origin=ORIGIN)
        assert result.index == i
        assert result.checkpoint.size == len(RECORDS)


def test_proofbundle_modified_record_rejected() -> None:
    """A record changed by one byte does not verify against the bundle."""
    with pytest.raises(ProofError):
        verify_proof_bundle(_bundle(5), RECORDS[5].replace(b"sent", b"sEnt"), LOG.public_key)


def test_proofbundle_other_record_at_claimed_index_rejected() -> None:
    """A bundle for record 5 does not prove record 6."""
    with pytest.raises(ProofError):
        verify_proof_bundle(_bundle(5), RECORDS[6], LOG.public_key)


def test_proofbundle_index_changed_rejected() -> None:
    """Editing the index line breaks the proof."""
    text = _bundle(4).replace("index 4\n", "index 5\n")
    with pytest.raises(ProofError):
        verify_proof_bundle(text, RECORDS[4], LOG.public_key)


def test_proofbundle_forged_checkpoint_rejected() -> None:
    """A bundle whose checkpoint is signed by another key is rejected."""
    forged = sign_checkpoint(Checkpoint(ORIGIN, TREE.size, TREE.root()), keys.generate())
    with pytest.raises(SignatureError):
        verify_proof_bundle(_bundle(3, note=forged), RECORDS[3], LOG.public_key)


def test_proofbundle_witness_cosignature_required_when_witness_given() -> None:
    """With a witness key given, a bundle without its cosignature fails; with it, passes."""
    with pytest.raises(SignatureError):
        verify_proof_bundle(_bundle(2), RECORDS[2], LOG.public_key, witnesses=[WV])
    result = verify_proof_bundle(
        _bundle(2, note=COSIGNED), RECORDS[2], LOG.public_key, witnesses=[WV]
    )
    assert [c.name for c in result.cosignatures] == [WV.name]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
        lambda t: t.replace("index 5", "index 05"),
        lambda t: t.replace("index 5", "index  5"),
        lambda t: t.replace("index 5\n", ""),
        lambda t: t.replace("\n\n", "\n", 1),
        lambda t: t.replace("index 5\n", "index 5\nAAAA\n"),
        lambda t: t.replace("index 5\n", "index 5\nnot base64!\n"),
        lambda t: t.replace("index 5\n", "index 5\n\n"),
        lambda t: t.split("\n\n")[0] + "\n\n",
    ],
)
def test_proofbundle_malformed_text_rejected(mutate: object) -> None:
    """Wrong header, index with leading zero, missing index, bad hashes or checkpoint: rejected."""
    assert callable(mutate)
    with pytest.raises((ProofError, SignatureError)):
        verify_proof_bundle(mutate(_bundle(5)), RECORDS[5], LOG.public_key)


def test_proofbundle_extra_or_dropped_proof_line_rejected() -> None:
    """A bundle with a proof hash added or removed fails the exact-length check."""
    lines = _bundle(5).split("\n")
    dropped = "\n".join(lines[:3] + lines[4:])
    added = "\n".join([*lines[:3], lines[3], *lines[3:]])
    for text in (dropped, added):
        with pytest.raises(ProofError):
            verify_proof_bundle(text, RECORDS[5], LOG.public_key)


def test_proofbundle_make_refuses_wrong_proof_length() -> None:
    """make_proof_bundle refuses a proof that cannot fit the index and tree size."""
    with pytest.raises(ProofError):
        make_proof_bundle(5, TREE.inclusion_proof(5)[:-1], NOTE)
