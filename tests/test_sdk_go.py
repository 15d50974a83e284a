"""The Go SDK (clients/go): it builds with clients/go/build.sh (GOPATH mode against Debian's Go
packages), gofmt and go vet are clean, its unit tests pass without a fleet, its Client serves
every public service of the registry, and its examples talk
to the fleet: an attention analysis with the findings the Python SDK gets, the server's reason on
bad input, and a patch whose source is an object reference the Python SDK stored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict

from interp.v1 import tensor_pb2 as tpb
from interpretability import Client, patch, to_numpy
from tests.conftest import DEV_KEY
from tests.support.sdks import GO_DEBS, GO_DIR, go, sdk_gaps

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m"
TEXT = "The quick brown fox jumps over the lazy dog."

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason=f"no Go toolchain: apt-get install {GO_DEBS}")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("INTERP_API_KEY", "INTERP_ENDPOINT")}


def test_go_sources_are_gofmt_and_vet_clean(go_bin):
    r = go("gofmt", "-l", ".")
    assert r.returncode == 0 and r.stdout.strip() == "", f"not gofmt-clean:\n{r.stdout}{r.stderr}"
    r = go("go", "vet", "./...")
    assert r.returncode == 0, r.stdout + r.stderr


def test_go_unit_tests_pass():
    r = go("go", "test", "-count=1", "./interp/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok" in r.stdout


# A program that prints what interp.Dial's Client serves: every field holding a generated
# service client, as {"services": {"interp.v1.XService": [its methods]}, "unset": [fields Dial
# left nil]}.
_EXPOSED = """package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/interp-suite/interp-suite/clients/go/interp"
)

