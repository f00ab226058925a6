"""Classification policy: load, check, digest, and evaluate rules into a level and categories.

Rules this module enforces:

* A policy is a ``dta.classification-policy`` document valid against its JSON Schema; on top of
  the schema, level and category names are unique, every level/category a rule or setting
  names is declared, rule ids are unique, and finding rules name known detector types.
* Levels are ordered lowest first; a file's level is the highest level of any rule that fires
  (``default_level`` when none does); categories are the union of the fired rules' categories.
* A finding rule fires when at least ``min_count`` findings of its type (and variant, if given)
  have at least ``min_likelihood`` (default LIKELY). Path rules match the file's relative POSIX
  path with ``**``-aware globs; column rules match CSV headers / JSON member names compared
  case-insensitively with spaces and hyphens folded to ``_``.
* The policy digest is SHA-256 over :func:`dta.canonical_bytes` of the policy document.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from dta import schemas
from dta._json import canonical_bytes, loads
from dta.classify._engine import DETECTOR_TYPES
from dta.classify._findings import Likelihood, parse_likelihood
from dta.errors import ClassificationError, Error, InputError

__all__ = ["Policy", "Rule", "Verdict", "fold_name", "glob_regex", "load_policy"]

_FOLD = re.compile(r"[\s\-]+")


def fold_name(name: str) -> str:
    """Fold a column or member name for comparison (case, spaces, hyphens)."""
    return _FOLD.sub("_", name.strip().lower())


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a ``**``-aware POSIX path glob (``*`` stays inside one segment)."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


@attrs.frozen
class Rule:
    """One policy rule (exactly one of finding type, path globs, column names)."""

    id: str
    level: str
    categories: tuple[str, ...]
    type: str | None = None
    min_likelihood: Likelihood = Likelihood.LIKELY
    min_count: int = 1
    variants: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()


@attrs.frozen
class Verdict:
    """Outcome of evaluating a policy for one file or column."""

    level: str
    categories: tuple[str, ...]
    rules: tuple[str, ...]


@attrs.frozen
class Policy:
    """A checked classification policy (construct with :meth:`from_dict` or :func:`load_policy`)."""

    document: Mapping[str, Any] = attrs.field(repr=False)
    name: str
    levels: tuple[str, ...]
    rules: tuple[Rule, ...]
    default_level: str
    unscanned_level: str
    report_min_likelihood: Likelihood
    subject_types: frozenset[str]
    digest: str

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Policy:
        """Check a policy document and build the evaluator (the input is not modified).

        Raises:
            SchemaError: The document does not match the policy schema.
            ClassificationError: Not a policy document, or names are duplicated or undeclared.
        """
        kind = doc.get("_type")
        if kind != "dta.classification-policy":
            # schemas.validate checks a document against the schema of its own _type: a valid
            # document of another kind must not get this far.
            raise ClassificationError(
                f"policy: /_type: expected 'dta.classification-policy', got {kind!r}"
            )
        schemas.validate(doc)
        levels = tuple(lv["name"] for lv in doc["levels"])
        cats = [c["name"] for c in doc["categories"]]
        for what, names in (("level", levels), ("category", cats)):
            dup = [n for n, c in Counter(names).items() if c > 1]
            if dup:
                raise ClassificationError(f"policy: duplicate {what} name {dup[0]!r}")
        for key in ("default_level", "unscanned_level"):
            if doc[key] not in levels:
                raise ClassificationError(f"policy: /{key}: undeclared level {doc[key]!r}")
        rules = []
        seen: set[str] = set()
        for i, r in enumerate(doc["rules"]):
            where = f"policy: /rules/{i}"
            if r["id"] in seen:
                raise ClassificationError(f"{where}: duplicate rule id {r['id']!r}")
            seen.add(r["id"])
            if r["level"] not in levels:
                raise ClassificationError(f"{where}/level: undeclared level {r['level']!r}")
            for c in r["categories"]:
                if c not in cats:
                    raise ClassificationError(f"{where}/categories: undeclared category {c!r}")
            finding = r.get("finding")
            if finding is not None and finding["type"] not in DETECTOR_TYPES:
                raise ClassificationError(f"{where}/finding/type: unknown type {finding['type']!r}")
            rules.append(
                Rule(
                    id=r["id"],
                    level=r["level"],
                    categories=tuple(r["categories"]),
                    type=finding["type"] if finding else None,
                    min_likelihood=parse_likelihood(
                        finding.get("min_likelihood", "LIKELY"), where=f"{where}/finding"
                    )
                    if finding
                    else Likelihood.LIKELY,
                    min_count=finding.get("min_count", 1) if finding else 1,
                    variants=tuple(finding.get("variants", ())) if finding else (),
                    paths=tuple(r.get("path", ())),
                    columns=tuple(fold_name(c) for c in r.get("column", ())),
                )
            )
        subject_types = frozenset(doc.get("subject_types", ()))
        unknown = sorted(subject_types - set(DETECTOR_TYPES))
        if unknown:
            raise ClassificationError(f"policy: /subject_types: unknown type {unknown[0]!r}")
        return cls(
            document=loads(canonical_bytes(doc)),
            name=doc["name"],
            levels=levels,
            rules=tuple(rules),
            default_level=doc["default_level"],
            unscanned_level=doc["unscanned_level"],
            report_min_likelihood=parse_likelihood(
                doc.get("report_min_likelihood", "POSSIBLE"), where="policy: /report_min_likelihood"
            ),
            subject_types=subject_types,
            digest=hashlib.sha256(canonical_bytes(doc)).hexdigest(),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a copy of the policy document."""
        result = loads(canonical_bytes(self.document))
        assert isinstance(result, dict)
        return result

    def rank(self, level: str) -> int:
        """Position of ``level`` (0 = lowest)."""
        return self.levels.index(level)

    def max_level(self, levels: Iterable[str]) -> str:
        """Highest of ``levels`` (``levels[0]`` of the policy when empty)."""
        best = self.levels[0]
        for lv in levels:
            if self.rank(lv) > self.rank(best):
                best = lv
        return best

    def level_info(self, level: str) -> Mapping[str, Any]:
        """The level object (name, tlp, handling) of ``level``."""
        for lv in self.document["levels"]:
            if lv["name"] == level:
                return dict(lv)
        raise ClassificationError(f"policy: undeclared level {level!r}")

    def evaluate(
        self,
        counts: Mapping[tuple[str, str, int], int],
        *,
        path: str | None = None,
        columns: Iterable[str] = (),
        default: str | None = None,
    ) -> tuple[Verdict, dict[str, set[str]]]:
        """Apply the rules.

        Args:
            counts: Number of findings per ``(type, variant, likelihood)``.
            path: Relative POSIX path for path rules (None: path rules are skipped).
            columns: Column / member names present (folded here).
            default: Level when no rule fires (the policy's default level if None).

        Returns:
            The verdict and, per finding type, the categories of the rules it fired (used to
            count data subjects).
        """
        folded = {fold_name(c) for c in columns}
        level = default or self.default_level
        cats: set[str] = set()
        fired: list[str] = []
        type_cats: dict[str, set[str]] = {}
        for rule in self.rules:
            if rule.type is not None:
                n = sum(
                    c
                    for (t, v, like), c in counts.items()
                    if t == rule.type
                    and like >= rule.min_likelihood
                    and (not rule.variants or v in rule.variants)
                )
                hit = n >= rule.min_count
                if hit:
                    type_cats.setdefault(rule.type, set()).update(rule.categories)
            elif rule.paths:
                hit = path is not None and any(_glob(p).match(path) for p in rule.paths)
            else:
                hit = any(_col_match(c, folded) for c in rule.columns)
            if hit:
                fired.append(rule.id)
                cats.update(rule.categories)
                if self.rank(rule.level) > self.rank(level):
                    level = rule.level
        return Verdict(level, tuple(sorted(cats)), tuple(fired)), type_cats


