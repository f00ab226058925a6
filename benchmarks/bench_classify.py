"""Classification throughput on mixed English/Chinese text, side by side with peers.

Same corpus, same run: dta (full pipeline: decode, normalise, detect, validate, locate,
fingerprint; the per-value validator caches are emptied before every timed scan, so no verdict
is reused from an earlier round over the same bytes), six plain stdlib regular expressions (the
usual home-grown baseline), presidio-analyzer (blank spaCy pipeline, no model download) and
scrubadub, where installed. One core (single process). Peers that are far slower are timed on
a slice of the corpus; MB/s are per-byte rates so the figures compare. Memory: peak Python
allocations while streaming a large file through ``scan_paths``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row, median_time, quick  # noqa: E402
from dta.classify import _candidates, load_policy  # noqa: E402
from dta.classify._detectors_financial import iban_problem  # noqa: E402
from dta.classify._detectors_national import region_known  # noqa: E402
from dta.classify._report import Collector, ReportContext  # noqa: E402
from dta.classify._stream import scan_stream  # noqa: E402

_FILLER_EN = (
    "The partner laboratories exchange building energy measurements every quarter under the "
    "data transfer agreement. Meter readings from 2024-05-01 to 2024-07-31 were aggregated, "
    "version 2.4.1 of the pipeline removed outliers, and the cost came to 1,234.56 USD. "
    "Both sides keep an audit log and review access at the steering meeting on 12 June."
)
_FILLER_ZH = (
    "双方实验室按季度交换建筑能耗数据，依据数据传输协议执行。2024年5月1日至7月31日的读数已汇总，"
    "处理流程版本2.4.1剔除了异常值，费用合计1234.56元。双方保存审计日志并在指导委员会会议上复核访问记录。"
)


def _load_corpus_module() -> object:
    path = HERE.parent / "tests" / "classify" / "corpus.py"
    spec = importlib.util.spec_from_file_location("dta_classify_corpus", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dta_classify_corpus"] = module
    spec.loader.exec_module(module)
    return module


def mixed_corpus(size: int, seed: int = 1, every: int = 1) -> str:
    """Mixed prose (~75% English paragraphs, 25% Chinese) with a generated sentence (a labeled
    value, lookalike or near-miss) after every ``every`` paragraphs."""
    corpus = _load_corpus_module()
    gen = corpus.Generator(seed)  # type: ignore[attr-defined]
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        lines = corpus.prose(gen, per_template=2).text.splitlines()  # type: ignore[attr-defined]
        for line in lines:
            paras = [_FILLER_ZH if rng.random() < 0.25 else _FILLER_EN for _ in range(every)]
            chunk = "\n".join(paras) + "\n" + line + "\n"
            parts.append(chunk)
            total += len(chunk.encode("utf-8"))
            if total >= size:
                break
    return "".join(parts)


_BASELINE = [
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    re.compile(r"\+?\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}"),
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
    re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}\b"),
]


def _cold_value_caches() -> None:
    """Empty the per-value validator caches so a timed scan never reuses verdicts from an
    earlier round over the same bytes (a new document would not find them warm)."""
    for cached in (iban_problem, region_known):
        cached.cache_clear()


def _dta(data: bytes) -> int:
    _cold_value_caches()
    ctx = ReportContext(load_policy(), b"benchmark-key-0123456789", "caller", 1000)
    collector = Collector(ctx)
    scan_stream(io.BytesIO(data), "utf-8", collector)
    return sum(collector.counts.values())


def _baseline(data: bytes) -> int:
    text = data.decode("utf-8")
    return sum(1 for rx in _BASELINE for _ in rx.finditer(text))


def _presidio() -> tuple[object | None, str]:
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
    except ImportError as exc:
        return None, f"not installed ({exc.name})"
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.nlp = {"en": spacy.blank("en")}
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    return analyzer, ""


def _scrubadub() -> tuple[object | None, str]:
    try:
        import scrubadub
    except ImportError as exc:
        return None, f"not installed ({exc.name})"
    return scrubadub.Scrubber(), ""


def _rate(fn: object, data: bytes, repeat: int) -> float:
    seconds = median_time(lambda: fn(data), repeat=repeat)  # type: ignore[operator]
    return len(data) / seconds / 1e6


def main() -> list[Row]:
    """Run the classification benchmark and return its rows."""
    size = (2 if quick() else 16) * 1024 * 1024
    rows = []
    # ADR 0103: the candidate pass runs in C where dta._speedups is built (DTA_NO_SPEEDUPS=1
    # selects the pure-Python passes, which give the same findings)
    path = "C accelerator" if _candidates.SPEEDUPS else "pure Python"
    print(f"classification candidate pass: {path}", flush=True)
    dense = mixed_corpus(size).encode("utf-8")
    sparse = mixed_corpus(size, every=12).encode("utf-8")
    repeat = 3
    for label, data in (("one value per ~0.7 KB", dense), ("one value per ~8 KB", sparse)):
        dta_rate = _rate(_dta, data, repeat)
        base_rate = _rate(_baseline, data, repeat)
        rows.append(
            Row(
                "classify",
                f"mixed EN/ZH text, {len(data) / 1e6:.0f} MB, {label}, one core",
                "MB/s",
                dta_rate,
                "6 stdlib regexes (no validation)",
                base_rate,
                goal=">= 20 MB/s",
                met=dta_rate >= 20,
            )
        )
    dta_rate = rows[0].dta
    slice_size = (16 if quick() else 64) * 1024
    piece_text = dense[:slice_size].decode("utf-8", "ignore")
    piece = piece_text.encode("utf-8")
    analyzer, why = _presidio()
    if analyzer is not None:
        rate = _rate(lambda _: analyzer.analyze(text=piece_text, language="en"), piece, 3)  # type: ignore[attr-defined]
        rows.append(
            Row(
                "classify",
                f"vs presidio-analyzer, blank spaCy ({len(piece) // 1024} KB slice)",
                "MB/s",
                dta_rate,
                "presidio-analyzer",
                rate,
                goal="> peer",
                met=dta_rate > rate,
            )
        )
    else:
        print(f"presidio-analyzer skipped: {why}", flush=True)
    scrubber, why = _scrubadub()
    if scrubber is not None:
        stext = piece_text * 4
        sdata = stext.encode("utf-8")
        rate = _rate(lambda _: list(scrubber.iter_filth(stext)), sdata, 3)  # type: ignore[attr-defined]
        rows.append(
            Row(
                "classify",
                f"vs scrubadub ({len(sdata) // 1024} KB slice)",
                "MB/s",
                dta_rate,
                "scrubadub",
                rate,
                goal="> peer",
                met=dta_rate > rate,
            )
        )
    else:
        print(f"scrubadub skipped: {why}", flush=True)
    rows.append(_memory_row(sparse))
    return rows


# VmHWM (not ru_maxrss, which keeps the forking parent's peak across exec).
_CHILD = """
import sys
from dta.classify import scan_paths
report = scan_paths([sys.argv[1]], key=b"benchmark-key-0123456789")
assert report["files"][0]["status"] == "scanned"
with open("/proc/self/status", encoding="ascii") as handle:
    print(next(line.split()[1] for line in handle if line.startswith("VmHWM:")))
"""


def _child_rss_mb(path: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024


def _memory_row(data: bytes) -> Row:
    """Peak RSS of a fresh process scanning a small and a 8x larger file."""
    small_copies, big_copies = (1, 4) if quick() else (1, 8)
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for copies in (small_copies, big_copies):
            path = Path(tmp) / f"big{copies}.txt"
            with path.open("wb") as handle:
                for _ in range(copies):
                    handle.write(data)
            sizes[copies] = (os.path.getsize(path) / 1e6, _child_rss_mb(path))
    (small_mb, small_rss), (big_mb, big_rss) = sizes[small_copies], sizes[big_copies]
    return Row(
        "classify",
        f"peak RSS scanning a {big_mb:.0f} MB file (process, incl. Python)",
        "MB",
        big_rss,
        f"same, {small_mb:.0f} MB file",
        small_rss,
        higher_is_better=False,
        goal="bounded: < small-file RSS + 16 MB",
        met=big_rss < small_rss + 16,
    )


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main())
