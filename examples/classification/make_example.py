"""Regenerate the sample classification report from the sample tree (fixed key and time).

Usage: ``.venv/bin/python examples/classification/make_example.py``. The test
``tests/classify/test_examples.py`` checks the committed report equals a fresh one.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from dta.classify import scan_paths

HERE = Path(__file__).resolve().parent
KEY = b"dta example fingerprint key 0001"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def build() -> dict[str, object]:
    """The sample report."""
    return scan_paths([HERE / "sample"], key=KEY, now=NOW)


if __name__ == "__main__":
    text = json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (HERE / "sample-report.json").write_text(text, encoding="utf-8")
