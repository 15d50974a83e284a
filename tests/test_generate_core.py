"""core.generate: token-by-token generation under interventions, checked against references that
do not use it -- transformers' own ``generate`` (plain, and with a steering hook written here),
the model's own full-sequence logits, and ``run_model`` over the full sequence (which checks the
key/value-cache path against the one-pass path)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import GenerationConfig

from interp_services.core.errors import InvalidArgument, ResourceExhausted
from interp_services.core.generate import GeneratedToken, GenerationResult, GenerationSettings, check_generation, generate
from interp_services.core.interventions import Intervention
from interp_services.core.models import LoadedModel
from interp_services.core.run import run_model

PROMPT = "The capital of France is"
CHAT_PROMPT = "<|im_start|>user\nWhat is 2+2? Answer with one number.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def toy(model_cache):
    from tests.conftest import TOY_MODEL

    return model_cache.get(str(TOY_MODEL))


def run_all(loaded, ids, settings, **kwargs) -> tuple[list[GeneratedToken], GenerationResult]:
    events = list(generate(loaded, ids, settings, **kwargs))
    assert all(isinstance(e, GeneratedToken) for e in events[:-1])
    assert isinstance(events[-1], GenerationResult)
    return events[:-1], events[-1]  # type: ignore[return-value]


def hf_greedy(loaded, ids: list[int], n: int, *, stop_at_eos: bool = False) -> list[int]:
    """transformers' greedy generate, with every sampling default overridden."""
    tok = loaded.tokenizer
    config = GenerationConfig(
        max_new_tokens=n,
        min_new_tokens=0 if stop_at_eos else n,
        do_sample=False,
        num_beams=1,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    with torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), generation_config=config
        )
    return out[0, len(ids) :].tolist()


def prompt_ids(loaded, text: str = PROMPT) -> list[int]:
    return loaded.tokenizer(text)["input_ids"]


# 1. Greedy decoding equals transformers' generate.


def test_greedy_matches_transformers_generate_smollm(smollm):
    ids = prompt_ids(smollm)
    tokens, result = run_all(smollm, ids, GenerationSettings(max_new_tokens=10, ignore_eos=True))
    expected = hf_greedy(smollm, ids, 10)
    assert result.token_ids == expected == [t.token_id for t in tokens]
    assert result.finish_reason == "length"
    assert result.prompt_ids == ids
    assert [t.position for t in tokens] == list(range(len(ids), len(ids) + 10))
    assert result.text == smollm.tokenizer.decode(expected, skip_special_tokens=False)
    assert "".join(t.text for t in tokens) == result.text
    assert [t.token for t in tokens] == smollm.tokenizer.convert_ids_to_tokens(expected)
    # logprob: the model's own full-sequence log-softmax at each generated token.
    with torch.no_grad():
        logits = smollm.model(torch.tensor([ids + expected])).logits[0].float()
    ref = torch.log_softmax(logits, dim=-1)[torch.arange(len(ids) - 1, len(ids) + 9), torch.tensor(expected)]
    assert torch.allclose(torch.tensor([t.logprob for t in tokens]), ref, atol=1e-4)


def test_greedy_matches_transformers_generate_gpt2_toy(toy):
    ids = prompt_ids(toy, "a b c d e f g a b c")
    tokens, result = run_all(toy, ids, GenerationSettings(max_new_tokens=12))
    assert result.token_ids == hf_greedy(toy, ids, 12)
    assert result.finish_reason == "length"
    assert "".join(t.text for t in tokens) == result.text == toy.tokenizer.decode(result.token_ids)


def test_eos_stops_and_adds_no_text(smollm):
    ids = prompt_ids(smollm, CHAT_PROMPT)
    eos = smollm.tokenizer.eos_token_id
    tokens, result = run_all(smollm, ids, GenerationSettings(max_new_tokens=16))
    assert result.finish_reason == "eos"
    assert result.token_ids == hf_greedy(smollm, ids, 16, stop_at_eos=True)
    assert result.token_ids[-1] == eos and eos not in result.token_ids[:-1]
    assert tokens[-1].token_id == eos and tokens[-1].text == ""
    assert result.text == smollm.tokenizer.decode(result.token_ids[:-1]) == "".join(t.text for t in tokens)
    # ignore_eos carries on past it.
    _, more = run_all(smollm, ids, GenerationSettings(max_new_tokens=len(result.token_ids) + 2, ignore_eos=True))
    assert more.finish_reason == "length" and more.token_ids[: len(result.token_ids)] == result.token_ids


