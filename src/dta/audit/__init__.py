"""Tamper-evident audit logs: hash chain + RFC 9162 Merkle tree, C2SP checkpoints, witnessing."""

from __future__ import annotations

__all__: list[str] = []
