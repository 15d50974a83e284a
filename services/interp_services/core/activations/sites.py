"""Site families: one hook site per layer whose last axis holds the neurons an analysis scores.

Example:
    >>> site_name("mlp_post", 3)
    'blocks.3.mlp.hook_post'
"""

from __future__ import annotations

SITE_PATTERNS = {
    "mlp_post": "blocks.{layer}.mlp.hook_post",
    "resid_post": "blocks.{layer}.hook_resid_post",
    "attn_out": "blocks.{layer}.hook_attn_out",
    "mlp_out": "blocks.{layer}.hook_mlp_out",
}
"""Family -> hook-site name pattern (canonical TransformerLens names)."""


def site_name(kind: str, layer: int) -> str:
    """The hook site of family ``kind`` at ``layer``."""
    return SITE_PATTERNS[kind].format(layer=layer)


def site_width(info, kind: str) -> int:
    """Neurons per layer of a family (``d_mlp`` for MLP activations, else ``d_model``)."""
    return int(info.d_mlp if kind == "mlp_post" else info.d_model)


def context_window(tokens: list[str], position: int, size: int) -> tuple[str, str, str]:
    """(left context, token, right context) around ``position``: up to ``size`` display tokens on
    each side, joined with spaces (display tokens carry no whitespace of their own)."""
    left = " ".join(tokens[max(0, position - size) : position])
    right = " ".join(tokens[position + 1 : position + 1 + size])
    return left, tokens[position], right
