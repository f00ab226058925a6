"""Bad options, keys and paths for every dta command: exit 1/2, one error line, nothing written.

Each case runs in a fresh copy of a small world of valid files (see ``cli_bad_input_world``);
the copy must be byte-for-byte unchanged afterwards, so a command that fails half-way and
leaves a partial output, a created log or an updated ledger is caught.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cli_bad_input_world import (
    AUDIT_AT,
    CN,
    PASS_ENV,
    RECEIVE_AT,
    US,
    assert_one_line_error,
    assert_unchanged,
    run_in,
    world,
)

__all__ = ["world"]

WRONG_PASS = {PASS_ENV: "wrong passphrase"}
NO_PASS = f"--passphrase-env {PASS_ENV}"
AGR = "--agreement agreement.signed.json"
LOGS = (
    f"--log {US}=logs/{US}.jsonl --checkpoint {US}=logs/{US}.checkpoint "
    f"--log {CN}=logs/{CN}.jsonl --checkpoint {CN}=logs/{CN}.checkpoint"
)
COMP = f"{AGR} {LOGS} --manifest manifest.signed.json --receipt receipt.signed.json --at {AUDIT_AT}"
REPORT = f"compliance report {COMP} -k keys/auditor.pem --auditor A"
MCREATE = (
    f"manifest create dataset {AGR} --sender {US} --recipient {CN} "
    "--purpose building-energy-modelling"
)
RCREATE = f"receipt create manifest.signed.json {AGR} -k keys/cn-lab.pem --at {RECEIVE_AT}"
RVERIFY = f"receipt verify receipt.signed.json {AGR} --manifest manifest.signed.json"
WIT = "audit witness cp.txt --log-key alice.pub.json --state wstate -k bob.pem --name w"
APPEND = "audit append log.jsonl --actor alice --action transfer.sent --subject-id urn:x:9"
APPEND += " --subject-sha256 " + "0" * 64

# (command line, expected exit code or None for "1 or 2", extra environment)
CASES: list[tuple[str, int | None, dict[str, str] | None]] = [
    # passphrases: unset, empty or wrong, for every command that loads a private key
    (f"agreement sign agreement.body.json -k enc.pem {NO_PASS}", 2, None),
    (f"agreement sign agreement.body.json -k enc.pem {NO_PASS}", 1, WRONG_PASS),
    (f"manifest sign manifest.body.json -k enc.pem {NO_PASS}", 1, WRONG_PASS),
    (f"manifest export manifest.signed.json -k enc.pem {NO_PASS}", 1, WRONG_PASS),
    (RCREATE.replace("keys/cn-lab.pem", "enc.pem") + f" {NO_PASS}", 1, WRONG_PASS),
    (REPORT.replace("keys/auditor.pem", "enc.pem") + f" {NO_PASS}", 1, WRONG_PASS),
    (WIT.replace("-k bob.pem", "-k enc.pem") + f" {NO_PASS}", 1, WRONG_PASS),
    (f"sign alice.pub.json -k enc.pem {NO_PASS}", 2, {PASS_ENV: ""}),
    ("verify signed.json -k enc.pem", 2, None),
    ("audit verify-proof b.txt --record rec.jsonl -k enc.pem", 2, None),
    # keygen / pubkey
    ("keygen", 2, None),
    ("keygen -o k.pem --scheme rsa", 2, None),
    ("keygen -o k.pem --owner ''", 2, None),
    ("pubkey alice.pem --owner '' -o new.pub.json", 2, None),
    ("keygen -o k.pem --format yaml", 2, None),
    ("keygen -o alice.pem", 2, None),
    ("keygen -o k.pem --public k.pem", 2, None),
    ("keygen -o k.pem --public alice.pub.json", 2, None),
    (f"keygen -o k.pem --encrypt {NO_PASS}", 2, None),
    ("pubkey", 2, None),
    ("pubkey signed.json", 1, None),
    ("pubkey plain.txt", 1, None),
    ("pubkey emptydir", 2, None),
    (f"pubkey enc.pem {NO_PASS}", 2, None),
    (f"pubkey enc.pem {NO_PASS}", 1, WRONG_PASS),
    ("pubkey alice.pem --format xml", 2, None),
    ("pubkey alice.pem -o alice.pub.json", 2, None),
    # sign / verify / dsse
    ("sign alice.pub.json", 2, None),
    ("sign alice.pub.json -k alice.pub.json", 1, None),
    ("sign alice.pub.json -k emptydir", 2, None),
    ("sign alice.pub.json -k missing.pem", 2, None),
    (f"sign alice.pub.json -k enc.pem {NO_PASS}", 2, None),
    (f"sign alice.pub.json -k enc.pem {NO_PASS}", 1, WRONG_PASS),
    ("sign plain.txt -k alice.pem", 1, None),
    ("sign ledger.json -k alice.pem", 1, None),
    ("verify signed.json", 2, None),
    ("verify signed.json -k alice.pub.json --threshold 0", 2, None),
    ("verify signed.json -k alice.pub.json --threshold -1", 2, None),
    ("verify signed.json -k alice.pub.json --threshold two", 2, None),
    ("verify signed.json -k alice.pub.json --at yesterday", 2, None),
    ("verify signed.json -k alice.pub.json --at 2027-01-01T00:00:00", 2, None),
    ("verify signed.json -k alice.pub.json --format yaml", 2, None),
    ("verify signed.json -k signed.json", 1, None),
    ("verify signed.json -k plain.txt", 1, None),
    ("verify signed.json --registry alice.pub.json", 1, None),
    ("verify signed.json --registry missing.json", 2, None),
    ("dsse export alice.pub.json", 1, None),
    ("dsse import signed.json", 1, None),
    ("dsse import env.json -k plain.txt", 1, None),
    # validate / schema / demo
    ("validate", 2, None),
    ("validate nomatch*.json", 2, None),
    ("validate emptydir", 2, None),
    ("validate signed.json --format yaml", 2, None),
    ("schema show nope", 1, None),
    ("schema path nope", 1, None),
    ("schema show", 2, None),
    ("schema list --format yaml", 2, None),
    ("demo keys", 2, None),
    ("demo plain.txt", 2, None),
    ("demo plain.txt/sub", 2, None),
    ("demo a --dir b", 2, None),
    ("demo --format yaml", 2, None),
    # audit
    ("audit init plain.txt/x.jsonl", 2, None),
    ("audit init nodir/x.jsonl", 2, None),
    ("audit init notalog.jsonl", None, None),
    ("audit init emptydir", 2, None),
    ("audit init sqlite:plain.txt", None, None),
    ("audit init bogus://host/x", 2, None),
    ("audit init log.jsonl --format yaml", 2, None),
    ("audit append log.jsonl", 2, None),
    (f"{APPEND} --details notjson", 2, None),
    (f"{APPEND} --details [1]", None, None),
    (f"{APPEND} --time yesterday", None, None),
    (f"{APPEND} --durability sometimes", 2, None),
    ("audit append log.jsonl --event plain.txt", 1, None),
    ("audit append log.jsonl --event missing.json", 2, None),
    ("audit append log.jsonl --event ledger.json", 1, None),
    ("audit append log.jsonl --event bad-events.json", 1, None),
    (APPEND.replace("log.jsonl", "notalog.jsonl", 1), None, None),
    (APPEND.replace("log.jsonl", "missing.jsonl", 1), 2, None),
    (APPEND.replace("log.jsonl", "nodir/x.jsonl", 1), 2, None),
    (APPEND.replace("0" * 64, "xyz"), 1, None),
    (APPEND.replace("transfer.sent", "'BAD ACTION'"), 1, None),
    ("audit verify notalog.jsonl", 1, None),
    ("audit verify missing.jsonl", 2, None),
    ("audit verify emptydir", 2, None),
    ("audit verify log.jsonl --checkpoint cp.txt", 2, None),
    ("audit verify log.jsonl --checkpoint cp.txt -k bob.pub.json", 1, None),
    ("audit verify log.jsonl --checkpoint plain.txt -k alice.pub.json", 1, None),
    ("audit verify log.jsonl --checkpoint missing.txt -k alice.pub.json", 2, None),
    ("audit verify log.jsonl --checkpoint cp.txt -k alice.pub.json --origin other", 1, None),
    ("audit verify log.jsonl --format yaml", 2, None),
    ("audit checkpoint log.jsonl -k alice.pub.json --origin o", 1, None),
    ("audit checkpoint log.jsonl -k ec.pem --origin o", None, None),
    (f"audit checkpoint log.jsonl -k enc.pem --origin o {NO_PASS}", 2, None),
    (f"audit checkpoint log.jsonl -k enc.pem --origin o {NO_PASS}", 1, WRONG_PASS),
    ("audit checkpoint log.jsonl -k alice.pem --origin o --size 99", None, None),
    ("audit checkpoint log.jsonl -k alice.pem --origin o --size -1", 2, None),
    ("audit checkpoint log.jsonl -k alice.pem --origin o --size x", 2, None),
    ("audit checkpoint log.jsonl -k alice.pem", 2, None),
    ("audit checkpoint notalog.jsonl -k alice.pem --origin o", 1, None),
    ("audit prove log.jsonl", 2, None),
    ("audit prove log.jsonl --index 0 --consistency 1", 2, None),
    ("audit prove log.jsonl --index 99", None, None),
    ("audit prove log.jsonl --index -1", 2, None),
    ("audit prove log.jsonl --index 0 --size 99", None, None),
    ("audit prove log.jsonl --consistency 99", None, None),
    ("audit prove log.jsonl --index 0 --checkpoint plain.txt", 1, None),
    ("audit prove notalog.jsonl --index 0", 1, None),
    ("audit verify-proof b.txt --record rec.jsonl -k bob.pub.json", 1, None),
    ("audit verify-proof b.txt --record plain.txt -k alice.pub.json", 1, None),
    ("audit verify-proof b.txt --record missing -k alice.pub.json", 2, None),
    ("audit verify-proof plain.txt --record rec.jsonl -k alice.pub.json", 1, None),
    ("audit verify-proof b.txt --record rec.jsonl -k plain.txt", 1, None),
    ("audit verify-proof b.txt --record rec.jsonl -k alice.pub.json --origin x", 1, None),
    ("audit verify-proof b.txt -k alice.pub.json", 2, None),
    (WIT.replace("--log-key alice.pub.json", "--log-key bob.pub.json"), 1, None),
    (WIT.replace("-k bob.pem", "-k bob.pub.json"), 1, None),
    (WIT.replace("-k bob.pem", "-k ec.pem"), None, None),
    (WIT + " --proof plain.txt", 1, None),
    (WIT + " --proof alice.pub.json", 1, None),
    (WIT.replace("--state wstate", "--state plain.txt"), 2, None),
    (WIT.replace("--state wstate", "--state plain.txt/sub"), 2, None),
    (WIT.replace("audit witness cp.txt", "audit witness plain.txt"), 1, None),
    (WIT.replace("--name w", ""), 2, None),
    ("audit fsck missing.jsonl", 2, None),
    ("audit fsck emptydir", 2, None),
    ("audit repair notalog.jsonl", None, None),
    ("audit repair missing.jsonl", 2, None),
    ("audit export log.jsonl --start -1", 2, None),
    ("audit export log.jsonl --stop x", 2, None),
    ("audit export log.jsonl --start 2 --stop 1", None, None),
    ("audit export log.jsonl --start 9", None, None),
    ("audit export notalog.jsonl -o out.jsonl", 1, None),
    ("audit show log.jsonl --index 99", 2, None),
    ("audit show log.jsonl --index -1", 2, None),
    ("audit show log.jsonl --start 2 --stop 1", None, None),
    ("audit show log.jsonl --start 9", None, None),
    ("audit show notalog.jsonl", 1, None),
    # classify
    ("classify", 2, None),
    ("classify missing", 2, None),
    ("classify emptydir", 2, None),
    ("classify dataset --fail-at bogus", 2, None),
    ("classify dataset --max-size -1", 2, None),
    ("classify dataset --max-size x", 2, None),
    ("classify dataset --max-details -5", 2, None),
    ("classify dataset --policy plain.txt", 1, None),
    ("classify dataset --policy missing.json", 2, None),
    ("classify dataset --policy signed.json", 1, None),
    ("classify dataset --key-file missing", 2, None),
    ("classify dataset --key-file emptydir", 2, None),
    (f"classify dataset --key-env {PASS_ENV}", 2, None),
    ("classify dataset --key-file plain.txt --key-env X", 2, None),
    ("classify dataset --format yaml", 2, None),
    # agreement
    ("agreement new plain.txt", 1, None),
    ("agreement new agreement.signed.json", 1, None),
    ("agreement new spec.json --at bogus", 2, None),
    ("agreement sign agreement.body.json -k alice.pem", 2, None),
    ("agreement sign agreement.body.json -k keys/us-lab.pub.json", 1, None),
    ("agreement sign agreement.body.json", 2, None),
    ("agreement sign manifest.signed.json -k keys/us-lab.pem", 1, None),
    ("agreement verify agreement.signed.json --at bogus", 2, None),
    ("agreement verify agreement.signed.json --at 2020-01-01T00:00:00Z", 1, None),
    ("agreement verify agreement.signed.json --previous plain.txt", 1, None),
    ("agreement verify agreement.signed.json -k alice.pub.json", 1, None),
    ("agreement verify agreement.signed.json -k alice.pem", 2, None),
    ("agreement verify agreement.body.json", 1, None),
    ("agreement amend agreement.signed.json --changes plain.txt", 1, None),
    ("agreement amend agreement.signed.json --changes missing.json", 2, None),
    ("agreement amend agreement.signed.json --changes ledger.json", 1, None),
    ("agreement amend agreement.signed.json", 2, None),
    ("agreement amend agreement.signed.json --changes changes.json --at bogus", 2, None),
    ("agreement show manifest.signed.json", 1, None),
    ("agreement show agreement.signed.json --format yaml", 2, None),
    # manifest
    (MCREATE, 2, None),
    (MCREATE + " --level public --report classification.json", 2, None),
    (MCREATE + " --level public --sequence 0", 2, None),
    (MCREATE + " --level public --sequence x", 2, None),
    (MCREATE + " --level public --workers 0", 2, None),
    (MCREATE + " --level public --hash-mode bogus", 2, None),
    (MCREATE + " --level bogus", 1, None),
    (MCREATE + " --level public --expires bogus", 2, None),
    (MCREATE + " --report plain.txt", 1, None),
    (MCREATE + " --report signed.json", 1, None),
    (MCREATE + " --level public --previous plain.txt", 1, None),
    (MCREATE + " --level public --ip-owner x", 2, None),
    (MCREATE.replace("dataset", "emptydir") + " --level public", 2, None),
    (MCREATE.replace("dataset", "missing") + " --level public", 2, None),
    (MCREATE.replace("dataset", "plain.txt") + " --level public", 2, None),
    (MCREATE.replace(AGR, "--agreement plain.txt") + " --level public", 1, None),
    (MCREATE.replace(AGR, "--agreement manifest.signed.json") + " --level public", None, None),
    (MCREATE.replace(US, "nobody") + " --level public", 2, None),
    (MCREATE + " --level public -o dataset/manifest.json", 2, None),
    (MCREATE.replace(CN, US) + " --level public", 2, None),
    (MCREATE.replace("building-energy-modelling", "marketing") + " --level public", 2, None),
    ("manifest sign manifest.body.json -k keys/us-lab.pub.json", 1, None),
    (f"manifest sign manifest.body.json -k enc.pem {NO_PASS}", 2, None),
    ("manifest sign agreement.signed.json -k keys/us-lab.pem", 1, None),
    ("manifest sign plain.txt -k keys/us-lab.pem", 1, None),
    ("manifest sign manifest.body.json", 2, None),
    ("manifest verify manifest.signed.json", 2, None),
    ("manifest verify manifest.signed.json --ledger l.json --dir inbox", 2, None),
    ("manifest verify manifest.signed.json --dir missing", 2, None),
    ("manifest verify manifest.signed.json --dir plain.txt", 2, None),
    ("manifest verify manifest.signed.json --dir inbox --workers 0", 2, None),
    ("manifest verify manifest.signed.json --dir inbox --hash-mode bogus", 2, None),
    (f"manifest verify manifest.signed.json {AGR} --at bogus", 2, None),
    ("manifest verify manifest.signed.json --agreement plain.txt", 1, None),
    ("manifest verify manifest.signed.json -k plain.txt", 1, None),
    ("manifest verify manifest.signed.json --registry alice.pub.json", 1, None),
    (f"manifest verify manifest.signed.json {AGR} --at {RECEIVE_AT} --ledger ledger.json", 2, None),
    ("manifest verify agreement.signed.json --dir inbox", 1, None),
    ("manifest show agreement.signed.json", 1, None),
    ("manifest show manifest.signed.json --format yaml", 2, None),
    ("manifest export manifest.signed.json -k keys/us-lab.pub.json", 1, None),
    ("manifest export manifest.signed.json", 2, None),
    ("manifest export agreement.signed.json -k keys/us-lab.pem", 1, None),
    # receipt
    (RCREATE.replace("keys/cn-lab.pem", "keys/us-lab.pem"), 2, None),
    (RCREATE.replace("keys/cn-lab.pem", "keys/cn-lab.pub.json"), 1, None),
    (RCREATE + " --tree plain.txt", 2, None),
    (RCREATE + " --tree missing", 2, None),
    (RCREATE + " --ledger ledger.json", 2, None),
    (RCREATE + " --ledger plain.txt/l.json", 2, None),
    (RCREATE + " --ledger nodir/l.json", 2, None),
    (RCREATE.replace(RECEIVE_AT, "bogus"), 2, None),
    (RCREATE.replace(AGR, "--agreement plain.txt"), 1, None),
    (RCREATE.replace(AGR, ""), 2, None),
    (RCREATE.replace("manifest.signed.json", "signed.json", 1), 2, None),
    (RVERIFY.replace("--manifest manifest.signed.json", ""), 2, None),
    (RVERIFY.replace("--manifest manifest.signed.json", "--manifest signed.json"), 1, None),
    (RVERIFY + " --at bogus", 2, None),
    (RVERIFY.replace("receipt.signed.json", "manifest.signed.json", 1), 1, None),
    # transfer
    ("transfer status", 2, None),
    ("transfer status --log notalog.jsonl", 1, None),
    ("transfer status --log missing.jsonl", 2, None),
    ("transfer status --log emptydir", 2, None),
    (f"transfer status --log logs/{US}.jsonl --transfer nope", 2, None),
    (f"transfer status --log logs/{US}.jsonl --format yaml", 2, None),
    # compliance
    (f"compliance reconcile {COMP} --log bad", 2, None),
    (f"compliance reconcile {COMP} --checkpoint x=cp.txt", 2, None),
    (f"compliance reconcile {COMP} --ack-window bogus", 2, None),
    (f"compliance reconcile {COMP} --at bogus", 2, None),
    (f"compliance reconcile {COMP} --manifest plain.txt", 1, None),
    (f"compliance reconcile {COMP} --manifest missing.json", 2, None),
    (f"compliance reconcile {COMP} --witness n=plain.txt", 1, None),
    (f"compliance reconcile {COMP} --witness bad", 2, None),
    (f"compliance reconcile {COMP.replace(AGR, '--agreement plain.txt')}", 1, None),
    (f"compliance reconcile {COMP} --format yaml", 2, None),
    (f"{REPORT} --half-life bogus", 2, None),
    (REPORT.replace("keys/auditor.pem", "keys/auditor.pub.json"), 1, None),
    (REPORT.replace("--auditor A", ""), 2, None),
    ("compliance verify compliance-report.signed.json --auditor-key keys/us-lab.pub.json", 1, None),
    ("compliance verify agreement.signed.json --auditor-key keys/auditor.pub.json", 1, None),
    ("compliance verify compliance-report.signed.json --auditor-key plain.txt", 1, None),
    ("compliance verify compliance-report.signed.json", 2, None),
]


# Bugs outside src/dta/_cli (reported to their owners); the case passes once they are fixed.
KNOWN_BUGS: dict[str, str] = {}


def _params() -> list[object]:
    params = []
    for line, expected, env in CASES:
        marks = []
        if line in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(reason=KNOWN_BUGS[line], strict=False))
        params.append(pytest.param(line, expected, env, id=line[:90], marks=marks))
    return params


@pytest.mark.parametrize(("line", "expected", "env"), _params())
def test_bad_option_or_key_gives_one_line_and_writes_nothing(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    line: str,
    expected: int | None,
    env: dict[str, str] | None,
) -> None:
    """A bad option value, key or path exits 1/2 with one error line and changes no file."""
    code, out, err, before, after = run_in(
        world, tmp_path, monkeypatch, capsys, shlex.split(line), env
    )
    assert_one_line_error(code, out, err, expected)
    assert_unchanged(before, after)


# A verification that fails is a result, not an error: exit 1, the verdict on stdout naming the
# file, nothing on stderr, no file touched.
RESULT_CASES: list[tuple[str, str]] = [
    ("verify signed.json -k bob.pub.json", "signed.json"),
    ("audit fsck notalog.jsonl", "corrupt"),
    ("manifest verify manifest.signed.json --dir dataset", "FAILED"),
    ("validate ledger.json", "ledger.json"),
    (f"compliance reconcile {COMP} --checkpoint {US}=plain.txt", f"{US} checkpoint 1: signed note"),
]


@pytest.mark.parametrize(("line", "shown"), RESULT_CASES, ids=[c[0][:60] for c in RESULT_CASES])
def test_failed_verification_is_reported_on_stdout_with_exit_1(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    line: str,
    shown: str,
) -> None:
    """A document or log that does not verify: exit 1, the reason on stdout, no traceback."""
    code, out, err, before, after = run_in(world, tmp_path, monkeypatch, capsys, shlex.split(line))
    assert code == 1, err
    assert shown in out
    assert "Traceback" not in out + err
    assert not err
    assert_unchanged(before, after)
