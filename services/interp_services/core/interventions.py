"""Typed interventions at canonical hook sites: what they are, how they are checked, how applied.

An intervention is data, never code: zero-ablate, mean-ablate, patch from another run, add a
steering vector, scale, or add seeded Gaussian noise, at one hook site, restricted to sequences
of the batch, positions, heads and (for attention patterns) key positions. Each is applied as
``act = where(selection, new, act)`` on the canonical view of the site, with the selection built
from the site's dimension *names* (``batch``, ``pos``/``query_pos``, ``key_pos``, ``head``), so
one code path serves every site and architecture family.

A :class:`Placement` says where one request's sequences sit in the tensor the hook sees: a run
may merge several requests into one batch (rows ``row0 .. row0 + rows``), and generation with a
key/value cache sees positions ``pos_offset ..`` only.

Example:
    >>> iv = Intervention("blocks.3.hook_resid_pre", "noise", positions=[1, 2], std=0.1, seed=7)
    >>> check_interventions(loaded.info, [iv], batch_size=1, length=8)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.errors import check_indices, invalid
from interp_services.core.hooks import HEAD_DIMS, POSITION_DIMS
from interp_services.core.reasons import Reason

INTERVENTION_KINDS = ("zero", "mean", "patch", "steer", "scale", "noise", "edge")
_QUERY_DIMS = ("pos", "query_pos")
FEATURE_DIMS = ("d_model", "d_mlp", "d_head")
"""Last-axis names whose entries ``Intervention.neurons`` selects."""


@dataclass
class Intervention:
    """One intervention at a hook site.

    Attributes:
        hook_site: canonical site name.
        kind: ``zero`` | ``mean`` | ``patch`` | ``steer`` | ``scale`` | ``noise``.
        positions: positions (query positions for patterns) to change; empty = all.
        heads: heads to change (sites with a head dim only); empty = all.
        tensor: ``mean`` -- optional mean shaped like one position of the site;
            ``patch`` -- source ``[batch or 1, pos, ...]`` like the site's capture; ``steer`` --
            vector shaped like one position (or like one head, e.g. ``[d_head]``).
        scale: multiplier of the steering vector; the factor of ``scale``.
        sequences: indices into the request's batch; empty = all.
        key_positions: key positions (attention patterns only); empty = all.
        neurons: entries along the site's last (feature) axis -- MLP neurons, residual
            dimensions, ``d_head`` entries; empty = all. Not for attention patterns.
        std: standard deviation of ``noise``.
        seed: seed of ``noise``.
        reference: token ids of texts whose mean activation ``mean`` uses (resolved into
            ``tensor`` before the run by :func:`interp_services.core.run.prepare_job`).
        source_sequences: ``patch`` without a tensor and ``edge``: the sequences of this same
            batch the values come from -- one per entry of ``sequences`` (or one for all).
            Clean and corrupted prompts then share one pass instead of shipping activations.
        keep: ``patch``: fraction of the current activation kept,
            ``new = keep * current + (1 - keep) * source`` (0 replaces; between 0 and 1 it
            interpolates, e.g. the input path of integrated gradients).
        senders: ``edge``: (site, heads) of upstream components; the receiving site sees, in
            place of each sender's current output, the sender's output in the source sequences
            (heads summed; empty heads: the whole site). Only this receiver is affected: the
            edges sender -> receiver are patched, every other path is left alone.
        mean_source: ``edge``: use the mean over ``source_sequences`` (per position) instead of
            one source sequence per changed sequence (mean ablation of the edges).
    """

    hook_site: str
    kind: str
    positions: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    tensor: torch.Tensor | None = None
    scale: float = 1.0
    sequences: list[int] = field(default_factory=list)
    key_positions: list[int] = field(default_factory=list)
    neurons: list[int] = field(default_factory=list)
    std: float = 0.0
    seed: int = 0
    reference: list[list[int]] | None = None
    source_sequences: list[int] = field(default_factory=list)
    keep: float = 0.0
    senders: list[tuple[str, list[int]]] = field(default_factory=list)
    mean_source: bool = False

    def source_rows(self, rows: Sequence[int], row0: int) -> list[int]:
        """The batch rows the values of ``rows`` come from (``source_sequences`` mapped)."""
        src = self.source_sequences
        return [row0 + src[0 if len(src) == 1 else i] for i in range(len(rows))]


@dataclass(frozen=True)
class Placement:
    """Where one request's sequences sit in the tensors a hook sees.

    Attributes:
        row0: first row of the request in the (possibly merged) batch.
        lengths: real (unpadded) length of each of the request's sequences.
        length: the request's own padded length (its longest sequence).
        pos_offset: absolute position of the first position the hook sees (generation with a
            key/value cache feeds one new position per step).
    """

    row0: int
    lengths: tuple[int, ...]
    length: int
    pos_offset: int = 0

    @property
    def rows(self) -> int:
        return len(self.lengths)


def site_heads(info, site: str) -> int:
    """Number of heads on a site's head axis (key/value heads where it is named ``kv_head``)."""
    return info.num_kv_heads if "kv_head" in info.site(site).dim_names else info.num_heads


