"""Packaged JSON Schemas: conventions, dispatch, pointers, and the sample documents."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dta import envelope, keys, loads, schemas
from dta.errors import SchemaError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
MY_KINDS = ("envelope", "public-key", "key-registry", "dsse")


def _files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.schema.json"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_schema_file_follows_conventions(path: Path) -> None:
    """Each schema is draft 2020-12, its $id matches its file name, and it is a valid schema."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    match = re.fullmatch(r"([a-z0-9-]+)\.v([0-9]+)\.schema\.json", path.name)
    assert match, path.name
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == f"urn:dta:schema:{match.group(1)}:{match.group(2)}"
    jsonschema.Draft202012Validator.check_schema(doc)


def test_my_schemas_are_listed() -> None:
    """The envelope, public-key, key-registry and DSSE schemas are packaged."""
    listed = schemas.list_schemas()
    for kind in MY_KINDS:
        assert schemas.schema_id(kind) in listed
        assert Path(schemas.schema_path(kind)).is_file()
        assert json.loads(schemas.schema_text(kind))["$id"] == schemas.schema_id(kind)


def test_schema_lookup_by_type_kind_and_id() -> None:
    """schema() accepts a $id, a kind or a _type; unknown names raise SchemaError."""
    sid = "urn:dta:schema:public-key:1"
    assert schemas.schema(sid) is schemas.schema("public-key") is schemas.schema("dta.public-key")
    with pytest.raises(SchemaError):
        schemas.schema("no-such-kind")


def test_public_key_document_validates() -> None:
    """A generated public-key document is valid; a forged shape is not."""
    doc = keys.generate("ecdsa-p256-sha256").public_key.to_document("org:alice")
    schemas.validate(doc)
    with pytest.raises(SchemaError, match="at /scheme"):
        schemas.validate({**doc, "scheme": "rsa"})


def test_signed_document_validated_as_envelope_then_body() -> None:
    """A signed document is checked as an envelope and its body by its own schema."""
    signer = keys.generate()
    doc = envelope.sign(signer.public_key.to_document(), signer)
    schemas.validate(doc)
    bad_body = json.loads(json.dumps(doc))
    bad_body["signed"]["scheme"] = "rsa"
    with pytest.raises(SchemaError, match="at /signed/scheme"):
        schemas.validate(bad_body)
    extra = {**doc, "unsigned": {}}
    with pytest.raises(SchemaError, match=r"at /\)"):
        schemas.validate(extra)


def test_error_pointer_names_failing_signature() -> None:
    """The pointer points into the signatures list."""
    signer = keys.generate()
    doc = envelope.sign(signer.public_key.to_document(), signer)
    doc["signatures"][0]["keyid"] = "XYZ"
    errors = list(schemas.iter_errors(doc))
    assert [e.pointer for e in errors] == ["/signatures/0/keyid"]


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ({"_type": "dta.unknown-thing", "spec_version": "1.0"}, "/_type"),
        ({"_type": "dta.public-key", "spec_version": "9.0"}, "/spec_version"),
        ({"_type": "dta.public-key", "spec_version": "1"}, "/spec_version"),
        ({"_type": "dta.envelope", "spec_version": "1.0"}, "/_type"),
        ({"spec_version": "1.0"}, "/_type"),
        ([], ""),
    ],
)
def test_unknown_type_or_version_rejected_with_pointer(doc: Any, pointer: str) -> None:
    """Unknown or reserved types and unknown majors are SchemaErrors with a pointer."""
    errors = list(schemas.iter_errors(doc))
    assert len(errors) == 1
    assert errors[0].pointer == pointer


def test_minor_version_of_known_major_accepted() -> None:
    """A 1.x document uses the v1 schema."""
    doc = keys.generate().public_key.to_document()
    assert schemas.schema_for_type("dta.public-key", "1.3") == "urn:dta:schema:public-key:1"
    schemas.validate(doc)


def test_dsse_envelope_shape_validated() -> None:
    """An object with payloadType is checked against the DSSE envelope schema."""
    signer = keys.generate()
    dsse = envelope.to_dsse(envelope.sign(signer.public_key.to_document(), signer))
    schemas.validate(dsse)
    with pytest.raises(SchemaError, match="at /signatures"):
        schemas.validate({**dsse, "signatures": []})


def test_key_registry_document_validates_with_windows() -> None:
    """A registry document with validity windows is valid against its schema."""
    reg = keys.KeyRegistry()
    reg.add(keys.generate().public_key, "org:a", not_after=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    schemas.validate(reg.to_dict())
    bad = reg.to_dict()
    bad["keys"][0]["not_after"] = "2027-01-01 00:00:00"
    with pytest.raises(SchemaError, match="at /keys/0/not_after"):
        schemas.validate(bad)


def test_sample_documents_validate_and_verify(repo_root: Path) -> None:
    """The samples in examples/keys and examples/signed are valid and their signatures verify."""
    samples = sorted((repo_root / "examples" / "keys").glob("*.json"))
    samples += sorted((repo_root / "examples" / "signed").glob("*.json"))
    assert len(samples) >= 5
    for path in samples:
        schemas.validate(loads(path.read_bytes()))
    registry = keys.KeyRegistry.from_dict(
        loads((repo_root / "examples" / "keys" / "registry.json").read_bytes())
    )
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    signed = loads((repo_root / "examples" / "signed" / "registry.signed.json").read_bytes())
    body = envelope.verify(signed, registry, threshold=2, now=at)
    assert body["_type"] == "dta.key-registry"
    dsse = loads((repo_root / "examples" / "signed" / "registry.dsse.json").read_bytes())
    assert envelope.verify(envelope.from_dsse(dsse), registry, threshold=2, now=at) == body


@pytest.mark.parametrize("kind", MY_KINDS)
def test_schema_is_self_contained_for_standard_tools(kind: str) -> None:
    """No external $ref, so partners can use the file alone (e.g. with check-jsonschema)."""
    text = schemas.schema_text(kind)
    refs = re.findall(r'"\$ref":\s*"([^"]+)"', text)
    assert refs
    assert all(ref.startswith("#/") for ref in refs), refs
