"""in-toto export: Statement v1 in DSSE, verified by securesystemslib and by dta."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from agreement_helpers import CN, NOW, World, sign_all
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import SSlibKey

from dta import keys
from dta.agreement import check_manifest, digest
from dta.errors import ReceiptError, SignatureError
from dta.intoto import (
    MANIFEST_PREDICATE,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    export_dsse,
    manifest_statement,
    receipt_statement,
    verify_statement,
)
from dta.receipt import create_receipt


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def sslib_key(signer: keys.LocalSigner) -> SSlibKey:
    return SSlibKey.from_crypto(signer.private_key.public_key(), keyid=signer.public_key.keyid)


def test_manifest_statement_subjects_are_items(world: World) -> None:
    """Each item becomes a subject {name: path, digest}; the rest is the predicate."""
    body = world.manifest()
    statement = manifest_statement(world.sign_manifest(body))
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == MANIFEST_PREDICATE
    assert statement["subject"] == [
        {"name": i["path"], "digest": i["digest"]} for i in body["items"]
    ]
    assert statement["predicate"]["manifest_digest"] == digest(body)
    assert statement["predicate"]["agreement"] == body["agreement"]
    assert all("digest" not in i for i in statement["predicate"]["items"])


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_manifest_statement_dsse_verifies_in_securesystemslib(world: World, scheme: str) -> None:
    """The DSSE envelope of a manifest Statement verifies with securesystemslib."""
    signer = keys.generate(scheme)
    env = export_dsse(manifest_statement(world.manifest()), signer)
    assert env["payloadType"] == PAYLOAD_TYPE
    accepted = Envelope.from_dict(copy.deepcopy(env)).verify([sslib_key(signer)], 1)
    assert list(accepted) == [signer.public_key.keyid]
    payload = json.loads(base64.b64decode(env["payload"]))
    assert payload["predicateType"] == MANIFEST_PREDICATE
    tampered = copy.deepcopy(env)
    tampered["payload"] = base64.b64encode(base64.b64decode(env["payload"]) + b" ").decode()
    with pytest.raises(SslibVerificationError):
        Envelope.from_dict(tampered).verify([sslib_key(signer)], 1)


def test_receipt_statement_subject_is_manifest_digest(world: World) -> None:
    """A receipt Statement has one subject: the manifest id and digest; it verifies in dta."""
    doc = world.sign_manifest(world.manifest())
    decision = check_manifest(world.agreement, doc, now=NOW)
    receipt = sign_all(create_receipt(doc, None, decision, recipient=CN, now=NOW), world.cn[:1])
    statement = receipt_statement(receipt)
    assert statement["subject"] == [{"name": doc["signed"]["id"], "digest": digest(doc["signed"])}]
    env = export_dsse(statement, world.cn[0])
    reg = keys.KeyRegistry()
    reg.add(world.cn[0].public_key, CN)
    assert verify_statement(env, reg, now=NOW) == statement
    assert Envelope.from_dict(copy.deepcopy(env)).verify([sslib_key(world.cn[0])], 1)


def test_statement_signed_by_untrusted_key_rejected(world: World) -> None:
    """verify_statement trusts only the registry."""
    env = export_dsse(manifest_statement(world.manifest()), keys.generate())
    reg = keys.KeyRegistry()
    reg.add(world.us[0].public_key, "us")
    with pytest.raises(SignatureError):
        verify_statement(env, reg, now=NOW)


def test_export_rejects_non_statements_and_items_without_digest(world: World) -> None:
    """Only Statements are exported; an item without a digest cannot become a subject."""
    with pytest.raises(ReceiptError):
        export_dsse({"_type": "x"}, world.us[0])
    body = world.manifest()
    del body["items"][0]["digest"]
    with pytest.raises(ReceiptError, match="items/0"):
        manifest_statement(body)
    with pytest.raises(ReceiptError):
        receipt_statement(world.manifest())
