"""The attribution methods: one entry per Captum algorithm, run over token embeddings.

Every method sees the same problem: ``f(x) -> (B,)``, the attributed score as a function of the
embeddings of the *attributed* tokens ``x`` of shape ``(1, T', D)`` (kept tokens -- the first
token, special tokens, a prompt's template -- are fixed inside ``f``), and a baseline ``b`` of
the same shape. Gradient methods differentiate ``f``; perturbation methods treat each token as
one feature (``feature_mask``) replaced by its baseline embedding. A token's score is the sum of
its attribution over the embedding dimension (for saliency: of the gradient's absolute value).

Integrated gradients over the word embeddings is the same computation as Captum's
``LayerIntegratedGradients`` on the embedding layer (the path is the same); the tests check the
two against each other.

Defaults (``DEFAULTS``), all overridable per request:
    n_steps chosen automatically for integrated gradients (Gauss-Legendre): 50, then 200, then 800
    steps until the convergence delta is within 1% of f(x) - f(baseline) (``AUTO_STEPS``; a
    request's own n_steps runs once, as given), gradient SHAP 16 samples with noise of
    10% of the embeddings' standard deviation, LIME and kernel SHAP 200 samples, Shapley value
    sampling 25 permutations, occlusion a 3-token window with stride 1, internal batch 16 model
    evaluations per pass for gradient methods and 64 perturbations per pass for forward-only ones.
    Gradient SHAP and DeepLift SHAP run their samples in chunks of that batch (``_over_samples``),
    so no method's memory grows with n_samples.

DeepLift and DeepLift SHAP only run on models whose every leaf is one DeepLift can rescale
(``deeplift_supported``, checked on the loaded model): linear layers, convolutions, pooling,
embedding lookups and Captum's nonlinearities (ReLU, ELU, sigmoid, tanh, softplus, leaky ReLU).
A transformer's attention multiplies activations and calls softmax as a function, where
DeepLift's rescale rule silently gives wrong answers; every family the service loads (Llama,
GPT-2, BERT) has LayerNorm or RMSNorm leaves, so all of them are refused with
ATTRIBUTION_METHOD_NOT_SUPPORTED and the offending leaf named.

Example:
    >>> attrs, delta = run_method("integrated_gradients", forward, x, b, Params(n_steps=50))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

__all__ = [
    "AUTO_STEPS",
    "AUTO_TOLERANCE",
    "BASIC_METHODS",
    "DEFAULTS",
    "DETAILED_METHODS",
    "LIMITS",
    "METHODS",
    "MethodSpec",
    "Params",
    "deeplift_supported",
    "run_method",
]

ForwardFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Params:
    """Resolved parameters of one run (no zeros: defaults filled in)."""

    n_steps: int = 50  # a request without n_steps tries AUTO_STEPS in turn instead
    n_samples: int = 0  # 0: the method's own default (DEFAULT_SAMPLES)
    seed: int = 0
    internal_batch_size: int = 16
    occlusion_window: int = 3


DEFAULT_SAMPLES = {"gradient_shap": 16, "deeplift_shap": 16, "lime": 200, "kernel_shap": 200, "shapley_value_sampling": 25}
DEFAULTS = Params()
LIMITS = {"n_steps": 2000, "n_samples": 2000, "internal_batch_size": 256, "infidelity_samples": 256, "sensitivity_samples": 32}
# Integrated gradients without an explicit n_steps: 50 steps, then 200, then 800, until the
# convergence delta is within AUTO_TOLERANCE of f(x) - f(baseline). (On SmolLM2 a 5-token
# prompt converges at 50 steps; a 15-token IOI prompt needed 200: 11.8% at 50, 0.05% at 256.)
AUTO_STEPS = (50, 200, 800)
AUTO_TOLERANCE = 0.01
PERTURBATION_BATCH_FACTOR = 4  # perturbations per forward pass = this x internal_batch_size
GRADIENT_NOISE = 0.1  # gradient SHAP / DeepLift SHAP noise, as a fraction of the embeddings' std


@dataclass(frozen=True)
class MethodSpec:
    """One method: its name, what it is, and how it reports."""

    name: str
    description: str
    family: str  # "gradient" | "perturbation"
    has_delta: bool
    supports_generation: bool
    needs_deeplift: bool = False

    def defaults(self, params: Params = DEFAULTS, *, auto_steps: bool = False) -> list[str]:
        """The parameters it runs with, as ``key=value`` strings; ``auto_steps``: n_steps is
        left to the automatic choice (a request without n_steps), described rather than given."""
        out = []
        if self.name == "integrated_gradients":
            steps = ", then ".join(str(n) for n in AUTO_STEPS)
            auto = f"n_steps=auto ({steps} until |delta| <= {AUTO_TOLERANCE:.0%} of |f(x) - f(baseline)|)"
            out.append(auto if auto_steps else f"n_steps={params.n_steps}")
        if self.name in DEFAULT_SAMPLES:
            out.append(f"n_samples={params.n_samples or DEFAULT_SAMPLES[self.name]}")
        if self.name == "occlusion":
            out.append(f"window={params.occlusion_window}")
        if self.name in ("gradient_shap", "deeplift_shap"):
            out.append(f"noise={GRADIENT_NOISE}*std(embeddings)")
        if self.name in ("lime",):
            out.append("interpretable_model=ridge(alpha=0.001)")
        if self.family == "perturbation":
            out.append(f"perturbations_per_eval={params.internal_batch_size * PERTURBATION_BATCH_FACTOR}")
        if self.name == "integrated_gradients":
            out.append(f"internal_batch_size={params.internal_batch_size}")
        return out


METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec("saliency", "absolute gradient of the target w.r.t. each token's embedding, summed", "gradient", False, False),
        MethodSpec("input_x_gradient", "embedding times gradient, summed over the embedding", "gradient", False, True),
        MethodSpec("integrated_gradients", "gradients integrated along the path from the baseline", "gradient", True, True),
        MethodSpec("gradient_shap", "expected gradients from noisy baselines (SHAP approximation)", "gradient", True, False),
        MethodSpec("deeplift", "DeepLift rescale rule against the baseline", "gradient", True, False, needs_deeplift=True),
        MethodSpec("deeplift_shap", "DeepLift averaged over noisy baselines", "gradient", True, False, needs_deeplift=True),
        MethodSpec("occlusion", "drop in the target when a sliding window of tokens is replaced", "perturbation", False, False),
        MethodSpec("feature_ablation", "drop in the target when one token is replaced", "perturbation", False, True),
        MethodSpec("lime", "weighted linear surrogate fitted on random token subsets", "perturbation", False, True),
        MethodSpec("kernel_shap", "Shapley values estimated by LIME with the Shapley kernel", "perturbation", False, True),
        MethodSpec("shapley_value_sampling", "Shapley values from random token orderings", "perturbation", False, True),
    )
}
BASIC_METHODS = ("integrated_gradients",)
DETAILED_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "gradient_shap", "feature_ablation", "kernel_shap")
GENERATION_DETAILED = ("integrated_gradients", "input_x_gradient", "feature_ablation", "shapley_value_sampling")

# Leaves DeepLift can rescale (Captum's nonlinearities) or that are linear. Embedding lookups
# qualify: the methods differentiate the word embeddings themselves, so a lookup is either
# before them or (positions) adds a constant.
_DEEPLIFT_LEAVES = (
    nn.Linear, nn.ReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.LeakyReLU, nn.Identity, nn.Dropout,
    nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.Flatten, nn.Embedding,
)


def deeplift_supported(module: nn.Module) -> tuple[bool, str]:
    """Whether DeepLift's rules hold for every leaf of ``module``; if not, why."""
    for name, leaf in module.named_modules():
        if next(leaf.children(), None) is not None:
            continue
        if not isinstance(leaf, _DEEPLIFT_LEAVES):
            return False, f"{name or 'the model'} is a {type(leaf).__name__}, which DeepLift cannot rescale"
    return True, ""


