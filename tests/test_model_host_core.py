"""Core model host: hook sites, capture equals HF eager, interventions equal direct PyTorch hooks."""

from __future__ import annotations

import pytest
import torch

from interp_services.core.errors import InvalidArgument, NotFound, ResourceExhausted
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.run import check_token_ids, run_model, tokenize

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.mark.parametrize("fixture", ["smollm", "minilm"])
def test_pattern_capture_equals_hf_eager(request, fixture):
    m = request.getfixturevalue(fixture)
    ids = tokenize(m, [TEXT], max_tokens=512)
    sites = [f"blocks.{layer}.attn.hook_pattern" for layer in range(m.info.num_layers)]
    out = run_model(m, ids, capture=sites)
    with torch.no_grad():
        ref = m.model(input_ids=torch.tensor(ids), output_attentions=True).attentions
    assert len(ref) == m.info.num_layers and ref[0].numel() > 0  # eager really returned weights
    for layer, site in enumerate(sites):
        torch.testing.assert_close(out.captures[site], ref[layer], atol=1e-5, rtol=0)
        rows = out.captures[site].sum(-1)
        torch.testing.assert_close(rows, torch.ones_like(rows))


def test_residual_sites_match_hidden_states(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    out = run_model(smollm, ids, capture=["blocks.0.hook_resid_pre", "blocks.3.hook_resid_post", "hook_embed"])
    with torch.no_grad():
        hs = smollm.model(input_ids=torch.tensor(ids), output_hidden_states=True).hidden_states
    torch.testing.assert_close(out.captures["blocks.0.hook_resid_pre"], hs[0])
    torch.testing.assert_close(out.captures["hook_embed"], hs[0])
    torch.testing.assert_close(out.captures["blocks.3.hook_resid_post"], hs[4])


def _direct_head_ablation(m, ids, layer: int, head: int) -> torch.Tensor:
    """The same ablation written by hand with a PyTorch pre-hook on o_proj (independent code)."""
    o_proj = m.model.model.layers[layer].self_attn.o_proj
    d_head = m.info.d_head

    def pre(module, args):
        x = args[0].clone()
        x[..., head * d_head : (head + 1) * d_head] = 0
        return (x,)

    h = o_proj.register_forward_pre_hook(pre)
    try:
        with torch.no_grad():
            return m.model(input_ids=torch.tensor(ids)).logits
    finally:
        h.remove()


def test_zero_ablating_a_head_equals_direct_hook(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    base = run_model(smollm, ids, return_logits=True).logits
    ablated = run_model(
        smollm, ids, interventions=[Intervention("blocks.4.attn.hook_z", "zero", heads=[2])], return_logits=True
    ).logits
    expected = _direct_head_ablation(smollm, ids, 4, 2)
    torch.testing.assert_close(ablated, expected, atol=0, rtol=0)
    assert (ablated - base).abs().max() > 1e-3  # the ablation did something


def test_patching_a_run_with_its_own_activations_changes_nothing(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    sites = ["blocks.2.hook_resid_pre", "blocks.5.attn.hook_z", "blocks.7.mlp.hook_post"]
    base = run_model(smollm, ids, capture=sites, return_logits=True)
    patched = run_model(
        smollm,
        ids,
        interventions=[Intervention(s, "patch", tensor=base.captures[s]) for s in sites],
        return_logits=True,
    )
    torch.testing.assert_close(patched.logits, base.logits, atol=0, rtol=0)


def test_patch_from_another_input_moves_prediction(smollm):
    clean = tokenize(smollm, ["The capital of France is"], max_tokens=512)
    corrupt = tokenize(smollm, ["The capital of Italy is"], max_tokens=512)
    assert len(clean[0]) == len(corrupt[0])
    src = run_model(smollm, clean, capture=["blocks.10.hook_resid_pre"])
    out = run_model(
        smollm,
        corrupt,
        interventions=[Intervention("blocks.10.hook_resid_pre", "patch", tensor=src.captures["blocks.10.hook_resid_pre"])],
        return_logits=True,
    )
    ref = run_model(smollm, clean, return_logits=True)
    # Patching the whole residual stream at a block input reproduces the clean run exactly.
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-4, rtol=0)


def test_steering_and_mean_ablation_follow_their_definitions(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    site = "blocks.3.hook_resid_post"
    base = run_model(smollm, ids, capture=[site])
    vec = torch.randn(smollm.info.d_model)
    steered = run_model(smollm, ids, capture=[site], interventions=[Intervention(site, "steer", positions=[2, 4], tensor=vec, scale=3.0)])
    diff = steered.captures[site] - base.captures[site]
    torch.testing.assert_close(diff[0, 2], 3.0 * vec, atol=1e-4, rtol=0)
    assert diff[0, [0, 1, 3, 5]].abs().max() == 0
    meaned = run_model(smollm, ids, capture=[site], interventions=[Intervention(site, "mean", positions=[1])])
    torch.testing.assert_close(meaned.captures[site][0, 1], base.captures[site][0].mean(0), atol=1e-5, rtol=0)


def test_heads_restriction_only_touches_those_heads(smollm):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    site = "blocks.1.attn.hook_v"  # KV heads: 3
    base = run_model(smollm, ids, capture=[site]).captures[site]
    out = run_model(smollm, ids, capture=[site], interventions=[Intervention(site, "zero", heads=[1], positions=[0, 3])]).captures[site]
    assert out.shape[2] == smollm.info.num_kv_heads
    assert out[0, [0, 3], 1].abs().max() == 0
    torch.testing.assert_close(out[0, :, [0, 2]], base[0, :, [0, 2]])
    torch.testing.assert_close(out[0, [1, 2, 4], 1], base[0, [1, 2, 4], 1])


def test_bert_batch_with_padding(minilm):
    ids = tokenize(minilm, ["short", "a much longer sentence than the first"], max_tokens=512)
    out = run_model(minilm, ids, capture=["blocks.0.attn.hook_pattern"])
    n = len(ids[0])
    single = run_model(minilm, [ids[0]], capture=["blocks.0.attn.hook_pattern"]).captures["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(out.captures["blocks.0.attn.hook_pattern"][0, :, :n, :n], single[0], atol=1e-5, rtol=0)
    assert out.attention_mask[0].sum() == n


@pytest.mark.parametrize(
    "kwargs, error, reason",
    [
        ({"capture": ["blocks.99.hook_resid_pre"]}, InvalidArgument, "HOOK_SITE_UNKNOWN"),
        ({"capture": ["nonsense"]}, InvalidArgument, "HOOK_SITE_UNKNOWN"),
        ({"capture": ["hook_embed", "hook_embed"]}, InvalidArgument, "HOOK_SITE_DUPLICATE"),
        ({"interventions": [Intervention("blocks.0.attn.hook_pattern", "noise", std=1.0)]}, InvalidArgument, "HOOK_SITE_NOT_SUPPORTED_HERE"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "noise", std=-1.0)]}, InvalidArgument, "INTERVENTION_VALUE_INVALID"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "scale", scale=float("nan"))]}, InvalidArgument, "INTERVENTION_VALUE_INVALID"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "zero", sequences=[1])]}, InvalidArgument, "SEQUENCE_OUT_OF_RANGE"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "zero", key_positions=[0])]}, InvalidArgument, "POSITION_OUT_OF_RANGE"),
        ({"gradients": ["hook_embed"]}, InvalidArgument, "METRIC_MISSING"),
        ({"metric": Metric("token", token_ids=[10**6])}, InvalidArgument, "TOKEN_ID_OUT_OF_RANGE"),
        ({"metric": Metric("token", token_ids=[1, 2, 3])}, InvalidArgument, "METRIC_INVALID"),
        ({"metric": Metric("token", token_ids=[1], positions=[99])}, InvalidArgument, "POSITION_OUT_OF_RANGE"),
        ({"metric": Metric("token", token_ids=[1], positions=[-99])}, InvalidArgument, "POSITION_OUT_OF_RANGE"),
        ({"metric": Metric("class", class_indices=[0])}, InvalidArgument, "MODEL_HAS_NO_CLASSIFIER"),
        ({"metric": Metric("activation", hook_site="blocks.1.mlp.hook_post", index=[5000])}, InvalidArgument, "METRIC_INVALID"),
        (
            {"metric": Metric("activation", hook_site="blocks.1.hook_resid_pre", index=[0]), "gradients": ["blocks.2.hook_resid_pre"]},
            InvalidArgument,
            "GRADIENT_SITE_UNREACHABLE",
        ),
        ({"interventions": [Intervention("blocks.0.attn.hook_z", "zero", heads=[9])]}, InvalidArgument, "HEAD_OUT_OF_RANGE"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "zero", heads=[0])]}, InvalidArgument, "HEADS_NOT_APPLICABLE"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "zero", positions=[50])]}, InvalidArgument, "POSITION_OUT_OF_RANGE"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "patch", tensor=torch.zeros(3, 3))]}, InvalidArgument, "TENSOR_SHAPE_MISMATCH"),
        ({"interventions": [Intervention("blocks.0.hook_resid_pre", "steer")]}, InvalidArgument, "INTERVENTION_TENSOR_MISSING"),
        ({"top_k": -1}, InvalidArgument, "TOP_K_OUT_OF_RANGE"),
    ],
)
def test_bad_runs_are_rejected_with_reasons(smollm, kwargs, error, reason):
    ids = tokenize(smollm, [TEXT], max_tokens=512)
    with pytest.raises(error) as e:
        run_model(smollm, ids, **kwargs)
    assert e.value.reason == reason


