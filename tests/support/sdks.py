"""The TypeScript and Go SDKs as tests build them: ``ts_built`` compiles clients/typescript with
its pinned TypeScript (the node binary is the fixture's value); ``go_bin`` builds every Go
package through clients/go/build.sh (GOPATH mode against Debian's Go packages) and the examples'
binaries (their folder is the value). Each skips, saying what to install, where its toolchain is
missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TS_PACKAGE = ROOT / "clients" / "typescript"
GO_DIR = ROOT / "clients" / "go"
GO_DEBS = "golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev"


def show(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\n--- stdout ---\n{r.stdout[-20000:]}\n--- stderr ---\n{r.stderr[-10000:]}"


def go(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command in the Go module through build.sh (GOPATH mode)."""
    return subprocess.run(["bash", str(GO_DIR / "build.sh"), *args], check=False, capture_output=True, text=True,
                          timeout=timeout, cwd=GO_DIR)


@pytest.fixture(scope="session")
def go_bin(tmp_path_factory) -> Path:
    """Every package built (the generated stubs included), and the examples' binaries."""
    if shutil.which("go") is None:
        pytest.skip(f"no Go toolchain: apt-get install {GO_DEBS} (make sdk-tools)")
    r = go("go", "build", "./...")
    assert r.returncode == 0, show(r)
    out = tmp_path_factory.mktemp("go-bin")
    r = go("go", "build", "-o", f"{out}/", "./examples/...")
    assert r.returncode == 0, show(r)
    assert (out / "attention").is_file() and (out / "patch").is_file()
    return out


@pytest.fixture(scope="session")
def ts_built() -> str:
    """Compile src, test and examples into clients/typescript/dist; the node binary."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TypeScript SDK needs Node.js 20 or later")
    if not (TS_PACKAGE / "node_modules" / ".bin" / "tsc").exists():
        pytest.skip("clients/typescript/node_modules is missing: run `make install` (npm ci in clients/typescript)")
    r = subprocess.run([node, str(TS_PACKAGE / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"],
                       cwd=TS_PACKAGE, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "tsc failed\n" + show(r)
    return node
