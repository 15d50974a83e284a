"""Typed metrics: one scalar per sequence that a run reports and can differentiate.

* ``token``: a target token's log-probability, logit or probability at a position of a causal
  LM (default position: each sequence's last real token, i.e. the next-token prediction);
* ``logit_diff``: ``logit(correct) - logit(incorrect)``, the usual patching metric;
* ``class``: a class's log-probability, logit or probability from a sequence-classification head;
* ``activation``: one entry of a hook site's activation at a position, or its projection on a
  direction.

Target, class and position lists hold one entry shared by every sequence, or one per sequence.
Negative positions count back from each sequence's last real token (``-1`` is the last), so a
right-padded batch of different lengths reads each sequence where it ends.

Example:
    >>> m = Metric("logit_diff", token_ids=[mary], other_ids=[john])
    >>> check_metric(loaded.info, m, lengths=[15, 15])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.errors import invalid
from interp_services.core.hooks import POSITION_DIMS
from interp_services.core.interventions import unit_shape
from interp_services.core.reasons import Reason

METRIC_KINDS = ("token", "logit_diff", "class", "activation")
SCORE_KINDS = ("log_prob", "logit", "prob")


@dataclass
class Metric:
    """A per-sequence scalar.

    Attributes:
        kind: one of :data:`METRIC_KINDS`.
        token_ids: ``token``: target tokens; ``logit_diff``: the correct tokens.
        other_ids: ``logit_diff``: the incorrect tokens.
        positions: positions read (empty: the last real token).
        score: ``log_prob`` | ``logit`` | ``prob`` (``token`` and ``class``).
        class_indices: ``class``: the classes.
        hook_site: ``activation``: the site.
        index: ``activation``: one entry within one position of the site.
        direction: ``activation``: instead of ``index``, a vector shaped like one position.
    """

    kind: str
    token_ids: list[int] = field(default_factory=list)
    other_ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    score: str = "log_prob"
    class_indices: list[int] = field(default_factory=list)
    hook_site: str = ""
    index: list[int] = field(default_factory=list)
    direction: torch.Tensor | None = None


def _per_sequence(values: Sequence[int], n: int, fname: str, *, required: bool) -> None:
    if not values:
        if required:
            raise invalid(Reason.METRIC_INVALID, fname, "required")
        return
    if len(values) not in (1, n):
        raise invalid(Reason.METRIC_INVALID, fname, f"{len(values)} entries; give 1 (shared) or {n} (one per sequence)")


def resolve_positions(positions: Sequence[int], lengths: Sequence[int]) -> list[int]:
    """Absolute position per sequence (negative counts back from the last real token)."""
    out = []
    for b, n in enumerate(lengths):
        p = -1 if not positions else positions[0 if len(positions) == 1 else b]
        out.append(n + p if p < 0 else p)
    return out


def check_metric(info, metric: Metric, lengths: Sequence[int], field_name: str = "metric") -> None:
    """Validate a metric for a model and a request's sequence lengths.

    Raises:
        InvalidArgument: ``METRIC_INVALID``, ``TOKEN_ID_OUT_OF_RANGE``, ``POSITION_OUT_OF_RANGE``,
            ``CLASS_OUT_OF_RANGE``, ``MODEL_HAS_NO_LM_HEAD``, ``MODEL_HAS_NO_CLASSIFIER``,
            ``HOOK_SITE_UNKNOWN``.
    """
    n = len(lengths)
    if metric.kind not in METRIC_KINDS:
        raise invalid(Reason.METRIC_INVALID, field_name, "set one of token, logit_difference, class_score, activation")
    if metric.score not in SCORE_KINDS:
        raise invalid(Reason.METRIC_INVALID, f"{field_name}.kind", f"unknown score kind {metric.score!r}")
    if metric.kind in ("token", "logit_diff"):
        sub = "token" if metric.kind == "token" else "logit_difference"
        if not info.has_lm_head:
            raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, f"{field_name}.{sub}", f"{info.name} has no language-model head")
        lists = [("token_ids", metric.token_ids)] if metric.kind == "token" else [
            ("correct_token_ids", metric.token_ids),
            ("incorrect_token_ids", metric.other_ids),
        ]
        for name, ids in lists:
            _per_sequence(ids, n, f"{field_name}.{sub}.{name}", required=True)
            for j, t in enumerate(ids):
                if not 0 <= t < info.vocab_size:
                    raise invalid(Reason.TOKEN_ID_OUT_OF_RANGE, f"{field_name}.{sub}.{name}[{j}]", f"{t} is outside [0, {info.vocab_size})")
        _check_positions(metric.positions, lengths, f"{field_name}.{sub}.positions")
    elif metric.kind == "class":
        if not info.num_labels:
            raise invalid(Reason.MODEL_HAS_NO_CLASSIFIER, f"{field_name}.class_score", f"{info.name} has no sequence-classification head")
        _per_sequence(metric.class_indices, n, f"{field_name}.class_score.class_indices", required=True)
        for j, c in enumerate(metric.class_indices):
            if not 0 <= c < info.num_labels:
                raise invalid(Reason.CLASS_OUT_OF_RANGE, f"{field_name}.class_score.class_indices[{j}]", f"{c} is outside [0, {info.num_labels})")
    else:
        f = f"{field_name}.activation"
        site = info.site(metric.hook_site)
        if site is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"{f}.hook_site", f"{metric.hook_site!r} does not exist in this model")
        _check_positions(metric.positions, lengths, f"{f}.positions")
        unit = unit_shape(info, metric.hook_site, max(lengths))
        if metric.direction is not None:
            if metric.index:
                raise invalid(Reason.METRIC_INVALID, f"{f}.index", "give index or direction, not both")
            if tuple(metric.direction.shape) != unit or not metric.direction.is_floating_point():
                raise invalid(Reason.METRIC_INVALID, f"{f}.direction", f"shape {list(metric.direction.shape)}; expected float {list(unit)}")
        else:
            if len(metric.index) != len(unit):
                raise invalid(Reason.METRIC_INVALID, f"{f}.index", f"{len(metric.index)} numbers; one position of the site has shape {list(unit)}")
            for j, (i, size) in enumerate(zip(metric.index, unit, strict=True)):
                if not 0 <= i < size:
                    raise invalid(Reason.METRIC_INVALID, f"{f}.index[{j}]", f"{i} is outside [0, {size})")


def _check_positions(positions: Sequence[int], lengths: Sequence[int], fname: str) -> None:
    _per_sequence(positions, len(lengths), fname, required=False)
    for b, (p, n) in enumerate(zip(resolve_positions(positions, lengths), lengths, strict=True)):
        if not 0 <= p < n:
            raise invalid(Reason.POSITION_OUT_OF_RANGE, fname, f"sequence {b}: position {p} is outside its {n} tokens")


def _pick(values: Sequence[int], b: int) -> int:
    return values[0 if len(values) == 1 else b]


def score_rows(row_logits: torch.Tensor, ids: torch.Tensor, score: str) -> torch.Tensor:
    """``row_logits`` [n, vocab or classes], ``ids`` [n] -> [n] scores (``SCORE_KINDS``)."""
    if score == "logit":
        return row_logits.gather(1, ids[:, None])[:, 0]
    logp = torch.log_softmax(row_logits.float(), dim=-1).gather(1, ids[:, None])[:, 0]
    return logp.exp() if score == "prob" else logp


def compute_metric(
    metric: Metric,
    *,
    rows: range,
    lengths: Sequence[int],
    logits: torch.Tensor | None,
    site: torch.Tensor | None,
    site_dims: Sequence[str] = (),
    columns: torch.Tensor | None = None,
) -> torch.Tensor:
    """The metric for the sequences in ``rows`` of a batch: a ``[len(rows)]`` tensor.

    Args:
        logits: ``[batch, pos, vocab]`` (causal LM) or ``[batch, classes]`` (classifier).
        site: the live activation of ``metric.hook_site`` (``activation`` metrics).
        site_dims: that site's dimension names.
        columns: when the logits hold only some positions (``logits_to_keep``), the column of
            each position (``[pos]``).
    """
    device = (logits if logits is not None else site).device  # type: ignore[union-attr]
    r = torch.tensor(list(rows), device=device)
    n = len(rows)
    if metric.kind == "class":
        assert logits is not None
        ids = torch.tensor([_pick(metric.class_indices, b) for b in range(n)], device=device)
        return score_rows(logits[r], ids, metric.score)
    pos = torch.tensor(resolve_positions(metric.positions, lengths), device=device)
    if metric.kind in ("token", "logit_diff"):
        assert logits is not None
        read = logits[r, pos if columns is None else columns[pos]]  # [n, vocab]
        ids = torch.tensor([_pick(metric.token_ids, b) for b in range(n)], device=device)
        if metric.kind == "token":
            return score_rows(read, ids, metric.score)
        other = torch.tensor([_pick(metric.other_ids, b) for b in range(n)], device=device)
        return score_rows(read, ids, "logit") - score_rows(read, other, "logit")
    assert site is not None
    if metric.direction is not None and "key_pos" in site_dims:  # a merged batch may have more keys
        site = site.narrow(list(site_dims).index("key_pos"), 0, metric.direction.shape[-1])
    q_axis = next(i for i, d in enumerate(site_dims) if d in POSITION_DIMS)
    act = site.movedim(q_axis, 1)[r, pos]  # [n, *unit]
    if metric.direction is not None:
        return (act * metric.direction.to(device=act.device, dtype=act.dtype)).flatten(1).sum(dim=1)
    return act[(slice(None), *metric.index)]
