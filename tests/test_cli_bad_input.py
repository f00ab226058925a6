"""Bad-input sweep of the dta CLI: malformed files give exit 1/2 and one ``dta: error:`` line.

Also: every command and sub-command rejects an unknown option, every group an unknown
sub-command, and every command that writes a file refuses an output path that is a directory,
sits in a missing directory or under a regular file, or already exists (without ``--force``),
leaving every file as it was. Option values, keys and passphrases are swept in
``test_cli_bad_input_options.py``.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli_bad_input_world import (
    AUDIT_AT,
    BAD_FILES,
    CN,
    RECEIVE_AT,
    US,
    assert_one_line_error,
    assert_unchanged,
    run_in,
    world,
)
from dta._cli.main import cli, run

__all__ = ["world"]


COMMANDS: list[list[str]] = [
    ["validate", "{f}"],
    ["verify", "{f}", "--key", "{f}"],
    ["dsse", "import", "{f}"],
    ["agreement", "show", "{f}"],
    ["agreement", "verify", "{f}"],
    ["manifest", "show", "{f}"],
    ["manifest", "verify", "{f}"],
    ["receipt", "verify", "{f}"],
    ["transfer", "status", "{f}"],
    ["compliance", "verify", "{f}"],
    ["pubkey", "{f}"],
]


def _make(tmp_path: Path, kind: str) -> str:
    if kind == "directory":
        return str(tmp_path)
    path = tmp_path / f"{kind}.json"
    content = BAD_FILES[kind]
    if content is not None:
        path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("kind", [*BAD_FILES, "directory"])
@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_bad_file_gives_one_line_typed_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], kind: str
) -> None:
    """A malformed input file exits 1 or 2 with exactly one 'dta: error:' line, no traceback."""
    target = _make(tmp_path, kind)
    code = run([a.replace("{f}", target) for a in argv])
    captured = capsys.readouterr()
    err = captured.err
    assert code in {1, 2}, err
    assert "Traceback" not in err + captured.out
    if argv[0] == "validate" and code == 1:
        # validate reports an invalid document on stdout as its result, naming the file
        assert target in captured.out
        assert not err
        return
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dta: error:"), err
    assert "Traceback" not in err


def test_installed_dta_reports_missing_file_without_traceback(tmp_path: Path) -> None:
    """The console script prints one error line and exits 2 for a missing file."""
    dta = Path(sys.executable).parent / "dta"
    proc = subprocess.run(
        [str(dta), "validate", str(tmp_path / "absent.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in {1, 2}
    assert proc.stderr.startswith("dta: error:")
    assert "Traceback" not in proc.stderr


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        found.extend(_leaves(command, path) if isinstance(command, click.Group) else [path])
    return found


def _groups() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    return [
        (name,)
        for name in cli.list_commands(ctx)
        if isinstance(cli.get_command(ctx, name), click.Group)
    ]


LEAVES = _leaves(cli)


def test_sweep_covers_every_command() -> None:
    """Every command that takes an output option has a case in the output-path sweep."""
    assert len(LEAVES) >= 35
    for leaf in LEAVES:
        command: click.Command = cli
        for name in leaf:
            assert isinstance(command, click.Group)
            sub = command.get_command(click.Context(command), name)
            assert sub is not None
            command = sub
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        if opts & {"-o", "--out", "--output", "--html"}:
            prefix = " ".join(leaf) + " "
            assert any(c.startswith(prefix) for c in OUTPUT_COMMANDS.values()), leaf


@pytest.mark.parametrize("leaf", LEAVES, ids=" ".join)
def test_unknown_option_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], leaf: tuple[str, ...]
) -> None:
    """Every command rejects an option it does not know: exit 2 and one error line."""
    code = run([*leaf, "--no-such-option"])
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, 2)
    assert "--no-such-option" in captured.err


@pytest.mark.parametrize("group", _groups(), ids=" ".join)
def test_unknown_subcommand_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], group: tuple[str, ...]
) -> None:
    """Every command group rejects a sub-command it does not have: exit 2 and one error line."""
    code = run([*group, "no-such-command"])
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, 2)


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown top-level command: exit 2 and one error line."""
    code = run(["no-such-command"])
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, 2)


