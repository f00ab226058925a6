"""``dta demo`` and ``examples/scenario.py``: the whole story runs and every document validates."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from dta import compliance, keys, schemas
from dta._cli.main import run
from dta._demo import run_demo
from dta._json import loads

ROOT = Path(__file__).resolve().parents[1]


def test_demo_tells_the_story_and_every_document_validates(tmp_path):
    """The demo blocks the ECCN file, sends the rest, and writes only schema-valid documents."""
    lines: list[str] = []
    result = run_demo(tmp_path / "d", lines.append)
    text = "\n".join(lines)
    assert result.blocked == ("docs/chiller-controller-design.txt",)
    assert "BLOCKED docs/chiller-controller-design.txt" in text
    assert "export-control" in text
    written = [Path(p) for n, p in result.files.items() if n.endswith(".json")]
    assert len(written) >= 9
    for path in written:
        schemas.validate(loads(path.read_bytes()))
    manifest = loads((tmp_path / "d" / "manifest.signed.json").read_bytes())["signed"]
    assert {i["path"] for i in manifest["items"]} == {
        "contacts/facility-managers.csv",
        "meters/hall-b-2026-q4.csv",
        "occupancy/hall-b-weekly.csv",
        "weather/ann-arbor-2026.csv",
    }
    assert "pii" in manifest["categories"]
    auditor, _ = keys.load_public(tmp_path / "d" / "keys" / "auditor.pub.json")
    body = compliance.verify_report(result.report, auditor)
    assert body["summary"]["transfers"] == 16
    assert body["summary"]["by_code"] == {"late": 1}
    assert {p["evidence_level"] for p in body["parties"]} == {"E3"}
    gate = next(g for g in body["gates"] if g["gate"] == "export-control")
    assert gate["status"] == "clear"
    assert "1 file(s) blocked at source by us-gls-bpl" in gate["detail"]
    html = (tmp_path / "d" / "compliance-report.html").read_text()
    assert html.count('class="pt"') == 16


def test_demo_cli_json_and_refuses_a_non_empty_directory(tmp_path, capsys):
    """dta demo DIR --format json lists the files; a non-empty DIR is a usage error."""
    target = tmp_path / "out"
    assert run(["demo", str(target), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    assert out["blocked"] == ["docs/chiller-controller-design.txt"]
    assert Path(out["files"]["compliance-report.signed.json"]).is_file()
    assert run(["demo", str(target)]) == 2
    assert "must be empty" in capsys.readouterr().err


def test_example_scenario_script_runs_and_writes_valid_documents(tmp_path, monkeypatch):
    """examples/scenario.py runs end to end into a fresh directory."""
    monkeypatch.setattr(sys, "argv", ["scenario.py", str(tmp_path / "s")])
    runpy.run_path(str(ROOT / "examples" / "scenario.py"), run_name="__main__")
    docs = sorted((tmp_path / "s").glob("*.json"))
    assert {d.name for d in docs} >= {
        "agreement.signed.json",
        "manifest.signed.json",
        "receipt.signed.json",
        "compliance-report.signed.json",
    }
    for doc in docs:
        schemas.validate(loads(doc.read_bytes()))


@pytest.mark.parametrize(
    "name",
    [
        "agreement.signed.json",
        "classification.json",
        "manifest.signed.json",
        "receipt.signed.json",
        "compliance-report.signed.json",
    ],
)
def test_example_scenario_samples_validate(name):
    """The committed sample documents in examples/scenario validate against the schemas."""
    schemas.validate(loads((ROOT / "examples" / "scenario" / name).read_bytes()))


def test_example_scenario_classification_is_from_the_current_detectors_and_policy():
    """A detector or default-policy change that forgets to regenerate examples/scenario fails here.

    Regenerate with ``.venv/bin/python examples/scenario.py``.
    """
    from dta.classify import DETECTOR_TYPES, DETECTOR_VERSION, load_policy

    report = loads((ROOT / "examples" / "scenario" / "classification.json").read_bytes())
    assert report["detectors"]["version"] == DETECTOR_VERSION
    assert report["detectors"]["types"] == sorted(DETECTOR_TYPES)
    assert report["policy"]["digest"]["sha256"] == load_policy().digest
