"""The agreement model: a typed, frozen view of a ``dta.agreement`` signed body.

Rules this module enforces (on top of the JSON Schema ``urn:dta:schema:agreement:1``):

* ``to_dict`` returns exactly the body that was parsed (a deep copy), so the document digest never
  changes on a round trip; ``from_dict`` never mutates its input.
* Version 1 has ``previous: null``; every later version names the digest of the version it amends.
* Party ids are unique; roles come from ``provider``, ``recipient``, ``auditor``; a key (by keyid,
  recomputed from its SPKI) belongs to exactly one party; key windows are well ordered.
* The validity window is well ordered; levels, purposes and categories are unique; allowed and
  prohibited categories are disjoint; export-control categories are never allowed.
* Every ``transfer`` permission names a provider as assigner and a recipient as assignee and carries
  exactly one ceiling constraint ``level lteq <level>`` (the classification ceiling of that
  direction); at most one permission per direction.
* ``handling.signatures_required`` gives a threshold of at least one for every level.
* Every rule is compiled by the strict evaluator (:mod:`dta._policy_eval`): unknown actions, left
  operands and operators are rejected here, at load time.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from dta._json import canonical_bytes
from dta._policy_eval import Rule, Vocabulary, compile_rules, parse_duration, parse_time
from dta.errors import AgreementError, Error, SchemaError

__all__ = ["AGREEMENT_TYPE", "ROLES", "Agreement", "Party", "PartyKey", "VolumeCap", "digest_of"]

AGREEMENT_TYPE = "dta.agreement"
ROLES = frozenset({"provider", "recipient", "auditor"})
_URN_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def digest_of(signed: Mapping[str, Any]) -> dict[str, str]:
    """Return the DigestSet ``{"sha256": hex}`` of ``canonical_bytes(signed)``.

    Raises:
        CanonicalError: The body cannot be canonicalised.
    """
    return {"sha256": hashlib.sha256(canonical_bytes(signed)).hexdigest()}


def _digest_set(value: Any, where: str) -> dict[str, str]:
    if (
        not isinstance(value, Mapping)
        or set(value) != {"sha256"}
        or not isinstance(value["sha256"], str)
        or not _HEX64.fullmatch(value["sha256"])
    ):
        raise AgreementError(f"{where}: expected a digest {{'sha256': 64 lowercase hex}}")
    return {"sha256": value["sha256"]}


def _strings(value: Any, where: str, *, unique: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AgreementError(f"{where}: expected a list of non-empty strings")
    if unique and len(set(value)) != len(value):
        raise AgreementError(f"{where}: duplicate entries")
    return tuple(value)


@attrs.frozen
class PartyKey:
    """A party's verification key and its validity window.

    Attributes:
        key: The public key (``dta.keys.PublicKey``).
        not_before: First instant the key may sign, or None.
        not_after: Last instant the key may sign, or None.
    """

    key: Any
    not_before: datetime | None
    not_after: datetime | None


@attrs.frozen
class Party:
    """A party to the agreement.

    Attributes:
        id: Short identifier used everywhere else in the agreement and in manifests.
        legal_name: Registered legal name.
        jurisdiction: ISO 3166 country (or subdivision) code.
        roles: Subset of provider / recipient / auditor.
        keys: Keys that may sign for this party.
    """

    id: str
    legal_name: str
    jurisdiction: str
    roles: frozenset[str]
    keys: tuple[PartyKey, ...]


@attrs.frozen
class VolumeCap:
    """At most ``max_subjects`` distinct data subjects of ``category`` per rolling ``window``.

    Attributes:
        category: Data category the cap counts.
        max_subjects: The cap.
        window: Length of the rolling window.
        sender: Only transfers from this party count (None: any direction).
        recipient: Only transfers to this party count (None: any direction).
    """

    category: str
    max_subjects: int
    window: timedelta
    sender: str | None = None
    recipient: str | None = None


def _parse_key(data: Any, where: str) -> PartyKey:
    from dta.keys import PublicKey

    if not isinstance(data, Mapping):
        raise AgreementError(f"{where}: expected a key object")
    window = {k: data[k] for k in ("not_before", "not_after") if k in data}
    key_part = {k: v for k, v in data.items() if k not in window}
    try:
        key = PublicKey.from_dict(key_part)
    except Error as exc:
        raise AgreementError(f"{where}: {exc}") from exc
    nb = parse_time(window["not_before"], f"{where}/not_before") if "not_before" in window else None
    na = parse_time(window["not_after"], f"{where}/not_after") if "not_after" in window else None
    if nb is not None and na is not None and na <= nb:
        raise AgreementError(f"{where}: not_after must be after not_before")
    return PartyKey(key, nb, na)


def _parse_party(data: Any, where: str) -> Party:
    if not isinstance(data, Mapping):
        raise AgreementError(f"{where}: expected a party object")
    for member in ("id", "legal_name", "jurisdiction"):
        if not isinstance(data.get(member), str) or not data[member]:
            raise AgreementError(f"{where}/{member}: expected a non-empty string")
    roles = _strings(data.get("roles"), f"{where}/roles")
    bad = sorted(set(roles) - ROLES)
    if bad or not roles:
        raise AgreementError(f"{where}/roles: unknown or missing role {bad[:1]}")
    raw_keys = data.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise AgreementError(f"{where}/keys: every party needs at least one key")
    keys = tuple(_parse_key(k, f"{where}/keys/{i}") for i, k in enumerate(raw_keys))
    return Party(data["id"], data["legal_name"], data["jurisdiction"], frozenset(roles), keys)


@attrs.frozen
class Agreement:
    """A parsed, checked agreement body (``signed`` part of a ``dta.agreement`` document).

    Attributes:
        body: The body exactly as parsed (private copy; use :meth:`to_dict`).
        id: ``urn:uuid:`` identifier, stable across amendments.
        version: 1 for the original, +1 per amendment.
        previous: Digest of the amended version, or None for version 1.
        parties: The parties, in document order.
        levels: Classification levels, lowest first.
        not_before: Start of validity.
        not_after: End of validity.
        purposes: Declared purpose ids.
        allowed_categories: Categories that may be transferred (empty: any not prohibited).
        prohibited_categories: Categories that must never be transferred (incl. hard gates).
        gate_categories: Export-control categories (hard gate; never transferable).
        restricted_parties: Parties flagged by restricted-party screening.
        rules: Compiled ODRL-shaped rules by kind (permission / prohibition / obligation).
        signatures_required: Manifest signature threshold per level.
        volume_caps: Volume caps.
        policy_digest: Digest of the classification policy the parties agreed on.
    """

    body: dict[str, Any] = attrs.field(repr=False, eq=False)
    id: str
    version: int
    previous: dict[str, str] | None
    parties: tuple[Party, ...]
    levels: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    purposes: frozenset[str]
    allowed_categories: frozenset[str]
    prohibited_categories: frozenset[str]
    gate_categories: frozenset[str]
    restricted_parties: frozenset[str]
    rules: Mapping[str, tuple[Rule, ...]] = attrs.field(repr=False)
    signatures_required: Mapping[str, int]
    volume_caps: tuple[VolumeCap, ...]
    policy_digest: dict[str, str] | None

    @classmethod
    def from_dict(cls, data: Any) -> Agreement:
        """Parse and check an agreement body (the ``signed`` part; not its signatures).

        Raises:
            SchemaError: The body does not validate against the agreement schema.
            AgreementError: A semantic rule of this module is broken (message names the path).
        """
        from dta import schemas

        if not isinstance(data, Mapping):
            raise AgreementError("agreement: expected a JSON object")
        if data.get("_type") != AGREEMENT_TYPE:
            raise AgreementError(f"agreement: _type must be {AGREEMENT_TYPE!r}")
        schemas.validate(data)
        body = copy.deepcopy(dict(data))
        try:
            return _build(cls, body)
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError) as exc:  # schema let through something odd
            raise AgreementError(f"agreement: malformed ({type(exc).__name__}: {exc})") from exc

    def to_dict(self) -> dict[str, Any]:
        """Return the agreement body exactly as parsed (a fresh deep copy)."""
        return copy.deepcopy(self.body)

    @property
    def digest(self) -> dict[str, str]:
        """DigestSet of this body's canonical bytes."""
        return digest_of(self.body)

    def ref(self) -> dict[str, Any]:
        """Return the reference a manifest carries: ``{"id", "version", "digest"}``."""
        return {"id": self.id, "version": self.version, "digest": self.digest}

    def party(self, party_id: str) -> Party | None:
        """Return the party with this id, or None."""
        return next((p for p in self.parties if p.id == party_id), None)

    def transfer_permission(self, sender: str, recipient: str) -> Rule | None:
        """Return the ``transfer`` permission for ``sender -> recipient``, or None."""
        return next(
            (
                r
                for r in self.rules["permission"]
                if r.action == "transfer" and r.assigner == sender and r.assignee == recipient
            ),
            None,
        )

    def ceiling(self, sender: str, recipient: str) -> str | None:
        """Return the classification ceiling of a direction, or None if it is not permitted."""
        rule = self.transfer_permission(sender, recipient)
        if rule is None:
            return None
        return next(str(c.raw) for c in rule.constraints if c.left == "level")

    def duties(self) -> list[dict[str, Any]]:
        """Every duty (obligations and duties attached to permissions), for compliance tracking.

        Each entry: ``{"action", "assignee", "source", "constraints": [{leftOperand, operator,
        rightOperand}]}`` where ``source`` is ``obligation`` or the permission's uid/action.
        """
        out: list[dict[str, Any]] = []
        for rule in self.rules["obligation"]:
            out.append(_duty(rule, "obligation"))
        for rule in self.rules["permission"]:
            out.extend(_duty(d, rule.uid or rule.action) for d in rule.duties)
        return out

    def level_rank(self, level: str) -> int | None:
        """Return the rank of a level (0 lowest), or None if the agreement does not declare it."""
        return self.levels.index(level) if level in self.levels else None


