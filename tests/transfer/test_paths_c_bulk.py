"""The C bulk path check (``_speedups.paths_safe_distinct``, ADR 0102) proves exactly what the
Python bulk check proves: on hostile and random path sets both say the same, so a set the C
check accepts is one the reference rules accept (unsafe names, Windows device names, case-only
duplicates and a path that is also a directory of another are never let through)."""

from __future__ import annotations

import random

import pytest

from dta import _paths
from dta._paths import (
    CollisionIndex,
    _py_all_safe_and_distinct,
    all_safe_and_distinct,
    path_problem,
)

_speedups = pytest.importorskip("dta._speedups")
if not hasattr(_speedups, "paths_safe_distinct"):
    pytest.skip("dta._speedups was built without paths_safe_distinct", allow_module_level=True)

c_check = _speedups.paths_safe_distinct


def _reference(paths: list[str]) -> bool:
    """The one-by-one rules: every path safe and no collision."""
    index = CollisionIndex()
    return all(path_problem(p) is None and index.add(p) is None for p in paths)


REFUSED = [
    [""],
    ["/abs"],
    ["a//b"],
    ["a/"],
    ["a/./b"],
    ["a/../b"],
    [".."],
    ["~home/x"],
    ["a\\b"],
    ["c:x"],
    ["a\nb"],
    ["a\x00b"],
    ["a\tb"],
    ["a\x7fb"],
    ["caf\u00e9"],
    ["a\u202eb"],
    ["x" * 256],
    ["seg. /x"],
    ["seg /x"],
    ["end."],
    ["end "],
    ["CON"],
    ["dir/con"],
    ["dir/Nul.txt"],
    ["dir/aux  .txt"],
    ["lpt1/x"],
    ["COM9"],
    ["prn /x"],
    ["a", "A"],
    ["Dir/x", "dir/X"],
    ["d", "d/x"],
    ["x/D/y", "x/d"],
    ["a/b/c", "A/B"],
    ["same", "same"],
]
ACCEPTED = [
    [],
    ["a"],
    ["a~"],
    ["x/~y"],
    ["con2"],
    ["com0"],
    ["com10"],
    ["lpt"],
    ["dir/contents.txt"],
    ["auxiliary/nul_x"],
    ["a b/c.d"],
    ["x" * 255],
    ["d/a", "d/b", "e/a", "D2/a"],
    ["a/b/c", "a/b/d", "a/bc"],
]


@pytest.mark.parametrize("paths", REFUSED + ACCEPTED)
def test_known_sets_get_the_python_answer(paths: list[str]) -> None:
    """Each hostile or ordinary set: C and Python bulk checks agree, and a proven set is one
    the one-by-one rules accept."""
    expected = _py_all_safe_and_distinct(paths)
    assert c_check(paths) is expected
    assert all_safe_and_distinct(paths) is expected
    if expected:
        assert _reference(paths)
    if paths in REFUSED:
        assert not c_check(paths)


@pytest.mark.parametrize("seed", range(4))
def test_random_sets_give_the_same_answer(seed: int) -> None:
    """Thousands of random sets from tricky segments (device names, case variants, trailing
    dots and spaces, separators, controls, non-ASCII, long names, dir/file clashes)."""
    rng = random.Random(seed)
    segments = [
        "a", "A", "b", "con", "Con", "cont", "com1", "com", "COM0", "lpt9x", "aux.x", "nul .y",
        "x.con", "a b", "a.b", "d", "D", "~x", "x~", "com1 ", "a.", ".", "..", "", " ", "a\\b",
        "a:b", "\t", "\u00e9", "\u202e", "x" * 130, "nul", "prn.", "lpt1",
    ]  # fmt: skip
    proven = 0
    for _ in range(4000):
        paths = [
            "/".join(rng.choice(segments) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(1, 7))
        ]
        if rng.random() < 0.5:
            other = rng.choice(paths)
            if "/" in other and rng.random() < 0.5:
                other = other.rsplit("/", 1)[0]
            paths.append(other.swapcase() if rng.random() < 0.7 else other)
        rng.shuffle(paths)
        expected = _py_all_safe_and_distinct(paths)
        assert c_check(paths) is expected, paths
        if expected:
            proven += 1
            assert _reference(paths), paths
    assert proven > 20  # the comparison covers accepted sets, not only refusals


def test_large_sorted_and_unsorted_trees_are_proven(tmp_path: object) -> None:
    """20,000 paths in 40 directories, sorted and shuffled; one clash anywhere is found."""
    paths = [f"d{i // 500:04d}/f{i:07d}.dat" for i in range(20_000)]
    assert c_check(paths)
    shuffled = paths[:]
    random.Random(1).shuffle(shuffled)
    assert c_check(shuffled)
    for clash in ("D0003", "d0007/F0003600.DAT", "d0039/f0019999.dat"):
        assert not c_check([*shuffled, clash])
        assert not _py_all_safe_and_distinct([*shuffled, clash])


def test_non_str_and_non_list_inputs() -> None:
    """Anything but a list of exact str is not proven by C; the wrapper falls back to Python."""
    assert not c_check(["a", b"b"])  # type: ignore[list-item]
    assert not c_check(["a", 1])  # type: ignore[list-item]

    class Sub(str):
        pass

    assert not c_check([Sub("a")])
    assert all_safe_and_distinct([Sub("a")]) is _py_all_safe_and_distinct([Sub("a")])
    with pytest.raises(TypeError):
        c_check(("a",))  # type: ignore[arg-type]


def test_wrapper_takes_only_a_true_from_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """A C False is never final: the Python check decides (a C that proves nothing changes
    no answer)."""
    monkeypatch.setattr(_paths, "_c_safe_distinct", lambda paths: False)
    assert all_safe_and_distinct(["a", "b/c"])
    assert not all_safe_and_distinct(["a", "A"])
