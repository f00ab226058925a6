"""README: set-up commands unchanged, sections present, CLI reference matches ``--help``."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _generator() -> dict:
    return runpy.run_path(str(ROOT / "scripts" / "cli_reference.py"), run_name="cli_reference")


def test_readme_cli_reference_matches_current_help():
    """The generated CLI reference equals what every `dta ... --help` prints now."""
    text = README.read_text(encoding="utf-8")
    assert _generator()["render"](text) == text, "run: .venv/bin/python scripts/cli_reference.py"


def test_readme_lists_every_command_and_subcommand():
    """Every registered command and group member has its own section."""
    import click

    from dta._cli.main import cli

    text = README.read_text(encoding="utf-8")
    for args in _generator()["_walk"](cli, []):
        assert f"### `dta {' '.join(args)}`" in text
    assert isinstance(cli, click.Group)


def test_readme_keeps_the_two_set_up_commands_and_the_sections():
    """The set-up commands are exactly the lead's; a newcomer finds every section."""
    text = README.read_text(encoding="utf-8")
    assert "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/dta demo" in text
    assert "\nbash scripts/test\n" in text
    for heading in (
        "## Set up",
        "## Five-minute tour",
        "## Concepts",
        "## Library API in short",
        "## CLI reference",
    ):
        assert heading in text