def site_shape(info, site: str, batch: int, length: int) -> tuple[int, ...]:
    """The shape a site's capture has for ``batch`` sequences of padded ``length``."""
    spec = info.site(site)
    sizes = {
        "batch": batch,
        "d_model": info.d_model,
        "d_head": info.d_head,
        "d_mlp": info.d_mlp,
        "kv_head": info.num_kv_heads,
        "head": info.num_heads,
    }
    return tuple(length if d in POSITION_DIMS else sizes[d] for d in spec.dim_names)


def unit_shape(info, site: str, length: int = 1) -> tuple[int, ...]:
    """One position's worth of a site (dims after batch and the query position; a pattern's
    key axis has the request's ``length``)."""
    spec = info.site(site)
    full = site_shape(info, site, 1, length)
    return tuple(n for d, n in zip(spec.dim_names, full, strict=True) if d not in ("batch", *_QUERY_DIMS))


def check_interventions(
    info,
    interventions: Sequence[Intervention],
    *,
    batch_size: int,
    length: int | None,
    field_prefix: str = "interventions",
) -> None:
    """Validate interventions against a model and a request before anything runs.

    Args:
        info: the model's ``ModelInfo``.
        batch_size: sequences in the request.
        length: the request's padded length; None where positions are open-ended (generation).

    Raises:
        InvalidArgument: with the offending field named.
    """
    for i, iv in enumerate(interventions):
        f = f"{field_prefix}[{i}]"
        site = info.site(iv.hook_site)
        if site is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"{f}.hook_site", f"{iv.hook_site!r} does not exist in this model")
        if not site.intervenable:
            raise invalid(Reason.HOOK_SITE_NOT_INTERVENABLE, f"{f}.hook_site", f"{iv.hook_site!r} is capture-only")
        if iv.kind not in INTERVENTION_KINDS:
            raise invalid(Reason.INTERVENTION_ACTION_MISSING, f"{f}.action", "set one of " + ", ".join(INTERVENTION_KINDS))
        check_indices(iv.sequences, batch_size, f"{f}.sequences", Reason.SEQUENCE_OUT_OF_RANGE)
        if length is not None:
            check_indices(iv.positions, length, f"{f}.positions", Reason.POSITION_OUT_OF_RANGE)
        else:
            for j, p in enumerate(iv.positions):
                if p < 0:
                    raise invalid(Reason.POSITION_OUT_OF_RANGE, f"{f}.positions[{j}]", f"{p} is negative")
        if iv.key_positions:
            if "key_pos" not in site.dim_names:
                raise invalid(Reason.POSITION_OUT_OF_RANGE, f"{f}.key_positions", f"{iv.hook_site!r} has no key positions")
            if length is not None:
                check_indices(iv.key_positions, length, f"{f}.key_positions", Reason.POSITION_OUT_OF_RANGE)
        if iv.neurons:
            if site.dim_names[-1] not in FEATURE_DIMS:
                raise invalid(Reason.NEURON_OUT_OF_RANGE, f"{f}.neurons", f"{iv.hook_site!r} has no feature axis to select from")
            width = unit_shape(info, iv.hook_site)[-1]
            check_indices(iv.neurons, width, f"{f}.neurons", Reason.NEURON_OUT_OF_RANGE)
        if iv.heads and not site.has_heads:
            raise invalid(Reason.HEADS_NOT_APPLICABLE, f"{f}.heads", f"{iv.hook_site!r} has no head dimension")
        check_indices(iv.heads, site_heads(info, iv.hook_site), f"{f}.heads", Reason.HEAD_OUT_OF_RANGE)
        if iv.kind == "steer" and iv.tensor is None:
            raise invalid(Reason.INTERVENTION_TENSOR_MISSING, f"{f}.action", f"{iv.kind} needs a tensor")
        if iv.kind in ("patch", "edge"):
            _check_sources(info, iv, f, batch_size)
        if iv.tensor is not None and not iv.tensor.is_floating_point():
            raise invalid(Reason.TENSOR_DTYPE_INVALID, f"{f}.action", "intervention tensors must be floating point")
        if iv.kind == "noise":
            if not math.isfinite(iv.std) or iv.std < 0:
                raise invalid(Reason.INTERVENTION_VALUE_INVALID, f"{f}.noise.std", f"must be finite and >= 0, got {iv.std}")
            if site.dim_names[:2] != ("batch", "pos"):
                raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, f"{f}.hook_site", "noise needs a [batch, pos, ...] site")
        if iv.kind in ("scale", "steer") and not math.isfinite(iv.scale):
            raise invalid(Reason.INTERVENTION_VALUE_INVALID, f"{f}.{'scale.factor' if iv.kind == 'scale' else 'steering.scale'}", "must be finite")
        _check_tensor_shape(info, iv, f, batch_size, length)


