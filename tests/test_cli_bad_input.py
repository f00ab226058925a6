"""Bad-input sweep of the dta CLI: malformed files give exit 1/2 and one ``dta: error:`` line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dta._cli.main import run

BAD_FILES: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "invalid_utf8": b"\xff\xfe{",
    "array": b"[1, 2]",
    "duplicate_keys": b'{"_type": "x", "_type": "y"}',
    "truncated": b'{"_type": "https://dta',
    "wrong_type": b'{"_type": "https://example.invalid/nope"}',
    "huge_number": b'{"_type": 1' + b"0" * 5000 + b"}",
    "garbage_pem": b"-----BEGIN PRIVATE KEY-----\nzz\n-----END PRIVATE KEY-----\n",
}

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