class _ScoreModule(nn.Module):
    """``f`` as a module (DeepLift hooks the modules it runs)."""

    def __init__(self, forward: ForwardFn, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        self._forward = forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)


def _token_mask(x: torch.Tensor) -> torch.Tensor:
    """Feature mask (1, T', D): every embedding entry of token t belongs to feature t."""
    t = x.shape[1]
    return torch.arange(t, device=x.device).view(1, t, 1).expand_as(x).contiguous()


def _noisy_baselines(b: torch.Tensor, x: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` baselines: ``b`` plus Gaussian noise of GRADIENT_NOISE times the embeddings' std."""
    std = float(x.detach().std()) * GRADIENT_NOISE
    return b + torch.randn((n, *b.shape[1:]), dtype=b.dtype, device=b.device) * std


def _over_samples(
    n: int, chunk: int, attribute: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """An expectation over ``n`` samples computed ``chunk`` samples per Captum call.

    Captum's ``GradientShap`` and ``DeepLiftShap`` have no internal batch size: they evaluate
    the model on all their samples in one batch, so memory would grow with ``n_samples`` (2000
    full sequences at the limit). Both return the mean of per-sample attributions and one delta
    per sample; the mean over chunks weighted by their sizes and the chunks' deltas
    concatenated are what one call over all samples returns.

    Args:
        n: samples in all.
        chunk: samples per call.
        attribute: ``(start, stop) -> (attributions, deltas)`` of samples ``start .. stop - 1``.
    """
    bounds = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    parts = [attribute(start, stop) for start, stop in bounds]
    attrs = torch.stack([a.detach() * ((stop - start) / n) for (a, _), (start, stop) in zip(parts, bounds)]).sum(0)
    return attrs, torch.cat([d.detach() for _, d in parts])


def run_method(
    name: str,
    forward: ForwardFn,
    x: torch.Tensor,
    b: torch.Tensor,
    params: Params,
    module: nn.Module | None = None,
    span: float | None = None,
) -> tuple[torch.Tensor, float | None]:
    """Run one Captum method.

    Args:
        name: a key of :data:`METHODS`.
        forward: ``f(x) -> (B,)`` on embeddings of shape ``(B, T', D)``.
        x: the input embeddings ``(1, T', D)``.
        b: the baseline embeddings ``(1, T', D)``.
        params: resolved parameters.
        module: for DeepLift, the module whose leaves ``forward`` runs (checked by the caller
            with :func:`deeplift_supported`).
        span: ``f(x) - f(b)`` when the caller has it: integrated gradients' delta is then
            ``sum(attributions) - span`` (Captum's definition) without Captum evaluating f(x)
            and f(b) once more.

    Returns:
        Attributions shaped like ``x`` and the convergence delta (methods that have one; the
        mean over samples for the SHAP variants), else None.
    """
    import captum.attr as ca
    from captum._utils.models.linear_model import SkLearnRidge

    torch.manual_seed(params.seed)
    np.random.seed(params.seed)  # gradient SHAP draws its points on the path with numpy
    batch = params.internal_batch_size
    # Forward-only methods keep no activations for a backward pass: a batch of perturbations
    # costs far less memory than one of gradient evaluations, so they take several at once.
    per_eval = batch * PERTURBATION_BATCH_FACTOR
    samples = params.n_samples or DEFAULT_SAMPLES.get(name, 0)
    if name in ("saliency", "input_x_gradient") and isinstance(x, torch.Tensor):
        x = x.detach().requires_grad_(True)  # a leaf of its own (Captum warns otherwise)
    if name == "saliency":
        return ca.Saliency(forward).attribute(x, abs=True), None
    if name == "input_x_gradient":
        return ca.InputXGradient(forward).attribute(x), None
    if name == "integrated_gradients":
        ig = ca.IntegratedGradients(forward)
        if span is not None:
            attrs = ig.attribute(x, baselines=b, n_steps=params.n_steps, internal_batch_size=batch)
            return attrs, float(attrs.detach().double().sum()) - span
        attrs, delta = ig.attribute(x, baselines=b, n_steps=params.n_steps, internal_batch_size=batch, return_convergence_delta=True)
        return attrs, float(delta.sum())
    if name == "gradient_shap":
        gradient_shap, stdevs = ca.GradientShap(forward), float(x.detach().std()) * GRADIENT_NOISE
        attrs, delta = _over_samples(
            samples, batch,
            lambda start, stop: gradient_shap.attribute(
                x, baselines=b, n_samples=stop - start, stdevs=stdevs, return_convergence_delta=True
            ),
        )
        return attrs, float(delta.mean())
    if name in ("deeplift", "deeplift_shap"):
        scorer = _ScoreModule(forward, module if module is not None else nn.Identity())
        if name == "deeplift":
            attrs, delta = ca.DeepLift(scorer).attribute(x, baselines=b, return_convergence_delta=True)
            return attrs, float(delta.sum())
        deeplift_shap, baselines = ca.DeepLiftShap(scorer), _noisy_baselines(b, x, samples)
        # DeepLift runs the input and the baseline in one batch: half a batch of baselines each.
        attrs, delta = _over_samples(
            samples, max(batch // 2, 1),
            lambda start, stop: deeplift_shap.attribute(x, baselines=baselines[start:stop], return_convergence_delta=True),
        )
        return attrs, float(delta.mean())
    mask = _token_mask(x)
    if name == "occlusion":
        width = min(params.occlusion_window, x.shape[1])
        return ca.Occlusion(forward).attribute(
            x, sliding_window_shapes=(width, x.shape[2]), strides=(1, x.shape[2]), baselines=b, perturbations_per_eval=per_eval
        ), None
    if name == "feature_ablation":
        return ca.FeatureAblation(forward).attribute(x, baselines=b, feature_mask=mask, perturbations_per_eval=per_eval), None
    if name == "lime":
        lime = ca.Lime(forward, interpretable_model=SkLearnRidge(alpha=1e-3))
        return lime.attribute(x, baselines=b, feature_mask=mask, n_samples=samples, perturbations_per_eval=per_eval), None
    if name == "kernel_shap":
        return ca.KernelShap(forward).attribute(
            x, baselines=b, feature_mask=mask, n_samples=samples, perturbations_per_eval=per_eval
        ), None
    if name == "shapley_value_sampling":
        return ca.ShapleyValueSampling(forward).attribute(
            x, baselines=b, feature_mask=mask, n_samples=samples, perturbations_per_eval=per_eval
        ), None
    raise KeyError(name)


def expected_evaluations(name: str, n_tokens: int, params: Params) -> int:
    """Roughly how many model evaluations a method takes (for progress)."""
    samples = params.n_samples or DEFAULT_SAMPLES.get(name, 0)
    return {
        "saliency": 1,
        "input_x_gradient": 1,
        "integrated_gradients": params.n_steps + 2,
        "gradient_shap": samples + 2 * samples,
        "deeplift": 2,
        "deeplift_shap": 2 * samples,
        "occlusion": n_tokens + 1,
        "feature_ablation": n_tokens + 1,
        "lime": samples + 1,
        "kernel_shap": samples + 1,
        "shapley_value_sampling": samples * (n_tokens + 1),
    }.get(name, 1)


def with_defaults(params: Params, **overrides: int) -> Params:
    """``params`` with the non-zero overrides applied."""
    return replace(params, **{k: v for k, v in overrides.items() if v})
