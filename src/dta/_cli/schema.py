"""``dta schema list|show|path``: the JSON Schemas packaged with dta.

Rules: schemas are looked up by ``$id`` (``urn:dta:schema:<kind>:<major>``), by kind or by
``_type`` (latest major); an unknown name is exit code 1 with one line.
"""

from __future__ import annotations

import click

from dta import schemas
from dta._cli._common import emit_json, format_option

__all__ = ["schema"]


@click.group()
def schema() -> None:
    """List, print or locate the packaged JSON Schemas (draft 2020-12)."""


@schema.command("list")
@format_option("text", "json")
def list_(fmt: str) -> None:
    """List the packaged schemas."""
    rows = [
        {"id": sid, "title": schemas.schema(sid).get("title", ""), "path": schemas.schema_path(sid)}
        for sid in schemas.list_schemas()
    ]
    if fmt == "json":
        emit_json({"schemas": rows})
        return
    for row in rows:
        click.echo(f"{row['id']}\t{row['title']}")


@schema.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a schema (NAME: $id, kind such as 'envelope', or _type such as 'dta.envelope')."""
    click.echo(schemas.schema_text(name), nl=False)


@schema.command("path")
@click.argument("name")
def path(name: str) -> None:
    """Print the file path of a schema (for tools such as check-jsonschema)."""
    click.echo(schemas.schema_path(name))
