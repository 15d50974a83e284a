"""One batch forward pass with activation capture and typed interventions.

Interventions are data, never code: zero-ablate, mean-ablate, patch from another run, or add a
steering vector, at a canonical hook site, restricted to positions and (where the site has a
head dimension) heads. Each is applied as ``act = where(mask, new, act)`` on the canonical view
of the site, so one code path serves every site and family.

Example:
    >>> ids = tokenize(loaded, ["The quick brown fox"], max_tokens=512)
    >>> out = run_model(loaded, ids, capture=["blocks.0.attn.hook_pattern"],
    ...                 interventions=[Intervention("blocks.0.attn.hook_z", heads=[3], kind="zero")])
    >>> out.captures["blocks.0.attn.hook_pattern"].shape  # [batch, head, query_pos, key_pos]
    torch.Size([1, 9, 4, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.errors import FieldViolation, InvalidArgument, ResourceExhausted, invalid
from interp_services.core.hooks import SiteBinding, bind_site
from interp_services.core.models import LoadedModel
from interp_services.core.reasons import Reason
from interp_services.core.tokens import display_tokens

INTERVENTION_KINDS = ("zero", "mean", "patch", "steer")


@dataclass
class Intervention:
    """One intervention at a hook site.

    Attributes:
        hook_site: canonical site name.
        kind: ``zero`` | ``mean`` | ``patch`` | ``steer``.
        positions: sequence positions to change; empty = all.
        heads: heads to change (sites with a head dim only); empty = all.
        tensor: ``mean`` -- optional mean shaped like one position of the site;
            ``patch`` -- source ``[batch or 1, pos, ...]``; ``steer`` -- vector shaped like one
            position (or like one head, ``[d_head]``, when heads are given).
        scale: multiplier of the steering vector.
    """

    hook_site: str
    kind: str
    positions: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    tensor: torch.Tensor | None = None
    scale: float = 1.0


@dataclass
class TopToken:
    """A candidate next token."""

    token_id: int
    token: str
    probability: float
    logit: float
    display: str = ""


@dataclass
class RunOutput:
    """What a run returns.

    Attributes:
        token_ids: per sequence, without padding.
        tokens: the tokenizer's raw pieces per sequence.
        captures: site name -> tensor, batch first (padded to the longest sequence).
        attention_mask: ``[batch, pos]``, 1 for real tokens.
        logits: ``[batch, pos, vocab]`` when requested.
        top_next: per sequence, the top-k next tokens after its last real position.
        display_tokens: per sequence, each token as a reader should see it (``core.tokens``).
    """

    token_ids: list[list[int]]
    tokens: list[list[str]]
    captures: dict[str, torch.Tensor]
    attention_mask: torch.Tensor
    logits: torch.Tensor | None
    top_next: list[list[TopToken]]
    display_tokens: list[list[str]] = field(default_factory=list)


def tokenize(loaded: LoadedModel, texts: Sequence[str], *, max_tokens: int, field_name: str = "texts") -> list[list[int]]:
    """Tokenize texts, rejecting empty ones and ones over ``max_tokens`` tokens."""
    violations: list[FieldViolation] = []
    out: list[list[int]] = []
    for i, text in enumerate(texts):
        if not text or not text.strip():
            violations.append(FieldViolation(f"{field_name}[{i}]", "must not be empty"))
            continue
        ids = loaded.tokenizer(text, add_special_tokens=True)["input_ids"]  # type: ignore[operator]
        if len(ids) > max_tokens:
            raise ResourceExhausted(
                Reason.INPUT_TOO_LONG,
                f"{field_name}[{i}]: {len(ids)} tokens; the limit for this model is {max_tokens}",
                [FieldViolation(f"{field_name}[{i}]", f"{len(ids)} tokens > {max_tokens}")],
            )
        out.append(list(ids))
    if violations:
        raise InvalidArgument(Reason.INPUT_EMPTY, "; ".join(f"{v.field}: {v.description}" for v in violations), violations)
    return out


def check_token_ids(loaded: LoadedModel, batch: Sequence[Sequence[int]], *, max_tokens: int) -> list[list[int]]:
    """Validate pre-tokenized input: non-empty, equal lengths, ids in the vocabulary."""
    vocab = loaded.model.get_input_embeddings().num_embeddings  # type: ignore[union-attr]
    if not batch:
        raise invalid(Reason.INPUT_EMPTY, "tokens.sequences", "must hold at least one sequence")
    lengths = {len(s) for s in batch}
    if 0 in lengths:
        raise invalid(Reason.INPUT_EMPTY, "tokens.sequences", "sequences must not be empty")
    if len(lengths) > 1:
        raise invalid(Reason.TOKEN_LENGTHS_DIFFER, "tokens.sequences", f"all sequences must have one length, got {sorted(lengths)}")
    if max(lengths) > max_tokens:
        raise ResourceExhausted(Reason.INPUT_TOO_LONG, f"tokens.sequences: {max(lengths)} tokens > limit {max_tokens}")
    for i, seq in enumerate(batch):
        for j, t in enumerate(seq):
            if not 0 <= t < vocab:
                raise invalid(Reason.TOKEN_ID_OUT_OF_RANGE, f"tokens.sequences[{i}].ids[{j}]", f"{t} is outside [0, {vocab})")
    return [list(s) for s in batch]


def _site_heads(loaded: LoadedModel, site: str) -> int:
    info = loaded.info
    return info.num_kv_heads if site.endswith(("attn.hook_k", "attn.hook_v")) else info.num_heads


def _check_interventions(loaded: LoadedModel, interventions: Sequence[Intervention], seq_len: int) -> None:
    for i, iv in enumerate(interventions):
        f = f"interventions[{i}]"
        site = loaded.info.site(iv.hook_site)
        if site is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"{f}.hook_site", f"{iv.hook_site!r} does not exist in this model")
        if not site.intervenable:
            raise invalid(Reason.HOOK_SITE_NOT_INTERVENABLE, f"{f}.hook_site", f"{iv.hook_site!r} is capture-only")
        if iv.kind not in INTERVENTION_KINDS:
            raise invalid(Reason.INTERVENTION_ACTION_MISSING, f"{f}.action", "set one of zero_ablation, mean_ablation, patch, steering")
        for j, p in enumerate(iv.positions):
            if not 0 <= p < seq_len:
                raise invalid(Reason.POSITION_OUT_OF_RANGE, f"{f}.positions[{j}]", f"{p} is outside [0, {seq_len})")
        if iv.heads and not site.has_heads:
            raise invalid(Reason.HEADS_NOT_APPLICABLE, f"{f}.heads", f"{iv.hook_site!r} has no head dimension")
        n_heads = _site_heads(loaded, iv.hook_site)
        for j, h in enumerate(iv.heads):
            if not 0 <= h < n_heads:
                raise invalid(Reason.HEAD_OUT_OF_RANGE, f"{f}.heads[{j}]", f"{h} is outside [0, {n_heads})")
        if iv.kind in ("patch", "steer") and iv.tensor is None:
            raise invalid(Reason.INTERVENTION_TENSOR_MISSING, f"{f}.action", f"{iv.kind} needs a tensor")
        if iv.tensor is not None and not iv.tensor.is_floating_point():
            raise invalid(Reason.TENSOR_DTYPE_INVALID, f"{f}.action", "intervention tensors must be floating point")


def _selection_mask(act: torch.Tensor, iv: Intervention, has_heads: bool) -> torch.Tensor:
    """Boolean mask broadcastable to ``act`` ([batch, pos, ...]) selecting positions/heads."""
    pos_mask = torch.zeros(act.shape[1], dtype=torch.bool, device=act.device)
    pos_mask[iv.positions if iv.positions else slice(None)] = True
    shape = [1, act.shape[1]] + [1] * (act.dim() - 2)
    mask = pos_mask.view(shape)
    if has_heads:
        head_mask = torch.zeros(act.shape[2], dtype=torch.bool, device=act.device)
        head_mask[iv.heads if iv.heads else slice(None)] = True
        mask = mask & head_mask.view([1, 1, act.shape[2]] + [1] * (act.dim() - 3))
    return mask


def _broadcast_unit(act: torch.Tensor, t: torch.Tensor, iv: Intervention, has_heads: bool, what: str, field_name: str) -> torch.Tensor:
    """Broadcast a per-position (or per-head) tensor to ``act``'s shape."""
    unit = tuple(act.shape[2:])
    if tuple(t.shape) == unit:
        return t.to(act.dtype).expand_as(act)
    if has_heads and tuple(t.shape) == unit[1:]:  # one head's worth, e.g. [d_head]
        return t.to(act.dtype).expand_as(act)
    raise invalid(Reason.TENSOR_SHAPE_MISMATCH, field_name, f"{what} has shape {list(t.shape)}; expected {list(unit)}")