_AGR = "--agreement agreement.signed.json"
_REPORT = (
    f"compliance report {_AGR} --log {US}=logs/{US}.jsonl --log {CN}=logs/{CN}.jsonl "
    f"--checkpoint {US}=logs/{US}.checkpoint --checkpoint {CN}=logs/{CN}.checkpoint "
    f"--manifest manifest.signed.json --receipt receipt.signed.json --at {AUDIT_AT} "
    "-k keys/auditor.pem --auditor A"
)
_WITNESS = "audit witness cp.txt --log-key alice.pub.json --state wstate -k bob.pem --name w"

# A working command line per file-writing command; {o} is the output path under test.
OUTPUT_COMMANDS: dict[str, str] = {
    "keygen": "keygen -o {o}",
    "keygen-public": "keygen -o new.pem --public {o}",
    "pubkey": "pubkey alice.pem -o {o}",
    "sign": "sign alice.pub.json -k alice.pem -o {o}",
    "dsse-export": "dsse export signed.json -o {o}",
    "dsse-import": "dsse import env.json -o {o}",
    "agreement-new": "agreement new spec.json --at 2027-01-16T00:00:00Z -o {o}",
    "agreement-sign": "agreement sign agreement.body.json -k keys/us-lab.pem -o {o}",
    "agreement-amend": (
        "agreement amend agreement.signed.json --changes changes.json "
        "--at 2027-03-01T00:00:00Z -o {o}"
    ),
    "receipt-create": (
        f"receipt create manifest.signed.json {_AGR} -k keys/cn-lab.pem --at {RECEIVE_AT} "
        "--tree inbox -o {o}"
    ),
    "manifest-create": (
        f"manifest create dataset {_AGR} --sender {US} --recipient {CN} "
        "--purpose building-energy-modelling --level public -o {o}"
    ),
    "manifest-sign": "manifest sign manifest.body.json -k keys/us-lab.pem -o {o}",
    "manifest-export": "manifest export manifest.signed.json -k keys/us-lab.pem -o {o}",
    "audit-checkpoint": "audit checkpoint log.jsonl -k alice.pem --origin o -o {o}",
    "audit-prove": "audit prove log.jsonl --index 0 -o {o}",
    "audit-prove-consistency": "audit prove log.jsonl --consistency 1 -o {o}",
    "audit-prove-bundle": "audit prove log.jsonl --index 0 --checkpoint cp.txt -o {o}",
    "audit-witness": _WITNESS + " -o {o}",
    "audit-export": "audit export log.jsonl -o {o}",
    "classify": "classify dataset -o {o}",
    "compliance-report": _REPORT + " -o {o}",
    "compliance-report-html": _REPORT + " -o report.json --html {o}",
    "compliance-verify-html": (
        "compliance verify compliance-report.signed.json --auditor-key keys/auditor.pub.json "
        "--html {o}"
    ),
}

BAD_OUTPUTS = {
    "directory": "emptydir",
    "under-a-file": "plain.txt/out.json",
    "missing-directory": "nodir/out.json",
    "existing-file": "existing.out",
}


