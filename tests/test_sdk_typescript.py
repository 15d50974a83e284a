"""The TypeScript SDK (clients/typescript): compiled with its pinned TypeScript, then its node:test
suites run -- the fleet-free unit tests (tensor decoding incl. float16/bfloat16, builders, error
decoding, the client against an in-process Connect gRPC server) on their own, and the whole
suite against the session's Ray Serve fleet, where every RPC of every service is called through
the SDK and each service's bad input is checked for its code, reason and field."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DEV_KEY
from tests.support.sdks import TS_PACKAGE as PACKAGE
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


def test_fleet_tests_refuse_to_run_without_an_endpoint(ts_built):
    """Without INTERP_ENDPOINT / INTERP_API_KEY the fleet suite fails, saying what to set."""
    r = _node_test(ts_built, "dist/test/fleet.test.js", env=_without_fleet())
    assert r.returncode != 0 and "INTERP_ENDPOINT and INTERP_API_KEY must name a running fleet" in r.stdout, _show(r)


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
