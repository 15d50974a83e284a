"""Head detectors on repeated random token sequences (Olsson et al. 2022; TransformerLens'
``head_detector``): a head type is a pattern of keys per query plus one scorer, the mean
attention mass on those keys.

A sequence is ``r + r`` for ``T`` random tokens ``r``. Over the queries of the second half
(``q = T + i``):

* previous token: key ``q - 1`` (scored over every query ``q >= 1``);
* duplicate token: key ``q - T``, the earlier occurrence of the same token;
* induction: key ``q - T + 1``, the token that followed the earlier occurrence.

Random tokens make the three keys distinct and each predictable only by its role, which is why
detectors use them rather than natural text.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp_services.core.circuits.experiments import Monitor
from interp_services.core.circuits.runner import Runner


@dataclass(frozen=True)
class HeadScores:
    previous_token: torch.Tensor  # [layers, heads]
    duplicate_token: torch.Tensor
    induction: torch.Tensor


def repeated_sequences(token_pool: list[int], length: int, count: int, seed: int, prefix: list[int] | None = None) -> list[list[int]]:
    """``count`` sequences ``prefix + r + r``; ``r`` has ``length`` distinct tokens of the pool
    when the pool is large enough (so "the earlier occurrence" is unique)."""
    g = torch.Generator().manual_seed(seed)
    pool = torch.tensor(token_pool)
    out = []
    for _ in range(count):
        if len(token_pool) >= length:
            r = pool[torch.randperm(len(token_pool), generator=g)[:length]]
        else:
            r = pool[torch.randint(len(token_pool), (length,), generator=g)]
        out.append([*(prefix or []), *r.tolist(), *r.tolist()])
    return out


def score_heads(patterns: dict[int, torch.Tensor], length: int, offset: int = 0) -> HeadScores:
    """Scores from patterns ``layer -> [batch, head, q, k]`` of ``prefix (offset) + r + r``."""
    prev, dup, ind = [], [], []
    for layer in sorted(patterns):
        a = patterns[layer].float()
        t = a.shape[-1]
        q = torch.arange(1, t)
        prev.append(a[:, :, q, q - 1].mean(dim=(0, 2)))
        second = torch.arange(offset + length, offset + 2 * length)
        dup.append(a[:, :, second, second - length].mean(dim=(0, 2)))
        ind.append(a[:, :, second, second - length + 1].mean(dim=(0, 2)))
    return HeadScores(torch.stack(prev), torch.stack(dup), torch.stack(ind))


def detect_heads(runner: Runner, info, token_pool: list[int], monitor: Monitor, *, length: int = 20, count: int = 8, seed: int = 0, prefix: list[int] | None = None) -> HeadScores:
    """Capture every layer's pattern on repeated random sequences and score every head."""
    seqs = repeated_sequences(token_pool, length, count, seed, prefix)
    sites = [f"blocks.{layer}.attn.hook_pattern" for layer in range(info.num_layers)]
    monitor.step(0.1, "capturing attention patterns")
    out = runner.run(seqs, capture=sites)
    monitor.runs += 1
    return score_heads({layer: out.captures[s] for layer, s in enumerate(sites)}, length, len(prefix or []))
