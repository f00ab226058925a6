"""Check a signed transfer manifest against a verified agreement: an explainable decision.

Rules this module enforces (each failure is one :class:`Reason` with a code, a message and the
field or path it concerns; the decision allows the transfer only when there is no reason):

* The agreement must be valid at ``now``; the manifest must not have expired at ``now``.
* The manifest signature is verified with the agreement's keys of the *sender* party only (a key
  of another party or of no party is rejected), to the threshold the agreement's handling rules
  require for the manifest's highest level. Nothing is evaluated on unverified content.
* The manifest is bound to this agreement (id and digest of this exact version).
* Sender and recipient are parties with the provider / recipient roles, not flagged by
  restricted-party screening, and the direction has a ``transfer`` permission.
* The purpose is declared; every constraint of the direction's permission holds (ceiling per
  item and overall, categories, formats, ...); no ``transfer`` prohibition applies.
* No item carries a prohibited or export-controlled category; when the agreement lists allowed
  categories, nothing else is present.
* The classification policy digest matches the one agreed.
* With a ledger: no replay (same id or sequence), no rollback (lower sequence or a ``previous``
  that is not the last accepted manifest's digest), no gap (sequence is last + 1); volume caps
  hold over their rolling window including this manifest.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dta._agreement_model import Agreement, digest_of
from dta._agreement_sign import registry
from dta._decision import Decision, Reason, Reasons, shape_problems
from dta._ledger import Ledger
from dta._policy_eval import Constraint, format_time, parse_time
from dta.errors import AgreementError, Error, UsageError

__all__ = ["Decision", "Reason", "check_manifest"]

_CODES_BY_OPERAND = {
    "level": "ceiling-exceeded",
    "category": "category-not-permitted",
    "fileFormat": "format-not-permitted",
    "purpose": "purpose-not-permitted",
    "dateTime": "outside-permitted-time",
    "count": "count-not-permitted",
    "sender": "party-not-permitted",
    "recipient": "party-not-permitted",
}
_ITEM_OPERANDS = frozenset({"level", "category", "fileFormat"})


def _str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def check_manifest(
    agreement: Agreement,
    manifest_signed: Any,
    *,
    now: datetime | None = None,
    ledger: Ledger | None = None,
) -> Decision:
    """Decide whether a signed manifest is allowed by a verified agreement.

    Args:
        agreement: The verified agreement (:func:`dta.agreement.verify_agreement`).
        manifest_signed: The signed ``dta.manifest`` document.
        now: Time of the check (default: now).
        ledger: The checking party's ledger for sequence and volume checks (None: skipped).

    Returns:
        A :class:`Decision`; the verified body is in ``decision.manifest``.

    Raises:
        UsageError: ``agreement`` is not an Agreement or ``now`` is naive.
    """
    from dta import envelope, schemas

    if not isinstance(agreement, Agreement):
        raise UsageError("check_manifest: agreement must be a verified dta.agreement.Agreement")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise UsageError("now must be timezone-aware")
    out = Reasons()
    if now < agreement.not_before:
        out.add(
            "agreement-not-yet-valid",
            f"agreement is valid from {format_time(agreement.not_before)}",
            "agreement/validity/not_before",
        )
    if now > agreement.not_after:
        out.add(
            "agreement-expired",
            f"agreement expired at {format_time(agreement.not_after)}",
            "agreement/validity/not_after",
        )

    claimed = manifest_signed.get("signed") if isinstance(manifest_signed, Mapping) else None
    if not isinstance(claimed, Mapping) or claimed.get("_type") != "dta.manifest":
        out.add("manifest-malformed", "not a signed dta.manifest document", "_type")
        return out.decision()
    sender = _str(claimed, "sender")
    if agreement.party(sender) is None:
        out.add("sender-not-party", f"sender {sender!r} is not a party of the agreement", "sender")
        return out.decision()
    first = envelope.verify_result(
        manifest_signed,
        registry(agreement, owners={sender}),
        expected_type="dta.manifest",
        now=now,
    )
    if not first.ok or not isinstance(first.signed, dict):
        out.add(
            "signature-invalid",
            f"no valid signature by a key of sender {sender!r}: {first.message}",
            "signatures",
        )
        return out.decision()
    body: dict[str, Any] = first.signed
    digest = digest_of(body)
    try:
        schemas.validate(body)
    except Error as exc:
        out.add("manifest-malformed", str(exc), getattr(exc, "pointer", None))
        return out.decision(body, digest)

    problems = shape_problems(body)
    for field, message in problems:
        out.add("manifest-malformed", message, field)
    if problems:
        return out.decision(body, digest)
    items: list[Mapping[str, Any]] = body["items"]
    _check_levels_and_signatures(agreement, body, items, len(first.valid_keyids), out)
    _check_binding(agreement, body, now, out)
    recipient = _str(body, "recipient")
    if not _check_parties(agreement, sender, recipient, out):
        return out.decision(body, digest)
    _check_permission(agreement, body, items, now, out)
    _check_categories(agreement, body, items, out)
    if ledger is not None:
        _check_sequence(agreement, body, digest, ledger, out)
    _check_volume(agreement, body, ledger, out)
    return out.decision(body, digest)


def _check_levels_and_signatures(
    agreement: Agreement,
    body: Mapping[str, Any],
    items: list[Mapping[str, Any]],
    signatures: int,
    out: Reasons,
) -> None:
    ranks = []
    for field, level in [("level", body.get("level"))] + [
        (f"items/{i}/level", item.get("level")) for i, item in enumerate(items)
    ]:
        rank = agreement.level_rank(level) if isinstance(level, str) else None
        if rank is None:
            out.add("unknown-level", f"level {level!r} is not declared by the agreement", field)
        else:
            ranks.append(rank)
    if not ranks:
        return
    top = agreement.levels[max(ranks)]
    declared = body.get("level")
    if (
        isinstance(declared, str)
        and agreement.level_rank(declared) is not None
        and max(ranks) > (agreement.level_rank(declared) or 0)
    ):
        out.add("level-understated", f"an item is {top!r}, above the declared level", "level")
    needed = agreement.signatures_required[top]
    if signatures < needed:
        out.add(
            "signatures-insufficient",
            f"level {top!r} needs {needed} distinct sender signatures, found {signatures}",
            "signatures",
        )


def _check_binding(
    agreement: Agreement, body: Mapping[str, Any], now: datetime, out: Reasons
) -> None:
    ref = body.get("agreement")
    ref = ref if isinstance(ref, Mapping) else {}
    if ref.get("id") != agreement.id:
        out.add(
            "agreement-mismatch",
            f"manifest is for agreement {ref.get('id')!r}, not {agreement.id}",
            "agreement/id",
        )
    elif ref.get("digest") != agreement.digest or ref.get("version") != agreement.version:
        out.add(
            "agreement-digest-mismatch",
            f"manifest names another version of agreement {agreement.id} "
            f"(version {ref.get('version')!r}, this is {agreement.version})",
            "agreement/digest",
        )
    try:
        expires = parse_time(body.get("expires"), "expires")
        created = parse_time(body.get("created"), "created")
    except AgreementError as exc:
        out.add("manifest-malformed", str(exc), "expires")
        return
    if now > expires:
        out.add("manifest-expired", f"manifest expired at {format_time(expires)}", "expires")
    if created > now + timedelta(minutes=5):
        out.add("manifest-from-future", f"manifest created {format_time(created)}", "created")
    if agreement.policy_digest is not None:
        policy = body.get("policy")
        got = policy.get("digest") if isinstance(policy, Mapping) else None
        if got != agreement.policy_digest:
            out.add(
                "classification-policy-mismatch",
                "manifest was classified with a policy other than the agreed one",
                "policy/digest",
            )


def _check_parties(agreement: Agreement, sender: str, recipient: str, out: Reasons) -> bool:
    ok = True
    sender_party = agreement.party(sender)
    recipient_party = agreement.party(recipient)
    if sender_party is not None and "provider" not in sender_party.roles:
        out.add("sender-not-provider", f"{sender!r} has no provider role", "sender")
        ok = False
    if recipient_party is None:
        out.add("recipient-not-party", f"recipient {recipient!r} is not a party", "recipient")
        ok = False
    elif "recipient" not in recipient_party.roles:
        out.add("recipient-not-recipient", f"{recipient!r} has no recipient role", "recipient")
        ok = False
    for field, party in (("sender", sender), ("recipient", recipient)):
        if party in agreement.restricted_parties:
            out.add(
                "restricted-party",
                f"{party!r} is flagged by restricted-party screening (hard gate)",
                field,
            )
            ok = False
    if ok and agreement.transfer_permission(sender, recipient) is None:
        out.add(
            "direction-not-permitted",
            f"the agreement permits no transfer {sender} -> {recipient}",
            "recipient",
        )
        ok = False
    return ok


def _fail(constraint: Constraint, field: str, out: Reasons, subject: str) -> None:
    out.add(
        _CODES_BY_OPERAND[constraint.left],
        f"{subject} violates the permission constraint {constraint.describe()}",
        field,
    )


def _check_permission(
    agreement: Agreement,
    body: Mapping[str, Any],
    items: list[Mapping[str, Any]],
    now: datetime,
    out: Reasons,
) -> None:
    sender, recipient = _str(body, "sender"), _str(body, "recipient")
    purpose = _str(body, "purpose")
    if purpose not in agreement.purposes:
        out.add("purpose-not-permitted", f"purpose {purpose!r} is not in the agreement", "purpose")
        return
    subjects = body.get("subjects", {})
    context: dict[str, Any] = {
        "purpose": purpose,
        "dateTime": now,
        "sender": sender,
        "recipient": recipient,
        "count": sum(v for v in subjects.values() if isinstance(v, int)),
        "level": agreement.level_rank(_str(body, "level")),
        "category": frozenset(c for c in body.get("categories", []) if isinstance(c, str)),
    }
    sets: dict[tuple[str, ...], frozenset[str]] = {}
    item_values: list[tuple[str, str, dict[str, Any]]] = []
    for i, item in enumerate(items):
        cats = tuple(item.get("categories", []))
        item_values.append(
            (
                f"items/{i}",
                _str(item, "path"),
                {
                    "level": agreement.level_rank(_str(item, "level")),
                    "category": sets.setdefault(cats, frozenset(cats)),
                    "fileFormat": _str(item, "media_type"),
                },
            )
        )

    rule = agreement.transfer_permission(sender, recipient)
    assert rule is not None  # checked by _check_parties
    for constraint in rule.constraints:
        if constraint.left in _ITEM_OPERANDS:
            field_name = {"level": "level", "category": "categories"}.get(
                constraint.left, "media_type"
            )
            memo: dict[Any, bool] = {}  # many items share values: evaluate each value once
            for where, path, values in item_values:
                value = values[constraint.left]
                if values["level"] is None:
                    continue  # reported as unknown-level
                if value not in memo:
                    memo[value] = constraint.evaluate(value)
                if not memo[value]:
                    _fail(constraint, f"{where}/{field_name}", out, f"item {path!r}")
            if (
                constraint.left != "fileFormat"
                and context["level"] is not None
                and not constraint.evaluate(context[constraint.left])
            ):
                _fail(constraint, field_name, out, "the manifest")
        elif not constraint.evaluate(context[constraint.left]):
            _fail(constraint, constraint.left, out, "the manifest")

    for prohibition in agreement.rules["prohibition"]:
        if prohibition.action != "transfer" or prohibition.assignee not in (None, recipient):
            continue
        label = prohibition.uid or prohibition.description or "a transfer prohibition"
        applies: dict[tuple[Any, ...], bool] = {}
        for where, path, values in item_values:
            if values["level"] is None:
                continue
            key = (values["level"], values["category"], values["fileFormat"])
            if key not in applies:
                applies[key] = prohibition.applies(ChainMap(values, context))
            if applies[key]:
                out.add("prohibited-by-rule", f"item {path!r} is prohibited by {label}", where)


def _check_categories(
    agreement: Agreement, body: Mapping[str, Any], items: list[Mapping[str, Any]], out: Reasons
) -> None:
    places = [("categories", "the manifest", body.get("categories", []))]
    places += [
        (f"items/{i}/categories", f"item {_str(item, 'path')!r}", item.get("categories", []))
        for i, item in enumerate(items)
    ]
    places.append(("subjects", "the subject counts", list(body.get("subjects", {}))))
    for field, subject, categories in places:
        for category in categories if isinstance(categories, list) else []:
            if category in agreement.gate_categories:
                out.add(
                    "export-controlled-category",
                    f"{subject} has export-controlled category {category!r} (hard gate)",
                    field,
                )
            elif category in agreement.prohibited_categories:
                out.add(
                    "prohibited-category",
                    f"{subject} has prohibited category {category!r}",
                    field,
                )
            elif agreement.allowed_categories and category not in agreement.allowed_categories:
                out.add(
                    "category-not-allowed",
                    f"{subject} has category {category!r} that the agreement does not allow",
                    field,
                )


def _check_sequence(
    agreement: Agreement,
    body: Mapping[str, Any],
    digest: dict[str, str],
    ledger: Ledger,
    out: Reasons,
) -> None:
    sender, recipient = _str(body, "sender"), _str(body, "recipient")
    sequence, previous = body.get("sequence"), body.get("previous")
    if not isinstance(sequence, int):
        out.add("manifest-malformed", "sequence is not an integer", "sequence")
        return
    state = ledger.channel(agreement.id, sender, recipient)
    if state is None:
        if sequence != 1:
            out.add(
                "sequence-gap",
                f"first manifest on {sender} -> {recipient} must have sequence 1, not {sequence}",
                "sequence",
            )
        elif previous is not None:
            out.add("previous-mismatch", "first manifest must have previous null", "previous")
        return
    if body.get("id") in state.seen or digest == state.digest:
        out.add("replayed-manifest", f"manifest {body.get('id')} was already accepted", "id")
    elif sequence == state.sequence:
        out.add(
            "replayed-manifest",
            f"sequence {sequence} was already accepted on {sender} -> {recipient}",
            "sequence",
        )
    elif sequence < state.sequence:
        out.add(
            "rollback",
            f"sequence {sequence} is below the last accepted {state.sequence}",
            "sequence",
        )
    elif sequence != state.sequence + 1:
        out.add(
            "sequence-gap",
            f"sequence {sequence} skips ahead; expected {state.sequence + 1}",
            "sequence",
        )
    elif previous != state.digest:
        out.add(
            "previous-mismatch",
            "previous is not the digest of the last accepted manifest (rollback or fork)",
            "previous",
        )


def _check_volume(
    agreement: Agreement, body: Mapping[str, Any], ledger: Ledger | None, out: Reasons
) -> None:
    sender, recipient = _str(body, "sender"), _str(body, "recipient")
    subjects = body.get("subjects", {})
    try:
        day = parse_time(body.get("created"), "created").date()
    except AgreementError:
        return  # reported by _check_binding
    for cap in agreement.volume_caps:
        if cap.sender not in (None, sender) or cap.recipient not in (None, recipient):
            continue
        count = subjects.get(cap.category, 0) if isinstance(subjects, Mapping) else 0
        if not isinstance(count, int) or count == 0:
            continue
        before = 0
        if ledger is not None:
            before = ledger.subjects(
                agreement.id,
                cap.category,
                day=day,
                window=cap.window,
                sender=cap.sender,
                recipient=cap.recipient,
            )
        if before + count > cap.max_subjects:
            out.add(
                "volume-cap-exceeded",
                f"{before} + {count} data subjects of {cap.category!r} exceed the cap of "
                f"{cap.max_subjects} per {cap.window.days} days",
                f"subjects/{cap.category}",
            )
