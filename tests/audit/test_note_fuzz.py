"""Fuzzing the note, verifier-key, checkpoint and proof-bundle parsers: typed errors only."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from dta import keys
from dta.audit.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from dta.audit.merkle import MemoryTree, leaf_hash
from dta.audit.note import Note, Verifier
from dta.audit.proofbundle import ProofBundle, make_proof_bundle, verify_proof_bundle
from dta.errors import Error

LOG = keys.generate()
TREE = MemoryTree(leaf_hash(b"r%d" % i) for i in range(9))
NOTE = sign_checkpoint(Checkpoint("fuzz.example/log", 9, TREE.root()), LOG)
BUNDLE = make_proof_bundle(4, TREE.inclusion_proof(4), NOTE)

PIECES = st.sampled_from(
    ["\n", "\n\n", "\u2014 ", " ", "+", "=", "A", "index 1", "c2sp.org/tlog-proof@v1", "9", "\x00"]
)
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_note_fuzz_parsers_raise_only_dta_errors(text: str) -> None:
    """Arbitrary text fed to every parser either parses or raises a dta error."""
    for parse in (
        Note.from_text,
        Verifier.from_vkey,
        Checkpoint.from_text,
        ProofBundle.from_text,
        lambda t: verify_checkpoint(t, LOG.public_key),
        lambda t: verify_proof_bundle(t, b"r4", LOG.public_key),
    ):
        with contextlib.suppress(Error):
            parse(text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_note_fuzz_bytes_raise_only_dta_errors(data: bytes) -> None:
    """Arbitrary bytes given as a note or bundle raise a dta error, never anything else."""
    for parse in (Note.from_text, ProofBundle.from_text):
        with contextlib.suppress(Error):
            parse(data)


@settings(max_examples=150, deadline=None)
@given(pos=st.integers(min_value=0), char=st.characters(codec="utf-8"))
def test_note_fuzz_any_edit_of_a_bundle_is_caught(pos: int, char: str) -> None:
    """Replacing any one character of a valid bundle never yields a bundle that verifies."""
    i = pos % len(BUNDLE)
    if BUNDLE[i] == char:
        return
    edited = BUNDLE[:i] + char + BUNDLE[i + 1 :]
    try:
        verify_proof_bundle(edited, b"r4", LOG.public_key)
    except Error:
        return
    raise AssertionError(f"edit at {i} to {char!r} still verified")
