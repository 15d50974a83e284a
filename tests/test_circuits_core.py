"""Circuit discovery in-process (core + model-host core, no gRPC): the split-input and edge
interventions against references computed in the test, patching and tracing boundary
conditions, and the known circuit of the project's in-context-bigram toy model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from interp_services.core import circuits as core
from interp_services.core.errors import InvalidArgument
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.reasons import Reason
from interp_services.core.run import run_model, tokenize
from tests.conftest import TOY_MODEL

IOI = ("When Mary and John went to the store, John gave a drink to", "When Alice and Bob went to the store, Tom gave a drink to")
FACT = "The Eiffel Tower is located in the city of"


@pytest.fixture(scope="module")
def toy(model_cache):
    return model_cache.get(str(TOY_MODEL))


def _ids(loaded, texts):
    return tokenize(loaded, list(texts), max_tokens=512)


def _next(loaded, prompt: str, answer: str) -> int:
    a, b = _ids(loaded, [prompt, prompt + answer])
    assert b[: len(a)] == a and len(b) == len(a) + 1
    return b[-1]


# ------------------------------------------------------------------------ split inputs and edges


@pytest.mark.parametrize("which", ["smollm", "toy"])
def test_split_inputs_are_the_block_input_and_carry_the_attention_path(which, smollm, toy):
    loaded = smollm if which == "smollm" else toy
    texts = IOI if which == "smollm" else ("a b c d a b c d a", "e f g h e f g h e")
    ids = _ids(loaded, texts)
    L = 1
    sites = [f"blocks.{L}.hook_{w}_input" for w in "qkv"]
    out = run_model(loaded, ids, capture=[f"blocks.{L}.hook_resid_pre", *sites, f"blocks.{L}.hook_mlp_in", f"blocks.{L}.hook_attn_out"])
    x = out.captures[f"blocks.{L}.hook_resid_pre"]
    for s in sites:
        assert torch.equal(out.captures[s], x.unsqueeze(2).expand_as(out.captures[s]))
    # The MLP's input is the block input plus the attention output.
    torch.testing.assert_close(out.captures[f"blocks.{L}.hook_mlp_in"], x + out.captures[f"blocks.{L}.hook_attn_out"])
    # Patching every head's query, key and value input from the other prompt is patching the
    # attention output: the residual connection keeps the original input.
    from_q = run_model(loaded, ids, interventions=[Intervention(s, "patch", sequences=[0], source_sequences=[1]) for s in sites],
                       return_logits=True).logits
    from_out = run_model(loaded, ids, interventions=[Intervention(f"blocks.{L}.hook_attn_out", "patch", sequences=[0], source_sequences=[1])],
                         return_logits=True).logits
    torch.testing.assert_close(from_q, from_out, atol=1e-4, rtol=1e-4)
    assert (from_q[0] - run_model(loaded, ids, return_logits=True).logits[0]).abs().max() > 0.1


@pytest.mark.parametrize("which", ["smollm", "toy"])
def test_split_input_gradients_sum_to_the_residual_gradient(which, smollm, toy):
    """d/d resid_pre = (every head's q, k, v input) + (the MLP's input) + (the skip path onward)."""
    loaded = smollm if which == "smollm" else toy
    ids = _ids(loaded, IOI[:1] if which == "smollm" else ["a b c d a b c"])
    L = 1
    names = ["hook_resid_pre", "hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in", "hook_resid_post"]
    sites = [f"blocks.{L}.{n}" for n in names]
    g = run_model(loaded, ids, metric=Metric("token", token_ids=[ids[0][-1]]), gradients=sites).gradients
    total = sum(g[s].sum(dim=2) for s in sites[1:4]) + g[sites[4]] + g[sites[5]]
    assert float((g[sites[0]] - total).norm() / g[sites[0]].norm()) < 1e-5


def test_edge_patch_of_every_upstream_sender_equals_patching_the_attention_output(smollm):
    ids = _ids(smollm, IOI)
    L = 3
    senders = [("blocks.0.hook_resid_pre", [])] + [(f"blocks.{i}.attn.hook_result", []) for i in range(L)] + [
        (f"blocks.{i}.hook_mlp_out", []) for i in range(L)]
    edges = [Intervention(f"blocks.{L}.hook_{w}_input", "edge", sequences=[0], source_sequences=[1], senders=senders) for w in "qkv"]
    a = run_model(smollm, ids, interventions=edges, return_logits=True).logits
    b = run_model(smollm, ids, interventions=[Intervention(f"blocks.{L}.hook_attn_out", "patch", sequences=[0], source_sequences=[1])],
                  return_logits=True).logits
    torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def test_an_edge_into_one_key_head_changes_only_the_query_heads_that_read_it(smollm):
    """SmolLM2 has 3 key/value heads for 9 query heads: patching one key input changes the
    pattern of that group's 3 query heads and of no other head, and nothing in earlier layers."""
    ids = _ids(smollm, IOI)
    L = 2
    edge = Intervention(f"blocks.{L}.hook_k_input", "edge", heads=[1], sequences=[0], source_sequences=[1],
                        senders=[("blocks.0.hook_resid_pre", [])])
    site = f"blocks.{L}.attn.hook_pattern"
    base = run_model(smollm, ids, capture=[site, f"blocks.{L}.hook_resid_pre"])
    moved = run_model(smollm, ids, interventions=[edge], capture=[site, f"blocks.{L}.hook_resid_pre"])
    diff = (base.captures[site][0] - moved.captures[site][0]).abs().amax(dim=(1, 2))
    assert torch.equal(base.captures[f"blocks.{L}.hook_resid_pre"], moved.captures[f"blocks.{L}.hook_resid_pre"])
    assert (diff[3:6] > 1e-3).all() and float(diff[:3].max()) == 0 and float(diff[6:].max()) == 0
    assert torch.equal(base.captures[site][1], moved.captures[site][1])  # the source row is untouched


