"""Pooling captured activations at the source: groups of token positions averaged into one vector
each, before anything leaves the model host.

A probe reads one vector per sentence or per word; moving every token's residual stream of 30
layers (SmolLM2: 69 KB per token) to compute a mean elsewhere costs more than the forward pass.

Example:
    >>> t = torch.arange(12.0).reshape(2, 3, 2)  # [batch, pos, d]
    >>> pool_positions(t, [(0, [1, 2]), (1, [0])]).tolist()
    [[3.0, 4.0], [6.0, 7.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from interp_services.core.errors import ResourceExhausted, invalid
from interp_services.core.reasons import Reason

__all__ = ["check_pools", "pool_positions"]


def check_pools(pools: Sequence[tuple[int, Sequence[int]]], lengths: Sequence[int], field: str, *, max_positions: int) -> None:
    """Every pool names a sequence of the batch and one or more positions within its length.

    Raises:
        InvalidArgument: SEQUENCE_OUT_OF_RANGE, POSITION_OUT_OF_RANGE (also for an empty pool).
        ResourceExhausted: ANALYSIS_TOO_LARGE past ``max_positions`` positions in all.
    """
    total = 0
    for i, (seq, positions) in enumerate(pools):
        if not 0 <= seq < len(lengths):
            raise invalid(Reason.SEQUENCE_OUT_OF_RANGE, f"{field}[{i}].sequence", f"must be in [0, {len(lengths)})")
        if not positions:
            raise invalid(Reason.POSITION_OUT_OF_RANGE, f"{field}[{i}].positions", "a pool needs at least one position")
        for j, p in enumerate(positions):
            if not 0 <= p < lengths[seq]:
                raise invalid(Reason.POSITION_OUT_OF_RANGE, f"{field}[{i}].positions[{j}]",
                              f"sequence {seq} has {lengths[seq]} tokens; got {p}")
        total += len(positions)
        if total > max_positions:
            raise ResourceExhausted(Reason.ANALYSIS_TOO_LARGE, f"{field}: more than {max_positions} positions in all")


def pool_positions(t: torch.Tensor, pools: Sequence[tuple[int, Sequence[int]]]) -> torch.Tensor:
    """The mean of ``t[sequence, positions]`` for each pool.

    Args:
        t: ``[batch, pos, ...]`` captured activations.
        pools: (sequence, positions) pairs, checked by :func:`check_pools`.

    Returns:
        ``[len(pools), ...]``, in ``t``'s dtype (the sums accumulate in float32 or wider).
    """
    rows = torch.tensor([s for s, ps in pools for _ in ps], dtype=torch.long, device=t.device)
    cols = torch.tensor([p for _, ps in pools for p in ps], dtype=torch.long, device=t.device)
    owner = torch.tensor([i for i, (_, ps) in enumerate(pools) for _ in ps], dtype=torch.long, device=t.device)
    picked = t[rows, cols]
    acc_dtype = torch.promote_types(t.dtype, torch.float32)
    sums = torch.zeros((len(pools), *t.shape[2:]), dtype=acc_dtype, device=t.device).index_add_(0, owner, picked.to(acc_dtype))
    counts = torch.tensor([len(ps) for _, ps in pools], dtype=acc_dtype, device=t.device)
    return (sums / counts.view(-1, *([1] * (t.dim() - 2)))).to(t.dtype)
