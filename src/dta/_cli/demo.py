"""``dta demo [DIR]``: the whole dta story in a few seconds, narrated on the terminal.

Rules: the demo runs :func:`dta._demo.run_demo` (public APIs only) in DIR, which must be empty or
absent, or in a temporary directory that is removed afterwards; it exits 1 if any step does not
behave as narrated, so it doubles as a smoke test. ``--format json`` prints the files written and
the report verdict instead of the narration.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from dta._cli._common import emit_json, format_option
from dta._demo import run_demo
from dta.errors import UsageError

__all__ = ["demo"]


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False),
    help="Same as DIR (kept for compatibility).",
)
@format_option("text", "json")
def demo(directory: str | None, workdir: str | None, fmt: str) -> None:
    """Run the narrated end-to-end scenario (US and PRC university labs, auditor).

    Keys, a signed agreement, classification with an export-control block, a signed manifest,
    a countersigned receipt, cross-witnessed audit logs and the auditor's compliance report
    (JSON and HTML). Files are kept in DIR when given (it must be empty or absent).
    """
    if directory and workdir and directory != workdir:
        raise UsageError("give the directory once (DIR or --dir)")
    target = directory or workdir

    def say(text: str) -> None:
        if fmt == "text":
            click.echo(text)

    def run_in(path: Path, keep: bool) -> None:
        result = run_demo(path, say)
        body = result.report["signed"]
        if fmt == "json":
            emit_json(
                {
                    "ok": True,
                    "dir": str(path) if keep else None,
                    "files": result.files if keep else sorted(result.files),
                    "blocked": list(result.blocked),
                    "verdict": body["verdict"],
                }
            )
        elif keep:
            click.echo(
                f"\nDone. Files in {path}; open {path / 'compliance-report.html'} in a browser."
            )
        else:
            click.echo("\nDone. Run `dta demo DIR` to keep the files.")

    if target is None:
        with tempfile.TemporaryDirectory(prefix="dta-demo-") as tmp:
            run_in(Path(tmp), keep=False)
        return
    path = Path(target)
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"{target}: demo directory must be empty")
    path.mkdir(parents=True, exist_ok=True)
    run_in(path, keep=True)
