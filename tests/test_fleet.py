"""End to end through the running Ray Serve fleet: CLI, SDK, error table, ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch

from interp.v1 import attention_service_pb2 as apb
from interp.v1 import circuits_service_pb2 as cipb
from interp.v1 import model_host_service_pb2 as mpb
from interp.v1 import probing_service_pb2 as ppb
from interp.v1 import tensor_pb2 as tpb
from interpretability import (
    Client,
    InterpClientError,
    NotFound,
    activation_score,
    attribution,
    class_score,
    noise,
    to_numpy,
    token_score,
    zero_ablation,
)
from tests.conftest import DEV_KEY, S3_CHECK_KEY, S3_CHECK_TENANT, TOY_MODEL
from tests.support.concurrency import own_answers_under_load

pytestmark = [pytest.mark.fleet, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def client(fleet):
    with Client(fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


def test_health_and_list_models_cli(fleet):
    r = fleet.cli("health")
    assert r.returncode == 0, r.stderr
    # Every service of the registry, listed by the fleet itself (reflection), is serving.
    for service in ("ModelHostService", "AttentionService", "StorageService"):
        assert f"interp.v1.{service}: SERVING" in r.stdout, r.stdout
    r = fleet.cli("list-models")
    assert r.returncode == 0 and "smollm2-135m" in r.stdout and "all-minilm-l6-v2" in r.stdout


def test_analyze_attention_cli_matches_hf_eager(fleet, tmp_path, smollm):
    """The seed's command verbatim, with no key given: the local fleet published its
    development key in the runtime file, which the CLI reads."""
    assert (fleet.runtime_dir / f"fleet-{fleet.endpoint.rsplit(':', 1)[1]}.json").is_file()
    out = tmp_path / "attention_analysis.html"
    r = fleet.cli(
        "analyze-attention", "--model-name", "smollm2-135m", "--input-text", TEXT,
        "--layers", "6,7,8", "--heads", "all", "--output", str(out), api_key=None,
    )
    assert r.returncode == 0, r.stderr
    # One readable token display: findings and hotspots show "lazy", never the raw "Ġlazy".
    assert "Ġ" not in r.stdout and '"lazy"' in r.stdout
    assert "Key Findings:" in r.stdout and "Attention Hotspots" in r.stdout and "Layer 7:" in r.stdout
    # Progress goes to stderr (the model may be loaded already: the bar then jumps to 100%).
    assert "loading smollm2-135m:" in r.stderr and "100%" in r.stderr, r.stderr
    assert "loading smollm2-135m" not in r.stdout
    html = out.read_text()
    assert "<script" in html and "http://" not in html and "https://" not in html
    data = json.loads(out.with_suffix(".json").read_text())
    assert [p["layer"] for p in data["patterns"]] == [6, 7, 8] and len(data["heads"]) == 27
    assert data["tokens"][-2] == "Ġdog" and data["display_tokens"][-2] == "dog"  # raw pieces stay in the JSON
    with torch.no_grad():
        ref = smollm.model(input_ids=torch.tensor([data["token_ids"]]), output_attentions=True).attentions
    for p in data["patterns"]:
        np.testing.assert_allclose(np.array(p["matrices"]), ref[p["layer"]][0].numpy(), atol=1e-5)


def test_sdk_attention_equals_hf_for_bidirectional_model(client, minilm):
    a = client.analyze_attention("all-minilm-l6-v2", TEXT, include_patterns=True, delivery=tpb.RESULT_DELIVERY_INLINE)
    assert not a.causal and a.tokens[0] == "[CLS]" and len(a.patterns) == 6
    with torch.no_grad():
        ref = minilm.model(input_ids=torch.tensor([list(a.token_ids)]), output_attentions=True).attentions
    for p in a.patterns:
        np.testing.assert_allclose(to_numpy(p.pattern), ref[p.layer][0].numpy(), atol=1e-5)


def test_compare_attention_cli_writes_reports(fleet, tmp_path):
    inputs = tmp_path / "input_samples.txt"
    inputs.write_text("# samples\nThe cat sat on the mat.\n\nA dog barked at the mailman.\nThe cat sat on the mat again.\n")
    out = tmp_path / "attention_comparison"
    r = fleet.cli("compare-attention", "--model-name", "all-minilm-l6-v2", "--inputs", str(inputs), "--layers", "0-2", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.html", "comparison.json", "input_001.html", "input_001.json",
        "input_002.html", "input_002.json", "input_003.html", "input_003.json",
    ]
    comp = json.loads((out / "comparison.json").read_text())
    assert len(comp["texts"]) == 3 and len(comp["heads"]) == 36
    for h in comp["heads"]:
        assert 1 / 3 - 1e-6 <= h["role_agreement"] <= 1


def test_interventions_through_the_fleet_equal_a_direct_hook(client, smollm):
    base = client.run("smollm2-135m", [TEXT], return_logits=True, delivery=tpb.RESULT_DELIVERY_INLINE)
    ablated = client.run(
        "smollm2-135m", [TEXT], interventions=[zero_ablation("blocks.4.attn.hook_z", heads=[2])],
        return_logits=True, delivery=tpb.RESULT_DELIVERY_INLINE,
    )
    o_proj = smollm.model.model.layers[4].self_attn.o_proj
    d = smollm.info.d_head

    def pre(module, args):
        x = args[0].clone()
        x[..., 2 * d : 3 * d] = 0
        return (x,)

    h = o_proj.register_forward_pre_hook(pre)
    try:
        with torch.no_grad():
            expected = smollm.model(input_ids=torch.tensor([list(base.sequences[0].token_ids)])).logits
    finally:
        h.remove()
    np.testing.assert_allclose(to_numpy(ablated.logits), expected.numpy(), atol=1e-5)
    assert np.abs(to_numpy(ablated.logits) - to_numpy(base.logits)).max() > 1e-3


def test_toy_model_heads_are_named_through_the_fleet(client):
    """The self-trained in-context-bigram model: a previous-token head in layer 0 and an
    induction head in layer 1 (ground truth from its construction and training)."""
    from tests.toy_models.induction import evaluation_sequences, sequences_to_text

    text = sequences_to_text(evaluation_sequences(1, seed=123).tokens)[0]
    a = client.analyze_attention(str(TOY_MODEL), text)
    assert a.tokens == text.split()  # the word-level tokenizer: one token per symbol
    roles = {(h.layer, h.head): apb.HeadRole.Name(h.role) for h in a.heads}
    assert "HEAD_ROLE_PREVIOUS_TOKEN" in [r for (layer, _), r in roles.items() if layer == 0]
    assert "HEAD_ROLE_INDUCTION" in [r for (layer, _), r in roles.items() if layer == 1]


def _bad(client: Client, name: str):
    long_text = "word " * 600
    cases = {
        "unknown model": lambda: client.model_info("gpt2"),
        "empty model name": lambda: client.model_info(""),
        "malformed model name": lambda: client.model_info("bad name!!"),
        "layer out of range": lambda: client.analyze_attention("smollm2-135m", TEXT, layers=[30]),
        "head out of range": lambda: client.analyze_attention("smollm2-135m", TEXT, heads=[9]),
        "duplicate layer": lambda: client.analyze_attention("smollm2-135m", TEXT, layers=[1, 1]),
        "empty text": lambda: client.analyze_attention("smollm2-135m", "  "),
        "too many tokens": lambda: client.analyze_attention("smollm2-135m", long_text),
        "too many characters": lambda: client.analyze_attention("smollm2-135m", "x" * 25_000),
        "batch too large": lambda: client.run("smollm2-135m", [TEXT] * 257),
        "unknown hook site": lambda: client.run("smollm2-135m", [TEXT], capture=["blocks.0.hook_nothing"]),
        "malformed tensor": lambda: client.run(
            "smollm2-135m", [TEXT],
            interventions=[mpb.Intervention(hook_site="blocks.0.hook_resid_pre", steering=mpb.SteeringVector(
                vector=tpb.Tensor(dtype=tpb.DATA_TYPE_FLOAT32, shape=[576], raw=b"123")))],
        ),
        "tensor without dtype": lambda: client.run(
            "smollm2-135m", [TEXT],
            interventions=[mpb.Intervention(hook_site="blocks.0.hook_resid_pre", steering=mpb.SteeringVector(
                vector=tpb.Tensor(shape=[576], raw=b"\0" * 2304)))],
        ),
        "intervention without action": lambda: client.run(
            "smollm2-135m", [TEXT], interventions=[mpb.Intervention(hook_site="blocks.0.hook_resid_pre")]
        ),
        "noise on an attention pattern": lambda: client.run("smollm2-135m", [TEXT], interventions=[noise("blocks.0.attn.hook_pattern", 1.0)]),
        "negative noise": lambda: client.run("smollm2-135m", [TEXT], interventions=[noise("blocks.0.hook_resid_pre", -1.0)]),
        "sequence outside the batch": lambda: client.run(
            "smollm2-135m", [TEXT], interventions=[zero_ablation("blocks.0.hook_resid_pre", sequences=[1])]
        ),
        "metric token outside the vocabulary": lambda: client.run("smollm2-135m", [TEXT], metric=token_score(10**7)),
        "metric position outside the input": lambda: client.run("smollm2-135m", [TEXT], metric=token_score(5, positions=[99])),
        "gradients without a metric": lambda: client.run("smollm2-135m", [TEXT], gradients=["hook_embed"]),
        "gradient the metric does not reach": lambda: client.run(
            "smollm2-135m", [TEXT], metric=activation_score("blocks.1.hook_resid_pre", index=[0]), gradients=["blocks.5.hook_resid_pre"]
        ),
        "class metric without a classifier": lambda: client.run("smollm2-135m", [TEXT], metric=class_score(0)),
        "too many new tokens": lambda: list(client.generate("smollm2-135m", TEXT, max_new_tokens=100_000)),
        "generation on an encoder": lambda: list(client.generate("all-minilm-l6-v2", TEXT)),
        "pattern capture in generation": lambda: list(client.generate("smollm2-135m", TEXT, capture=["blocks.0.attn.hook_pattern"])),
        "position out of range": lambda: client.run(
            "smollm2-135m", [TEXT], interventions=[zero_ablation("blocks.0.hook_resid_pre", positions=[99])]
        ),
        "top-k on an encoder": lambda: client.run("all-minilm-l6-v2", [TEXT], top_k=5),
        "token id out of range": lambda: client.run("smollm2-135m", tokens=[[1, 2, 10**7]]),
        "attribution method that cannot run here": lambda: client.attribute("smollm2-135m", TEXT, methods="deeplift"),
        "attribution class the prompt lacks": lambda: client.attribute(
            "smollm2-135m", TEXT, target=attribution.class_target("neutral", prompt=attribution.prompt_classifier(
                "Review: {text}\nSentiment:", ["negative", "positive"], [" negative", " positive"]))),
        "too many integration steps": lambda: client.attribute("smollm2-135m", TEXT, options=attribution.options(n_steps=10**6)),
        "empty dataset": lambda: client.analyze_activations("smollm2-135m", []),
        "sample size of zero": lambda: client.analyze_activations("smollm2-135m", [TEXT], sample_size=0),
        "activation layer out of range": lambda: client.analyze_activations("smollm2-135m", [TEXT], layers=[30]),
        "neuron out of range": lambda: client.analyze_activations("smollm2-135m", [TEXT], layers=[2], neurons=[("mlp_post", 2, 1536)]),
        "unknown ranking method": lambda: client.rank_neuron_importance("smollm2-135m", [TEXT], method=9),
        "concept set without controls": lambda: client.find_concept_neurons("smollm2-135m", [TEXT, TEXT + "!"], []),
        "too many histogram bins": lambda: client.analyze_activations("smollm2-135m", [TEXT], histogram_bins=5000),
        "gradient target of two tokens": lambda: client.analyze_gradients("smollm2-135m", [TEXT], target={"next_token": " Paris France"}),
        "logit lens on an encoder": lambda: client.logit_lens("all-minilm-l6-v2", TEXT),
        "probe task with one class": lambda: client.probe_representations("smollm2-135m", [ppb.ProbeTask(
            name="t", level=ppb.PROBE_LEVEL_SENTENCE, examples=[ppb.ProbeExample(text=f"{TEXT} {i}", label="x") for i in range(5)])]),
        "misaligned parallel sentences": lambda: client.compare_representations([("en", [TEXT] * 4), ("fr", [TEXT] * 3)],
                                                                                model="smollm2-135m"),
        "neuron selection on a pattern": lambda: client.run(
            "smollm2-135m", [TEXT], interventions=[mpb.Intervention(hook_site="blocks.0.attn.hook_pattern", neurons=[0],
                                                                   zero_ablation=mpb.ZeroAblation())]),
        "one-input comparison": lambda: client.compare_attention("smollm2-135m", [TEXT]),
        "too many links": lambda: client.analyze_attention("smollm2-135m", TEXT, top_k_links=5000),
        "unknown delivery": lambda: client.analyze_attention("smollm2-135m", TEXT, include_patterns=True, delivery=7),
        "read another tenant's object": lambda: client.read_tensors(
            [tpb.ObjectRef(key="alice/runs/0123456789abcdef0123456789abcdef.safetensors", byte_size=10, sha256="ab" * 32)]
        ),
        "read nothing": lambda: client.read_tensors([]),
        "missing stored object": lambda: client.run(
            "smollm2-135m", [TEXT],
            interventions=[mpb.Intervention(hook_site="blocks.0.hook_resid_pre", patch=mpb.ActivationPatch(source=tpb.Tensor(
                dtype=tpb.DATA_TYPE_FLOAT32, shape=[1, 10, 576],
                object=tpb.ObjectRef(key="dev/runs/0123456789abcdef0123456789abcdef.safetensors", byte_size=10, sha256="ab" * 32))))],
        ),
        "circuit task without pairs": lambda: client.discover_circuit("smollm2-135m", cipb.CircuitTask(name="empty")),
        "tracing a subject the prompt lacks": lambda: client.trace_causal_flow("smollm2-135m", TEXT, subject="elephant"),
        "other tenant's object": lambda: client.run(
            "smollm2-135m", [TEXT],
            interventions=[mpb.Intervention(hook_site="blocks.0.hook_resid_pre", patch=mpb.ActivationPatch(source=tpb.Tensor(
                dtype=tpb.DATA_TYPE_FLOAT32, shape=[1, 10, 576],
                object=tpb.ObjectRef(key="alice/runs/0123456789abcdef0123456789abcdef.safetensors", byte_size=10, sha256="ab" * 32))))],
        ),
    }
    return cases[name]


BAD_INPUTS = [
    ("unknown model", grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND"),
    ("empty model name", grpc.StatusCode.INVALID_ARGUMENT, "MODEL_NAME_EMPTY"),
    ("malformed model name", grpc.StatusCode.INVALID_ARGUMENT, "MODEL_NAME_INVALID"),
    ("layer out of range", grpc.StatusCode.INVALID_ARGUMENT, "LAYER_OUT_OF_RANGE"),
    ("head out of range", grpc.StatusCode.INVALID_ARGUMENT, "HEAD_OUT_OF_RANGE"),
    ("duplicate layer", grpc.StatusCode.INVALID_ARGUMENT, "LAYER_DUPLICATE"),
    ("empty text", grpc.StatusCode.INVALID_ARGUMENT, "INPUT_EMPTY"),
    ("too many tokens", grpc.StatusCode.RESOURCE_EXHAUSTED, "INPUT_TOO_LONG"),
    ("too many characters", grpc.StatusCode.RESOURCE_EXHAUSTED, "INPUT_TOO_LONG"),
    ("batch too large", grpc.StatusCode.RESOURCE_EXHAUSTED, "BATCH_TOO_LARGE"),
    ("unknown hook site", grpc.StatusCode.INVALID_ARGUMENT, "HOOK_SITE_UNKNOWN"),
    ("malformed tensor", grpc.StatusCode.INVALID_ARGUMENT, "TENSOR_MALFORMED"),
    ("tensor without dtype", grpc.StatusCode.INVALID_ARGUMENT, "TENSOR_DTYPE_INVALID"),
    ("intervention without action", grpc.StatusCode.INVALID_ARGUMENT, "INTERVENTION_ACTION_MISSING"),
    ("noise on an attention pattern", grpc.StatusCode.INVALID_ARGUMENT, "HOOK_SITE_NOT_SUPPORTED_HERE"),
    ("negative noise", grpc.StatusCode.INVALID_ARGUMENT, "INTERVENTION_VALUE_INVALID"),
    ("sequence outside the batch", grpc.StatusCode.INVALID_ARGUMENT, "SEQUENCE_OUT_OF_RANGE"),
    ("metric token outside the vocabulary", grpc.StatusCode.INVALID_ARGUMENT, "TOKEN_ID_OUT_OF_RANGE"),
    ("metric position outside the input", grpc.StatusCode.INVALID_ARGUMENT, "POSITION_OUT_OF_RANGE"),
    ("gradients without a metric", grpc.StatusCode.INVALID_ARGUMENT, "METRIC_MISSING"),
    ("gradient the metric does not reach", grpc.StatusCode.INVALID_ARGUMENT, "GRADIENT_SITE_UNREACHABLE"),
    ("class metric without a classifier", grpc.StatusCode.INVALID_ARGUMENT, "MODEL_HAS_NO_CLASSIFIER"),
    ("too many new tokens", grpc.StatusCode.INVALID_ARGUMENT, "MAX_NEW_TOKENS_OUT_OF_RANGE"),
    ("generation on an encoder", grpc.StatusCode.INVALID_ARGUMENT, "MODEL_HAS_NO_LM_HEAD"),
    ("pattern capture in generation", grpc.StatusCode.INVALID_ARGUMENT, "HOOK_SITE_NOT_SUPPORTED_HERE"),
    ("position out of range", grpc.StatusCode.INVALID_ARGUMENT, "POSITION_OUT_OF_RANGE"),
    ("top-k on an encoder", grpc.StatusCode.INVALID_ARGUMENT, "MODEL_HAS_NO_LM_HEAD"),
    ("token id out of range", grpc.StatusCode.INVALID_ARGUMENT, "TOKEN_ID_OUT_OF_RANGE"),
    ("attribution method that cannot run here", grpc.StatusCode.INVALID_ARGUMENT, "ATTRIBUTION_METHOD_NOT_SUPPORTED"),
    ("attribution class the prompt lacks", grpc.StatusCode.INVALID_ARGUMENT, "CLASS_LABEL_UNKNOWN"),
    ("too many integration steps", grpc.StatusCode.INVALID_ARGUMENT, "ATTRIBUTION_PARAMETER_OUT_OF_RANGE"),
    ("empty dataset", grpc.StatusCode.INVALID_ARGUMENT, "INPUT_EMPTY"),
    ("sample size of zero", grpc.StatusCode.INVALID_ARGUMENT, "SAMPLE_SIZE_INVALID"),
    ("activation layer out of range", grpc.StatusCode.INVALID_ARGUMENT, "LAYER_OUT_OF_RANGE"),
    ("neuron out of range", grpc.StatusCode.INVALID_ARGUMENT, "NEURON_OUT_OF_RANGE"),
    ("unknown ranking method", grpc.StatusCode.INVALID_ARGUMENT, "RANKING_METHOD_UNKNOWN"),
    ("concept set without controls", grpc.StatusCode.INVALID_ARGUMENT, "CONCEPT_CONTROLS_MISSING"),
    ("too many histogram bins", grpc.StatusCode.INVALID_ARGUMENT, "ANALYSIS_PARAMETER_OUT_OF_RANGE"),
    ("gradient target of two tokens", grpc.StatusCode.INVALID_ARGUMENT, "TARGET_TOKEN_INVALID"),
    ("logit lens on an encoder", grpc.StatusCode.INVALID_ARGUMENT, "MODEL_HAS_NO_LM_HEAD"),
    ("probe task with one class", grpc.StatusCode.INVALID_ARGUMENT, "PROBE_LABELS_INVALID"),
    ("misaligned parallel sentences", grpc.StatusCode.INVALID_ARGUMENT, "PARALLEL_MISALIGNED"),
    ("neuron selection on a pattern", grpc.StatusCode.INVALID_ARGUMENT, "NEURON_OUT_OF_RANGE"),
    ("one-input comparison", grpc.StatusCode.INVALID_ARGUMENT, "TOO_FEW_INPUTS"),
    ("too many links", grpc.StatusCode.INVALID_ARGUMENT, "TOP_K_OUT_OF_RANGE"),
    ("circuit task without pairs", grpc.StatusCode.INVALID_ARGUMENT, "CIRCUIT_TASK_INVALID"),
    ("tracing a subject the prompt lacks", grpc.StatusCode.INVALID_ARGUMENT, "SUBJECT_NOT_FOUND"),
    ("unknown delivery", grpc.StatusCode.INVALID_ARGUMENT, "DELIVERY_INVALID"),
    ("read another tenant's object", grpc.StatusCode.PERMISSION_DENIED, "OBJECT_NOT_OWNED"),
    ("read nothing", grpc.StatusCode.INVALID_ARGUMENT, "INPUT_EMPTY"),
    ("missing stored object", grpc.StatusCode.NOT_FOUND, "OBJECT_NOT_FOUND"),
    ("other tenant's object", grpc.StatusCode.PERMISSION_DENIED, "OBJECT_NOT_OWNED"),
]


@pytest.mark.parametrize("name, code, reason", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_get_clear_errors(client, name, code, reason):
    with pytest.raises(InterpClientError) as e:
        _bad(client, name)()
    assert (e.value.code, e.value.reason) == (code, reason), str(e.value)
    assert "Traceback" not in e.value.message and "File \"" not in e.value.message


@pytest.mark.parametrize(
    "key, reason", [(None, "API_KEY_MISSING"), ("not-a-key", "API_KEY_INVALID")], ids=["no key", "wrong key"]
)
def test_unauthenticated_calls_are_refused(fleet, key, reason):
    with Client(fleet.endpoint, api_key=key or "") as c, pytest.raises(InterpClientError) as e:
        c.list_models()
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)


def test_cli_without_a_key_is_refused_when_no_local_fleet_published_one(fleet, tmp_path):
    """The runtime file is the only fallback: elsewhere a missing key is refused."""
    env = {k: v for k, v in os.environ.items() if k != "INTERP_API_KEY"}
    env["INTERP_RUNTIME_DIR"] = str(tmp_path / "empty")
    r = subprocess.run(
        [sys.executable, "-m", "interpretability.cli", "list-models", "--endpoint", fleet.endpoint],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert r.returncode == 1 and "UNAUTHENTICATED (API_KEY_MISSING)" in r.stderr


def test_sdk_installs_and_runs_without_torch(fleet, tmp_path):
    """The SDK and CLI install on their own (interp-suite-proto + interp-suite-client) into a
    fresh virtualenv with no torch, transformers or Ray, and talk to the fleet."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(ROOT / "protos" / "python"), str(ROOT / "clients" / "python")],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True).stdout.lower()
    for heavy in ("torch", "transformers", "ray", "captum", "safetensors", "minio"):
        assert f"\n{heavy}==" not in "\n" + listed, f"{heavy} was installed with the SDK"
    assert subprocess.run([str(py), "-c", "import torch"], capture_output=True).returncode != 0
    r = subprocess.run(
        [str(venv / "bin" / "interp"), "model-info", "--model-name", "all-minilm-l6-v2", "--endpoint", fleet.endpoint, "--api-key", DEV_KEY],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0 and "6 layers, 12 heads" in r.stdout, r.stdout + r.stderr
    code = (
        "from interpretability import Client\n"
        f"with Client({fleet.endpoint!r}, api_key={DEV_KEY!r}) as c:\n"
        "    a = c.analyze_attention('all-minilm-l6-v2', 'The cat sat on the mat.', layers=[0])\n"
        "    print(len(a.heads), a.display_tokens[1])\n"
    )
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.split() == ["12", "the"], r.stdout + r.stderr


def test_malformed_request_bytes_are_invalid_argument(fleet):
    with grpc.insecure_channel(fleet.endpoint) as ch:
        call = ch.unary_unary("/interp.v1.AttentionService/AnalyzeAttention")
        with pytest.raises(grpc.RpcError) as e:
            call(b"\xff\xff\xff\xff", metadata=(("x-api-key", DEV_KEY),), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cli_reports_server_errors_with_reason(fleet):
    r = fleet.cli("analyze-attention", "--model-name", "smollm2-135m", "--input-text", TEXT, "--layers", "40")
    assert r.returncode == 1
    assert "INVALID_ARGUMENT (LAYER_OUT_OF_RANGE)" in r.stderr and "layers[0]" in r.stderr
    r = fleet.cli("analyze-attention", "--model-name", "smollm2-135m", "--input-text", TEXT, "--layers", "six")
    assert r.returncode == 2 and "--layers" in r.stderr
    assert "Traceback" not in r.stderr


def test_metrics_are_exported_with_codes(fleet, client):
    """Requests, errors by code, latency and tensor bytes appear on Ray's Prometheus endpoint."""
    import time
    import urllib.request

    with pytest.raises(InterpClientError):
        client.model_info("gpt2")
    client.run("all-minilm-l6-v2", ["metrics"], capture=["blocks.0.hook_resid_pre"], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
    wanted = [
        'ray_interp_gateway_requests_total{',
        'code="NOT_FOUND"',
        "ray_interp_gateway_errors_total",
        "ray_interp_gateway_request_latency_seconds_bucket",
        'ray_interp_store_tensor_bytes_total{',
        "ray_interp_model_host_batch_requests_bucket",
        "ray_interp_model_host_batch_sequences_bucket",
    ]
    deadline = time.monotonic() + 90  # Ray exports every few seconds
    while True:
        text = urllib.request.urlopen(fleet.metrics_url, timeout=10).read().decode()
        missing = [w for w in wanted if w not in text]
        if 'method="GetModelInfo"' not in text:
            missing.append("GetModelInfo")
        if not missing:
            break
        assert time.monotonic() < deadline, f"missing metrics: {missing}"
        time.sleep(3)
    lines = [
        x for x in text.splitlines()
        if x.startswith("ray_interp_gateway_requests_total{") and 'code="NOT_FOUND"' in x and 'method="GetModelInfo"' in x
    ]
    assert lines and float(lines[0].rsplit(" ", 1)[1]) >= 1


def _metric_total(text: str, name: str) -> float:
    """The sum of one metric's series in a Prometheus text page."""
    return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(name + "{") or x.startswith(name + " "))


def test_sixteen_concurrent_clients_through_ray_each_get_their_own_answer(fleet, smollm):
    """Cross-request batching inside the Ray replica: every response belongs to its request, and
    requests were in fact merged (the model host's batch histogram counts more requests than
    passes)."""
    import time
    import urllib.request

    assert own_answers_under_load(fleet.endpoint, DEV_KEY, smollm) == []
    deadline = time.monotonic() + 90  # Ray exports every few seconds
    while True:
        text = urllib.request.urlopen(fleet.metrics_url, timeout=10).read().decode()
        requests = _metric_total(text, "ray_interp_model_host_batch_requests_sum")
        passes = _metric_total(text, "ray_interp_model_host_batch_requests_count")
        if passes and requests > passes:
            break
        assert time.monotonic() < deadline, f"no merged pass: {requests} requests in {passes} passes"
        time.sleep(3)


def test_generate_streams_through_ray(client):
    """Server streaming from the Ray replica through the gateway: tokens, then the result."""
    events = list(client.generate("smollm2-135m", "The capital of France is", max_new_tokens=4, ignore_eos=True))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["token"] * 4 + ["result"]
    assert "".join(e.token.text for e in events[:4]) == events[-1].result.text


def test_attribution_through_ray_streams_progress_and_equals_the_core(client, smollm):
    """The attribution deployment (its own replica and model copy) answers as the core does
    in this process, and streams progress before the result."""
    from interp_services.core.attribution import AttributionJob, AttributionOptions, Target, explain

    events = list(client.attribute_stream(
        "smollm2-135m", "The capital of France is", target=attribution.next_token_target(" Paris"),
        methods="integrated_gradients,feature_ablation", options=attribution.options(n_steps=16),
    ))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"progress"}
    got = events[-1].result
    want = explain(smollm, AttributionJob("The capital of France is", Target("next_token", continuation=" Paris"),
                                          ["integrated_gradients", "feature_ablation"], options=AttributionOptions(n_steps=16)))
    for g, w in zip(got.methods, want.methods, strict=True):
        assert list(g.scores) == pytest.approx(w.scores, abs=1e-4)
    assert got.methods[0].delta == pytest.approx(want.methods[0].delta, abs=1e-4)


def test_activations_through_ray_equal_the_core(client, smollm):
    """The activations deployment (no weights; the model host's captures) gives the statistics
    of the model's own activations, with progress before the result."""
    from interp_services.core.run import run_model, tokenize

    texts = ["The capital of France is Paris.", "A second, somewhat longer sentence about the weather today."]
    events = []
    r = client.analyze_activations("smollm2-135m", texts, layers=[2], sites=["mlp_post"], include_statistics=True,
                                   on_progress=events.append)
    assert events and r.tokens_analyzed == sum(len(s) for s in tokenize(smollm, texts, max_tokens=64))
    acts = [run_model(smollm, tokenize(smollm, [t], max_tokens=64), capture=["blocks.2.mlp.hook_post"]).captures["blocks.2.mlp.hook_post"][0]
            for t in texts]
    x = torch.cat(acts).double()
    assert client.to_numpy(r.sites[0].mean)[0] == pytest.approx(x.mean(0).numpy(), abs=1e-4)
    lens = client.logit_lens("smollm2-135m", "The capital of France is", layers=[29])
    assert lens.layers[0].cells[-1].top[0].token == "Paris"


def test_probing_through_ray_equals_a_direct_computation(client, smollm):
    """The probing deployment (no weights; the model host's residual stream) gives the same
    representations as the model itself: two sources whose texts are the same are identical,
    and CKA against a shuffled copy matches CKA computed here from Hugging Face's hidden states."""
    from interp_services.core.probing import linear_cka

    texts = ["The cat sleeps.", "A dog barked at night.", "Paris is in France.", "Two plus two is four.", "She reads a book.",
             "The river flows to the sea."]
    shuffled = texts[1:] + texts[:1]
    events = []
    r = client.compare_representations([("a", texts), ("b", shuffled)], model="smollm2-135m", layers=[3], metrics=["cka"],
                                       on_progress=events.append)
    assert events and r.texts == len(texts)
    got = {m.name: m.values[0] for m in r.pairs[0].metrics}
    with torch.no_grad():
        vecs = [smollm.model(**smollm.tokenizer(t, return_tensors="pt"), output_hidden_states=True).hidden_states[4][0, 1:].mean(0)
                for t in texts]
    x = torch.stack(vecs).double().numpy()
    assert got["cka"] == pytest.approx(linear_cka(x, np.roll(x, -1, axis=0)), abs=1e-4)


def test_circuits_through_ray_find_the_toy_induction_circuit(client):
    """The circuits deployment (no weights; every experiment a RunModel call through the Ray
    handles and the S3 store) finds the previous-token -> induction K-composition edge."""
    symbols = "abcdefghijklmnopqrs"
    pairs = []
    for i in range(4):
        r = [symbols[(i * 7 + 3 * j) % 19] for j in range(8)]
        other = [symbols[(i * 5 + 11 * j + 1) % 19] for j in range(8)]
        pairs.append(cipb.PromptPair(clean=" ".join(r + r[:-1]), corrupted=" ".join(other + r[:-1]), answer=" " + r[-1]))
    task = cipb.CircuitTask(name="copying", metric=cipb.TASK_METRIC_LOG_PROBABILITY, pairs=pairs)
    events = []
    res = client.discover_circuit(str(TOY_MODEL), task, method="eap_ig", circuit_types=["attention_only"], top_edges=4,
                                  on_progress=events.append)
    assert events and res.circuits[0].metric_recovered > 0.9
    assert any(e.sender == "a0.h0" and e.receiver == "a1.h0" and e.input == "k" for e in res.circuits[0].edges)


# -- the S3 store behind the Ray fleet ----------------------------------------------------------


def _versions(fleet, prefix: str) -> list:
    """Every object version and delete marker under ``prefix`` in the fleet's (versioned) bucket."""
    return list(fleet.s3.client().list_objects(bucket_name=fleet.bucket, prefix=prefix, recursive=True, include_version=True))


def _current_keys(fleet, prefix: str) -> set[str]:
    return {o.object_name for o in fleet.s3.client().list_objects(bucket_name=fleet.bucket, prefix=prefix, recursive=True)}


def test_environment_overrides_reach_the_fleet(fleet):
    """INTERP_PORT beat the YAML's port; INTERP_API_KEYS added a key with its own tenant."""
    assert fleet.env_port != fleet.config_port and fleet.endpoint == f"127.0.0.1:{fleet.env_port}"
    with Client(fleet.endpoint, api_key=S3_CHECK_KEY) as c:
        run = c.run("all-minilm-l6-v2", ["env"], capture=["blocks.0.hook_resid_pre"], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
        ref = run.activations[0].tensor.object
        assert ref.key.startswith(f"{S3_CHECK_TENANT}/runs/")
        c.delete_tensors([ref])


def test_attention_reads_the_model_hosts_patterns_from_s3_and_deletes_them(fleet):
    """Patterns over the 48 MiB inline cap travel from the model host to the attention service
    as S3 objects; once read they are deleted (the bucket keeps a delete marker for each)."""
    prefix = f"{S3_CHECK_TENANT}/runs/"
    before = {(v.object_name, v.version_id) for v in _versions(fleet, prefix)}
    text = " ".join(["the cat sat on the mat and"] * 62)  # ~436 BERT tokens
    with Client(fleet.endpoint, api_key=S3_CHECK_KEY) as c:
        a = c.analyze_attention("all-minilm-l6-v2", text)
    n = len(a.tokens)
    assert 6 * 12 * n * n * 4 > 48 << 20 and len(a.heads) == 72  # the premise: too large to come inline
    new = [v for v in _versions(fleet, prefix) if (v.object_name, v.version_id) not in before]
    written = {v.object_name for v in new if not v.is_delete_marker}
    deleted = {v.object_name for v in new if v.is_delete_marker}
    assert len(written) == 6, new  # one object per layer's pattern
    assert deleted == written
    assert not written & _current_keys(fleet, prefix)


def test_run_model_results_in_s3_can_be_read_and_deleted(fleet):
    """RunModel with OBJECT_STORE delivery writes a hash-verified object to the S3 bucket; the
    StorageService reads it back equal to the inline result and deletes it."""
    capture = ["blocks.2.hook_resid_post"]
    with Client(fleet.endpoint, api_key=S3_CHECK_KEY) as c:
        stored = c.run("all-minilm-l6-v2", [TEXT], capture=capture, delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
        inline = c.run("all-minilm-l6-v2", [TEXT], capture=capture, delivery=tpb.RESULT_DELIVERY_INLINE)
        tensor = stored.activations[0].tensor
        ref = tensor.object
        assert tensor.WhichOneof("data") == "object" and ref.bucket == fleet.bucket
        stat = fleet.s3.client().stat_object(bucket_name=fleet.bucket, object_name=ref.key)
        assert stat.size == ref.byte_size and ref.key in _current_keys(fleet, f"{S3_CHECK_TENANT}/")
        [read] = c.read_tensors([tensor])
        np.testing.assert_array_equal(to_numpy(read), to_numpy(inline.activations[0].tensor))
        assert list(read.shape) == list(tensor.shape)
        assert c.delete_tensors([tensor]) == 1
        assert ref.key not in _current_keys(fleet, f"{S3_CHECK_TENANT}/")
        with pytest.raises(NotFound) as e:
            c.read_tensors([tensor])
    assert e.value.reason == "OBJECT_NOT_FOUND"
