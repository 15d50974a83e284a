"""Neuron importance for a target: gradient magnitude, gradient x activation, ablation.

Scores are means over texts of a per-text score; each text's real tokens only:

* ``gradient_magnitude``: the L2 norm over positions of d target / d activation;
* ``gradient_x_activation``: ``|sum over positions of activation x gradient|`` -- the first-order
  (attribution-patching) estimate of what zero-ablating the neuron at every position does;
* ``ablation``: ``|target(clean) - target(ablated)|`` with the neuron set to zero (or its mean)
  at every position, measured by the model host as batched per-sequence interventions. Only
  the ``ablation_candidates`` neurons that ``gradient_x_activation`` ranks highest are ablated
  (one forward pass per candidate and text); the rest are neither ablated nor ranked, so a
  neuron whose first-order estimate understates its effect can be missed.

Example:
    >>> scores = gradient_scores(act, grad, mask, "gradient_x_activation")   # [batch, width]
    >>> ranked = rank(scores.mean(0))
"""

from __future__ import annotations

import torch

RANKING_METHODS = ("gradient_magnitude", "gradient_x_activation", "ablation")


def gradient_scores(act: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor, method: str) -> torch.Tensor:
    """Per-text scores ``[batch, width]`` from ``[batch, pos, width]`` activations and gradients
    (``mask`` ``[batch, pos]``: the real tokens)."""
    w = mask.to(torch.float64)[..., None]
    g = grad.to(torch.float64) * w
    if method == "gradient_magnitude":
        return g.pow(2).sum(dim=1).sqrt()
    if method == "gradient_x_activation":
        return (act.to(torch.float64) * g).sum(dim=1).abs()
    raise ValueError(f"unknown gradient method {method!r}")


def rank(scores: torch.Tensor) -> list[int]:
    """Indices by score, largest first (stable for ties)."""
    return torch.argsort(scores, descending=True, stable=True).tolist()
