"""Attribution: each method checked against an answer known without the code under test.

* toy models whose attributions are known in closed form: on a linear model integrated
  gradients, input x gradient and DeepLift equal ``(x - x') . w`` exactly; on an additive model
  Shapley value sampling, kernel SHAP, feature ablation and LIME recover each token's own
  contribution; deletion curves rank the tokens the model reads (by construction) first;
* completeness of integrated gradients on SmolLM2 with the documented default baseline and the
  automatic step count (which count was needed is recorded and checked);
* the service (through gRPC and the gateway) equals Captum called directly in this test on the
  same model and input (``LayerIntegratedGradients`` on the embedding layer, ``FeatureAblation``
  and ``Occlusion`` on token ids, ``Saliency``, ``InputXGradient`` and seeded ``GradientShap`` on
  the embeddings), for next-token, logit-difference and class targets;
* bad requests get their catalog reason, and a cancelled call frees the model at once.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
import torch
from torch import nn

from interp_services.core.attribution import (
    AUTO_STEPS,
    AUTO_TOLERANCE,
    AttributionJob,
    Params,
    Target,
    deeplift_supported,
    deletion_insertion,
    explain,
    run_method,
    spearman,
)
from interpretability import Client, InterpClientError
from interpretability import attribution as at
from tests.conftest import DEV_KEY
from tests.support.models import random_gpt2

T, D = 5, 4
PROMPT = "The capital of France is"


def _linear_toy(seed: int = 0):
    torch.manual_seed(seed)
    w = torch.randn(1, T, D)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(T * D, 1))
    with torch.no_grad():
        lin[1].weight.copy_(w.view(1, -1))
        lin[1].bias.fill_(0.7)
    return lin, w


@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient", "deeplift"])
def test_gradient_methods_on_a_linear_model_equal_the_closed_form(method):
    lin, w = _linear_toy()
    x = torch.randn(1, T, D)
    # input x gradient has no baseline: its closed form is x . w (baseline 0).
    b = torch.zeros(1, T, D) if method == "input_x_gradient" else torch.randn(1, T, D)
    attrs, delta = run_method(method, lambda v: lin(v).squeeze(-1), x, b, Params(n_steps=20), module=lin)
    torch.testing.assert_close(attrs, (x - b) * w, rtol=1e-5, atol=1e-6)
    if delta is not None:
        assert abs(delta) < 1e-5


def test_deeplift_is_exact_on_a_relu_network_and_refused_where_its_rules_fail():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(T * D, 8), nn.ReLU(), nn.Linear(8, 1))
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    attrs, delta = run_method("deeplift", lambda v: net(v).squeeze(-1), x, b, Params(), module=net)
    # DeepLift's summation-to-delta: the attributions add up to f(x) - f(b).
    assert float(attrs.sum()) == pytest.approx(float(net(x) - net(b)), abs=1e-5)
    assert abs(delta) < 1e-5
    assert deeplift_supported(net) == (True, "")
    ok, why = deeplift_supported(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
    assert not ok and "LayerNorm" in why


def _additive_toy():
    """f(x) = sum_t a_t * tanh(x_t . u_t): token t contributes a_t * tanh(x_t . u_t), whatever
    the other tokens are, so its Shapley value against baseline b is exactly
    a_t * (tanh(x_t . u_t) - tanh(b_t . u_t))."""
    torch.manual_seed(2)
    u = torch.randn(T, D)
    a = torch.tensor([2.0, -1.0, 0.5, 3.0, -2.5])

    def f(v: torch.Tensor) -> torch.Tensor:
        return (a * torch.tanh((v * u).sum(-1))).sum(-1)

    def contribution(x, b):
        return a * (torch.tanh((x[0] * u).sum(-1)) - torch.tanh((b[0] * u).sum(-1)))

    return f, contribution


@pytest.mark.parametrize(
    "method, n_samples, tol",
    [("shapley_value_sampling", 5, 1e-5), ("kernel_shap", 200, 1e-3), ("feature_ablation", 0, 1e-5), ("lime", 200, 2e-2)],
)
def test_perturbation_methods_recover_an_additive_models_contributions(method, n_samples, tol):
    f, contribution = _additive_toy()
    torch.manual_seed(3)
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    attrs, _ = run_method(method, f, x, b, Params(n_samples=n_samples, seed=0))
    per_token = attrs[0, :, 0]  # Captum gives every entry of a feature its token's value
    torch.testing.assert_close(per_token, contribution(x, b), rtol=0, atol=tol)


def test_deletion_curves_rank_the_tokens_the_model_reads_first():
    """A toy that reads only tokens 1 and 3: the attribution of integrated gradients ranks them
    first, its deletion area is below that of random orders, its insertion area above."""
    torch.manual_seed(4)
    u = torch.randn(D)
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    # Signs chosen so both relevant tokens raise the score.
    x[0, 1] = u * 1.5
    x[0, 3] = u * 0.8

    def f(v):
        return torch.sigmoid((v[:, 1] * u).sum(-1)) + 0.5 * torch.sigmoid((v[:, 3] * u).sum(-1))

    attrs, _ = run_method("integrated_gradients", f, x, b, Params(n_steps=64))
    scores = attrs.sum(-1)[0]
    assert set(torch.topk(scores, 2).indices.tolist()) == {1, 3}

    def gate_forward(g):
        return f(b + g.unsqueeze(-1) * (x - b))

    curves = deletion_insertion(gate_forward, scores, seed=0)
    assert curves.deletion[0] == pytest.approx(float(f(x)), abs=1e-6)
    assert curves.insertion[0] == pytest.approx(float(f(b)), abs=1e-6)
    assert curves.deletion_auc < curves.random_deletion_auc
    assert curves.insertion_auc > curves.random_insertion_auc
    # After removing the two relevant tokens nothing is left to lose.
    assert curves.deletion[2] == pytest.approx(float(f(b)), abs=1e-6)


def test_spearman_matches_the_textbook_values():
    assert spearman(torch.tensor([1.0, 2, 3, 4]), torch.tensor([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(torch.tensor([1.0, 2, 3, 4]), torch.tensor([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    # With ties averaged: x = [1, 2, 2, 3], y = [1, 2, 3, 4] -> rho = 0.9486833
    assert spearman(torch.tensor([1.0, 2, 2, 3]), torch.tensor([1.0, 2, 3, 4])) == pytest.approx(0.9486833, abs=1e-6)


# -- real models ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_integrated_gradients_are_complete_on_smollm2_with_the_default_baseline(smollm):
    """Default baseline: the pad token in place of every attributed token, the first token kept
    (an attention sink). Without n_steps the service tries 50, 200, then 800 Gauss-Legendre steps
    until |delta| is within 1% of f(x) - f(baseline): the 5-token prompt converges at 50, the
    15-token IOI prompt needs 200 (11.8% at 50)."""
    assert AUTO_STEPS == (50, 200, 800) and AUTO_TOLERANCE == 0.01
    cases = [(PROMPT, " Paris", 50), ("When Mary and John went to the store, John gave a drink to", " Mary", 200)]
    for text, continuation, steps in cases:
        r = explain(smollm, AttributionJob(text, Target("next_token", continuation=continuation), ["integrated_gradients"]))
        m = r.methods[0]
        span = r.target_score - r.baseline_score
        assert abs(sum(m.scores) - span) == pytest.approx(abs(m.delta), abs=1e-3)
        assert m.relative_delta < 0.01, (text, m.delta, span)
        assert f"n_steps={steps}" in m.parameters and any("chosen automatically" in p for p in m.parameters), m.parameters
        assert r.attributed[0] is False and all(r.attributed[1:])


def _captum_layer_ig(loaded, ids: list[int], baseline_ids: list[int], score, n_steps: int = 50) -> torch.Tensor:
    """Captum's LayerIntegratedGradients on the word-embedding layer, written here from
    Captum's documented API (not the service's code path)."""
    from captum.attr import LayerIntegratedGradients

    model = loaded.model

    def forward(input_ids):
        return score(model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)))

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attrs = lig.attribute(torch.tensor([ids]), baselines=torch.tensor([baseline_ids]), n_steps=n_steps, internal_batch_size=16)
    return attrs.sum(-1)[0].detach()


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


@pytest.mark.slow
def test_the_service_equals_captum_called_directly(client, smollm):
    tok = smollm.tokenizer
    ids = tok(PROMPT)["input_ids"]
    paris = tok(" Paris", add_special_tokens=False)["input_ids"][0]
    pad = tok.pad_token_id
    r = client.attribute(
        "smollm2-135m", PROMPT, target=at.next_token_target(" Paris"), methods="integrated_gradients,feature_ablation",
        options=at.options(n_steps=32),
    )
    assert list(r.token_ids) == ids

    def score(out):
        return torch.log_softmax(out.logits[:, -1].float(), -1)[:, paris]

    base = [ids[0]] + [pad] * (len(ids) - 1)
    with torch.no_grad():
        expected_ig = _captum_layer_ig(smollm, ids, base, score, n_steps=32)
    got = torch.tensor(list(r.methods[0].scores))
    torch.testing.assert_close(got, expected_ig.float(), rtol=2e-3, atol=2e-3)

    from captum.attr import FeatureAblation

    def forward(input_ids):
        with torch.no_grad():
            return score(smollm.model(input_ids=input_ids))

    fa = FeatureAblation(forward).attribute(
        torch.tensor([ids]), baselines=pad, feature_mask=torch.tensor([[0, 1, 2, 3, 4]])
    )[0].float()
    fa[0] = 0.0  # the first token is kept in the service's baseline
    torch.testing.assert_close(torch.tensor(list(r.methods[1].scores)), fa, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_a_detailed_explanation_reports_trust_numbers(client):
    events = []
    r = client.attribute(
        "smollm2-135m", PROMPT, target=at.next_token_target(" Paris"), methods="saliency,integrated_gradients,feature_ablation",
        depth="detailed", options=at.options(n_steps=16, infidelity_samples=8, sensitivity_samples=2), on_progress=events.append,
    )
    assert events and all(0.0 <= e.fraction <= 1.0 for e in events)
    assert [e.fraction for e in events] == sorted(e.fraction for e in events)
    assert {at.method_name(m.method) for m in r.methods} == {"saliency", "integrated_gradients", "feature_ablation"}
    for m in r.methods:
        f = m.faithfulness
        assert f.fractions[0] == 0.0 and f.fractions[-1] == 1.0
        assert f.deletion[0] == pytest.approx(r.target_score, abs=1e-3)  # nothing removed: the input
        assert f.insertion[0] == pytest.approx(r.baseline_score, abs=1e-3)  # nothing present: the baseline
        assert f.deletion[-1] == pytest.approx(r.baseline_score, abs=1e-3)
        assert f.has_infidelity and f.infidelity >= 0
        assert f.has_sensitivity == (at.method_name(m.method) != "feature_ablation")
        assert m.evaluations > 0 and m.seconds > 0
    # Feature ablation is ranked by the very drop deletion measures first: its first deletion
    # step removes the token whose removal hurts most of all single tokens.
    fa = next(m for m in r.methods if at.method_name(m.method) == "feature_ablation")
    single_drops = [s for s, keep in zip(fa.scores, r.attributed) if keep]
    assert fa.faithfulness.deletion[1] == pytest.approx(r.target_score - max(single_drops), abs=1e-3)
    assert len(r.agreement) == 3 and all(-1.0 <= a.spearman <= 1.0 for a in r.agreement)
    assert any("completeness" in f for f in r.findings)


@pytest.mark.slow
def test_generation_attributes_each_generated_token(client, smollm):
    r = client.attribute(
        "smollm2-135m", PROMPT, target=at.generation_target(target_text=" Paris."), methods="feature_ablation,lime",
        options=at.options(n_samples=20),
    )
    assert r.generated_text == " Paris."
    fa, lime = r.methods
    assert [g.token for g in fa.generated] == ["Paris", "."]
    assert not lime.generated  # LIME attributes the whole continuation only
    # Feature ablation's row for " Paris" equals the drop of log p(Paris) when each prompt
    # token is replaced by the pad token, computed here directly.
    tok, model = smollm.tokenizer, smollm.model
    ids = tok(PROMPT)["input_ids"]
    paris = fa.generated[0].token_id
    with torch.no_grad():
        def logp(seq):
            return float(torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, -1].float(), -1)[paris])
        full = logp(ids)
        expected = [0.0] + [full - logp(ids[:i] + [tok.pad_token_id] + ids[i + 1:]) for i in range(1, len(ids))]
    got = list(fa.generated[0].scores)[: len(ids)]
    assert got == pytest.approx(expected, abs=2e-3)
    assert fa.generated[0].log_prob == pytest.approx(full, abs=1e-3)


BAD = [
    ("unknown method", dict(methods=[999]), "ATTRIBUTION_METHOD_UNKNOWN"),
    ("unspecified method", dict(methods=[0]), "ATTRIBUTION_METHOD_UNKNOWN"),
    ("duplicate method", dict(methods=[3, 3]), "ATTRIBUTION_METHOD_DUPLICATE"),
    ("deeplift on a transformer", dict(methods=[5]), "ATTRIBUTION_METHOD_NOT_SUPPORTED"),
    ("saliency on generated text", dict(methods=[1], target=at.generation_target(2)), "ATTRIBUTION_METHOD_NOT_SUPPORTED"),
    ("empty text", dict(text="  "), "INPUT_EMPTY"),
    ("too many steps", dict(options=at.options(n_steps=10**6)), "ATTRIBUTION_PARAMETER_OUT_OF_RANGE"),
    ("too many samples", dict(options=at.options(n_samples=10**6)), "ATTRIBUTION_PARAMETER_OUT_OF_RANGE"),
    ("batch over the server's", dict(options=at.options(internal_batch_size=10**4)), "ATTRIBUTION_PARAMETER_OUT_OF_RANGE"),
    ("two-token answer", dict(target=at.logit_difference_target(" Paris", " Lyon and")), "TARGET_TOKEN_INVALID"),
    ("answer id outside the vocabulary", dict(target=at.logit_difference_target(10**8, 5)), "TOKEN_ID_OUT_OF_RANGE"),
    ("class of a model without a classifier", dict(target=at.class_target("positive")), "MODEL_HAS_NO_CLASSIFIER"),
    ("prompt without {text}", dict(target=at.class_target(prompt=at.prompt_classifier("Review:", ["a", "b"], [" a", " b"]))),
     "PROMPT_TEMPLATE_INVALID"),
    ("prompt label unknown", dict(target=at.class_target("neutral", prompt=at.prompt_classifier(
        "Review: {text}\nSentiment:", ["negative", "positive"], [" negative", " positive"]))), "CLASS_LABEL_UNKNOWN"),
    ("mask baseline on a causal LM", dict(options=at.options(baseline="mask")), "BASELINE_UNAVAILABLE"),
    ("next token of an encoder", dict(model="all-minilm-l6-v2", target=at.next_token_target(" Paris")), "MODEL_HAS_NO_LM_HEAD"),
    ("nothing to attribute", dict(text="The"), "NOTHING_TO_ATTRIBUTE"),
    ("too many new tokens", dict(target=at.generation_target(10**4)), "MAX_NEW_TOKENS_OUT_OF_RANGE"),
    ("unknown model", dict(model="no-such-model"), "MODEL_NOT_FOUND"),
]


@pytest.mark.parametrize("name, kwargs, reason", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_their_reason(client, name, kwargs, reason):
    kwargs = dict(kwargs)
    model, text = kwargs.pop("model", "smollm2-135m"), kwargs.pop("text", PROMPT)
    kwargs.setdefault("methods", [3])
    with pytest.raises(InterpClientError) as e:
        client.attribute(model, text, **kwargs)
    err = e.value
    expected = grpc.StatusCode.NOT_FOUND if reason == "MODEL_NOT_FOUND" else grpc.StatusCode.INVALID_ARGUMENT
    assert (err.code, err.reason) == (expected, reason), str(err)


def test_cancelling_frees_the_model_for_the_next_request(client):
    """A 2000-step request cancelled after its first progress event stops at its next model
    evaluation: a small request right after it does not wait for the big one."""
    stream = client.attribute_stream(
        "smollm2-135m", PROMPT, methods="integrated_gradients", options=at.options(n_steps=2000, internal_batch_size=1)
    )
    for event in stream:
        if event.HasField("progress") and event.progress.evaluations > 0:
            break
    stream.close()
    start = time.monotonic()
    r = client.attribute("smollm2-135m", PROMPT, methods="saliency")
    assert r.methods and time.monotonic() - start < 60


@pytest.fixture(scope="module")
def sentiment(model_cache):
    """The built-in MiniLM sentiment classifier (trained into the model cache on first use)."""
    return model_cache.get("minilm-sentiment")


@pytest.mark.slow
def test_the_classifier_explanation_equals_captum_and_is_complete(client, sentiment):
    """BERT classifier: the service's integrated gradients of class "positive" equal Captum's
    LayerIntegratedGradients on the word embeddings with the [CLS]/[SEP]-kept pad baseline (the
    Captum BERT tutorial's reference input), and they are complete."""
    text = "This movie was absolutely fantastic!"
    r = client.attribute("minilm-sentiment", text, target=at.class_target("positive"), methods="integrated_gradients",
                         options=at.options(n_steps=64))
    assert r.prediction.startswith("positive")
    tok = sentiment.tokenizer
    ids = tok(text)["input_ids"]
    assert list(r.token_ids) == ids and r.attributed[0] is False and r.attributed[-1] is False  # [CLS], [SEP] kept
    base = [ids[0]] + [tok.pad_token_id] * (len(ids) - 2) + [ids[-1]]
    positive = [k for k, v in sentiment.model.config.id2label.items() if v == "positive"][0]

    def score(out):
        return torch.log_softmax(out.logits.float(), -1)[:, int(positive)]

    expected = _captum_layer_ig(sentiment, ids, base, score, n_steps=64)
    torch.testing.assert_close(torch.tensor(list(r.methods[0].scores)), expected.float(), rtol=2e-3, atol=2e-3)
    m = r.methods[0]
    assert m.relative_delta < 0.01
    shown = dict(zip(r.display_tokens, m.scores))
    assert shown["fantastic"] == max(m.scores)  # the sentiment word carries the prediction


@pytest.mark.slow
def test_smollm2_as_a_prompt_classifier(client, smollm):
    """SmolLM2 as a sentiment classifier through label words: only the review's tokens are
    attributed (the template is kept), and the class probability is the label words' softmax."""
    prompt = at.prompt_classifier("Review: {text}\nSentiment:", ["negative", "positive"], [" negative", " positive"])
    text = "A dull, tedious film."
    r = client.attribute("smollm2-135m", text, target=at.class_target("negative", prompt=prompt, score="prob"),
                         methods="feature_ablation")
    tok, model = smollm.tokenizer, smollm.model
    ids = tok("Review: " + text + "\nSentiment:")["input_ids"]
    assert list(r.token_ids) == ids
    shown = [t for t, a in zip(r.display_tokens, r.attributed) if a]
    assert shown == ["A", "dull", ",", "tedious", "film", "."]  # "Review:" and "\nSentiment:" are kept
    words = [tok(" negative", add_special_tokens=False)["input_ids"][0], tok(" positive", add_special_tokens=False)["input_ids"][0]]
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1, words].float(), -1)
    assert r.target_probability == pytest.approx(float(probs[0]), abs=1e-4)
    assert r.target_score == pytest.approx(float(probs[0]), abs=1e-4)


