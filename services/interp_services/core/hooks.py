"""Canonical hook-site names (TransformerLens style) mapped onto Hugging Face modules.

One typed table per architecture family says which module, and which side of it (input or
output), holds each site, and how to view that tensor (e.g. split a fused QKV projection, or
reshape ``[batch, pos, head*d_head]`` into ``[batch, pos, head, d_head]``). Everything else --
capture, interventions -- is written once against that table.

Sites (``L`` is the block index):

================================  ===============================  =============================
name                              dims                             where
================================  ===============================  =============================
``hook_embed``                    batch, pos, d_model              token-embedding output
``blocks.L.hook_resid_pre``       batch, pos, d_model              block input
``blocks.L.hook_q_input``         batch, pos, head, d_model        each head's own copy of the
                                                                   block input, before the norm
``blocks.L.hook_k/v_input``       batch, pos, kv_head, d_model     the same per key/value head
``blocks.L.attn.hook_q``          batch, pos, head, d_head         query projection
``blocks.L.attn.hook_k/v``        batch, pos, kv_head, d_head      key/value projections
``blocks.L.attn.hook_pattern``    batch, head, query_pos, key_pos  softmax weights
``blocks.L.attn.hook_z``          batch, pos, head, d_head         per-head output, before W_O
``blocks.L.attn.hook_result``     batch, pos, head, d_model        each head's share of W_O z
``blocks.L.hook_attn_out``        batch, pos, d_model              attention output (after W_O)
``blocks.L.hook_mlp_in``          batch, pos, d_model              MLP-side norm input
``blocks.L.mlp.hook_post``        batch, pos, d_mlp                MLP hidden after activation
``blocks.L.hook_mlp_out``         batch, pos, d_model              MLP output
``blocks.L.hook_resid_post``      batch, pos, d_model              block output
``ln_final.hook_normalized``      batch, pos, d_model              final norm output
================================  ===============================  =============================

Two sites have no module of their own in Hugging Face models; :func:`install_hook_points`
adds identity :class:`HookPoint` modules for them once per loaded model (TransformerLens' idea):

* ``hook_pattern``: the model runs with the ``interp_eager`` attention function (registered by
  :func:`register_attention_function`), which is the eager softmax attention with the weights
  passed through the attention module's ``hook_pattern`` point before they meet the values, so
  the pattern can be patched, zeroed or scaled and carries gradients.
* ``hook_result``: a permanent forward hook on the output projection splits ``W_O z`` into one
  term per head and sends them through the projection's ``hook_result`` point -- only when that
  point has hooks, so runs that do not ask for per-head results pay nothing. Without autograd
  the output is the projection's own plus whatever the hooks changed (a capture alone changes
  nothing, bit for bit); with autograd it is the sum of the heads' terms plus the bias, so
  gradients reach each head's term.

Pre-norm families (Llama, GPT-2) also get TransformerLens' split inputs (``use_split_qkv_input``):
``hook_q_input`` / ``hook_k_input`` / ``hook_v_input`` are identity points on the attention
module fed with one copy of the block input per (key/value) head. Only when a point has hooks do
permanent hooks on the q/k/v projections recompute that projection head by head from the
norm of each head's copy -- so one head's input can be patched, or differentiated, apart from
its neighbours' (edge-level circuit discovery needs exactly that). A capture alone outside
autograd changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from interp_services.core.errors import InvalidArgument
from interp_services.core.reasons import Reason


@dataclass(frozen=True)
class FamilySpec:
    """Where the hook sites of one architecture family live.

    Paths are dotted attribute paths; ``layers`` candidates are tried from the model root
    (a ``*ForCausalLM`` wraps the base model, a bare ``BertModel`` does not). Paths marked
    "in layer" are relative to one block.
    """

    name: str
    model_types: tuple[str, ...]
    causal: bool
    layers: tuple[str, ...]
    embed: tuple[str, ...]
    final_norm: tuple[str, ...] | None
    attn: str  # in layer: module returning (output, weights)
    q: str | None  # in layer; None when fused
    k: str | None
    v: str | None
    qkv_fused: str | None  # in layer: one projection producing [q | k | v]
    o: str  # in layer: output projection; its input is hook_z, its output hook_attn_out
    mlp_down: str  # in layer: module whose input is mlp.hook_post
    mlp_out: str  # in layer: module whose output is hook_mlp_out
    # Pre-norm families only (None for BERT's post-norm blocks): the norm in front of the
    # attention (its input is hook_resid_pre) and the one in front of the MLP (its input is
    # hook_mlp_in). The per-head input sites need the first to re-normalise each head's copy.
    attn_norm: str | None = None
    mlp_norm: str | None = None


FAMILIES: tuple[FamilySpec, ...] = (
    FamilySpec(
        name="llama",
        model_types=("llama", "mistral", "qwen2", "smollm3"),
        causal=True,
        layers=("model.layers",),
        embed=("model.embed_tokens",),
        final_norm=("model.norm",),
        attn="self_attn",
        q="self_attn.q_proj",
        k="self_attn.k_proj",
        v="self_attn.v_proj",
        qkv_fused=None,
        o="self_attn.o_proj",
        mlp_down="mlp.down_proj",
        mlp_out="mlp",
        attn_norm="input_layernorm",
        mlp_norm="post_attention_layernorm",
    ),
    FamilySpec(
        name="gpt2",
        model_types=("gpt2",),
        causal=True,
        layers=("transformer.h", "h"),
        embed=("transformer.wte", "wte"),
        final_norm=("transformer.ln_f", "ln_f"),
        attn="attn",
        q=None,
        k=None,
        v=None,
        qkv_fused="attn.c_attn",
        o="attn.c_proj",
        mlp_down="mlp.c_proj",
        mlp_out="mlp",
        attn_norm="ln_1",
        mlp_norm="ln_2",
    ),
    FamilySpec(
        name="bert",
        model_types=("bert",),
        causal=False,
        layers=("encoder.layer", "bert.encoder.layer"),
        embed=("embeddings.word_embeddings", "bert.embeddings.word_embeddings"),
        final_norm=None,
        attn="attention.self",
        q="attention.self.query",
        k="attention.self.key",
        v="attention.self.value",
        qkv_fused=None,
        o="attention.output.dense",
        mlp_down="output.dense",
        mlp_out="output.dense",
    ),
)


def family_for(config: object) -> FamilySpec:
    """The family table for a transformers config.

    Raises:
        InvalidArgument: no table covers this architecture.
    """
    model_type = getattr(config, "model_type", "")
    for fam in FAMILIES:
        if model_type in fam.model_types:
            if fam.name == "bert" and getattr(config, "is_decoder", False):
                raise InvalidArgument(Reason.MODEL_ARCHITECTURE_UNSUPPORTED, "BERT used as a decoder is not supported")
            return fam
    supported = sorted(t for f in FAMILIES for t in f.model_types)
    raise InvalidArgument(
        Reason.MODEL_ARCHITECTURE_UNSUPPORTED,
        f"model: architecture {model_type!r} has no hook-site table; supported: {', '.join(supported)}",
    )


@dataclass(frozen=True)
class HookSiteInfo:
    """Public description of one site."""

    name: str
    dim_names: tuple[str, ...]
    intervenable: bool
    has_heads: bool


_RESID = ("batch", "pos", "d_model")
_HEADS = ("batch", "pos", "head", "d_head")
# Keys and values have their own head axis: with grouped-query attention (SmolLM2: 9 query heads,
# 3 key/value heads) key/value head i serves query heads i*g .. i*g+g-1, so the two are not one axis.
_KV_HEADS = ("batch", "pos", "kv_head", "d_head")
_HEAD_INPUT = ("batch", "pos", "head", "d_model")
_KV_HEAD_INPUT = ("batch", "pos", "kv_head", "d_model")
SPLIT_INPUT_SITES = ("hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in")
"""Per-layer sites of pre-norm families only (see :func:`install_hook_points`)."""
_PER_LAYER: tuple[tuple[str, tuple[str, ...], bool, bool], ...] = (
    ("hook_resid_pre", _RESID, True, False),
    ("hook_q_input", _HEAD_INPUT, True, True),
    ("hook_k_input", _KV_HEAD_INPUT, True, True),
    ("hook_v_input", _KV_HEAD_INPUT, True, True),
    ("attn.hook_q", _HEADS, True, True),
    ("attn.hook_k", _KV_HEADS, True, True),
    ("attn.hook_v", _KV_HEADS, True, True),
    ("attn.hook_pattern", ("batch", "head", "query_pos", "key_pos"), True, True),
    ("attn.hook_z", _HEADS, True, True),
    ("attn.hook_result", ("batch", "pos", "head", "d_model"), True, True),
    ("hook_attn_out", _RESID, True, False),
    ("hook_mlp_in", _RESID, True, False),
    ("mlp.hook_post", ("batch", "pos", "d_mlp"), True, False),
    ("hook_mlp_out", _RESID, True, False),
    ("hook_resid_post", _RESID, True, False),
)


def list_hook_sites(spec: FamilySpec, num_layers: int, d_model: int, *, has_final_norm: bool) -> list[HookSiteInfo]:
    """Every site of a model, in forward order."""
    del d_model  # dims are named, not sized, here
    sites = [HookSiteInfo("hook_embed", _RESID, True, False)]
    for layer in range(num_layers):
        for suffix, dims, intervenable, has_heads in _PER_LAYER:
            if suffix in SPLIT_INPUT_SITES and spec.attn_norm is None:
                continue
            sites.append(HookSiteInfo(f"blocks.{layer}.{suffix}", dims, intervenable, has_heads))
    if has_final_norm:
        sites.append(HookSiteInfo("ln_final.hook_normalized", _RESID, True, False))
    return sites


POSITION_DIMS = ("pos", "query_pos", "key_pos")
"""Dimension names that run over sequence positions."""

HEAD_DIMS = ("head", "kv_head")
"""Dimension names that run over attention heads."""


class HookPoint(nn.Module):
    """An identity module: a place to hang forward hooks where Hugging Face has no module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


