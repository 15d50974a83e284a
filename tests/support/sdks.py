"""The TypeScript and Go SDKs as tests build them: ``ts_built`` compiles clients/typescript with
its pinned TypeScript (the node binary is the fixture's value); ``go_bin`` builds every Go
package through clients/go/build.sh (GOPATH mode against Debian's Go packages) and the examples'
binaries (their folder is the value). Each skips, saying what to install, where its toolchain is
missing. ``sdk_gaps`` compares the services an SDK's client exposes with the RPCs the gateway
serves (the registry's public services)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TS_PACKAGE = ROOT / "clients" / "typescript"
GO_DIR = ROOT / "clients" / "go"
GO_DEBS = "golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev"


def show(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\n--- stdout ---\n{r.stdout[-20000:]}\n--- stderr ---\n{r.stderr[-10000:]}"


def gateway_rpcs() -> dict[str, set[str]]:
    """Every RPC the gateway serves, by full service name: the registry's public services, chosen
    as the gateway's own builders choose them (``registry.public_descriptors``)."""
    from interp_services.registry import public_descriptors

    return {d.full_name: {m.name for m in d.methods} for d in public_descriptors()}


def sdk_gaps(sdk: str, exposed: Mapping[str, Sequence[str]], add_service: str) -> list[str]:
    """What an SDK's clients (``exposed``: full service name -> methods callable through them)
    lack or have beyond the gateway's RPCs, one sentence each; ``add_service`` says where a
    missing service is added."""
    want = gateway_rpcs()
    gaps = [f"{name} is public in the registry, but the {sdk} SDK has no client for it: {add_service}"
            for name in sorted(want.keys() - exposed.keys())]
    gaps += [f"the {sdk} SDK has a client for {name}, which the gateway does not serve" for name in sorted(exposed.keys() - want.keys())]
    for name in sorted(want.keys() & exposed.keys()):
        missing, extra = sorted(want[name] - set(exposed[name])), sorted(set(exposed[name]) - want[name])
        if missing or extra:
            gaps.append(f"{name} in the {sdk} SDK lacks {missing} and has {extra} beyond the registry's descriptor "
                        "(stale stubs: run `make protos`)")
    return gaps


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
