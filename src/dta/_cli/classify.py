"""``dta classify``: scan files and trees for sensitive data; a CI gate with ``--fail-at``.

Rules this module enforces:

* Output: ``text`` (a summary table per file, then the overall level, TLP label, subjects and
  the handling requirements of that level) or ``json`` (the ``dta.classification-report``);
  ``--output`` also writes the JSON report to a file. Raw values are never printed.
* ``--fail-at LEVEL``: exit 1 when any file (hence the overall level) reaches LEVEL; an
  undeclared LEVEL is a usage error (exit 2). Missing paths are I/O errors (exit 2).
* The fingerprint key comes from ``--key-file`` (file bytes, one trailing newline dropped) or
  ``--key-env`` (an environment variable's UTF-8 value); otherwise a random per-report key.
* A progress display is shown on stderr only when stderr is a terminal.
* Paths that hold no file at all (an empty directory) are an input error (exit 2): a CI gate
  must not pass because it was pointed at the wrong place. ``--output`` is checked before the
  scan and written whole; an existing file is replaced only with ``--force``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from dta._cli._common import (
    check_output,
    emit_json,
    force_option,
    format_option,
    read_bytes,
    write_text,
)
from dta.classify import load_policy, scan_paths
from dta.errors import InputError, UsageError

__all__ = ["classify"]


def _key(key_file: str | None, key_env: str | None) -> bytes | None:
    if key_file and key_env:
        raise UsageError("give --key-file or --key-env, not both")
    if key_file:
        data = read_bytes(key_file, max_size=1 << 20)  # a regular file only (never a FIFO)
        return data[:-1] if data.endswith(b"\n") else data
    if key_env:
        value = os.environ.get(key_env)
        if value is None:
            raise UsageError(f"environment variable {key_env} is not set")
        return value.encode("utf-8")
    return None


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        SpinnerColumn(),
        TextColumn("classifying {task.fields[path]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task("scan", total=None, path="")

        def update(path: str, n: int) -> None:
            bar.update(task, advance=n, path=path[-60:])

        yield update


def _summary(report: dict[str, Any], policy: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, Console().width), highlight=False, soft_wrap=True)
    table = Table(title="dta classify", show_lines=False)
    for name in ("path", "status", "level", "categories", "findings"):
        table.add_column(name, overflow="fold")
    for f in report["files"]:
        finds = ", ".join(f"{t} {n}" for t, n in f["findings"].items())
        status = f["status"] if "reason" not in f else f"{f['status']} ({f['reason']})"
        table.add_row(f["path"], status, f["level"], ", ".join(f["categories"]), finds or "-")
    console.print(table)
    info = policy.level_info(report["level"])
    h = info["handling"]
    subjects = ", ".join(f"{c} {n}" for c, n in report["subjects"].items()) or "none"
    console.print(
        f"overall level: [bold]{report['level']}[/bold] ({info['tlp']}); "
        f"categories: {', '.join(report['categories']) or 'none'}; data subjects: {subjects}"
    )
    retention = h["max_retention_days"]
    console.print(
        "handling: "
        f"encryption in transit {'required' if h['encryption_in_transit'] else 'optional'}, "
        f"at rest {'required' if h['encryption_at_rest'] else 'optional'}; "
        f"retention {'unlimited' if retention is None else f'{retention} days'}; "
        f"onward transfer {h['onward_transfer']}; signatures {h['signatures_required']}; "
        f"destinations {', '.join(h['allowed_destinations']) or 'none'}"
    )
    t = report["totals"]
    console.print(
        f"{t['files']} files ({t['scanned']} scanned, {t['unscanned']} unscanned, "
        f"{t['errors']} errors), {t['bytes']:,} bytes; policy {report['policy']['name']} "
        f"sha256:{report['policy']['digest']['sha256'][:12]}"
    )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--policy", "policy_path", type=click.Path(), help="Policy file (default: packaged).")
@format_option("text", "json")
@click.option("--fail-at", help="Exit 1 when anything reaches this level (CI gate).")
@click.option("--key-file", type=click.Path(), help="File holding the fingerprint HMAC key.")
@click.option("--key-env", help="Environment variable holding the fingerprint HMAC key.")
@click.option("--max-size", type=click.IntRange(min=0), help="Report larger files unscanned.")
@click.option(
    "--max-details",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Finding details kept per file (counts stay complete).",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Also write the JSON report here."
)
@force_option
def classify(  # noqa: PLR0917 - click passes every option
    paths: tuple[str, ...],
    policy_path: str | None,
    fmt: str,
    fail_at: str | None,
    key_file: str | None,
    key_env: str | None,
    max_size: int | None,
    max_details: int,
    output: str | None,
) -> int:
    """Classify files and directory trees (reports carry fingerprints, never values)."""
    check_output(output)
    policy = load_policy(policy_path)
    if fail_at is not None and fail_at not in policy.levels:
        raise UsageError(
            f"--fail-at: {fail_at!r} is not a level of policy {policy.name} "
            f"({', '.join(policy.levels)})"
        )
    key = _key(key_file, key_env)
    with _progress(sys.stderr.isatty()) as update:
        report = scan_paths(
            paths,
            policy=policy,
            key=key,
            max_file_size=max_size,
            max_details=max_details,
            progress=update,
        )
    if not report["files"]:
        raise InputError(f"{', '.join(paths)}: no files to classify")
    if output:
        import json

        write_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n", output)
    if fmt == "json":
        emit_json(report)
    else:
        _summary(report, policy)
    if fail_at is not None and policy.rank(report["level"]) >= policy.rank(fail_at):
        click.echo(f"dta: classification reached {report['level']} (--fail-at {fail_at})", err=True)
        return 1
    return 0