func main() {
	c, err := interp.Dial("127.0.0.1:9", interp.WithAPIKey(""))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	services, unset := map[string][]string{}, []string{}
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		t := f.Type
		if t.Kind() != reflect.Interface || !strings.HasSuffix(t.PkgPath(), "/gen/interp/v1") || !strings.HasSuffix(t.Name(), "ServiceClient") {
			continue
		}
		if v.Field(i).IsNil() {
			unset = append(unset, f.Name)
			continue
		}
		methods := []string{}
		for j := 0; j < t.NumMethod(); j++ {
			methods = append(methods, t.Method(j).Name)
		}
		services["interp.v1."+strings.TrimSuffix(t.Name(), "Client")] = methods
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"services": services, "unset": unset})
}
"""


def test_go_client_serves_every_public_service_of_the_registry(tmp_path):
    """interp.Dial's Client has a generated client per service the gateway serves, set, with
    every RPC of it: a service added to the registry fails here until Client has a field for it
    that Dial fills."""
    program = tmp_path / "main.go"
    program.write_text(_EXPOSED)
    r = go("go", "run", str(program))
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["unset"] == [], f"interp.Dial leaves these Client fields nil: {out['unset']} (clients/go/interp/client.go)"
    gaps = sdk_gaps("Go", out["services"], "add a field for it to interp.Client and fill it in interp.Dial (clients/go/interp/client.go)")
    assert not gaps, "\n".join(gaps)


def test_go_module_file_pins_what_debian_ships():
    """go.mod requires what the GOPATH build is verified against (and the genproto that grpc's
    own go.mod requires), and the README names each of those versions, unverified in module mode."""
    mod = (GO_DIR / "go.mod").read_text()
    assert "module github.com/interp-suite/interp-suite/clients/go" in mod
    pins = {"google.golang.org/grpc": "v1.33.3", "google.golang.org/protobuf": "v1.28.1",
            "google.golang.org/genproto": "v0.0.0-20200526211855-cb27e3aa2013"}
    for module, version in pins.items():
        assert f"{module} {version}" in mod
    readme = (GO_DIR / "README.md").read_text()
    assert all(version in readme for version in pins.values()) and "go mod tidy" in readme


def run_example(go_bin: Path, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(go_bin / name), *args], check=False, capture_output=True, text=True, timeout=timeout, env=_env())


@pytest.mark.fleet
def test_go_attention_example_prints_the_findings(fleet, go_bin):
    r = run_example(go_bin, "attention", "-endpoint", fleet.endpoint, "-api-key", DEV_KEY,
                    "-model", MODEL, "-text", TEXT, "-layers", "6-8")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    print(out)
    assert f"Model: {MODEL} (causal, 30 layers x 9 heads)" in out, out
    assert "Analyzed: layers 6,7,8; 27 heads" in out
    for section in ("Key Findings:", "Attention Hotspots", "Head Roles", "Layer-wise Patterns:"):
        assert section in out
    assert "Layer 7:" in out and "Ġ" not in out
    # the findings are the fleet's own: what the Python SDK gets for the same input
    with Client(fleet.endpoint, api_key=DEV_KEY) as c:
        a = c.analyze_attention(MODEL, TEXT, layers=[6, 7, 8])
    assert a.findings
    for finding in a.findings:
        assert f"  - {finding}" in out
    top = a.hotspots[0]
    assert f'"{top.query_token}" -> "{top.key_token}": {top.weight:.2f} (L{top.layer} H{top.head})' in out


@pytest.mark.fleet
@pytest.mark.parametrize("args, code, reason", [
    (["-layers", "30"], "INVALID_ARGUMENT", "LAYER_OUT_OF_RANGE"),
    (["-text", "  "], "INVALID_ARGUMENT", "INPUT_EMPTY"),
    (["-model", "gpt2"], "NOT_FOUND", "MODEL_NOT_FOUND"),
], ids=["layer out of range", "empty text", "unknown model"])
def test_go_attention_example_fails_with_the_reason(fleet, go_bin, args, code, reason):
    base = {"-endpoint": fleet.endpoint, "-api-key": DEV_KEY, "-model": MODEL, "-text": TEXT}
    base.update(dict(zip(args[::2], args[1::2])))
    r = run_example(go_bin, "attention", *[x for kv in base.items() for x in kv])
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"error: {code} ({reason}):" in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.fleet
def test_go_attention_example_without_a_key_is_refused(fleet, go_bin, tmp_path):
    env = _env()
    env["INTERP_RUNTIME_DIR"] = str(tmp_path)  # no runtime file: nothing to fall back on
    r = subprocess.run([str(go_bin / "attention"), "-endpoint", fleet.endpoint, "-text", TEXT, "-layers", "6"],
                       check=False, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1 and "UNAUTHENTICATED (API_KEY_MISSING)" in r.stderr, r.stderr


@pytest.mark.fleet
def test_go_patch_example_takes_a_python_object_reference(fleet, go_bin, tmp_path):
    """Python stores the clean run's residual stream; Go patches it, by reference, into the
    corrupted run at every position, so the prediction is the clean one, with the logits the
    Python SDK gets for the same patch."""
    site, clean, corrupt = "blocks.6.hook_resid_pre", "The capital of France is", "The capital of Italy is"
    with Client(fleet.endpoint, api_key=DEV_KEY) as c:
        ids = [t.token_ids for t in c.tokenize(MODEL, [clean, corrupt])]
        assert len(ids[0]) == len(ids[1])
        stored = c.run(MODEL, [clean], capture=[site], top_k=1, delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
        source = stored.activations[0].tensor
        assert source.WhichOneof("data") == "object"
        want = c.run(MODEL, [corrupt], interventions=[patch(site, source)], top_k=1, return_logits=True,
                     delivery=tpb.RESULT_DELIVERY_INLINE)
        unpatched = c.run(MODEL, [corrupt], top_k=1)
    want_logits = to_numpy(want.logits)[0, -1]
    clean_top = stored.sequences[0].top_next_tokens[0]
    assert unpatched.sequences[0].top_next_tokens[0].token_id != clean_top.token_id  # the patch matters

    as_tensor = tmp_path / "ref.json"
    as_tensor.write_text(json.dumps({"ref": MessageToDict(source), "site": site, "text": clean}))
    bare = tmp_path / "bare_ref.json"
    bare.write_text(json.dumps({"ref": MessageToDict(source.object)}))
    for ref_file in (as_tensor, bare):
        r = run_example(go_bin, "patch", "-endpoint", fleet.endpoint, "-api-key", DEV_KEY, "-model", MODEL,
                        "-text", corrupt, "-site", site, "-ref", str(ref_file))
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 1
        got = json.loads(lines[0])
        assert got["next_token_id"] == clean_top.token_id == want.sequences[0].top_next_tokens[0].token_id
        assert got["next_token"] == clean_top.token
        logits = np.array(got["logits_last"], dtype=np.float32)
        assert logits.shape == want_logits.shape == (got["vocab_size"],)
        np.testing.assert_allclose(logits, want_logits, atol=1e-4, rtol=0)
        assert int(np.argmax(logits)) == got["next_token_id"]

    r = run_example(go_bin, "patch", "-endpoint", fleet.endpoint, "-api-key", DEV_KEY, "-model", MODEL,
                    "-text", corrupt, "-site", "blocks.6.hook_nothing", "-ref", str(as_tensor))
    assert r.returncode == 1 and "error: INVALID_ARGUMENT (HOOK_SITE_UNKNOWN):" in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.fleet
def test_go_patch_example_reports_a_bad_reference(fleet, go_bin, tmp_path):
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"ref": {"dtype": "DATA_TYPE_FLOAT32", "shape": ["1", "2", "576"],
                                       "object": {"key": "dev/none", "sha256": "00" * 32, "byteSize": "8"}}}))
    r = run_example(go_bin, "patch", "-endpoint", fleet.endpoint, "-api-key", DEV_KEY, "-model", MODEL,
                    "-text", TEXT, "-ref", str(ref))
    assert r.returncode == 1 and "error: INVALID_ARGUMENT (OBJECT_KEY_INVALID):" in r.stderr, r.stderr
    r = run_example(go_bin, "patch", "-endpoint", fleet.endpoint, "-api-key", DEV_KEY, "-ref", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "-ref" in r.stderr, r.stderr
