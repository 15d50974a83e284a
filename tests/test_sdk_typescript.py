"""The TypeScript SDK (clients/typescript): compiled with its pinned TypeScript, then its node:test
suites run -- the fleet-free unit tests (tensor decoding incl. float16/bfloat16, builders, error
decoding, the client against an in-process Connect gRPC server) on their own, and the whole
suite against the session's Ray Serve fleet, where every RPC of every service is called through
the SDK and each service's bad input is checked for its code, reason and field. Without a fleet
too: the client serves every public service of the registry, and the package `npm pack` makes
installs into a fresh project and imports there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DEV_KEY
from tests.support.sdks import TS_PACKAGE as PACKAGE
from tests.support.sdks import sdk_gaps
from tests.support.sdks import show as _show

ROOT = Path(__file__).resolve().parents[1]


def _node_test(node: str, *paths: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``node --test`` (TAP output) on compiled test files, with exactly ``env``."""
    return subprocess.run([node, "--test", "--test-reporter=tap", *paths], cwd=PACKAGE, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _without_fleet() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("INTERP_ENDPOINT", "INTERP_API_KEY")}


def test_unit_tests_pass_without_a_fleet(ts_built):
    """dist/test/unit.test.js alone: no endpoint needed (its gRPC server runs in-process)."""
    r = _node_test(ts_built, "dist/test/unit.test.js", env=_without_fleet())
    assert r.returncode == 0 and "# fail 0" in r.stdout and "# pass 0" not in r.stdout, _show(r)


# Each entry of SERVICES, as a client built from it serves it: "Service" -> the methods callable
# through the field of that name.
_EXPOSED = """
import { InterpClient, SERVICES } from "./dist/src/index.js";
const c = new InterpClient({ endpoint: "127.0.0.1:9", apiKey: "" });
const out = {};
for (const [field, desc] of Object.entries(SERVICES)) {
  out[desc.typeName] = desc.methods.filter((m) => typeof c[field]?.[m.localName] === "function").map((m) => m.name);
}
c.close();
console.log(JSON.stringify(out));
"""


def test_client_serves_every_public_service_of_the_registry(ts_built):
    """InterpClient has a client per service the gateway serves, with every RPC of it: a service
    added to the registry fails here until it is in the SDK's SERVICES table (and so in the
    fleet suite, which calls every method of that table)."""
    r = subprocess.run([ts_built, "--input-type=module", "-e", _EXPOSED], cwd=PACKAGE, capture_output=True, text=True,
                       timeout=60, env=_without_fleet())
    assert r.returncode == 0, _show(r)
    gaps = sdk_gaps("TypeScript", json.loads(r.stdout),
                    "add it to SERVICES in clients/typescript/src/client.ts (its stubs come from `make protos`)")
    assert not gaps, "\n".join(gaps)


def test_fleet_tests_refuse_to_run_without_an_endpoint(ts_built):
    """Without INTERP_ENDPOINT / INTERP_API_KEY the fleet suite fails, saying what to set."""
    r = _node_test(ts_built, "dist/test/fleet.test.js", env=_without_fleet())
    assert r.returncode != 0 and "INTERP_ENDPOINT and INTERP_API_KEY must name a running fleet" in r.stdout, _show(r)


