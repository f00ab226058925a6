"""Safe manifest paths (DESIGN.md §4): each rule has a test named after the attack."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta._paths import CollisionIndex, collision_key
from dta.errors import ManifestError
from dta.manifest import check_path, path_problem


@pytest.mark.parametrize(
    "path",
    [
        "a.csv",
        "data/meters/2026-q4.csv",
        "Grüße/日本語.txt",
        "a b/c-d_e+f (1).json",
        ".hidden/.env",
        "x/~tilde-inside",
        "CONSOLE.txt",
        "com10.log",
    ],
)
def test_safe_paths_accepted(path: str) -> None:
    """Ordinary relative paths, including non-ASCII NFC names, are accepted."""
    assert path_problem(path) is None
    assert check_path(path) == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../etc/passwd", "'..' segment"),
        ("a/../../x", "'..' segment"),
        ("a/./b", "'.' segment"),
        ("/etc/passwd", "absolute"),
        ("a\\..\\b", "backslash"),
        ("C:/Windows", "colon"),
        ("a:stream", "colon"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("", "empty"),
        ("~/x", "starts with '~'"),
        ("~root", "starts with '~'"),
        ("invoice\u202eslx.exe", "bidirectional"),
        ("a\u2066b", "bidirectional"),
        ("a\u200fb", "bidirectional"),
        ("a\u2028b", "line separator"),
        ("cafe\u0301.txt", "NFC"),
        ("CON", "reserved"),
        ("dir/nul.txt", "reserved"),
        ("Lpt9.tar.gz", "reserved"),
        ("aux ", "ends in a space"),
        ("com\u00b9", "reserved"),
        ("report.", "ends in a space or dot"),
        ("a/.../b", "ends in a space or dot"),
        ("bad\udcffname", "UTF-8"),
        ("x" * 256, "longer than 255"),
        ("a/" * 2100 + "b", "longer than 4096"),
    ],
)
def test_unsafe_path_rejected_with_reason(path: str, reason: str) -> None:
    """Traversal, absolute, backslash, NUL, bidi, NFD, reserved names... each name the rule."""
    problem = path_problem(path)
    assert problem is not None
    assert reason in problem
    with pytest.raises(ManifestError, match="items/0/path: unsafe path"):
        check_path(path, where="items/0/path")


def test_non_string_path_rejected() -> None:
    """A number or null where a path belongs is rejected, not coerced."""
    assert path_problem(3) == "is not a string"
    assert path_problem(None) == "is not a string"


def test_error_message_escapes_bidi_characters() -> None:
    """The message shows a bidi override escaped so it cannot reorder the log line."""
    with pytest.raises(ManifestError) as info:
        check_path("invoice\u202ecod.exe")
    assert "\u202e" not in str(info.value)
    assert "\\u202e" in str(info.value)


def test_nfc_nfd_duplicates_collide() -> None:
    """Two spellings of the same name (NFC vs NFD) are one path."""
    nfc = unicodedata.normalize("NFC", "café.csv")
    nfd = unicodedata.normalize("NFD", "café.csv")
    assert collision_key(nfc) == collision_key(nfd)
    index = CollisionIndex()
    assert index.add(nfc) is None
    clash = index.add(nfd)
    assert clash is not None
    assert "NFC" in clash


def test_case_only_duplicates_collide() -> None:
    """README.md and readme.md collide (case-insensitive file systems would merge them)."""
    index = CollisionIndex()
    assert index.add("docs/README.md") is None
    clash = index.add("docs/readme.md")
    assert clash is not None
    assert "case folding" in clash


def test_case_fold_collision_beyond_ascii() -> None:
    """Unicode case folding (ß vs SS, Σ/σ/ς) is used, not ASCII lower-casing."""
    index = CollisionIndex()
    assert index.add("STRASSE.txt") is None
    assert index.add("straße.txt") is not None


def test_file_and_directory_with_same_name_collide() -> None:
    """A path used both as a file and as a directory of another path is rejected."""
    index = CollisionIndex()
    assert index.add("a/b") is None
    assert index.add("A") is not None
    other = CollisionIndex()
    assert other.add("x") is None
    assert other.add("X/y") is not None


_SEGMENT = st.text(
    alphabet=st.characters(
        codec="utf-8", categories=("Lu", "Ll", "Lo", "Nd"), exclude_characters="\u00b9\u00b2\u00b3"
    ),
    min_size=1,
    max_size=12,
).map(lambda s: unicodedata.normalize("NFC", s))
_BAD = st.sampled_from(["\\", ":", "\x00", "\x1b", "\u202e", "\u2067", "\n", "\u0085"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=5))
def test_property_letter_paths_accepted(segments: list[str]) -> None:
    """Paths made of NFC letters and digits (not reserved names) are always accepted."""
    path = "/".join("x" + s for s in segments)
    assert path_problem(path) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=4), _BAD, st.integers(0, 100))
def test_property_forbidden_character_anywhere_rejected(
    segments: list[str], bad: str, where: int
) -> None:
    """A forbidden character inserted anywhere makes the path unsafe."""
    path = "/".join("x" + s for s in segments)
    at = where % (len(path) + 1)
    assert path_problem(path[:at] + bad + path[at:]) is not None


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcCoOnNuUlLpPtTxX19/. ~:\\\t", max_size=14))
def test_property_fast_path_agrees_with_reference_rules(path: str) -> None:
    """The regex fast path for ASCII accepts exactly what the rule-by-rule check accepts."""
    from dta._paths import _detailed_problem

    assert (path_problem(path) is None) == (_detailed_problem(path) is None)


def _reference_ok(paths: list[str]) -> bool:
    index = CollisionIndex()
    return all(path_problem(p) is None and index.add(p) is None for p in paths)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="acCoOmMnNlLpPtTuUxX1/. ~:\\\t\n", max_size=8), max_size=6))
def test_property_bulk_check_agrees_with_one_by_one(paths: list[str]) -> None:
    """The bulk check (joined text, one regex) accepts exactly the lists the per-path rules do."""
    from dta._paths import all_safe_and_distinct

    assert all_safe_and_distinct(paths) == _reference_ok(paths)


def test_bulk_check_refers_non_ascii_to_one_by_one() -> None:
    """Non-ASCII lists are never proven in bulk (NFC and case folding need the slow path)."""
    from dta._paths import all_safe_and_distinct

    assert not all_safe_and_distinct(["café", "x"])
    assert all_safe_and_distinct(["a/b", "a/c", "b"])
    assert not all_safe_and_distinct(["a/b", "A"])
    assert not all_safe_and_distinct(["a", "A"])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "a/", "x/y/"]),
    st.text(alphabet="abcCoOnNlLpPtT1. ~:\\\t\u00e9\u202e", min_size=0, max_size=9),
)
def test_property_child_check_agrees_with_full_path(parent: str, name: str) -> None:
    """Checking only the new segment under a safe parent equals checking the whole path."""
    from dta._paths import child_problem

    path = parent + name
    assert (child_problem(path, name, not parent) is None) == (path_problem(path) is None)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["", "a/", "x/y/"]),
    st.lists(st.text(alphabet="abcCoOnNlLpPtTuU1. ~:\\\t\n\u00e9", min_size=1, max_size=8)),
)
def test_property_bulk_name_check_never_more_lenient(parent: str, names: list[str]) -> None:
    """A directory's names are proven safe in bulk only if each one passes the full rules."""
    from dta._paths import plain_names

    if plain_names(parent, names):
        assert all(path_problem(parent + name) is None for name in names)


def test_bulk_name_check_limits() -> None:
    """Bulk name proof covers plain names; long names and a long parent go one by one."""
    from dta._paths import plain_names

    assert plain_names("a/", ["x.csv", "y"])
    assert not plain_names("", ["~x"])
    assert not plain_names("a/", ["n" * 256])
    assert not plain_names("p" * 4000 + "/", ["n" * 100])
    assert not plain_names("a/", ["nul.txt"])