ATTENTION_FUNCTION = "interp_eager"
"""Name of the attention implementation models are loaded with (see the module docstring)."""


def interp_eager_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager softmax attention (as in transformers' Llama/GPT-2/BERT code) with a pattern hook.

    Shapes: query ``[batch, head, q_pos, d_head]``, key/value ``[batch, kv_head, k_pos, d_head]``
    (grouped-query attention repeats each key/value head for its query heads). Returns the
    output ``[batch, q_pos, head, d_head]`` and the weights ``[batch, head, q_pos, k_pos]``.
    """
    del kwargs
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    point = getattr(module, "hook_pattern", None)
    if point is not None:
        weights = point(weights)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, weights


def register_attention_function() -> None:
    """Make ``attn_implementation="interp_eager"`` known to transformers (idempotent).

    Its masks are the eager ones (additive floats): without that registration transformers
    would hand a custom implementation boolean masks, which an additive softmax misreads.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION_FUNCTION, interp_eager_attention)
    AttentionMaskInterface.register(ATTENTION_FUNCTION, eager_mask)


def _out_weight(module: nn.Module) -> torch.Tensor:
    """``W [in, out]`` of a Linear or of GPT-2's Conv1D (which stores ``[in, out]``)."""
    if isinstance(module, nn.Linear):
        return module.weight.t()
    return module.weight  # type: ignore[return-value]