def test_edges_must_run_forward_from_residual_writers(smollm):
    ids = _ids(smollm, IOI)
    bad = [
        Intervention("blocks.1.hook_q_input", "edge", source_sequences=[1], senders=[("blocks.2.attn.hook_result", [0])]),
        Intervention("blocks.1.attn.hook_pattern", "edge", source_sequences=[1], senders=[("blocks.0.attn.hook_result", [0])]),
        Intervention("blocks.1.hook_q_input", "edge", source_sequences=[1], senders=[("blocks.0.mlp.hook_post", [])]),
        Intervention("blocks.1.hook_q_input", "edge", source_sequences=[5], senders=[("blocks.0.hook_mlp_out", [])]),
        Intervention("blocks.1.hook_resid_pre", "patch"),
    ]
    for iv in bad:
        with pytest.raises(InvalidArgument):
            run_model(smollm, ids, interventions=[iv])


# ------------------------------------------------------------------------ patching and tracing


@pytest.fixture(scope="module")
def ioi_task(smollm):
    clean, corrupted = _ids(smollm, IOI)
    return core.TaskBatch([clean], [corrupted], [_next(smollm, IOI[0], " Mary")], [_next(smollm, IOI[0], " John")])


def test_patching_boundaries_every_clean_residual_gives_one_and_nothing_gives_zero(smollm, ioi_task):
    runner = core.LocalRunner(smollm)
    m = core.Monitor()
    clean, corrupted = core.baseline_metrics(runner, ioi_task, m)
    assert clean > 5 and corrupted < 0  # SmolLM2 answers " Mary"; the ABC prompt has no answer

    def patch_all(layer):
        return lambda rows, src: [Intervention(f"blocks.{layer}.hook_resid_pre", "patch", sequences=rows, source_sequences=src)]

    res = core.run_groups(runner, ioi_task, [patch_all(0), patch_all(17), lambda rows, src: []], base="corrupted", source="clean",
                          monitor=m)
    norm = core.normalise(res.values, clean, corrupted)
    assert abs(float(norm[0]) - 1) < 1e-4 and abs(float(norm[1]) - 1) < 1e-4
    assert abs(float(norm[2])) < 1e-4
    assert abs(res.source_metric - clean) < 1e-4


def test_attribution_patching_agrees_with_activation_patching_on_the_residual_stream(smollm, ioi_task):
    """Measured on this pair: correlation 0.95 (resid_pre by layer and position) and 0.98 (each
    head's result); the residual stream of a small model is close to linear between the runs."""
    runner = core.LocalRunner(smollm)
    m = core.Monitor()
    clean, corrupted = core.baseline_metrics(runner, ioi_task, m)
    comps = ["resid_pre", "head_result"]
    act = core.activation_patching(runner, ioi_task, smollm.info, comps, clean, corrupted, m, per_position=True)
    att = core.attribution_patching(runner, ioi_task, smollm.info, comps, clean, corrupted, m, per_position=True)
    for a, b in zip(act, att, strict=True):
        assert a.values.shape == b.values.shape
        r = np.corrcoef(a.values.flatten().numpy(), b.values.flatten().numpy())[0, 1]
        assert r > 0.85, (a.component, r)
    resid = act[0].values
    # The name information sits at the IO name's position early and at the last position late.
    assert float(resid[0, 1]) > 0.5 and float(resid[-1, -1]) > 0.9