# 2. Steering equals a hand-written forward hook + transformers' generate.


def _steering(smollm, layer: int) -> torch.Tensor:
    """A random direction scaled to the residual stream's typical norm at ``layer``'s output."""
    with torch.no_grad():
        h = smollm.model(torch.tensor([prompt_ids(smollm)]), output_hidden_states=True).hidden_states[layer + 1]
    norm = float(h[0].norm(dim=-1).median())
    v = torch.randn(smollm.info.d_model, generator=torch.Generator().manual_seed(0))
    return v / v.norm() * norm


def _hf_steered(smollm, ids, layer, vec, n, positions=None) -> list[int]:
    def hook(module, args, kwargs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        add = vec.expand_as(hidden).clone()
        if positions is not None:
            pos = kwargs["position_ids"][0]  # absolute positions of the tokens fed in this step
            add[:, ~torch.isin(pos, torch.tensor(positions))] = 0
        hidden = hidden + add
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = smollm.model.model.layers[layer].register_forward_hook(hook, with_kwargs=True)
    try:
        return hf_greedy(smollm, ids, n)
    finally:
        handle.remove()


def test_steering_matches_hand_written_hook(smollm):
    layer, n = 6, 10
    ids = prompt_ids(smollm)
    vec = _steering(smollm, layer)
    iv = Intervention(f"blocks.{layer}.hook_resid_post", "steer", tensor=vec / 2, scale=2.0)
    settings = GenerationSettings(max_new_tokens=n, ignore_eos=True)
    check_generation(smollm, ids, settings, [iv], [], max_new_tokens_limit=64)
    _, steered = run_all(smollm, ids, settings, interventions=[iv])
    _, plain = run_all(smollm, ids, settings)
    assert steered.token_ids == _hf_steered(smollm, ids, layer, vec, n)
    assert steered.text != plain.text


def test_steering_at_absolute_positions_matches_hook(smollm):
    """Positions count from the first prompt token: the last prompt position and two generated
    ones (seen one at a time through the cache) are steered, nothing else."""
    layer, n = 6, 10
    ids = prompt_ids(smollm)
    p = len(ids)
    positions = [p - 1, p + 2, p + 5]
    vec = _steering(smollm, layer)
    iv = Intervention(f"blocks.{layer}.hook_resid_post", "steer", tensor=vec, positions=positions)
    settings = GenerationSettings(max_new_tokens=n, ignore_eos=True)
    check_generation(smollm, ids, settings, [iv], [], max_new_tokens_limit=64)
    _, steered = run_all(smollm, ids, settings, interventions=[iv])
    assert steered.token_ids == _hf_steered(smollm, ids, layer, vec, n, positions)
    assert steered.token_ids != run_all(smollm, ids, settings)[1].token_ids


# 3. Sampling.


def test_sampling_is_reproducible_per_seed(smollm):
    ids = prompt_ids(smollm, "Once upon a time")

    def sample(seed: int, temperature: float = 1.0, **kw) -> list[int]:
        settings = GenerationSettings(max_new_tokens=10, temperature=temperature, seed=seed, ignore_eos=True, **kw)
        return run_all(smollm, ids, settings)[1].token_ids

    first = sample(0)
    assert sample(0) == first
    assert sample(1) != first
    greedy = hf_greedy(smollm, ids, 10)
    assert first != greedy
    # A nucleus that only the top token fills, or a vanishing temperature, is greedy decoding.
    assert sample(3, top_p=1e-6) == greedy
    assert sample(5, temperature=1e-6) == greedy


# 4. Stop strings and length.


@pytest.fixture(scope="module")
def unstopped(smollm) -> GenerationResult:
    return run_all(smollm, prompt_ids(smollm), GenerationSettings(max_new_tokens=12, ignore_eos=True))[1]


@pytest.mark.parametrize("stop", ["\n", "answer is", "Paris."])
def test_stop_strings_cut_the_text(smollm, unstopped, stop):
    ids, full = prompt_ids(smollm), unstopped
    assert stop in full.text  # " Paris.\n\nThe answer is: ..."
    tokens, result = run_all(smollm, ids, GenerationSettings(max_new_tokens=12, stop=["zzz", stop], ignore_eos=True))
    assert result.finish_reason == "stop"
    assert result.text == full.text[: full.text.index(stop)]
    assert "".join(t.text for t in tokens) == result.text  # held-back stop prefixes never leak
    # Generation ends at the token that completes the stop string; that token is kept.
    n = len(result.token_ids)
    assert result.token_ids == full.token_ids[:n]
    assert stop in smollm.tokenizer.decode(full.token_ids[:n]) and stop not in smollm.tokenizer.decode(full.token_ids[: n - 1])


def test_max_new_tokens_gives_length(smollm):
    ids = prompt_ids(smollm)
    tokens, result = run_all(smollm, ids, GenerationSettings(max_new_tokens=3, stop=["never there"]))
    assert len(tokens) == 3 and len(result.token_ids) == 3 and result.finish_reason == "length"
    tokens, result = run_all(smollm, ids, GenerationSettings(max_new_tokens=0), capture=["blocks.0.hook_resid_post"])
    assert tokens == [] and result.token_ids == [] and result.text == "" and result.finish_reason == "length"
    assert result.captures["blocks.0.hook_resid_post"].shape == (1, len(ids), smollm.info.d_model)


# 5. Captures over the cache equal a forward pass over the full sequence.


def test_captures_match_full_sequence_run(smollm):
    ids = prompt_ids(smollm)
    p, n = len(ids), 6
    d = smollm.info.d_model
    gen = torch.Generator()
    src = torch.randn(1, p + n - 1, d, generator=gen.manual_seed(1)) * 5
    ivs = [
        Intervention("blocks.1.hook_resid_post", "steer", tensor=torch.randn(d, generator=gen.manual_seed(2)), scale=3.0),
        Intervention("blocks.1.attn.hook_pattern", "scale", scale=0.5, heads=[1], key_positions=[0]),
        Intervention("blocks.2.hook_attn_out", "patch", tensor=src, positions=[2, p + 1]),
        Intervention("blocks.3.hook_resid_pre", "noise", std=2.0, seed=11, positions=[1, p + 2]),
        Intervention("blocks.3.attn.hook_z", "zero", heads=[2], positions=[p + 3]),
        Intervention("blocks.4.attn.hook_k", "scale", scale=0.0, heads=[0], positions=[p, p + 4]),
    ]
    capture = ["hook_embed", "blocks.2.hook_resid_post", "blocks.4.attn.hook_k", "blocks.5.mlp.hook_post", "blocks.6.attn.hook_z"]
    settings = GenerationSettings(max_new_tokens=n, ignore_eos=True)
    check_generation(smollm, ids, settings, ivs, capture, max_new_tokens_limit=64)
    _, result = run_all(smollm, ids, settings, interventions=ivs, capture=capture)
    seq = ids + result.token_ids[:-1]
    ref = run_model(smollm, [seq], capture=capture, interventions=ivs)
    for name in capture:
        got = result.captures[name]
        assert got.shape == ref.captures[name].shape, name
        assert got.shape[:2] == (1, p + n - 1), name
        torch.testing.assert_close(got, ref.captures[name], atol=1e-5, rtol=1e-5, msg=name)
    # The interventions changed what was generated.
    assert result.token_ids != run_all(smollm, ids, settings)[1].token_ids


def test_noise_on_small_site_matches_full_sequence_run(toy):
    """Noise is seeded per position, so generation (one position per step) matches a full run."""
    ids = prompt_ids(toy, "a b c d e f a b")
    ivs = [Intervention("blocks.0.mlp.hook_post", "noise", std=1.0, seed=3)]
    capture = ["blocks.0.mlp.hook_post"]
    _, result = run_all(toy, ids, GenerationSettings(max_new_tokens=4), interventions=ivs, capture=capture)
    ref = run_model(toy, [ids + result.token_ids[:-1]], capture=capture, interventions=ivs)
    torch.testing.assert_close(result.captures[capture[0]], ref.captures[capture[0]], atol=1e-5, rtol=1e-5)


def test_captures_toy_without_interventions(toy):
    ids = prompt_ids(toy, "a b c d e f a b")
    capture = ["blocks.0.hook_resid_pre", "blocks.1.attn.hook_q", "ln_final.hook_normalized"]
    _, result = run_all(toy, ids, GenerationSettings(max_new_tokens=5), capture=capture)
    ref = run_model(toy, [ids + result.token_ids[:-1]], capture=capture)
    for name in capture:
        assert result.captures[name].shape[:2] == (1, len(ids) + 4)
        torch.testing.assert_close(result.captures[name], ref.captures[name], atol=1e-5, rtol=1e-5, msg=name)


# 6. Cancellation, and the lock is free between steps.


def test_should_stop_ends_without_a_result(smollm):
    ids = prompt_ids(smollm)
    seen: list[object] = []
    settings = GenerationSettings(max_new_tokens=10, ignore_eos=True)
    for event in generate(smollm, ids, settings, should_stop=lambda: len(seen) >= 2):
        assert not smollm.lock.locked()  # other requests can run between steps
        seen.append(event)
    assert len(seen) == 2 and all(isinstance(e, GeneratedToken) for e in seen)


# 7. Validation.


def _no_head(loaded) -> LoadedModel:
    from dataclasses import replace

    return LoadedModel(loaded.model, loaded.tokenizer, loaded.spec, replace(loaded.info, has_lm_head=False), 0)


BAD = [
    ("MAX_NEW_TOKENS_OUT_OF_RANGE", "max_new_tokens", {"settings": GenerationSettings(max_new_tokens=-1)}),
    ("MAX_NEW_TOKENS_OUT_OF_RANGE", "max_new_tokens", {"settings": GenerationSettings(max_new_tokens=65)}),
    ("SAMPLING_PARAMETER_INVALID", "temperature", {"settings": GenerationSettings(temperature=-0.5)}),
    ("SAMPLING_PARAMETER_INVALID", "temperature", {"settings": GenerationSettings(temperature=math.inf)}),
    ("SAMPLING_PARAMETER_INVALID", "temperature", {"settings": GenerationSettings(temperature=math.nan)}),
    ("SAMPLING_PARAMETER_INVALID", "top_p", {"settings": GenerationSettings(top_p=1.5)}),
    ("SAMPLING_PARAMETER_INVALID", "top_p", {"settings": GenerationSettings(top_p=-0.1)}),
    ("SAMPLING_PARAMETER_INVALID", "top_p", {"settings": GenerationSettings(top_p=math.nan)}),
    ("SAMPLING_PARAMETER_INVALID", "stop", {"settings": GenerationSettings(stop=["x"] * 9)}),
    ("SAMPLING_PARAMETER_INVALID", "stop[1]", {"settings": GenerationSettings(stop=["ok", ""])}),
    ("SAMPLING_PARAMETER_INVALID", "stop[0]", {"settings": GenerationSettings(stop=["x" * 201])}),
    ("INPUT_EMPTY", "tokens.ids", {"ids": []}),
    ("TOKEN_ID_OUT_OF_RANGE", "tokens.ids[1]", {"ids": [1, 10**9]}),
    ("HOOK_SITE_UNKNOWN", "capture[0]", {"capture": ["blocks.99.hook_resid_post"]}),
    ("HOOK_SITE_DUPLICATE", "capture[1]", {"capture": ["hook_embed", "hook_embed"]}),
    ("HOOK_SITE_NOT_SUPPORTED_HERE", "capture[0]", {"capture": ["blocks.0.attn.hook_pattern"]}),
    ("HOOK_SITE_UNKNOWN", "interventions[0].hook_site", {"ivs": [Intervention("nope", "zero")]}),
    ("POSITION_OUT_OF_RANGE", "interventions[0].positions[0]", {"ivs": [Intervention("hook_embed", "zero", positions=[-1])]}),
    ("SEQUENCE_OUT_OF_RANGE", "interventions[0].sequences[0]", {"ivs": [Intervention("hook_embed", "zero", sequences=[1])]}),
    ("SEQUENCE_OUT_OF_RANGE", "interventions[0].sequences", {"ivs": [Intervention("hook_embed", "zero", sequences=[0, 0])]}),
    ("INTERVENTION_TENSOR_MISSING", "interventions[0].mean_ablation", {"ivs": [Intervention("hook_embed", "mean")]}),
    ("INTERVENTION_TENSOR_MISSING", "interventions[0].action", {"ivs": [Intervention("hook_embed", "steer")]}),
    ("TENSOR_SHAPE_MISMATCH", "interventions[0].steering.vector",
     {"ivs": [Intervention("hook_embed", "steer", tensor=torch.ones(2))]}),
    (
        "HOOK_SITE_NOT_SUPPORTED_HERE",
        "interventions[0].hook_site",
        {"ivs": [Intervention("blocks.0.attn.hook_pattern", "steer", tensor=torch.ones(9, 5))]},
    ),
]


@pytest.mark.parametrize(("reason", "field", "case"), BAD, ids=[f"{r}-{f}" for r, f, _ in BAD])
def test_bad_requests_are_refused(smollm, reason, field, case):
    ids = case.get("ids", [1, 504, 3575])
    settings = case.get("settings", GenerationSettings())
    with pytest.raises(InvalidArgument) as e:
        check_generation(smollm, ids, settings, case.get("ivs", []), case.get("capture", []), max_new_tokens_limit=64)
    assert e.value.reason == reason
    assert e.value.violations[0].field == field


def test_model_without_lm_head_is_refused(smollm):
    with pytest.raises(InvalidArgument) as e:
        check_generation(_no_head(smollm), [1, 2], GenerationSettings(), [], [], max_new_tokens_limit=64)
    assert e.value.reason == "MODEL_HAS_NO_LM_HEAD"


def test_prompt_plus_new_tokens_over_the_limit(smollm):
    limit = smollm.info.max_tokens
    check_generation(smollm, [1] * (limit - 8), GenerationSettings(max_new_tokens=8), [], [], max_new_tokens_limit=64)
    with pytest.raises(ResourceExhausted) as e:
        check_generation(smollm, [1] * (limit - 8), GenerationSettings(max_new_tokens=9), [], [], max_new_tokens_limit=64)
    assert e.value.reason == "INPUT_TOO_LONG"
    assert e.value.violations[0].field == "max_new_tokens"


def test_valid_requests_pass(smollm):
    ivs = [
        Intervention("blocks.0.attn.hook_pattern", "zero", positions=[3, 40], key_positions=[0, 99], sequences=[0]),
        Intervention("blocks.1.hook_resid_post", "mean", tensor=torch.zeros(smollm.info.d_model), positions=[1000]),
        Intervention("blocks.2.attn.hook_v", "patch", tensor=torch.zeros(1, 2, smollm.info.num_kv_heads, smollm.info.d_head)),
    ]
    check_generation(smollm, [1, 2, 3], GenerationSettings(max_new_tokens=64, temperature=0.7, top_p=1.0, stop=["\n"] * 8),
                     ivs, ["hook_embed", "blocks.0.attn.hook_k"], max_new_tokens_limit=64)


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    from interp_services.core.generate import _choose

    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    gen = torch.Generator().manual_seed(0)
    drawn = {_choose(logits, GenerationSettings(temperature=1.0, top_p=0.7), gen) for _ in range(300)}
    assert drawn == {0, 1}
    drawn = {_choose(logits, GenerationSettings(temperature=1.0, top_p=0.0), gen) for _ in range(300)}
    assert drawn == {0, 1, 2, 3}