@pytest.mark.parametrize("where", list(BAD_OUTPUTS))
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_bad_output_path_is_refused_before_anything_is_written(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    where: str,
) -> None:
    """An unwritable or existing output path: exit 2, one line, no file created or changed."""
    line = OUTPUT_COMMANDS[command].replace("{o}", BAD_OUTPUTS[where])
    code, out, err, before, after = run_in(world, tmp_path, monkeypatch, capsys, shlex.split(line))
    assert_one_line_error(code, out, err, 2)
    assert_unchanged(before, after)


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_force_replaces_an_existing_output_whole(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """With --force the command replaces the existing file and leaves no temporary file."""
    line = OUTPUT_COMMANDS[command].replace("{o}", "existing.out") + " --force"
    code, _out, err, before, after = run_in(world, tmp_path, monkeypatch, capsys, shlex.split(line))
    assert code == 0, err
    assert after["existing.out"] not in {None, before["existing.out"]}
    assert not [k for k in set(after) - set(before) if k.endswith(".tmp")]


def test_output_may_not_be_the_log_itself(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """audit export -o LOG --force would cut the log: refused, the log is untouched."""
    argv = ["audit", "export", "log.jsonl", "--start", "2", "-o", "log.jsonl", "--force"]
    code, out, err, before, after = run_in(world, tmp_path, monkeypatch, capsys, argv)
    assert_one_line_error(code, out, err, 2)
    assert_unchanged(before, after)


@pytest.mark.parametrize(
    "argv",
    [
        ["schema", "list"],
        ["schema", "show", "dta.manifest"],
        ["dsse", "export", "signed.json"],
        ["audit", "export", "log.jsonl"],
    ],
    ids=" ".join,
)
def test_closed_stdout_gives_one_line_and_exit_2(world: Path, argv: list[str]) -> None:
    """A reader that went away (`dta ... | head`): exit 2, one error line, no traceback."""
    dta = Path(sys.executable).parent / "dta"
    proc = subprocess.Popen(
        [str(dta), *argv], cwd=world, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 2
    assert err.count("\n") == 1, err
    assert err.startswith("dta: error: ")
    assert "Broken pipe" in err


def test_installed_dta_refuses_an_output_under_a_file(world: Path, tmp_path: Path) -> None:
    """The console script: output path under a regular file is exit 2, one line, no traceback."""
    dta = Path(sys.executable).parent / "dta"
    out = tmp_path / "plain.txt"
    out.write_text("x")
    proc = subprocess.run(
        [str(dta), "sign", "alice.pub.json", "-k", "alice.pem", "-o", str(out / "s.json")],
        cwd=world,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("dta: error: ")
    assert out.read_text() == "x"


def test_force_signs_in_place_without_losing_the_document(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`agreement sign A -o A --force` reads A whole before replacing it with the signed A."""
    argv = shlex.split("agreement sign agreement.body.json -k keys/us-lab.pem")
    argv += ["-o", "agreement.body.json", "--force"]
    code, _out, err, before, after = run_in(world, tmp_path, monkeypatch, capsys, argv)
    assert code == 0, err
    signed = after["agreement.body.json"]
    assert signed is not None
    assert b'"signatures"' in signed
    assert before["agreement.body.json"] != signed


FIFO_COMMANDS = [
    ["validate", "{f}"],
    ["pubkey", "{f}"],
    ["sign", "{f}", "-k", "{f}"],
    ["classify", ".", "--key-file", "{f}"],
    ["audit", "verify", "{f}"],
    ["audit", "append", "x.jsonl", "--event", "{f}"],
    ["transfer", "status", "--log", "{f}"],
]


@pytest.mark.parametrize("argv", FIFO_COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_fifo_input_is_refused_without_blocking(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    """A FIFO where a file is expected is refused at once (never opened for a blocking read)."""
    import os
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.chdir(tmp_path)
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(run([a.replace("{f}", str(fifo)) for a in argv])),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the test run can finish
        with open(fifo, "wb"):
            pass
        worker.join(timeout=5)
        pytest.fail(f"dta {' '.join(argv)} blocked on a FIFO")
    captured = capsys.readouterr()
    assert_one_line_error(result[0], captured.out, captured.err, 2)
    assert "not a regular file" in captured.err


def test_output_to_a_character_device_is_written_through(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """-o /dev/null needs no --force and is never replaced by a regular file."""
    import stat

    argv = ["dsse", "export", "signed.json", "-o", "/dev/null", "--force"]
    code, _out, err, _before, _after = run_in(world, tmp_path, monkeypatch, capsys, argv[:-1])
    assert code == 0, err
    code, _out, err, _before, _after = run_in(world, tmp_path / "again", monkeypatch, capsys, argv)
    assert code == 0, err
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)