# -- a toy GPT-2: every method against Captum called directly -------------------------------------

TOY_TEXT = "a b c d a b"


@pytest.fixture(scope="module")
def toy_lm(model_cache, tmp_path_factory):
    """A random GPT-2 over the toy's 21 symbols (loads in milliseconds), served by path from the
    model cache the local fleet shares: (its name for requests, the loaded model)."""
    path = str(random_gpt2(tmp_path_factory.mktemp("attribution") / "gpt2", seed=21, n_embd=16, n_head=2, n_layer=2, bias_std=0.02))
    return path, model_cache.get(path)


def _embeds_forward(loaded, score):
    """f(embeddings) -> score, written from transformers' ``inputs_embeds`` API."""

    def forward(embeds: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        return score(loaded.model(inputs_embeds=embeds, attention_mask=mask))

    return forward


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "gradient_shap", "occlusion"])
def test_the_service_equals_captum_called_directly_on_a_toy_gpt2(client, toy_lm, method):
    """Every token attributed (replace_first_token), the pad token as baseline. Gradient SHAP
    with 8 samples (one Captum call at batch 8) and seed 3: Captum called here after seeding torch
    and numpy with 3, with noise of 10% of the embeddings' std (the catalog's documented noise)
    draws the same noise and the same points on the path."""
    from captum.attr import GradientShap, InputXGradient, Occlusion, Saliency

    name, loaded = toy_lm
    tok, model = loaded.tokenizer, loaded.model
    ids = tok(TOY_TEXT)["input_ids"]
    c, pad = tok("c", add_special_tokens=False)["input_ids"][0], tok.pad_token_id
    r = client.attribute(name, TOY_TEXT, target=at.next_token_target("c"), methods=method,
                         options=at.options(replace_first_token=True, n_samples=8, seed=3, internal_batch_size=8))
    assert list(r.token_ids) == ids and all(r.attributed)

    def score(out):
        return torch.log_softmax(out.logits[:, -1].float(), -1)[:, c]

    embedding = model.get_input_embeddings()
    with torch.no_grad():
        x, b = embedding(torch.tensor([ids])), embedding(torch.tensor([[pad] * len(ids)]))
    forward = _embeds_forward(loaded, score)
    if method == "saliency":
        expected = Saliency(forward).attribute(x.clone().requires_grad_(True), abs=True).sum(-1)[0]
    elif method == "input_x_gradient":
        expected = InputXGradient(forward).attribute(x.clone().requires_grad_(True)).sum(-1)[0]
    elif method == "gradient_shap":
        torch.manual_seed(3)
        np.random.seed(3)
        expected = GradientShap(forward).attribute(x, baselines=b, n_samples=8, stdevs=0.1 * float(x.std())).sum(-1)[0]
    else:  # occlusion: a 3-token window, stride 1, on the token ids with the pad token as baseline
        def forward_ids(input_ids):
            with torch.no_grad():
                return score(model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)))

        expected = Occlusion(forward_ids).attribute(torch.tensor([ids]), sliding_window_shapes=(3,), strides=(1,), baselines=pad)[0]
    torch.testing.assert_close(torch.tensor(list(r.methods[0].scores)), expected.detach().float(), rtol=1e-4, atol=1e-5)


