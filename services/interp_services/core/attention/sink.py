"""Beyond the sink: what a first-token (sink) head does with the rest of its attention.

Many LLM heads park most of their attention on the first token (a no-op "sink") and do their real
work with the rest. Dropping the first key and query and renormalising each row shows that work:
the relations the roles test (offset -1, self, earlier occurrence + 1, fixed offsets) are
unchanged by the shift, so the same role definitions and scorer apply to the shorter input. The
first-token role is not a candidate there -- the new first token is no sink.
"""

from __future__ import annotations

import torch

from interp_services.core.attention.patterns import Input
from interp_services.core.attention.roles import assign_roles
from interp_services.core.attention.scoring import RoleScorer, entropies, uniform_attention, xlogx
from interp_services.core.attention.types import HeadRole

__all__ = ["BeyondSink"]

_EMPTY_ROW = 1e-6
"""A query with at most this much left beyond the sink has nothing to say: it is read as uniform."""


class BeyondSink:
    """Names what sink heads do beyond the sink; built once per input, shared by every layer.

    Example:
        >>> import torch
        >>> from interp_services.core.attention.scoring import query_entropies
        >>> t = 6
        >>> a = torch.zeros(1, t, t)
        >>> a[0, :, 0] = 0.7                       # most attention on the sink ...
        >>> a[0, 0, 0] = 1.0
        >>> a[0, torch.arange(1, t), torch.arange(1, t)] += 0.3   # ... the rest on itself
        >>> BeyondSink(Input.of(range(t), causal=True))(a, torch.tensor([0]), query_entropies(a))
        ([<HeadRole.CURRENT_TOKEN: 'current_token'>], [1.0])
    """

    def __init__(self, inp: Input) -> None:
        """Prepare the input with its first token removed (``inp.t > 2``)."""
        self.inp = Input(inp.t - 1, inp.causal, inp.token_ids[1:])
        self.scorer = RoleScorer(self.inp, excluded=(HeadRole.FIRST_TOKEN,))
        self.uniform = uniform_attention(self.inp)

    def __call__(
        self, a: torch.Tensor, sinks: torch.Tensor, query_entropy: torch.Tensor
    ) -> tuple[list[HeadRole], list[float]]:
        """Name what the heads ``a[sinks]`` do on the renormalised rest of their attention.

        Args:
            a: ``[N, T, T]`` heads (not modified).
            sinks: ``[S]`` long: the sink heads among them.
            query_entropy: ``[N, T]``: ``query_entropies(a)``.

        Returns:
            ``(roles, scores)``, one entry per sink head.
        """
        heads = a.index_select(0, sinks)
        rest = heads[:, 1:, 1:]
        mass = rest.sum(-1)  # [S, T-1]: what each query has left beyond the sink
        z = mass.clamp(min=1e-12)
        rest = rest / z[..., None]
        # The rest's entropy without another log pass over it: for weights p summing to Z,
        # H(p / Z) = -sum(p log p) / Z + log Z, and -sum(p log p) over the rest is the query's
        # entropy minus the sink's own term.
        sink_weight = heads[:, 1:, 0].contiguous()  # a column: elementwise ops on it strided are slow
        rest_entropy = (query_entropy.index_select(0, sinks)[:, 1:] + xlogx(sink_weight)) / z + z.log()
        # A query that put everything on the sink has nothing left: treat it as uniform (no role).
        empty = mass <= _EMPTY_ROW
        if bool(empty.any()):
            rest[empty] = self.uniform[0].expand_as(rest)[empty]
            rest_entropy = torch.where(empty, self.inp.visible_keys.to(rest.dtype).log(), rest_entropy)
        _, broad = entropies(rest, self.inp, rows=rest_entropy)
        scores = self.scorer(rest).scores
        return assign_roles(scores, broad, self.scorer.thresholds)
