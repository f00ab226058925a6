"""The built wheel ships the schemas: build it, install it in a fresh venv, validate there."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

CHECK = r"""
import json, sys, pathlib
import dta, dta.schemas, dta.keys, dta.envelope
root = pathlib.Path(sys.argv[1]).resolve()
here = pathlib.Path(dta.__file__).resolve()
assert root in here.parents, f"dta imported from {here}, not the fresh venv"
assert "urn:dta:schema:envelope:1" in dta.schemas.list_schemas()
schema_file = pathlib.Path(dta.schemas.schema_path("envelope")).resolve()
assert root in schema_file.parents and schema_file.parent.name == "_schemas", schema_file
signer = dta.keys.generate()
doc = dta.envelope.sign(signer.public_key.to_document("org:x"), signer)
dta.schemas.validate(doc)
doc["signatures"][0]["keyid"] = "nope"
try:
    dta.schemas.validate(doc)
except dta.errors.SchemaError as exc:
    print(exc.pointer)
"""


@pytest.mark.slow
def test_wheel_ships_schemas_and_validates_in_fresh_venv(
    repo_root: Path, tmp_path: Path, examples_doc: Path
) -> None:
    """A wheel built from the tree, installed alone in a new venv, finds and uses its schemas."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(dist), "."],
        cwd=repo_root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("dta-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dta/_schemas/envelope.v1.schema.json" in names
    assert "dta/_schemas/public-key.v1.schema.json" in names
    assert "dta/py.typed" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # Dependencies (not dta itself) come from the test environment: a plain path entry, so the
    # editable install's .pth hook there is not processed and cannot shadow the wheel.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(python), "-I", "-c", CHECK, str(venv)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "/signatures/0/keyid"

    cli = subprocess.run(
        [str(venv / "bin" / "dta"), "validate", str(examples_doc)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "1 valid, 0 invalid"


@pytest.fixture
def examples_doc(repo_root: Path) -> Path:
    """A signed sample document from examples/."""
    return repo_root / "examples" / "signed" / "registry.signed.json"