def _check_sources(info, iv: Intervention, f: str, batch_size: int) -> None:
    """Patches and edges: where the values come from, and (edges) which senders feed the site."""
    what = "patch" if iv.kind == "patch" else "edge_patch"
    if iv.kind == "patch":
        if (iv.tensor is None) == (not iv.source_sequences):
            raise invalid(Reason.INTERVENTION_TENSOR_MISSING, f"{f}.patch", "give a source tensor or source_sequences (one of the two)")
        if not (math.isfinite(iv.keep) and 0 <= iv.keep <= 1):
            raise invalid(Reason.INTERVENTION_VALUE_INVALID, f"{f}.patch.keep", f"must be in [0, 1], got {iv.keep}")
    elif not iv.source_sequences:
        raise invalid(Reason.INTERVENTION_TENSOR_MISSING, f"{f}.edge_patch.source_sequences", "required")
    if not iv.source_sequences:
        return
    check_indices(iv.source_sequences, batch_size, f"{f}.{what}.source_sequences", Reason.SEQUENCE_OUT_OF_RANGE)
    n = len(iv.sequences) if iv.sequences else batch_size
    if not (iv.kind == "edge" and iv.mean_source) and len(iv.source_sequences) not in (1, n):
        raise invalid(
            Reason.SEQUENCE_OUT_OF_RANGE,
            f"{f}.{what}.source_sequences",
            f"{len(iv.source_sequences)} entries; give 1 (for all) or one per changed sequence ({n})",
        )
    if iv.kind == "patch":
        return
    site = info.site(iv.hook_site)
    if site.dim_names[-1] != "d_model" or "key_pos" in site.dim_names:
        raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, f"{f}.hook_site", f"edges end at residual-stream inputs; {iv.hook_site!r} is not one")
    if not iv.senders:
        raise invalid(Reason.INTERVENTION_VALUE_INVALID, f"{f}.edge_patch.senders", "required")
    order = {s.name: i for i, s in enumerate(info.hook_sites)}
    for j, (name, heads) in enumerate(iv.senders):
        sf = f"{f}.edge_patch.senders[{j}]"
        sender = info.site(name)
        if sender is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"{sf}.hook_site", f"{name!r} does not exist in this model")
        if sender.dim_names[-1] != "d_model" or sender.dim_names[:2] != ("batch", "pos"):
            raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, f"{sf}.hook_site", f"{name!r} does not write to the residual stream")
        if order[name] >= order[iv.hook_site]:
            raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, f"{sf}.hook_site", f"{name!r} does not come before {iv.hook_site!r}")
        if heads and not sender.has_heads:
            raise invalid(Reason.HEADS_NOT_APPLICABLE, f"{sf}.heads", f"{name!r} has no head dimension")
        check_indices(heads, site_heads(info, name), f"{sf}.heads", Reason.HEAD_OUT_OF_RANGE)