def test_causal_tracing_restoring_the_final_state_recovers_the_clean_probability(smollm):
    ids = _ids(smollm, [FACT])[0]
    paris = _next(smollm, FACT, " Paris")
    m = core.Monitor()
    res = core.causal_trace(core.LocalRunner(smollm), ids, paris, [0, 1, 2, 3], smollm.info.num_layers, m, states=("hidden",),
                            samples=2, seed=3)
    assert res.subject_positions == [1, 2, 3] and res.dropped_first  # the attention sink is never noised
    assert 0.6 < res.clean_probability < 0.8 and res.corrupted_probability < 0.3
    hidden = res.maps["hidden"]
    assert hidden.shape == (smollm.info.num_layers, len(ids))
    # The last block's output at the last token is all the logits read: restoring it is exact.
    assert abs(float(hidden[-1, -1]) - res.clean_probability) < 1e-5
    # Restoring every position of one layer's residual stream is the clean run from there on.
    out = core.LocalRunner(smollm).run([ids, ids], interventions=[
        Intervention("hook_embed", "noise", positions=res.subject_positions, sequences=[1], std=res.noise_std, seed=3),
        Intervention("blocks.5.hook_resid_post", "patch", sequences=[1], source_sequences=[0])],
        metric=Metric("token", token_ids=[paris], score="prob"))
    assert abs(float(out.metric[1]) - res.clean_probability) < 1e-5
    # Early layers: only the subject's own tokens carry the fact.
    early = hidden[:5]
    assert float(early[:, 1:4].max()) > float(early[:, 4:-1].max()) + 0.2


def test_causal_tracing_refuses_a_subject_left_empty_by_dropping_position_0(toy):
    """An empty position list means "every position" to the noise intervention: tracing a
    subject that is only the first token must stop before any run, not noise the whole prompt."""
    m = core.Monitor()
    with pytest.raises(InvalidArgument) as e:
        core.causal_trace(core.LocalRunner(toy), [0, 3, 6, 0, 3], 6, [0], toy.info.num_layers, m, states=("hidden",), samples=1)
    assert e.value.reason == Reason.SUBJECT_NOT_FOUND and [v.field for v in e.value.violations] == ["subject_positions"]
    assert m.runs == 0


# ------------------------------------------------------------------------ the toy induction circuit


@pytest.fixture(scope="module")
def copying(toy):
    return core.copying_task(list(range(19)), 12, 8, 1)


def test_head_detection_names_the_previous_token_and_induction_heads(toy):
    scores = core.detect_heads(core.LocalRunner(toy), toy.info, list(range(19)), core.Monitor(), length=12)
    assert float(scores.previous_token[0, 0]) > 0.5 and float(scores.induction[1, 0]) > 0.5
    assert float(scores.induction[0, 0]) < 0.2 and float(scores.previous_token[1, 0]) < 0.2


def test_acdc_and_edge_patching_find_the_k_composition_circuit(toy, copying):
    runner, m = core.LocalRunner(toy), core.Monitor()
    clean, corrupted = core.baseline_metrics(runner, copying, m)
    graph = core.build_graph(toy.info, "attention_only")
    assert len(graph.edges) == 12
    kept, _, final = core.acdc(runner, copying, graph, clean, corrupted, 0.05, m)
    names = {e.name for e in kept}
    assert names == {"input->a0.h0.v", "a0.h0->a1.h0.k", "input->a1.h0.v", "a1.h0->logits"}
    assert core.normalise(final, clean, corrupted) > 0.9
    exact = core.exhaustive_edge_patching(runner, copying, graph, clean, corrupted, m)
    top = {graph.edges[i].name for i in torch.argsort(exact, descending=True)[:4].tolist()}
    assert top == names


def test_eap_ig_ranks_the_same_top_edges_as_exhaustive_patching(toy, copying):
    """EAP-IG agrees with patching every edge alone; plain EAP does not on this model (both
    heads' softmax is saturated on the clean run, so its gradients understate the key and
    value edges and it ranks a spurious input -> key edge second)."""
    runner, m = core.LocalRunner(toy), core.Monitor()
    clean, corrupted = core.baseline_metrics(runner, copying, m)
    graph = core.build_graph(toy.info, "attention_only")
    exact = core.exhaustive_edge_patching(runner, copying, graph, clean, corrupted, m)
    ig = core.edge_scores(runner, copying, graph, clean, corrupted, m, ig_steps=5)
    plain = core.edge_scores(runner, copying, graph, clean, corrupted, m)
    top = lambda s: {graph.edges[i].name for i in torch.argsort(s.abs(), descending=True)[:4].tolist()}  # noqa: E731
    assert top(ig) == top(exact)
    assert top(plain) != top(exact) and "input->a0.h0.v" not in top(plain)
    circuit = core.FoundCircuit("attention_only", core.select_edges(graph, ig, threshold=0.2, top_edges=0), {}, len(graph.edges), 0.2)
    core.evaluate_circuit(runner, copying, graph, circuit, clean, corrupted, m, minimality=True)
    assert circuit.metric_recovered > 0.9
    assert all(v > 0.5 for v in circuit.minimality.values())  # every edge of it is needed
    # Boundaries: the whole graph keeps everything, the empty circuit nothing.
    for edges, expected in ((graph.edges, 1.0), ([], 0.0)):
        whole = core.evaluate_circuit(runner, copying, graph, core.FoundCircuit("attention_only", list(edges), {}, 12, 0), clean, corrupted, m)
        assert abs(whole.metric_recovered - expected) < 1e-4


