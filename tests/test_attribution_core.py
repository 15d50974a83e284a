"""Attribution core: memory bounded by the batch size, tensors on the model's device, DeepLift
gated by the model's architecture.

* Gradient SHAP and DeepLift SHAP run their samples in chunks of the batch size; the chunked
  result equals one Captum call over all samples fed the same random draws (a stream of draws
  handed out in order, so chunk sizes do not change which sample gets which draw).
* Every method's largest model batch stays within the batch size at the largest n_samples.
* The faithfulness code and ``Problem.gate_forward`` keep every tensor on the model's device,
  checked on a simulated second device (``_SimDevice``): CPU tensors tagged as living elsewhere,
  any operation that mixes them with plain CPU tensors raises as CUDA does.
* DeepLift runs where the model's leaves allow it (a toy causal LM of linear layers and a ReLU,
  checked against its closed form) and is refused on a transformer with the leaf named.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from interp_services.core.attribution import (
    LIMITS,
    METHODS,
    AttributionJob,
    Params,
    Problem,
    Target,
    catalog,
    deletion_insertion,
    explain,
    infidelity_of,
    run_method,
)
from interp_services.core.errors import InvalidArgument
from tests.support.models import random_gpt2

T, D = 6, 4


def _relu_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(T * D, 8), nn.ReLU(), nn.Linear(8, 1))


class _Counting:
    """``f(v) = net(v)`` recording the batch of every call."""

    def __init__(self, net: nn.Module) -> None:
        self.net, self.batches = net, []

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.batches.append(int(v.shape[0]))
        return self.net(v).squeeze(-1)


class _Stream:
    """Random numbers handed out in order, whatever the size of each request."""

    def __init__(self, values: torch.Tensor) -> None:
        self.values, self.at = values.double(), 0

    def take(self, n: int) -> torch.Tensor:
        out = self.values[self.at : self.at + n]
        assert out.numel() == n, "the stream ran out"
        self.at += n
        return out


def _install_streams(monkeypatch, normals: _Stream, uniforms: _Stream) -> None:
    """Captum's gradient SHAP draws its input noise with ``torch.normal`` and its points on the
    path with ``np.random.uniform``: both come from the streams instead."""
    monkeypatch.setattr(torch, "normal", lambda mean, std: mean + std * normals.take(std.numel()).view_as(std).to(std.dtype))
    monkeypatch.setattr(np.random, "uniform", lambda low, high, size: low + (high - low) * uniforms.take(int(size)).numpy())


def test_gradient_shap_runs_in_batches_and_equals_one_captum_call_with_the_same_draws(monkeypatch):
    from captum.attr import GradientShap

    n = LIMITS["n_samples"]
    torch.manual_seed(5)
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    normals, uniforms = torch.randn(n * T * D), torch.rand(n)
    f = _Counting(_relu_net())

    _install_streams(monkeypatch, _Stream(normals), _Stream(uniforms))
    attrs, delta = run_method("gradient_shap", f, x, b, Params(n_samples=n, internal_batch_size=16))
    assert max(f.batches) == 16

    f.batches.clear()
    _install_streams(monkeypatch, _Stream(normals), _Stream(uniforms))
    expected, deltas = GradientShap(f).attribute(
        x, baselines=b, n_samples=n, stdevs=float(x.std()) * catalog.GRADIENT_NOISE, return_convergence_delta=True
    )
    assert max(f.batches) == n  # what one Captum call does: every sample in one batch
    torch.testing.assert_close(attrs, expected, rtol=1e-4, atol=1e-6)
    assert delta == pytest.approx(float(deltas.mean()), abs=1e-5)


def test_gradient_shap_is_reproducible_from_its_seed():
    """The seed fixes numpy's draws too (the points on the path), not only torch's."""
    torch.manual_seed(6)
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    f = _Counting(_relu_net())
    first, _ = run_method("gradient_shap", f, x, b, Params(n_samples=40, seed=3, internal_batch_size=16))
    np.random.seed(12345)
    torch.manual_seed(999)
    again, _ = run_method("gradient_shap", f, x, b, Params(n_samples=40, seed=3, internal_batch_size=16))
    other, _ = run_method("gradient_shap", f, x, b, Params(n_samples=40, seed=4, internal_batch_size=16))
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert not torch.equal(other, first)


def test_deeplift_shap_runs_in_batches_and_equals_one_captum_call(monkeypatch):
    from captum.attr import DeepLiftShap

    net = _relu_net(1)
    torch.manual_seed(7)
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    baselines = b + 0.3 * torch.randn(50, T, D)
    monkeypatch.setattr(catalog, "_noisy_baselines", lambda b_, x_, n: baselines[:n])
    f = _Counting(net)
    attrs, delta = run_method("deeplift_shap", f, x, b, Params(n_samples=50, internal_batch_size=8), module=net)
    assert max(f.batches) <= 8  # input and baseline rows of 4 baselines per call

    expected, deltas = DeepLiftShap(nn.Sequential(net, nn.Flatten(0))).attribute(x, baselines=baselines, return_convergence_delta=True)
    torch.testing.assert_close(attrs, expected, rtol=1e-5, atol=1e-6)
    assert delta == pytest.approx(float(deltas.mean()), abs=1e-6)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_method_evaluates_more_than_its_batch_at_once(method):
    """At the largest n_samples a request may ask (and many steps), the largest model batch stays
    within the internal batch (gradient methods) or four times it (forward-only perturbations)."""
    net = _relu_net()
    f = _Counting(net)
    torch.manual_seed(8)
    x, b = torch.randn(1, T, D), torch.zeros(1, T, D)
    params = Params(n_samples=LIMITS["n_samples"], n_steps=256, internal_batch_size=8)
    run_method(method, f, x, b, params, module=net)
    bound = params.internal_batch_size * (catalog.PERTURBATION_BATCH_FACTOR if METHODS[method].family == "perturbation" else 1)
    assert max(f.batches) <= bound


# -- devices ----------------------------------------------------------------------------------------

_SIM = torch.device("meta")  # the device name the simulated tensors report


class _Sim(torch.Tensor):
    """A CPU tensor that says it lives on another device (``meta``): it computes like a CPU
    tensor, and any operation mixing it with a plain CPU tensor that is not a scalar raises, as
    mixing CUDA and CPU tensors does. Indexing with CPU index tensors is allowed (as on CUDA)."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return _SIM

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.cpu,) or (func is torch.Tensor.to and _targets_cpu(args[1:], kwargs)):
            with torch._C.DisableTorchFunctionSubclass():
                return args[0].as_subclass(torch.Tensor).clone()
        flat, _ = tree_flatten((args, kwargs))
        tensors = [t for t in flat if isinstance(t, torch.Tensor)]
        indexing = func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__, torch.Tensor.index_put_)
        if not indexing and any(isinstance(t, _Sim) for t in tensors):
            plain = [t for t in tensors if not isinstance(t, _Sim) and t.dim() > 0]
            if plain:
                raise RuntimeError(f"Expected all tensors to be on the same device ({func.__name__}: meta and cpu)")
        kwargs = {k: (torch.device("cpu") if k == "device" else v) for k, v in kwargs.items()}
        return super().__torch_function__(func, types, args, kwargs)


