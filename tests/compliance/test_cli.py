"""``dta compliance reconcile|report|verify`` on files: exit codes, outputs, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from compliance_helpers import CN, DAY, START, US, send

from dta import compliance, keys, schemas
from dta._cli.main import run


def _files(world, tmp: Path) -> list[str]:
    (tmp / "manifests").mkdir()
    (tmp / "receipts").mkdir()
    (tmp / "agreement.json").write_text(json.dumps(world.agreement_doc))
    for i, m in enumerate(world.manifests):
        (tmp / "manifests" / f"{i}.json").write_text(json.dumps(m))
    for i, r in enumerate(world.receipts):
        (tmp / "receipts" / f"{i}.json").write_text(json.dumps(r))
    args = ["--agreement", str(tmp / "agreement.json")]
    for pid, actor in world.actors.items():
        args += ["--log", f"{pid}={actor.log.url}"]
        for j, note in enumerate(actor.checkpoints):
            path = tmp / f"{pid}-{j}.checkpoint"
            path.write_text(note)
            args += ["--checkpoint", f"{pid}={path}"]
    keys.save_public(tmp / "notary.pub.json", world.notary.public_key, owner="notary")
    args += ["--witness", f"{world.notary_name}={tmp / 'notary.pub.json'}"]
    args += ["--manifest", str(tmp / "manifests"), "--receipt", str(tmp / "receipts")]
    return [*args, "--at", "2027-01-25T00:00:00Z"]


def _world(world):
    send(world, 1)
    send(world, 2, CN, US)
    world.witness_all(at=START + 3 * DAY)
    world.close()
    return world


def test_reconcile_clean_exits_zero_and_prints_json(world, tmp_path, capsys):
    """A clean reconciliation exits 0; --format json lists both logs and transfers."""
    args = _files(_world(world), tmp_path)
    assert run(["compliance", "reconcile", *args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["discrepancies"] == []
    assert len(out["transfers"]) == 2
    assert {log["party"] for log in out["logs"]} == {US, CN}


def test_reconcile_with_discrepancy_exits_one(world, tmp_path, capsys):
    """A missing receipt makes reconcile exit 1 and name the code."""
    send(world, 1, receipt_after=None)
    world.close()
    assert run(["compliance", "reconcile", *_files(world, tmp_path)]) == 1
    assert "[unacknowledged]" in capsys.readouterr().out


def test_report_writes_signed_json_and_html_then_verifies(world, tmp_path, capsys):
    """report signs with the auditor key, writes JSON and HTML; verify accepts it."""
    args = _files(_world(world), tmp_path)
    keys.save_private(tmp_path / "auditor.pem", world.auditor)
    keys.save_public(tmp_path / "auditor.pub.json", world.auditor.public_key, owner="auditor")
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    code = run(
        [
            "compliance",
            "report",
            *args,
            "-k",
            str(tmp_path / "auditor.pem"),
            "--auditor",
            "Audit Co",
            "-o",
            str(out),
            "--html",
            str(page),
        ]
    )
    assert code == 0
    assert "verdict: clean" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    schemas.validate(doc["signed"])
    assert compliance.verify_report(doc, world.auditor.public_key)["verdict"] == "clean"
    assert page.read_text().startswith("<!DOCTYPE html>")
    pub = str(tmp_path / "auditor.pub.json")
    assert run(["compliance", "verify", str(out), "--auditor-key", pub]) == 0
    doc["signed"]["verdict"] = "blocked"
    out.write_text(json.dumps(doc))
    assert run(["compliance", "verify", str(out), "--auditor-key", pub]) == 1


def test_bad_option_syntax_is_a_one_line_usage_error(world, tmp_path, capsys):
    """--log without PARTY= exits 2 with one line on stderr."""
    world.close()
    code = run(["compliance", "reconcile", "--agreement", "x.json", "--log", "nopath"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "PARTY" in err or "NAME=VALUE" in err


def test_missing_log_file_is_an_io_error(world, tmp_path, capsys):
    """A log path that does not exist exits 2 naming the party."""
    args = _files(_world(world), tmp_path)
    i = args.index(f"{US}={world.actors[US].log.url}")
    args[i] = f"{US}={tmp_path / 'nope.jsonl'}"
    assert run(["compliance", "reconcile", *args]) == 2
    assert US in capsys.readouterr().err


def test_report_strict_fails_unless_clean(world, tmp_path, capsys):
    """report --strict exits 1 when the verdict is not clean (a missing receipt)."""
    send(world, 1, receipt_after=None)
    world.close()
    args = _files(world, tmp_path)
    keys.save_private(tmp_path / "auditor.pem", world.auditor)
    key = ["-k", str(tmp_path / "auditor.pem"), "--auditor", "A"]
    assert run(["compliance", "report", *args, *key, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["signed"]["verdict"] == "discrepancies"
    assert run(["compliance", "report", *args, *key, "--strict"]) == 1


def test_reconcile_reads_logs_without_writing_next_to_them(world, tmp_path, capsys):
    """An auditor's reconcile leaves the partners' log files as found: no sidecar is rebuilt.

    The sidecars are removed first, so a read-write open would recreate them.
    """
    import shutil

    from tests.audit.test_readonly_tree import snapshot

    args = _files(_world(world), tmp_path)
    logs = [Path(a.partition("=")[2]) for a in args if a.endswith(".audit.jsonl")]
    assert logs
    for log in logs:
        shutil.rmtree(f"{log}.nodes")
    before = snapshot(world.root)
    assert run(["compliance", "reconcile", *args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["discrepancies"] == []
    assert snapshot(world.root) == before


def test_transfer_status_reads_the_log_without_writing_next_to_it(world, tmp_path, capsys):
    """``dta transfer status`` only reads: no sidecar appears beside the log it reads."""
    import shutil

    from tests.audit.test_readonly_tree import snapshot

    _world(world)
    log = next(a.log.url for a in world.actors.values())
    shutil.rmtree(f"{log}.nodes")
    before = snapshot(world.root)
    assert run(["transfer", "status", "--log", log, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert snapshot(world.root) == before
