"""The logit lens: residual-stream activations read through the model's own final norm and
unembedding (nostalgebraist, 2020).

At the last block's ``hook_resid_post`` the lens *is* the model's output (the final norm and the
language-model head are exactly what the model applies there), which is how the tests check it;
at earlier layers it shows what the residual stream would predict if the model stopped there.

The model host runs it after the forward pass, on the captured sites, a chunk of positions at a
time (a ``[positions, vocab]`` block per chunk, never ``[layers, batch, pos, vocab]`` at once).

Example:
    >>> spec = LensSpec(["blocks.29.hook_resid_post"], top_k=5)
    >>> check_lens(loaded, spec, batch_size=1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.errors import check_indices, invalid
from interp_services.core.hooks import final_norm
from interp_services.core.reasons import Reason

DEFAULT_TOP_K = 5
MAX_TOP_K = 100
_CHUNK_POSITIONS = 256
_RESID_DIMS = ("batch", "pos", "d_model")


@dataclass
class LensSpec:
    """What to decode.

    Attributes:
        hook_sites: ``[batch, pos, d_model]`` sites.
        top_k: most likely tokens kept per position (0: :data:`DEFAULT_TOP_K`).
        target_ids: one id tracked at every position (1, or one per sequence); empty: each
            position's next input token, and the model's own top prediction at the last one.
    """

    hook_sites: list[str]
    top_k: int = 0
    target_ids: list[int] = field(default_factory=list)


@dataclass
class LensOutput:
    """The lens of one request. Per site, ``[batch, pos, k]`` / ``[batch, pos]`` tensors;
    padding positions hold token id -1, probability 0 and rank -1."""

    top_ids: dict[str, torch.Tensor]
    top_probs: dict[str, torch.Tensor]
    target_probs: dict[str, torch.Tensor]
    target_ranks: dict[str, torch.Tensor]
    targets: torch.Tensor


def check_lens(loaded, spec: LensSpec, batch_size: int, field_name: str = "logit_lens") -> None:
    """Validate a lens request against the model (before anything runs)."""
    info = loaded.info
    if not info.has_lm_head or loaded.spec.final_norm is None:
        raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, field_name, f"{info.name} has no language-model head to read the residual stream with")
    if not spec.hook_sites:
        raise invalid(Reason.INPUT_EMPTY, f"{field_name}.hook_sites", "name at least one residual-stream site")
    seen: set[str] = set()
    for i, name in enumerate(spec.hook_sites):
        site = info.site(name)
        if site is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"{field_name}.hook_sites[{i}]", f"{name!r} does not exist in this model")
        if tuple(site.dim_names) != _RESID_DIMS:
            raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, f"{field_name}.hook_sites[{i}]", f"{name!r} is not a residual-stream site")
        if name in seen:
            raise invalid(Reason.HOOK_SITE_DUPLICATE, f"{field_name}.hook_sites[{i}]", f"{name!r} is listed twice")
        seen.add(name)
    if not 0 <= spec.top_k <= MAX_TOP_K:
        raise invalid(Reason.TOP_K_OUT_OF_RANGE, f"{field_name}.top_k", f"must be in [0, {MAX_TOP_K}]")
    if spec.target_ids and len(spec.target_ids) not in (1, batch_size):
        raise invalid(Reason.METRIC_INVALID, f"{field_name}.target_token_ids", f"give 1 or {batch_size} ids")
    check_indices(spec.target_ids, info.vocab_size, f"{field_name}.target_token_ids", Reason.TOKEN_ID_OUT_OF_RANGE)


def lens_targets(spec: LensSpec, batch: Sequence[Sequence[int]], final_top: Sequence[int]) -> torch.Tensor:
    """``[batch, pos]`` tracked ids: the given ones, or each position's next input token and the
    model's final top prediction (``final_top[b]``) at the last; -1 on padding."""
    length = max(len(s) for s in batch)
    out = torch.full((len(batch), length), -1, dtype=torch.long)
    for b, seq in enumerate(batch):
        n = len(seq)
        if spec.target_ids:
            out[b, :n] = spec.target_ids[b if len(spec.target_ids) > 1 else 0]
        else:
            out[b, : n - 1] = torch.tensor(list(seq[1:]), dtype=torch.long)
            out[b, n - 1] = int(final_top[b])
    return out


@torch.no_grad()
def decode_residual(loaded, resid: torch.Tensor, targets: torch.Tensor, top_k: int) -> tuple[torch.Tensor, ...]:
    """Read ``resid`` ``[batch, pos, d_model]`` through the final norm and the unembedding.

    Returns:
        top ids ``[batch, pos, k]``, their probabilities, the target's probability ``[batch,
        pos]`` and its rank (0 = most likely; the number of tokens with a strictly larger logit).
        Where ``targets`` is -1 the target's probability is 0 and its rank -1.
    """
    norm = final_norm(loaded.model, loaded.spec)
    head = loaded.model.get_output_embeddings()
    weight = head.weight
    b, p, d = resid.shape
    flat = resid.reshape(b * p, d)
    flat_targets = targets.reshape(b * p)
    ids, probs, t_probs, t_ranks = [], [], [], []
    for start in range(0, b * p, _CHUNK_POSITIONS):
        x = flat[start : start + _CHUNK_POSITIONS].to(device=weight.device, dtype=weight.dtype)
        logits = head(norm(x)).float()
        p_all = torch.softmax(logits, dim=-1)
        top_p, top_i = p_all.topk(top_k, dim=-1)
        t = flat_targets[start : start + _CHUNK_POSITIONS].to(logits.device)
        safe = t.clamp(min=0)
        t_logit = logits.gather(1, safe[:, None])
        rank = (logits > t_logit).sum(dim=-1)
        valid = t >= 0
        ids.append(top_i.cpu())
        probs.append(top_p.cpu())
        t_probs.append(torch.where(valid, p_all.gather(1, safe[:, None])[:, 0], torch.zeros_like(rank, dtype=p_all.dtype)).cpu())
        t_ranks.append(torch.where(valid, rank, torch.full_like(rank, -1)).cpu())
    return (
        torch.cat(ids).reshape(b, p, top_k),
        torch.cat(probs).reshape(b, p, top_k),
        torch.cat(t_probs).reshape(b, p),
        torch.cat(t_ranks).reshape(b, p),
    )


def run_lens(loaded, spec: LensSpec, batch: Sequence[Sequence[int]], captures: dict[str, torch.Tensor], final_top: Sequence[int]) -> LensOutput:
    """The lens of one request from its captured sites (padding positions masked)."""
    top_k = spec.top_k or DEFAULT_TOP_K
    targets = lens_targets(spec, batch, final_top)
    pad = targets < 0
    out = LensOutput({}, {}, {}, {}, targets)
    for name in spec.hook_sites:
        ids, probs, t_probs, t_ranks = decode_residual(loaded, captures[name], targets, top_k)
        ids[pad] = -1
        probs[pad] = 0.0
        out.top_ids[name], out.top_probs[name] = ids, probs
        out.target_probs[name], out.target_ranks[name] = t_probs, t_ranks
    return out