def _apply(act: torch.Tensor, iv: Intervention, has_heads: bool, mask_tokens: torch.Tensor, index: int) -> torch.Tensor:
    f = f"interventions[{index}]"
    sel = _selection_mask(act, iv, has_heads)
    if iv.kind == "zero":
        new = torch.zeros_like(act)
    elif iv.kind == "mean":
        if iv.tensor is None:
            # Mean over the real (unpadded) tokens of this batch, per remaining dims.
            w = mask_tokens.to(act.dtype).view(list(mask_tokens.shape) + [1] * (act.dim() - 2))
            mean = (act * w).sum(dim=(0, 1)) / w.sum().clamp(min=1)
            new = mean.expand_as(act)
        else:
            new = _broadcast_unit(act, iv.tensor, iv, has_heads, "mean", f"{f}.mean_ablation.mean")
    elif iv.kind == "patch":
        src = iv.tensor
        assert src is not None
        if src.dim() == act.dim() - 1:
            src = src.unsqueeze(0)
        if tuple(src.shape[1:]) != tuple(act.shape[1:]) or src.shape[0] not in (1, act.shape[0]):
            raise invalid(
                Reason.TENSOR_SHAPE_MISMATCH,
                f"{f}.patch.source",
                f"source has shape {list(iv.tensor.shape)}; the site's activation is {list(act.shape)}",  # type: ignore[union-attr]
            )
        new = src.to(act.dtype).expand_as(act)
    else:  # steer
        assert iv.tensor is not None
        new = act + iv.scale * _broadcast_unit(act, iv.tensor, iv, has_heads, "steering vector", f"{f}.steering.vector")
    return torch.where(sel, new, act)