def test_input_validation(smollm, minilm):
    with pytest.raises(InvalidArgument) as e:
        tokenize(smollm, ["  "], max_tokens=512)
    assert e.value.reason == "INPUT_EMPTY"
    with pytest.raises(ResourceExhausted) as e:
        tokenize(smollm, ["word " * 600], max_tokens=512)
    assert e.value.reason == "INPUT_TOO_LONG"
    with pytest.raises(InvalidArgument) as e:
        check_token_ids(smollm, [[1, 2], [1]], max_tokens=512)
    assert e.value.reason == "TOKEN_LENGTHS_DIFFER"
    with pytest.raises(InvalidArgument) as e:
        check_token_ids(smollm, [[1, 10**9]], max_tokens=512)
    assert e.value.reason == "TOKEN_ID_OUT_OF_RANGE"
    with pytest.raises(InvalidArgument) as e:
        run_model(minilm, tokenize(minilm, ["hi"], max_tokens=512), top_k=3)
    assert e.value.reason == "MODEL_HAS_NO_LM_HEAD"


def test_unknown_and_offline_models_are_not_found(model_cache, tmp_path):
    for name in ["gpt2", "no-such-org/no-such-model", str(tmp_path)]:
        with pytest.raises(NotFound) as e:
            model_cache.get(name)
        assert e.value.reason == "MODEL_NOT_FOUND"
        assert "smollm2-135m" in e.value.message and "all-minilm-l6-v2" in e.value.message


