"""Run every benchmark side by side with its peer and print one table.

Usage::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/run.py [AREA ...] [--write]

AREA is the suffix of a ``bench_<area>.py`` module (all by default). ``--write`` replaces the
figures of those areas in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row, machine, print_rows  # noqa: E402


def main() -> int:
    """Run the selected benchmark modules."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", nargs="*")
    parser.add_argument("--write", action="store_true", help="record results in RESULTS.md")
    args = parser.parse_args()
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    areas = args.areas or available
    unknown = set(areas) - set(available)
    if unknown:
        parser.error(f"unknown areas {sorted(unknown)}; available: {available}")
    print(f"# {machine()} — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    for area in areas:
        module = importlib.import_module(f"bench_{area}")
        rows: list[Row] = module.main()
        print(f"\n## {area}", flush=True)
        table = print_rows(rows)
        if args.write:
            _record(area, table)
    return 0


def _record(area: str, table: str) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    now = dt.datetime.now(dt.UTC)
    stamp = f"_{machine()}; {now:%Y-%m-%d %H:%M} UTC; `python benchmarks/run.py {area}`_"
    section = f"<!-- {area}:start -->\n{stamp}\n\n{table}\n<!-- {area}:end -->"
    pattern = re.compile(
        rf"<!-- {re.escape(area)}:start -->.*?<!-- {re.escape(area)}:end -->", re.S
    )
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else text + f"\n## {area}\n\n{section}\n"
    )
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