def test_a_logit_difference_is_attributed_as_captum_does(client, toy_lm):
    """logit("c") - logit("d") of the next token: the score equals the model's own logits, and
    integrated gradients equal Captum's LayerIntegratedGradients on the token ids."""
    name, loaded = toy_lm
    tok, model = loaded.tokenizer, loaded.model
    ids = tok(TOY_TEXT)["input_ids"]
    c, d = (tok(t, add_special_tokens=False)["input_ids"][0] for t in ("c", "d"))
    r = client.attribute(name, TOY_TEXT, target=at.logit_difference_target("c", "d"), methods="integrated_gradients",
                         options=at.options(n_steps=32))

    def score(out):
        return out.logits[:, -1, c] - out.logits[:, -1, d]

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert r.target_score == pytest.approx(float(logits[c] - logits[d]), abs=1e-5)
    base = [ids[0]] + [tok.pad_token_id] * (len(ids) - 1)
    expected = _captum_layer_ig(loaded, ids, base, score, n_steps=32)
    m = r.methods[0]
    torch.testing.assert_close(torch.tensor(list(m.scores)), expected.float(), rtol=1e-4, atol=1e-5)
    assert m.has_delta and sum(m.scores) == pytest.approx(r.target_score - r.baseline_score - m.delta, abs=1e-5)