def _install(
    binding: SiteBinding,
    fn,  # (canonical tensor) -> canonical tensor or None
) -> torch.utils.hooks.RemovableHandle:
    """Install ``fn`` on the binding's module side; ``fn`` sees and returns canonical views."""

    def through(raw: torch.Tensor) -> torch.Tensor | None:
        canon = binding.view(raw)
        new = fn(canon)
        if new is None:
            return None
        return binding.unview(raw, new)

    if binding.side == "input":

        def pre_hook(module, args, kwargs):
            if args:
                new = through(args[0])
                return None if new is None else ((new, *args[1:]), kwargs)
            new = through(kwargs["hidden_states"])
            return None if new is None else (args, {**kwargs, "hidden_states": new})

        return binding.module.register_forward_pre_hook(pre_hook, with_kwargs=True)

    def hook(module, args, output):
        if isinstance(output, tuple):
            idx = binding.tuple_index or 0
            new = through(output[idx])
            return None if new is None else (*output[:idx], new, *output[idx + 1 :])
        new = through(output)
        return new

    return binding.module.register_forward_hook(hook)


def run_model(
    loaded: LoadedModel,
    batch: Sequence[Sequence[int]],
    *,
    capture: Sequence[str] = (),
    interventions: Sequence[Intervention] = (),
    top_k: int = 0,
    return_logits: bool = False,
) -> RunOutput:
    """Run a batch (right-padded) and return captures, logits and top-k next tokens.

    Args:
        loaded: the model.
        batch: token ids per sequence (validated by ``tokenize``/``check_token_ids``).
        capture: canonical site names; captured after any intervention at the same site.
        interventions: applied in order.
        top_k: next-token candidates after each sequence's last real token (needs an LM head).
        return_logits: also return ``[batch, pos, vocab]`` logits.
    """
    info = loaded.info
    seen: set[str] = set()
    for i, name in enumerate(capture):
        if info.site(name) is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"capture[{i}]", f"{name!r} does not exist in this model (see GetModelInfo)")
        if name in seen:
            raise invalid(Reason.HOOK_SITE_DUPLICATE, f"capture[{i}]", f"{name!r} is listed twice")
        seen.add(name)
    if (top_k or return_logits) and not info.has_lm_head:
        raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "top_k", f"{info.name} has no language-model head; next tokens are undefined")
    if top_k < 0 or top_k > info.vocab_size:
        raise invalid(Reason.TOP_K_OUT_OF_RANGE, "top_k", f"must be in [0, {info.vocab_size}]")
    lengths = [len(s) for s in batch]
    seq_len = max(lengths)
    _check_interventions(loaded, interventions, seq_len)

    pad_id = loaded.tokenizer.pad_token_id  # type: ignore[attr-defined]
    pad_id = 0 if pad_id is None else int(pad_id)
    input_ids = torch.full((len(batch), seq_len), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), seq_len), dtype=torch.long)
    for b, seq in enumerate(batch):
        input_ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention_mask[b, : len(seq)] = 1

    device = next(loaded.model.parameters()).device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    for iv in interventions:
        if iv.tensor is not None:
            iv.tensor = iv.tensor.to(device)
    captures: dict[str, torch.Tensor] = {}
    handles = []
    with loaded.lock:
        try:
            for idx, iv in enumerate(interventions):
                site = info.site(iv.hook_site)
                assert site is not None
                binding = bind_site(loaded.model, loaded.spec, iv.hook_site, info.num_heads, info.num_kv_heads)
                handles.append(
                    _install(binding, lambda act, iv=iv, h=site.has_heads, i=idx: _apply(act, iv, h, attention_mask, i))
                )
            for name in capture:
                binding = bind_site(loaded.model, loaded.spec, name, info.num_heads, info.num_kv_heads)

                def grab(act: torch.Tensor, name: str = name) -> None:
                    captures[name] = act.detach().to("cpu", copy=True)

                handles.append(_install(binding, grab))
            with torch.inference_mode():
                out = loaded.model(input_ids=input_ids, attention_mask=attention_mask)
        finally:
            for h in handles:
                h.remove()

    missing = [n for n in capture if n not in captures]
    if missing:  # e.g. an attention implementation that returns no weights
        raise InvalidArgument(Reason.HOOK_SITE_NOT_CAPTURED, f"these sites produced no tensor: {missing}")
    logits = getattr(out, "logits", None) if info.has_lm_head else None
    tok = loaded.tokenizer
    top_next: list[list[TopToken]] = []
    if top_k and logits is not None:
        for b, n in enumerate(lengths):
            row = logits[b, n - 1].float().cpu()
            probs = torch.softmax(row, dim=-1)
            p, ids = probs.topk(top_k)
            id_list = ids.tolist()
            shown = display_tokens(tok, id_list)
            top_next.append(
                [
                    TopToken(i, tok.convert_ids_to_tokens(i), pp, float(row[i]), d)  # type: ignore[attr-defined]
                    for pp, i, d in zip(p.tolist(), id_list, shown, strict=True)
                ]
            )
    raw = [tok.convert_ids_to_tokens(list(s)) for s in batch]  # type: ignore[attr-defined]
    return RunOutput(
        token_ids=[list(s) for s in batch],
        tokens=raw,
        captures=captures,
        attention_mask=attention_mask.cpu(),
        logits=logits.detach().cpu() if (return_logits and logits is not None) else None,
        top_next=top_next,
        display_tokens=[display_tokens(tok, s, r) for s, r in zip(batch, raw, strict=True)],
    )
