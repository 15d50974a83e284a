"""Servicers in in-process gRPC servers on port 0, and the gateway in front of them."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import torch
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from interp.v1 import attention_service_pb2 as apb
from interp.v1 import attention_service_pb2_grpc as apb_grpc
from interp.v1 import common_pb2 as cpb
from interp.v1 import model_host_service_pb2 as mpb
from interp.v1 import model_host_service_pb2_grpc as mpb_grpc
from interp.v1 import tensor_pb2 as tpb
from interpretability import Client, InvalidArgument, NotFound, Unauthenticated, patch, to_numpy, zero_ablation

TEXT = "The quick brown fox jumps over the lazy dog."


def rich(err: grpc.RpcError) -> tuple[str, list[str]]:
    for k, v in err.trailing_metadata():
        if k == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(v)
            reason, fields = "", []
            for d in st.details:
                if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    d.Unpack(info)
                    reason = info.reason
                    assert info.domain == "interp.v1"
                elif d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    br = error_details_pb2.BadRequest()
                    d.Unpack(br)
                    fields = [v.field for v in br.field_violations]
            return reason, fields
    raise AssertionError("no rich status")


@pytest.fixture(scope="module")
def mh(servers):
    ch = grpc.insecure_channel(f"127.0.0.1:{servers['model_host']}", options=[("grpc.max_receive_message_length", 64 << 20)])
    yield mpb_grpc.ModelHostServiceStub(ch)
    ch.close()


@pytest.fixture(scope="module")
def at(servers):
    ch = grpc.insecure_channel(f"127.0.0.1:{servers['attention']}", options=[("grpc.max_receive_message_length", 64 << 20)])
    yield apb_grpc.AttentionServiceStub(ch)
    ch.close()


def test_list_info_tokenize(mh, smollm):
    names = [m.name for m in mh.ListModels(mpb.ListModelsRequest()).models]
    assert {"smollm2-135m", "all-minilm-l6-v2"} <= set(names)
    info = mh.GetModelInfo(mpb.GetModelInfoRequest(model="smollm2-135m")).info
    assert (info.num_layers, info.num_heads, info.num_kv_heads, info.d_model) == (30, 9, 3, 576)
    assert any(s.name == "blocks.29.attn.hook_pattern" and s.intervenable for s in info.hook_sites)
    assert any(s.name == "blocks.29.attn.hook_result" and list(s.dim_names) == ["batch", "pos", "head", "d_model"] for s in info.hook_sites)
    tok = mh.Tokenize(mpb.TokenizeRequest(model="smollm2-135m", texts=cpb.TextBatch(texts=[TEXT]))).tokenized[0]
    assert list(tok.token_ids) == smollm.tokenizer(TEXT)["input_ids"]
    # Raw pieces and their readable form, from the model's own tokenizer.
    assert tok.tokens[1] == "Ġquick" and tok.display_tokens[1] == "quick" and len(tok.display_tokens) == len(tok.tokens)


def test_load_model_streams_progress(mh):
    events = list(mh.LoadModel(mpb.LoadModelRequest(model="all-minilm-l6-v2")))
    assert events[-1].stage == "ready" and events[-1].info.num_layers == 6


def test_run_inline_and_store_round_trip(mh, smollm, local_store):
    site = "blocks.3.attn.hook_pattern"
    inline = mh.RunModel(
        mpb.RunModelRequest(model="smollm2-135m", texts=cpb.TextBatch(texts=[TEXT]), capture=[site], top_k=5, delivery=tpb.RESULT_DELIVERY_INLINE)
    )
    ids = torch.tensor([list(inline.sequences[0].token_ids)])
    with torch.no_grad():
        ref = smollm.model(input_ids=ids, output_attentions=True)
    np.testing.assert_allclose(to_numpy(inline.activations[0].tensor), ref.attentions[3].numpy(), atol=1e-5)
    top = inline.sequences[0].top_next_tokens
    assert len(top) == 5 and top[0].token_id == int(ref.logits[0, -1].argmax())
    stored = mh.RunModel(
        mpb.RunModelRequest(model="smollm2-135m", texts=cpb.TextBatch(texts=[TEXT]), capture=[site], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
    )
    t = stored.activations[0].tensor
    assert t.WhichOneof("data") == "object" and t.object.key.startswith("default/")
    from interp_services.store import StoredRef

    got = local_store.get("default", StoredRef(t.object.bucket, t.object.key, t.object.byte_size, t.object.sha256))
    torch.testing.assert_close(got, ref.attentions[3], atol=1e-5, rtol=0)


def test_patch_with_an_object_ref_from_a_previous_run_changes_nothing(mh, local_store):
    from interp_services.store import StoredRef

    site = "blocks.6.hook_resid_pre"
    run = lambda **kw: mh.RunModel(mpb.RunModelRequest(model="smollm2-135m", texts=cpb.TextBatch(texts=[TEXT]), **kw))  # noqa: E731
    base = run(capture=[site], return_logits=True, delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
    o = base.logits.object
    base_logits = local_store.get("default", StoredRef(o.bucket, o.key, o.byte_size, o.sha256)).numpy()
    patched = run(interventions=[patch(site, base.activations[0].tensor)], return_logits=True, delivery=tpb.RESULT_DELIVERY_INLINE)
    np.testing.assert_array_equal(to_numpy(patched.logits), base_logits)
    ablated = run(interventions=[zero_ablation("blocks.6.attn.hook_z", heads=[0])], return_logits=True, delivery=tpb.RESULT_DELIVERY_INLINE)
    assert np.abs(to_numpy(ablated.logits) - base_logits).max() > 1e-3


def _code_reason(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req)
    reason, fields = rich(e.value)
    assert "Traceback" not in (e.value.details() or "")
    return e.value.code(), reason, fields


def test_servicer_errors_carry_reason_and_fields(mh, at):
    code, reason, fields = _code_reason(mh.GetModelInfo, mpb.GetModelInfoRequest(model="gpt2"))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")
    code, reason, fields = _code_reason(
        at.AnalyzeAttention,
        apb.AnalyzeAttentionRequest(model="smollm2-135m", text=TEXT, selection=cpb.LayerHeadSelection(layers=[0, 31])),
    )
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "LAYER_OUT_OF_RANGE", ["selection.layers[1]"])
    bad = tpb.Tensor(dtype=tpb.DATA_TYPE_FLOAT32, shape=[576], raw=b"\x00" * 7)
    code, reason, fields = _code_reason(
        mh.RunModel,
        mpb.RunModelRequest(
            model="smollm2-135m",
            texts=cpb.TextBatch(texts=[TEXT]),
            interventions=[mpb.Intervention(hook_site="blocks.0.hook_resid_pre", steering=mpb.SteeringVector(vector=bad))],
        ),
    )
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "TENSOR_MALFORMED", ["interventions[0].steering.vector.raw"])


def test_attention_through_grpc_equals_hf(at, smollm):
    a = at.AnalyzeAttention(
        apb.AnalyzeAttentionRequest(
            model="smollm2-135m",
            text=TEXT,
            selection=cpb.LayerHeadSelection(layers=[2, 7]),
            options=apb.AttentionOptions(include_patterns=True, delivery=tpb.RESULT_DELIVERY_INLINE),
        )
    ).analysis
    ids = torch.tensor([list(a.token_ids)])
    with torch.no_grad():
        ref = smollm.model(input_ids=ids, output_attentions=True).attentions
    assert [p.layer for p in a.patterns] == [2, 7] and len(a.heads) == 18
    for p in a.patterns:
        np.testing.assert_allclose(to_numpy(p.pattern), ref[p.layer][0].numpy(), atol=1e-5)
    # The analysis' own numbers agree with a direct computation from the HF matrices.
    for h in a.heads:
        m = ref[h.layer][0, h.head]
        q = torch.arange(1, m.shape[0])
        assert abs(h.scores.previous_token - float(m[q, q - 1].mean())) < 1e-4


# -- the gateway in front of the in-process servers ------------------------------------------------
@pytest.fixture(scope="module")
def gateway(local_fleet):
    """Port of the local fleet's gateway (keys k-alice -> alice, k-bob -> bob)."""
    return int(local_fleet.endpoint.rsplit(":", 1)[1])


