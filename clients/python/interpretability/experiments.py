"""Builders for the typed pieces of a model-host request: interventions and metrics.

Every builder returns the protobuf message the contract defines, so what a Python user builds
here is exactly what a TypeScript or Go user sends. Tensors are numpy arrays, or ``Tensor``
messages a previous call returned (inline or stored), passed back unchanged.

Example:
    >>> from interpretability import Client, logit_difference, patch
    >>> clean = c.run("smollm2-135m", [clean_text], capture=["blocks.6.hook_resid_pre"])
    >>> src = clean.activations[0].tensor
    >>> # one batched call: row i patches position i of layer 6 (a sweep over positions)
    >>> ivs = [patch("blocks.6.hook_resid_pre", src, positions=[i], sequences=[i]) for i in range(n)]
    >>> out = c.run("smollm2-135m", [corrupt_text] * n, interventions=ivs,
    ...             metric=logit_difference(mary, john))
    >>> out.metric_values   # one number per row
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interp.v1 import common_pb2 as cpb
from interp.v1 import model_host_service_pb2 as mpb
from interp.v1 import tensor_pb2 as tpb
from interpretability.client import from_numpy

_SCORE = {"log_prob": mpb.SCORE_KIND_LOG_PROB, "logit": mpb.SCORE_KIND_LOGIT, "prob": mpb.SCORE_KIND_PROBABILITY}


def _tensor(t: tpb.Tensor | np.ndarray) -> tpb.Tensor:
    return t if isinstance(t, tpb.Tensor) else from_numpy(np.asarray(t))


def _intervention(
    hook_site: str,
    positions: Sequence[int],
    heads: Sequence[int],
    sequences: Sequence[int],
    key_positions: Sequence[int],
    neurons: Sequence[int] = (),
    **action: object,
) -> mpb.Intervention:
    return mpb.Intervention(
        hook_site=hook_site,
        positions=list(positions),
        heads=list(heads),
        sequences=list(sequences),
        key_positions=list(key_positions),
        neurons=list(neurons),
        **action,  # type: ignore[arg-type]
    )


def zero_ablation(
    hook_site: str, *, positions: Sequence[int] = (), heads: Sequence[int] = (), sequences: Sequence[int] = (),
    key_positions: Sequence[int] = (), neurons: Sequence[int] = (),
) -> mpb.Intervention:
    """Zero the site at the selected sequences/positions/heads (key positions: patterns only;
    ``neurons``: entries of the site's last axis, e.g. MLP neurons)."""
    return _intervention(hook_site, positions, heads, sequences, key_positions, neurons, zero_ablation=mpb.ZeroAblation())


def mean_ablation(
    hook_site: str,
    *,
    mean: np.ndarray | tpb.Tensor | None = None,
    reference_texts: Sequence[str] = (),
    positions: Sequence[int] = (),
    heads: Sequence[int] = (),
    sequences: Sequence[int] = (),
    neurons: Sequence[int] = (),
) -> mpb.Intervention:
    """Replace with a mean: given, computed on the server from ``reference_texts``, or (neither)
    this request's own mean over its real tokens (``neurons``: only those entries)."""
    m = mpb.MeanAblation()
    if mean is not None:
        m.mean.CopyFrom(_tensor(mean))
    elif reference_texts:
        m.reference_texts.CopyFrom(cpb.TextBatch(texts=list(reference_texts)))
    return _intervention(hook_site, positions, heads, sequences, (), neurons, mean_ablation=m)


def patch(
    hook_site: str,
    source: tpb.Tensor | np.ndarray | None = None,
    *,
    source_sequences: Sequence[int] = (),
    keep: float = 0.0,
    positions: Sequence[int] = (),
    heads: Sequence[int] = (),
    sequences: Sequence[int] = (),
    key_positions: Sequence[int] = (),
) -> mpb.Intervention:
    """Patch from another run's activation (a returned Tensor, inline or stored, or an array),
    or from other sequences of the same request (``source_sequences``: one per changed
    sequence, or one for all). ``keep`` keeps that fraction of the current activation
    (``keep * current + (1 - keep) * source``)."""
    p = mpb.ActivationPatch(keep=keep)
    if source is not None:
        p.source.CopyFrom(_tensor(source))
    iv = _intervention(hook_site, positions, heads, sequences, key_positions, patch=p)
    iv.source_sequences.extend(source_sequences)
    return iv


def edge_patch(
    hook_site: str,
    senders: Sequence[str | tuple[str, Sequence[int]]],
    source_sequences: Sequence[int],
    *,
    mean_source: bool = False,
    positions: Sequence[int] = (),
    heads: Sequence[int] = (),
    sequences: Sequence[int] = (),
) -> mpb.Intervention:
    """Patch only the edges from ``senders`` (sites writing to the residual stream, e.g.
    ``("blocks.0.attn.hook_result", [3])``) into ``hook_site`` (``blocks.L.hook_q_input`` etc.,
    ``blocks.L.hook_mlp_in``, the last ``hook_resid_post``): the site sees the senders' output in
    ``source_sequences`` of this request instead of their current output."""
    edge = mpb.EdgePatch(mean_source=mean_source, senders=[
        mpb.EdgeSender(hook_site=s) if isinstance(s, str) else mpb.EdgeSender(hook_site=s[0], heads=list(s[1])) for s in senders
    ])
    iv = _intervention(hook_site, positions, heads, sequences, (), edge_patch=edge)
    iv.source_sequences.extend(source_sequences)
    return iv


def steering(
    hook_site: str,
    vector: np.ndarray | tpb.Tensor,
    *,
    scale: float = 1.0,
    positions: Sequence[int] = (),
    heads: Sequence[int] = (),
    sequences: Sequence[int] = (),
) -> mpb.Intervention:
    """Add ``scale * vector`` at the site."""
    return _intervention(hook_site, positions, heads, sequences, (), steering=mpb.SteeringVector(vector=_tensor(vector), scale=scale))


def scale(
    hook_site: str, factor: float, *, positions: Sequence[int] = (), heads: Sequence[int] = (), sequences: Sequence[int] = (),
    key_positions: Sequence[int] = (), neurons: Sequence[int] = (),
) -> mpb.Intervention:
    """Multiply the selected entries by ``factor`` (e.g. attention-pattern entries, or MLP
    ``neurons``)."""
    return _intervention(hook_site, positions, heads, sequences, key_positions, neurons, scale=mpb.ScaleActivation(factor=factor))


def noise(
    hook_site: str, std: float, *, seed: int = 0, positions: Sequence[int] = (), heads: Sequence[int] = (), sequences: Sequence[int] = ()
) -> mpb.Intervention:
    """Add seeded Gaussian noise (the corruption step of causal tracing)."""
    return _intervention(hook_site, positions, heads, sequences, (), noise=mpb.GaussianNoise(std=std, seed=seed))


def token_score(token_ids: int | Sequence[int], *, positions: Sequence[int] = (), kind: str = "log_prob") -> mpb.Metric:
    """A target token's ``log_prob`` | ``logit`` | ``prob`` (default position: the last token).
    One id (shared) or one per sequence."""
    ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
    return mpb.Metric(token=mpb.TokenScore(token_ids=ids, positions=list(positions), kind=_SCORE[kind]))


def logit_difference(correct: int | Sequence[int], incorrect: int | Sequence[int], *, positions: Sequence[int] = ()) -> mpb.Metric:
    """``logit(correct) - logit(incorrect)``; one id (shared) or one per sequence."""
    c = [correct] if isinstance(correct, int) else list(correct)
    i = [incorrect] if isinstance(incorrect, int) else list(incorrect)
    return mpb.Metric(logit_difference=mpb.LogitDifference(correct_token_ids=c, incorrect_token_ids=i, positions=list(positions)))


def class_score(class_index: int | Sequence[int], *, kind: str = "log_prob") -> mpb.Metric:
    """A sequence-classification head's class ``log_prob`` | ``logit`` | ``prob``."""
    idx = [class_index] if isinstance(class_index, int) else list(class_index)
    return mpb.Metric(class_score=mpb.ClassScore(class_indices=idx, kind=_SCORE[kind]))


def activation_score(
    hook_site: str,
    *,
    index: Sequence[int] = (),
    direction: np.ndarray | tpb.Tensor | None = None,
    positions: Sequence[int] = (),
) -> mpb.Metric:
    """One entry (``index`` within a position, e.g. ``[neuron]``) of a site, or its projection
    on ``direction``."""
    a = mpb.ActivationScore(hook_site=hook_site, positions=list(positions), index=list(index))
    if direction is not None:
        a.direction.CopyFrom(_tensor(direction))
    return mpb.Metric(activation=a)


__all__ = [
    "activation_score",
    "class_score",
    "logit_difference",
    "mean_ablation",
    "noise",
    "patch",
    "scale",
    "steering",
    "token_score",
    "zero_ablation",
]