def test_ablating_either_head_brings_the_copy_loss_back_to_chance(toy):
    res = core.find_induction(core.LocalRunner(toy), toy.info, list(range(19)), core.Monitor(), length=12)
    assert res.previous_token_heads == [(0, 0)] and res.induction_heads == [(1, 0)]
    uniform = math.log(19)
    assert res.loss < 0.6
    assert abs(res.loss_without_previous_token - uniform) < 0.35
    assert abs(res.loss_without_induction - uniform) < 0.35
    assert any("K-composition" in f for f in res.findings)


def _mean_ablated_key_edge_by_hand(task: core.TaskBatch) -> float:
    """Mean log-probability of the answers with the edge a0.h0 -> a1.h0.k mean-ablated, on a
    plain transformers load of the toy (one head, so a0.h0's output is layer 0's attention output
    less its bias, which cancels): layer 1's keys read their input with a0.h0's clean output
    replaced by its mean over the task's *corrupted* prompts, position by position (position 0
    included); queries, values and the residual stream keep the clean input."""
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(TOY_MODEL, attn_implementation="eager").eval()
    blocks, d = model.transformer.h, model.config.n_embd
    seen: dict[str, torch.Tensor] = {}

    def attn_out(module, args, out):
        seen["a0"] = out[0]

    def block_in(module, args, kwargs):
        seen["x1"] = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]

    def keys(module, args, out):
        x = seen["x1"] - seen["a0"] + seen["mean"]
        k = blocks[1].ln_1(x) @ module.weight + module.bias  # GPT-2's Conv1D: x W + b, columns q | k | v
        out = out.clone()
        out[..., d : 2 * d] = k[..., d : 2 * d]
        return out

    handles = [blocks[0].attn.register_forward_hook(attn_out)]
    with torch.no_grad():
        try:
            model(torch.tensor(task.corrupted))
            seen["mean"] = seen["a0"].mean(dim=0, keepdim=True)  # [1, pos, d_model]
            handles += [blocks[1].register_forward_pre_hook(block_in, with_kwargs=True),
                        blocks[1].attn.c_attn.register_forward_hook(keys)]
            logits = model(torch.tensor(task.clean)).logits[:, -1].float()
        finally:
            for h in handles:
                h.remove()
    return float(logits.log_softmax(-1)[torch.arange(task.n), task.answers].mean())


def test_mean_ablation_replaces_a_sender_by_its_mean_over_the_corrupted_prompts(toy, copying):
    runner, m = core.LocalRunner(toy), core.Monitor()
    graph = core.build_graph(toy.info, "attention_only")
    edge = next(e for e in graph.edges if e.name == "a0.h0->a1.h0.k")
    measured = core.metric_with_edges_removed(runner, copying, [[edge]], m, ablation="mean")
    assert abs(float(measured[0]) - _mean_ablated_key_edge_by_hand(copying)) < 1e-4


def test_mean_ablation_needs_the_query_edge_that_resampling_leaves_alone(toy, copying):
    """The resample circuit of the toy omits input -> a1.h0.q: the corrupted prompts end with the
    clean prompts' tokens, so resampling that edge changes nothing the induction head's query
    reads. The mean over the corrupted prompts averages the query token away, so under mean
    ablation the same four edges keep no more than the empty circuit, and adding the query edge
    restores the behaviour -- a property of mean ablation, not of how the mean is taken."""
    runner, m = core.LocalRunner(toy), core.Monitor()
    clean, corrupted = core.baseline_metrics(runner, copying, m)
    graph = core.build_graph(toy.info, "attention_only")
    names = {"input->a0.h0.v", "a0.h0->a1.h0.k", "input->a1.h0.v", "a1.h0->logits"}

    def recovered(kept: set[str], ablation: str) -> float:
        found = core.FoundCircuit("attention_only", [e for e in graph.edges if e.name in kept], {}, len(graph.edges), 0)
        return core.evaluate_circuit(runner, copying, graph, found, clean, corrupted, m, ablation=ablation).metric_recovered

    assert recovered(names, "resample") > 0.9 and recovered(names | {"input->a1.h0.q"}, "resample") > 0.9
    assert recovered(names, "mean") < recovered(set(), "mean") + 0.1 < 0.5
    assert recovered(names | {"input->a1.h0.q"}, "mean") > 0.9
