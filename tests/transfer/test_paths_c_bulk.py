"""The C checks of a manifest's items (ADR 0102) prove exactly what the Python checks prove.

``paths_safe_distinct``: on hostile and random path sets it says what the Python bulk check
says, so a set it accepts is one the reference rules accept (unsafe names, Windows device names,
case-only duplicates and a path that is also a directory of another are never let through).
``chunk_matches``: True only when every file of a task has the listed size and digest; the
findings of ``verify_tree`` are the same with and without it.
"""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
from array import array
from pathlib import Path

import pytest

from dta import _manifest_verify, _paths
from dta._paths import (
    CollisionIndex,
    _py_all_safe_and_distinct,
    all_safe_and_distinct,
    path_problem,
)
from dta.manifest import build_manifest, verify_tree

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


# --- chunk_matches: a hashed task against verify_tree's expected columns (ADR 0102) ---

chunk_matches = getattr(_speedups, "chunk_matches", None)
needs_chunk = pytest.mark.skipif(chunk_matches is None, reason="built without chunk_matches")


def _columns(count: int) -> tuple[dict[str, int], array[int], str, list[str]]:
    rng = random.Random(count)
    paths = [f"d/f{i:03d}" for i in range(count)]
    sizes = array("q", [rng.randrange(0, 1 << 40) for _ in range(count)])
    hexes = "".join(f"{rng.getrandbits(256):064x}" for _ in range(count))
    return dict(zip(paths, range(count), strict=True)), sizes, hexes, paths


@needs_chunk
def test_chunk_matches_only_when_every_file_matches() -> None:
    """In any order, a task whose sizes and digests all match is True; one changed size or
    digest character anywhere, an unknown path, or columns of other shapes give False."""
    assert chunk_matches is not None
    index, sizes, hexes, paths = _columns(50)
    rng = random.Random(7)
    order = rng.sample(range(50), 20)
    rels = [paths[p] for p in order]
    got_sizes = tuple(sizes[p] for p in order)
    got_hexes = "".join(hexes[64 * p : 64 * p + 64] for p in order)
    assert chunk_matches(index, rels, sizes, hexes, got_sizes, got_hexes)
    assert chunk_matches(index, [], sizes, hexes, (), "")
    for i in range(20):
        wrong = list(got_sizes)
        wrong[i] += 1
        assert not chunk_matches(index, rels, sizes, hexes, tuple(wrong), got_hexes)
        for at in (64 * i, 64 * i + 63):
            flipped = got_hexes[:at] + ("0" if got_hexes[at] != "0" else "1") + got_hexes[at + 1 :]
            assert not chunk_matches(index, rels, sizes, hexes, got_sizes, flipped)
    unknown = [*rels[:-1], "d/unknown"]
    assert not chunk_matches(index, unknown, sizes, hexes, got_sizes, got_hexes)
    assert not chunk_matches(index, rels, list(sizes), hexes, got_sizes, got_hexes)
    assert not chunk_matches(index, rels, array("l", sizes), hexes, got_sizes, got_hexes) or (
        array("l").itemsize == 8  # same layout as "q" on LP64: equal values, a true match
    )
    assert not chunk_matches(index, rels, sizes, hexes[:64], got_sizes, got_hexes)
    assert not chunk_matches(index, rels, sizes, hexes, got_sizes[:-1], got_hexes)
    assert not chunk_matches(index, rels, sizes, hexes, got_sizes, got_hexes[:-1])
    assert not chunk_matches(index, tuple(rels), sizes, hexes, got_sizes, got_hexes)  # type: ignore[arg-type]
    bad_index = {**index, rels[0]: -1}
    assert not chunk_matches(bad_index, rels, sizes, hexes, got_sizes, got_hexes)
    huge = (1 << 70, *got_sizes[1:])
    assert not chunk_matches(index, rels, sizes, hexes, huge, got_hexes)
    with pytest.raises(TypeError):
        chunk_matches(index, rels, sizes, hexes, got_sizes)  # type: ignore[call-arg]


@needs_chunk
@pytest.mark.parametrize("with_c", [True, False])
def test_verify_findings_do_not_depend_on_the_c_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_c: bool
) -> None:
    """Tampered files spread over several tasks: the same findings with the C comparison
    and with only the Python one."""
    if not with_c:
        monkeypatch.setattr(_manifest_verify, "_c_chunk_matches", None)
    for i in range(400):
        path = tmp_path / f"d{i % 2}" / f"f{i:04d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(i.to_bytes(4, "big") * (i % 9))
    body = build_manifest(
        tmp_path,
        agreement_ref={"id": "urn:uuid:6f1c2a9e-4b7d-4c1e-9a53-2d8e7f0b1c44", "version": 1,
                       "digest": {"sha256": "ef" * 32}},
        sender="a", recipient="b", purpose="test", sequence=1, previous=None,
        classification=None, default_level="internal", progress=False, hash_mode="threads",
    )  # fmt: skip
    (tmp_path / "d0" / "f0010").write_bytes((11).to_bytes(4, "big"))  # same size
    (tmp_path / "d1" / "f0201").write_bytes(b"")
    (tmp_path / "d0" / "f0398").write_bytes(b"Q" * 8)  # same size
    for mode in ("processes", "threads"):
        check = verify_tree(body, tmp_path, workers=2, hash_mode=mode, progress=False)
        assert [(f.kind, f.path) for f in check.findings] == [
            ("modified", "d0/f0010"),
            ("modified", "d0/f0398"),
            ("size-mismatch", "d1/f0201"),
        ]