def _check_tensor_shape(info, iv: Intervention, f: str, batch_size: int, length: int | None) -> None:
    t = iv.tensor
    if t is None:
        return
    site = info.site(iv.hook_site)
    unit = unit_shape(info, iv.hook_site, length or 1)
    if iv.kind in ("mean", "steer"):
        what = "mean_ablation.mean" if iv.kind == "mean" else "steering.vector"
        ok = tuple(t.shape) == unit or (site.has_heads and iv.kind == "steer" and tuple(t.shape) == unit[1:])
        if not ok:
            raise invalid(Reason.TENSOR_SHAPE_MISMATCH, f"{f}.{what}", f"shape {list(t.shape)}; expected {list(unit)}")
        return
    if iv.kind != "patch":
        return
    expected = site_shape(info, iv.hook_site, batch_size, length or 0)
    shape = tuple(t.shape)
    if len(shape) == len(expected) - 1:
        shape = (1, *shape)
    good = len(shape) == len(expected) and shape[0] in (1, batch_size)
    if good:
        for d, got, want in zip(site.dim_names[1:], shape[1:], expected[1:], strict=True):
            if d in POSITION_DIMS and length is None:
                continue
            good = good and got == want
    if not good:
        shown = ["batch" if d == "batch" else (n if not (d in POSITION_DIMS and length is None) else "pos")
                 for d, n in zip(site.dim_names, expected, strict=True)]
        raise invalid(
            Reason.TENSOR_SHAPE_MISMATCH,
            f"{f}.patch.source",
            f"source has shape {list(t.shape)}; the site's activation for this request is {shown} (batch 1 or {batch_size})",
        )


def _index_mask(n: int, chosen: Sequence[int] | None, device: torch.device) -> torch.Tensor:
    m = torch.zeros(n, dtype=torch.bool, device=device)
    if chosen is None:
        m[:] = True
    elif chosen:
        m[list(chosen)] = True
    return m


def selection(act: torch.Tensor, dims: Sequence[str], iv: Intervention, place: Placement) -> torch.Tensor:
    """Boolean mask, broadcastable to ``act``, of the entries ``iv`` changes."""
    mask: torch.Tensor | None = None
    for axis, name in enumerate(dims):
        n = act.shape[axis]
        if name == "batch":
            rows = [place.row0 + s for s in iv.sequences] if iv.sequences else list(range(place.row0, place.row0 + place.rows))
            m = _index_mask(n, rows, act.device)
        elif name in _QUERY_DIMS:
            off = place.pos_offset
            m = _index_mask(n, [p - off for p in iv.positions if 0 <= p - off < n] if iv.positions else None, act.device)
        elif name == "key_pos":
            m = _index_mask(n, [p for p in iv.key_positions if p < n] if iv.key_positions else None, act.device)
        elif name in HEAD_DIMS:
            m = _index_mask(n, iv.heads or None, act.device)
        elif name in FEATURE_DIMS and axis == len(dims) - 1 and iv.neurons:
            m = _index_mask(n, iv.neurons, act.device)
        else:
            continue
        shape = [1] * act.dim()
        shape[axis] = n
        m = m.view(shape)
        mask = m if mask is None else mask & m
    assert mask is not None
    return mask