def test_cache_is_lru_bounded(tmp_path):
    from interp_services.core.models import LoaderSettings, ModelCache
    from tests.conftest import MODEL_CACHE, TOY_MODEL

    cache = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE, allow_hub=False), max_models=1)
    cache.get("all-minilm-l6-v2")
    cache.get(str(TOY_MODEL))
    assert cache.loaded_names() == [str(TOY_MODEL)]


def test_hook_site_listing_covers_every_block(smollm, minilm):
    for m in (smollm, minilm):
        names = {s.name for s in m.info.hook_sites}
        for layer in range(m.info.num_layers):
            for suffix in ("hook_resid_pre", "attn.hook_pattern", "attn.hook_z", "mlp.hook_post", "hook_resid_post"):
                assert f"blocks.{layer}.{suffix}" in names
    assert smollm.info.num_kv_heads == 3 and smollm.info.num_heads == 9 and smollm.info.num_layers == 30
    assert minilm.info.num_heads == 12 and not minilm.info.causal


def test_a_broken_local_model_directory_is_a_clear_error(tmp_path):
    from interp_services.core.models import LoaderSettings, ModelCache
    from tests.conftest import MODEL_CACHE

    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_size": "wide"}')
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InvalidArgument) as e:
        ModelCache(LoaderSettings(cache_dir=MODEL_CACHE, allow_hub=False)).get(str(tmp_path))
    assert e.value.reason in ("MODEL_UNLOADABLE", "MODEL_ARCHITECTURE_UNSUPPORTED")


def test_pool_positions_averages_each_group():
    from interp_services.core.pooling import check_pools, pool_positions

    t = torch.randn(3, 5, 4, 2)
    pools = [(0, [1, 2, 3]), (2, [4]), (1, [0, 4])]
    want = torch.stack([t[0, 1:4].mean(0), t[2, 4], t[1, [0, 4]].mean(0)])
    assert torch.allclose(pool_positions(t, pools), want, atol=1e-6)
    assert pool_positions(t.to(torch.bfloat16), pools).dtype == torch.bfloat16
    check_pools(pools, [5, 5, 5], "pools", max_positions=100)
    with pytest.raises(ResourceExhausted):
        check_pools(pools, [5, 5, 5], "pools", max_positions=5)
