"""Transfers on a real dta.audit.AuditLog: records verify, state and CLI status from the log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agreement_helpers import CN, NOW, US, World, sign_all

from dta._cli.main import run
from dta.agreement import check_manifest, digest
from dta.audit import AuditLog
from dta.receipt import create_receipt
from dta.transfer import State, Transfer, replay


def run_transfer(world: World, log: AuditLog, *, suspend: bool = False) -> Transfer:
    manifest = world.sign_manifest(world.manifest())
    decision = check_manifest(world.agreement, manifest, now=NOW)
    receipt = sign_all(
        create_receipt(manifest, None, decision, recipient=CN, now=NOW), world.cn[:1]
    )
    t = Transfer.request(world.agreement, CN, log, sender=US, recipient=CN, now=NOW)
    t.agree(now=NOW)
    t.send(manifest, now=NOW)
    if suspend:
        t.suspend("incident INC-12: wrong recipient mailbox", now=NOW)
        return t
    t.receive(manifest, now=NOW)
    t.accept(receipt, now=NOW)
    return t


def test_transfer_records_append_to_audit_log_and_verify(tmp_path: Path) -> None:
    """Each transition is one verified audit record whose subject digest is the document's."""
    world = World()
    with AuditLog.open(tmp_path / "cn.jsonl", create=True) as log:
        t = run_transfer(world, log)
        log.flush()
        assert log.size == 5
        records = list(log.records())
        report = log.verify()
        assert report.ok
        assert report.size == 5
    assert [r["action"] for r in records] == [
        "transfer.requested",
        "transfer.agreed",
        "transfer.sent",
        "transfer.received",
        "transfer.accepted",
    ]
    assert records[2]["subject"]["digest"] == t.status.manifest["digest"]  # type: ignore[index]
    assert records[0]["subject"]["digest"] == digest(world.body)
    assert replay(records)[t.id] == t.status


def test_transfer_continues_from_reopened_log(tmp_path: Path) -> None:
    """A suspended transfer rebuilt from the reopened log resumes and terminates."""
    world = World()
    path = tmp_path / "us.jsonl"
    with AuditLog.open(path, create=True) as log:
        t = run_transfer(world, log, suspend=True)
    with AuditLog.open(path) as log:
        again = Transfer.from_log(world.agreement, US, log, log.records(), t.id)
        assert again.state is State.SUSPENDED
        again.resume(now=NOW)
        again.terminate("partner withdrew", now=NOW)
        assert replay(log.records())[t.id].state is State.TERMINATED


def test_cli_transfer_status_from_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dta transfer status --log shows the reconstructed state (json and text)."""
    world = World()
    path = tmp_path / "cn.jsonl"
    with AuditLog.open(path, create=True) as log:
        t = run_transfer(world, log)
        s = run_transfer(world, log, suspend=True)
    assert run(["transfer", "status", "--log", str(path), "--format", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    states = {x["id"]: x["state"] for x in data["transfers"]}
    assert states == {t.id: "accepted", s.id: "suspended"}
    assert run(["transfer", "status", "--log", str(path), "--transfer", t.id]) == 0
    assert "accepted" in capsys.readouterr().out
    assert run(["transfer", "status", "--log", str(path), "--transfer", "urn:uuid:nope"]) == 2
    assert run(["transfer", "status", "--log", str(tmp_path / "missing.jsonl")]) == 2
