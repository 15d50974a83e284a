"""Input checks of :func:`~.analyze.analyze_attention`.

Every problem is an ``InvalidArgument`` with a catalog :class:`~interp_services.core.reasons.Reason`
and the offending field. Errors are reported in a fixed order (arguments first, then the layers in
ascending order, each layer checked for range, shape, finite values, normalisation and causality
in that order), so a request with several problems always gets the same error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from interp_services.core.attention.scoring import DTYPE, diagonal_sums
from interp_services.core.errors import InvalidArgument, invalid
from interp_services.core.reasons import Reason

__all__ = ["MASK_TOL", "ROW_SUM_TOL", "check_arguments", "load_layers"]

ROW_SUM_TOL = 2e-2
"""Row sums of bf16/fp16 patterns are off by up to ~1e-2; anything further is not a softmax."""
MASK_TOL = 1e-3
"""Largest weight tolerated on a masked (future) key, or below zero."""


def check_arguments(
    patterns: Mapping[int, torch.Tensor],
    heads: Sequence[int],
    tokens: Sequence[str],
    token_ids: Sequence[int],
    display_tokens: Sequence[str] | None,
    num_layers: int,
    num_heads: int,
    top_k_links: int,
) -> None:
    """Check everything but the pattern tensors themselves (see :func:`load_layers`).

    Raises:
        InvalidArgument: On a non-positive model shape, a negative ``top_k_links``, no tokens,
            token lists of different lengths, no patterns or heads, or a duplicate or
            out-of-range head.
    """
    if num_layers < 1 or num_heads < 1:
        raise invalid(
            Reason.MODEL_SHAPE_INVALID,
            "num_layers" if num_layers < 1 else "num_heads",
            f"num_layers and num_heads must be positive, got {num_layers} and {num_heads}",
        )
    if top_k_links < 0:
        raise invalid(Reason.TOP_K_OUT_OF_RANGE, "top_k_links", f"must be >= 0, got {top_k_links}")
    t = len(tokens)
    if t == 0:
        raise invalid(Reason.INPUT_EMPTY, "tokens", "at least one token is needed")
    if len(token_ids) != t:
        raise invalid(Reason.TOKEN_COUNT_MISMATCH, "token_ids", f"{len(token_ids)} token ids for {t} tokens")
    if display_tokens is not None and len(display_tokens) != t:
        raise invalid(
            Reason.TOKEN_COUNT_MISMATCH, "display_tokens", f"{len(display_tokens)} display tokens for {t} tokens"
        )
    if not patterns:
        raise invalid(Reason.INPUT_EMPTY, "patterns", "no attention patterns given")
    if len(heads) == 0:
        raise invalid(Reason.INPUT_EMPTY, "heads", "no heads given")
    if len(set(heads)) != len(heads):
        raise invalid(Reason.HEAD_DUPLICATE, "heads", f"heads contains duplicates: {list(heads)}")
    for i, h in enumerate(heads):
        if not 0 <= h < num_heads:
            raise invalid(Reason.HEAD_OUT_OF_RANGE, f"heads[{i}]", f"head {h} is outside [0, {num_heads})")


def load_layers(
    patterns: Mapping[int, torch.Tensor],
    layers: Sequence[int],
    num_heads: int,
    t: int,
    num_layers: int,
    causal: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the patterns of ``layers`` and stack them into one float32 CPU tensor.

    Args:
        patterns: ``{layer: A}`` as given to ``analyze_attention``.
        layers: The layers to load, ascending.
        num_heads: Analysed heads per layer (the expected first dimension of each ``A``).
        t: Number of tokens.
        num_layers: Layers in the model (range check).
        causal: Whether future keys must be empty.

    Returns:
        ``(a, sums)``: ``a`` is ``[len(layers) * num_heads, T, T]``, layer-major, a fresh copy
        the caller may modify, with tiny negative rounding noise clamped to 0 (it would make
        ``x log x`` NaN); ``sums`` is its :func:`~.scoring.diagonal_sums`, which the causality
        check uses and the role scorer reuses.

    Raises:
        InvalidArgument: On the first bad layer, in ascending order.
    """
    for i, layer in enumerate(layers):
        field = f"patterns[{layer}]"
        error: InvalidArgument | None = None
        if not 0 <= layer < num_layers:
            error = invalid(Reason.LAYER_OUT_OF_RANGE, field, f"layer {layer} is outside [0, {num_layers})")
        elif tuple(patterns[layer].shape) != (num_heads, t, t):
            error = invalid(
                Reason.ATTENTION_SHAPE_MISMATCH,
                field,
                f"expected shape {[num_heads, t, t]} (heads, queries, keys), got {list(patterns[layer].shape)}",
            )
        if error is not None:
            _check_values(_stack(patterns, layers[:i]), layers[:i], causal)  # earlier layers' problems first
            raise error
    stacked = _stack(patterns, layers)
    a = stacked.reshape(len(layers) * num_heads, t, t)
    sums = diagonal_sums(a)
    lowest = _check_values(stacked, layers, causal, sums)
    if lowest < 0.0:
        a.clamp_min_(0.0)
        sums = diagonal_sums(a)
    return a, sums


