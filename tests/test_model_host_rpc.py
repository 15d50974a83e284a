"""The model host's compute-engine RPCs through the gateway (in-process gRPC servers): metrics
and gradients against torch.autograd with hooks written here, one batched sweep against single
calls, Generate streaming against Hugging Face's own ``generate``, and concurrent clients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.v1 import model_host_service_pb2 as mpb
from interp.v1 import tensor_pb2 as tpb
from interpretability import Client, logit_difference, mean_ablation, noise, patch, steering
from tests.support.concurrency import own_answers_under_load

IOI = "When Mary and John went to the store, John gave a drink to"
IOI_CORRUPT = "When Mary and John went to the store, Mary gave a drink to"
MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key="k-alice") as c:
        yield c


def _ids(smollm, text: str) -> list[int]:
    return smollm.tokenizer(text)["input_ids"]


def _reference_gradients(smollm, ids: list[int], correct: int, incorrect: int, layers: list[int], steer_at: tuple[int, int, float] | None):
    """Logit difference and its gradients at embeddings and layer inputs, from hooks written here."""
    model = smollm.model
    kept: dict[int, torch.Tensor] = {}
    handles = []
    for layer in layers:
        def keep(m, args, kwargs, layer=layer):
            kept[layer] = args[0] if args else kwargs["hidden_states"]
        handles.append(model.model.layers[layer].register_forward_pre_hook(keep, with_kwargs=True))
    if steer_at is not None:
        layer, pos, value = steer_at

        def steer(m, args, output):
            out = output[0] if isinstance(output, tuple) else output
            out = out.clone()
            out[:, pos] += value
            return (out, *output[1:]) if isinstance(output, tuple) else out
        handles.append(model.model.layers[layer].register_forward_hook(steer))
    try:
        emb = model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
        logits = model(inputs_embeds=emb).logits
        metric = logits[0, -1, correct] - logits[0, -1, incorrect]
        grads = torch.autograd.grad(metric, [emb] + [kept[layer] for layer in layers])
    finally:
        for h in handles:
            h.remove()
    return float(metric.detach()), grads


@pytest.mark.parametrize("steered, delivery", [
    (False, tpb.RESULT_DELIVERY_INLINE), (True, tpb.RESULT_DELIVERY_INLINE), (False, tpb.RESULT_DELIVERY_OBJECT_STORE),
], ids=["clean", "with a steering intervention", "through the store"])
def test_gradients_through_grpc_equal_autograd(client, smollm, steered, delivery):
    ids = _ids(smollm, IOI)
    mary, john = _ids(smollm, " Mary")[0], _ids(smollm, " John")[0]
    layers = [0, 7, 29]
    sites = ["hook_embed"] + [f"blocks.{layer}.hook_resid_pre" for layer in layers]
    ivs = [steering("blocks.3.hook_resid_post", np.full(576, 0.25, dtype=np.float32), positions=[4])] if steered else []
    out = client.run(MODEL, tokens=[ids], metric=logit_difference(mary, john), gradients=sites, interventions=ivs,
                     delivery=delivery)
    kind = "object" if delivery == tpb.RESULT_DELIVERY_OBJECT_STORE else "raw"
    assert all(g.tensor.WhichOneof("data") == kind for g in out.gradients)
    value, grads = _reference_gradients(smollm, ids, mary, john, layers, (3, 4, 0.25) if steered else None)
    assert out.metric_values[0] == pytest.approx(value, abs=1e-4)
    assert [g.hook_site for g in out.gradients] == sites
    for got, want in zip(out.gradients, grads, strict=True):
        np.testing.assert_allclose(client.to_numpy(got.tensor), want.numpy(), atol=1e-5, rtol=1e-4)
        assert list(got.tensor.dim_names) == ["batch", "pos", "d_model"]


def test_one_batched_sweep_equals_single_calls(client, smollm):
    ids, corrupt = _ids(smollm, IOI), _ids(smollm, IOI_CORRUPT)
    mary, john = _ids(smollm, " Mary")[0], _ids(smollm, " John")[0]
    sites = [f"blocks.{layer}.hook_resid_pre" for layer in (2, 10)]
    clean = client.run(MODEL, tokens=[ids], capture=sites, delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
    src = {a.hook_site: a.tensor for a in clean.activations}
    assert all(t.WhichOneof("data") == "object" for t in src.values())
    s2 = next(i for i, (a, b) in enumerate(zip(ids, corrupt, strict=True)) if a != b)  # the repeated name
    cells = [(s, p) for s in sites for p in (s2, len(ids) - 1)]
    ivs = [patch(s, src[s], positions=[p], sequences=[i]) for i, (s, p) in enumerate(cells)]
    ivs.append(noise("hook_embed", 0.5, seed=3, positions=[2], sequences=[1]))
    batched = client.run(MODEL, tokens=[corrupt] * len(cells), interventions=ivs, metric=logit_difference(mary, john))
    for i, (s, p) in enumerate(cells):
        extra = [noise("hook_embed", 0.5, seed=3, positions=[2])] if i == 1 else []
        one = client.run(MODEL, tokens=[corrupt], interventions=[patch(s, src[s], positions=[p]), *extra],
                         metric=logit_difference(mary, john))
        assert batched.metric_values[i] == pytest.approx(one.metric_values[0], abs=1e-4)
    # Patching the repeated name's residual at layer 2 restores the clean answer's preference.
    assert batched.metric_values[0] > 0 > client.run(MODEL, tokens=[corrupt], metric=logit_difference(mary, john)).metric_values[0]


def test_generate_streams_the_greedy_continuation(client, smollm):
    ids = _ids(smollm, "The capital of France is")
    events = list(client.generate(MODEL, "The capital of France is", max_new_tokens=8, ignore_eos=True))
    tokens = [e.token for e in events if e.WhichOneof("event") == "token"]
    result = events[-1].result
    assert events[-1].WhichOneof("event") == "result" and len(tokens) == 8
    with torch.inference_mode():
        want = smollm.model.generate(torch.tensor([ids]), max_new_tokens=8, min_new_tokens=8, do_sample=False,
                                     pad_token_id=smollm.tokenizer.eos_token_id)
    assert list(result.token_ids) == want[0, len(ids):].tolist()
    assert [t.token_id for t in tokens] == list(result.token_ids)
    assert "".join(t.text for t in tokens) == result.text and "Paris" in result.text
    assert [t.position for t in tokens] == list(range(len(ids), len(ids) + 8))
    assert result.finish_reason == mpb.FINISH_REASON_LENGTH


def test_generate_with_steering_and_capture_and_stop(client, smollm):
    plain = list(client.generate(MODEL, "I think that", max_new_tokens=12, ignore_eos=True))[-1].result
    vec = np.random.default_rng(0).standard_normal(576).astype(np.float32) * 4
    steered = list(client.generate(MODEL, "I think that", max_new_tokens=12, ignore_eos=True,
                                   interventions=[steering("blocks.10.hook_resid_post", vec)],
                                   capture=["blocks.10.hook_resid_post"]))[-1].result
    assert steered.text != plain.text
    act = client.to_numpy(steered.activations[0].tensor)
    assert act.shape == (1, len(steered.prompt_token_ids) + 12 - 1, 576)
    first_word = plain.text.split()[0]
    stopped = list(client.generate(MODEL, "I think that", max_new_tokens=12, ignore_eos=True, stop=[first_word]))[-1].result
    assert stopped.finish_reason == mpb.FINISH_REASON_STOP_STRING and first_word not in stopped.text


def test_closing_a_generation_early_stops_it_and_leaves_the_host_usable(client, monkeypatch):
    """Closing the stream cancels the call: the model host takes no more steps (counted at the
    core's step function) long before the 256 asked for, and answers the next request."""
    import importlib
    import time

    gen = importlib.import_module("interp_services.core.generate")  # the module, not the function core exports
    steps = []
    step = gen._Stepper.step
    monkeypatch.setattr(gen._Stepper, "step", lambda self, ids: (steps.append(time.monotonic()), step(self, ids))[1])
    stream = client.generate(MODEL, "Once upon a time", max_new_tokens=256, ignore_eos=True)
    first = next(stream)
    assert first.WhichOneof("event") == "token"
    stream.close()  # cancels the call
    time.sleep(2.0)
    taken = len(steps)
    time.sleep(2.0)
    assert len(steps) == taken < 64, f"{taken} steps before the cancellation took effect; {len(steps)} after"
    assert client.run(MODEL, ["Once upon a time"], top_k=1).sequences[0].top_next_tokens


def test_sixteen_concurrent_clients_each_get_their_own_answer(local_fleet, smollm):
    assert own_answers_under_load(local_fleet.endpoint, "k-alice", smollm) == []


def test_generate_with_a_mean_from_reference_texts(client):
    """The server computes the mean over the reference texts' tokens; the same mean given as a
    tensor (computed here from a capture of those texts) generates the same tokens."""
    site, refs = "blocks.6.mlp.hook_post", ["A cat sat on the mat.", "Stocks fell sharply on Monday"]
    acts = client.run(MODEL, refs, capture=[site], delivery=tpb.RESULT_DELIVERY_INLINE)
    lengths = [len(s.token_ids) for s in acts.sequences]
    act = client.to_numpy(acts.activations[0].tensor)
    mean = sum(act[b, :n].sum(axis=0) for b, n in enumerate(lengths)) / sum(lengths)
    def logprobs(*interventions) -> list[float]:
        events = client.generate(MODEL, "I think that", max_new_tokens=6, ignore_eos=True, interventions=list(interventions))
        return [e.token.logprob for e in events if e.WhichOneof("event") == "token"]

    by_texts = logprobs(mean_ablation(site, reference_texts=refs))
    by_tensor = logprobs(mean_ablation(site, mean=mean.astype(np.float32)))
    assert by_texts == pytest.approx(by_tensor, abs=1e-4)
    assert max(abs(a - b) for a, b in zip(by_texts, logprobs(), strict=True)) > 1e-2  # the ablation took effect


def test_pooled_captures_equal_the_mean_of_the_full_capture(client):
    """capture_pooling averages positions at the model host: each pool equals the mean of the
    same positions of the unpooled capture (a single position gathers it)."""
    texts = ["The cat sat on the mat.", "Paris is the capital of France, they say."]
    sites = ["blocks.3.hook_resid_post", "blocks.7.mlp.hook_post", "blocks.2.attn.hook_z"]
    full = client.run(MODEL, texts, capture=sites, delivery=tpb.RESULT_DELIVERY_INLINE)
    pools = [(0, [1, 2, 3]), (1, [0]), (1, [2, 5, 9]), (0, [6])]
    pooled = client.run(MODEL, texts, capture=sites, delivery=tpb.RESULT_DELIVERY_INLINE, pools=pools)
    for f, p in zip(full.activations, pooled.activations, strict=True):
        x, y = client.to_numpy(f.tensor), client.to_numpy(p.tensor)
        assert list(p.tensor.dim_names) == ["pool", *list(f.tensor.dim_names)[2:]] and y.shape[0] == len(pools)
        want = np.stack([x[s, pos].mean(0) for s, pos in pools])
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sites, pools, reason", [
    (["blocks.0.attn.hook_pattern"], [(0, [0])], "HOOK_SITE_NOT_SUPPORTED_HERE"),
    (["blocks.0.hook_resid_post"], [(0, [99])], "POSITION_OUT_OF_RANGE"),
    (["blocks.0.hook_resid_post"], [(3, [0])], "SEQUENCE_OUT_OF_RANGE"),
    (["blocks.0.hook_resid_post"], [(0, [])], "POSITION_OUT_OF_RANGE"),
], ids=["pattern site", "position", "sequence", "empty pool"])
def test_bad_capture_pools_are_refused(client, sites, pools, reason):
    from interpretability import InterpClientError

    with pytest.raises(InterpClientError) as e:
        client.run(MODEL, ["A short text."], capture=sites, pools=pools)
    assert e.value.reason == reason, str(e.value)
