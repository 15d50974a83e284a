"""Comparing head roles and entropies across several inputs to the same model."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from interp_services.core.attention.findings import MAX_FINDINGS
from interp_services.core.attention.roles import ROLE_PHRASE, dominant_role, role_counts
from interp_services.core.attention.types import AttentionResult, HeadComparison, HeadRole
from interp_services.core.errors import invalid
from interp_services.core.reasons import Reason

__all__ = ["compare_attention"]


def compare_attention(results: Sequence[AttentionResult]) -> tuple[list[HeadComparison], list[str]]:
    """Compare head roles and entropies across several inputs.

    Only heads analysed in every result are compared.

    Args:
        results: Outputs of :func:`~.analyze.analyze_attention` for different inputs to the same model.

    Returns:
        ``(comparisons, findings)``: one :class:`HeadComparison` per shared head ordered by
        (layer, head), and at most ``MAX_FINDINGS`` English lines.

    Raises:
        InvalidArgument: When ``results`` is empty.

    Example:
        >>> import torch
        >>> from interp_services.core.attention import analyze_attention
        >>> a = torch.full((1, 4, 4), 0.25)
        >>> r = analyze_attention({0: a}, [0], list("abcd"), [1, 2, 3, 4],
        ...                       causal=False, num_layers=1, num_heads=1)
        >>> comps, _ = compare_attention([r, r])
        >>> comps[0].consensus_role, comps[0].role_agreement
        (<HeadRole.BROAD: 'broad'>, 1.0)
    """
    if not results:
        raise invalid(Reason.INPUT_EMPTY, "results", "at least one attention result is needed")
    per_input = [{(h.layer, h.head): h for h in r.heads} for r in results]
    shared = sorted(set.intersection(*(set(m) for m in per_input)))
    n = len(results)
    comparisons: list[HeadComparison] = []
    for key in shared:
        found = [m[key] for m in per_input]
        counts = role_counts(h.role for h in found)
        consensus = dominant_role(counts)
        entropies = [h.entropy for h in found]
        comparisons.append(
            HeadComparison(
                layer=key[0],
                head=key[1],
                consensus_role=consensus,
                role_agreement=counts[consensus] / n,
                mean_entropy=statistics.fmean(entropies),
                entropy_std=statistics.pstdev(entropies),
            )
        )
    if not comparisons:
        return [], [f"The {n} inputs share no analyzed heads, so there is nothing to compare"]

    stable = [c for c in comparisons if c.role_agreement == 1.0]
    lines = [
        f"Compared {n} inputs on {len(comparisons)} shared heads: {len(stable)} keep the same "
        f"role in every input"
    ]
    # Heads with a specific, stable role are the ones worth reporting as robust findings.
    robust = sorted(
        (c for c in comparisons if c.consensus_role not in (HeadRole.BROAD, HeadRole.MIXED)),
        key=lambda c: (-c.role_agreement, c.layer, c.head),
    )
    for c in robust[:5]:
        agree = round(c.role_agreement * n)
        lines.append(
            f"Layer {c.layer}, Head {c.head}: {ROLE_PHRASE[c.consensus_role]} head in {agree}/{n} inputs"
        )
    unstable = sorted(comparisons, key=lambda c: (c.role_agreement, -c.entropy_std, c.layer, c.head))
    if n > 1 and unstable[0].role_agreement < 1.0:
        c = unstable[0]
        lines.append(
            f"Least stable: Layer {c.layer}, Head {c.head} ({ROLE_PHRASE[c.consensus_role]} in only "
            f"{round(c.role_agreement * n)}/{n} inputs)"
        )
    if n > 1:
        varied = max(comparisons, key=lambda c: (c.entropy_std, -c.layer, -c.head))
        if varied.entropy_std > 1e-9:  # identical inputs differ only by float rounding
            lines.append(
                f"Entropy varies most in Layer {varied.layer}, Head {varied.head}: "
                f"{varied.mean_entropy:.2f} +/- {varied.entropy_std:.2f} nats"
            )
    return comparisons, lines[:MAX_FINDINGS]
