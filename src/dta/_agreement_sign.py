"""Agreement life cycle: create, verify (every party signs), amend (version + 1, all sign again).

Rules this module enforces:

* An agreement verifies only with a valid signature by at least one key of *every* party
  (``required_owners`` = all party ids), keys taken from the agreement's own key registry with
  their validity windows at ``now``; the returned model is parsed from the verified bytes.
* If the caller pins keys (``trusted``), every party must also have signed with a pinned key of
  that party, so a look-alike agreement listing an attacker's keys does not verify.
* The agreement must be valid at ``now`` (``not_before <= now <= not_after``).
* An amendment keeps the id, has ``version = previous.version + 1`` exactly and ``previous``
  equal to the digest of the amended body, and must be signed by every party of the amended
  version with that version's keys (so a key rotation or a party change is approved by the old
  key holders) as well as by every party of the new version with the new keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dta._agreement_model import AGREEMENT_TYPE, Agreement
from dta._policy_eval import format_time
from dta.errors import AgreementError, SignatureError, UsageError

__all__ = ["amend", "new_agreement", "registry", "verify_agreement", "verify_agreement_result"]


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise UsageError("now must be timezone-aware")
    return now


def registry(agreement: Agreement, *, owners: set[str] | None = None) -> Any:
    """Return the agreement's key registry (``dta.keys.KeyRegistry``), owner = party id.

    Args:
        agreement: The agreement.
        owners: Only include keys of these parties (None: all parties).
    """
    from dta.keys import KeyRegistry

    reg = KeyRegistry()
    for party in agreement.parties:
        if owners is not None and party.id not in owners:
            continue
        for pk in party.keys:
            reg.add(pk.key, party.id, not_before=pk.not_before, not_after=pk.not_after)
    return reg


def _unverified(doc: Any) -> Agreement:
    if not isinstance(doc, Mapping) or "signed" not in doc:
        raise AgreementError("agreement: expected a signed document {signed, signatures}")
    return Agreement.from_dict(doc["signed"])


def verify_agreement_result(
    doc: Any, *, now: datetime | None = None, trusted: Any | None = None
) -> Any:
    """Verify all parties' signatures and return the envelope ``VerifyResult`` (for display).

    Raises:
        AgreementError: The body is not a well-formed agreement.
        SchemaError: The body does not validate against the schema.
    """
    from dta import envelope

    claimed = _unverified(doc)
    parties = [p.id for p in claimed.parties]
    return envelope.verify_result(
        doc,
        registry(claimed) if trusted is None else trusted,
        required_owners=parties,
        expected_type=AGREEMENT_TYPE,
        now=_now(now),
    )


def verify_agreement(
    doc: Any,
    *,
    now: datetime | None = None,
    previous: Any | None = None,
    trusted: Any | None = None,
) -> Agreement:
    """Verify a signed agreement and return the model parsed from the verified bytes.

    Args:
        doc: The signed ``dta.agreement`` document.
        now: The time at which it must be valid (default: now).
        previous: The amended version (signed document or verified :class:`Agreement`); when
            given, the amendment chain rules are checked too.
        trusted: Pinned ``KeyRegistry`` (owner = party id); when given, each party must have
            signed with one of its pinned keys as well.

    Raises:
        AgreementError: Malformed, not valid at ``now``, or not a valid amendment of
            ``previous``.
        SignatureError: A party's signature is missing or invalid.
        SchemaError: The body does not validate against the schema.
    """
    from dta import envelope

    when = _now(now)
    claimed = _unverified(doc)
    parties = [p.id for p in claimed.parties]
    signed = envelope.verify(
        doc,
        registry(claimed),
        required_owners=parties,
        expected_type=AGREEMENT_TYPE,
        now=when,
    )
    agreement = Agreement.from_dict(signed)
    if trusted is not None:
        envelope.verify(
            doc, trusted, required_owners=parties, expected_type=AGREEMENT_TYPE, now=when
        )
    if previous is not None:
        old = previous if isinstance(previous, Agreement) else _unverified(previous)
        _check_amendment(agreement, old)
        try:
            envelope.verify(
                doc,
                registry(old),
                required_owners=[p.id for p in old.parties],
                expected_type=AGREEMENT_TYPE,
                now=when,
            )
        except SignatureError as exc:
            raise AgreementError(
                f"agreement version {agreement.version}: not signed by every party of version "
                f"{old.version} with that version's keys"
            ) from exc
    if when < agreement.not_before:
        raise AgreementError(
            f"agreement {agreement.id}: not yet valid (validity/not_before "
            f"{format_time(agreement.not_before)})"
        )
    if when > agreement.not_after:
        raise AgreementError(
            f"agreement {agreement.id}: expired (validity/not_after "
            f"{format_time(agreement.not_after)})"
        )
    return agreement


def _check_amendment(new: Agreement, old: Agreement) -> None:
    if new.id != old.id:
        raise AgreementError(f"agreement/id: amendment of {old.id} has a different id")
    if new.version != old.version + 1:
        raise AgreementError(
            f"agreement/version: amendment of version {old.version} must be version "
            f"{old.version + 1}, not {new.version}"
        )
    if new.previous != old.digest:
        raise AgreementError(
            f"agreement/previous: does not match the digest of version {old.version}"
        )


def new_agreement(spec: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Build a version-1 agreement body from a spec (everything but the generated fields).

    ``_type``, ``spec_version``, ``id`` (unless given), ``version`` (1), ``previous`` (null) and
    ``created`` (unless given) are filled in; the result is checked like any agreement.

    Raises:
        AgreementError: The spec sets version/previous, or the result is not a valid agreement.
        SchemaError: The result does not validate against the schema.
    """
    if not isinstance(spec, Mapping):
        raise AgreementError("agreement spec: expected a JSON object")
    for member in ("version", "previous", "_type", "spec_version"):
        if member in spec:
            raise AgreementError(f"agreement spec: {member!r} is set by dta, remove it")
    body: dict[str, Any] = {
        "_type": AGREEMENT_TYPE,
        "spec_version": "1.0",
        "id": spec.get("id") or f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "previous": None,
        "created": spec.get("created") or format_time(_now(now)),
    }
    body.update({k: v for k, v in spec.items() if k not in body})
    return Agreement.from_dict(body).to_dict()


def amend(
    previous: Any, changes: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    """Return the body of the next version: ``changes`` replace top-level members.

    Args:
        previous: The amended agreement (signed document or :class:`Agreement`).
        changes: Top-level members to replace (not ``_type``, ``spec_version``, ``id``,
            ``version``, ``previous``).
        now: Creation time of the amendment (default: now).

    Raises:
        AgreementError: ``changes`` touches a generated member, or the result is invalid.
        SchemaError: The result does not validate against the schema.
    """
    old = previous if isinstance(previous, Agreement) else _unverified(previous)
    if not isinstance(changes, Mapping):
        raise AgreementError("amendment: changes must be a JSON object")
    fixed = {"_type", "spec_version", "id", "version", "previous"}
    touched = sorted(fixed & set(changes))
    if touched:
        raise AgreementError(f"amendment: {touched[0]!r} cannot be changed")
    body = old.to_dict()
    body.update(changes)
    body.update(
        version=old.version + 1,
        previous=old.digest,
        created=changes.get("created") or format_time(_now(now)),
    )
    return Agreement.from_dict(body).to_dict()
