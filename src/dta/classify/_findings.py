"""Finding model shared by every detector: likelihood scale, validator outcomes, one raw hit.

Rules this module enforces:

* Likelihood is an ordered five-step scale (``VERY_UNLIKELY`` .. ``VERY_LIKELY``); policies and
  thresholds compare by order, never by name.
* A hit whose checksum or structural rule failed carries ``validator="invalid"`` and a likelihood
  of at most ``UNLIKELY`` (:func:`cap_invalid`); nothing with a failed checksum reaches ``LIKELY``.
* A :class:`Hit` holds the normalised value only so the report layer can fingerprint it; it never
  leaves the package (reports carry the keyed fingerprint instead).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from dta.errors import ClassificationError

__all__ = [
    "VALIDATOR_OUTCOMES",
    "Hit",
    "Likelihood",
    "cap_invalid",
    "parse_likelihood",
]


class Likelihood(enum.IntEnum):
    """How sure a detector is that a match is the identifier it names."""

    VERY_UNLIKELY = 1
    UNLIKELY = 2
    POSSIBLE = 3
    LIKELY = 4
    VERY_LIKELY = 5


# valid: a checksum or registry check passed; rule: structural rules passed (no checksum exists);
# invalid: a checksum/rule failed; none: pattern only.
VALIDATOR_OUTCOMES = ("valid", "rule", "invalid", "none")


class Hit(NamedTuple):
    """One detector match inside a scanned text (character offsets into that text)."""

    start: int
    end: int
    type: str
    likelihood: Likelihood
    validator: str
    explanation: str
    norm: str
    variant: str = ""


def cap_invalid(likelihood: Likelihood) -> Likelihood:
    """Clamp a likelihood to at most ``UNLIKELY`` (used for checksum failures)."""
    return min(likelihood, Likelihood.UNLIKELY)


def parse_likelihood(name: object, *, where: str = "likelihood") -> Likelihood:
    """Return the :class:`Likelihood` called ``name``.

    Raises:
        ClassificationError: ``name`` is not one of the five likelihood names.
    """
    if isinstance(name, str) and name in Likelihood.__members__:
        return Likelihood[name]
    names = ", ".join(Likelihood.__members__)
    raise ClassificationError(f"{where}: {name!r} is not a likelihood ({names})")


# Members by value (index 0 unused): a tuple index is far cheaper than calling the enum class.
BY_VALUE: tuple[Likelihood, ...] = (Likelihood.VERY_UNLIKELY, *Likelihood)


def step(likelihood: Likelihood, delta: int) -> Likelihood:
    """Move ``likelihood`` by ``delta`` steps, clamped to the scale."""
    return BY_VALUE[max(1, min(5, int(likelihood) + delta))]