def test_gateway_requires_api_key(gateway):
    with Client(f"127.0.0.1:{gateway}") as c, pytest.raises(Unauthenticated) as e:
        c.list_models()
    assert e.value.reason == "API_KEY_MISSING"
    with Client(f"127.0.0.1:{gateway}", api_key="wrong") as c, pytest.raises(Unauthenticated) as e:
        c.list_models()
    assert e.value.reason == "API_KEY_INVALID"


def test_gateway_forwards_and_keeps_error_details(gateway):
    with Client(f"127.0.0.1:{gateway}", api_key="k-alice") as c:
        assert c.health() == "SERVING"
        assert c.model_info("all-minilm-l6-v2").num_heads == 12
        with pytest.raises(NotFound) as e:
            c.model_info("bert-base-uncased")
        assert e.value.reason == "MODEL_NOT_FOUND" and "smollm2-135m" in e.value.message
        with pytest.raises(InvalidArgument) as e:
            c.analyze_attention("all-minilm-l6-v2", "hello", heads=[12])
        assert e.value.reason == "HEAD_OUT_OF_RANGE" and e.value.violations[0].field == "selection.heads[0]"
        events = list(c.load_model("all-minilm-l6-v2"))
        assert events[-1].info.name == "all-minilm-l6-v2"


def test_gateway_tenants_cannot_read_each_others_objects(gateway):
    site = "blocks.0.hook_resid_pre"
    with Client(f"127.0.0.1:{gateway}", api_key="k-alice") as alice, Client(f"127.0.0.1:{gateway}", api_key="k-bob") as bob:
        ref = alice.run("all-minilm-l6-v2", ["hello world"], capture=[site], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE).activations[0].tensor
        assert ref.object.key.startswith("alice/")
        alice.run("all-minilm-l6-v2", ["hello world"], interventions=[patch(site, ref)])
        with pytest.raises(Exception) as e:
            bob.run("all-minilm-l6-v2", ["hello world"], interventions=[patch(site, ref)])
        assert getattr(e.value, "reason", "") == "OBJECT_NOT_OWNED"


def test_gateway_health_and_reflection(gateway):
    with grpc.insecure_channel(f"127.0.0.1:{gateway}") as ch:
        h = health_pb2_grpc.HealthStub(ch)
        assert h.Check(health_pb2.HealthCheckRequest(service="interp.v1.AttentionService")).status == health_pb2.HealthCheckResponse.SERVING
        r = reflection_pb2_grpc.ServerReflectionStub(ch)
        resp = next(r.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in resp.list_services_response.service}
        assert {"interp.v1.ModelHostService", "interp.v1.AttentionService", "grpc.health.v1.Health"} <= names
        resp = next(r.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="interp.v1.AttentionService")])))
        assert resp.file_descriptor_response.file_descriptor_proto
