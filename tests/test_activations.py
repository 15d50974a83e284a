"""The activations service and the model-host pieces it uses (the logit lens, neuron-level
interventions), each checked against a reference computed here independently:

* streaming statistics vs a float64 computation over every captured activation of the dataset;
* the top activating positions vs a brute-force search over the same captures;
* the logit lens vs the model's own logits (last layer) and vs the final norm and unembedding
  applied in the test to Hugging Face's hidden states (middle layers);
* gradient norms, saliency and attention-weight gradients vs ``torch.autograd`` through a
  Hugging Face model with eager attention;
* a toy GPT-2 with a concept neuron planted by the test (its weights set here): concept
  search, gradient x activation and ablation must each rank that neuron first.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch

from interp.v1 import activations_service_pb2 as pb
from interp_services.core.interventions import Intervention
from interp_services.core.lens import LensSpec
from interp_services.core.run import run_model, tokenize
from interpretability import Client, InterpClientError, token_score, zero_ablation
from interpretability import activations as act
from tests.conftest import DEV_KEY, ROOT, run_cli
from tests.support.models import random_gpt2
from tests.support.streams import assert_worker_stops

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France, and Rome is the capital of Italy.",
    "def add(a, b):\n    return a + b",
    "She smiled, then laughed out loud at the joke.",
    "1, 2, 3, 4, 5, 6, 7, 8",
    "Water boils at one hundred degrees Celsius at sea level.",
    "I can't believe it's already November!",
    "The mitochondria is the powerhouse of the cell.",
]
CONCEPT, TARGET, NEURON = "s", "r", 7  # the planted neuron fires on "s" and pushes up "r"
SUPPRESSED, DEAD, ALWAYS_ON = 9, 3, 5  # layer-1 MLP neurons of the planted model: off on "s", never on, always on


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


def _captures(client: Client, model: str, texts: list[str], sites: list[str]) -> dict[str, np.ndarray]:
    """Every real token's activation at each site, one text per run (no padding), float64."""
    out: dict[str, list[np.ndarray]] = {s: [] for s in sites}
    for t in texts:
        r = client.run(model, [t], capture=sites, delivery=2)  # RESULT_DELIVERY_INLINE
        for a in r.activations:
            out[a.hook_site].append(client.to_numpy(a.tensor)[0].astype(np.float64))
    return {s: np.concatenate(v) for s, v in out.items()}


# ------------------------------------------------------------------------------ statistics


