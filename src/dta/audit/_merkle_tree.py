"""Streaming root builder and in-memory tree (implementation part of :mod:`dta.audit.merkle`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from dta.audit._merkle import (
    HASH_SIZE,
    Node,
    NodeSource,
    _check_size,
    _perfect,
    consistency_proof,
    fold_peaks,
    inclusion_proof,
    root,
)
from dta.errors import ProofError

__all__ = ["MemoryTree", "RootBuilder"]

_sha256 = hashlib.sha256


class RootBuilder:
    """Streaming Merkle root (a compact range from leaf 0): O(log n) memory.

    ``append`` returns the perfect subtrees completed by that leaf (the leaf itself first, then
    each newly completed parent, bottom-up), so a store can persist them as a node sidecar.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self) -> None:
        """Start an empty tree."""
        self._size = 0
        self._peaks: list[bytes] = []  # hashes of the perfect subtrees, largest first

    @classmethod
    def resume(cls, size: int, src: NodeSource) -> RootBuilder:
        """Continue a tree of ``size`` leaves, loading its O(log size) peaks from ``src``.

        Raises:
            ProofError: ``size`` is not a non-negative integer.
        """
        _check_size(size, "tree size")
        builder = cls()
        start, count = 0, size
        while count:
            k = 1 << (count.bit_length() - 1)
            builder._peaks.append(_perfect(src, start, k))
            start += k
            count -= k
        builder._size = size
        return builder

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def peaks(self) -> list[Node]:
        """The perfect subtrees covering the tree, largest (leftmost) first."""
        out: list[Node] = []
        start, count = 0, self._size
        for h in self._peaks:
            k = 1 << (count.bit_length() - 1)
            level = k.bit_length() - 1
            out.append(Node(level, start >> level, h))
            start += k
            count -= k
        return out

    def append(self, leaf: bytes) -> list[Node]:
        """Add one leaf hash.

        Args:
            leaf: The 32-byte leaf hash.

        Returns:
            The perfect subtrees completed by this leaf, bottom-up (level 0 first).

        Raises:
            ProofError: ``leaf`` is not a 32-byte hash.
        """
        if len(leaf) != HASH_SIZE:
            raise ProofError(f"leaf hash is not a {HASH_SIZE}-byte hash")
        index = self._size
        peaks = self._peaks
        done = [Node(0, index, leaf)]
        h = leaf
        level = 0
        while index & 1:
            h = _sha256(b"\x01" + peaks.pop() + h).digest()
            index >>= 1
            level += 1
            done.append(Node(level, index, h))
        peaks.append(h)
        self._size += 1
        return done

    def add(self, leaf: bytes) -> None:
        """Add one leaf hash without reporting completed subtrees (fast path for verifiers).

        Raises:
            ProofError: ``leaf`` is not a 32-byte hash.
        """
        if len(leaf) != HASH_SIZE:
            raise ProofError(f"leaf hash is not a {HASH_SIZE}-byte hash")
        index = self._size
        self._size = index + 1
        peaks = self._peaks
        while index & 1:
            leaf = _sha256(b"\x01" + peaks.pop() + leaf).digest()
            index >>= 1
        peaks.append(leaf)

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add several leaf hashes (see :meth:`add`).

        Raises:
            ProofError: a leaf is not a 32-byte hash.
        """
        add = self.add
        for leaf in leaves:
            add(leaf)

    def root(self) -> bytes:
        """Root hash of the leaves appended so far (``EMPTY_ROOT`` when empty)."""
        return fold_peaks(self._peaks)


class MemoryTree:
    """An in-memory tree keeping every perfect subtree hash (32 bytes x ~2n): a NodeSource."""

    __slots__ = ("_levels", "_size")

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        """Build a tree from leaf hashes (not leaf data: hash data with :func:`leaf_hash`).

        Raises:
            ProofError: a leaf is not a 32-byte hash.
        """
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaves)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash and return its 0-based index.

        Raises:
            ProofError: ``leaf`` is not a 32-byte hash.
        """
        if len(leaf) != HASH_SIZE:
            raise ProofError(f"leaf hash is not a {HASH_SIZE}-byte hash")
        index = self._size
        self._size = index + 1
        levels = self._levels
        levels[0] += leaf
        i, level, h = index, 0, leaf
        while i & 1:
            data = levels[level]
            h = _sha256(b"\x01" + data[-64:-32] + h).digest()
            i >>= 1
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
        return index

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add several leaf hashes.

        Raises:
            ProofError: a leaf is not a 32-byte hash.
        """
        for leaf in leaves:
            self.append(leaf)

    def perfect(self, level: int, index: int) -> bytes:
        """Hash of a perfect subtree inside the tree (see :class:`NodeSource`).

        Raises:
            ProofError: the subtree is not complete in this tree.
        """
        if level < 0 or index < 0 or level >= len(self._levels):
            raise ProofError(f"subtree ({level}, {index}) is not inside the tree")
        data = self._levels[level]
        off = index * HASH_SIZE
        if off + HASH_SIZE > len(data):
            raise ProofError(f"subtree ({level}, {index}) is not inside the tree")
        return bytes(data[off : off + HASH_SIZE])

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``.

        Raises:
            ProofError: no such leaf.
        """
        return self.perfect(0, index)

    def root(self, size: int | None = None) -> bytes:
        """Root of the whole tree, or of its first ``size`` leaves.

        Raises:
            ProofError: ``size`` exceeds the tree.
        """
        if size is None:
            size = self._size
        self._check_within(size)
        return root(size, self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of ``index`` in the tree (or its first ``size`` leaves).

        Raises:
            ProofError: bad index or size.
        """
        size = self.size if size is None else size
        self._check_within(size)
        return inclusion_proof(index, size, self)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from ``old_size`` to ``new_size`` (default: the whole tree).

        Raises:
            ProofError: bad sizes.
        """
        new_size = self.size if new_size is None else new_size
        self._check_within(new_size)
        return consistency_proof(old_size, new_size, self)

    def _check_within(self, size: int) -> None:
        _check_size(size, "tree size")
        if size > self.size:
            raise ProofError(f"tree size {size} exceeds the {self.size} leaves held")
