"""A protoc plugin that runs one of ``grpc_tools.protoc``'s built-in generators.

``buf generate`` calls it as a local plugin (see ``protos/buf.gen.yaml``): protoc's Python
generators (``python``, ``pyi``) and gRPC's (``grpc_python``) ship inside grpcio-tools rather than
as ``protoc-gen-*`` programs, so this shim hands buf's CodeGeneratorRequest to grpcio-tools'
compiler as a descriptor set and returns what it writes.

Usage (as a buf local plugin): python scripts/protoc_plugin.py python|pyi|grpc_python
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

GENERATORS = ("python", "pyi", "grpc_python")


def main() -> None:
    gen = sys.argv[1] if len(sys.argv) > 1 else ""
    resp = plugin_pb2.CodeGeneratorResponse()
    if gen not in GENERATORS:
        resp.error = f"protoc_plugin.py: generator must be one of {GENERATORS}, got {gen!r}"
        sys.stdout.buffer.write(resp.SerializeToString())
        return
    req = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    with tempfile.TemporaryDirectory() as tmp:
        descriptors = Path(tmp) / "input.binpb"
        descriptors.write_bytes(descriptor_pb2.FileDescriptorSet(file=req.proto_file).SerializeToString())
        out = Path(tmp) / "out"
        out.mkdir()
        option = f"{req.parameter}:" if req.parameter else ""
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"--descriptor_set_in={descriptors}",
                f"--{gen}_out={option}{out}",
                *req.file_to_generate,
            ],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            resp.error = run.stderr or f"grpc_tools.protoc exited with {run.returncode}"
        else:
            resp.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                resp.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    sys.stdout.buffer.write(resp.SerializeToString())


if __name__ == "__main__":
    main()