def install_hook_points(model: nn.Module, spec: FamilySpec, num_heads: int) -> None:
    """Add the ``hook_pattern`` and ``hook_result`` points to every block (once per model)."""
    for layer in _first(model, spec.layers):  # type: ignore[attr-defined]
        attn = _get(layer, spec.attn)
        if not hasattr(attn, "hook_pattern"):
            attn.hook_pattern = HookPoint()
        o = _get(layer, spec.o)
        if hasattr(o, "hook_result"):
            continue
        o.hook_result = HookPoint()

        def split_heads(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
            point: HookPoint = module.hook_result  # type: ignore[assignment]
            if not point._forward_hooks:
                return None
            z = args[0]
            w = _out_weight(module)
            d_head = z.shape[-1] // num_heads
            # result[b, p, h, :] = z[b, p, h, :] @ W_O[h]: the heads' terms of the projection.
            result = torch.einsum("bphd,hdm->bphm", z.reshape(*z.shape[:-1], num_heads, d_head), w.reshape(num_heads, d_head, -1))
            new = point(result)
            if not torch.is_grad_enabled():
                # Only what the hooks changed is added: a capture alone leaves the output
                # bit-identical to the projection's own.
                return output + (new - result).sum(dim=-2)
            # Under autograd the heads' terms must *be* the output (the form above would give
            # a hook that returns its input unchanged a zero gradient): sum them, add the bias.
            bias = getattr(module, "bias", None)
            return new.sum(dim=-2) if bias is None else new.sum(dim=-2) + bias

        o.register_forward_hook(split_heads)
        if spec.attn_norm is not None:
            _install_split_inputs(layer, spec, num_heads)


def _install_split_inputs(layer: nn.Module, spec: FamilySpec, num_heads: int) -> None:
    """The ``hook_{q,k,v}_input`` points of one pre-norm block (see the module docstring)."""
    attn = _get(layer, spec.attn)
    norm = _get(layer, spec.attn_norm)  # type: ignore[arg-type]
    points = {w: HookPoint() for w in "qkv"}
    for w, point in points.items():
        setattr(attn, f"hook_{w}_input", point)
    attn._interp_resid = None

    def stash(module: nn.Module, args: tuple) -> None:
        # The norm's input is the block input (after any hook_resid_pre intervention).
        active = any(p._forward_hooks for p in points.values())
        attn._interp_resid = args[0] if active else None

    def release(module: nn.Module, args: tuple, output: object) -> None:
        attn._interp_resid = None

    norm.register_forward_pre_hook(stash)
    attn.register_forward_hook(release)
    if spec.qkv_fused is not None:
        fused = _get(layer, spec.qkv_fused)
        width = fused.nf // 3  # type: ignore[attr-defined]
        parts = [(points[w], i * width, width, num_heads) for i, w in enumerate("qkv")]
        fused.register_forward_hook(_split_projection(attn, norm, parts))
        return
    for w in "qkv":
        proj = _get(layer, getattr(spec, w))
        out_features = _out_weight(proj).shape[1]
        q_width = _out_weight(_get(layer, spec.q)).shape[1]  # type: ignore[arg-type]
        d_head = q_width // num_heads
        proj.register_forward_hook(_split_projection(attn, norm, [(points[w], 0, out_features, out_features // d_head)]))


def _split_projection(attn: nn.Module, norm: nn.Module, parts: list[tuple[HookPoint, int, int, int]]):
    """A forward hook recomputing output columns ``start:start+width`` of a projection head by
    head from the norm of each head's copy of the block input, for each part whose point has
    hooks. Parts: (point, start column, width, heads)."""

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        x = attn._interp_resid
        if x is None:
            return None
        w = _out_weight(module)
        bias = getattr(module, "bias", None)
        out = output
        for point, start, width, n in parts:
            if not point._forward_hooks:
                continue
            copies = x.unsqueeze(-2).expand(*x.shape[:-1], n, x.shape[-1])
            new = point(copies)
            if new is copies and not torch.is_grad_enabled():
                continue  # a capture alone: the projection's own output stands, bit for bit
            # forward() rather than __call__: the norm's own pre-hook must not see the copies.
            y = norm.forward(new)
            d_head = width // n
            part = torch.einsum("bpnd,dne->bpne", y, w[:, start : start + width].reshape(-1, n, d_head))
            part = part.reshape(*part.shape[:-2], width)
            if bias is not None:
                part = part + bias[start : start + width]
            out = torch.cat([out[..., :start], part, out[..., start + width :]], dim=-1)
        return None if out is output else out

    return hook


_BLOCK_SITE = re.compile(r"^blocks\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class SiteBinding:
    """How to reach one site on a concrete module.

    ``side`` is ``"input"`` (forward pre-hook on the module's first argument) or ``"output"``
    (forward hook on its output, or on element ``tuple_index`` of a tuple output). ``view`` maps
    the raw tensor to the canonical one; ``unview`` writes a canonical tensor back.
    """

    module: nn.Module
    side: str
    view: Callable[[torch.Tensor], torch.Tensor]
    unview: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    tuple_index: int | None = None


def _get(root: nn.Module, path: str) -> nn.Module:
    mod: nn.Module = root
    for part in path.split("."):
        mod = mod[int(part)] if part.isdigit() else getattr(mod, part)  # type: ignore[index]
    return mod


def _first(root: nn.Module, paths: tuple[str, ...]) -> nn.Module:
    for p in paths:
        try:
            return _get(root, p)
        except (AttributeError, IndexError):
            continue
    raise InvalidArgument(Reason.MODEL_ARCHITECTURE_UNSUPPORTED, f"model: none of {paths} exists in this model")


def final_norm(model: nn.Module, spec: FamilySpec) -> nn.Module:
    """The model's final norm module (families with one; see ``FamilySpec.final_norm``)."""
    if spec.final_norm is None:
        raise ValueError(f"family {spec.name!r} has no final norm")
    return _first(model, spec.final_norm)


def _identity(raw: torch.Tensor) -> torch.Tensor:
    return raw


def _copy(raw: torch.Tensor) -> torch.Tensor:
    return raw.clone()


def _replace(raw: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    del raw
    return new


def _heads_view(n_heads: int, start: int = 0, width: int | None = None):
    """View ``raw[..., start:start+width]`` as ``[batch, pos, head, d_head]`` and write it back."""

    def view(raw: torch.Tensor) -> torch.Tensor:
        w = width if width is not None else raw.shape[-1] - start
        part = raw[..., start : start + w]
        return part.reshape(*part.shape[:-1], n_heads, w // n_heads)

    def unview(raw: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        flat = new.reshape(*new.shape[:-2], -1)
        if start == 0 and flat.shape[-1] == raw.shape[-1]:
            return flat
        return torch.cat([raw[..., :start], flat, raw[..., start + flat.shape[-1] :]], dim=-1)

    return view, unview


def bind_site(model: nn.Module, spec: FamilySpec, name: str, num_heads: int, num_kv_heads: int) -> SiteBinding:
    """Resolve a canonical site name to a module binding.

    Raises:
        InvalidArgument: unknown site name or layer out of range (reason ``HOOK_SITE_UNKNOWN``).
    """
    unknown = InvalidArgument(Reason.HOOK_SITE_UNKNOWN, f"hook site {name!r} does not exist in this model")
    if name == "hook_embed":
        return SiteBinding(_first(model, spec.embed), "output", _identity, _replace)
    if name == "ln_final.hook_normalized":
        if spec.final_norm is None:
            raise unknown
        return SiteBinding(_first(model, spec.final_norm), "output", _identity, _replace)
    m = _BLOCK_SITE.match(name)
    if not m:
        raise unknown
    layers = _first(model, spec.layers)
    layer_idx = int(m.group(1))
    if layer_idx >= len(layers):  # type: ignore[arg-type]
        raise unknown
    layer = layers[layer_idx]  # type: ignore[index]
    suffix = m.group(2)
    if suffix == "hook_resid_pre":
        return SiteBinding(layer, "input", _identity, _replace)
    if suffix == "hook_resid_post":
        return SiteBinding(layer, "output", _identity, _replace, tuple_index=0)
    if suffix in ("hook_q_input", "hook_k_input", "hook_v_input"):
        if spec.attn_norm is None:
            raise unknown
        return SiteBinding(_get(_get(layer, spec.attn), suffix), "output", _identity, _replace)
    if suffix == "hook_mlp_in":
        if spec.mlp_norm is None:
            raise unknown
        # A copy, as TransformerLens' hook_mlp_in: what a hook returns reaches the MLP only (the
        # residual connection keeps the original), and gradients there are the MLP path's.
        return SiteBinding(_get(layer, spec.mlp_norm), "input", _copy, _replace)
    if suffix == "hook_attn_out":
        return SiteBinding(_get(layer, spec.o), "output", _identity, _replace)
    if suffix == "hook_mlp_out":
        return SiteBinding(_get(layer, spec.mlp_out), "output", _identity, _replace)
    if suffix == "mlp.hook_post":
        return SiteBinding(_get(layer, spec.mlp_down), "input", _identity, _replace)
    if suffix == "attn.hook_z":
        view, unview = _heads_view(num_heads)
        return SiteBinding(_get(layer, spec.o), "input", view, unview)
    if suffix == "attn.hook_pattern":
        return SiteBinding(_get(_get(layer, spec.attn), "hook_pattern"), "output", _identity, _replace)
    if suffix == "attn.hook_result":
        return SiteBinding(_get(_get(layer, spec.o), "hook_result"), "output", _identity, _replace)
    if suffix in ("attn.hook_q", "attn.hook_k", "attn.hook_v"):
        which = suffix[-1]
        heads = num_heads if which == "q" else num_kv_heads
        if spec.qkv_fused is not None:
            # GPT-2's c_attn emits [q | k | v], each of width d_model.
            fused = _get(layer, spec.qkv_fused)
            width = fused.nf // 3  # type: ignore[attr-defined]
            view, unview = _heads_view(heads, start="qkv".index(which) * width, width=width)
            return SiteBinding(fused, "output", view, unview)
        view, unview = _heads_view(heads)
        return SiteBinding(_get(layer, getattr(spec, which)), "output", view, unview)
    raise unknown


def install_hook(
    binding: SiteBinding,
    fn,  # (canonical tensor) -> canonical tensor or None
) -> torch.utils.hooks.RemovableHandle:
    """Install ``fn`` on the binding's module side; ``fn`` sees and returns canonical views.

    Hooks on one module run in the order they were installed, each seeing the previous one's
    result; the caller removes the returned handle after the run.
    """

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
