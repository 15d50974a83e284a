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


def test_generated_code_matches_protos(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from gen_protos import generate
    finally:
        sys.path.pop(0)
    generate(tmp_path)
    committed = ROOT / "clients" / "python" / "interp"
    fresh = tmp_path / "interp"
    names = sorted(p.relative_to(fresh) for p in fresh.rglob("*.py*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*.py*") if p.is_file() and "__pycache__" not in p.parts)
    for name in names:
        assert filecmp.cmp(fresh / name, committed / name, shallow=False), f"{name} is stale: run `make protos`"


LAYERS = {
    # layer: modules it must not import
    "core": ("grpc", "grpc_status", "ray", "minio", "interp", "interp_services.store", "interp_services.rpc", "interp_services.serve"),
    "store": ("grpc", "ray", "interp", "interp_services.rpc", "interp_services.serve"),
    "rpc": ("ray", "minio", "interp_services.serve"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _violations(files, forbidden) -> list[str]:
    bad = []
    for f in files:
        for mod in _imports(f):
            if any(mod == x or mod.startswith(x + ".") for x in forbidden):
                bad.append(f"{f.relative_to(ROOT)} imports {mod}")
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
    assert _violations(client_files, ("interp_services", "ray", "torch", "minio")) == []


def test_layering_check_can_fail(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import ray\nfrom grpc import aio\n")
    f = f.rename(ROOT / "services" / "interp_services" / "core" / "_tmp_layering_probe.py")
    try:
        assert _violations([f], LAYERS["core"])
    finally:
        f.unlink()