# --- manifest_columns: the item columns of verify_tree's bulk path (ADR 0102) ---

manifest_columns = getattr(_speedups, "manifest_columns", None)
needs_columns = pytest.mark.skipif(manifest_columns is None, reason="built without it")


class _Sub(dict):  # type: ignore[type-arg]
    pass


def _item(i: int, **changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "path": f"d{i % 3}/f{i:03d}",
        "size": i * 10,
        "digest": {"sha256": f"{i:064x}"},
        "level": "internal",
    }
    item.update(changes)
    return item


def _outcome(items: object) -> object:
    body = {"_type": "dta.manifest", "id": "m", "items": items}
    try:
        expected, findings = _manifest_verify._expected(body)
    except Exception as exc:  # the exception itself is compared
        return type(exc), str(exc)
    return (
        expected.index,
        list(expected.sizes),
        expected.hexes,
        expected.total,
        [(f.kind, f.path, f.message) for f in findings],
    )


COLUMN_CASES: list[list[object]] = [
    [],
    [_item(i) for i in range(30)],
    [_item(0), _item(1, size=True)],
    [_item(0), _item(1, size=-1)],
    [_item(0), _item(1, size=1 << 63)],
    [_item(0), _item(1, size=(1 << 63) - 1)],
    [_item(0), _item(1, size=1.0)],
    [_item(0), _item(1, digest={"sha256": "A" * 64})],
    [_item(0), _item(1, digest={"sha256": "a" * 63})],
    [_item(0), _item(1, digest={"sha256": "g" * 64})],
    [_item(0), _item(1, digest={"sha256": "\u00e9" * 64})],
    [_item(0), _item(1, digest={"sha512": "a" * 64})],
    [_item(0), _item(1, digest="a" * 64)],
    [_item(0), _item(1, digest=_Sub(sha256="b" * 64))],
    [_item(0), _Sub(_item(1))],
    [_item(0), _item(1, path=b"d0/x")],
    [_item(0), _item(1, path="../etc/passwd")],
    [_item(0), _item(1, path="D0/F000")],
    [_item(0), _item(1, path="d0/f000/x")],
    [_item(0), {"path": "x", "size": 1}],
    [_item(0), "not an item"],
    [_item(0), _item(1, path="caf\u00e9")],
]


@needs_columns
@pytest.mark.parametrize("items", COLUMN_CASES)
def test_expected_columns_are_the_same_with_and_without_c(
    items: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Well-formed, odd and hostile items: the same expected columns, findings or error
    whether the C pass or the Python checks read them."""
    with_c = _outcome(items)
    monkeypatch.setattr(_manifest_verify, "_c_columns", None)
    assert _outcome(items) == with_c


@needs_columns
def test_columns_are_proven_only_for_plain_items() -> None:
    """The C pass gives the columns of plain items and None for anything else."""
    assert manifest_columns is not None
    items = [_item(i) for i in range(5)]
    columns = manifest_columns(items)
    assert columns is not None
    paths, raw, hexes = columns
    assert paths == [item["path"] for item in items]
    assert array("q", raw).tolist() == [i * 10 for i in range(5)]
    assert hexes == "".join(f"{i:064x}" for i in range(5))
    assert manifest_columns([]) == ([], b"", "")
    not_plain = COLUMN_CASES[2:5] + COLUMN_CASES[6:16] + COLUMN_CASES[19:21]
    for case in not_plain:
        assert manifest_columns(case) is None, case
    for case in (COLUMN_CASES[5], *COLUMN_CASES[16:19], COLUMN_CASES[21]):
        assert manifest_columns(case) is not None, case  # paths are all_safe_and_distinct's
    assert manifest_columns(tuple(items)) is None  # type: ignore[arg-type]


@needs_columns
@needs_chunk
def test_item_checks_leak_no_references_or_memory() -> None:
    """Thousands of calls of the three item checks (proven and not proven) leave refcounts
    of the items' paths and the traced memory where they were."""
    assert manifest_columns is not None
    assert chunk_matches is not None
    items = [_item(i) for i in range(200)]
    odd = [*items[:100], _item(1, size=-1), *items[100:]]
    paths = [str(item["path"]) for item in items]
    index, sizes, hexes, _ = _columns(200)
    rels = list(index)[:50]
    got_sizes = tuple(sizes[index[r]] for r in rels)
    got_hexes = "".join(hexes[64 * index[r] : 64 * index[r] + 64] for r in rels)
    before = [sys.getrefcount(item["path"]) for item in items]

    def churn() -> None:
        for _ in range(20):
            manifest_columns(items)
            manifest_columns(odd)
            c_check(paths)
            c_check([*paths, "D0/F000"])
            chunk_matches(index, rels, sizes, hexes, got_sizes, got_hexes)
            chunk_matches(index, [*rels[:-1], "x"], sizes, hexes, got_sizes, got_hexes)

    churn()
    gc.collect()
    tracemalloc.start()
    try:
        churn()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            churn()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(item["path"]) for item in items] == before
    assert grown < 16 * 1024
