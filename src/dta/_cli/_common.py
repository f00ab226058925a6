"""Helpers shared by CLI commands: output format option, file reading and writing, errors.

Rules: commands print machine output (``--format json``) on stdout only, as one JSON document;
human text goes to stdout, diagnostics to stderr; files are read through :func:`read_json_file` so
every error names the file.

Output files (``-o``/``--out``, ``--html`` ...) follow one rule, so nothing is lost or left half
written: a command checks every output path with :func:`check_output` before it does any work or
changes any state (a directory, a missing or non-directory parent, or an existing file without
``--force`` is an I/O error, exit 2); files are then written through :func:`open_output`, which
writes a temporary file next to the target and moves it into place only when complete (an
existing file is replaced only with ``--force``, and then atomically). ``-`` means stdout.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from dta._json import dumps, loads
from dta.errors import Error, InputError

__all__ = [
    "check_output",
    "emit_json",
    "fail_in",
    "force_option",
    "forced",
    "format_option",
    "open_output",
    "read_bytes",
    "read_json_file",
    "write_bytes",
    "write_doc",
    "write_text",
]

_FORCE = "dta.force"

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


def _store_force(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta[_FORCE] = bool(value)
    return bool(value)


def force_option(fn: F) -> F:
    """Add ``--force`` (replace existing output files); read back by :func:`forced`."""
    return click.option(
        "--force",
        is_flag=True,
        expose_value=False,
        callback=_store_force,
        help="Replace existing output files (default: refuse).",
    )(fn)


def forced() -> bool:
    """Whether the running command was given ``--force``."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_FORCE, False))


def _is_stdout(out: str | Path | None) -> bool:
    return out is None or str(out) == "-"


def check_output(out: str | Path | None, *, force: bool | None = None) -> None:
    """Refuse an output path that cannot (or must not) be written, before any work is done.

    Args:
        out: The path; None or ``-`` (stdout) always pass.
        force: Allow replacing an existing file (default: the command's ``--force``).

    Raises:
        InputError: ``out`` is a directory, its parent is missing or not a directory, or it
            exists and ``force`` is not set.
    """
    if _is_stdout(out):
        return
    path = Path(str(out))
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise InputError(f"{out}: cannot write: directory {str(parent)!r} {what}")
    if path.is_dir():
        raise InputError(f"{out}: cannot write: is a directory")
    if _is_stream(path):
        return
    if os.path.lexists(path) and not (forced() if force is None else force):
        raise InputError(f"{out}: already exists (use --force to replace it)")


def _is_stream(path: Path) -> bool:
    """A character device or FIFO (``/dev/stdout``, a named pipe): written straight through."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


@contextlib.contextmanager
def open_output(out: str | Path, *, force: bool | None = None) -> Iterator[Any]:
    """Open ``out`` for binary writing through a temporary file moved into place on success.

    On any error the temporary file is removed and ``out`` is left as it was. Without ``force``
    an existing ``out`` is never replaced (the final step is a hard link, which fails if the
    name exists). A character device or FIFO (``/dev/stdout``) is written straight through
    and never replaced.

    Raises:
        InputError: ``out`` cannot be written or already exists.
    """
    replace = forced() if force is None else force
    check_output(out, force=replace)
    path = Path(str(out))
    if _is_stream(path):
        try:
            with open(path, "wb") as stream:
                yield stream
        except OSError as exc:
            raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from exc
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _move_into_place(tmp, path, out, replace)
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _move_into_place(tmp: Path, path: Path, out: str | Path, replace: bool) -> None:
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError as exc:
        raise InputError(f"{out}: already exists (use --force to replace it)") from exc
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}:
            raise
        if os.path.lexists(path):  # no hard links on this file system: best effort
            raise InputError(f"{out}: already exists (use --force to replace it)") from exc
        os.replace(tmp, path)


def _stdout_write(data: bytes) -> None:
    try:
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            sys.stdout.flush()
            buffer.write(data)
            buffer.flush()
        else:  # a text-only stream (e.g. a test capture)
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
    except OSError as exc:
        raise InputError(f"stdout: cannot write: {exc.strerror or exc}") from exc


def write_bytes(data: bytes, out: str | Path | None) -> None:
    """Write ``data`` to ``out`` (or stdout for None / ``-``) as described above.

    Raises:
        InputError: ``out`` cannot be written or already exists (without ``--force``).
    """
    if _is_stdout(out):
        _stdout_write(data)
        return
    assert out is not None
    with open_output(out) as handle:
        handle.write(data)


def write_text(text: str, out: str | Path | None) -> None:
    """Write UTF-8 ``text`` to ``out`` (or stdout); see :func:`write_bytes`.

    Raises:
        InputError: ``out`` cannot be written or already exists (without ``--force``).
    """
    write_bytes(text.encode("utf-8"), out)


def write_doc(doc: Any, out: str | Path | None) -> None:
    """Write a JSON document (pretty, sorted keys) to ``out`` (or stdout for None / ``-``).

    Raises:
        InputError: ``out`` cannot be written or already exists (without ``--force``).
    """
    write_text(dumps(doc) + "\n", out)
