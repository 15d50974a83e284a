"""Agreement between methods: Spearman rank correlation and top-k overlap of their token
scores, over the attributed tokens only (kept tokens score 0 in every method and would inflate
the agreement)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .types import Agreement

__all__ = ["agreement", "spearman", "top_k_overlap"]


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks with ties averaged (as scipy.stats.rankdata)."""
    v = v.double()
    order = torch.argsort(v, stable=True)
    ranks = torch.empty_like(v)
    ranks[order] = torch.arange(len(v), dtype=torch.float64)
    for value in torch.unique(v):
        tied = v == value
        if int(tied.sum()) > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rho of two score vectors (0 when either is constant)."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / denom if denom > 0 else 0.0


def top_k_overlap(a: torch.Tensor, b: torch.Tensor, k: int = 3) -> float:
    """Fraction of shared tokens among each vector's ``k`` highest scores."""
    k = min(k, len(a))
    top_a = set(torch.topk(a.double(), k).indices.tolist())
    top_b = set(torch.topk(b.double(), k).indices.tolist())
    return len(top_a & top_b) / k


def agreement(names: Sequence[str], scores: Sequence[torch.Tensor]) -> list[Agreement]:
    """Every pair of methods, in request order (none when fewer than 2 tokens)."""
    out = []
    if not scores or len(scores[0]) < 2:
        return out
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            out.append(Agreement(names[i], names[j], spearman(scores[i], scores[j]), top_k_overlap(scores[i], scores[j])))
    return out
