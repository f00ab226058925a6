"""`dta validate` vs `check-jsonschema` on the same 1,000 small documents and schema.

Both tools run as a fresh process, one invocation each over all files (what a CI job or a
pre-commit hook does), wall time, median of several runs. Two corpora: public-key documents
against ``public-key.v1.schema.json`` and signed documents against ``envelope.v1.schema.json``.
dta does more work per file than the peer (strict I-JSON parsing, type dispatch, the signed body
against its own schema, key ids recomputed from the SPKI), so the comparison is conservative.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import Row, median_time, quick
from dta import envelope, keys, schemas

GOAL = 0.5  # dta wall time <= 0.5x check-jsonschema's


def _write_corpus(directory: Path, kind: str, count: int) -> list[str]:
    signer = keys.generate()
    paths = []
    for i in range(count):
        doc = keys.generate().public_key.to_document(f"org:{i}")
        if kind == "envelope":
            doc = envelope.sign(doc, signer)
        path = directory / f"{kind}-{i:05d}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(path.name)
    return paths


def _run(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {proc.stdout[-300:]!r} {proc.stderr[-300:]!r}")


def main() -> list[Row]:
    """Run both tools on both corpora; return one row per corpus."""
    count = 100 if quick() else 1000
    repeat = 3 if quick() else 7
    bindir = Path(sys.executable).parent
    dta_cmd = [str(bindir / "dta")]
    peer = shutil.which("check-jsonschema", path=str(bindir)) or shutil.which("check-jsonschema")
    if peer is None:
        raise RuntimeError("check-jsonschema not installed: pip install -e '.[bench]'")
    rows = []
    with tempfile.TemporaryDirectory(prefix="dta-bench-validate-") as tmp:
        work = Path(tmp)
        for kind in ("public-key", "envelope"):
            files = _write_corpus(work, kind, count)
            schema_file = schemas.schema_path(kind)
            dta_argv = [*dta_cmd, "validate", "-q", *files]
            peer_argv = [peer, "--schemafile", schema_file, *files]
            _run(dta_argv, work)  # warm the page cache and bytecode for both
            _run(peer_argv, work)
            dta_s = median_time(lambda a=dta_argv: _run(a, work), repeat=repeat)
            peer_s = median_time(lambda a=peer_argv: _run(a, work), repeat=repeat)
            rows.append(
                Row(
                    area="validate",
                    figure=f"{count} {kind} docs, one invocation (wall)",
                    unit="s",
                    dta=dta_s,
                    peer_name="check-jsonschema",
                    peer=peer_s,
                    higher_is_better=False,
                    goal=f"<= {GOAL}x peer time",
                    met=dta_s <= GOAL * peer_s,
                )
            )
    return rows


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main())
