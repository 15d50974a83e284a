"""Regenerate the code generated from protos/: ``buf generate`` with protos/buf.gen.yaml.

Writes the ``interp.v1`` Python package (protos/python/interp/v1) and the core's reason catalog
(services/interp_services/core/reasons.py). Runs the plugins with this Python (grpcio-tools must
be installed), and the ``buf`` next to it or on PATH.

Usage: python scripts/gen_protos.py [ROOT]   (ROOT: a copy of the repository; default this one)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("protos/python/interp/v1")
KEEP = {"__init__.py", "py.typed"}


def buf() -> str:
    """The buf binary: next to this Python (pip install buf-bin) or on PATH."""
    here = Path(sys.executable).parent / "buf"
    found = str(here) if here.exists() else shutil.which("buf")
    if not found:
        raise SystemExit("buf is not installed (pip install buf-bin)")
    return found


def generate(root: Path = ROOT) -> None:
    package = root / PACKAGE
    for stale in package.glob("*_pb2*"):
        stale.unlink()
    # The plugins run as "python3" (protos/buf.gen.yaml): make that this interpreter.
    shim = root / "protos" / ".gen-bin"
    shim.mkdir(exist_ok=True)
    (shim / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        subprocess.run([buf(), "generate"], cwd=root / "protos", env=env, check=True)
    finally:
        shutil.rmtree(shim, ignore_errors=True)
    for name in KEEP:
        (package / name).touch()
    (package.parent / "__init__.py").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT)
