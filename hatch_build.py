"""Hatch build hook: compile the optional C accelerator ``dta._speedups`` (docs/adr/0015).

Rules:

* Only wheels (regular and editable) get the extension; the sdist ships the C source.
* The compiler and flags are the ones this Python was built with (``sysconfig``), so the module
  matches the interpreter's ABI. Without a working compiler the build goes on as pure Python and
  says so on stderr: dta then runs the pure-Python checks, slower but with the same results.
* ``DTA_NO_SPEEDUPS=1`` skips the extension on purpose.
* A regular wheel takes the module from a temporary build directory and is tagged for this
  platform; an editable install puts it next to the sources (``src/dta/``, ignored by git), which
  is where the editable install imports ``dta`` from.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_SOURCE = Path("src/dta/_speedups.c")


def _compile(source: Path, target: Path) -> str | None:
    """Compile ``source`` into the extension module ``target``; return an error text or None."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    cflags = shlex.split(sysconfig.get_config_var("CFLAGS") or "")
    ccshared = shlex.split(sysconfig.get_config_var("CCSHARED") or "-fPIC")
    ldshared = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")
    include = sysconfig.get_paths()["include"]
    with tempfile.TemporaryDirectory() as tmp:
        obj = Path(tmp) / "_speedups.o"
        steps = [
            [*cc, *cflags, *ccshared, "-O2", f"-I{include}", "-c", str(source), "-o", str(obj)],
            [*ldshared, str(obj), "-o", str(target)],
        ]
        for argv in steps:
            try:
                done = subprocess.run(argv, capture_output=True, text=True, check=False)
            except OSError as exc:
                return f"{argv[0]}: {exc}"
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines()
                errors = [line for line in lines if "error" in line.lower()]
                first = (errors or lines or [f"{argv[0]} exited with {done.returncode}"])[0]
                return first.strip()
    return None


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Adds the compiled ``dta._speedups`` module to wheels when a C compiler is available."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile the extension and register it with the wheel being built."""
        if self.target_name != "wheel":
            return
        source = Path(self.root) / _SOURCE
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        if version == "editable":
            # A module left by an earlier editable build would still be imported: remove it
            # first, so a skipped or failed build really runs the pure-Python checks.
            for stale in source.parent.glob("_speedups*" + suffix[suffix.rfind(".") :]):
                stale.unlink()
        if os.environ.get("DTA_NO_SPEEDUPS"):
            return
        if version == "editable":
            target = source.with_name("_speedups" + suffix)
        else:
            self._tmp = tempfile.TemporaryDirectory()
            target = Path(self._tmp.name) / ("_speedups" + suffix)
        error = _compile(source, target)
        if error is not None:
            print(
                f"dta: C accelerator not built ({error}); using the pure-Python checks",
                file=sys.stderr,
            )
            return
        if version != "editable":
            build_data["force_include"][str(target)] = f"dta/_speedups{suffix}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the temporary build directory of a regular wheel."""
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()
