"""Bilateral data-transfer agreements: model, signatures, amendments, manifest checks, ledger.

Rules this module enforces (details in the private modules it re-exports):

* An agreement is a schema'd ``dta.agreement`` body signed by *every* party; it is verified with
  its own key registry (each party's keys with their validity windows) and must be valid at the
  given time (:func:`verify_agreement`).
* An amendment keeps the id, increases the version by exactly one, names the digest of the
  version it amends in ``previous``, and is signed by every party of both versions.
* Rules are ODRL-shaped (permission / prohibition / obligation with typed constraints) and are
  compiled by a strict evaluator: an unknown action, operand or operator is an
  :class:`~dta.errors.AgreementError` at load time.
* :func:`check_manifest` returns a :class:`Decision` with one :class:`Reason` per failure
  (validity, signature and threshold, binding, parties, purpose, ceiling, categories, policy,
  replay / rollback against the :class:`Ledger`, volume caps).
"""

from __future__ import annotations

from dta._agreement_check import Decision, Reason, check_manifest
from dta._agreement_model import AGREEMENT_TYPE, ROLES, Agreement, Party, PartyKey, VolumeCap
from dta._agreement_model import digest_of as digest
from dta._agreement_sign import (
    amend,
    new_agreement,
    registry,
    verify_agreement,
    verify_agreement_result,
)
from dta._ledger import ChannelState, Ledger
from dta._odrl import to_odrl
from dta._policy_eval import ACTIONS, OPERANDS, OPERATORS, Constraint, Rule

__all__ = [
    "ACTIONS",
    "AGREEMENT_TYPE",
    "OPERANDS",
    "OPERATORS",
    "ROLES",
    "Agreement",
    "ChannelState",
    "Constraint",
    "Decision",
    "Ledger",
    "Party",
    "PartyKey",
    "Reason",
    "Rule",
    "VolumeCap",
    "amend",
    "check_manifest",
    "digest",
    "new_agreement",
    "registry",
    "to_odrl",
    "verify_agreement",
    "verify_agreement_result",
]
