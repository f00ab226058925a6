"""Malformed files given to the signing and validation commands: typed errors only, exit 1 or 2."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dta import envelope, keys
from dta._cli.main import run

_SIGNER = keys.generate("ecdsa-p256-sha256")
_VALID = envelope.sign(_SIGNER.public_key.to_document("org:a"), _SIGNER)
_VALID_BYTES = json.dumps(_VALID).encode()
_DSSE_BYTES = json.dumps(envelope.to_dsse(_VALID)).encode()


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a valid document / DSSE envelope with a few bytes changed."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from([_VALID_BYTES, _DSSE_BYTES])))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.sampled_from(b'{}[]",:0a\\ \xff'))
    return bytes(data)


@pytest.fixture(scope="module")
def workdir() -> Path:
    """A directory with a private key, its public key and a registry."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        signer = keys.generate()
        keys.save_private(path / "k.pem", signer)
        keys.save_public(path / "k.pub.json", _SIGNER.public_key, owner="org:a")
        yield path


COMMANDS = [
    ["validate", "{f}"],
    ["verify", "{f}", "-k", "{d}/k.pub.json"],
    ["dsse", "import", "{f}"],
    ["dsse", "export", "{f}"],
    ["sign", "{f}", "-k", "{d}/k.pem"],
    ["pubkey", "{f}"],
    ["verify", "{d}/k.pub.json", "--registry", "{f}"],
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=file_bytes())
def test_malformed_files_give_typed_errors(
    workdir: Path, data: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """No command reaches the internal-error catch-all on malformed input."""
    target = workdir / "in.json"
    target.write_bytes(data)
    for template in COMMANDS:
        args = [a.format(f=target, d=workdir) for a in template]
        code = run(args)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), args
        assert "internal error" not in err, (args, err)
        assert "Traceback" not in err