def test_streaming_statistics_equal_a_direct_float64_computation(client):
    sites = {"mlp_post": "blocks.4.mlp.hook_post", "resid_post": "blocks.4.hook_resid_post"}
    r = client.analyze_activations("smollm2-135m", TEXTS, layers=[4], include_statistics=True, top_k_examples=4,
                                   neurons=[("mlp_post", 4, 0), ("mlp_post", 4, 100), ("resid_post", 4, 5)], delivery=2)
    ref = _captures(client, "smollm2-135m", TEXTS, list(sites.values()))
    n_tokens = ref[sites["mlp_post"]].shape[0]
    assert r.texts_analyzed == len(TEXTS) and r.tokens_analyzed == n_tokens and r.skipped_count == 0
    for site in r.sites:
        kind = act.site_name(site.site)
        x = ref[sites[kind]]
        got = {f: client.to_numpy(getattr(site, f))[0].astype(np.float64) for f in ("mean", "std", "kurtosis", "max", "min",
                                                                                  "fraction_zero", "fraction_positive")}
        # The service batches texts of similar length (padding), the reference runs each alone:
        # the activations themselves agree to float32 rounding of the forward pass.
        scale = np.abs(x).max(axis=0) + 1e-6
        np.testing.assert_allclose(got["mean"], x.mean(axis=0), atol=1e-5 * scale.max(), rtol=1e-4)
        np.testing.assert_allclose(got["std"], x.std(axis=0), rtol=1e-3, atol=1e-5 * scale.max())
        np.testing.assert_allclose(got["max"], x.max(axis=0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got["min"], x.min(axis=0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got["kurtosis"], scipy.stats.kurtosis(x, axis=0, fisher=True, bias=True), rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(got["fraction_positive"], (x > 0).mean(axis=0), atol=1.5 / n_tokens)
        np.testing.assert_allclose(got["fraction_zero"], (np.abs(x) <= 1e-6).mean(axis=0), atol=1.5 / n_tokens)
        summary = site.layer_summaries[0]
        assert summary.mean == pytest.approx(x.mean(), rel=1e-4, abs=1e-6)
        assert summary.std == pytest.approx(x.std(), rel=1e-4)
        assert summary.max == pytest.approx(x.max(), rel=1e-5)
        h = summary.histogram
        assert sum(h.counts) + h.underflow + h.overflow == x.size
        assert len(h.edges) == len(h.counts) + 1 == 51
    # The top activating positions equal a brute-force search over the same captures.
    starts = np.cumsum([0] + [len(client.tokenize("smollm2-135m", [t])[0].token_ids) for t in TEXTS])
    where = [(i, p) for i in range(len(TEXTS)) for p in range(starts[i + 1] - starts[i])]
    assert len(r.neuron_examples) == 3
    for ne in r.neuron_examples:
        kind = act.site_name(ne.neuron.site)
        column = ref[sites[kind]][:, ne.neuron.index]
        order = np.argsort(-column, kind="stable")[:4]
        assert [round(e.activation, 3) for e in ne.examples] == pytest.approx([round(float(column[j]), 3) for j in order], abs=2e-3)
        assert [(e.text_index, e.position) for e in ne.examples] == [where[j] for j in order]
        assert ne.chosen_as == "requested" and ne.max == pytest.approx(column.max(), rel=1e-4)
        for e in ne.examples:  # the context is the text around the position
            tokens = client.tokenize("smollm2-135m", [TEXTS[e.text_index]])[0].display_tokens
            assert e.token == tokens[e.position]


def test_sampling_skipped_texts_and_progress(client):
    long = "word " * 3900  # over the model's token limit, under the character limit
    texts = TEXTS + ["   ", long]
    events = []
    r = client.analyze_activations("smollm2-135m", texts, layers=[0], sites=["mlp_post"], on_progress=events.append)
    assert r.texts_analyzed == len(TEXTS) and r.skipped_count == 2
    assert [s.index for s in r.skipped] == [len(TEXTS), len(TEXTS) + 1]
    assert "empty" in r.skipped[0].reason and "token" in r.skipped[1].reason
    assert any("skipped" in f for f in r.findings)
    assert events and events[-1].fraction == pytest.approx(1.0) and events[-1].texts_done == len(TEXTS)
    sample = client.analyze_activations("smollm2-135m", TEXTS, layers=[0], sites=["mlp_post"], sample_size=3, seed=5)
    again = client.analyze_activations("smollm2-135m", TEXTS, layers=[0], sites=["mlp_post"], sample_size=3, seed=5)
    assert sample.texts_analyzed == 3 and sample.sites[0].layer_summaries[0].mean == again.sites[0].layer_summaries[0].mean


def test_memory_does_not_grow_with_the_dataset(local_fleet):
    """The accumulators' size depends on the width and k only: feeding 10x more batches leaves
    the state the same size (the stream's memory is flat)."""
    from interp_services.core.activations import DatasetStatistics

    def state_bytes(stats: DatasetStatistics) -> int:
        total = 0
        for layer in stats._state.values():
            for obj in (layer.moments, layer.histogram, layer.top):
                total += sum(v.numel() * v.element_size() for v in vars(obj).values() if isinstance(v, torch.Tensor))
        return total

    sizes = []
    for batches in (2, 20):
        stats = DatasetStatistics({"mlp_post": [0, 1]}, {"mlp_post": 64}, top_k=5)
        for b in range(batches):
            stats.update({("mlp_post", 0): torch.randn(4, 9, 64), ("mlp_post", 1): torch.randn(4, 9, 64)},
                         torch.ones(4, 9, dtype=torch.bool), list(range(4 * b, 4 * b + 4)))
        sizes.append(state_bytes(stats))
    assert sizes[0] == sizes[1]


# ----------------------------------------------------------------------------- logit lens


def test_logit_lens_last_layer_equals_the_models_logits(smollm, client):
    text = "The capital of France is"
    ids = tokenize(smollm, [text], max_tokens=64)
    last = smollm.info.num_layers - 1
    out = run_model(smollm, ids, return_logits=True, logit_lens=LensSpec([f"blocks.{last}.hook_resid_post", "blocks.10.hook_resid_post"], 5))
    probs = torch.softmax(out.logits[0].float(), dim=-1)
    p, i = probs.topk(5)
    assert torch.equal(out.lens.top_ids[f"blocks.{last}.hook_resid_post"][0], i)
    torch.testing.assert_close(out.lens.top_probs[f"blocks.{last}.hook_resid_post"][0], p, atol=1e-6, rtol=0)
    # Middle layer: Hugging Face's own hidden state through the final norm and lm_head, here.
    with torch.inference_mode():
        hf = smollm.model(input_ids=torch.tensor(ids), output_hidden_states=True)
        ref = torch.softmax(smollm.model.lm_head(smollm.model.model.norm(hf.hidden_states[11]))[0].float(), -1)
    rp, ri = ref.topk(5)
    assert torch.equal(out.lens.top_ids["blocks.10.hook_resid_post"][0], ri)
    torch.testing.assert_close(out.lens.top_probs["blocks.10.hook_resid_post"][0], rp, atol=1e-5, rtol=0)
    # Default targets: the next input token, and the final prediction at the last position.
    targets = out.lens.targets[0].tolist()
    assert targets[:-1] == ids[0][1:] and targets[-1] == int(i[-1, 0])
    ranks = out.lens.target_ranks["blocks.10.hook_resid_post"][0]
    for pos, t in enumerate(targets):
        assert int(ranks[pos]) == int((ref[pos] > ref[pos, t]).sum())
    # Through the service: the last layer's cells are the model's own top tokens.
    r = client.logit_lens("smollm2-135m", text, top_k=3)
    assert len(r.layers) == smollm.info.num_layers and r.targets[-1] == "Paris"
    final = r.layers[-1].cells[-1]
    assert [c.token_id for c in final.top] == i[-1, :3].tolist() and final.target_rank == 0
    assert final.target_probability == pytest.approx(float(p[-1, 0]), abs=1e-5)
    assert any("first becomes the top prediction" in f for f in r.findings)
    tracked = client.logit_lens("smollm2-135m", text, target=" Rome", layers=[29])
    assert tracked.targets == ["Rome"] * len(r.tokens) and tracked.layers[0].cells[-1].target_rank > 0


def test_neuron_selection_zeroes_exactly_those_neurons(smollm):
    """``Intervention.neurons`` against a plain PyTorch hook written here."""
    ids = tokenize(smollm, ["The cat sat on the mat"], max_tokens=64)
    ours = run_model(smollm, ids, return_logits=True, interventions=[Intervention("blocks.3.mlp.hook_post", "zero", neurons=[5, 900])])
    mlp = smollm.model.model.layers[3].mlp

    def hook(module, args):
        x = args[0].clone()
        x[..., [5, 900]] = 0
        return (x,)

    handle = mlp.down_proj.register_forward_pre_hook(hook)
    try:
        with torch.inference_mode():
            ref = smollm.model(input_ids=torch.tensor(ids)).logits
    finally:
        handle.remove()
    torch.testing.assert_close(ours.logits, ref, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------- gradients


@pytest.fixture(scope="module")
def gradient_model(tmp_path_factory):
    return random_gpt2(tmp_path_factory.mktemp("grad") / "gpt2", seed=3, n_embd=32, n_head=4, n_layer=3, bias_std=0.02)


def test_gradient_analysis_equals_autograd(client, gradient_model):
    from transformers import GPT2LMHeadModel

    text = "a b c d a b"
    r = client.analyze_gradients(str(gradient_model), [text], target={"next_token": "c"}, include_norm_analysis=True)
    model = GPT2LMHeadModel.from_pretrained(gradient_model, attn_implementation="eager").eval()
    ids = torch.tensor([[0, 1, 2, 3, 0, 1]])
    embeds = model.transformer.wte(ids).detach().requires_grad_(True)
    hidden = {}
    handles = [block.register_forward_hook(lambda m, a, o, i=i: hidden.__setitem__(i, o[0] if isinstance(o, tuple) else o))
               for i, block in enumerate(model.transformer.h)]
    try:
        out = model(inputs_embeds=embeds, output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    metric = torch.log_softmax(out.logits[0, -1], -1)[2]
    grads = torch.autograd.grad(metric, [embeds, *hidden.values(), *out.attentions])
    g_embed, g_hidden, g_att = grads[0][0], grads[1:4], grads[4:]
    t = r.texts[0]
    assert t.target_value == pytest.approx(float(metric.detach()), abs=1e-5)
    np.testing.assert_allclose(t.saliency, g_embed.norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(t.input_x_gradient, (embeds[0] * g_embed).sum(-1).detach().numpy(), rtol=1e-4, atol=1e-7)
    for layer in range(3):
        h = t.hidden[layer]
        np.testing.assert_allclose(h.norms, g_hidden[layer][0].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
        assert h.norm == pytest.approx(float(g_hidden[layer].norm()), rel=1e-4)
        a = t.attention[layer]
        np.testing.assert_allclose(a.norms, g_att[layer][0].flatten(1).norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
        wxg = (out.attentions[layer][0] * g_att[layer][0]).flatten(1).sum(-1).detach().numpy()
        np.testing.assert_allclose(a.weight_x_gradient, wxg, rtol=1e-4, atol=1e-7)
    assert r.flow.layers == [0, 1, 2] and r.flow.verdict in ("stable", "vanishing", "exploding")
    assert r.flow.first_to_last_ratio == pytest.approx(t.hidden[0].norm / t.hidden[2].norm, rel=1e-6)


# ------------------------------------------------------------------- a planted concept neuron


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A toy GPT-2 whose layer-1 MLP neuron 7 fires on the token "s" and pushes up "r", planted
    by setting weights here (all others stay small and random). Three more layer-1 neurons,
    which write nothing to the residual stream (so that the rankings by importance stay the
    same): 9 is on everywhere except on "s" (the concept suppresses it), 3 is never on (dead),
    5 is always on (constant, positive)."""
    from transformers import GPT2LMHeadModel

    path = random_gpt2(tmp_path_factory.mktemp("planted") / "gpt2", seed=11, n_embd=32, n_head=4, n_layer=2, n_inner=64)
    model = GPT2LMHeadModel.from_pretrained(path)
    s, r = 18, 17  # token ids of "s" and "r" in the toy vocabulary
    with torch.no_grad():
        wte = model.transformer.wte.weight
        wte[:, :3] = 0.0
        wte[:, 1] = 3.0  # a large shared component, so LayerNorm does not blow up the small random rest
        wte[s, 0] = 3.0  # the concept direction
        wte[r, 2] = 3.0  # the target's unembedding direction (embeddings are tied)
        model.transformer.wpe.weight[:, :3] = 0.0
        mlp = model.transformer.h[1].mlp
        mlp.c_fc.weight[:, NEURON] = 0.0
        mlp.c_fc.weight[0, NEURON] = 20.0
        mlp.c_fc.bias[NEURON] = -3.0
        mlp.c_proj.weight[NEURON, :] = 0.0
        mlp.c_proj.weight[NEURON, 2] = 0.5
        for n, bias in ((SUPPRESSED, 3.0), (DEAD, -50.0), (ALWAYS_ON, 5.0)):
            mlp.c_fc.weight[:, n] = 0.0
            mlp.c_fc.bias[n] = bias
            mlp.c_proj.weight[n, :] = 0.0
        mlp.c_fc.weight[0, SUPPRESSED] = -20.0  # the concept direction switches it off
    model.save_pretrained(path)
    return str(path)


def test_a_planted_neuron_is_found_by_every_method(client, planted):
    concept = ["a b s c", "s d e", "f g h s", "b s a a", "c c s", "d s"]
    control = ["a b c d", "d e f", "f g h i", "b a a a", "c c d", "d e"]
    found = client.find_concept_neurons(planted, concept, control, concept="s", top_k_neurons=5, layers=[0, 1])
    top = found.neurons[0]
    assert (top.neuron.layer, top.neuron.index) == (1, NEURON) and top.auroc == 1.0
    assert top.p_bonferroni < 1.0 and found.neurons_tested == 2 * 64
    assert top.examples and all(e.token == CONCEPT for e in top.examples)
    texts = ["a b s", "c d e s", "f s"]
    for method in ("gradient_x_activation", "ablation", "gradient_magnitude"):
        ranked = client.rank_neuron_importance(planted, texts, method=method, target={"next_token": TARGET}, layers=[0, 1],
                                               ablation_candidates=8)
        best = ranked.neurons[0]
        if method == "gradient_magnitude":  # a gradient's size says nothing about whether the neuron is on
            assert ranked.neurons_scored == 128
            continue
        assert (best.neuron.layer, best.neuron.index) == (1, NEURON), method
        assert best.score > 5 * ranked.neurons[1].score, method
        if method == "ablation":
            # Only the 8 candidates by gradient x activation were ablated, and the findings say so.
            assert ranked.neurons_scored == len(ranked.neurons) == 8
            assert any(f.startswith("Only 8 of the 128 neurons were ablated") and "not in the ranking" in f for f in ranked.findings)
            # Measured by hand: the target's log-probability with the neuron zeroed, per text.
            clean = client.run(planted, texts, metric=token_score(TARGET_ID)).metric_values
            ablated = client.run(planted, texts, metric=token_score(TARGET_ID),
                                 interventions=[zero_ablation("blocks.1.mlp.hook_post", neurons=[NEURON])]).metric_values
            assert best.score == pytest.approx(float(np.mean(np.abs(np.subtract(ablated, clean)))), rel=1e-5)


TARGET_ID = 17


def _mlp_post(path: str, texts: list[str]) -> list[list[np.ndarray]]:
    """Each layer's MLP activations of each text, ``[text][layer] -> [tokens, d_mlp]`` float64,
    from Hugging Face's model run here (the input of each block's ``c_proj``)."""
    from transformers import AutoTokenizer, GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    out = []
    for text in texts:
        acts: list[torch.Tensor] = []
        handles = [b.mlp.c_proj.register_forward_pre_hook(lambda _m, args: acts.append(args[0][0])) for b in model.transformer.h]
        try:
            with torch.no_grad():
                model(input_ids=torch.tensor([tok(text)["input_ids"]]))
        finally:
            for h in handles:
                h.remove()
        out.append([a.double().numpy() for a in acts])
    return out


def test_a_neuron_the_concept_suppresses_is_found(local_fleet, client, planted, tmp_path):
    """Neuron 9 is on everywhere but on "s": its largest activation in a text of "s" tokens is
    below that of every control text (AUROC 0). Ranked by separation in either direction it
    comes first (ranked by AUROC it would come last), and the findings and the CLI say that it
    fires less on the concept."""
    concept = ["s s", "s s s", "s", "s s s s", "s s", "s s s"]
    control = ["a b c d", "d e f", "f g h i", "b a a a", "c c d", "d e"]
    found = client.find_concept_neurons(planted, concept, control, concept="s", top_k_neurons=5, layers=[1])
    top = found.neurons[0]
    assert (top.neuron.layer, top.neuron.index) == (1, SUPPRESSED), [(n.neuron.index, n.auroc) for n in found.neurons]
    assert top.auroc == 0.0 and top.effect_size < 0
    maxima = [a[1][:, SUPPRESSED].max() for a in _mlp_post(planted, concept + control)]
    assert top.concept_mean == pytest.approx(np.mean(maxima[: len(concept)]), abs=1e-6)
    assert top.control_mean == pytest.approx(np.mean(maxima[len(concept) :]), rel=1e-5)
    assert top.concept_mean < 1e-6 < 7 < top.control_mean
    assert f"Best: layer 1 neuron {SUPPRESSED} (AUROC 0.000" in found.findings[1]
    assert found.findings[1].endswith("it fires less on the concept (suppressed).")
    less = sum(n.auroc < 0.5 for n in found.neurons)
    assert f"of the top 5, {5 - less} fire more on the concept and {less} fire less (suppressed" in found.findings[2]
    labelled = tmp_path / "s.txt"
    labelled.write_text("".join(f"concept\t{t}\n" for t in concept) + "".join(f"control\t{t}\n" for t in control))
    p = run_cli(local_fleet.endpoint, "find-concept-neurons", "--model-name", planted, "--probe-dataset", str(labelled),
                "--layers", "1", "--top-k-neurons", "5", "--output", str(tmp_path / "c.json"))
    assert p.returncode == 0, p.stderr
    row = next(line for line in p.stdout.splitlines() if line.split()[:4] == ["1", "mlp_post", "1", str(SUPPRESSED)])
    assert "fires less (suppressed)" in row


@pytest.mark.parametrize("exclude_first_token", [False, True])
def test_dead_saturated_and_outlier_neurons_equal_a_hand_computation(client, planted, exclude_first_token):
    """Planted: neuron 3 is never on (dead), 5 always on (saturated); 7 fires only on the one "s"
    of the dataset, so it is zero on >= 99% of tokens (dead) with one huge value (kurtosis ~ the
    token count: an outlier), and 9 is positive everywhere but there (saturated). The lists,
    the words and the per-neuron statistics equal a computation over every activation here,
    with the first token of each text left out when asked."""
    letters = "abcdefghijklmnopqr"
    texts = [" ".join(letters[(i * 5 + k * 7) % len(letters)] for k in range(12 + i)) for i in range(10)]
    texts[4] += " s"
    r = client.analyze_activations(planted, texts, sites=["mlp_post"], layers=[0, 1], include_statistics=True, delivery=2,
                                   exclude_first_token=exclude_first_token)
    per_text = _mlp_post(planted, texts)
    start = 1 if exclude_first_token else 0
    assert r.tokens_analyzed == sum(len(t.split()) - start for t in texts) and r.texts_analyzed == len(texts)
    site = r.sites[0]
    dead_total = saturated_total = outlier_total = 0
    for layer, summary in zip((0, 1), site.layer_summaries, strict=True):
        x = np.concatenate([a[layer][start:] for a in per_text])  # [tokens, 64]
        dead = np.flatnonzero((np.abs(x) <= 1e-6).mean(0) >= 0.99).tolist()
        saturated = np.flatnonzero((x > 0).mean(0) >= 0.99).tolist()
        varying = x.max(0) > x.min(0)
        kurtosis = np.zeros(x.shape[1])
        kurtosis[varying] = scipy.stats.kurtosis(x[:, varying], axis=0, fisher=True, bias=True)
        outliers = np.flatnonzero(kurtosis > 100).tolist()
        assert (list(summary.dead_neurons), list(summary.saturated_neurons), list(summary.outlier_neurons)) == (dead, saturated, outliers)
        if layer == 1:
            assert {DEAD, NEURON} <= set(dead) and {ALWAYS_ON, SUPPRESSED} <= set(saturated) and NEURON in outliers
        dead_total, saturated_total, outlier_total = dead_total + len(dead), saturated_total + len(saturated), outlier_total + len(outliers)
        got = {f: client.to_numpy(getattr(site, f))[layer].astype(np.float64) for f in ("mean", "std", "max", "min", "fraction_zero",
                                                                                    "fraction_positive")}
        np.testing.assert_allclose(got["mean"], x.mean(0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["std"], x.std(0), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(got["max"], x.max(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["min"], x.min(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["fraction_zero"], (np.abs(x) <= 1e-6).mean(0), atol=1e-9)
        np.testing.assert_allclose(got["fraction_positive"], (x > 0).mean(0), atol=1e-9)
    words = " ".join(r.findings)
    assert f"MLP activations: {dead_total} dead neurons" in words
    assert f"MLP activations: {saturated_total} always-on neurons" in words
    assert f"MLP activations: {outlier_total} heavy-tailed neurons" in words


# ------------------------------------------------------------------------------------- CLI


def test_cli_commands_write_their_outputs(local_fleet, tmp_path):
    examples = ROOT / "examples" / "activations"
    out = tmp_path / "acts"
    p = run_cli(local_fleet.endpoint, "analyze-activations", "--model-name", "smollm2-135m", "--input-dataset",
                str(examples / "analysis_samples.jsonl"), "--layers", "0,5", "--sample-size", "20", "--include-statistics",
                "--neurons", "mlp_post:5:3", "--output", str(out))
    assert p.returncode == 0, p.stderr
    assert "analysis_samples.jsonl:41" in p.stderr  # the malformed line, named, not silently dropped
    data = json.loads((out / "activation_analysis.json").read_text())
    assert data["texts_analyzed"] == "20" and data["dataset"]["skipped_lines"] == 1
    assert (out / "report.html").stat().st_size > 1000
    stats = np.load(out / "neuron_statistics.npz")
    assert stats["mlp_post_mean"].shape == (2, 1536) and list(stats["resid_post_layers"]) == [0, 5]

    p = run_cli(local_fleet.endpoint, "find-concept-neurons", "--model-name", "smollm2-135m", "--concept", "emotion",
                "--probe-dataset", str(examples / "emotion_examples.txt"), "--layers", "10,20", "--top-k-neurons", "5",
                "--output", str(tmp_path / "concept.json"))
    assert p.returncode == 0, p.stderr
    concept = json.loads((tmp_path / "concept.json").read_text())
    assert len(concept["neurons"]) == 5 and concept["num_concept"] == 60 and concept["num_control"] == 60

    samples = tmp_path / "samples.txt"
    samples.write_text("The capital of France is\nThe Eiffel Tower is located in the city of\n")
    p = run_cli(local_fleet.endpoint, "analyze-gradients", "--model-name", "smollm2-135m", "--input-samples", str(samples),
                "--target", " Paris", "--layers", "0,10,20,29", "--include-norm-analysis", "--output", str(tmp_path / "g.html"))
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "g.json").read_text())["flow"]["layers"] == [0, 10, 20, 29]

    p = run_cli(local_fleet.endpoint, "rank-neuron-importance", "--model-name", "smollm2-135m", "--task-dataset", str(samples),
                "--ranking-method", "ablation", "--target", " Paris", "--layers", "20", "--ablation-candidates", "4",
                "--output", str(tmp_path / "rank.csv"))
    assert p.returncode == 0, p.stderr
    rows = (tmp_path / "rank.csv").read_text().splitlines()
    assert rows[0] == "site,layer,neuron,score,rank" and len(rows) == 5

    p = run_cli(local_fleet.endpoint, "logit-lens", "--model-name", "smollm2-135m", "--input-text", "The capital of France is",
                "--output", str(tmp_path / "lens.html"))
    assert p.returncode == 0, p.stderr
    assert "Paris" in p.stdout and (tmp_path / "lens.json").exists()

    bad = run_cli(local_fleet.endpoint, "analyze-activations", "--model-name", "smollm2-135m", "--input-dataset",
                  str(examples / "analysis_samples.jsonl"), "--strict", "--output", str(tmp_path / "x"))
    assert bad.returncode == 2 and "analysis_samples.jsonl:41" in bad.stderr
    zero = run_cli(local_fleet.endpoint, "analyze-activations", "--model-name", "smollm2-135m", "--input-dataset",
                   str(examples / "analysis_samples.jsonl"), "--sample-size", "0")
    assert zero.returncode == 2 and "--sample-size" in zero.stderr
    unlabelled = tmp_path / "plain.txt"
    unlabelled.write_text("I am so happy\nI am so sad\n")
    nocontrol = run_cli(local_fleet.endpoint, "find-concept-neurons", "--model-name", "smollm2-135m", "--probe-dataset", str(unlabelled))
    assert nocontrol.returncode == 2 and "control" in nocontrol.stderr


def test_bad_requests_name_the_field(client):
    with pytest.raises(InterpClientError) as e:
        client.analyze_activations("smollm2-135m", TEXTS, layers=[0], neurons=[("resid_post", 0, 3)], sites=["mlp_post"])
    assert e.value.reason == "ACTIVATION_SITE_INVALID"
    with pytest.raises(InterpClientError) as e:
        client.rank_neuron_importance("smollm2-135m", TEXTS[:1], method="ablation", ablation_candidates=10**6)
    assert e.value.reason == "ANALYSIS_PARAMETER_OUT_OF_RANGE"
    with pytest.raises(InterpClientError) as e:
        client.analyze_gradients("all-minilm-l6-v2", TEXTS[:1], target={"class_index": 0})
    assert e.value.reason == "MODEL_HAS_NO_CLASSIFIER"
    with pytest.raises(InterpClientError) as e:
        client.find_concept_neurons("smollm2-135m", TEXTS[:3], TEXTS[3:6], sites=[pb.ACTIVATION_SITE_UNSPECIFIED])
    assert e.value.reason == "ACTIVATION_SITE_INVALID"


def test_cli_help_lists_the_commands():
    p = subprocess.run([sys.executable, "-m", "interpretability.cli", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("analyze-activations", "find-concept-neurons", "analyze-gradients", "rank-neuron-importance", "logit-lens"):
        assert cmd in p.stdout


def test_statistics_through_the_store_equal_inline(local_fleet, local_store, client):
    """With an inline cap below one batch's captures, every batch travels through the tensor
    store (hash-verified, deleted once read) and the statistics are the same."""
    import threading
    import time

    from interp_services.rpc.activations import ActivationsServicer
    from interp_services.rpc.clients import InProcessClient
    from interp_services.rpc.codec import DeliveryPolicy
    from interp_services.rpc.context import TENANT_KEY, Limits, RecordingContext

    host = InProcessClient(local_fleet.servicers["model_host"])
    reads = []
    original = local_store.get

    def counting_get(*args, **kwargs):
        reads.append(threading.get_ident())
        return original(*args, **kwargs)

    servicer = ActivationsServicer(host, local_store, Limits(), DeliveryPolicy(inline_limit_bytes=1024, max_inline_bytes=64 << 10),
                                   batch_bytes=64 << 10)
    req = pb.AnalyzeActivationsRequest(model="smollm2-135m", layers=[3], include_statistics=True, delivery=2)
    req.texts.texts.extend(TEXTS)
    local_store.get = counting_get
    started = time.time() - 1
    try:
        events = list(servicer.AnalyzeActivations(req, RecordingContext(((TENANT_KEY, "dev"),))))
    finally:
        local_store.get = original
    stored = events[-1].result
    inline = client.analyze_activations("smollm2-135m", TEXTS, layers=[3], include_statistics=True, delivery=2)
    assert reads, "nothing was read from the store"
    for a, b in zip(stored.sites, inline.sites, strict=True):
        np.testing.assert_allclose(client.to_numpy(a.mean), client.to_numpy(b.mean), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(client.to_numpy(a.max), client.to_numpy(b.max), rtol=1e-4, atol=1e-5)
    assert (local_store.root / "dev" / "runs").is_dir()
    left = [p for p in (local_store.root / "dev" / "runs").glob("*") if p.stat().st_mtime >= started]
    assert not left, f"intermediate objects were left in the store: {left}"


def test_cancelling_stops_the_analysis(local_fleet, client):
    """Closing the stream after the first progress event stops the server's worker thread."""
    texts = [f"{i}: " + t for i in range(40) for t in TEXTS]
    stream = client._stream(client.activations.AnalyzeActivations,
                            act.build(pb.AnalyzeActivationsRequest, {"model": "smollm2-135m", "texts": texts}), None)
    for event in stream:
        if event.HasField("progress") and event.progress.texts_done > 0:
            break
    stream.close()
    assert_worker_stops("analyze-activations")


def test_the_allocator_serves_large_buffers_from_mmap():
    """Serving processes pin glibc's mmap threshold (core.allocator); here, where the C library
    is glibc, the call takes effect."""
    import platform

    from interp_services.core.allocator import pin_mmap_threshold

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert pin_mmap_threshold(1 << 20)
