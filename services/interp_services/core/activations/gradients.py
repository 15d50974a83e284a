"""Gradient analysis of one text: norms per layer and token, input saliency, gradients of the
attention weights, and the vanishing/exploding picture across layers.

The gradients come from the model host (``RunModel`` with a metric and ``gradients``); this
module only reduces them. Verdict rule (the README repeats it): with ``r`` the median residual
gradient norm at the first analysed layer over the one at the last, the flow is **vanishing**
when ``r < 0.01`` (the signal reaching early layers is a hundredth of the one at the top),
**exploding** when ``r > 100``, and **stable** otherwise.

Example:
    >>> g = text_gradients(embed, embed_grad, {3: resid_grad3}, {3: (pattern3, pattern_grad3)})
    >>> flow = gradient_flow([g], [3])
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

VANISHING_RATIO = 0.01
EXPLODING_RATIO = 100.0


@dataclass
class LayerGradient:
    """A layer's gradient for one text: total norm, per-token (hidden) or per-head (attention)
    norms, and per head the sum of weight x gradient."""

    layer: int
    norm: float
    norms: list[float]
    weight_x_gradient: list[float] = field(default_factory=list)


@dataclass
class TextGradients:
    """Reduced gradients of one text."""

    saliency: list[float]
    input_x_gradient: list[float]
    hidden: list[LayerGradient]
    attention: list[LayerGradient]


def text_gradients(
    embed: torch.Tensor | None,
    embed_grad: torch.Tensor | None,
    hidden: Mapping[int, torch.Tensor],
    attention: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
    *,
    per_token: bool = True,
) -> TextGradients:
    """Reduce one text's gradients (real tokens only; shapes without the batch axis).

    Args:
        embed: input embeddings ``[pos, d_model]``; ``embed_grad`` their gradient.
        hidden: layer -> residual gradient ``[pos, d_model]``.
        attention: layer -> (pattern ``[head, q, k]``, its gradient).
        per_token: keep per-token norms of the hidden gradients.
    """
    saliency: list[float] = []
    ixg: list[float] = []
    if embed is not None and embed_grad is not None:
        g = embed_grad.double()
        saliency = g.norm(dim=-1).tolist()
        ixg = (embed.double() * g).sum(dim=-1).tolist()
    hid = [
        LayerGradient(layer, float(g.double().norm()), g.double().norm(dim=-1).tolist() if per_token else [])
        for layer, g in sorted(hidden.items())
    ]
    att = []
    for layer, (pattern, grad) in sorted(attention.items()):
        g = grad.double()
        att.append(
            LayerGradient(
                layer,
                float(g.norm()),
                g.flatten(1).norm(dim=-1).tolist(),
                (pattern.double() * g).flatten(1).sum(dim=-1).tolist(),
            )
        )
    return TextGradients(saliency, ixg, hid, att)


@dataclass
class GradientFlow:
    """Medians over texts per layer and the verdict (see the module docstring)."""

    layers: list[int]
    hidden_norms: list[float]
    attention_norms: list[float]
    first_to_last_ratio: float
    verdict: str


def gradient_flow(texts: Sequence[TextGradients], layers: Sequence[int]) -> GradientFlow:
    """The vanishing/exploding picture across ``layers`` (medians over texts)."""

    def medians(pick) -> list[float]:
        out = []
        for layer in layers:
            values = [lg.norm for t in texts for lg in pick(t) if lg.layer == layer]
            out.append(statistics.median(values) if values else 0.0)
        return out

    hidden = medians(lambda t: t.hidden)
    attention = medians(lambda t: t.attention)
    series = hidden if any(hidden) else attention
    ratio, verdict = 1.0, "stable"
    if len(series) >= 2 and series[-1] > 0:
        ratio = series[0] / series[-1]
        verdict = "vanishing" if ratio < VANISHING_RATIO else "exploding" if ratio > EXPLODING_RATIO else "stable"
    return GradientFlow(list(layers), hidden, attention, ratio, verdict)


def gradient_findings(texts: Sequence[TextGradients], tokens: Sequence[Sequence[str]], flow: GradientFlow) -> list[str]:
    """The picture in words."""
    out = []
    if len(flow.layers) >= 2:
        out.append(
            f"Gradient flow is {flow.verdict}: the median gradient norm at layer {flow.layers[0]} is {flow.first_to_last_ratio:.3g}x "
            f"the one at layer {flow.layers[-1]} (vanishing below {VANISHING_RATIO:g}x, exploding above {EXPLODING_RATIO:g}x)."
        )
        if any(flow.hidden_norms):
            peak = max(range(len(flow.layers)), key=lambda i: flow.hidden_norms[i])
            out.append(f"The residual gradient is largest at layer {flow.layers[peak]} (median norm {flow.hidden_norms[peak]:.3g}).")
    for i, (t, toks) in enumerate(zip(texts, tokens, strict=True)):
        if t.saliency:
            top = max(range(len(t.saliency)), key=lambda p: t.saliency[p])
            out.append(f"Text {i}: the most salient input token is {toks[top]!r} at position {top} (gradient norm {t.saliency[top]:.3g}).")
        if t.attention:
            best = max(
                ((lg.layer, h, v) for lg in t.attention for h, v in enumerate(lg.weight_x_gradient)), key=lambda x: abs(x[2]), default=None
            )
            if best is not None:
                out.append(
                    f"Text {i}: head {best[0]}.{best[1]}'s attention pattern matters most to the target "
                    f"(weight x gradient {best[2]:+.3g})."
                )
    return out