def _unit_view(act: torch.Tensor, dims: Sequence[str], t: torch.Tensor) -> torch.Tensor:
    """A one-position tensor (or one head's worth) reshaped to broadcast against ``act``."""
    if "key_pos" in dims:  # a request's [..., key_pos] tensor; a merged batch may have more keys
        n = act.shape[list(dims).index("key_pos")]
        t = t[..., :n] if t.shape[-1] >= n else torch.nn.functional.pad(t, (0, n - t.shape[-1]))
    shape = [1 if d in ("batch", *_QUERY_DIMS) else act.shape[i] for i, d in enumerate(dims)]
    unit = [n for n, d in zip(shape, dims, strict=True) if d not in ("batch", *_QUERY_DIMS)]
    if list(t.shape) != unit:  # one head's worth, e.g. [d_head]: broadcast over heads
        shape = [1 if d in HEAD_DIMS else n for n, d in zip(shape, dims, strict=True)]
    return t.to(device=act.device, dtype=act.dtype).reshape(shape)


def _token_weights(act: torch.Tensor, dims: Sequence[str], token_mask: torch.Tensor, place: Placement) -> tuple[torch.Tensor, tuple[int, int]]:
    """Weights (1 on the request's real tokens) shaped to broadcast over ``act``'s batch and
    query-position axes, and those two axes."""
    b_axis = dims.index("batch")
    p_axis = next(i for i, d in enumerate(dims) if d in _QUERY_DIMS)
    w = torch.zeros_like(token_mask, dtype=act.dtype)
    w[place.row0 : place.row0 + place.rows] = token_mask[place.row0 : place.row0 + place.rows].to(act.dtype)
    w = w[:, : act.shape[p_axis]]
    shape = [1] * act.dim()
    shape[b_axis], shape[p_axis] = w.shape
    return w.view(shape), (b_axis, p_axis)


def _patch_source(act: torch.Tensor, dims: Sequence[str], src: torch.Tensor, place: Placement) -> torch.Tensor:
    """``act`` with the request's rows overwritten by ``src`` where positions overlap."""
    if src.dim() == act.dim() - 1:
        src = src.unsqueeze(0)
    src = src.to(device=act.device, dtype=act.dtype)
    act_idx: list[slice] = []
    src_idx: list[slice] = []
    for axis, name in enumerate(dims):
        if name == "batch":
            act_idx.append(slice(place.row0, place.row0 + place.rows))
            src_idx.append(slice(None))
        elif name in _QUERY_DIMS:
            off = place.pos_offset
            end = min(off + act.shape[axis], src.shape[axis])
            act_idx.append(slice(0, max(0, end - off)))
            src_idx.append(slice(off, max(off, end)))
        elif name == "key_pos":
            end = min(act.shape[axis], src.shape[axis])
            act_idx.append(slice(0, end))
            src_idx.append(slice(0, end))
        else:
            act_idx.append(slice(None))
            src_idx.append(slice(None))
    new = act.clone()
    new[tuple(act_idx)] = src[tuple(src_idx)]
    return new


def _noise(act: torch.Tensor, iv: Intervention, place: Placement) -> torch.Tensor:
    """Seeded noise for the request's rows: the values at absolute position ``p`` come from a
    CPU generator seeded with ``(iv.seed, p)``, so they depend on neither the batch, the
    sequence's length nor how generation splits the positions into steps."""
    noise = torch.zeros_like(act)
    unit = tuple(act.shape[2:])
    off, n = place.pos_offset, act.shape[1]
    ends = [min(off + n, real) if off == 0 else off + n for real in place.lengths]
    last = max(ends, default=off)
    if last <= off:
        return noise
    draws = []
    for p in range(off, last):
        gen = torch.Generator(device="cpu").manual_seed(_position_seed(iv.seed, p))
        draws.append(torch.randn(unit, generator=gen, dtype=torch.float32))
    values = (iv.std * torch.stack(draws)).to(device=act.device, dtype=act.dtype)
    for r, end in enumerate(ends):
        if end > off:
            noise[place.row0 + r, : end - off] = values[: end - off]
    return noise