def _targets_cpu(args, kwargs) -> bool:
    target = kwargs.get("device", args[0] if args else None)
    return isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu"


class _SimDevice(TorchFunctionMode):
    """Tensors created with ``device=meta`` (or moved there) become ``_Sim`` tensors."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        to_sim = kwargs.get("device") is not None and torch.device(kwargs["device"]) == _SIM
        if func is torch.Tensor.to and not to_sim:
            target = args[1] if len(args) > 1 else None
            to_sim = isinstance(target, (str, torch.device)) and torch.device(target) == _SIM
            if to_sim:
                args = (args[0], torch.device("cpu"), *args[2:])
        if to_sim and "device" in kwargs:
            kwargs["device"] = torch.device("cpu")
        out = func(*args, **kwargs)
        if to_sim:
            return tree_map(lambda t: t.as_subclass(_Sim) if isinstance(t, torch.Tensor) and not isinstance(t, _Sim) else t, out)
        return out


def _on_sim(t: torch.Tensor) -> torch.Tensor:
    return t.as_subclass(_Sim)


def test_the_simulated_device_catches_mixing():
    with _SimDevice():
        a = torch.ones(3, device=_SIM)
        assert isinstance(a, _Sim) and a.device == _SIM
        with pytest.raises(RuntimeError, match="same device"):
            _ = a + torch.ones(3)
        assert isinstance(torch.zeros(2).to(_SIM) * a[:2], _Sim)
        assert type(a.cpu()) is torch.Tensor and float((a * 2).sum().cpu()) == 6.0


def test_faithfulness_keeps_its_tensors_on_the_models_device():
    """Deletion/insertion and infidelity on the simulated device give the CPU's numbers, and the
    model only ever sees gates on its own device."""
    torch.manual_seed(9)
    u = torch.randn(T)
    seen = []

    def f(gates: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((gates * u).sum(-1))

    def gate_forward(gates: torch.Tensor) -> torch.Tensor:
        seen.append(gates.device)
        return torch.sigmoid((gates * _on_sim(u)).sum(-1))  # the model's weights are on its device

    scores = torch.randn(T)
    expected = deletion_insertion(f, scores, seed=0)
    expected_infidelity = infidelity_of(f, scores, samples=8, seed=0)
    with _SimDevice():
        got = deletion_insertion(gate_forward, scores, seed=0, device=_SIM)
        infidelity = infidelity_of(gate_forward, scores, samples=8, seed=0, device=_SIM)
    assert seen and set(seen) == {_SIM}
    assert got.deletion == pytest.approx(expected.deletion) and got.insertion == pytest.approx(expected.insertion)
    assert got.random_deletion_auc == pytest.approx(expected.random_deletion_auc)
    assert infidelity == pytest.approx(expected_infidelity)


def test_gate_forward_moves_cpu_gates_to_the_models_device():
    torch.manual_seed(10)
    embeds, base = torch.randn(1, T, D), torch.zeros(1, T, D)
    w = torch.randn(D)

    def model(inputs_embeds, attention_mask):
        return SimpleNamespace(logits=(inputs_embeds * _on_sim(w)).sum(-1))  # weights on the model's device

    resolved = SimpleNamespace(keep_logits=0, score=lambda out: out.logits.sum(-1))
    gates = torch.tensor([[1.0, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0]])
    with _SimDevice():
        problem = Problem(model, resolved, _on_sim(embeds), _on_sim(base), torch.arange(T), "zero", None)
        assert problem.device == _SIM
        out = problem.gate_forward(gates)
    assert isinstance(out, _Sim)
    expected = ((gates.unsqueeze(-1) * embeds) * w).sum((-1, -2))
    torch.testing.assert_close(out.as_subclass(torch.Tensor), expected)


# -- DeepLift ---------------------------------------------------------------------------------------


class _MlpLM(nn.Module):
    """A causal LM made of DeepLift's leaves only: position t's logits read the mean over
    positions <= t of ReLU(W1 e + b1), through a linear head."""

    def __init__(self, vocab: int = 21, d: int = 8, hidden: int = 16) -> None:
        super().__init__()
        torch.manual_seed(11)
        self.config = SimpleNamespace()
        self.wte, self.up, self.act, self.head = nn.Embedding(vocab, d), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, vocab)

    def get_input_embeddings(self) -> nn.Module:
        return self.wte

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None):
        e = self.wte(input_ids) if inputs_embeds is None else inputs_embeds
        h = self.act(self.up(e))
        counts = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype).view(1, -1, 1)
        return SimpleNamespace(logits=self.head(h.cumsum(1) / counts))


@pytest.fixture(scope="module")
def toy_gpt2(model_cache, tmp_path_factory):
    path = random_gpt2(tmp_path_factory.mktemp("attr") / "gpt2", seed=12, n_embd=16, n_head=2, n_layer=1)
    return model_cache.get(str(path))


def test_deeplift_runs_where_the_leaves_allow_it_and_equals_the_closed_form(toy_gpt2):
    """On the MLP LM the logit difference is a sum of per-token terms, so DeepLift's rescale
    rule gives each token exactly its own term: (w_a - w_b) . (ReLU(W1 x_t + b1) - ReLU(W1 p + b1)) / n
    with p the pad embedding."""
    loaded = dataclasses.replace(toy_gpt2, model=_MlpLM().eval())
    ids = loaded.tokenizer("a b c d e")["input_ids"]
    job = AttributionJob("a b c d e", Target("logit_diff", correct_id=2, incorrect_id=5), ["deeplift", "deeplift_shap"])
    r = explain(loaded, job)
    m = loaded.model
    with torch.no_grad():
        act = m.act(m.up(m.wte(torch.tensor(ids))))
        pad = m.act(m.up(m.wte.weight[loaded.tokenizer.pad_token_id]))
        expected = ((act - pad) @ (m.head.weight[2] - m.head.weight[5])) / len(ids)
    expected[0] = 0.0  # the first token is kept
    deeplift, deeplift_shap = r.methods
    assert deeplift.scores == pytest.approx(expected.tolist(), abs=1e-5)
    assert abs(deeplift.delta) < 1e-5 and abs(deeplift_shap.delta) < 1e-5  # complete against every baseline
    assert sum(deeplift.scores) == pytest.approx(r.target_score - r.baseline_score, abs=1e-5)


def test_deeplift_is_refused_on_a_transformer_with_the_leaf_named(toy_gpt2):
    with pytest.raises(InvalidArgument) as e:
        explain(toy_gpt2, AttributionJob("a b c d", Target("next_token"), ["saliency", "deeplift_shap"]))
    assert e.value.reason == "ATTRIBUTION_METHOD_NOT_SUPPORTED"
    assert "LayerNorm" in str(e.value) and "integrated_gradients" in str(e.value)