def _npm(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**_without_fleet(), "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
    return subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_npm_pack_ships_javascript_a_fresh_project_can_import(ts_built, tmp_path):
    """The package as a git checkout has it (tracked and new files, no dist/): `npm pack` builds
    it through `prepack` and the tarball holds the compiled client and stubs, which a fresh
    project installs (dependencies from npm's cache when it has them) and imports -- from
    JavaScript and, with its declarations, from TypeScript."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (it comes with Node.js)")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "."], cwd=PACKAGE,
                            capture_output=True, check=True).stdout.decode().split("\0")
    checkout = tmp_path / "checkout"
    for name in filter(None, listed):
        if (PACKAGE / name).is_file():  # a tracked file deleted in the working tree is not shipped
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PACKAGE / name, checkout / name)
    assert not (checkout / "dist").exists()
    (checkout / "node_modules").symlink_to(PACKAGE / "node_modules")  # prepack's TypeScript (npm ci)
    r = _npm("pack", "--json", "--pack-destination", str(tmp_path), cwd=checkout)
    assert r.returncode == 0, _show(r)
    (packed,) = json.loads(r.stdout)
    files = {f["path"] for f in packed["files"]}
    for shipped in ("package.json", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/client.js",
                    "dist/src/gen/interp/v1/model_host_service_pb.js", "dist/src/gen/third_party/google/rpc/status_pb.js"):
        assert shipped in files, sorted(files)
    assert not any(f.startswith(("dist/test/", "dist/examples/", "src/")) for f in files), sorted(files)

    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "consumer", "private": True, "type": "module"}))
    # --prefer-offline: npm's cache (filled by `npm ci`) where it holds the dependencies, the
    # registry only for what it lacks.
    r = _npm("install", "--prefer-offline", str(tmp_path / packed["filename"]), cwd=app)
    assert r.returncode == 0, _show(r)
    (app / "main.ts").write_text(
        'import { DEFAULT_TIMEOUT_MS, InterpClient, type InterpClientOptions } from "@interp-suite/client";\n'
        'import { TensorSchema } from "@interp-suite/client/gen/interp/v1/tensor_pb.js";\n'
        'const options: InterpClientOptions = { endpoint: "127.0.0.1:9", apiKey: "" };\n'
        "const c = new InterpClient(options);\n"
        "const timeout: number = c.timeoutMs;\n"
        "console.log(JSON.stringify([DEFAULT_TIMEOUT_MS, timeout, c.baseUrl, TensorSchema.typeName, typeof c.modelHost.runModel]));\n"
        "c.close();\n"
    )
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022", "strict": True, "outDir": "out",
        "typeRoots": [str(PACKAGE / "node_modules" / "@types")], "types": ["node"]}, "files": ["main.ts"]}))
    r = subprocess.run([ts_built, str(PACKAGE / "node_modules" / "typescript" / "bin" / "tsc"), "-p", "tsconfig.json"], cwd=app,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "the installed package's declarations do not type-check\n" + _show(r)
    r = subprocess.run([ts_built, "out/main.js"], cwd=app, capture_output=True, text=True, timeout=60, env=_without_fleet())
    assert r.returncode == 0, _show(r)
    assert json.loads(r.stdout) == [300_000, 300_000, "http://127.0.0.1:9", "interp.v1.Tensor", "function"], _show(r)


@pytest.mark.fleet
@pytest.mark.slow
def test_every_rpc_through_the_typescript_sdk(ts_built, fleet):
    """`node --test dist/test/` against the fleet: every RPC of the contract (the suite checks
    that itself from the service descriptors), plus the unit tests."""
    r = _node_test(ts_built, "dist/test/", env={**_without_fleet(), "INTERP_ENDPOINT": fleet.endpoint, "INTERP_API_KEY": DEV_KEY},
                   timeout=780)
    assert r.returncode == 0 and "# fail 0" in r.stdout, _show(r)
    assert "ok " in r.stdout and "every RPC of every service was answered" in r.stdout, _show(r)


@pytest.mark.fleet
def test_capture_example_prints_a_reference_another_client_can_patch_with(ts_built, fleet):
    """examples/capture.ts prints {"ref", "shape", "dtype"}; the Python SDK rebuilds the Tensor
    from that line and patches with it (the cross-language round trip a Go program also makes)."""
    from google.protobuf import json_format

    from interp.v1 import tensor_pb2 as tpb
    from interpretability import Client, patch

    site = "blocks.6.hook_resid_pre"
    r = subprocess.run(
        [ts_built, "dist/examples/capture.js", "--model", "smollm2-135m", "--text", "The capital of France is", "--site", site,
         "--endpoint", fleet.endpoint, "--api-key", DEV_KEY],
        cwd=PACKAGE, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, _show(r)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, _show(r)
    out = json.loads(lines[0])
    assert sorted(out) == ["dtype", "ref", "shape"] and out["dtype"] == "DATA_TYPE_FLOAT32" and out["shape"] == [1, 5, 576], out
    ref = json_format.ParseDict(out["ref"], tpb.ObjectRef())
    assert ref.key.startswith("dev/") and len(ref.sha256) == 64
    source = tpb.Tensor(dtype=tpb.DataType.Value(out["dtype"]), shape=out["shape"], object=ref)
    with Client(fleet.endpoint, api_key=DEV_KEY) as c:
        res = c.run("smollm2-135m", ["The capital of Italy is"], interventions=[patch(site, source)], top_k=1)
        assert res.sequences[0].top_next_tokens[0].display_token == "Paris"
        assert c.delete_tensors([ref]) == 1
    bad = subprocess.run([ts_built, "dist/examples/capture.js", "--model", "smollm2-135m", "--text", "x", "--site", "blocks.0.hook_nothing",
                          "--endpoint", fleet.endpoint, "--api-key", DEV_KEY], cwd=PACKAGE, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "INVALID_ARGUMENT (HOOK_SITE_UNKNOWN)" in bad.stderr and not bad.stdout, _show(bad)


@pytest.mark.fleet
def test_attention_example_prints_findings(ts_built, fleet):
    r = subprocess.run(
        [ts_built, "dist/examples/attention.js", "--model", "all-minilm-l6-v2", "--text", "The cat sat on the mat.", "--layers", "0-1",
         "--endpoint", fleet.endpoint, "--api-key", DEV_KEY],
        cwd=PACKAGE, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, _show(r)
    assert "Key Findings:" in r.stdout and "Attention Hotspots" in r.stdout and "Layer 1:" in r.stdout, _show(r)
    assert "bidirectional, 6 layers x 12 heads" in r.stdout and "24 heads" in r.stdout, _show(r)
