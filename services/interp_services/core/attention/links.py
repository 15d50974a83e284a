"""Hotspots: the strongest query -> key attention weights over all analysed heads.

Self-attention (``q == k``) and the first-token sink (key 0) are the default resting places of
attention, not relations between tokens; they would otherwise fill the whole list, so they are
left out.
"""

from __future__ import annotations

import torch

__all__ = ["LinkCandidate", "strongest_links"]

LinkCandidate = tuple[float, int, int, int, int]
"""``(weight, layer, head, query, key)``; sorting by ``(-weight, layer, head, query, key)``
puts the strongest first, ties in a fixed order."""


def strongest_links(a: torch.Tensor, layer_of: torch.Tensor, head_of: torch.Tensor, k: int) -> list[LinkCandidate]:
    """The ``k`` strongest links of ``a``, strongest first (ties by layer, head, query, key).

    Only positive weights are links. To stay cheap on long inputs this does not sort every weight:
    the ``k`` largest row maxima give a weight ``v`` that at least ``k`` links reach, so every
    link in the answer is ``>= v`` and only the rows whose maximum reaches ``v`` are searched.

    Args:
        a: ``[N, T, T]`` heads; **overwritten** (the self and sink weights are zeroed in place).
        layer_of: ``[N]`` long: the layer of each head.
        head_of: ``[N]`` long: the head index of each head.
        k: How many links to return (``>= 0``).

    Returns:
        Up to ``k`` :data:`LinkCandidate` tuples.
    """
    if k == 0:
        return []
    n, t, _ = a.shape
    a.diagonal(dim1=-2, dim2=-1).zero_()
    a[:, :, 0] = 0.0
    rows = a.reshape(n * t, t)
    row_max = rows.amax(dim=1)
    threshold = row_max.topk(min(k, row_max.numel())).values[-1].item()
    row_index = ((row_max >= threshold) & (row_max > 0.0)).nonzero()[:, 0]
    found = rows[row_index]
    hit_row, key = ((found >= threshold) & (found > 0.0)).nonzero(as_tuple=True)
    weight = found[hit_row, key]
    row = row_index[hit_row]
    head_pos, query = row // t, row % t
    layer, head = layer_of[head_pos], head_of[head_pos]
    # Order by (-weight, layer, head, query, key): sort by position first, then stably by weight.
    position = ((layer * (int(head_of.max()) + 1) + head) * t + query) * t + key
    order = position.argsort()
    order = order[torch.sort(-weight[order], stable=True).indices[:k]]
    columns = (weight, layer, head, query, key)
    return list(zip(*(column[order].tolist() for column in columns), strict=True))
