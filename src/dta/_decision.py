"""Decisions: the reasons a manifest is or is not allowed, and a shape check of manifest bodies.

Rules this module enforces:

* A :class:`Decision` allows a transfer exactly when it carries no :class:`Reason`.
* A reason's ``to_dict`` is the receipt discrepancy shape ``{"code", "message", "path"?}``.
* :func:`shape_problems` type-checks every manifest member the agreement check reads, so hostile
  but validly signed bodies give ``manifest-malformed`` reasons instead of crashes, whatever the
  manifest schema allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Decision", "Reason", "Reasons", "shape_problems"]


@attrs.frozen
class Reason:
    """One reason a manifest is not allowed.

    Attributes:
        code: Stable machine-readable code (``agreement-expired``, ``replayed-manifest`` ...).
        message: One readable line.
        field: JSON path inside the manifest body (``items/3/categories``), or None.
    """

    code: str
    message: str
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"code", "message", "path"?}`` (the receipt discrepancy shape)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["path"] = self.field
        return out


@attrs.frozen
class Decision:
    """The outcome of :func:`check_manifest`.

    Attributes:
        allowed: True when there is no reason.
        reasons: Every failure found.
        manifest: The verified manifest body (None when the signature did not verify).
        digest: The manifest digest (None when the signature did not verify).
    """

    allowed: bool
    reasons: tuple[Reason, ...]
    manifest: dict[str, Any] | None = attrs.field(default=None, repr=False, eq=False)
    digest: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "allowed": self.allowed,
            "digest": self.digest,
            "reasons": [r.to_dict() for r in self.reasons],
        }


class Reasons:
    """Collects reasons while checking."""

    def __init__(self) -> None:
        self.items: list[Reason] = []

    def add(self, code: str, message: str, field: str | None = None) -> None:
        self.items.append(Reason(code, message, field))

    def decision(
        self, body: dict[str, Any] | None = None, digest: dict[str, str] | None = None
    ) -> Decision:
        return Decision(not self.items, tuple(self.items), body, digest)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def shape_problems(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Type-check the members the decision reads (independent of the manifest schema)."""
    problems: list[tuple[str, str]] = []
    for name in ("id", "sender", "recipient", "purpose", "created", "expires", "level"):
        if not isinstance(body.get(name), str):
            problems.append((name, f"{name} must be a string"))
    if not isinstance(body.get("agreement"), Mapping):
        problems.append(("agreement", "agreement must be an object {id, version, digest}"))
    sequence = body.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        problems.append(("sequence", "sequence must be an integer >= 1"))
    previous = body.get("previous")
    if previous is not None and not (
        isinstance(previous, Mapping) and isinstance(previous.get("sha256"), str)
    ):
        problems.append(("previous", "previous must be null or a digest {sha256}"))
    if not _is_str_list(body.get("categories", [])):
        problems.append(("categories", "categories must be a list of strings"))
    subjects = body.get("subjects", {})
    if not isinstance(subjects, Mapping) or not all(_is_count(v) for v in subjects.values()):
        problems.append(("subjects", "subjects must map categories to counts"))
    items = body.get("items")
    if not isinstance(items, list):
        return [*problems, ("items", "items must be a list")]
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append((f"items/{i}", "an item must be an object"))
            continue
        for name in ("path", "level"):
            if not isinstance(item.get(name), str):
                problems.append((f"items/{i}/{name}", f"{name} must be a string"))
        if not isinstance(item.get("media_type", ""), str):
            problems.append((f"items/{i}/media_type", "media_type must be a string"))
        if not _is_str_list(item.get("categories", [])):
            problems.append((f"items/{i}/categories", "categories must be a list of strings"))
    return problems
