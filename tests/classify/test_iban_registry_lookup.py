"""The IBAN registry lookup done once per country equals python-stdnum's per-value validate.

``iban_stdnum_check`` caches stdnum's registry entry, BBAN pattern and country module per
country code; for every registry country, valid and broken values must raise exactly what
``stdnum.iban.validate`` raises (or nothing when it accepts), so findings and their
explanations (which name the exception) do not change.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum import numdb
from stdnum.exceptions import ValidationError

from dta.classify._detectors_financial import iban_mod97, iban_problem, iban_stdnum_check

_DB = numdb.get("iban")
COUNTRIES = sorted(cc for (_, cc, _, props, _) in _DB.prefixes if props)
_PART = re.compile(r"([1-9][0-9]*)!([nac])")
_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHARS = {"n": _DIGITS, "a": _UPPER, "c": _DIGITS + _UPPER}


def outcome(check: object, value: str) -> str:
    """The name of the exception ``check(value)`` raises, or "ok"."""
    try:
        check(value)  # type: ignore[operator]
    except ValidationError as exc:
        return type(exc).__name__
    return "ok"


def with_check_digits(cc: str, bban: str) -> str:
    """``cc`` + the ISO 13616 check digits + ``bban``."""
    return cc + stdnum_iban.calc_check_digits(cc + "00" + bban) + bban


def random_bban(cc: str, rng: random.Random) -> str:
    """A BBAN of country ``cc``'s registry structure, random characters."""
    structure = _DB.info(cc)[0][1].get("bban", "")
    return "".join(
        "".join(rng.choice(_CHARS[kind]) for _ in range(int(count)))
        for count, kind in _PART.findall(structure)
    )


def test_registry_has_countries_and_modules() -> None:
    """The lookup is exercised on the whole registry, including countries with a module."""
    assert len(COUNTRIES) > 80
    assert {"BE", "ES", "NO"} <= set(COUNTRIES)


@pytest.mark.parametrize("cc", COUNTRIES)
def test_every_registry_country_matches_stdnum(cc: str) -> None:
    """Valid-structure values, one character changed, one too long or short, a letter where a
    digit belongs: same exception as stdnum (checksum-valid values only, as in iban_problem)."""
    rng = random.Random(cc)
    for _ in range(40):
        bban = random_bban(cc, rng)
        variants = [bban, bban[:-1], bban + "7", "A" + bban[1:], "1" + bban[1:]]
        k = rng.randrange(len(bban))
        variants.append(bban[:k] + rng.choice(_CHARS["c"]) + bban[k + 1 :])
        for variant in variants:
            value = with_check_digits(cc, variant)
            assert iban_mod97(value)
            assert outcome(iban_stdnum_check, value) == outcome(stdnum_iban.validate, value)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([*COUNTRIES, "XX", "QQ", "AA", "ZZ"]),
    st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=30),
)
def test_any_country_code_and_bban_matches_stdnum(cc: str, bban: str) -> None:
    """Unknown country codes and arbitrary BBANs fail (or pass) exactly as with stdnum."""
    value = with_check_digits(cc, bban)
    assert outcome(iban_stdnum_check, value) == outcome(stdnum_iban.validate, value)


def test_problem_text_names_the_stdnum_exception() -> None:
    """The explanation still carries stdnum's exception name."""
    iban_problem.cache_clear()
    assert iban_problem("GB82WEST12345698765432") == ""
    bad_format = with_check_digits("GB", "WEST1234569876543X")
    assert iban_problem(bad_format) == "IBAN-shaped; InvalidFormat (country length or format)"
    unknown = with_check_digits("XX", "12345678901234")
    assert iban_problem(unknown) == "IBAN-shaped; InvalidComponent (country length or format)"
