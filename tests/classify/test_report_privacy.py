"""Reports never contain a raw value: scan a corpus with known secrets and search the output."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from dta._cli.main import run
from dta.classify import scan_paths

from .corpus import Generator, csv_rows, json_records, prose

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _forms(value: str) -> set[str]:
    """The raw value, its compact form and its digits-only form (if long enough to matter)."""
    forms = {value, re.sub(r"[\s\-]", "", value)}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        forms.add(digits)
    body = value.split("\n")
    forms.update(line for line in body if len(line) >= 12)
    return {f for f in forms if len(f) >= 7}


def test_no_raw_value_in_report_or_cli_output(tmp_path: Path, capsys: object) -> None:
    """No secret, identifier, nor its digits-only form, appears in the JSON report or table."""
    g = Generator(4242)
    doc = prose(g, per_template=4)
    (tmp_path / "prose.txt").write_text(doc.text, encoding="utf-8")
    csv_text, csv_labels = csv_rows(g, 40)
    (tmp_path / "people.csv").write_text(csv_text, encoding="utf-8")
    json_text, json_labels = json_records(g, 30)
    (tmp_path / "records.json").write_text(json_text, encoding="utf-8")
    values = [lab.value for lab in doc.labels if lab.type not in _MARKINGS]
    values += [v for _, _, _, v in csv_labels] + [v for _, _, v in json_labels]
    assert len(values) > 300

    report = scan_paths([tmp_path], key=b"privacy-test-key-0123456789", now=NOW)
    assert report["totals"]["findings"]["credit_card"] > 0
    blob = json.dumps(report, ensure_ascii=False)
    blob_ascii = json.dumps(report)
    leaked = [v for v in values for f in _forms(v) if f in blob or f in blob_ascii]
    assert leaked == []

    key_file = tmp_path.parent / "k.bin"
    key_file.write_bytes(b"privacy-test-key-0123456789")
    assert run(["classify", str(tmp_path), "--key-file", str(key_file)]) == 0
    assert run(["classify", str(tmp_path), "--format", "json"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert [v for v in values for f in _forms(v) if f in out] == []


_MARKINGS = {"eccn", "tlp_label", "cui_marking", "confidential_legend"}
