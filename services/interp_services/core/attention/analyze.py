"""``analyze_attention``: score, name and summarise every analysed head of one input.

All analysed layers are stacked into one ``[layers * heads, T, T]`` tensor and scored together
(entropies, distance, every role, the beyond-sink roles of the sink heads, the hotspots), then
converted to Python once: per-layer, per-head or per-offset Python loops over tensors cost far
more than the arithmetic at these sizes. Long inputs are processed in groups of layers, each
stack at most ``GROUP_ELEMENTS`` weights (32 MiB in float32), so the memory of a pass stays
bounded however many layers there are: a 64-token input of a 30x9 model is one group, a 512-token
one ten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from interp_services.core.attention.findings import findings
from interp_services.core.attention.links import LinkCandidate, strongest_links
from interp_services.core.attention.patterns import Input
from interp_services.core.attention.roles import ROLE_DEFINITIONS, assign_roles, dominant_role, role_counts
from interp_services.core.attention.scoring import (
    RoleScorer,
    distance_matrix,
    entropies,
    mean_distance,
    query_entropies,
)
from interp_services.core.attention.sink import BeyondSink
from interp_services.core.attention.types import (
    AttentionResult,
    HeadResult,
    HeadRole,
    HeadRoleScores,
    LayerResult,
    Link,
)
from interp_services.core.attention.validation import check_arguments, load_layers

__all__ = ["GROUP_ELEMENTS", "analyze_attention"]

GROUP_ELEMENTS = 1 << 23
"""Most attention weights stacked and scored in one pass (at least one layer per pass)."""


def analyze_attention(
    patterns: Mapping[int, torch.Tensor],
    heads: Sequence[int],
    tokens: Sequence[str],
    token_ids: Sequence[int],
    *,
    causal: bool,
    num_layers: int,
    num_heads: int,
    top_k_links: int = 10,
    display_tokens: Sequence[str] | None = None,
) -> AttentionResult:
    """Score, name and summarise the attention heads of one input.

    Args:
        patterns: ``{layer: A}`` with ``A`` of shape ``[len(heads), T, T]`` (heads, queries,
            keys): softmaxed attention probabilities, each row summing to 1. Any float dtype or
            device; analysed in float32 on CPU.
        heads: The head index of each entry along ``A``'s first axis (the same for every layer).
        tokens: The ``T`` raw token strings (reported back as ``AttentionResult.tokens``).
        token_ids: The ``T`` token ids (induction compares ids, not strings).
        causal: True for decoder models; patterns must then be lower triangular.
        num_layers: Layers in the model (range check; reported back).
        num_heads: Heads per layer in the model (range check; reported back).
        top_k_links: How many hotspots to return.
        display_tokens: The ``T`` tokens as a reader should see them (decoded text, trimmed,
            control characters escaped; see :mod:`interp_services.core.tokens`). Links and
            findings show these, as they are. ``None`` shows the raw ``tokens``, escaped.

    Returns:
        An :class:`~.types.AttentionResult`.

    Raises:
        InvalidArgument: On a shape mismatch, out-of-range layer or head, duplicate heads,
            rows that are not distributions, future weight when ``causal``, no tokens, or token
            lists (``token_ids``, ``display_tokens``) whose length differs from ``tokens``.

    Example:
        >>> import torch
        >>> a = torch.full((1, 4, 4), 0.25)
        >>> res = analyze_attention({0: a}, [0], list("abcd"), [1, 2, 3, 4],
        ...                         causal=False, num_layers=1, num_heads=1)
        >>> res.heads[0].role, round(res.heads[0].normalized_entropy, 3)
        (<HeadRole.BROAD: 'broad'>, 1.0)
    """
    check_arguments(patterns, heads, tokens, token_ids, display_tokens, num_layers, num_heads, top_k_links)
    t = len(tokens)
    shown = list(tokens) if display_tokens is None else [str(s) for s in display_tokens]
    inp = Input.of(token_ids, causal)
    pass_ = _Pass(inp, [int(h) for h in heads], RoleScorer(inp), distance_matrix(t))
    head_results: list[HeadResult] = []
    layer_results: list[LayerResult] = []
    candidates: list[LinkCandidate] = []
    for group in _layer_groups(sorted(patterns), len(heads) * t * t):
        a, sums = load_layers(patterns, group, len(heads), t, num_layers, causal)
        pass_.run(a, sums, group, top_k_links, head_results, layer_results, candidates)
    candidates.sort(key=lambda c: (-c[0], c[1], c[2], c[3], c[4]))
    hotspots = [Link(layer, head, q, k, shown[q], shown[k], w) for w, layer, head, q, k in candidates[:top_k_links]]
    return AttentionResult(
        tokens=list(tokens),
        display_tokens=shown,
        token_ids=[int(i) for i in token_ids],
        causal=causal,
        num_layers=num_layers,
        num_heads=num_heads,
        heads=head_results,
        layers=layer_results,
        hotspots=hotspots,
        findings=findings(head_results, layer_results, hotspots, causal, display=display_tokens is not None),
    )


def _layer_groups(layers: list[int], per_layer: int) -> Iterator[list[int]]:
    """Consecutive runs of ``layers`` of at most ``GROUP_ELEMENTS`` weights (at least one layer)."""
    size = max(1, GROUP_ELEMENTS // max(per_layer, 1))
    for start in range(0, len(layers), size):
        yield layers[start : start + size]


@dataclass
class _Pass:
    """What scoring a stack of layers needs: the input, the head indices and the role scorer."""

    inp: Input
    heads: list[int]
    roles: RoleScorer
    distance: torch.Tensor
    beyond_sink: BeyondSink | None = None  # built on the first stack that has a sink head

    def run(
        self,
        a: torch.Tensor,
        sums: torch.Tensor,
        layers: list[int],
        top_k_links: int,
        head_results: list[HeadResult],
        layer_results: list[LayerResult],
        candidates: list[LinkCandidate],
    ) -> None:
        """Score the heads ``a`` (``[len(layers) * H, T, T]``, layer-major; consumed) and append
        their results, layer summaries and link candidates; ``sums`` are ``a``'s diagonal sums."""
        n_heads = len(self.heads)
        query_entropy = query_entropies(a)
        ent, norm = entropies(a, self.inp, rows=query_entropy)
        dist = mean_distance(a, self.distance)
        scored = self.roles(a, sums)
        roles, role_scores = assign_roles(scored.scores, norm, self.roles.thresholds)

        beyond: dict[int, tuple[HeadRole | None, float]] = {}
        sinks = [i for i, r in enumerate(roles) if r is HeadRole.FIRST_TOKEN]
        if sinks and self.inp.t > 2:
            if self.beyond_sink is None:
                self.beyond_sink = BeyondSink(self.inp)
            rest_roles, rest_scores = self.beyond_sink(a, torch.tensor(sinks), query_entropy)
            beyond = dict(zip(sinks, zip(rest_roles, rest_scores, strict=True), strict=True))

        layer_of = torch.tensor(layers, dtype=torch.long).repeat_interleave(n_heads)
        head_of = torch.tensor(self.heads, dtype=torch.long).repeat(len(layers))
        candidates += strongest_links(a, layer_of, head_of, top_k_links)  # overwrites a

        ent_l, norm_l, dist_l = ent.tolist(), norm.tolist(), dist.tolist()
        records = _score_records(scored.scores, scored.members, norm_l, self.roles.available.tolist())
        layer_ent = ent.reshape(len(layers), n_heads).mean(dim=1).tolist()
        layer_dist = dist.reshape(len(layers), n_heads).mean(dim=1).tolist()
        by_head = sorted(range(n_heads), key=lambda i: self.heads[i])
        for li, layer in enumerate(layers):
            this_layer = []
            for hi in by_head:
                i = li * n_heads + hi
                # HeadResult's fields in order (positional: this loop runs once per head):
                # layer, head, entropy, normalized_entropy, role, role_score, scores,
                # mean_attention_distance, then role_beyond_sink and its score (None: the role).
                fields = (layer, self.heads[hi], ent_l[i], norm_l[i], roles[i], role_scores[i], records[i], dist_l[i])
                this_layer.append(HeadResult(*fields, *beyond.get(i, (None, 0.0))))
            counts = role_counts(h.role for h in this_layer)
            layer_results.append(LayerResult(layer, layer_ent[li], layer_dist[li], dominant_role(counts), counts))
            head_results += this_layer


# HeadRoleScores is the wire format: one field per role score (named like the role), plus the
# definedness flags and family members that some definitions record (see RoleDefinition).
_RECORD_FIELDS = [f.name for f in dataclasses.fields(HeadRoleScores)]


def _score_records(
    scores: torch.Tensor, members: torch.Tensor, broad: list[float], available: list[bool]
) -> list[HeadRoleScores]:
    """One :class:`~.types.HeadRoleScores` per head from the ``[N, R]`` score and member tensors."""
    n = len(broad)
    columns: dict[str, list] = {"broad": broad}
    for r, (score, member, d) in enumerate(zip(scores.T.tolist(), members.T.tolist(), ROLE_DEFINITIONS, strict=True)):
        columns[d.role.value] = score
        if d.member_field:
            columns[d.member_field] = member
        if d.defined_field:
            columns[d.defined_field] = [available[r]] * n
    # Positional construction from columns: several times faster than keywords per head.
    return [HeadRoleScores(*values) for values in zip(*(columns[name] for name in _RECORD_FIELDS), strict=True)]
