"""The contract: buf lint (STANDARD + COMMENTS), generated code in sync, layering rules."""

from __future__ import annotations

import ast
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _buf() -> str:
    found = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    if not Path(found).exists():
        pytest.fail("buf is not installed (pip install buf-bin)")
    return found


def test_buf_lint_is_clean():
    r = subprocess.run([_buf(), "lint"], cwd=ROOT / "protos", capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_buf_lint_would_catch_a_violation(tmp_path):
    """Guard against a lint run that checks nothing: an uncommented message must fail."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    bad = tmp_path / "protos" / "interp" / "v1" / "bad.proto"
    bad.write_text('syntax = "proto3";\npackage interp.v1;\nmessage bad_name { string X = 1; }\n')
    r = subprocess.run([_buf(), "lint"], cwd=tmp_path / "protos", capture_output=True, text=True)
    assert r.returncode != 0 and "bad.proto" in r.stdout


def _generate_into(tmp_path: Path) -> Path:
    """Run the project's generator (buf generate + plugins) on a copy of the repository."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "protos", root / "protos", ignore=shutil.ignore_patterns("*_pb2*", "__pycache__"))
    shutil.copytree(ROOT / "scripts", root / "scripts")
    (root / "services" / "interp_services" / "core").mkdir(parents=True)
    # The SDKs' plugins: protoc-gen-es from the TypeScript package's node_modules (linked, not
    # copied), protoc-gen-go and protoc-gen-go-grpc from PATH.
    modules = ROOT / "clients" / "typescript" / "node_modules"
    if not modules.exists():
        pytest.fail("clients/typescript/node_modules is missing: run `make install` (npm ci there)")
    (root / "clients" / "typescript").mkdir(parents=True)
    (root / "clients" / "typescript" / "node_modules").symlink_to(modules)
    r = subprocess.run([sys.executable, str(root / "scripts" / "gen_protos.py"), str(root)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def test_generated_code_matches_protos(tmp_path):
    """protos/buf.gen*.yaml regenerate exactly what is committed -- the Python package, the
    reason catalog and the TypeScript and Go SDKs' stubs (run `make protos` if not)."""
    fresh_root = _generate_into(tmp_path)
    committed = ROOT / "protos" / "python" / "interp"
    fresh = fresh_root / "protos" / "python" / "interp"
    names = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for name in names:
        assert filecmp.cmp(fresh / name, committed / name, shallow=False), f"{name} is stale: run `make protos`"
    reasons = Path("services/interp_services/core/reasons.py")
    assert filecmp.cmp(fresh_root / reasons, ROOT / reasons, shallow=False), "reasons.py is stale: run `make protos`"
    for sdk in ("clients/typescript/src/gen", "clients/go/gen"):  # the TypeScript and Go SDKs' stubs
        committed, fresh = ROOT / sdk, fresh_root / sdk
        names = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
        assert names and names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file()), sdk
        for name in names:
            assert filecmp.cmp(fresh / name, committed / name, shallow=False), f"{sdk}/{name} is stale: run `make protos`"


def test_contract_has_no_breaking_change_against_the_last_commit():
    """`buf breaking` (FILE rules) against the contract as last committed: a wire- or
    source-incompatible change fails here before it lands."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: there is no committed contract to compare with")
    r = subprocess.run([_buf(), "breaking", "protos", "--against", ".git#ref=HEAD,subdir=protos"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_buf_breaking_would_catch_a_breaking_change(tmp_path):
    """Guard against a breaking check that checks nothing: renumbering a field must fail."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos", ignore=shutil.ignore_patterns("python"))
    f = tmp_path / "protos" / "interp" / "v1" / "tensor.proto"
    f.write_text(f.read_text().replace("string sha256 = 4;", "string sha256 = 9;"))
    r = subprocess.run([_buf(), "breaking", str(tmp_path / "protos"), "--against", str(ROOT / "protos")], capture_output=True, text=True)
    assert r.returncode != 0 and "sha256" in r.stdout


# -- the error-reason catalog ------------------------------------------------------------------

ERROR_CLASSES = {
    "InvalidArgument": "INVALID_ARGUMENT",
    "NotFound": "NOT_FOUND",
    "ResourceExhausted": "RESOURCE_EXHAUSTED",
    "Unavailable": "UNAVAILABLE",
    "FailedPrecondition": "FAILED_PRECONDITION",
    "PermissionDenied": "PERMISSION_DENIED",
    "Unauthenticated": "UNAUTHENTICATED",
    "DeadlineExceeded": "DEADLINE_EXCEEDED",
    "Cancelled": "CANCELLED",
    "invalid": "INVALID_ARGUMENT",
}
# Functions that take a reason as a parameter and pass it on (the argument is then a name).
PASS_THROUGH = {("core/errors.py", "invalid"), ("rpc/errors.py", "rich_status"), ("rpc/errors.py", "error_from_status"), ("core/errors.py", "check_indices"), ("rpc/toolkit.py", "check_count"), ("rpc/toolkit.py", "enum_choice")}


def _catalog() -> dict[str, str]:
    """Reason name -> the gRPC code its comment in error_reason.proto gives."""
    import re

    text = (ROOT / "protos" / "interp" / "v1" / "error_reason.proto").read_text()
    return {m[2]: m[1] for m in re.finditer(r"//\s*\[([A-Z_]+)\][^\n]*(?:\n\s*//[^\n]*)*\n\s*ERROR_REASON_([A-Z0-9_]+)\s*=", text)}


def _reason_uses(files):
    """(file, function, error class, reason expression) of every error built in ``files``."""
    for f in files:
        tree = ast.parse(f.read_text())
        for func in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if name not in ERROR_CLASSES:
                    continue
                arg = next((k.value for k in node.keywords if k.arg == "reason"), node.args[0] if node.args else None)
                yield f, func.name, name, arg


def test_reason_catalog_matches_the_generated_enum():
    from interp.v1 import error_reason_pb2
    from interp_services.core.reasons import Reason

    proto = {n.removeprefix("ERROR_REASON_") for n in error_reason_pb2.ErrorReason.keys() if n != "ERROR_REASON_UNSPECIFIED"}
    assert {r.value for r in Reason} == proto == set(_catalog())


def test_every_emitted_reason_is_in_the_catalog_with_its_code():
    """Every error the services build names a catalog member (``Reason.X``): no string
    literals, f-strings or synonyms; and the class raised has the code the catalog documents."""
    catalog = _catalog()
    files = list((ROOT / "services" / "interp_services").rglob("*.py"))
    problems, seen = [], set()
    for f, func, cls, arg in _reason_uses(files):
        where = f"{f.relative_to(ROOT / 'services' / 'interp_services')}:{func}"
        if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "Reason":
            seen.add(arg.attr)
            if arg.attr not in catalog:
                problems.append(f"{where}: Reason.{arg.attr} is not in the catalog")
            elif catalog[arg.attr] != ERROR_CLASSES[cls]:
                problems.append(f"{where}: Reason.{arg.attr} raised as {ERROR_CLASSES[cls]}, catalog says {catalog[arg.attr]}")
        elif (str(f.relative_to(ROOT / "services" / "interp_services")), func) not in PASS_THROUGH:
            problems.append(f"{where}: reason {ast.unparse(arg) if arg else None!r} is not a Reason member")
    assert problems == []
    assert len(seen) > 40  # the scan found the services' errors


def test_reason_scan_would_catch_a_string_reason(tmp_path):
    f = tmp_path / "x.py"
    f.write_text('def f():\n    raise NotFound("NOPE", "x")\n\ndef g():\n    raise invalid(Reason.X, "f", "d")\n')
    uses = list(_reason_uses([f]))
    assert [(u[1], u[2], ast.unparse(u[3])) for u in uses] == [("f", "NotFound", "'NOPE'"), ("g", "invalid", "Reason.X")]


def test_a_reason_outside_the_catalog_fails_at_once():
    from interp_services.core.errors import NotFound

    with pytest.raises(ValueError):
        NotFound("NO_SUCH_REASON", "message")


_ABOVE_RPC = ("interp_services.serve", "interp_services.registry", "interp_services.settings", "interp_services.local")
LAYERS = {
    # layer: modules it must not import
    "core": ("grpc", "grpc_status", "ray", "minio", "interp", "interp_services.store", "interp_services.rpc", *_ABOVE_RPC),
    "store": ("grpc", "ray", "interp", "interp_services.rpc", *_ABOVE_RPC),
    "rpc": ("ray", "minio", *_ABOVE_RPC),
}


def _package_of(path: Path) -> list[str]:
    """The dotted package a module file belongs to: its directory and every parent directory
    that holds an ``__init__.py`` (``services/interp_services/core/x.py`` -> interp_services.core)."""
    parts: list[str] = []
    d = path.parent
    while (d / "__init__.py").is_file():
        parts.insert(0, d.name)
        d = d.parent
    return parts


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports; relative imports (``from ..rpc import
    x``) are resolved against the file's package, and ``from pkg import name`` also counts as
    importing ``pkg.name`` (it may be a submodule)."""
    tree = ast.parse(path.read_text())
    package = _package_of(path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module:
                continue
            out.add(module)
            out.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
    return out


def _violations(files, forbidden) -> list[str]:
    bad = []
    for f in files:
        for mod in sorted(_imports(f)):
            if any(mod == x or mod.startswith(x + ".") for x in forbidden):
                where = f.relative_to(ROOT) if f.is_relative_to(ROOT) else f
                bad.append(f"{where} imports {mod}")
    return bad


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layering(layer):
    files = list((ROOT / "services" / "interp_services" / layer).rglob("*.py"))
    assert files
    assert _violations(files, LAYERS[layer]) == []


def test_only_serve_imports_ray_and_clients_import_no_server_code():
    all_files = list((ROOT / "services").rglob("*.py")) + list((ROOT / "clients" / "python").rglob("*.py"))
    ray_users = {f for f in all_files if _violations([f], ("ray",))}
    assert ray_users and all("serve" in f.relative_to(ROOT).parts for f in ray_users)
    client_files = list((ROOT / "clients" / "python" / "interpretability").rglob("*.py"))
    assert _violations(client_files, ("interp_services", "ray", "torch", "transformers", "minio", "safetensors")) == []
    proto_files = list((ROOT / "protos" / "python").rglob("*.py"))
    assert proto_files and _violations(proto_files, ("interp_services", "interpretability", "torch", "numpy")) == []


def test_layering_check_can_fail(tmp_path):
    """Absolute and relative imports across layers are caught; the probe package lives in a
    temporary directory, never in the source tree."""
    core = tmp_path / "interp_services" / "core"
    (core / "attention").mkdir(parents=True)
    for d in (core.parent, core, core / "attention"):
        (d / "__init__.py").write_text("")
    cases = {
        "import ray\n": "ray",
        "from grpc import aio\n": "grpc",
        "from ..rpc import codec\n": "interp_services.rpc",
        "from .. import serve\n": "interp_services.serve",
        "from ...store.base import StoredRef\n": "interp_services.store.base",  # from core/attention/
        "from ..rpc.codec import *\n": "interp_services.rpc.codec",
    }
    for i, (source, module) in enumerate(cases.items()):
        probe = (core / "attention" if source.startswith("from ...") else core) / f"probe_{i}.py"
        probe.write_text(source)
        found = _violations([probe], LAYERS["core"])
        assert found and all(str(probe) in v for v in found), (source, found)
        assert any(v.endswith(f"imports {module}") for v in found), (source, found)
    # Relative imports inside the layer, and the standard library, are fine.
    ok = core / "fine.py"
    ok.write_text("import json\nfrom .hooks import HookSiteInfo\nfrom . import errors\nfrom .attention import types\n")
    assert _violations([ok], LAYERS["core"]) == []
    assert _imports(ok) >= {"interp_services.core.hooks", "interp_services.core.errors", "interp_services.core.attention.types"}