_GLOBS: dict[str, re.Pattern[str]] = {}


def _glob(pattern: str) -> re.Pattern[str]:
    found = _GLOBS.get(pattern)
    if found is None:
        found = _GLOBS[pattern] = glob_regex(pattern)
    return found


def _col_match(pattern: str, names: set[str]) -> bool:
    if "*" in pattern or "?" in pattern:
        rx = _glob(pattern)
        return any(rx.match(n) for n in names)
    return pattern in names


def default_policy_bytes() -> bytes:
    """The packaged default policy file's bytes."""
    return resources.files("dta.classify").joinpath("default_policy.json").read_bytes()


_DEFAULT: Policy | None = None


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Load a policy file, or the packaged default policy when ``path`` is None.

    Raises:
        InputError: The file cannot be read.
        JSONError: The file is not strict JSON.
        SchemaError: The document does not match the policy schema.
        ClassificationError: The policy is inconsistent.
    """
    global _DEFAULT
    if path is None:
        if _DEFAULT is None:
            _DEFAULT = Policy.from_dict(loads(default_policy_bytes()))
        return _DEFAULT
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    try:
        doc = loads(data)
    except Error as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ClassificationError(f"{path}: a policy must be a JSON object")
    try:
        return Policy.from_dict(doc)
    except Error as exc:
        raise type(exc)(f"{path}: {exc}") from exc
