"""Entry point of the ``dta`` command.

Rules this module enforces:

* Sub-commands are imported lazily from :data:`COMMANDS`, so ``dta --help`` stays fast and one
  broken feature module cannot break the others.
* Exit codes: 0 ok; 1 invalid input or failed verification; 2 usage or I/O error; 130 interrupted.
* Every error is printed as one line on stderr (``dta: error: ...``); a traceback is never shown.
  This is the only place in dta with a catch-all handler.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from dta import __version__
from dta.errors import Error

__all__ = ["COMMANDS", "cli", "main", "run"]

# name -> "module:attribute" of a click command or group. One line per command; keep sorted.
COMMANDS: dict[str, str] = {
    "agreement": "dta._cli.agreement:agreement",
    "audit": "dta._cli.audit:audit",
    "classify": "dta._cli.classify:classify",
    "compliance": "dta._cli.compliance:compliance_group",
    "demo": "dta._cli.demo:demo",
    "dsse": "dta._cli.dsse:dsse",
    "keygen": "dta._cli.keys:keygen",
    "manifest": "dta._cli.manifest:manifest",
    "pubkey": "dta._cli.keys:pubkey",
    "receipt": "dta._cli.receipt:receipt",
    "schema": "dta._cli.schema:schema",
    "sign": "dta._cli.sign:sign",
    "transfer": "dta._cli.transfer:transfer",
    "validate": "dta._cli.validate:validate",
    "verify": "dta._cli.sign:verify",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dta")
def cli() -> None:
    """dta: data-transfer agreements as code (classify, agree, transfer, audit, validate)."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and embedding).

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.
    """
    try:
        result = cli.main(args=argv, prog_name="dta", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"dta: error: {_one_line(exc.format_message())}", err=True)
        return 2
    except SystemExit:  # click exits this way only when stdout's reader went away (EPIPE)
        click.echo("dta: error: stdout: cannot write: Broken pipe", err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("dta: interrupted", err=True)
        return 130
    except Error as exc:
        click.echo(f"dta: error: {_one_line(str(exc))}", err=True)
        return exc.exit_code
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"dta: error: {name}{_one_line(exc.strerror or str(exc))}", err=True)
        return 2
    except Exception as exc:  # the CLI boundary: never show a traceback
        click.echo(f"dta: internal error: {type(exc).__name__}: {_one_line(str(exc))}", err=True)
        return 2
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point: run the CLI and exit with its code.

    Output still buffered when the command returns is flushed here, so a reader that went away
    (``dta ... | head``) gives the same one-line I/O error (exit 2) as any other write failure.
    """
    code = run()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush stays quiet
        click.echo("dta: error: stdout: cannot write: Broken pipe", err=True)
        code = code or 2
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