def _position_seed(seed: int, position: int) -> int:
    """A 63-bit seed from (seed, position) (splitmix64-style mixing)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + position + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


def apply_intervention(
    act: torch.Tensor,
    dims: Sequence[str],
    iv: Intervention,
    place: Placement,
    token_mask: torch.Tensor,
) -> torch.Tensor:
    """Apply one (validated) intervention to a site's canonical activation.

    Args:
        act: the activation, dims ``dims`` (batch first).
        token_mask: ``[batch, pos]``, 1 on real tokens (for this run's mean).
    """
    sel = selection(act, dims, iv, place)
    if iv.kind == "zero":
        new = torch.zeros_like(act)
    elif iv.kind == "mean":
        if iv.tensor is None:
            # Mean over the real tokens of the request's sequences, per remaining entry.
            w, axes = _token_weights(act, dims, token_mask, place)
            new = ((act * w).sum(dim=axes, keepdim=True) / w.sum().clamp(min=1)).expand_as(act)
        else:
            new = _unit_view(act, dims, iv.tensor).expand_as(act)
    elif iv.kind == "patch":
        if iv.tensor is not None:
            new = _patch_source(act, dims, iv.tensor, place)
        else:
            new = _patch_rows(act, dims, iv, place)
        if iv.keep:
            new = iv.keep * act + (1 - iv.keep) * new
    elif iv.kind == "steer":
        assert iv.tensor is not None
        new = act + iv.scale * _unit_view(act, dims, iv.tensor)
    elif iv.kind == "scale":
        new = act * iv.scale
    else:  # noise
        new = act + _noise(act, iv, place)
    return torch.where(sel, new, act)


def _row_axis(dims: Sequence[str]) -> int:
    return list(dims).index("batch")


def _changed_rows(iv: Intervention, place: Placement) -> list[int]:
    return [place.row0 + s for s in iv.sequences] if iv.sequences else list(range(place.row0, place.row0 + place.rows))


def _patch_rows(act: torch.Tensor, dims: Sequence[str], iv: Intervention, place: Placement) -> torch.Tensor:
    """``act`` with each changed row replaced by its source row of the same pass."""
    rows = _changed_rows(iv, place)
    axis = _row_axis(dims)
    new = act.clone()
    index = [slice(None)] * act.dim()
    index[axis] = rows
    source = [slice(None)] * act.dim()
    source[axis] = iv.source_rows(rows, place.row0)
    new[tuple(index)] = act[tuple(source)]
    return new


def sender_value(recorded: dict[str, torch.Tensor], dims_of, name: str, heads: Sequence[int]) -> torch.Tensor:
    """A sender's output ``[batch, pos, d_model]`` as recorded in this pass (chosen heads summed)."""
    value = recorded[name]
    dims = dims_of(name)
    for axis, d in enumerate(dims):
        if d in HEAD_DIMS:
            chosen = value.index_select(axis, torch.tensor(list(heads), device=value.device)) if heads else value
            return chosen.sum(dim=axis)
    return value


def apply_edge(
    act: torch.Tensor,
    dims: Sequence[str],
    iv: Intervention,
    place: Placement,
    recorded: dict[str, torch.Tensor],
    dims_of,
) -> torch.Tensor:
    """Patch the edges ``iv.senders -> iv.hook_site``: in the changed rows the receiver's input
    loses each sender's current output and gains the sender's output in the source rows.

    ``recorded`` holds each sender's output of this pass (recorded after any intervention at
    the sender), so edges patched further upstream are already reflected in "current".
    """
    rows = _changed_rows(iv, place)
    current = sum(sender_value(recorded, dims_of, name, heads) for name, heads in iv.senders)
    assert isinstance(current, torch.Tensor)
    if iv.mean_source:
        src_rows = [place.row0 + s for s in iv.source_sequences]
        source = current[src_rows].mean(dim=0, keepdim=True).expand(len(rows), *current.shape[1:])
    else:
        source = current[iv.source_rows(rows, place.row0)]
    delta = torch.zeros_like(current)
    delta[rows] = source - current[rows]
    # [batch, pos, d_model] onto the receiver's [batch, pos, (head,) d_model]
    for axis, d in enumerate(dims):
        if d in HEAD_DIMS:
            delta = delta.unsqueeze(axis)
    new = act + delta.to(act.dtype)
    return torch.where(selection(act, dims, iv, place), new, act)
