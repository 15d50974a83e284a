"""Attention results as plain data (the CLI's JSON) and as the printed summary."""

from __future__ import annotations

from typing import Any

from interp.v1 import attention_service_pb2 as apb
from interpretability.client import to_numpy


def role_name(value: int) -> str:
    """``HEAD_ROLE_PREVIOUS_TOKEN`` -> ``previous_token``."""
    return apb.HeadRole.Name(value).removeprefix("HEAD_ROLE_").lower()


def analysis_to_dict(a: apb.AttentionAnalysis, *, decimals: int | None = None) -> dict[str, Any]:
    """The JSON form of an analysis, with full per-head matrices when the server sent them."""

    def r(x: float) -> float:
        return round(float(x), decimals) if decimals is not None else float(x)

    heads = []
    for h in a.heads:
        s = h.scores
        heads.append(
            {
                "layer": h.layer,
                "head": h.head,
                "entropy": r(h.entropy),
                "normalized_entropy": r(h.normalized_entropy),
                "role": role_name(h.role),
                "role_score": r(h.role_score),
                "scores": {
                    "previous_token": r(s.previous_token),
                    "current_token": r(s.current_token),
                    "first_token": r(s.first_token),
                    "positional_offset": r(s.positional_offset),
                    "best_offset": s.best_offset,
                    "broad": r(s.broad),
                    "induction": r(s.induction),
                    "induction_defined": s.induction_defined,
                    "next_token": r(s.next_token),
                },
                "mean_attention_distance": r(h.mean_attention_distance),
                "role_beyond_sink": role_name(h.role_beyond_sink),
                "role_beyond_sink_score": r(h.role_beyond_sink_score),
            }
        )
    patterns = []
    for p in a.patterns:
        m = to_numpy(p.pattern)
        if decimals is not None:
            m = m.round(decimals)
        patterns.append({"layer": p.layer, "heads": list(p.heads), "matrices": m.tolist()})
    return {
        "model": a.model,
        "text": a.text,
        "tokens": list(a.tokens),
        "display_tokens": list(a.display_tokens),
        "token_ids": list(a.token_ids),
        "causal": a.causal,
        "num_layers": a.num_layers,
        "num_heads": a.num_heads,
        "heads": heads,
        "layers": [
            {
                "layer": s.layer,
                "mean_entropy": r(s.mean_entropy),
                "mean_attention_distance": r(s.mean_attention_distance),
                "dominant_role": role_name(s.dominant_role),
                "role_counts": {role_name(c.role): c.count for c in s.role_counts},
            }
            for s in a.layers
        ],
        "hotspots": [
            {
                "layer": k.layer,
                "head": k.head,
                "query_position": k.query_position,
                "key_position": k.key_position,
                "query_token": k.query_token,
                "key_token": k.key_token,
                "weight": r(k.weight),
            }
            for k in a.hotspots
        ],
        "findings": list(a.findings),
        "patterns": patterns,
    }


def comparison_to_dict(resp: apb.CompareAttentionResponse, model: str) -> dict[str, Any]:
    """The JSON form of a comparison (analyses are written separately)."""
    return {
        "model": model,
        "texts": [a.text for a in resp.analyses],
        "heads": [
            {
                "layer": h.layer,
                "head": h.head,
                "consensus_role": role_name(h.consensus_role),
                "role_agreement": h.role_agreement,
                "mean_entropy": h.mean_entropy,
                "entropy_std": h.entropy_std,
            }
            for h in resp.heads
        ],
        "findings": list(resp.findings),
    }


def quote_token(token: str) -> str:
    """A display token (already readable and escaped by the server) in double quotes, as the
    server's findings quote tokens."""
    return f'"{token}"'


def format_summary(a: dict[str, Any], *, max_hotspots: int = 5) -> str:
    """The summary printed by ``analyze-attention``."""
    kind = "causal" if a["causal"] else "bidirectional"
    layers = sorted({h["layer"] for h in a["heads"]})
    lines = [
        "Attention Analysis Results",
        f"Model: {a['model']} ({kind}, {a['num_layers']} layers x {a['num_heads']} heads)",
        f"Input: {a['text']!r} ({len(a['tokens'])} tokens)",
        f"Analyzed: layers {','.join(map(str, layers))}; {len(a['heads'])} heads",
        "",
        "Key Findings:",
    ]
    lines += [f"  - {f}" for f in a["findings"]] or ["  (none)"]
    lines += ["", "Attention Hotspots (query attends to key):"]
    for k in a["hotspots"][:max_hotspots]:
        lines.append(
            f"  - {quote_token(k['query_token'])} -> {quote_token(k['key_token'])}: {k['weight']:.2f} (L{k['layer']} H{k['head']})"
        )
    lines += ["", "Layer-wise Patterns:"]
    for s in a["layers"]:
        lines.append(
            f"  - Layer {s['layer']}: mostly {s['dominant_role'].replace('_', '-')} heads, "
            f"mean entropy {s['mean_entropy']:.2f} nats, mean distance {s['mean_attention_distance']:.1f} tokens"
        )
    return "\n".join(lines)
