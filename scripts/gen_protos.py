"""Regenerate the code generated from protos/: ``buf generate`` with each template.

- protos/buf.gen.yaml: the ``interp.v1`` Python package (protos/python/interp/v1) and the core's
  reason catalog (services/interp_services/core/reasons.py), with this Python's plugins
  (grpcio-tools must be installed);
- protos/buf.gen.ts.yaml: the TypeScript SDK's stubs (clients/typescript/src/gen), with
  protoc-gen-es from clients/typescript/node_modules (``npm ci`` there);
- protos/buf.gen.go.yaml: the Go SDK's stubs (clients/go/gen), with protoc-gen-go and
  protoc-gen-go-grpc on PATH (Debian's packages of those names).

``buf`` is the one next to this Python (pip install buf-bin) or on PATH.

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
# Template -> the directory it writes (emptied first, so a removed proto leaves no stale file).
SDKS = {
    "buf.gen.ts.yaml": Path("clients/typescript/src/gen"),
    "buf.gen.go.yaml": Path("clients/go/gen"),
}
PROTOC_GEN_ES = Path("clients/typescript/node_modules/.bin/protoc-gen-es")


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
    missing = [what for what, ok in (
        (f"{PROTOC_GEN_ES} (run `npm ci` in clients/typescript)", (root / PROTOC_GEN_ES).exists()),
        ("protoc-gen-go (apt-get install protoc-gen-go)", shutil.which("protoc-gen-go")),
        ("protoc-gen-go-grpc (apt-get install protoc-gen-go-grpc)", shutil.which("protoc-gen-go-grpc")),
    ) if not ok]
    if missing:
        raise SystemExit("cannot generate the SDKs' stubs, missing: " + "; ".join(missing))
    for template, out in SDKS.items():
        shutil.rmtree(root / out, ignore_errors=True)
        subprocess.run([buf(), "generate", "--template", template], cwd=root / "protos", check=True)


if __name__ == "__main__":
    generate(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT)
