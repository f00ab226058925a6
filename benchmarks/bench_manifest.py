"""Manifests: dta vs bagit-python (create / validate), hashing vs raw hashlib, peak RSS.

Figures, all measured in this one run:

* create on 20,000 files of 4 KiB: ``dta.manifest.build_manifest`` + writing the manifest file
  (canonical JSON, as ``dta manifest create`` does), with the default ``hash_mode="auto"`` (worker
  processes for trees of many files, ADR 0066) and with ``"threads"``,
  vs ``bagit.make_bag(processes=1, checksums=["sha256"])`` on a fresh copy of the same tree
  (make_bag moves files into ``data/``; the copy is not timed). Goal: dta >= 5x faster.
* verify of the same tree, symmetric on both sides: ``verify_tree`` on the already loaded
  manifest vs ``Bag.validate(processes=1)`` on the already loaded bag (goal: dta >= 5x faster),
  and end to end: reading + parsing the manifest file (``loads_canonical``) + ``verify_tree`` vs
  ``Bag(path)`` (which parses bagit's manifests) + ``validate``. Rounds are interleaved.
* hashing throughput on 4 files of 256 MiB (page cache warm): ``hash_tree`` with all cores vs
  raw ``hashlib.file_digest`` single-threaded MB/s x cores used. Goal: >= 90%. Because this VM's
  cores do not scale linearly (raw hashlib in 2 threads at once is no faster than in 1), a row
  also compares with raw ``hashlib.file_digest`` run in ``cores`` threads at once. A further row
  divides by the CPU time actually consumed (all threads): on a shared machine the cores are not
  all ours, and MB per CPU-second is the "per core used" figure that load does not distort.
* peak RSS of a fresh process that builds and writes the manifest of a 200,000-file tree
  (``VmHWM`` from /proc; ``ru_maxrss`` would carry the parent's peak across exec). Goal: < 250 MB.
  A second row gives the largest hashing worker's peak (``RUSAGE_CHILDREN``; shared pages of a
  forked worker count in full there).

``DTA_BENCH_MANIFEST=verify`` runs only the verify row (manifest loaded, default mode) against
``Bag.validate`` in paired alternating rounds (and the same verify with the Python loop of
``_hash_small_run`` instead of the C one, ADR 0102), with the load average
before and after: the quick A/B figure for the verify path.

Before every timed call, dirty pages are written out (``os.sync``, not timed): the copies
``make_bag`` needs and the manifests written would otherwise be flushed by the kernel during a
later measurement, taking CPU from whichever side runs then.

Trees are generated once under ``benchmarks/.cache/manifest`` (gitignored); the 256 MiB files
are deleted after the run. ``DTA_BENCH_QUICK=1`` shrinks every size.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _harness import Row, print_rows, quick
from dta import _hashing_worker as _worker
from dta import loads_canonical
from dta.manifest import build_manifest, verify_tree, write_canonical

CACHE = Path(__file__).resolve().parent / ".cache" / "manifest"
REF = {"id": "urn:uuid:00000000-0000-4000-8000-000000000000", "version": 1}
REF["digest"] = {"sha256": "00" * 32}  # type: ignore[assignment]


def _make_tree(root: Path, count: int, size: int, per_dir: int = 500) -> Path:
    marker = root / ".complete"
    if marker.exists():
        return root / "tree"
    shutil.rmtree(root, ignore_errors=True)
    tree = root / "tree"
    block = os.urandom(size + count)
    for i in range(count):
        directory = tree / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            directory.mkdir(parents=True)
        (directory / f"f{i:07d}.dat").write_bytes(block[i : i + size])
    marker.write_text("ok")
    return tree


def _build(tree: Path, out: Path, workers: int | None = None, mode: str = "auto") -> None:
    body = build_manifest(
        tree,
        agreement_ref=REF,
        sender="a",
        recipient="b",
        purpose="bench",
        sequence=1,
        previous=None,
        classification=None,
        default_level="internal",
        workers=workers,
        progress=False,
        hash_mode=mode,
    )
    with out.open("wb") as handle:  # what `dta manifest create` writes
        write_canonical(body, handle)
        handle.write(b"\n")


def _load(manifest: Path) -> Any:
    return loads_canonical(manifest.read_bytes().rstrip(b"\n"), max_size=1 << 30)


def _verify(tree: Path, manifest: Path | Any, mode: str = "auto") -> None:
    doc = _load(manifest) if isinstance(manifest, Path) else manifest
    check = verify_tree(doc, tree, hash_mode=mode)
    if not check.ok:
        raise RuntimeError(f"verify failed: {check.findings[:3]}")


def _settle() -> None:
    """Write dirty pages out (untimed) before a timed call, so the kernel's writeback of an
    earlier copy or manifest does not take CPU from the next measurement, whichever it is."""
    os.sync()


def _timed_rounds(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, run in interleaved rounds (load drifts hit all alike)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            _settle()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _bagit_rows(count: int, repeat: int) -> list[Row]:
    import bagit

    tree = _make_tree(CACHE / f"small-{count}", count, 4096)
    manifest = CACHE / f"small-{count}.manifest.json"
    bag_dir = CACHE / "bag"
    modes = ("auto", "threads")  # auto: the default

    def make_bag() -> None:
        shutil.rmtree(bag_dir, ignore_errors=True)
        shutil.copytree(tree, bag_dir)  # make_bag moves the files: a fresh copy, not timed
        _settle()
        start = time.perf_counter()
        bagit.make_bag(str(bag_dir), processes=1, checksums=["sha256"])
        create_times["bagit"].append(time.perf_counter() - start)

    _build(tree, manifest)  # warm-up
    create_times: dict[str, list[float]] = {"bagit": []}
    for _ in range(repeat):
        make_bag()
        for mode in modes:
            _settle()
            start = time.perf_counter()
            _build(tree, manifest, mode=mode)
            create_times.setdefault(mode, []).append(time.perf_counter() - start)
    create = {name: statistics.median(values) for name, values in create_times.items()}

    bag = bagit.Bag(str(bag_dir))
    doc = _load(manifest)
    fns: dict[str, Callable[[], object]] = {
        "bagit validate": lambda: bag.validate(processes=1),
        "bagit load+validate": lambda: bagit.Bag(str(bag_dir)).validate(processes=1),
    }
    for mode in modes:
        fns[f"check {mode}"] = lambda m=mode: _verify(tree, doc, m)
        fns[f"read+check {mode}"] = lambda m=mode: _verify(tree, manifest, m)
    verify = _timed_rounds(fns, repeat)
    shutil.rmtree(bag_dir, ignore_errors=True)

    label = f"{count:,} files x 4 KiB"
    rows = []
    for mode in modes:
        check, full = verify[f"check {mode}"], verify[f"read+check {mode}"]
        peer_check, peer_full = verify["bagit validate"], verify["bagit load+validate"]
        rows += [
            Row("manifest", f"create, {label}, hash_mode={mode}", "s", create[mode],
                "bagit make_bag (processes=1)", create["bagit"], higher_is_better=False,
                goal=">= 5x faster", met=create["bagit"] / create[mode] >= 5),
            Row("manifest", f"verify (manifest loaded), {label}, hash_mode={mode}", "s", check,
                "bagit Bag.validate (processes=1, bag loaded)", peer_check,
                higher_is_better=False, goal=">= 5x faster", met=peer_check / check >= 5),
            Row("manifest", f"verify incl. reading the manifest, {label}, hash_mode={mode}", "s",
                full, "bagit Bag(path) + validate (processes=1)", peer_full,
                higher_is_better=False, goal=">= 5x faster", met=peer_full / full >= 5),
        ]  # fmt: skip
    return rows


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (all threads) of ``fn``."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = _cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _throughput_rows(size_mib: int, repeat: int) -> list[Row]:
    from dta._hashing import hash_tree

    root = CACHE / f"large-{size_mib}"
    tree = _make_large(root, size_mib)
    files = sorted(tree.iterdir())
    total = sum(f.stat().st_size for f in files) / 1e6
    cores = min(os.cpu_count() or 1, len(files))

    def raw() -> None:
        for path in files:
            with path.open("rb") as handle:
                hashlib.file_digest(handle, "sha256")

    def raw_parallel() -> None:
        # raw hashlib on the same cores at once: what the machine really gives `cores` hashers
        with ThreadPoolExecutor(cores) as pool:
            list(pool.map(_digest, files))

    raw()  # warm the page cache
    raw_wall, raw_cpu = _timed(raw, repeat)
    par_wall, _ = _timed(raw_parallel, repeat)
    our_wall, our_cpu = _timed(lambda: hash_tree(tree, workers=cores), repeat)
    shutil.rmtree(root, ignore_errors=True)
    peer = total / raw_wall * cores
    label = f"4 files x {size_mib} MiB"
    return [
        Row("manifest", f"SHA-256 throughput, {label}, {cores} workers (wall)", "MB/s",
            total / our_wall, f"raw hashlib.file_digest 1 thread x {cores}", peer,
            goal=">= 90% of peer", met=total / our_wall >= 0.9 * peer),
        Row("manifest", f"SHA-256 throughput, {label}, {cores} workers (wall)", "MB/s",
            total / our_wall, f"raw hashlib.file_digest, {cores} threads at once", total / par_wall,
            goal=">= 90% of peer", met=par_wall / our_wall >= 0.9),
        Row("manifest", f"SHA-256 per CPU-second used, {label}", "MB/cpu-s", total / our_cpu,
            "raw hashlib.file_digest per CPU-second", total / raw_cpu,
            goal=">= 90% of peer (per core used)", met=total / our_cpu >= 0.9 * total / raw_cpu),
    ]  # fmt: skip


def _make_large(root: Path, size_mib: int) -> Path:
    tree = root / "tree"
    if (root / ".complete").exists():
        return tree
    tree.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(1 << 20)
    for i in range(4):
        with (tree / f"big{i}.bin").open("wb") as handle:
            for j in range(size_mib):
                handle.write(chunk[j % 7 :] + chunk[: j % 7])
    (root / ".complete").write_text("ok")
    return tree


_HWM = """
def hwm_kib():
    # VmHWM is this process's own peak (ru_maxrss would inherit the parent's peak across exec)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM"))