def _duty(rule: Rule, source: str) -> dict[str, Any]:
    return {
        "action": rule.action,
        "assignee": rule.assignee,
        "source": source,
        "constraints": [c.to_dict() for c in rule.constraints],
    }


def _build(cls: type[Agreement], body: dict[str, Any]) -> Agreement:
    if not isinstance(body.get("id"), str) or not _URN_UUID.fullmatch(body["id"]):
        raise AgreementError("agreement/id: expected urn:uuid:<lowercase uuid>")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise AgreementError("agreement/version: expected an integer >= 1")
    previous = body.get("previous")
    if version == 1 and previous is not None:
        raise AgreementError("agreement/previous: version 1 amends nothing; must be null")
    if version > 1:
        previous = _digest_set(previous, "agreement/previous")
    validity = body["validity"]
    not_before = parse_time(validity.get("not_before"), "agreement/validity/not_before")
    not_after = parse_time(validity.get("not_after"), "agreement/validity/not_after")
    if not_after <= not_before:
        raise AgreementError("agreement/validity: not_after must be after not_before")

    parties = tuple(
        _parse_party(p, f"agreement/parties/{i}") for i, p in enumerate(body["parties"])
    )
    ids = [p.id for p in parties]
    if len(set(ids)) != len(ids):
        raise AgreementError("agreement/parties: duplicate party id")
    seen_keys: set[str] = set()
    for party in parties:
        for pk in party.keys:
            if pk.key.keyid in seen_keys:
                raise AgreementError(
                    f"agreement/parties: key {pk.key.keyid[:16]}... listed more than once"
                )
            seen_keys.add(pk.key.keyid)

    levels = _strings(body["levels"], "agreement/levels")
    purposes = tuple(p["id"] for p in body["purposes"])
    if len(set(purposes)) != len(purposes):
        raise AgreementError("agreement/purposes: duplicate purpose id")
    cats = body["categories"]
    allowed = frozenset(_strings(cats.get("allowed", []), "agreement/categories/allowed"))
    prohibited = frozenset(_strings(cats.get("prohibited", []), "agreement/categories/prohibited"))
    if allowed & prohibited:
        raise AgreementError(
            f"agreement/categories: {sorted(allowed & prohibited)[0]!r} both allowed and prohibited"
        )
    gates = body.get("gates", {})
    export = gates.get("export_control", {})
    gate_cats = frozenset(
        _strings(export.get("prohibited_categories", []), "agreement/gates/export_control")
    )
    if gate_cats & allowed:
        raise AgreementError(
            f"agreement/gates: export-controlled {sorted(gate_cats & allowed)[0]!r} is allowed"
        )
    restricted = set()
    for i, entry in enumerate(gates.get("restricted_parties", [])):
        if entry["party"] not in ids:
            raise AgreementError(f"agreement/gates/restricted_parties/{i}: unknown party")
        if entry["flagged"]:
            restricted.add(entry["party"])

    vocab = Vocabulary(levels, frozenset(ids), frozenset(purposes))
    rules = compile_rules(body["policy"], vocab, "agreement/policy")
    seen: set[tuple[str, str]] = set()
    by_id = {p.id: p for p in parties}
    for i, rule in enumerate(rules["permission"]):
        if rule.action != "transfer":
            continue
        where = f"agreement/policy/permission/{i}"
        if rule.assigner is None or rule.assignee is None:
            raise AgreementError(f"{where}: a transfer permission needs assigner and assignee")
        if "provider" not in by_id[rule.assigner].roles:
            raise AgreementError(f"{where}/assigner: {rule.assigner!r} is not a provider")
        if "recipient" not in by_id[rule.assignee].roles:
            raise AgreementError(f"{where}/assignee: {rule.assignee!r} is not a recipient")
        if (rule.assigner, rule.assignee) in seen:
            raise AgreementError(f"{where}: a second transfer permission for this direction")
        seen.add((rule.assigner, rule.assignee))
        ceilings = [c for c in rule.constraints if c.left == "level"]
        if len(ceilings) != 1 or ceilings[0].operator != "lteq":
            raise AgreementError(
                f"{where}/constraint: exactly one ceiling 'level lteq <level>' is required"
            )

    required = body["handling"]["signatures_required"]
    missing = [lv for lv in levels if lv not in required]
    extra = sorted(set(required) - set(levels))
    if missing or extra:
        raise AgreementError(
            "agreement/handling/signatures_required: "
            + (
                f"no threshold for level {missing[0]!r}"
                if missing
                else f"unknown level {extra[0]!r}"
            )
        )

    caps = []
    for i, cap in enumerate(body.get("volume_caps", [])):
        where = f"agreement/volume_caps/{i}"
        for role in ("sender", "recipient"):
            if role in cap and cap[role] not in ids:
                raise AgreementError(f"{where}/{role}: {cap[role]!r} is not a party")
        if cap["category"] in prohibited | gate_cats:
            raise AgreementError(f"{where}/category: a cap on a prohibited category")
        caps.append(
            VolumeCap(
                cap["category"],
                cap["max_subjects"],
                parse_duration(cap["window"], f"{where}/window"),
                cap.get("sender"),
                cap.get("recipient"),
            )
        )
    for i, bg in enumerate(body.get("ip", {}).get("background", [])):
        if bg["party"] not in ids:
            raise AgreementError(f"agreement/ip/background/{i}/party: unknown party")

    policy = body.get("classification_policy")
    return cls(
        body=body,
        id=body["id"],
        version=version,
        previous=previous,
        parties=parties,
        levels=levels,
        not_before=not_before,
        not_after=not_after,
        purposes=frozenset(purposes),
        allowed_categories=allowed,
        prohibited_categories=prohibited | gate_cats,
        gate_categories=gate_cats,
        restricted_parties=frozenset(restricted),
        rules=rules,
        signatures_required=dict(required),
        volume_caps=tuple(caps),
        policy_digest=None if policy is None else _digest_set(policy["digest"], "policy"),
    )
