"""Helpers shared by CLI commands: output format option, file reading, one-line errors.

Rules: commands print machine output (``--format json``) on stdout only, as one JSON document;
human text goes to stdout, diagnostics to stderr; files are read through :func:`read_json_file` so
every error names the file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from dta._json import dumps, loads
from dta.errors import Error, InputError

__all__ = ["emit_json", "fail_in", "format_option", "read_bytes", "read_json_file", "write_doc"]

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str) -> Callable[[F], F]:
    """Add ``--format`` with the given choices (the first is the default)."""
    options = choices or ("text", "json")
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(options),
        default=options[0],
        show_default=True,
        help="Output format; json is a stable machine-readable shape.",
    )


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout (sorted keys, UTF-8)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_bytes(path: str | Path, *, max_size: int = 64 * 1024 * 1024) -> bytes:
    """Read a whole regular file (``-`` for stdin).

    Raises:
        InputError: Missing, unreadable, not a regular file, or larger than ``max_size``.
    """
    if str(path) == "-":
        data = sys.stdin.buffer.read(max_size + 1)
    else:
        p = Path(path)
        try:
            if not p.is_file():
                raise InputError(
                    f"{path}: not a regular file" if p.exists() else f"{path}: no such file"
                )
            with p.open("rb") as handle:
                data = handle.read(max_size + 1)
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}") from exc
    if len(data) > max_size:
        raise InputError(f"{path}: larger than {max_size} bytes")
    return data


def read_json_file(path: str | Path, *, allow_floats: bool = False) -> Any:
    """Read and strictly parse a JSON file; errors name the file.

    Raises:
        InputError: The file cannot be read.
        JSONError: The file is not strict JSON (message prefixed with the path).
    """
    data = read_bytes(path)
    with fail_in(path):
        return loads(data, allow_floats=allow_floats)


class fail_in:  # noqa: N801 - used as a context manager like a function
    """Context manager: re-raise a dta error with the file name in front of its message."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if isinstance(exc, Error) and not str(exc).startswith(self.path + ": "):
            exc.args = (f"{self.path}: {exc}",)
        return False


def write_doc(doc: Any, out: str | None) -> None:
    """Write a JSON document to ``out`` (or stdout for None / ``-``).

    Raises:
        InputError: ``out`` cannot be written.
    """
    text = dumps(doc) + "\n"
    if out is None or out == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from exc