"""
_RSS_SCRIPT = _HWM + textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    from pathlib import Path
    import resource
    from bench_manifest import _build
    _build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(hwm_kib(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
)
_BASE_SCRIPT = _HWM + "import dta.manifest\nprint(hwm_kib())\n"


def _rss_rows(count: int) -> list[Row]:
    tree = _make_tree(CACHE / f"many-{count}", count, 64, per_dir=1000)
    out = CACHE / f"many-{count}.manifest.json"
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(tree), str(out), here],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    peak_mb, worker_mb = (int(x) / 1024 for x in proc.stdout.split()[-2:])
    base = subprocess.run(
        [sys.executable, "-c", _BASE_SCRIPT], capture_output=True, text=True, check=True
    )
    base_mb = int(base.stdout.split()[-1]) / 1024
    out.unlink(missing_ok=True)
    return [
        Row("manifest", f"peak RSS (VmHWM), create {count:,}-file manifest", "MB", peak_mb,
            "python + dta.manifest imported", base_mb, higher_is_better=False,
            goal="< 250 MB", met=peak_mb < 250),
        Row("manifest", f"peak RSS of the largest hashing worker, {count:,} files", "MB",
            worker_mb, higher_is_better=False),
    ]  # fmt: skip


def _verify_pair_rows(count: int, repeat: int) -> list[Row]:
    """verify_tree (loaded manifest, default mode) vs Bag.validate, paired alternating rounds."""
    import bagit

    tree = _make_tree(CACHE / f"small-{count}", count, 4096)
    manifest = CACHE / f"small-{count}.manifest.json"
    bag_dir = CACHE / "bag"
    _build(tree, manifest)
    shutil.rmtree(bag_dir, ignore_errors=True)
    shutil.copytree(tree, bag_dir)
    bagit.make_bag(str(bag_dir), processes=1, checksums=["sha256"])
    bag = bagit.Bag(str(bag_dir))
    doc = _load(manifest)
    c_loop = _worker._c_small_run

    def python_loop() -> None:  # the same verify with the Python loop of _hash_small_run
        _worker._c_small_run = None  # forked workers inherit it
        try:
            _verify(tree, doc)
        finally:
            _worker._c_small_run = c_loop

    load_before = os.getloadavg()[0]
    times = _alternating(
        {"dta": lambda: _verify(tree, doc), "dta-py": python_loop,
         "bagit": lambda: bag.validate(processes=1)},
        repeat,
    )  # fmt: skip
    load_after = os.getloadavg()[0]
    shutil.rmtree(bag_dir, ignore_errors=True)
    ours, peer, py_loop = times["dta"], times["bagit"], times["dta-py"]
    loop = "C loop" if c_loop is not None else "Python loop (no C loop built)"
    figure = (
        f"verify (manifest loaded), {count:,} files x 4 KiB, hash_mode=auto, {loop}, "
        f"paired rounds, load {load_before:.2f}->{load_after:.2f}"
    )
    return [
        Row("manifest", figure, "s", ours, "bagit Bag.validate (processes=1, bag loaded)", peer,
            higher_is_better=False, goal=">= 5x faster", met=peer / ours >= 5),
        Row("manifest", f"same verify, {loop} vs the Python loop (ADR 0102)", "s", ours,
            "dta, Python loop of _hash_small_run", py_loop, higher_is_better=False),
    ]  # fmt: skip


def _alternating(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds per call of each function, in alternating rounds after one warm-up."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for round_index in range(repeat + 1):
        for name, fn in fns.items():
            _settle()
            start = time.perf_counter()
            fn()
            if round_index:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> list[Row]:
    """Generate (once) the trees, run each figure with its peer, return the rows."""
    CACHE.mkdir(parents=True, exist_ok=True)
    small = quick()
    if os.environ.get("DTA_BENCH_MANIFEST") == "verify":
        return _verify_pair_rows(2_000 if small else 20_000, 5 if small else 11)
    rows = _bagit_rows(2_000 if small else 20_000, 3 if small else 5)
    rows.extend(_throughput_rows(16 if small else 256, 3 if small else 5))
    rows.extend(_rss_rows(20_000 if small else 200_000))
    return rows


if __name__ == "__main__":
    print_rows(main())
