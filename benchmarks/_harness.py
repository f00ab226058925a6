"""Tiny benchmark harness: medians of repeated runs, side-by-side rows with ratios and goals.

Every benchmark module exposes ``main() -> list[Row]`` and prints nothing else of note; ``run.py``
collects the rows, prints one table and can append them to RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Row", "machine", "median_time", "print_rows", "quick"]


def quick() -> bool:
    """True when DTA_BENCH_QUICK=1: smaller sizes, for smoke-testing the benchmarks themselves."""
    return os.environ.get("DTA_BENCH_QUICK") == "1"


@dataclass
class Row:
    """One figure: dta's value next to its peer's, measured in the same run."""

    area: str
    figure: str
    unit: str
    dta: float
    peer_name: str | None = None
    peer: float | None = None
    higher_is_better: bool = True
    goal: str = ""
    met: bool | None = None

    def ratio(self) -> float | None:
        """dta relative to the peer, oriented so > 1 means dta is better."""
        if self.peer is None or self.peer == 0 or self.dta == 0:
            return None
        return self.dta / self.peer if self.higher_is_better else self.peer / self.dta


def median_time(fn: Callable[[], object], *, repeat: int = 5, number: int = 1) -> float:
    """Median wall seconds of one call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def paired_median_times(
    ours: Callable[[], object],
    peer: Callable[[], object],
    *,
    repeat: int = 7,
    number: int = 1,
    peer_number: int = 1,
) -> tuple[float, float]:
    """Median seconds per call of ``ours`` and ``peer``, measured in alternating rounds.

    Alternating keeps both sides under the same conditions when this VM's CPU speed drifts
    within a run (it does, by 2-3x over minutes); each side gets one warm-up round first.
    """
    ours_samples: list[float] = []
    peer_samples: list[float] = []
    for round_index in range(repeat + 1):
        for fn, calls, samples in ((ours, number, ours_samples), (peer, peer_number, peer_samples)):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            if round_index:
                samples.append((time.perf_counter() - start) / calls)
    return statistics.median(ours_samples), statistics.median(peer_samples)


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        disk = subprocess.run(["df", "-h", "."], capture_output=True, text=True, check=False)
        fs = disk.stdout.splitlines()[-1].split()[0] if disk.stdout else "?"
    except OSError:
        fs = "?"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, fs {fs}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def print_rows(rows: list[Row]) -> str:
    """Print rows as a Markdown table and return the text."""
    lines = [
        "| area | figure | dta | peer | peer value | ratio (>1 = dta better) | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r.ratio()
        met = "" if r.met is None else ("yes" if r.met else "NO")
        lines.append(
            f"| {r.area} | {r.figure} | {_fmt(r.dta)} {r.unit} | {r.peer_name or '-'} | "
            f"{_fmt(r.peer)} | {'-' if ratio is None else f'{ratio:.2f}x'} | {r.goal} | {met} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text