def test_the_method_list_describes_the_automatic_step_count(client):
    """A request without n_steps does not run 50 steps: ListAttributionMethods says what it runs."""
    listing = client.list_attribution_methods()
    ig = next(m for m in listing.methods if m.name == "integrated_gradients")
    auto = [d for d in ig.defaults if d.startswith("n_steps=")]
    assert auto == ["n_steps=auto (50, then 200, then 800 until |delta| <= 1% of |f(x) - f(baseline)|)"]
    assert listing.max_n_steps > 0 and [at.method_name(v) for v in listing.basic] == ["integrated_gradients"]


@pytest.fixture(scope="module")
def rating_model(tmp_path_factory):
    """A random GPT-2 classifier whose five classes are named "1".."5" (a star rating), on the
    toy's tokenizer: its path."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    path = random_gpt2(tmp_path_factory.mktemp("rating") / "gpt2", seed=22, n_embd=16, n_head=2, n_layer=1)
    config = GPT2Config.from_pretrained(path, num_labels=5, id2label={i: str(i + 1) for i in range(5)},
                                        label2id={str(i + 1): i for i in range(5)})
    torch.manual_seed(22)
    GPT2ForSequenceClassification(config).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("label, expected", [("1", "1"), ("5", "5"), ("0", "1"), ("4", "4")])
def test_a_numeric_label_names_a_class_before_it_is_read_as_an_index(client, rating_model, label, expected):
    """Classes named "1".."5": "1" and "5" are those classes (as indices they would be "2" and
    out of range); "0" names no class, so it is class index 0, named "1"."""
    r = client.attribute(rating_model, "a b c", target=at.class_target(label), methods="saliency")
    assert r.target.startswith(f"class {expected} ")


def test_a_numeric_label_that_is_neither_a_class_nor_an_index_is_refused(client, rating_model):
    with pytest.raises(InterpClientError) as e:
        client.attribute(rating_model, "a b c", target=at.class_target("7"), methods="saliency")
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CLASS_LABEL_UNKNOWN")