def _stack(patterns: Mapping[int, torch.Tensor], layers: Sequence[int]) -> torch.Tensor:
    """``[L, H, T, T]`` float32 CPU copy of the patterns of ``layers`` (one copy when possible)."""
    if not layers:
        return torch.empty(0, 0, 0, 0, dtype=DTYPE)
    tensors = [patterns[layer] for layer in layers]
    with torch.no_grad():
        if all(p.dtype == DTYPE and p.device.type == "cpu" for p in tensors):
            return torch.stack(tensors)  # the usual case: one copy, one call
        return torch.stack([p.to(device="cpu", dtype=DTYPE) for p in tensors])


def _check_values(a: torch.Tensor, layers: Sequence[int], causal: bool, sums: torch.Tensor | None = None) -> float:
    """Raise for the first layer of ``a`` (``[L, H, T, T]``) whose rows are not distributions.

    Args:
        a: The stacked layers.
        layers: Their indices (for the error's field).
        causal: Whether weights above the diagonal are errors.
        sums: ``diagonal_sums`` of ``a`` as ``[L * H, 2T-1]``, if known: they settle the
            causality check of most layers without another pass over ``a``.

    Returns:
        The lowest weight of all layers.
    """
    if not layers:
        return 0.0
    n_layers, _, t, _ = a.shape
    row_sums = a.sum(-1)  # [L, H, T]
    # A sum of probabilities cannot overflow, so a non-finite row sum means a NaN or inf inside
    # the row; this saves a full pass over the tensor.
    finite = torch.isfinite(row_sums).reshape(n_layers, -1).all(dim=1)
    lowest = a.reshape(n_layers, -1).amin(dim=1)
    row_error = (row_sums - 1.0).abs().reshape(n_layers, -1).amax(dim=1)
    check_future = causal and t > 1
    if not check_future:
        future = torch.zeros(n_layers, dtype=DTYPE)
    elif sums is not None:
        # A float sum of non-negative weights is at least each of them, so when a layer has no
        # negative weight and its weights above the diagonal sum to at most MASK_TOL, none of
        # them exceeds it; other layers get the exact check below.
        future = sums[:, t:].reshape(n_layers, -1).sum(dim=1)
    else:
        future = _future_max(a)
    # Compared as Python floats, like the thresholds: one conversion for every layer.
    stats = torch.stack([finite.to(DTYPE), lowest, row_error, future], dim=1).tolist()
    for i, (layer, (is_finite, low, err, fut)) in enumerate(zip(layers, stats, strict=True)):
        field = f"patterns[{layer}]"
        if not is_finite:
            raise invalid(Reason.ATTENTION_NOT_FINITE, field, "pattern contains NaN or infinity")
        if low < -MASK_TOL or err > ROW_SUM_TOL:
            raise invalid(
                Reason.ATTENTION_NOT_NORMALIZED,
                field,
                "every query row must be a probability distribution over keys (>= 0, sums to 1)",
            )
        if check_future and sums is not None and (low < 0.0 or fut > MASK_TOL):
            fut = float(_future_max(a[i : i + 1])[0])
        if fut > MASK_TOL:
            raise invalid(Reason.ATTENTION_NOT_CAUSAL, field, "pattern puts weight on future keys but causal=True")
    return min(low for _, low, _, _ in stats)


def _future_max(a: torch.Tensor) -> torch.Tensor:
    """``[L]``: the largest weight above the diagonal of each layer of ``a`` (``[L, H, T, T]``).

    No abs needed: a weight below ``-MASK_TOL`` already fails the normalisation check first.
    """
    t = a.shape[-1]
    return (a * torch.ones(t, t, dtype=DTYPE).triu(1)).reshape(a.shape[0], -1).amax(dim=1)
